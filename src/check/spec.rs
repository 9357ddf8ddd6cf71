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

/// How the weights of dense and conv layers are initialised (`init = …` in a train block).
/// Batch-norm scales start at 1 and shifts at 0 under every scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitScheme {
    /// PyTorch's defaults for `Linear` and `Conv2d`: weights `kaiming_uniform_(a = √5)`, which
    /// is U(−1/√fan_in, 1/√fan_in), and biases U(−1/√fan_in, 1/√fan_in).
    #[default]
    Torch,
    /// He et al. for ReLU: weights U(−√(6/fan_in), √(6/fan_in)), biases 0.
    KaimingUniform,
    /// He et al. for ReLU: weights N(0, 2/fan_in), biases 0.
    KaimingNormal,
    /// Glorot and Bengio: weights U(−√(6/(fan_in+fan_out)), √(6/(fan_in+fan_out))), biases 0.
    XavierUniform,
    /// Glorot and Bengio: weights N(0, 2/(fan_in+fan_out)), biases 0.
    XavierNormal,
}

impl InitScheme {
    /// Every scheme with its name in `.amm` files (the schema's `init` builtins).
    pub const ALL: [(&'static str, InitScheme); 5] = [
        ("torch", InitScheme::Torch),
        ("kaiming_uniform", InitScheme::KaimingUniform),
        ("kaiming_normal", InitScheme::KaimingNormal),
        ("xavier_uniform", InitScheme::XavierUniform),
        ("xavier_normal", InitScheme::XavierNormal),
    ];

    /// The scheme named `name` in a file.
    pub fn from_name(name: &str) -> Option<InitScheme> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
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
    /// Multiply by `factor` when `metric` has not improved for `patience` epochs
    /// (PyTorch's `ReduceLROnPlateau`), never below `min_lr`.
    Plateau {
        /// What is watched.
        metric: Watch,
        /// Factor in (0, 1).
        factor: f32,
        /// Epochs without improvement before a reduction.
        patience: usize,
        /// Lower bound of the rate.
        min_lr: f32,
        /// Warm-up steps.
        warmup: usize,
    },
}

/// A per-epoch metric watched for improvement (early stopping, plateau schedules).
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    /// Dotted name: `val.loss`, `val.accuracy`, `val.mse`, `val.mae` or `train.loss`.
    pub metric: String,
    /// Larger is better (accuracy); otherwise smaller is better.
    pub maximize: bool,
    /// Smallest change that counts as an improvement.
    pub min_delta: f64,
}

impl Watch {
    /// Whether `value` improves on `best`.
    pub fn improves(&self, value: f64, best: Option<f64>) -> bool {
        match best {
            None => value.is_finite(),
            Some(b) if self.maximize => value > b + self.min_delta,
            Some(b) => value < b - self.min_delta,
        }
    }
}

/// Stop training when a metric stalls, keeping the best weights.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    /// What is watched.
    pub watch: Watch,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Evaluate and save the best epoch's weights as the model (else the last epoch's).
    pub restore_best: bool,
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
    /// Initialisation of dense and conv weights.
    pub init: InitScheme,
    /// Early stopping, when asked for.
    pub early_stop: Option<EarlyStopping>,
    /// The model's tree head, when it ends in one (`crate::trees` trains it instead of the
    /// gradient loop; `loss` is then the objective the labels imply and `optimizer` is
    /// unused, since every stage before a tree head is frozen).
    pub tree: Option<TreeHead>,
}

/// Which tree head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeKind {
    /// `boosted_trees(…)`: gradient boosting, one tree per output and round.
    BoostedTrees,
    /// `decision_tree(…)`: one tree fitted to the targets.
    DecisionTree,
}

impl TreeKind {
    /// The builtin's name.
    pub fn name(self) -> &'static str {
        match self {
            TreeKind::BoostedTrees => "boosted_trees",
            TreeKind::DecisionTree => "decision_tree",
        }
    }
}

/// A tree head's settings, evaluated (see `boosted_trees` and `decision_tree` in the schema).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TreeHead {
    /// Boosted ensemble or a single tree.
    pub kind: TreeKind,
    /// Boosting rounds (1 for a decision tree).
    pub trees: usize,
    /// Largest depth of a tree.
    pub depth: usize,
    /// Shrinkage of each tree's leaf values (1 for a decision tree).
    pub lr: f64,
    /// Fewest training samples in a leaf.
    pub min_leaf: usize,
    /// L2 penalty on leaf values (0 for a decision tree).
    pub l2: f64,
    /// Largest number of bins per feature (2 to 255).
    pub bins: usize,
    /// Rounds without a better validation loss before stopping.
    pub early_stopping: Option<usize>,
    /// Outputs: the data's classes, or its targets per sample.
    pub outputs: usize,
}
