//! Metrics of a model on one split, and the per-epoch record of `metrics.jsonl`.

/// Loss and metrics of a model on one split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitMetrics {
    /// Mean loss.
    pub loss: f64,
    /// Fraction of correct classes (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Mean squared error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mse: Option<f64>,
    /// Mean absolute error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
}

impl SplitMetrics {
    /// A metric by name (`loss`, `accuracy`, `mse`, `mae`), when this split has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" => self.accuracy,
            "mse" => self.mse,
            "mae" => self.mae,
            _ => None,
        }
    }
}

/// One line of `metrics.jsonl`: deterministic numbers only (no timings).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// Validation metrics after the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<SplitMetrics>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
}

impl EpochRecord {
    /// A metric by its dotted name (`val.loss`, `val.accuracy`, `train.loss`).
    pub fn get(&self, dotted: &str) -> Option<f64> {
        match dotted.split_once('.') {
            Some(("train", "loss")) => Some(self.train_loss),
            Some(("val", m)) => self.val.as_ref().and_then(|v| v.get(m)),
            _ => None,
        }
    }
}
