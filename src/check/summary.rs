//! The Keras-style model summary printed by `ammc check`, and its JSON form.

use std::fmt::Write;

use super::ModelSummary;

pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.2} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// A text table: layer (with its source line), output shape, parameters and forward
/// multiply-accumulates per sample, then totals and the training-memory estimate.
pub fn render_table(s: &ModelSummary) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "layer".into(),
        "line".into(),
        "output".into(),
        "params".into(),
        "MACs/sample".into(),
    ]];
    rows.push([
        "input".into(),
        String::new(),
        s.input.to_string(),
        String::new(),
        String::new(),
    ]);
    for l in &s.layers {
        let name = if l.frozen {
            format!("{} (frozen)", l.name)
        } else {
            l.name.clone()
        };
        rows.push([
            name,
            l.line.to_string(),
            l.output.to_string(),
            thousands(l.params),
            thousands(l.macs),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model `{}` in train `{}` (batch {})",
        s.model, s.train, s.batch
    );
    let rule: String = "─".repeat(widths.iter().sum::<usize>() + 8);
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        if i == 0 {
            let _ = writeln!(out, "{rule}");
        }
    }
    let _ = writeln!(out, "{rule}");
    // Models without sequence layers keep the wording their snapshots record.
    let sequence = s.layers.iter().any(|l| {
        matches!(
            l.op,
            super::LayerOp::Rnn { .. } | super::LayerOp::Conv1d { .. }
        )
    });
    let counted = if sequence {
        "conv, dense and recurrent layers"
    } else {
        "conv and dense"
    };
    let _ = writeln!(
        out,
        "parameters: {} ({} trainable)   forward: {} multiply-adds (MACs) = {} FLOPs per sample, {counted} only",
        thousands(s.params()),
        thousands(s.trainable()),
        thousands(s.macs()),
        thousands(2 * s.macs())
    );
    if let Some(t) = &s.spec.tree {
        let _ = writeln!(out, "{}", tree_line(s, t));
        return out;
    }
    let _ = writeln!(
        out,
        "training memory at batch {}: ~{} (weights, gradients, optimizer state, activations and their gradients, f32)",
        s.batch,
        bytes(s.memory_bytes())
    );
    out
}

/// The one-line summary of a tree head: what it fits, on what, with which limits.
fn tree_line(s: &ModelSummary, t: &super::spec::TreeHead) -> String {
    use super::spec::{Loss, TreeKind};
    let classes = matches!(s.spec.loss, Loss::CrossEntropy { .. });
    let target = if classes {
        format!("{} classes, log-loss", t.outputs)
    } else {
        format!(
            "{} target{}, squared error",
            t.outputs,
            if t.outputs == 1 { "" } else { "s" }
        )
    };
    let features = s.output().elements();
    match t.kind {
        TreeKind::BoostedTrees => format!(
            "tree head: boosted_trees on {features} features ({target}): up to {} rounds × {} tree{} = {} trees, depth ≤ {}, lr {}, min_leaf {}, l2 {}, ≤ {} bins per feature, {}",
            t.trees,
            t.outputs,
            if t.outputs == 1 { "" } else { "s" },
            thousands(t.trees.saturating_mul(t.outputs)),
            t.depth,
            t.lr,
            t.min_leaf,
            t.l2,
            t.bins,
            match t.early_stopping {
                Some(p) =>
                    format!("early stopping after {p} rounds without a better validation loss"),
                None => "no early stopping".to_string(),
            }
        ),
        TreeKind::DecisionTree => format!(
            "tree head: decision_tree on {features} features ({target}): one tree, depth ≤ {}, min_leaf {}, ≤ {} bins per feature",
            t.depth, t.min_leaf, t.bins
        ),
    }
}

/// The same information as JSON.
pub fn render_json(summaries: &[ModelSummary]) -> serde_json::Value {
    serde_json::Value::Array(
        summaries
            .iter()
            .map(|s| {
                serde_json::json!({
                    "train": s.train,
                    "model": s.model,
                    "batch": s.batch,
                    "input": s.input.0,
                    "output": s.output().0,
                    "params": s.params(),
                    "trainable_params": s.trainable(),
                    "macs_per_sample": s.macs(),
                    "flops_per_sample": 2 * s.macs(),
                    "memory_bytes": s.memory_bytes(),
                    "tree_head": s.spec.tree,
                    "layers": s.layers.iter().map(|l| serde_json::json!({
                        "name": l.name,
                        "layer": l.text,
                        "line": l.line,
                        "output": l.output.0,
                        "params": l.params,
                        "macs_per_sample": l.macs,
                        "frozen": l.frozen,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
