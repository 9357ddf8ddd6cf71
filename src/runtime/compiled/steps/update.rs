//! Optimizer steps: Adam/AdamW and SGD on one param, and gradient clipping by the global
//! norm.

use std::ops::Range;

use crate::jit::adam::{AdamKernel, AdamSpec};
use crate::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use crate::jit::sgd::{SgdKernel, SgdSpec};
use crate::jit::{F32Bits, JitError};
use crate::lower::{BufferId, Kernel, Update};

use super::super::ExecError;
use super::super::parallel::{chunks_mut, parts_for, run_tasks, split};
use super::super::store::borrow;
use super::{Compiler, Ctx, MEMORY_WEIGHT, Step, uses};

/// SGD on one param.
pub(crate) struct SgdStep {
    param: BufferId,
    grad: BufferId,
    velocity: Option<BufferId>,
    len: usize,
    /// Contiguous element ranges and their kernels (elements are independent).
    parts: Vec<(Range<usize>, SgdKernel)>,
}

/// Gradient clipping by the global norm: Σx² per gradient (f64), combined in order, then
/// a scale of every gradient when the norm exceeds the limit (the reference's rule).
pub(crate) struct ClipStep {
    grads: Vec<(BufferId, ElementwiseKernel, ElementwiseKernel)>,
    max_norm: f32,
}

/// Adam/AdamW on one param.
pub(crate) struct AdamStep {
    param: BufferId,
    grad: BufferId,
    m: BufferId,
    v: BufferId,
    kernel: AdamKernel,
}

/// Compiles an Adam or SGD update, or a gradient clipping, for the plan; any other kernel
/// (or an SGD whose velocity buffer disagrees with its momentum) runs the reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, _rows: usize) -> Result<Step, JitError> {
    Ok(match k {
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
        other => Step::Reference(other.clone()),
    })
}

impl AdamStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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

impl SgdStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
    pub(crate) fn run_norm(&mut self, ctx: &mut Ctx<'_>) -> Result<f32, ExecError> {
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

    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        self.run_norm(ctx).map(|_| ())
    }
}
