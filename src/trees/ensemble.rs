//! The saved ensemble (`trees.json`) and prediction with it.
//!
//! Format (version 1), one JSON object:
//! `format` = `"ammc-trees"`, `version` = 1, `kind` (`boosted_trees` or `decision_tree`),
//! `task` (`{"classes": K}` or `{"values": W}`), `features` (inputs per sample),
//! `link` (`softmax`: the outputs are logits; `identity`: probabilities for a decision tree
//! on classes, values for regression), `baseline` (one starting score per output),
//! `rounds` (boosting rounds kept), `bin_edges` (per feature, the edges fitted on the
//! train split), and `trees`: per tree `output`, `channels` and node arrays `feature`,
//! `bin`, `threshold`, `left`, `right` (-1 at a leaf) and `value` (`channels` per node).
//! A sample's outputs are `baseline` plus, for every tree, the values of the leaf it
//! reaches (go left when `x[feature] <= threshold`) added to outputs
//! `output..output + channels`. Numbers are written so they read back bit for bit.

use super::Task;
use super::grow::Tree;
use crate::check::spec::TreeKind;

/// Value of the `format` field.
pub const FORMAT: &str = "ammc-trees";
/// The version this ammc writes and reads.
pub const VERSION: u32 = 1;

/// How outputs become predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Outputs are logits (boosted classification): probabilities by softmax.
    Softmax,
    /// Outputs are the prediction (class probabilities of a decision tree, or values).
    Identity,
}

/// A trained tree head.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ensemble {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Which head.
    pub kind: TreeKind,
    /// Classes or regression targets.
    pub task: Task,
    /// Inputs per sample.
    pub features: usize,
    /// How outputs become predictions.
    pub link: Link,
    /// Starting output per model output.
    pub baseline: Vec<f64>,
    /// Boosting rounds kept.
    pub rounds: usize,
    /// Bin edges per feature (f32 values stored as f64).
    pub bin_edges: Vec<Vec<f64>>,
    /// The trees.
    pub trees: Vec<Tree>,
}

impl Ensemble {
    /// Model outputs per sample.
    pub fn outputs(&self) -> usize {
        self.task.outputs()
    }

    /// Outputs for row-major samples `x` (`[n, features]`), row-major `[n, outputs]`, in
    /// f64, each summed in tree order.
    pub fn scores(&self, x: &[f32]) -> Vec<f64> {
        let k = self.outputs();
        let n = x.len() / self.features.max(1);
        let mut out = Vec::with_capacity(n * k);
        for row in x.chunks(self.features.max(1)).take(n) {
            let start = out.len();
            out.extend_from_slice(&self.baseline);
            for t in &self.trees {
                let leaf = t.leaf(row);
                for (o, v) in out[start + t.output..start + t.output + t.channels]
                    .iter_mut()
                    .zip(t.values(leaf))
                {
                    *o += v;
                }
            }
        }
        out
    }

    /// The JSON text of `trees.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }

    /// Reads and validates `trees.json` text: every index in range, children after their
    /// parent (so a walk always ends), every number finite.
    pub fn from_json(text: &str) -> Result<Ensemble, String> {
        let e: Ensemble = serde_json::from_str(text).map_err(|e| e.to_string())?;
        e.validate()?;
        Ok(e)
    }

    fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT || self.version != VERSION {
            return Err(format!(
                "it is `{}` version {}, this ammc reads `{FORMAT}` version {VERSION}",
                self.format, self.version
            ));
        }
        let k = self.outputs();
        if k == 0 || self.baseline.len() != k {
            return Err(format!(
                "{} baseline values for {k} outputs",
                self.baseline.len()
            ));
        }
        if self.bin_edges.len() != self.features {
            return Err(format!(
                "bin edges for {} features, the head takes {}",
                self.bin_edges.len(),
                self.features
            ));
        }
        if self.baseline.iter().any(|v| !v.is_finite()) {
            return Err("a baseline value is not finite".into());
        }
        for (i, t) in self.trees.iter().enumerate() {
            let n = t.left.len();
            let bad = |why: &str| Err(format!("tree {i}: {why}"));
            if n == 0
                || [
                    t.feature.len(),
                    t.bin.len(),
                    t.threshold.len(),
                    t.right.len(),
                ]
                .iter()
                .any(|l| *l != n)
                || t.value.len() != n * t.channels
            {
                return bad("its node arrays have different lengths");
            }
            if t.channels == 0 || t.output + t.channels > k {
                return bad("it adds to outputs the head does not have");
            }
            for node in 0..n {
                let (l, r) = (t.left[node], t.right[node]);
                if (l < 0) != (r < 0) {
                    return bad("a node has one child");
                }
                if l >= 0 {
                    let ok = |c: i32| (c as usize) > node && (c as usize) < n;
                    if !ok(l) || !ok(r) {
                        return bad("a child index is out of range");
                    }
                    if t.feature[node] as usize >= self.features {
                        return bad("a node tests a feature the head does not have");
                    }
                    if !t.threshold[node].is_finite() {
                        return bad("a threshold is not finite");
                    }
                }
            }
            if t.value.iter().any(|v| !v.is_finite()) {
                return bad("a leaf value is not finite");
            }
        }
        Ok(())
    }
}
