//! Dense (fully connected) layer steps, forward and backward: the GEMMs with bias and ReLU
//! fused in their epilogue, and the other activations a dense step fuses itself.

use crate::check::Activation;
use crate::jit::conv::{ColumnSumKernel, ColumnSumSpec, ReluMaskKernel, ReluMaskSpec};
use crate::jit::dense::{DenseGemms, DenseShape};
use crate::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use crate::jit::{F32Bits, JitError};
use crate::lower::{BufferId, Kernel};

use super::super::ExecError;
use super::super::parallel::SplitGemm;
use super::super::store::borrow;
use super::{Compiler, Ctx, Step, uses};

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

/// A dense layer's forward product, bias and ReLU fused in the GEMM epilogue.
pub(crate) struct DenseStep {
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
pub(crate) struct DenseBackwardStep {
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
    /// `dW = gᵀ·x`, split over threads when it goes to sgemm.
    dw_gemm: Option<SplitGemm>,
}

/// Compiles a dense forward or backward kernel for `rows` rows; any other kernel, or an
/// activation the step does not fuse, runs the reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    Ok(match k {
        Kernel::Dense { x, w, b, y, act } if fusable(act) => {
            let (inputs, outputs) = (c.per_row(*x), c.per_row(*y));
            let spec = DenseShape {
                batch: rows,
                inputs,
                outputs,
            }
            .gemms(b.is_some(), *act == Some(Activation::Relu))
            .forward;
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
                    dense_gemms(rows, inputs, outputs).input_grad,
                    c.threads,
                )?),
                None => None,
            };
            let dw_gemm = match dw {
                Some(_) => Some(SplitGemm::new(
                    c.jit,
                    c.gemms,
                    dense_gemms(rows, inputs, outputs).weight_grad,
                    c.threads,
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
            }))
        }
        other => Step::Reference(other.clone()),
    })
}

impl DenseStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
        if let (Some(dw), Some(gemm)) = (dw, self.dw_gemm.as_mut()) {
            gemm.run(ctx.pool, g, x, None, dw)?;
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

/// The three products of a dense layer at `rows` rows (`jit::dense` owns their layouts).
fn dense_gemms(rows: usize, inputs: usize, outputs: usize) -> DenseGemms {
    DenseShape {
        batch: rows,
        inputs,
        outputs,
    }
    .gemms(false, false)
}
