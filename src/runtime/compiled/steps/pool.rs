//! Pooling steps: max pooling forward and backward split by rows, and the average and
//! global average poolings (one kernel over whole planes).

use std::ops::Range;

use crate::jit::JitError;
use crate::jit::pool::{
    AvgPoolBackwardKernel, AvgPoolKernel, GlobalAvgPoolBackwardKernel, GlobalAvgPoolKernel,
    GlobalPoolSpec, MaxPoolBackwardKernel, MaxPoolKernel, PoolSpec,
};
use crate::lower::{BufferId, Kernel, Window};

use super::super::ExecError;
use super::super::parallel::{chunks_mut, parts_for, run_tasks, split};
use super::super::store::borrow;
use super::{Compiler, Ctx, MEMORY_WEIGHT, Step, rows_len, uses};

/// Max pooling over every plane of the batch (row-parallel).
pub(crate) struct MaxPoolStep {
    x: BufferId,
    y: BufferId,
    argmax: BufferId,
    /// The pooling of one sample (`planes` = its channels).
    sample: PoolSpec,
    rows: usize,
    /// Per task: its samples and the kernel for that many planes.
    parts: Vec<(Range<usize>, MaxPoolKernel)>,
}

/// Max pooling backward (row-parallel).
pub(crate) struct MaxPoolBackwardStep {
    dy: BufferId,
    argmax: BufferId,
    dx: BufferId,
    /// The pooling of one sample (`planes` = its channels).
    sample: PoolSpec,
    rows: usize,
    /// Per task: its samples and the kernel for that many planes.
    parts: Vec<(Range<usize>, MaxPoolBackwardKernel)>,
}

/// A one-input, one-output kernel over whole planes (average poolings).
pub(crate) struct UnaryStep {
    input: (BufferId, usize),
    output: (BufferId, usize),
    kernel: UnaryKernel,
}

/// The kernels of [`UnaryStep`].
enum UnaryKernel {
    /// Average pooling (padding counted).
    AvgPool(AvgPoolKernel),
    /// Its backward.
    AvgPoolBackward(AvgPoolBackwardKernel),
    /// Mean over H and W.
    GlobalAvgPool(GlobalAvgPoolKernel),
    /// Its backward.
    GlobalAvgPoolBackward(GlobalAvgPoolBackwardKernel),
}

impl Compiler<'_> {
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
    /// The pooling of one sample of `x` (its channels as planes) with `window`.
    fn sample_pool(&self, x: BufferId, window: &Window) -> PoolSpec {
        let xs = &self.plan.buffer(x).shape;
        let dim = |i: usize| xs.get(i).copied().unwrap_or(1);
        PoolSpec {
            planes: dim(1),
            height: dim(2),
            width: dim(3),
            kernel: window.kernel,
            stride: window.stride,
            pad: window.pad,
        }
    }
}

/// Compiles a max, average or global average pooling kernel (forward or backward) for
/// `rows` rows; any other kernel, or a max-pool backward without its forward, runs the
/// reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    Ok(match k {
        Kernel::MaxPool {
            x,
            y,
            argmax,
            window,
        } => {
            let sample = c.sample_pool(*x, window);
            // Memory-bound: weigh each input element like ~10 flops of a product.
            let work = (rows * sample.x_len() * MEMORY_WEIGHT) as f64;
            let mut parts = Vec::new();
            for r in split(rows, parts_for(c.threads, work)) {
                let spec = samples_of(&sample, r.len());
                parts.push((r, MaxPoolKernel::compile(c.jit, spec)?));
            }
            Step::MaxPool(Box::new(MaxPoolStep {
                x: *x,
                y: *y,
                argmax: *argmax,
                sample,
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
            let sample = c.sample_pool(*dx, &window);
            let work = (rows * sample.x_len() * MEMORY_WEIGHT) as f64;
            let mut parts = Vec::new();
            for r in split(rows, parts_for(c.threads, work)) {
                let spec = samples_of(&sample, r.len());
                parts.push((r, MaxPoolBackwardKernel::compile(c.jit, spec)?));
            }
            Step::MaxPoolBackward(Box::new(MaxPoolBackwardStep {
                dy: *dy,
                argmax: *argmax,
                dx: *dx,
                sample,
                rows,
                parts,
            }))
        }
        Kernel::AvgPool { x, y, window } => {
            let spec = samples_of(&c.sample_pool(*x, window), rows);
            let kernel = UnaryKernel::AvgPool(AvgPoolKernel::compile(c.jit, spec)?);
            c.unary(
                kernel,
                (*x, rows_len(c, *x, rows)),
                (*y, rows_len(c, *y, rows)),
            )
        }
        Kernel::AvgPoolBackward { dy, dx, window } => {
            let spec = samples_of(&c.sample_pool(*dx, window), rows);
            let kernel = UnaryKernel::AvgPoolBackward(AvgPoolBackwardKernel::compile(c.jit, spec)?);
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
                let kernel = UnaryKernel::GlobalAvgPool(GlobalAvgPoolKernel::compile(c.jit, spec)?);
                c.unary(kernel, (*x, xl), (*y, yl))
            } else {
                let kernel = UnaryKernel::GlobalAvgPoolBackward(
                    GlobalAvgPoolBackwardKernel::compile(c.jit, spec)?,
                );
                c.unary(kernel, (*y, yl), (*x, xl))
            }
        }
        other => Step::Reference(other.clone()),
    })
}

impl MaxPoolStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let r = self.rows;
        let (inp, outp) = (self.sample.x_len(), self.sample.y_len());
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
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let r = self.rows;
        let (inp, outp) = (self.sample.x_len(), self.sample.y_len());
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

/// `sample`'s pooling over `samples` consecutive samples.
fn samples_of(sample: &PoolSpec, samples: usize) -> PoolSpec {
    PoolSpec {
        planes: sample.planes * samples,
        ..*sample
    }
}

impl UnaryStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
