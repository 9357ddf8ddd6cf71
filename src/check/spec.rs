//! The settings of a `train` block, evaluated: what the runtime needs besides the layers.

/// Training loss.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// Softmax cross-entropy on [N, C] logits with class labels.
    CrossEntropy {
        /// ε in (1-ε)·onehot + ε/C.
        label_smoothing: f32,
    },
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
}

/// Optimizer and its hyper-parameters (PyTorch semantics).
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// SGD with optional (Nesterov) momentum and L2 weight decay.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 penalty.
        weight_decay: f32,
    },
    /// Adam (`decoupled = false`) or AdamW (`decoupled = true`).
    Adam {
        /// Learning rate.
        lr: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator term.
        eps: f32,
        /// Weight decay (L2 for Adam, decoupled for AdamW).
        weight_decay: f32,
        /// AdamW.
        decoupled: bool,
    },
}

impl Optimizer {
    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => *lr,
        }
    }
}

/// Learning-rate schedule, with an optional linear warm-up.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Constant rate.
    Constant {
        /// Warm-up steps.
        warmup: usize,
    },
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor.
        gamma: f32,
        /// Warm-up steps.
        warmup: usize,
    },
    /// Cosine decay from the base rate to `min_lr` over the run.
    Cosine {
        /// Final rate.
        min_lr: f32,
        /// Warm-up steps.
        warmup: usize,
    },
}

pub use crate::data::DataSpec;

/// A `train` block, evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The dataset.
    pub data: DataSpec,
    /// The loss.
    pub loss: Loss,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// The schedule.
    pub schedule: Schedule,
    /// Passes over the training split.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Metrics reported per epoch.
    pub metrics: Vec<String>,
    /// Global gradient-norm clip.
    pub clip_norm: Option<f32>,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
}
