//! `ammc run` for `train` blocks: load data, train, report, write `runs/<block>/`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::check::ModelSummary;
use crate::data::atomic::write_atomic;
use crate::data::safetensors::serialize;
use crate::diag::Diag;
use crate::runtime::train::{Progress, SplitMetrics, TrainError, train_with};

/// Where and how to report.
pub struct RunSettings<'a> {
    /// Parent of `runs/<block>/`.
    pub out_dir: &'a Path,
    /// Directory of the `.amm` file (relative data paths).
    pub base_dir: &'a Path,
    /// No progress bar or per-epoch lines.
    pub quiet: bool,
    /// What executes training plans.
    pub backend: crate::runtime::backend::BackendKind,
}

fn metrics_text(m: &SplitMetrics) -> String {
    let mut s = format!("loss {:.4}", m.loss);
    if let Some(a) = m.accuracy {
        s += &format!("  accuracy {a:.4}");
    }
    if let Some(v) = m.mse {
        s += &format!("  mse {v:.4}");
    }
    if let Some(v) = m.mae {
        s += &format!("  mae {v:.4}");
    }
    s
}

/// Runs one train block. `Err` carries diagnostics (exit 1) or an I/O message (exit 2).
pub fn run_train(
    model: &ModelSummary,
    block_span: crate::source::Span,
    settings: &RunSettings,
) -> Result<(), RunFailure> {
    let spec = &model.spec;
    let splits = crate::data::load(&spec.data, settings.base_dir).map_err(|e| {
        RunFailure::Diags(vec![
            Diag::new(
                "amm::data::load",
                format!("cannot load `{}`: {e}", spec.data.name),
            )
            .primary(block_span, "in this train block"),
        ])
    })?;
    let sizes = format!(
        "{} train{}{}",
        splits.train.len(),
        splits
            .val
            .as_ref()
            .map_or(String::new(), |v| format!(" / {} validation", v.len())),
        splits
            .test
            .as_ref()
            .map_or(String::new(), |t| format!(" / {} test", t.len()))
    );
    say!(
        "train {}: model `{}` on `{}` ({sizes} samples), batch {}, {} epochs, {} parameters, {} backend{}",
        model.train,
        model.model,
        spec.data.name,
        spec.batch,
        spec.epochs,
        model.params(),
        settings.backend.name(),
        match settings.backend {
            crate::runtime::backend::BackendKind::Jit { threads, .. } =>
                format!(" ({threads} thread{})", if threads == 1 { "" } else { "s" }),
            crate::runtime::backend::BackendKind::Reference => String::new(),
        }
    );
    let bar_enabled = !settings.quiet && std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let dir = settings.out_dir.join(&model.train);
    // metrics.jsonl is rewritten (atomically) after every epoch, so an interrupted run
    // leaves the epochs it finished.
    let mut lines = String::new();
    let mut write_error: Option<std::io::Error> = None;
    let mut progress = |p: Progress| match p {
        Progress::EpochStart { epoch, batches } if bar_enabled => {
            let b = ProgressBar::new(batches as u64);
            b.set_style(
                ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} batches")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_message(format!("{epoch}/{}", spec.epochs));
            bar = Some(b);
        }
        Progress::Batch { .. } => {
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        Progress::EpochEnd { record, seconds } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            lines += &serde_json::to_string(record).unwrap_or_default();
            lines.push('\n');
            if let Err(e) = write_atomic(&dir.join("metrics.jsonl"), lines.as_bytes()) {
                write_error.get_or_insert(e);
            }
            if !settings.quiet {
                let val = record
                    .val
                    .as_ref()
                    .map_or(String::new(), |v| format!("  val {}", metrics_text(v)));
                say!(
                    "epoch {:>3}/{}  train loss {:.4}{val}  lr {:.2e}  {seconds:.2}s",
                    record.epoch,
                    spec.epochs,
                    record.train_loss,
                    record.lr
                );
            }
        }
        _ => {}
    };
    let result = train_with(settings.backend, model, &splits, &mut progress).map_err(|e| match e {
        TrainError::Diverged(d) => RunFailure::Diags(vec![
            Diag::new("amm::train::diverged", format!("the loss became {} at epoch {}, step {}", d.loss, d.epoch, d.step))
                .primary(block_span, "while running this train block")
                .help(match &d.first_bad {
                    Some(layer) => format!("the first non-finite values appear in `{layer}`; lower the learning rate, add `clip_norm`, or normalise the data"),
                    None => "the forward pass is finite, so the loss itself overflowed; lower the learning rate or add `clip_norm`".to_string(),
                }),
        ]),
        TrainError::Weights(m) => RunFailure::Diags(vec![Diag::new("amm::weights::load", m).primary(block_span, "in this train block")]),
        TrainError::Op(m) => RunFailure::Diags(vec![Diag::new("amm::internal::kernel", m).primary(block_span, "in this train block").help("this is a bug in ammc; please report it with this file")]),
    })?;
    for (split, m) in &result.finals {
        say!("{split:>5}: {}", metrics_text(m));
    }
    say!(
        "throughput {:.0} samples/s, wall time {:.2}s",
        result.samples_per_sec,
        result.wall_seconds
    );

    let io = |e: std::io::Error| RunFailure::Io(format!("cannot write {}: {e}", dir.display()));
    if let Some(e) = write_error {
        return Err(io(e));
    }
    let meta = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("producer".to_string(), "ammc".to_string()),
    ]);
    write_atomic(
        &dir.join("model.safetensors"),
        &serialize(&result.tensors, &meta),
    )
    .map_err(io)?;
    let finals: serde_json::Map<String, serde_json::Value> = result
        .finals
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let summary = serde_json::json!({
        "train": model.train,
        "model": model.model,
        "data": spec.data.name,
        "epochs": spec.epochs,
        "batch": spec.batch,
        "seed": spec.seed,
        "parameters": model.params(),
        "backend": settings.backend.name(),
        "threads": settings.backend.threads(),
        "metrics": finals,
        "samples_per_sec": result.samples_per_sec,
        "wall_seconds": result.wall_seconds,
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    write_atomic(&dir.join("summary.json"), text.as_bytes()).map_err(io)?;
    say!(
        "wrote {}/{{metrics.jsonl, model.safetensors, summary.json}}",
        dir.display()
    );
    Ok(())
}

/// Why a run failed.
pub enum RunFailure {
    /// Diagnostics to render (exit 1).
    Diags(Vec<Diag>),
    /// I/O trouble (exit 2).
    Io(String),
}
