//! Batch-normalisation steps: training or evaluation forward by the executor's mode, and
//! the backward.

use crate::jit::batchnorm::{
    BatchNormBackwardArgs, BatchNormKernel, BatchNormSpec, BatchNormTrainArgs,
};
use crate::jit::{F32Bits, JitError};
use crate::lower::{BufferId, Kernel};

use super::super::ExecError;
use super::super::store::borrow;
use super::{Compiler, Ctx, Step, uses};

/// Batch normalisation, training (batch statistics, running averages updated) or
/// evaluation (running statistics) by the executor's mode.
pub(crate) struct BatchNormStep {
    kernel: BatchNormKernel,
    /// x, y, gamma, beta, running_mean, running_var, saved_mean, saved_invstd.
    bufs: [BufferId; 8],
    scratch: Vec<f32>,
}

/// Batch-norm backward; gradients the plan does not want go to scratch.
pub(crate) struct BatchNormBackwardStep {
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

impl Compiler<'_> {
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
}

/// Compiles a batch-norm forward or backward kernel for `rows` rows; any other kernel, one
/// value per channel, or a backward without its forward runs the reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    Ok(match k {
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
        other => Step::Reference(other.clone()),
    })
}

impl BatchNormStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
