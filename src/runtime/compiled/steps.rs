//! Plan kernels turned into executable steps: generated Cranelift kernels with their
//! shapes fixed for one row count, or the reference op for kernels the generator does not
//! cover (named in `ammc emit clif`).

use std::ops::Range;

use crate::check::Activation;
use crate::jit::F32Bits;
use crate::jit::adam::{AdamKernel, AdamSpec};
use crate::jit::batchnorm::{
    BatchNormBackwardArgs, BatchNormKernel, BatchNormSpec, BatchNormTrainArgs,
};
use crate::jit::conv::{
    ChannelBiasActKernel, ChannelBiasActSpec, ChannelSumKernel, ChannelSumSpec, Col2imKernel,
    ColumnSumKernel, ColumnSumSpec, Im2colKernel, Im2colSpec, ReluMaskKernel, ReluMaskSpec,
};
use crate::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use crate::jit::gemm::{GemmOp, GemmSpec};
use crate::jit::loss::{
    CrossEntropyKernel, CrossEntropySpec, LossMeanKernel, LossMeanSpec, RegressionLoss,
    RegressionLossKernel, RegressionLossSpec,
};
use crate::jit::pool::{
    AvgPoolBackwardKernel, AvgPoolKernel, GlobalAvgPoolBackwardKernel, GlobalAvgPoolKernel,
    GlobalPoolSpec, MaxPoolBackwardKernel, MaxPoolKernel, PoolSpec,
};
use crate::jit::sgd::{SgdKernel, SgdSpec};
use crate::jit::{JitError, JitModule};
use crate::lower::{BufferId, Kernel, Plan, Update, Window};

use super::ExecError;
use super::glue::{self, ConvGeom};
use super::parallel::{
    Gemm, GemmCache, SHARDS, SplitGemm, chunks_mut, parts_for, run_tasks, split,
};
use super::store::{Use, borrow};

/// Activations a dense layer's step handles itself.
fn fusable(act: &Option<Activation>) -> bool {
    match act {
        None | Some(Activation::Relu) => true,
        Some(a) => output_act(*a, 1).is_some(),
    }
}

/// Forward and backward elementwise kernels of a fused activation other than ReLU. The
/// backward takes the layer's output in place of its input: exact for sigmoid and tanh,
/// whose derivatives are functions of the output, and for leaky ReLU because `lower`
/// fuses it only with a slope ≥ 0, where the output has the input's sign.
fn output_act(act: Activation, len: usize) -> Option<(ElementwiseSpec, ElementwiseSpec)> {
    match act {
        Activation::LeakyRelu(s) if s >= 0.0 => {
            let slope = F32Bits::new(s);
            Some((
                ElementwiseSpec::LeakyRelu { len, slope },
                ElementwiseSpec::LeakyReluBackward { len, slope },
            ))
        }
        Activation::Sigmoid => Some((
            ElementwiseSpec::Sigmoid { len },
            ElementwiseSpec::SigmoidBackward { len },
        )),
        Activation::Tanh => Some((
            ElementwiseSpec::Tanh { len },
            ElementwiseSpec::TanhBackward { len },
        )),
        _ => None,
    }
}

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
    fn batchnorm_spec(&self, x: BufferId, rows: usize, eps: f32, momentum: f32) -> BatchNormSpec {
        let shape = &self.plan.buffer(x).shape;
        BatchNormSpec {
            samples: rows,
            channels: shape.get(1).copied().unwrap_or(1),
            plane: shape.iter().skip(2).product(),
            eps: F32Bits::new(eps),
            momentum: F32Bits::new(momentum),
        }
    }
    fn unary(
        &self,
        kernel: UnaryKernel,
        input: (BufferId, usize),
        output: (BufferId, usize),
    ) -> Step {
        Step::Unary(Box::new(UnaryStep {
            input,
            output,
            kernel,
        }))
    }
    fn map(
        &mut self,
        spec: ElementwiseSpec,
        inputs: &[(BufferId, usize)],
        output: (BufferId, usize),
    ) -> Result<Step, JitError> {
        Ok(Step::Map(Box::new(MapStep {
            inputs: inputs.to_vec(),
            output,
            kernel: ElementwiseKernel::compile(self.jit, spec)?,
        })))
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
    fn pool_geom(&self, x: BufferId, y: BufferId, window: &Window) -> glue::PoolGeom {
        let (xs, ys) = (&self.plan.buffer(x).shape, &self.plan.buffer(y).shape);
        let dim = |s: &Vec<usize>, i: usize| s.get(i).copied().unwrap_or(1);
        glue::PoolGeom {
            height: dim(xs, 2),
            width: dim(xs, 3),
            out_h: dim(ys, 2),
            out_w: dim(ys, 3),
            kernel: window.kernel,
            stride: window.stride,
            pad: window.pad,
        }
    }
    fn geom(&self, x: BufferId, w: BufferId, y: BufferId, window: &Window) -> ConvGeom {
        let (xs, ys) = (&self.plan.buffer(x).shape, &self.plan.buffer(y).shape);
        let dim = |s: &Vec<usize>, i: usize| s.get(i).copied().unwrap_or(1);
        let _ = w;
        ConvGeom {
            channels: dim(xs, 1),
            height: dim(xs, 2),
            width: dim(xs, 3),
            out_channels: dim(ys, 1),
            out_h: dim(ys, 2),
            out_w: dim(ys, 3),
            kernel: window.kernel,
            stride: window.stride,
            pad: window.pad,
            dilation: window.dilation,
        }
    }
}

/// A dense layer's forward product, bias and ReLU fused in the GEMM epilogue.
pub struct DenseStep {
    x: BufferId,
    w: BufferId,
    b: Option<BufferId>,
    y: BufferId,
    rows: usize,
    inputs: usize,
    outputs: usize,
    gemm: SplitGemm,
    /// A fused leaky ReLU, sigmoid or tanh applied after the product (ReLU is fused into
    /// the product's epilogue instead), with the pre-activation scratch.
    post: Option<(ElementwiseKernel, Vec<f32>)>,
}

/// A dense layer's backward: ReLU mask applied to `dy` in place (as the reference does),
/// `dx = g·W` (row-parallel), `dW = gᵀ·x`, `db = Σ_rows g`.
pub struct DenseBackwardStep {
    x: BufferId,
    w: BufferId,
    y: BufferId,
    dy: BufferId,
    dx: Option<BufferId>,
    dw: Option<BufferId>,
    db: Option<BufferId>,
    rows: usize,
    inputs: usize,
    outputs: usize,
    mask: Option<ReluMaskKernel>,
    /// The derivative of a fused leaky ReLU, sigmoid or tanh (from the output) into `g`.
    act_bwd: Option<(ElementwiseKernel, Vec<f32>)>,
    db_sum: ColumnSumKernel,
    dx_gemm: Option<SplitGemm>,
    dw_gemm: Option<Gemm>,
    dw_scratch: Vec<f32>,
}

/// A convolution: per sample, unroll windows, one GEMM `W·col`, bias and ReLU.
pub struct ConvStep {
    x: BufferId,
    w: BufferId,
    b: Option<BufferId>,
    y: BufferId,
    geom: ConvGeom,
    rows: usize,
    slot: usize,
    /// `yᵀ[n] = col[n]ᵀ·Wᵀ (+ bias, ReLU)` (only the small Wᵀ is packed per call), or
    /// `y[n] = W·col[n]` when `direct`.
    gemm: Gemm,
    /// `y[n]` is the product itself (few output channels), not its transpose.
    direct: bool,
    /// Channel bias and ReLU after a direct product.
    bias_act: Option<ChannelBiasActKernel>,
    /// Unrolls one sample.
    im2col: Im2colKernel,
    /// Wᵀ `[C·k·k, O]`, refreshed every call.
    wt: Vec<f32>,
    /// Per task: GEMM scratch and the `[P, O]` product before it is transposed to `[O, P]`.
    scratch: Vec<(Vec<f32>, Vec<f32>)>,
    threads: usize,
}

/// A convolution's backward: ReLU mask on `dy` in place, then per sample
/// `dx[n] = col2im(Wᵀ·g[n])` (row-parallel), and `dW`, `db` as fixed shards of the batch
/// whose partial sums are added in shard order.
pub struct ConvBackwardStep {
    w: BufferId,
    y: BufferId,
    dy: BufferId,
    dx: Option<BufferId>,
    dw: Option<BufferId>,
    db: Option<BufferId>,
    geom: ConvGeom,
    rows: usize,
    slot: usize,
    /// `dcol = Wᵀ·g[n]`.
    dcol_gemm: Gemm,
    /// Folds one sample's `dcol` into `dx`.
    col2im: Col2imKernel,
    /// `dWᵀ (+)= col[n]·g[n]ᵀ` (first sample of a shard overwrites).
    dw_first: Gemm,
    dw_acc: Gemm,
    /// Per task: its samples, the ReLU mask for them (absent without ReLU), GEMM scratch
    /// and a dcol buffer.
    tasks: Vec<ConvBackwardTask>,
    /// Per shard: its samples, GEMM scratch, partial dWᵀ, partial db, db kernel.
    shards: Vec<ConvShard>,
    /// Sum of the shards' dWᵀ.
    dwt: Vec<f32>,
}

/// Row-parallel part of a convolution backward.
pub struct ConvBackwardTask {
    range: Range<usize>,
    mask: Option<ReluMaskKernel>,
    scratch: Vec<f32>,
    dcol: Vec<f32>,
}

/// One fixed shard of a convolution's weight and bias gradients.
pub struct ConvShard {
    range: Range<usize>,
    scratch: Vec<f32>,
    dwt: Vec<f32>,
    db: Vec<f32>,
    db_sum: ChannelSumKernel,
}

/// Max pooling over every plane of the batch (row-parallel).
pub struct MaxPoolStep {
    x: BufferId,
    y: BufferId,
    argmax: BufferId,
    geom: glue::PoolGeom,
    /// Planes per sample.
    channels: usize,
    rows: usize,
    /// Per task: its samples and the kernel for that many planes.
    parts: Vec<(Range<usize>, MaxPoolKernel)>,
}

/// Max pooling backward (row-parallel).
pub struct MaxPoolBackwardStep {
    dy: BufferId,
    argmax: BufferId,
    dx: BufferId,
    geom: glue::PoolGeom,
    channels: usize,
    rows: usize,
    /// Per task: its samples and the kernel for that many planes.
    parts: Vec<(Range<usize>, MaxPoolBackwardKernel)>,
}

/// A fused loss: per-row losses and the output gradient, then their mean.
pub struct LossStep {
    y: BufferId,
    target: BufferId,
    loss: BufferId,
    dy: BufferId,
    /// Elements of `y` (and of `target` for regression; rows for classification).
    len: usize,
    target_len: usize,
    kind: LossKernel,
    mean: LossMeanKernel,
    row_loss: Vec<f32>,
}

/// The per-row part of a loss.
pub enum LossKernel {
    /// Softmax cross-entropy.
    CrossEntropy(CrossEntropyKernel),
    /// MSE or MAE.
    Regression(RegressionLossKernel),
}

/// One elementwise kernel over whole buffers (prefixes of the current rows).
pub struct MapStep {
    inputs: Vec<(BufferId, usize)>,
    output: (BufferId, usize),
    kernel: ElementwiseKernel,
}

/// A one-input, one-output kernel over whole planes (average poolings).
pub struct UnaryStep {
    input: (BufferId, usize),
    output: (BufferId, usize),
    kernel: UnaryKernel,
}

/// The kernels of [`UnaryStep`].
pub enum UnaryKernel {
    /// Average pooling (padding counted).
    AvgPool(AvgPoolKernel),
    /// Its backward.
    AvgPoolBackward(AvgPoolBackwardKernel),
    /// Mean over H and W.
    GlobalAvgPool(GlobalAvgPoolKernel),
    /// Its backward.
    GlobalAvgPoolBackward(GlobalAvgPoolBackwardKernel),
}

/// Batch normalisation, training (batch statistics, running averages updated) or
/// evaluation (running statistics) by the executor's mode.
pub struct BatchNormStep {
    kernel: BatchNormKernel,
    /// x, y, gamma, beta, running_mean, running_var, saved_mean, saved_invstd.
    bufs: [BufferId; 8],
    scratch: Vec<f32>,
}

/// Batch-norm backward; gradients the plan does not want go to scratch.
pub struct BatchNormBackwardStep {
    kernel: BatchNormKernel,
    x: BufferId,
    dy: BufferId,
    gamma: BufferId,
    saved_mean: BufferId,
    saved_invstd: BufferId,
    dx: Option<BufferId>,
    dgamma: Option<BufferId>,
    dbeta: Option<BufferId>,
    /// The kernel's summation scratch, and sinks for unwanted outputs.
    scratch: Vec<f32>,
    sink_dx: Vec<f32>,
    sink_channel: [Vec<f32>; 2],
}

/// SGD on one param.
pub struct SgdStep {
    param: BufferId,
    grad: BufferId,
    velocity: Option<BufferId>,
    len: usize,
    /// Contiguous element ranges and their kernels (elements are independent).
    parts: Vec<(Range<usize>, SgdKernel)>,
}

/// Gradient clipping by the global norm: Σx² per gradient (f64), combined in order, then
/// a scale of every gradient when the norm exceeds the limit (the reference's rule).
pub struct ClipStep {
    grads: Vec<(BufferId, ElementwiseKernel, ElementwiseKernel)>,
    max_norm: f32,
}

/// Adam/AdamW on one param.
pub struct AdamStep {
    param: BufferId,
    grad: BufferId,
    m: BufferId,
    v: BufferId,
    kernel: AdamKernel,
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
        let relu_or_none = |a: &Option<Activation>| matches!(a, None | Some(Activation::Relu));
        Ok(match k {
            Kernel::Dense { x, w, b, y, act } if fusable(act) => {
                let (inputs, outputs) = (c.per_row(*x), c.per_row(*y));
                let spec = GemmSpec {
                    m: rows,
                    n: outputs,
                    k: inputs,
                    op: GemmOp::Nt,
                    bias: b.is_some(),
                    relu: *act == Some(Activation::Relu),
                    accumulate: false,
                };
                let post = match act.and_then(|a| output_act(a, rows * outputs)) {
                    Some((fwd, _)) => Some((
                        ElementwiseKernel::compile(c.jit, fwd)?,
                        vec![0.0; rows * outputs],
                    )),
                    None => None,
                };
                let gemm = SplitGemm::new(c.jit, c.gemms, spec, c.threads)?;
                Step::Dense(Box::new(DenseStep {
                    x: *x,
                    w: *w,
                    b: *b,
                    y: *y,
                    rows,
                    inputs,
                    outputs,
                    gemm,
                    post,
                }))
            }
            Kernel::DenseBackward {
                x,
                w,
                y,
                dy,
                act,
                dx,
                dw,
                db,
            } if fusable(act) => {
                let (inputs, outputs) = (c.per_row(*x), c.per_row(*y));
                let act_bwd = match act.and_then(|a| output_act(a, rows * outputs)) {
                    Some((_, bwd)) => Some((
                        ElementwiseKernel::compile(c.jit, bwd)?,
                        vec![0.0; rows * outputs],
                    )),
                    None => None,
                };
                let dx_gemm = match dx {
                    Some(_) => Some(SplitGemm::new(
                        c.jit,
                        c.gemms,
                        GemmSpec {
                            m: rows,
                            n: inputs,
                            k: outputs,
                            op: GemmOp::Nn,
                            bias: false,
                            relu: false,
                            accumulate: false,
                        },
                        c.threads,
                    )?),
                    None => None,
                };
                let dw_gemm = match dw {
                    Some(_) => Some(c.gemms.get(
                        c.jit,
                        GemmSpec {
                            m: outputs,
                            n: inputs,
                            k: rows,
                            op: GemmOp::Tn,
                            bias: false,
                            relu: false,
                            accumulate: false,
                        },
                    )?),
                    None => None,
                };
                let mask = match act {
                    Some(Activation::Relu) => Some(ReluMaskKernel::compile(
                        c.jit,
                        ReluMaskSpec {
                            len: rows * outputs,
                        },
                    )?),
                    _ => None,
                };
                let db_sum = ColumnSumKernel::compile(
                    c.jit,
                    ColumnSumSpec {
                        rows,
                        cols: outputs,
                        accumulate: false,
                    },
                )?;
                let dw_scratch = vec![0.0; dw_gemm.as_ref().map_or(0, Gemm::scratch_len)];
                Step::DenseBackward(Box::new(DenseBackwardStep {
                    x: *x,
                    w: *w,
                    y: *y,
                    dy: *dy,
                    dx: *dx,
                    dw: *dw,
                    db: *db,
                    rows,
                    inputs,
                    outputs,
                    mask,
                    act_bwd,
                    db_sum,
                    dx_gemm,
                    dw_gemm,
                    dw_scratch,
                }))
            }
            Kernel::Conv {
                x,
                w,
                b,
                y,
                window,
                act,
            } if relu_or_none(act) => {
                let Some(slot) = c.col_slot(*y) else {
                    return Ok(Step::Reference(k.clone()));
                };
                let geom = c.geom(*x, *w, *y, window);
                // Fewer output channels than a register tile is wide (8): `W·col` keeps
                // every lane busy and writes NCHW directly, then a channel bias pass;
                // otherwise `colᵀ·Wᵀ` packs only the small Wᵀ and fuses bias and ReLU.
                let direct = geom.out_channels < 8;
                let spec = if direct {
                    GemmSpec {
                        m: geom.out_channels,
                        n: geom.plane(),
                        k: geom.col_rows(),
                        op: GemmOp::Nn,
                        bias: false,
                        relu: false,
                        accumulate: false,
                    }
                } else {
                    GemmSpec {
                        m: geom.plane(),
                        n: geom.out_channels,
                        k: geom.col_rows(),
                        op: GemmOp::Tn,
                        bias: b.is_some(),
                        relu: act.is_some(),
                        accumulate: false,
                    }
                };
                let gemm = c.gemms.get(c.jit, spec)?;
                let bias_act = if direct && (b.is_some() || act.is_some()) {
                    Some(ChannelBiasActKernel::compile(
                        c.jit,
                        ChannelBiasActSpec {
                            samples: 1,
                            channels: geom.out_channels,
                            plane: geom.plane(),
                            relu: act.is_some(),
                        },
                    )?)
                } else {
                    None
                };
                let gemm_scratch = gemm.scratch_len();
                let threads = parts_for(c.threads, spec.flops() * rows as f64);
                let tasks = split(rows, threads).len();
                Step::Conv(Box::new(ConvStep {
                    x: *x,
                    w: *w,
                    b: *b,
                    y: *y,
                    geom,
                    rows,
                    slot,
                    gemm,
                    direct,
                    bias_act,
                    im2col: Im2colKernel::compile(c.jit, im2col_spec(&geom))?,
                    wt: vec![0.0; geom.out_channels * geom.col_rows()],
                    scratch: vec![(vec![0.0; gemm_scratch], vec![0.0; geom.out_len()]); tasks],
                    threads,
                }))
            }
            Kernel::ConvBackward {
                x,
                w,
                y,
                dy,
                act,
                window,
                dx,
                dw,
                db,
            } if relu_or_none(act) => {
                let Some(slot) = c.col_slot(*y) else {
                    return Ok(Step::Reference(k.clone()));
                };
                let geom = c.geom(*x, *w, *y, window);
                let (o, p, ckk) = (geom.out_channels, geom.plane(), geom.col_rows());
                let dcol_spec = GemmSpec {
                    m: ckk,
                    n: p,
                    k: o,
                    op: GemmOp::Tn,
                    bias: false,
                    relu: false,
                    accumulate: false,
                };
                let dw_spec = GemmSpec {
                    m: ckk,
                    n: o,
                    k: p,
                    op: GemmOp::Nt,
                    bias: false,
                    relu: false,
                    accumulate: false,
                };
                let dcol_gemm = c.gemms.get(c.jit, dcol_spec)?;
                let dw_first = c.gemms.get(c.jit, dw_spec)?;
                let dw_acc = c.gemms.get(
                    c.jit,
                    GemmSpec {
                        accumulate: true,
                        ..dw_spec
                    },
                )?;
                let threads = parts_for(c.threads, dcol_spec.flops() * rows as f64);
                let ol = geom.out_len();
                let mut tasks = Vec::new();
                for range in split(rows, threads) {
                    let mask = match act {
                        Some(_) => Some(ReluMaskKernel::compile(
                            c.jit,
                            ReluMaskSpec {
                                len: range.len() * ol,
                            },
                        )?),
                        None => None,
                    };
                    tasks.push(ConvBackwardTask {
                        range,
                        mask,
                        scratch: vec![0.0; dcol_gemm.scratch_len()],
                        dcol: vec![0.0; ckk * p],
                    });
                }
                let mut shards = Vec::new();
                for range in split(rows, SHARDS) {
                    let db_sum = ChannelSumKernel::compile(
                        c.jit,
                        ChannelSumSpec {
                            samples: range.len(),
                            channels: o,
                            height: geom.out_h,
                            width: geom.out_w,
                            accumulate: false,
                        },
                    )?;
                    shards.push(ConvShard {
                        range,
                        scratch: vec![0.0; dw_first.scratch_len()],
                        dwt: vec![0.0; o * ckk],
                        db: vec![0.0; o],
                        db_sum,
                    });
                }
                Step::ConvBackward(Box::new(ConvBackwardStep {
                    w: *w,
                    y: *y,
                    dy: *dy,
                    dx: *dx,
                    dw: *dw,
                    db: *db,
                    geom,
                    rows,
                    slot,
                    col2im: Col2imKernel::compile(c.jit, im2col_spec(&geom))?,
                    dcol_gemm,
                    dw_first,
                    dw_acc,
                    tasks,
                    shards,
                    dwt: vec![0.0; o * ckk],
                }))
            }
            Kernel::Update {
                param,
                grad,
                rule:
                    Update::Adam {
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                        decoupled,
                        m,
                        v,
                    },
            } => {
                let kernel = AdamKernel::compile(
                    c.jit,
                    AdamSpec {
                        len: c.len(*param),
                        beta1: *beta1,
                        beta2: *beta2,
                        eps: *eps,
                        weight_decay: *weight_decay,
                        decoupled: *decoupled,
                    },
                )?;
                Step::Adam(Box::new(AdamStep {
                    param: *param,
                    grad: *grad,
                    m: *m,
                    v: *v,
                    kernel,
                }))
            }
            Kernel::MaxPool {
                x,
                y,
                argmax,
                window,
            } => {
                let geom = c.pool_geom(*x, *y, window);
                let channels = c.plan.buffer(*x).shape.get(1).copied().unwrap_or(1);
                // Memory-bound: weigh each input element like ~10 flops of a product.
                let work = (rows * channels * geom.height * geom.width * MEMORY_WEIGHT) as f64;
                let mut parts = Vec::new();
                for r in split(rows, parts_for(c.threads, work)) {
                    let spec = pool_spec(&geom, r.len() * channels);
                    parts.push((r, MaxPoolKernel::compile(c.jit, spec)?));
                }
                Step::MaxPool(Box::new(MaxPoolStep {
                    x: *x,
                    y: *y,
                    argmax: *argmax,
                    geom,
                    channels,
                    rows,
                    parts,
                }))
            }
            Kernel::MaxPoolBackward { dy, argmax, dx } => {
                // The window is that of the forward kernel that wrote `argmax`.
                let Some(window) = c.plan.forward.iter().find_map(|f| match f {
                    Kernel::MaxPool {
                        argmax: a, window, ..
                    } if a == argmax => Some(*window),
                    _ => None,
                }) else {
                    return Ok(Step::Reference(k.clone()));
                };
                let geom = c.pool_geom(*dx, *dy, &window);
                let channels = c.plan.buffer(*dx).shape.get(1).copied().unwrap_or(1);
                let work = (rows * channels * geom.height * geom.width * MEMORY_WEIGHT) as f64;
                let mut parts = Vec::new();
                for r in split(rows, parts_for(c.threads, work)) {
                    let spec = pool_spec(&geom, r.len() * channels);
                    parts.push((r, MaxPoolBackwardKernel::compile(c.jit, spec)?));
                }
                Step::MaxPoolBackward(Box::new(MaxPoolBackwardStep {
                    dy: *dy,
                    argmax: *argmax,
                    dx: *dx,
                    geom,
                    channels,
                    rows,
                    parts,
                }))
            }
            Kernel::Update {
                param,
                grad,
                rule:
                    Update::Sgd {
                        momentum,
                        nesterov,
                        weight_decay,
                        velocity,
                    },
            } => {
                let spec = SgdSpec {
                    len: c.len(*param),
                    momentum: F32Bits::new(*momentum),
                    dampening: F32Bits::new(0.0),
                    nesterov: *nesterov,
                    weight_decay: F32Bits::new(*weight_decay),
                };
                if spec.has_velocity() != velocity.is_some() {
                    return Ok(Step::Reference(k.clone()));
                }
                Step::Sgd(Box::new(SgdStep {
                    param: *param,
                    grad: *grad,
                    velocity: *velocity,
                    len: spec.len,
                    parts: split(
                        spec.len,
                        parts_for(c.threads, (spec.len * MEMORY_WEIGHT) as f64),
                    )
                    .into_iter()
                    .map(|r| {
                        let k = SgdKernel::compile(
                            c.jit,
                            SgdSpec {
                                len: r.len(),
                                ..spec
                            },
                        )?;
                        Ok((r, k))
                    })
                    .collect::<Result<Vec<_>, JitError>>()?,
                }))
            }
            Kernel::SoftmaxCrossEntropy {
                logits,
                target,
                loss,
                dlogits,
                smoothing,
            } => {
                let classes = c.per_row(*logits);
                let kernel = CrossEntropyKernel::compile(
                    c.jit,
                    CrossEntropySpec {
                        rows,
                        classes,
                        batch: rows,
                        smoothing: F32Bits::new(*smoothing),
                    },
                )?;
                Step::Loss(Box::new(LossStep {
                    y: *logits,
                    target: *target,
                    loss: *loss,
                    dy: *dlogits,
                    len: rows * classes,
                    target_len: rows,
                    kind: LossKernel::CrossEntropy(kernel),
                    mean: LossMeanKernel::compile(
                        c.jit,
                        LossMeanSpec {
                            rows,
                            divisor: rows,
                        },
                    )?,
                    row_loss: vec![0.0; rows],
                }))
            }
            Kernel::Mse {
                y,
                target,
                loss,
                dy,
            }
            | Kernel::Mae {
                y,
                target,
                loss,
                dy,
            } => {
                let features = c.per_row(*y);
                let kind = if matches!(k, Kernel::Mse { .. }) {
                    RegressionLoss::Mse
                } else {
                    RegressionLoss::Mae
                };
                let kernel = RegressionLossKernel::compile(
                    c.jit,
                    RegressionLossSpec {
                        rows,
                        features,
                        batch: rows,
                        kind,
                    },
                )?;
                Step::Loss(Box::new(LossStep {
                    y: *y,
                    target: *target,
                    loss: *loss,
                    dy: *dy,
                    len: rows * features,
                    target_len: rows * features,
                    kind: LossKernel::Regression(kernel),
                    mean: LossMeanKernel::compile(
                        c.jit,
                        LossMeanSpec {
                            rows,
                            divisor: rows * features,
                        },
                    )?,
                    row_loss: vec![0.0; rows],
                }))
            }
            Kernel::Add { a, b, y } => {
                let len = rows * c.per_row(*y);
                c.map(
                    ElementwiseSpec::Add { len },
                    &[(*a, len), (*b, len)],
                    (*y, len),
                )?
            }
            Kernel::Accumulate { src, dst } => {
                let len = rows_len(c, *dst, rows);
                c.map(
                    ElementwiseSpec::Accumulate { len },
                    &[(*src, len)],
                    (*dst, len),
                )?
            }
            Kernel::DropoutBackward { dy, mask, dx } => {
                let len = rows * c.per_row(*dx);
                c.map(
                    ElementwiseSpec::Mul { len },
                    &[(*dy, len), (*mask, len)],
                    (*dx, len),
                )?
            }
            Kernel::Act { x, y, act } => {
                let len = rows * c.per_row(*y);
                let spec = match act {
                    Activation::Relu => ElementwiseSpec::Relu { len },
                    Activation::LeakyRelu(s) => ElementwiseSpec::LeakyRelu {
                        len,
                        slope: F32Bits::new(*s),
                    },
                    Activation::Sigmoid => ElementwiseSpec::Sigmoid { len },
                    Activation::Tanh => ElementwiseSpec::Tanh { len },
                    Activation::Gelu => ElementwiseSpec::Gelu { len },
                    Activation::Softmax => {
                        return Ok(Step::Reference(k.clone()));
                    }
                };
                c.map(spec, &[(*x, len)], (*y, len))?
            }
            Kernel::ActBackward { x, y, dy, dx, act } => {
                let len = rows * c.per_row(*dx);
                let (spec, first) = match act {
                    Activation::Relu => (ElementwiseSpec::ReluBackward { len }, *y),
                    Activation::LeakyRelu(s) => (
                        ElementwiseSpec::LeakyReluBackward {
                            len,
                            slope: F32Bits::new(*s),
                        },
                        *x,
                    ),
                    Activation::Sigmoid => (ElementwiseSpec::SigmoidBackward { len }, *y),
                    Activation::Tanh => (ElementwiseSpec::TanhBackward { len }, *y),
                    Activation::Gelu => (ElementwiseSpec::GeluBackward { len }, *x),
                    Activation::Softmax => {
                        return Ok(Step::Reference(k.clone()));
                    }
                };
                c.map(spec, &[(first, len), (*dy, len)], (*dx, len))?
            }
            Kernel::ClipNorm { grads, max_norm } => {
                let mut list = Vec::new();
                for g in grads {
                    let len = c.len(*g);
                    list.push((
                        *g,
                        ElementwiseKernel::compile(c.jit, ElementwiseSpec::SumSquares { len })?,
                        ElementwiseKernel::compile(c.jit, ElementwiseSpec::Scale { len })?,
                    ));
                }
                Step::Clip(Box::new(ClipStep {
                    grads: list,
                    max_norm: *max_norm,
                }))
            }
            Kernel::AvgPool { x, y, window } => {
                let g = c.pool_geom(*x, *y, window);
                let planes = rows * c.plan.buffer(*x).shape.get(1).copied().unwrap_or(1);
                let kernel =
                    UnaryKernel::AvgPool(AvgPoolKernel::compile(c.jit, pool_spec(&g, planes))?);
                c.unary(
                    kernel,
                    (*x, rows_len(c, *x, rows)),
                    (*y, rows_len(c, *y, rows)),
                )
            }
            Kernel::AvgPoolBackward { dy, dx, window } => {
                let g = c.pool_geom(*dx, *dy, window);
                let planes = rows * c.plan.buffer(*dx).shape.get(1).copied().unwrap_or(1);
                let kernel = UnaryKernel::AvgPoolBackward(AvgPoolBackwardKernel::compile(
                    c.jit,
                    pool_spec(&g, planes),
                )?);
                c.unary(
                    kernel,
                    (*dy, rows_len(c, *dy, rows)),
                    (*dx, rows_len(c, *dx, rows)),
                )
            }
            Kernel::GlobalAvgPool { x, y } | Kernel::GlobalAvgPoolBackward { dy: y, dx: x } => {
                let xs = &c.plan.buffer(*x).shape;
                let spec = GlobalPoolSpec {
                    planes: rows * xs.get(1).copied().unwrap_or(1),
                    height: xs.get(2).copied().unwrap_or(1),
                    width: xs.get(3).copied().unwrap_or(1),
                };
                let (xl, yl) = (rows_len(c, *x, rows), rows_len(c, *y, rows));
                if matches!(k, Kernel::GlobalAvgPool { .. }) {
                    let kernel =
                        UnaryKernel::GlobalAvgPool(GlobalAvgPoolKernel::compile(c.jit, spec)?);
                    c.unary(kernel, (*x, xl), (*y, yl))
                } else {
                    let kernel = UnaryKernel::GlobalAvgPoolBackward(
                        GlobalAvgPoolBackwardKernel::compile(c.jit, spec)?,
                    );
                    c.unary(kernel, (*y, yl), (*x, xl))
                }
            }
            Kernel::BatchNorm {
                x,
                y,
                gamma,
                beta,
                running_mean,
                running_var,
                saved_mean,
                saved_invstd,
                momentum,
                eps,
            } => {
                let spec = c.batchnorm_spec(*x, rows, *eps, *momentum);
                // One value per channel has no batch variance: the reference rejects it
                // with its own error, so leave that case to it.
                if spec.count() < 2 {
                    return Ok(Step::Reference(k.clone()));
                }
                Step::BatchNorm(Box::new(BatchNormStep {
                    kernel: BatchNormKernel::compile(c.jit, spec)?,
                    bufs: [
                        *x,
                        *y,
                        *gamma,
                        *beta,
                        *running_mean,
                        *running_var,
                        *saved_mean,
                        *saved_invstd,
                    ],
                    scratch: vec![0.0; spec.scratch_len()],
                }))
            }
            Kernel::BatchNormBackward {
                x,
                dy,
                gamma,
                saved_mean,
                saved_invstd,
                dx,
                dgamma,
                dbeta,
            } => {
                let eps_momentum = c.plan.forward.iter().find_map(|f| match f {
                    Kernel::BatchNorm {
                        x: fx,
                        eps,
                        momentum,
                        ..
                    } if fx == x => Some((*eps, *momentum)),
                    _ => None,
                });
                let Some((eps, momentum)) = eps_momentum else {
                    return Ok(Step::Reference(k.clone()));
                };
                let spec = c.batchnorm_spec(*x, rows, eps, momentum);
                if spec.count() < 2 {
                    return Ok(Step::Reference(k.clone()));
                }
                Step::BatchNormBackward(Box::new(BatchNormBackwardStep {
                    kernel: BatchNormKernel::compile(c.jit, spec)?,
                    x: *x,
                    dy: *dy,
                    gamma: *gamma,
                    saved_mean: *saved_mean,
                    saved_invstd: *saved_invstd,
                    dx: *dx,
                    dgamma: *dgamma,
                    dbeta: *dbeta,
                    scratch: vec![0.0; spec.scratch_len()],
                    sink_dx: if dx.is_some() {
                        Vec::new()
                    } else {
                        vec![0.0; spec.x_len()]
                    },
                    sink_channel: [vec![0.0; spec.channels], vec![0.0; spec.channels]],
                }))
            }
            Kernel::Copy { src, dst } => Step::Copy {
                src: (*src, rows_len(c, *src, rows)),
                dst: *dst,
            },
            other => Step::Reference(other.clone()),
        })
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
            Step::Copy { src, dst } => {
                let mut v = borrow(ctx.store, ctx.plan, &uses(&[*src]), &uses(&[(*dst, src.1)]))?;
                v.writes[0].copy_from_slice(v.reads[0]);
                Ok(())
            }
            Step::MaxPool(s) => s.run(ctx),
            Step::MaxPoolBackward(s) => s.run(ctx),
            Step::Reference(_) => Ok(()),
        }
    }
}

fn uses(list: &[(BufferId, usize)]) -> Vec<Use> {
    list.iter().map(|&(id, len)| Use { id, len }).collect()
}

impl DenseStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let mut reads = vec![
            (self.x, self.rows * self.inputs),
            (self.w, self.inputs * self.outputs),
        ];
        if let Some(b) = self.b {
            reads.push((b, self.outputs));
        }
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&reads),
            &uses(&[(self.y, self.rows * self.outputs)]),
        )?;
        let y = v.writes.remove(0);
        let bias = v.reads.get(2).copied();
        match &mut self.post {
            Some((act, pre)) => {
                self.gemm.run(ctx.pool, v.reads[0], v.reads[1], bias, pre)?;
                act.run(&[pre], y)?;
            }
            None => self.gemm.run(ctx.pool, v.reads[0], v.reads[1], bias, y)?,
        }
        Ok(())
    }
}

impl DenseBackwardStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let (r, i, o) = (self.rows, self.inputs, self.outputs);
        let reads = [(self.x, r * i), (self.w, o * i), (self.y, r * o)];
        let mut writes = vec![(self.dy, r * o)];
        for (b, len) in [(self.dx, r * i), (self.dw, o * i), (self.db, o)] {
            if let Some(b) = b {
                writes.push((b, len));
            }
        }
        let v = borrow(ctx.store, ctx.plan, &uses(&reads), &uses(&writes))?;
        let (x, w, y) = (v.reads[0], v.reads[1], v.reads[2]);
        let mut outs = v.writes.into_iter();
        let dy = outs.next().ok_or(ExecError::Internal("dense dy"))?;
        if let Some(mask) = &self.mask {
            mask.run(y, dy)?;
        }
        let g: &[f32] = match &mut self.act_bwd {
            Some((k, g)) => {
                k.run(&[y, dy], g)?;
                g
            }
            None => dy,
        };
        let dx = self.dx.and_then(|_| outs.next());
        let dw = self.dw.and_then(|_| outs.next());
        let db = self.db.and_then(|_| outs.next());
        if let (Some(dw), Some(gemm)) = (dw, self.dw_gemm.as_ref()) {
            gemm.run(g, x, None, dw, &mut self.dw_scratch)?;
        }
        if let Some(db) = db {
            self.db_sum.run(g, db)?;
        }
        if let (Some(dx), Some(gemm)) = (dx, self.dx_gemm.as_mut()) {
            gemm.run(ctx.pool, g, w, None, dx)?;
        }
        Ok(())
    }
}

impl ConvStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let g = self.geom;
        let (r, o) = (self.rows, g.out_channels);
        let mut reads = vec![(self.x, r * g.in_len()), (self.w, o * g.col_rows())];
        if let Some(b) = self.b {
            reads.push((b, o));
        }
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&reads),
            &uses(&[(self.y, r * g.out_len())]),
        )?;
        let y = v.writes.remove(0);
        let (x, w, bias) = (v.reads[0], v.reads[1], v.reads.get(2).copied());
        let col = ctx
            .cols
            .get_mut(self.slot)
            .ok_or(ExecError::Internal("missing column slot"))?;
        let ranges = split(r, self.threads);
        let ys = chunks_mut(y, &ranges, g.out_len());
        let cs = chunks_mut(&mut col[..], &ranges, g.col_len());
        let tasks: Vec<_> = ranges
            .iter()
            .zip(ys)
            .zip(cs)
            .zip(self.scratch.iter_mut())
            .map(|(((range, y), c), s)| (range.clone(), y, c, s))
            .collect();
        if !self.direct {
            glue::transpose(w, o, g.col_rows(), &mut self.wt);
        }
        let (gemm, wt, im2col) = (&self.gemm, &self.wt[..], &self.im2col);
        let (direct, bias_act) = (self.direct, self.bias_act.as_ref());
        let zero = vec![0.0f32; o];
        run_tasks(ctx.pool, tasks, |(range, y, col, (scratch, yt))| {
            for (j, n) in range.enumerate() {
                let xn = &x[n * g.in_len()..(n + 1) * g.in_len()];
                let cn = &mut col[j * g.col_len()..(j + 1) * g.col_len()];
                im2col.run(xn, cn)?;
                let yn = &mut y[j * g.out_len()..(j + 1) * g.out_len()];
                if direct {
                    gemm.run(w, cn, None, yn, scratch)?;
                    if let Some(k) = bias_act {
                        k.run(bias.unwrap_or(&zero), yn)?;
                    }
                } else {
                    gemm.run(cn, wt, bias, yt, scratch)?;
                    glue::transpose(yt, g.plane(), o, yn);
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

impl ConvBackwardStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let geo = self.geom;
        let (r, o, ckk) = (self.rows, geo.out_channels, geo.col_rows());
        let ol = geo.out_len();
        let reads = [(self.w, o * ckk), (self.y, r * ol)];
        let mut writes = vec![(self.dy, r * ol)];
        for (b, len) in [
            (self.dx, r * geo.in_len()),
            (self.dw, o * ckk),
            (self.db, o),
        ] {
            if let Some(b) = b {
                writes.push((b, len));
            }
        }
        let v = borrow(ctx.store, ctx.plan, &uses(&reads), &uses(&writes))?;
        let (w, y) = (v.reads[0], v.reads[1]);
        let mut outs = v.writes.into_iter();
        let g = outs.next().ok_or(ExecError::Internal("conv dy"))?;
        let dx = self.dx.and_then(|_| outs.next());
        let dw = self.dw.and_then(|_| outs.next());
        let db = self.db.and_then(|_| outs.next());
        let col = ctx
            .cols
            .get(self.slot)
            .ok_or(ExecError::Internal("missing column slot"))?;
        // Phase 1, row-parallel: g = act'(y)·dy in place, dx[n] = col2im(Wᵀ·g[n]).
        let ranges: Vec<Range<usize>> = self.tasks.iter().map(|t| t.range.clone()).collect();
        let gs = chunks_mut(&mut *g, &ranges, ol);
        let mut dxs: Vec<Option<&mut [f32]>> = match dx {
            Some(dx) => chunks_mut(dx, &ranges, geo.in_len())
                .into_iter()
                .map(Some)
                .collect(),
            None => ranges.iter().map(|_| None).collect(),
        };
        let work: Vec<_> = self
            .tasks
            .iter_mut()
            .zip(gs)
            .zip(dxs.iter_mut().map(Option::take))
            .map(|((t, g), dx)| (t, g, dx))
            .collect();
        let (dcol_gemm, col2im) = (&self.dcol_gemm, &self.col2im);
        run_tasks(ctx.pool, work, |(task, g, dx)| {
            if let Some(mask) = &task.mask {
                mask.run(&y[task.range.start * ol..task.range.end * ol], g)?;
            }
            if let Some(dx) = dx {
                for j in 0..task.range.len() {
                    dcol_gemm.run(
                        w,
                        &g[j * ol..(j + 1) * ol],
                        None,
                        &mut task.dcol,
                        &mut task.scratch,
                    )?;
                    col2im.run(
                        &task.dcol,
                        &mut dx[j * geo.in_len()..(j + 1) * geo.in_len()],
                    )?;
                }
            }
            Ok(())
        })?;
        if dw.is_none() && db.is_none() {
            return Ok(());
        }
        // Phase 2, fixed shards: partial dWᵀ/db per shard, summed in shard order.
        let g: &[f32] = g;
        let (first, acc) = (&self.dw_first, &self.dw_acc);
        let (want_dw, want_db) = (dw.is_some(), db.is_some());
        let cl = geo.col_len();
        let shards: Vec<_> = self.shards.iter_mut().collect();
        run_tasks(ctx.pool, shards, |sh| {
            if want_dw {
                for (j, n) in sh.range.clone().enumerate() {
                    let kern = if j == 0 { first } else { acc };
                    let gn = &g[n * ol..(n + 1) * ol];
                    kern.run(
                        &col[n * cl..(n + 1) * cl],
                        gn,
                        None,
                        &mut sh.dwt,
                        &mut sh.scratch,
                    )?;
                }
            }
            if want_db {
                sh.db_sum
                    .run(&g[sh.range.start * ol..sh.range.end * ol], &mut sh.db)?;
            }
            Ok(())
        })?;
        if let Some(dw) = dw {
            // The shards hold dWᵀ `[C·k·k, O]`.
            sum_partials(&mut self.dwt, self.shards.iter().map(|s| &s.dwt[..]));
            glue::transpose(&self.dwt, ckk, o, dw);
        }
        if let Some(db) = db {
            sum_partials(db, self.shards.iter().map(|s| &s.db[..]));
        }
        Ok(())
    }
}

/// `out = p0 + p1 + …` elementwise, in order.
fn sum_partials<'a>(out: &mut [f32], mut parts: impl Iterator<Item = &'a [f32]>) {
    match parts.next() {
        Some(p) => out.copy_from_slice(p),
        None => out.fill(0.0),
    }
    for p in parts {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

impl AdamStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let n = self.kernel.spec().len;
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[(self.grad, n)]),
            &uses(&[(self.param, n), (self.m, n), (self.v, n)]),
        )?;
        let mut it = v.writes.drain(..);
        let (Some(p), Some(m), Some(vv)) = (it.next(), it.next(), it.next()) else {
            return Err(ExecError::Internal("adam buffers"));
        };
        self.kernel.run(p, v.reads[0], m, vv, ctx.lr, ctx.step)?;
        Ok(())
    }
}

impl MaxPoolStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let g = self.geom;
        let (r, c) = (self.rows, self.channels);
        let (inp, outp) = (c * g.height * g.width, c * g.out_h * g.out_w);
        let v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[(self.x, r * inp)]),
            &uses(&[(self.y, r * outp), (self.argmax, r * outp)]),
        )?;
        let x = v.reads[0];
        let mut w = v.writes.into_iter();
        let (Some(y), Some(am)) = (w.next(), w.next()) else {
            return Err(ExecError::Internal("maxpool buffers"));
        };
        let ranges: Vec<Range<usize>> = self.parts.iter().map(|p| p.0.clone()).collect();
        let tasks: Vec<_> = self
            .parts
            .iter()
            .zip(chunks_mut(y, &ranges, outp))
            .zip(chunks_mut(am, &ranges, outp))
            .collect();
        run_tasks(ctx.pool, tasks, |(((range, kernel), y), am)| {
            kernel.run(&x[range.start * inp..range.end * inp], y, am)
        })?;
        Ok(())
    }
}

impl MaxPoolBackwardStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let g = self.geom;
        let (r, c) = (self.rows, self.channels);
        let (inp, outp) = (c * g.height * g.width, c * g.out_h * g.out_w);
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[(self.dy, r * outp), (self.argmax, r * outp)]),
            &uses(&[(self.dx, r * inp)]),
        )?;
        let (dy, am) = (v.reads[0], v.reads[1]);
        let dx = v.writes.remove(0);
        let ranges: Vec<Range<usize>> = self.parts.iter().map(|p| p.0.clone()).collect();
        let tasks: Vec<_> = self
            .parts
            .iter()
            .zip(chunks_mut(dx, &ranges, inp))
            .collect();
        run_tasks(ctx.pool, tasks, |((range, kernel), dx)| {
            let o = range.start * outp..range.end * outp;
            kernel.run(&dy[o.clone()], &am[o], dx)
        })?;
        Ok(())
    }
}

/// The generated im2col/col2im geometry of one sample of a convolution.
fn im2col_spec(g: &ConvGeom) -> Im2colSpec {
    Im2colSpec {
        channels: g.channels,
        height: g.height,
        width: g.width,
        kernel: g.kernel,
        stride: g.stride,
        pad: g.pad,
        dilation: g.dilation,
        samples: 1,
    }
}

/// The generated pooling geometry over `planes` planes.
fn pool_spec(g: &glue::PoolGeom, planes: usize) -> PoolSpec {
    PoolSpec {
        planes,
        height: g.height,
        width: g.width,
        kernel: g.kernel,
        stride: g.stride,
        pad: g.pad,
    }
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

impl LossStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[(self.y, self.len), (self.target, self.target_len)]),
            &uses(&[(self.dy, self.len), (self.loss, 1)]),
        )?;
        let (y, t) = (v.reads[0], v.reads[1]);
        let mut w = v.writes.into_iter();
        let (Some(dy), Some(loss)) = (w.next(), w.next()) else {
            return Err(ExecError::Internal("loss buffers"));
        };
        match &self.kind {
            LossKernel::CrossEntropy(k) => k.run(y, t, &mut self.row_loss, dy)?,
            LossKernel::Regression(k) => k.run(y, t, &mut self.row_loss, dy)?,
        }
        self.mean.run(&self.row_loss, loss)?;
        Ok(())
    }
}

impl MapStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&self.inputs),
            &uses(&[self.output]),
        )?;
        let out = v.writes.remove(0);
        self.kernel.run(&v.reads, out)?;
        Ok(())
    }
}

impl SgdStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let n = self.len;
        let mut writes = vec![(self.param, n)];
        if let Some(vel) = self.velocity {
            writes.push((vel, n));
        }
        let v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[(self.grad, n)]),
            &uses(&writes),
        )?;
        let grad = v.reads[0];
        let mut w = v.writes.into_iter();
        let p = w.next().ok_or(ExecError::Internal("sgd param"))?;
        let ranges: Vec<Range<usize>> = self.parts.iter().map(|p| p.0.clone()).collect();
        let ps = chunks_mut(p, &ranges, 1);
        let mut vs: Vec<Option<&mut [f32]>> = match w.next() {
            Some(vel) => chunks_mut(vel, &ranges, 1).into_iter().map(Some).collect(),
            None => ranges.iter().map(|_| None).collect(),
        };
        let tasks: Vec<_> = self
            .parts
            .iter()
            .zip(ps)
            .zip(vs.iter_mut().map(Option::take))
            .collect();
        let (lr, first) = (ctx.lr, ctx.step <= 1);
        run_tasks(ctx.pool, tasks, |(((range, kernel), p), vel)| {
            // The momentum buffer starts as the first step's gradient (PyTorch, reference).
            kernel.run(p, &grad[range.clone()], vel, lr, first)
        })?;
        Ok(())
    }
}

impl ClipStep {
    /// Returns the global norm before clipping.
    pub fn run_norm(&mut self, ctx: &mut Ctx<'_>) -> Result<f32, ExecError> {
        let lens: Vec<(BufferId, usize)> = self
            .grads
            .iter()
            .map(|(g, _, _)| (*g, ctx.plan.buffer(*g).len()))
            .collect();
        let mut v = borrow(ctx.store, ctx.plan, &[], &uses(&lens))?;
        let mut sum = 0f64;
        for ((_, sq, _), g) in self.grads.iter().zip(&v.writes) {
            sum += sq.sum_squares(g)?;
        }
        let norm = sum.sqrt();
        if !norm.is_finite() {
            return Err(ExecError::Op(
                crate::runtime::reference::OpError::NonFinite {
                    op: "clip_grad_norm",
                    what: "global gradient norm",
                    value: norm,
                },
            ));
        }
        let coef = f64::from(self.max_norm) / (norm + 1e-6);
        if coef < 1.0 {
            let c = [coef as f32];
            for ((_, _, scale), g) in self.grads.iter().zip(v.writes.iter_mut()) {
                scale.run(&[&c], g)?;
            }
        }
        Ok(norm as f32)
    }

    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        self.run_norm(ctx).map(|_| ())
    }
}

impl UnaryStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let mut v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[self.input]),
            &uses(&[self.output]),
        )?;
        let (x, y) = (v.reads[0], v.writes.remove(0));
        match &self.kernel {
            UnaryKernel::AvgPool(k) => k.run(x, y)?,
            UnaryKernel::AvgPoolBackward(k) => k.run(x, y)?,
            UnaryKernel::GlobalAvgPool(k) => k.run(x, y)?,
            UnaryKernel::GlobalAvgPoolBackward(k) => k.run(x, y)?,
        }
        Ok(())
    }
}

impl BatchNormStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let spec = *self.kernel.spec();
        let (n, c) = (spec.x_len(), spec.channels);
        let [x, y, gamma, beta, rm, rv, sm, si] = self.bufs;
        if ctx.training {
            let v = borrow(
                ctx.store,
                ctx.plan,
                &uses(&[(x, n), (gamma, c), (beta, c)]),
                &uses(&[(y, n), (sm, c), (si, c), (rm, c), (rv, c)]),
            )?;
            let mut w = v.writes.into_iter();
            let mut next = || w.next().ok_or(ExecError::Internal("batchnorm buffers"));
            let (y, sm, si, rm, rv) = (next()?, next()?, next()?, next()?, next()?);
            self.kernel.run_train(BatchNormTrainArgs {
                x: v.reads[0],
                gamma: v.reads[1],
                beta: v.reads[2],
                y,
                saved_mean: sm,
                saved_invstd: si,
                running_mean: rm,
                running_var: rv,
                scratch: &mut self.scratch,
            })?;
        } else {
            let mut v = borrow(
                ctx.store,
                ctx.plan,
                &uses(&[(x, n), (gamma, c), (beta, c), (rm, c), (rv, c)]),
                &uses(&[(y, n)]),
            )?;
            let r = &v.reads;
            let out = v.writes.remove(0);
            self.kernel.run_eval(r[0], r[1], r[2], r[3], r[4], out)?;
        }
        Ok(())
    }
}

impl BatchNormBackwardStep {
    fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let spec = *self.kernel.spec();
        let (n, c) = (spec.x_len(), spec.channels);
        let mut writes = Vec::new();
        for (b, len) in [(self.dx, n), (self.dgamma, c), (self.dbeta, c)] {
            if let Some(b) = b {
                writes.push((b, len));
            }
        }
        let v = borrow(
            ctx.store,
            ctx.plan,
            &uses(&[
                (self.x, n),
                (self.dy, n),
                (self.gamma, c),
                (self.saved_mean, c),
                (self.saved_invstd, c),
            ]),
            &uses(&writes),
        )?;
        let mut w = v.writes.into_iter();
        let [sink_g, sink_b] = &mut self.sink_channel;
        let dx = match self.dx {
            Some(_) => w.next().ok_or(ExecError::Internal("batchnorm dx"))?,
            None => &mut self.sink_dx[..],
        };
        let dgamma = match self.dgamma {
            Some(_) => w.next().ok_or(ExecError::Internal("batchnorm dgamma"))?,
            None => &mut sink_g[..],
        };
        let dbeta = match self.dbeta {
            Some(_) => w.next().ok_or(ExecError::Internal("batchnorm dbeta"))?,
            None => &mut sink_b[..],
        };
        let r = &v.reads;
        self.kernel.run_backward(BatchNormBackwardArgs {
            x: r[0],
            dy: r[1],
            gamma: r[2],
            saved_mean: r[3],
            saved_invstd: r[4],
            dx,
            dgamma,
            dbeta,
            scratch: &mut self.scratch,
        })?;
        Ok(())
    }
}
