//! The kernel plan: statically shaped buffers and the ordered kernels over them for one
//! training step (forward, loss, backward, update) and for evaluation (forward only).

use std::fmt;

use crate::check::spec::InitScheme;
use crate::check::{Activation, RnnCell};

/// Index of a buffer in [`Plan::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

/// What a buffer holds; decides its lifetime and who writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A batch of inputs, written by the data loader.
    Input,
    /// A batch of targets (class indices as f32, or real values).
    Target,
    /// Learnable weights.
    Param {
        /// Excluded from the update.
        frozen: bool,
    },
    /// Gradient of a param.
    Grad,
    /// A layer output.
    Activation,
    /// Gradient of a layer output.
    ActGrad,
    /// Persistent non-learned state: optimizer moments, batchnorm running statistics.
    State,
    /// Per-step scratch saved by forward for backward: dropout masks, argmax indices,
    /// batchnorm batch statistics.
    Scratch,
    /// The scalar loss.
    Loss,
}

/// One buffer: a flat f32 array with a logical shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// Readable name (`features.conv1.weight`, `features.conv1.out`).
    pub name: String,
    /// Logical shape, batch first for per-sample data.
    pub shape: Vec<usize>,
    /// Role.
    pub role: Role,
    /// Shares storage with another buffer (a `flatten` is a view, not a copy).
    pub alias: Option<BufferId>,
    /// The first dim is the batch: a short final batch uses only its first rows.
    pub batched: bool,
}

impl Buffer {
    /// Number of f32 elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Window geometry of a convolution or pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub pad: usize,
    /// Dilation.
    pub dilation: usize,
}

/// Output length of a sliding window along one axis, PyTorch's formula
/// `floor((len + 2*pad - dilation*(kernel-1) - 1) / stride) + 1`.
///
/// Returns `None` when the dilated kernel does not fit in the padded input even once
/// (PyTorch raises an error there too), when `kernel` or `stride` is 0, or when the
/// arithmetic would overflow.
pub fn window_output_len(
    len: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    // Checked arithmetic: absurd hyper-parameters give `None`, never an overflow panic.
    let padded = len.checked_add(pad.checked_mul(2)?)?;
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    if span > padded || stride == 0 {
        return None;
    }
    Some((padded - span) / stride + 1)
}

/// The buffers of one direction of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RnnDir {
    /// Input-to-hidden weights `[G·H, F]`.
    pub w_ih: BufferId,
    /// Hidden-to-hidden weights `[G·H, H]`.
    pub w_hh: BufferId,
    /// Input bias `[G·H]`.
    pub b_ih: BufferId,
    /// Hidden bias `[G·H]`.
    pub b_hh: BufferId,
    /// Scratch: the hidden state at every time index `[N, T, H]`.
    pub h: BufferId,
    /// Scratch: the gate values backward needs `[N, T, trace width]`.
    pub gates: BufferId,
    /// Reads the steps from last to first.
    pub reverse: bool,
}

/// Gradient buffers of one direction's four tensors (`None` when frozen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RnnDirGrads {
    /// Of `w_ih`.
    pub w_ih: BufferId,
    /// Of `w_hh`.
    pub w_hh: BufferId,
    /// Of `b_ih`.
    pub b_ih: BufferId,
    /// Of `b_hh`.
    pub b_hh: BufferId,
}

/// A reduction of a sequence `[N, T, F]` to a vector `[N, F]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeReduce {
    /// The last step.
    Last,
    /// The mean over time.
    Mean,
}

/// Optimizer update rule for one param.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    /// SGD; `velocity` is present when momentum ≠ 0.
    Sgd {
        /// Momentum.
        momentum: f32,
        /// Nesterov.
        nesterov: bool,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
        /// Momentum buffer.
        velocity: Option<BufferId>,
    },
    /// Adam / AdamW.
    Adam {
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// Weight decay.
        weight_decay: f32,
        /// Decoupled (AdamW).
        decoupled: bool,
        /// First moment.
        m: BufferId,
        /// Second moment.
        v: BufferId,
    },
}

/// A kernel: one unit of work over buffers. Forward kernels may fuse an activation into
/// their epilogue; the matching backward applies the activation's derivative from the
/// kernel's output first (the ReLU mask), so the pre-activation need not be stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// y = act(x·Wᵀ + b), x [N, in], W [out, in].
    Dense {
        x: BufferId,
        w: BufferId,
        b: Option<BufferId>,
        y: BufferId,
        act: Option<Activation>,
    },
    /// y = act(conv(x, W) + b), NCHW / OIHW.
    Conv {
        x: BufferId,
        w: BufferId,
        b: Option<BufferId>,
        y: BufferId,
        window: Window,
        act: Option<Activation>,
    },
    /// Max pooling; records the flat input index of each maximum in `argmax`.
    MaxPool {
        x: BufferId,
        y: BufferId,
        argmax: BufferId,
        window: Window,
    },
    /// Average pooling (padding counted).
    AvgPool {
        x: BufferId,
        y: BufferId,
        window: Window,
    },
    /// Mean over H and W.
    GlobalAvgPool { x: BufferId, y: BufferId },
    /// Token ids `[N, T]` → rows of `w [vocab, dim]`: `[N, T, dim]`.
    Embedding {
        ids: BufferId,
        w: BufferId,
        y: BufferId,
    },
    /// 1-D convolution over time on `[N, T, C]`, weight `[O, C, K]`.
    Conv1d {
        x: BufferId,
        w: BufferId,
        b: Option<BufferId>,
        y: BufferId,
        window: Window,
    },
    /// Max over windows of steps; records the winning step in `argmax`.
    MaxPool1d {
        x: BufferId,
        y: BufferId,
        argmax: BufferId,
        window: Window,
    },
    /// Mean over windows of steps (padding counted).
    AvgPool1d {
        x: BufferId,
        y: BufferId,
        window: Window,
    },
    /// A GRU or LSTM layer: one or two directions over `x [N, T, F]`; `y` is every step's
    /// state `[N, T, D·H]` or the final states `[N, D·H]`, directions concatenated.
    Rnn {
        x: BufferId,
        y: BufferId,
        cell: RnnCell,
        return_sequences: bool,
        dirs: Vec<RnnDir>,
    },
    /// `[N, T, F]` → `[N, F]`.
    TimeReduce {
        x: BufferId,
        y: BufferId,
        how: TimeReduce,
    },
    /// Elementwise activation.
    Act {
        x: BufferId,
        y: BufferId,
        act: Activation,
    },
    /// Inverted dropout; draws `mask` (0 or 1/(1-rate)) while training, copies in evaluation.
    Dropout {
        x: BufferId,
        y: BufferId,
        mask: BufferId,
        rate: f32,
    },
    /// Batch normalisation over the channel axis (axis 1).
    BatchNorm {
        x: BufferId,
        y: BufferId,
        gamma: BufferId,
        beta: BufferId,
        running_mean: BufferId,
        running_var: BufferId,
        saved_mean: BufferId,
        saved_invstd: BufferId,
        momentum: f32,
        eps: f32,
    },
    /// y = a + b (residual connection).
    Add {
        a: BufferId,
        b: BufferId,
        y: BufferId,
    },
    /// Fused softmax + cross-entropy: writes the mean loss and dlogits = (softmax − target)/N.
    SoftmaxCrossEntropy {
        logits: BufferId,
        target: BufferId,
        loss: BufferId,
        dlogits: BufferId,
        smoothing: f32,
    },
    /// Mean squared error and its gradient.
    Mse {
        y: BufferId,
        target: BufferId,
        loss: BufferId,
        dy: BufferId,
    },
    /// Mean absolute error and its gradient (sign, 0 at 0).
    Mae {
        y: BufferId,
        target: BufferId,
        loss: BufferId,
        dy: BufferId,
    },
    /// Backward of `Dense`: applies the activation derivative (from `y`) to `dy` in place,
    /// then writes dx (if wanted), dW and db.
    DenseBackward {
        x: BufferId,
        w: BufferId,
        y: BufferId,
        dy: BufferId,
        act: Option<Activation>,
        dx: Option<BufferId>,
        dw: Option<BufferId>,
        db: Option<BufferId>,
    },
    /// Backward of `Conv`, same conventions.
    ConvBackward {
        x: BufferId,
        w: BufferId,
        y: BufferId,
        dy: BufferId,
        act: Option<Activation>,
        window: Window,
        dx: Option<BufferId>,
        dw: Option<BufferId>,
        db: Option<BufferId>,
    },
    /// `dw[id] += dy` at every position of each id.
    EmbeddingBackward {
        ids: BufferId,
        dy: BufferId,
        dw: BufferId,
    },
    /// Backward of `Conv1d`.
    Conv1dBackward {
        x: BufferId,
        w: BufferId,
        dy: BufferId,
        window: Window,
        dx: Option<BufferId>,
        dw: Option<BufferId>,
        db: Option<BufferId>,
    },
    /// Routes dy to the recorded winning steps.
    MaxPool1dBackward {
        dy: BufferId,
        argmax: BufferId,
        dx: BufferId,
    },
    /// Spreads dy evenly over each window of steps.
    AvgPool1dBackward {
        dy: BufferId,
        dx: BufferId,
        window: Window,
    },
    /// Backward through time of `Rnn`, from the states and gates its forward saved.
    RnnBackward {
        x: BufferId,
        dy: BufferId,
        cell: RnnCell,
        return_sequences: bool,
        dirs: Vec<RnnDir>,
        grads: Vec<Option<RnnDirGrads>>,
        dx: Option<BufferId>,
    },
    /// Backward of `TimeReduce`.
    TimeReduceBackward {
        dy: BufferId,
        dx: BufferId,
        how: TimeReduce,
    },
    /// Routes dy to the recorded maxima.
    MaxPoolBackward {
        dy: BufferId,
        argmax: BufferId,
        dx: BufferId,
    },
    /// Spreads dy evenly over each window.
    AvgPoolBackward {
        dy: BufferId,
        dx: BufferId,
        window: Window,
    },
    /// Spreads dy evenly over H and W.
    GlobalAvgPoolBackward { dy: BufferId, dx: BufferId },
    /// dx = dy · act'(x, y).
    ActBackward {
        x: BufferId,
        y: BufferId,
        dy: BufferId,
        dx: BufferId,
        act: Activation,
    },
    /// dx = dy · mask.
    DropoutBackward {
        dy: BufferId,
        mask: BufferId,
        dx: BufferId,
    },
    /// Batch-norm backward (training mode).
    BatchNormBackward {
        x: BufferId,
        dy: BufferId,
        gamma: BufferId,
        saved_mean: BufferId,
        saved_invstd: BufferId,
        dx: Option<BufferId>,
        dgamma: Option<BufferId>,
        dbeta: Option<BufferId>,
    },
    /// dst = src.
    Copy { src: BufferId, dst: BufferId },
    /// dst += src (a gradient reaching a buffer along two paths).
    Accumulate { src: BufferId, dst: BufferId },
    /// Scales all gradients so their global L2 norm is at most `max_norm`.
    ClipNorm { grads: Vec<BufferId>, max_norm: f32 },
    /// Optimizer step on one param with the step's learning rate (given at run time).
    Update {
        param: BufferId,
        grad: BufferId,
        rule: Update,
    },
}

impl Kernel {
    /// The kernel's kind, as plans print it (`Dense`, `ConvBackward`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Dense { .. } => "Dense",
            Kernel::Conv { .. } => "Conv",
            Kernel::MaxPool { .. } => "MaxPool",
            Kernel::AvgPool { .. } => "AvgPool",
            Kernel::GlobalAvgPool { .. } => "GlobalAvgPool",
            Kernel::Embedding { .. } => "Embedding",
            Kernel::Conv1d { .. } => "Conv1d",
            Kernel::MaxPool1d { .. } => "MaxPool1d",
            Kernel::AvgPool1d { .. } => "AvgPool1d",
            Kernel::Rnn { .. } => "Rnn",
            Kernel::TimeReduce { .. } => "TimeReduce",
            Kernel::EmbeddingBackward { .. } => "EmbeddingBackward",
            Kernel::Conv1dBackward { .. } => "Conv1dBackward",
            Kernel::MaxPool1dBackward { .. } => "MaxPool1dBackward",
            Kernel::AvgPool1dBackward { .. } => "AvgPool1dBackward",
            Kernel::RnnBackward { .. } => "RnnBackward",
            Kernel::TimeReduceBackward { .. } => "TimeReduceBackward",
            Kernel::Act { .. } => "Act",
            Kernel::Dropout { .. } => "Dropout",
            Kernel::BatchNorm { .. } => "BatchNorm",
            Kernel::Add { .. } => "Add",
            Kernel::SoftmaxCrossEntropy { .. } => "SoftmaxCrossEntropy",
            Kernel::Mse { .. } => "Mse",
            Kernel::Mae { .. } => "Mae",
            Kernel::DenseBackward { .. } => "DenseBackward",
            Kernel::ConvBackward { .. } => "ConvBackward",
            Kernel::MaxPoolBackward { .. } => "MaxPoolBackward",
            Kernel::AvgPoolBackward { .. } => "AvgPoolBackward",
            Kernel::GlobalAvgPoolBackward { .. } => "GlobalAvgPoolBackward",
            Kernel::ActBackward { .. } => "ActBackward",
            Kernel::DropoutBackward { .. } => "DropoutBackward",
            Kernel::BatchNormBackward { .. } => "BatchNormBackward",
            Kernel::Copy { .. } => "Copy",
            Kernel::Accumulate { .. } => "Accumulate",
            Kernel::ClipNorm { .. } => "ClipNorm",
            Kernel::Update { .. } => "Update",
        }
    }
}

/// Initialisation of a param, with its scale already worked out from the layer's fans
/// (see [`crate::check::spec::InitScheme`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// U(−bound, bound).
    Uniform {
        /// Half-width of the interval.
        bound: f64,
    },
    /// N(0, std²).
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// All ones (batchnorm scale, running variance).
    Ones,
    /// All zeros.
    Zeros,
}

impl Init {
    /// The initialisation of a dense or conv weight (`bias = false`) or bias under `scheme`;
    /// `fan_in` counts the inputs feeding one output, `fan_out` the outputs one input feeds.
    pub fn for_layer(scheme: InitScheme, fan_in: usize, fan_out: usize, bias: bool) -> Init {
        let fan_in = fan_in.max(1) as f64;
        let fans = fan_in + fan_out.max(1) as f64;
        match (scheme, bias) {
            // Same expression as before the schemes existed, so default runs keep their
            // numbers bit for bit.
            (InitScheme::Torch, _) => Init::Uniform {
                bound: 1.0 / fan_in.sqrt(),
            },
            (_, true) => Init::Zeros,
            (InitScheme::KaimingUniform, false) => Init::Uniform {
                bound: (6.0 / fan_in).sqrt(),
            },
            (InitScheme::KaimingNormal, false) => Init::Normal {
                std: (2.0 / fan_in).sqrt(),
            },
            (InitScheme::XavierUniform, false) => Init::Uniform {
                bound: (6.0 / fans).sqrt(),
            },
            (InitScheme::XavierNormal, false) => Init::Normal {
                std: (2.0 / fans).sqrt(),
            },
        }
    }
}

/// A learnable tensor and where its gradient goes.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// The weights.
    pub buffer: BufferId,
    /// Its gradient (absent when frozen).
    pub grad: Option<BufferId>,
    /// Initialisation.
    pub init: Init,
}

/// A lowered model + train block at one batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Every buffer.
    pub buffers: Vec<Buffer>,
    /// Forward kernels, shared by training and evaluation.
    pub forward: Vec<Kernel>,
    /// The loss kernel (also writes the gradient of the output).
    pub loss: Kernel,
    /// Backward kernels in execution order.
    pub backward: Vec<Kernel>,
    /// Gradient clipping and optimizer updates.
    pub update: Vec<Kernel>,
    /// Learnable tensors in model order (the safetensors order).
    pub params: Vec<ParamInfo>,
    /// Persistent non-learned tensors saved with the model (batchnorm running statistics)
    /// and their initialisation.
    pub state: Vec<(BufferId, Init)>,
    /// Input batch.
    pub input: BufferId,
    /// Target batch.
    pub target: BufferId,
    /// Model output (logits or predictions).
    pub output: BufferId,
    /// Scalar loss.
    pub loss_value: BufferId,
    /// Batch size this plan is specialised for.
    pub batch: usize,
}

impl Plan {
    /// The buffer with this id.
    pub fn buffer(&self, id: BufferId) -> &Buffer {
        &self.buffers[id.0 as usize]
    }

    /// The buffer whose storage `id` uses (itself unless it is an alias).
    pub fn storage(&self, id: BufferId) -> BufferId {
        let mut cur = id;
        while let Some(a) = self.buffer(cur).alias {
            cur = a;
        }
        cur
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan (batch {})", self.batch)?;
        writeln!(f, "buffers:")?;
        for (i, b) in self.buffers.iter().enumerate() {
            let alias = b
                .alias
                .map(|a| format!(" = view of %{}", a.0))
                .unwrap_or_default();
            writeln!(
                f,
                "  %{i:<3} {:<40} {:?} {:?}{alias}",
                b.name, b.shape, b.role
            )?;
        }
        let sections = [
            ("forward", &self.forward),
            ("backward", &self.backward),
            ("update", &self.update),
        ];
        writeln!(f, "forward:")?;
        for k in sections[0].1 {
            writeln!(f, "  {}", kernel_text(k))?;
        }
        writeln!(f, "loss:\n  {}", kernel_text(&self.loss))?;
        for (name, ks) in &sections[1..] {
            writeln!(f, "{name}:")?;
            for k in *ks {
                writeln!(f, "  {}", kernel_text(k))?;
            }
        }
        Ok(())
    }
}

/// One line per kernel, buffers as `%id`.
fn kernel_text(k: &Kernel) -> String {
    let text = format!("{k:?}");
    // `BufferId(3)` → `%3`
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("BufferId(") {
        out.push_str(&rest[..i]);
        rest = &rest[i + "BufferId(".len()..];
        let end = rest.find(')').unwrap_or(rest.len());
        out.push('%');
        out.push_str(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}
