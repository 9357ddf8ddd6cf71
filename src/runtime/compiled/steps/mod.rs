//! Plan kernels turned into executable steps: generated Cranelift kernels with their
//! shapes fixed for one row count, or the reference op for kernels the generator does not
//! cover (named in `ammc emit clif`).

mod batchnorm;
mod conv;
mod dense;
mod elementwise;
mod loss;
mod pool;
mod rnn;
mod update;

use crate::jit::{JitError, JitModule};
use crate::lower::{BufferId, Kernel, Plan};

use super::ExecError;
use super::parallel::GemmCache;
use super::store::Use;

// Re-exported to the executor because `Step`, which it matches on, holds them.
pub(super) use batchnorm::{BatchNormBackwardStep, BatchNormStep};
pub(super) use conv::{ConvBackwardStep, ConvStep};
pub(super) use dense::{DenseBackwardStep, DenseStep};
pub(super) use elementwise::MapStep;
pub(super) use loss::LossStep;
pub(super) use pool::{MaxPoolBackwardStep, MaxPoolStep, UnaryStep};
pub(super) use rnn::RnnStep;
pub(super) use update::{AdamStep, ClipStep, SgdStep};

/// Weight of one element of a memory-bound kernel (pooling, optimizer) against one
/// floating-point operation of a product, when deciding whether to split it.
const MEMORY_WEIGHT: usize = 10;

/// What a step needs from the executor while it runs.
pub struct Ctx<'a> {
    /// Buffer storage (by storage id).
    pub store: &'a mut [Vec<f32>],
    /// Unrolled convolution inputs saved by forward for backward, by slot.
    pub cols: &'a mut [Vec<f32>],
    /// The plan.
    pub plan: &'a Plan,
    /// Thread pool (`None`: run on the calling thread).
    pub pool: Option<&'a rayon::ThreadPool>,
    /// Learning rate and step of the current update.
    pub lr: f32,
    /// Optimizer step, from 1.
    pub step: u64,
    /// Training mode (batch statistics) rather than evaluation.
    pub training: bool,
}

/// Everything the compiler of steps shares.
pub struct Compiler<'a> {
    /// The module functions are compiled into.
    pub jit: &'a mut JitModule,
    /// Dedupes GEMMs of equal shape.
    pub gemms: &'a mut GemmCache,
    /// The plan.
    pub plan: &'a Plan,
    /// Tasks row-parallel work is split into (the thread count).
    pub threads: usize,
    /// Saved-column slot of each convolution, by its output buffer.
    pub col_slots: &'a [(BufferId, usize)],
}

impl Compiler<'_> {
    fn per_row(&self, id: BufferId) -> usize {
        let s = &self.plan.buffer(id).shape;
        s.iter().skip(1).product()
    }
    fn len(&self, id: BufferId) -> usize {
        self.plan.buffer(id).len()
    }
    fn col_slot(&self, y: BufferId) -> Option<usize> {
        self.col_slots
            .iter()
            .find(|(b, _)| *b == y)
            .map(|(_, s)| *s)
    }
}

/// One executable step.
pub enum Step {
    /// Dense forward.
    Dense(Box<DenseStep>),
    /// Dense backward.
    DenseBackward(Box<DenseBackwardStep>),
    /// Convolution forward.
    Conv(Box<ConvStep>),
    /// Convolution backward.
    ConvBackward(Box<ConvBackwardStep>),
    /// Max pooling.
    MaxPool(Box<MaxPoolStep>),
    /// Max pooling backward.
    MaxPoolBackward(Box<MaxPoolBackwardStep>),
    /// Adam update.
    Adam(Box<AdamStep>),
    /// SGD update.
    Sgd(Box<SgdStep>),
    /// Fused loss.
    Loss(Box<LossStep>),
    /// Elementwise kernel.
    Map(Box<MapStep>),
    /// Gradient clipping.
    Clip(Box<ClipStep>),
    /// Average poolings.
    Unary(Box<UnaryStep>),
    /// Batch normalisation.
    BatchNorm(Box<BatchNormStep>),
    /// Batch-norm backward.
    BatchNormBackward(Box<BatchNormBackwardStep>),
    /// `dst = src`: a plain memory copy.
    Copy {
        /// Source and its used length.
        src: (BufferId, usize),
        /// Destination.
        dst: BufferId,
    },
    /// A recurrent layer's forward pass (generated cell steps).
    Rnn(Box<RnnStep>),
    /// A kernel without a generator yet: runs the reference op.
    Reference(Kernel),
}

impl Step {
    /// True when this step runs generated code.
    pub fn is_compiled(&self) -> bool {
        !matches!(self, Step::Reference(_))
    }

    /// Compiles plan kernel `k` for `rows` rows.
    pub fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
        match k {
            Kernel::Dense { .. } | Kernel::DenseBackward { .. } => dense::compile(c, k, rows),
            Kernel::Conv { .. } | Kernel::ConvBackward { .. } => conv::compile(c, k, rows),
            Kernel::MaxPool { .. }
            | Kernel::MaxPoolBackward { .. }
            | Kernel::AvgPool { .. }
            | Kernel::AvgPoolBackward { .. }
            | Kernel::GlobalAvgPool { .. }
            | Kernel::GlobalAvgPoolBackward { .. } => pool::compile(c, k, rows),
            Kernel::SoftmaxCrossEntropy { .. } | Kernel::Mse { .. } | Kernel::Mae { .. } => {
                loss::compile(c, k, rows)
            }
            Kernel::Update { .. } | Kernel::ClipNorm { .. } => update::compile(c, k, rows),
            Kernel::Add { .. }
            | Kernel::Accumulate { .. }
            | Kernel::DropoutBackward { .. }
            | Kernel::Act { .. }
            | Kernel::ActBackward { .. }
            | Kernel::Copy { .. } => elementwise::compile(c, k, rows),
            Kernel::BatchNorm { .. } | Kernel::BatchNormBackward { .. } => {
                batchnorm::compile(c, k, rows)
            }
            Kernel::Rnn { .. } => rnn::compile(c, k, rows),
            other => Ok(Step::Reference(other.clone())),
        }
    }

    /// Runs a compiled step (reference steps are run by the executor).
    pub fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        match self {
            Step::Dense(s) => s.run(ctx),
            Step::DenseBackward(s) => s.run(ctx),
            Step::Conv(s) => s.run(ctx),
            Step::ConvBackward(s) => s.run(ctx),
            Step::Adam(s) => s.run(ctx),
            Step::Sgd(s) => s.run(ctx),
            Step::Loss(s) => s.run(ctx),
            Step::Map(s) => s.run(ctx),
            Step::Clip(s) => s.run(ctx),
            Step::Unary(s) => s.run(ctx),
            Step::BatchNorm(s) => s.run(ctx),
            Step::BatchNormBackward(s) => s.run(ctx),
            Step::Copy { src, dst } => elementwise::run_copy(*src, *dst, ctx),
            Step::MaxPool(s) => s.run(ctx),
            Step::MaxPoolBackward(s) => s.run(ctx),
            Step::Rnn(s) => s.run(ctx),
            Step::Reference(_) => Ok(()),
        }
    }
}

/// The buffer uses of `(buffer, used length)` pairs.
fn uses(list: &[(BufferId, usize)]) -> Vec<Use> {
    list.iter().map(|&(id, len)| Use { id, len }).collect()
}

/// Elements of `id` used with `rows` rows (all of it when it is not batched).
fn rows_len(c: &Compiler<'_>, id: BufferId, rows: usize) -> usize {
    let b = c.plan.buffer(id);
    if b.batched {
        rows * c.per_row(id)
    } else {
        b.len()
    }
}
