//! Convolution steps, forward and backward: per-sample im2col and GEMM, row-parallel tasks
//! and the fixed shards whose weight and bias gradients are summed in order.

use std::ops::Range;

use crate::check::Activation;
use crate::jit::JitError;
use crate::jit::conv::{
    ChannelBiasActKernel, ChannelBiasActSpec, ChannelSumKernel, ChannelSumSpec, Col2imKernel,
    Im2colKernel, Im2colSpec, ReluMaskKernel, ReluMaskSpec,
};
use crate::jit::gemm::{GemmOp, GemmSpec};
use crate::lower::{BufferId, Kernel, Window};

use super::super::ExecError;
use super::super::glue::{self, ConvGeom};
use super::super::parallel::{Gemm, SHARDS, chunks_mut, parts_for, run_tasks, split};
use super::super::store::borrow;
use super::{Compiler, Ctx, Step, uses};

/// A convolution: per sample, unroll windows, one GEMM `W·col`, bias and ReLU.
pub(crate) struct ConvStep {
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
pub(crate) struct ConvBackwardStep {
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
struct ConvBackwardTask {
    range: Range<usize>,
    mask: Option<ReluMaskKernel>,
    scratch: Vec<f32>,
    dcol: Vec<f32>,
}

/// One fixed shard of a convolution's weight and bias gradients.
struct ConvShard {
    range: Range<usize>,
    scratch: Vec<f32>,
    dwt: Vec<f32>,
    db: Vec<f32>,
    db_sum: ChannelSumKernel,
}

impl Compiler<'_> {
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

/// Compiles a convolution forward or backward kernel for `rows` rows; any other kernel, an
/// activation other than ReLU, or a convolution without a saved-column slot runs the
/// reference op.
pub(super) fn compile(c: &mut Compiler<'_>, k: &Kernel, rows: usize) -> Result<Step, JitError> {
    let relu_or_none = |a: &Option<Activation>| matches!(a, None | Some(Activation::Relu));
    Ok(match k {
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
        other => Step::Reference(other.clone()),
    })
}

impl ConvStep {
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ExecError> {
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
