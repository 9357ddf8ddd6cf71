//! The forward pass of a recurrent layer: the input projection of every step as one matrix
//! product over all T (rows in time-major order), then per step the hidden projection (a
//! product of `[rows, H]` by `W_hhᵀ`) and one generated cell kernel (`jit::rnn`). It
//! writes what the reference op writes — each direction's states `[N, T, H]` and trace
//! `[N, T, S]`, and the layer output — so the backward pass through time (the reference
//! op) reads the same buffers. Runs on the calling thread: every value has one fixed
//! sequence of operations whatever the thread count.

use ndarray::{Array1, Array2, ArrayView2};

use crate::check::RnnCell;
use crate::jit::JitError;
use crate::jit::rnn::{RnnCellKernel, RnnCellSpec};
use crate::lower::{BufferId, Kernel, RnnDir};

use super::super::ExecError;
use super::{Compiler, Ctx, Step};

/// A compiled recurrent forward pass for one row count.
pub(crate) struct RnnStep {
    x: BufferId,
    y: BufferId,
    return_sequences: bool,
    dirs: Vec<RnnDir>,
    rows: usize,
    steps: usize,
    features: usize,
    cell: RnnCellKernel,
}

/// Compiles `Kernel::Rnn` for `rows` rows.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    let Kernel::Rnn {
        x,
        y,
        cell,
        return_sequences,
        dirs,
    } = k
    else {
        return Ok(Step::Reference(k.clone()));
    };
    let xs = &c.plan.buffer(*x).shape;
    let (steps, features) = (xs[1], xs[2]);
    let Some(first) = dirs.first() else {
        return Ok(Step::Reference(k.clone()));
    };
    let hidden = c.plan.buffer(first.w_hh).shape[1];
    let cell = RnnCellKernel::compile(
        c.jit,
        RnnCellSpec {
            cell: *cell,
            rows,
            hidden,
        },
    )?;
    Ok(Step::Rnn(Box::new(RnnStep {
        x: *x,
        y: *y,
        return_sequences: *return_sequences,
        dirs: dirs.clone(),
        rows,
        steps,
        features,
        cell,
    })))
}

/// A read-only copy of a buffer's first `len` elements.
fn read(ctx: &Ctx<'_>, id: BufferId, len: usize) -> Result<Vec<f32>, ExecError> {
    let s = &ctx.store[ctx.plan.storage(id).0 as usize];
    s.get(..len).map(<[f32]>::to_vec).ok_or(ExecError::Size {
        buffer: ctx.plan.buffer(id).name.clone(),
        want: len,
        have: s.len(),
    })
}

/// Writes `values` over a buffer's first elements.
fn write(ctx: &mut Ctx<'_>, id: BufferId, values: &[f32]) -> Result<(), ExecError> {
    let name = ctx.plan.buffer(id).name.clone();
    let s = &mut ctx.store[ctx.plan.storage(id).0 as usize];
    let have = s.len();
    let dst = s.get_mut(..values.len()).ok_or(ExecError::Size {
        buffer: name,
        want: values.len(),
        have,
    })?;
    dst.copy_from_slice(values);
    Ok(())
}

fn matrix(values: Vec<f32>, rows: usize, cols: usize) -> Result<Array2<f32>, ExecError> {
    Array2::from_shape_vec((rows, cols), values).map_err(|_| ExecError::Internal("rnn shape"))
}

impl RnnStep {
    pub(crate) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
        let spec = *self.cell.spec();
        let (n, t_len, f, h) = (self.rows, self.steps, self.features, spec.hidden);
        let (g, s) = (spec.cell.gates(), spec.cell.trace_width(h));
        let x = read(ctx, self.x, n * t_len * f)?;
        // Time-major input [T·N, F], so each step's rows are contiguous.
        let mut xt = Vec::with_capacity(x.len());
        for t in 0..t_len {
            for row in 0..n {
                let at = (row * t_len + t) * f;
                xt.extend_from_slice(&x[at..at + f]);
            }
        }
        let xt = matrix(xt, t_len * n, f)?;
        let d = self.dirs.len();
        let mut out = vec![
            0f32;
            if self.return_sequences {
                n * t_len * d * h
            } else {
                n * d * h
            }
        ];
        for (k, dir) in self.dirs.clone().iter().enumerate() {
            let w_ih = matrix(read(ctx, dir.w_ih, g * h * f)?, g * h, f)?;
            let w_hh = matrix(read(ctx, dir.w_hh, g * h * h)?, g * h, h)?;
            let b_ih = Array1::from(read(ctx, dir.b_ih, g * h)?);
            let b_hh = Array1::from(read(ctx, dir.b_hh, g * h)?);
            // The reference's order: the product, then the bias.
            let gi_all = xt.dot(&w_ih.t()) + &b_ih;
            let mut states = vec![0f32; t_len * n * h];
            let mut saved = vec![0f32; t_len * n * s];
            let zeros = vec![0f32; spec.prev_len()];
            let mut h_prev: Option<usize> = None;
            let order: Vec<usize> = if dir.reverse {
                (0..t_len).rev().collect()
            } else {
                (0..t_len).collect()
            };
            for &t in &order {
                let hp: ArrayView2<f32> = match h_prev {
                    Some(p) => ArrayView2::from_shape((n, h), &states[p * n * h..(p + 1) * n * h])
                        .map_err(|_| ExecError::Internal("rnn state shape"))?,
                    None => ArrayView2::from_shape((n, h), &zeros[..n * h])
                        .map_err(|_| ExecError::Internal("rnn state shape"))?,
                };
                let gh = hp.dot(&w_hh.t()) + &b_hh;
                let gi = gi_all.slice(ndarray::s![t * n..(t + 1) * n, ..]);
                let (gi, gh) = (gi.as_standard_layout(), gh.as_standard_layout());
                let (gi, gh) = (
                    gi.as_slice().ok_or(ExecError::Internal("rnn layout"))?,
                    gh.as_slice().ok_or(ExecError::Internal("rnn layout"))?,
                );
                let prev: Vec<f32> = match (h_prev, spec.cell) {
                    (None, _) => zeros.clone(),
                    (Some(p), RnnCell::Gru) => states[p * n * h..(p + 1) * n * h].to_vec(),
                    (Some(p), RnnCell::Lstm) => saved[p * n * s..(p + 1) * n * s].to_vec(),
                };
                let (hs, ss) = (
                    &mut states[t * n * h..(t + 1) * n * h],
                    &mut saved[t * n * s..(t + 1) * n * s],
                );
                self.cell.run(gi, gh, &prev, hs, ss)?;
                h_prev = Some(t);
            }
            // Back to batch-major [N, T, ·] for the plan's buffers and the output.
            let mut states_nt = vec![0f32; n * t_len * h];
            let mut saved_nt = vec![0f32; n * t_len * s];
            for t in 0..t_len {
                for row in 0..n {
                    let src = (t * n + row) * h;
                    let dst = (row * t_len + t) * h;
                    states_nt[dst..dst + h].copy_from_slice(&states[src..src + h]);
                    let (src, dst) = ((t * n + row) * s, (row * t_len + t) * s);
                    saved_nt[dst..dst + s].copy_from_slice(&saved[src..src + s]);
                    if self.return_sequences {
                        let o = (row * t_len + t) * d * h + k * h;
                        out[o..o + h]
                            .copy_from_slice(&states[(t * n + row) * h..(t * n + row + 1) * h]);
                    }
                }
            }
            if !self.return_sequences {
                let last = if dir.reverse {
                    0
                } else {
                    t_len.saturating_sub(1)
                };
                for row in 0..n {
                    let src = (last * n + row) * h;
                    let o = row * d * h + k * h;
                    out[o..o + h].copy_from_slice(&states[src..src + h]);
                }
            }
            write(ctx, dir.h, &states_nt)?;
            write(ctx, dir.gates, &saved_nt)?;
        }
        write(ctx, self.y, &out)
    }
}
