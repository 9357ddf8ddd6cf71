//! The fused loss step: per-row losses and the output gradient in one kernel, then their
//! mean.

use crate::jit::loss::{
    CrossEntropyKernel, CrossEntropySpec, LossMeanKernel, LossMeanSpec, RegressionLoss,
    RegressionLossKernel, RegressionLossSpec,
};
use crate::jit::{F32Bits, JitError};
use crate::lower::{BufferId, Kernel};

use super::super::ExecError;
use super::super::store::borrow;
use super::{Compiler, Ctx, Step, uses};

/// A fused loss: per-row losses and the output gradient, then their mean.
pub(crate) struct LossStep {
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
enum LossKernel {
    /// Softmax cross-entropy.
    CrossEntropy(CrossEntropyKernel),
    /// MSE or MAE.
    Regression(RegressionLossKernel),
}

/// Compiles a softmax cross-entropy, MSE or MAE kernel for `rows` rows; any other kernel
/// runs the reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    Ok(match k {
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
        other => Step::Reference(other.clone()),
    })
}

impl LossStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
