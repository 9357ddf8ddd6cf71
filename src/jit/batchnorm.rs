//! Batch normalisation over `[samples, channels, plane]` (NCHW with `plane = H·W`, or
//! `[N, C]` dense inputs with `plane = 1`): the training forward (batch statistics, saved
//! mean / inverse standard deviation, running-statistics update), the eval forward (running
//! statistics) and the training backward, each one whole-batch kernel.
//!
//! Why whole-batch: the statistics are reductions over every sample, so there is no
//! per-chunk form that keeps the reference's bits; the kernels are memory-bound passes over
//! the batch anyway.
//!
//! Every operation is the reference's f32 operation in the reference's order, so results
//! are bit-identical to `runtime::reference::batchnorm` as the reference executor calls it:
//! * a channel's plane sum is ndarray's `sum()` of the `[N, L]` view `x[:, c, :]`: one
//!   eight-way unrolled fold over all `N·L` values when the view is contiguous (`N = 1` or
//!   `C = 1`), else `0 + fold(row 0) + fold(row 1) + …`;
//! * sums of a mapped plane (`Σ (x − μ)²`, `Σ dy·x̂`) are folds over the contiguous array
//!   `mapv`/`*` produce, so the mapped values are written to `scratch` (`N·L` floats) and
//!   folded there;
//! * `saved_mean` is the executor's `channel_means` (a sequential f64 sum over the channel,
//!   divided in f64, rounded to f32), while `y` and the running mean use the f32 mean of
//!   `batchnorm_forward_train`; the backward recomputes `x̂ = (x − saved_mean)·invstd`
//!   exactly as the executor does before calling `batchnorm_backward`.

use cranelift::codegen::ir::{self, InstBuilder, types};
use cranelift::frontend::FunctionBuilder;

use super::bits::F32Bits;
use super::codegen::{buf_flags, check_len, counted_loop, offset, repeat, unrolled_fold_sum};
use super::elementwise::emit_map;
use super::error::JitError;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};

/// Shape and hyper-parameters of one batch-norm layer over a whole batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchNormSpec {
    /// Samples `N` in the batch.
    pub samples: usize,
    /// Channels `C` (length of `gamma`, `beta` and every statistic).
    pub channels: usize,
    /// Values per channel and sample (`H·W`; 1 for `[N, C]` inputs).
    pub plane: usize,
    /// Added to the variance before the square root (positive, finite).
    pub eps: F32Bits,
    /// Weight of the batch statistic in the running averages, in `[0, 1]`.
    pub momentum: F32Bits,
}

impl BatchNormSpec {
    /// Elements of `x`, `y`, `dy`, `dx`: `samples·channels·plane`.
    pub fn x_len(&self) -> usize {
        self.samples * self.channels * self.plane
    }

    /// Elements of the `scratch` buffer the training forward and the backward need:
    /// `samples·plane`.
    pub fn scratch_len(&self) -> usize {
        self.samples * self.plane
    }

    /// Values per channel, `m = samples·plane`.
    pub fn count(&self) -> usize {
        self.samples * self.plane
    }
}

/// The compiled kernels of one [`BatchNormSpec`]: training forward (only when
/// `samples·plane ≥ 2`, like the reference), eval forward, backward.
#[derive(Clone, Debug)]
pub struct BatchNormKernel {
    spec: BatchNormSpec,
    train: Option<CompiledKernel>,
    eval: CompiledKernel,
    backward: CompiledKernel,
}

/// Buffers of [`BatchNormKernel::run_train`].
#[derive(Debug)]
pub struct BatchNormTrainArgs<'a> {
    /// Input `[N, C, L]`.
    pub x: &'a [f32],
    /// Scale `[C]`.
    pub gamma: &'a [f32],
    /// Shift `[C]`.
    pub beta: &'a [f32],
    /// Output `[N, C, L]`.
    pub y: &'a mut [f32],
    /// Written: the channel means (f64-summed, as the executor saves them), `[C]`.
    pub saved_mean: &'a mut [f32],
    /// Written: `1/sqrt(var + eps)` with the biased batch variance, `[C]`.
    pub saved_invstd: &'a mut [f32],
    /// Updated in place: `(1 − momentum)·old + momentum·mean`, `[C]`.
    pub running_mean: &'a mut [f32],
    /// Updated in place with the unbiased variance, `[C]`.
    pub running_var: &'a mut [f32],
    /// Work space of `samples·plane` floats; contents on entry do not matter.
    pub scratch: &'a mut [f32],
}

/// Buffers of [`BatchNormKernel::run_backward`].
#[derive(Debug)]
pub struct BatchNormBackwardArgs<'a> {
    /// The forward input `[N, C, L]`.
    pub x: &'a [f32],
    /// Upstream gradient `[N, C, L]`.
    pub dy: &'a [f32],
    /// Scale `[C]`.
    pub gamma: &'a [f32],
    /// What the training forward saved, `[C]`.
    pub saved_mean: &'a [f32],
    /// What the training forward saved, `[C]`.
    pub saved_invstd: &'a [f32],
    /// Written: input gradient `[N, C, L]`.
    pub dx: &'a mut [f32],
    /// Written: `Σ dy·x̂` per channel, `[C]`.
    pub dgamma: &'a mut [f32],
    /// Written: `Σ dy` per channel, `[C]`.
    pub dbeta: &'a mut [f32],
    /// Work space of `samples·plane` floats; contents on entry do not matter.
    pub scratch: &'a mut [f32],
}

impl BatchNormKernel {
    /// Checks `spec` and generates its kernels.
    pub fn compile(jit: &mut JitModule, spec: BatchNormSpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!("batchnorm_{}x{}x{}", s.samples, s.channels, s.plane);
        check_len(&name, "gamma", Some(s.channels))?;
        check_len(&name, "scratch", s.samples.checked_mul(s.plane))?;
        let total = s
            .samples
            .checked_mul(s.channels)
            .and_then(|v| v.checked_mul(s.plane));
        let total = check_len(&name, "x", total)?;
        let eps = s.eps.get();
        if !(eps.is_finite() && eps > 0.0) {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!("eps must be positive and finite, got {eps}"),
            });
        }
        let mom = s.momentum.get();
        if !(0.0..=1.0).contains(&mom) {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!("momentum must be in [0, 1], got {mom}"),
            });
        }
        let (c, m) = (s.channels, s.count());
        let train = if m >= 2 {
            let params = vec![
                ParamSpec::read("x", total),
                ParamSpec::read("gamma", c),
                ParamSpec::read("beta", c),
                ParamSpec::write("y", total),
                ParamSpec::write("saved_mean", c),
                ParamSpec::write("saved_invstd", c),
                ParamSpec::write("running_mean", c),
                ParamSpec::write("running_var", c),
                ParamSpec::write("scratch", m),
            ];
            Some(jit.compile(&format!("{name}_train"), params, |b, p| {
                emit_train(b, &s, p)
            })?)
        } else {
            None
        };
        let params = vec![
            ParamSpec::read("x", total),
            ParamSpec::read("gamma", c),
            ParamSpec::read("beta", c),
            ParamSpec::read("running_mean", c),
            ParamSpec::read("running_var", c),
            ParamSpec::write("y", total),
        ];
        let eval = jit.compile(&format!("{name}_eval"), params, |b, p| emit_eval(b, &s, p))?;
        let params = vec![
            ParamSpec::read("x", total),
            ParamSpec::read("dy", total),
            ParamSpec::read("gamma", c),
            ParamSpec::read("saved_mean", c),
            ParamSpec::read("saved_invstd", c),
            ParamSpec::write("dx", total),
            ParamSpec::write("dgamma", c),
            ParamSpec::write("dbeta", c),
            ParamSpec::write("scratch", m),
        ];
        let backward = jit.compile(&format!("{name}_backward"), params, |b, p| {
            emit_backward(b, &s, p)
        })?;
        Ok(Self {
            spec,
            train,
            eval,
            backward,
        })
    }

    /// The spec these kernels were generated for.
    pub fn spec(&self) -> &BatchNormSpec {
        &self.spec
    }

    /// Training-mode forward (see [`BatchNormTrainArgs`]). Errors when a buffer has the
    /// wrong length, or when `samples·plane < 2` (one value per channel has no variance;
    /// the reference refuses it too).
    pub fn run_train(&self, a: BatchNormTrainArgs<'_>) -> Result<(), JitError> {
        let k = self.train.as_ref().ok_or_else(|| JitError::InvalidShape {
            kernel: self.eval.name().trim_end_matches("_eval").to_string(),
            reason: "training mode needs more than one value per channel (samples·plane ≥ 2)"
                .to_string(),
        })?;
        k.call(&mut [
            KernelArg::Read(a.x),
            KernelArg::Read(a.gamma),
            KernelArg::Read(a.beta),
            KernelArg::Write(a.y),
            KernelArg::Write(a.saved_mean),
            KernelArg::Write(a.saved_invstd),
            KernelArg::Write(a.running_mean),
            KernelArg::Write(a.running_var),
            KernelArg::Write(a.scratch),
        ])
    }

    /// Eval-mode forward: `y = γ·(x − running_mean)·(1/sqrt(running_var + eps)) + β`.
    pub fn run_eval(
        &self,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running_mean: &[f32],
        running_var: &[f32],
        y: &mut [f32],
    ) -> Result<(), JitError> {
        self.eval.call(&mut [
            KernelArg::Read(x),
            KernelArg::Read(gamma),
            KernelArg::Read(beta),
            KernelArg::Read(running_mean),
            KernelArg::Read(running_var),
            KernelArg::Write(y),
        ])
    }

    /// Training-mode backward (see [`BatchNormBackwardArgs`]).
    pub fn run_backward(&self, a: BatchNormBackwardArgs<'_>) -> Result<(), JitError> {
        self.backward.call(&mut [
            KernelArg::Read(a.x),
            KernelArg::Read(a.dy),
            KernelArg::Read(a.gamma),
            KernelArg::Read(a.saved_mean),
            KernelArg::Read(a.saved_invstd),
            KernelArg::Write(a.dx),
            KernelArg::Write(a.dgamma),
            KernelArg::Write(a.dbeta),
            KernelArg::Write(a.scratch),
        ])
    }
}

/// A runtime scalar and its f32x4 splat, for `emit_map` bodies of either width.
#[derive(Clone, Copy)]
struct Both {
    s: ir::Value,
    v: ir::Value,
}

impl Both {
    fn new(b: &mut FunctionBuilder<'_>, s: ir::Value) -> Self {
        let v = b.ins().splat(types::F32X4, s);
        Self { s, v }
    }
    fn at(self, w: usize) -> ir::Value {
        if w == 4 { self.v } else { self.s }
    }
}

/// Byte offset of channel `c`'s first value in sample 0.
fn channel_base(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    c: ir::Value,
    plane: usize,
) -> ir::Value {
    offset(b, base, c, plane as i64 * F32_BYTES)
}

/// ndarray's `sum()` of the `[N, L]` view `x[:, c, :]` starting at `chan` (module docs).
fn channel_sum(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    chan: ir::Value,
) -> Result<ir::Value, JitError> {
    if s.samples == 1 || s.channels == 1 {
        return unrolled_fold_sum(b, chan, 0, s.samples * s.plane);
    }
    let acc = b.declare_var(types::F32);
    let zero = b.ins().f32const(0.0);
    b.def_var(acc, zero);
    counted_loop(b, s.samples, |b, n| {
        let row = offset(b, chan, n, (s.channels * s.plane) as i64 * F32_BYTES);
        let r = unrolled_fold_sum(b, row, 0, s.plane)?;
        let cur = b.use_var(acc);
        let next = b.ins().fadd(cur, r);
        b.def_var(acc, next);
        Ok(())
    })?;
    Ok(b.use_var(acc))
}

/// For every sample row of the channel: `out_row[l] = f(in_rows…[l])`, where input rows
/// are strided by `C·L` and `out` is either strided (`out_stride = C·L`) or the contiguous
/// scratch (`out_stride = L`).
fn map_rows(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    inputs: &[ir::Value],
    out: ir::Value,
    out_stride: usize,
    f: impl Fn(&mut FunctionBuilder<'_>, &[ir::Value], usize) -> ir::Value,
) -> Result<(), JitError> {
    let row_bytes = (s.channels * s.plane) as i64 * F32_BYTES;
    counted_loop(b, s.samples, |b, n| {
        let ins: Vec<ir::Value> = inputs.iter().map(|&p| offset(b, p, n, row_bytes)).collect();
        let o = offset(b, out, n, out_stride as i64 * F32_BYTES);
        emit_map(b, s.plane, &ins, o, &f)
    })
}

fn load_c(b: &mut FunctionBuilder<'_>, base: ir::Value, c: ir::Value) -> ir::Value {
    let p = offset(b, base, c, F32_BYTES);
    b.ins().load(types::F32, buf_flags(), p, 0)
}

fn store_c(b: &mut FunctionBuilder<'_>, base: ir::Value, c: ir::Value, v: ir::Value) {
    let p = offset(b, base, c, F32_BYTES);
    b.ins().store(buf_flags(), v, p, 0);
}

/// The executor's `channel_means` entry for channel `c`: `Σ f64(x)` in memory order, `/ m`
/// in f64, rounded to f32.
fn f64_mean(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    chan: ir::Value,
) -> Result<ir::Value, JitError> {
    let acc = b.declare_var(types::F64);
    let zero = b.ins().f64const(0.0);
    b.def_var(acc, zero);
    let row_bytes = (s.channels * s.plane) as i64 * F32_BYTES;
    counted_loop(b, s.samples, |b, n| {
        let row = offset(b, chan, n, row_bytes);
        repeat(b, s.plane, 8, |b, l| {
            let (p, o) = l.addr(b, row, F32_BYTES, 0);
            let v = b.ins().load(types::F32, buf_flags(), p, o);
            let d = b.ins().fpromote(types::F64, v);
            let cur = b.use_var(acc);
            let next = b.ins().fadd(cur, d);
            b.def_var(acc, next);
            Ok(())
        })
    })?;
    let sum = b.use_var(acc);
    let m = b.ins().f64const(s.count() as f64);
    let mean = b.ins().fdiv(sum, m);
    Ok(b.ins().fdemote(types::F32, mean))
}

/// Params: x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var, scratch.
fn emit_train(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    p: &[ir::Value],
) -> Result<(), JitError> {
    let (x, gamma, beta, y) = (p[0], p[1], p[2], p[3]);
    let (saved_mean, saved_invstd, rmean, rvar, scratch) = (p[4], p[5], p[6], p[7], p[8]);
    let m = s.count();
    counted_loop(b, s.channels, |b, c| {
        let xc = channel_base(b, x, c, s.plane);
        let yc = channel_base(b, y, c, s.plane);
        let m_t = b.ins().f32const(m as f64 as f32);
        let sum = channel_sum(b, s, xc)?;
        let mean = b.ins().fdiv(sum, m_t);
        let mean2 = Both::new(b, mean);
        map_rows(b, s, &[xc], scratch, s.plane, |b, v, w| {
            let d = b.ins().fsub(v[0], mean2.at(w));
            b.ins().fmul(d, d)
        })?;
        let sq = unrolled_fold_sum(b, scratch, 0, m)?;
        let var = b.ins().fdiv(sq, m_t);
        let eps = b.ins().f32const(s.eps.get());
        let ve = b.ins().fadd(var, eps);
        let sd = b.ins().sqrt(ve);
        let one = b.ins().f32const(1.0);
        let istd = b.ins().fdiv(one, sd);
        let istd2 = Both::new(b, istd);
        let g = load_c(b, gamma, c);
        let g2 = Both::new(b, g);
        let bt = load_c(b, beta, c);
        let bt2 = Both::new(b, bt);
        map_rows(b, s, &[xc], yc, s.channels * s.plane, |b, v, w| {
            let d = b.ins().fsub(v[0], mean2.at(w));
            let xh = b.ins().fmul(d, istd2.at(w));
            let gx = b.ins().fmul(xh, g2.at(w));
            b.ins().fadd(gx, bt2.at(w))
        })?;
        store_c(b, saved_invstd, c, istd);
        // Running statistics, the reference's f32 expressions in its order.
        let mom = b.ins().f32const(s.momentum.get());
        let keep = b.ins().fsub(one, mom);
        let old = load_c(b, rmean, c);
        let a = b.ins().fmul(keep, old);
        let bm = b.ins().fmul(mom, mean);
        let new = b.ins().fadd(a, bm);
        store_c(b, rmean, c, new);
        let vm = b.ins().fmul(var, m_t);
        let mm1 = b.ins().f32const((m - 1) as f64 as f32);
        let unbiased = b.ins().fdiv(vm, mm1);
        let old = load_c(b, rvar, c);
        let a = b.ins().fmul(keep, old);
        let bv = b.ins().fmul(mom, unbiased);
        let new = b.ins().fadd(a, bv);
        store_c(b, rvar, c, new);
        let m64 = f64_mean(b, s, xc)?;
        store_c(b, saved_mean, c, m64);
        Ok(())
    })
}

/// Params: x, gamma, beta, running_mean, running_var, y.
fn emit_eval(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    p: &[ir::Value],
) -> Result<(), JitError> {
    let (x, gamma, beta, rmean, rvar, y) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    counted_loop(b, s.channels, |b, c| {
        let xc = channel_base(b, x, c, s.plane);
        let yc = channel_base(b, y, c, s.plane);
        let rv = load_c(b, rvar, c);
        let eps = b.ins().f32const(s.eps.get());
        let ve = b.ins().fadd(rv, eps);
        let sd = b.ins().sqrt(ve);
        let one = b.ins().f32const(1.0);
        let istd = b.ins().fdiv(one, sd);
        let istd2 = Both::new(b, istd);
        let rm = load_c(b, rmean, c);
        let mean2 = Both::new(b, rm);
        let g = load_c(b, gamma, c);
        let g2 = Both::new(b, g);
        let bt = load_c(b, beta, c);
        let bt2 = Both::new(b, bt);
        map_rows(b, s, &[xc], yc, s.channels * s.plane, |b, v, w| {
            let d = b.ins().fsub(v[0], mean2.at(w));
            let xh = b.ins().fmul(d, istd2.at(w));
            let gx = b.ins().fmul(xh, g2.at(w));
            b.ins().fadd(gx, bt2.at(w))
        })
    })
}

/// Params: x, dy, gamma, saved_mean, saved_invstd, dx, dgamma, dbeta, scratch.
fn emit_backward(
    b: &mut FunctionBuilder<'_>,
    s: &BatchNormSpec,
    p: &[ir::Value],
) -> Result<(), JitError> {
    let (x, dy, gamma, smean, sinv) = (p[0], p[1], p[2], p[3], p[4]);
    let (dx, dgamma, dbeta, scratch) = (p[5], p[6], p[7], p[8]);
    let m = s.count();
    counted_loop(b, s.channels, |b, c| {
        let xc = channel_base(b, x, c, s.plane);
        let dyc = channel_base(b, dy, c, s.plane);
        let dxc = channel_base(b, dx, c, s.plane);
        let mean = load_c(b, smean, c);
        let mean2 = Both::new(b, mean);
        let inv = load_c(b, sinv, c);
        let inv2 = Both::new(b, inv);
        let sum_dy = channel_sum(b, s, dyc)?;
        // `&g * &xh` with x̂ = (x − mean)·inv, as the executor builds it.
        map_rows(b, s, &[xc, dyc], scratch, s.plane, |b, v, w| {
            let d = b.ins().fsub(v[0], mean2.at(w));
            let xh = b.ins().fmul(d, inv2.at(w));
            b.ins().fmul(v[1], xh)
        })?;
        let sum_dy_xh = unrolled_fold_sum(b, scratch, 0, m)?;
        store_c(b, dbeta, c, sum_dy);
        store_c(b, dgamma, c, sum_dy_xh);
        let m_t = b.ins().f32const(m as f64 as f32);
        let g = load_c(b, gamma, c);
        let gi = b.ins().fmul(g, inv);
        let k = b.ins().fdiv(gi, m_t);
        let k2 = Both::new(b, k);
        let m2 = Both::new(b, m_t);
        let sdy2 = Both::new(b, sum_dy);
        let sdx2 = Both::new(b, sum_dy_xh);
        map_rows(b, s, &[xc, dyc], dxc, s.channels * s.plane, |b, v, w| {
            let d = b.ins().fsub(v[0], mean2.at(w));
            let xh = b.ins().fmul(d, inv2.at(w));
            let mg = b.ins().fmul(m2.at(w), v[1]);
            let t = b.ins().fsub(mg, sdy2.at(w));
            let xs = b.ins().fmul(xh, sdx2.at(w));
            let t = b.ins().fsub(t, xs);
            b.ins().fmul(k2.at(w), t)
        })
    })
}
