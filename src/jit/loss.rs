//! Generated loss kernels: softmax cross-entropy (with label smoothing) and the regression
//! losses MSE / MAE, each fused with its gradient, plus the mean that turns per-row losses
//! into the scalar loss.
//!
//! Chunking: a loss kernel covers `rows` rows of a batch of `batch` rows. It writes each
//! row's loss contribution (`row_loss[r]`, not yet divided) and the gradient, whose scale
//! `1/batch` (or `2/(batch·features)`) uses the whole batch, so every element of both is
//! computed from its own row only and does not depend on the chunking. The scalar loss is
//! then `LossMeanKernel` over all `batch` row losses, summed in row order: the same bits
//! whether the rows came from one kernel or several.

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC, types};
use cranelift::frontend::{FunctionBuilder, Variable};

use super::bits::F32Bits;
use super::codegen::{
    Idx, UNROLL_VECTORS, buf_flags, check_len, const_x4, counted_loop, imm, mask_x4, offset,
    repeat, splat_x4, unrolled_fold_sum,
};
use super::error::JitError;
use super::math::{exp, ln};
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};

/// Softmax cross-entropy over `logits [rows, classes]` with integer class targets (stored
/// as f32) and label smoothing `ε`: the smoothed target is `t = (1 − ε)·onehot + ε/classes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrossEntropySpec {
    /// Rows in this chunk.
    pub rows: usize,
    /// Classes (logits per row).
    pub classes: usize,
    /// Rows of the whole batch: the gradient is divided by it.
    pub batch: usize,
    /// Label smoothing `ε ∈ [0, 1]`.
    pub smoothing: F32Bits,
}

/// A compiled [`CrossEntropySpec`]: buffers `logits [rows·classes]`, `target [rows]`
/// (read), `row_loss [rows]`, `dlogits [rows·classes]` (written).
///
/// Per row, as the reference (`softmax_cross_entropy_forward` + `_backward`): `m = max z`
/// (NaN ignored, like `f32::max`), `lse = ln Σ exp(z − m)` (the sum in ndarray's
/// unrolled-fold order), `log p = (z − m) − lse`, `row_loss = −Σ t·log p` (in class order,
/// from 0), `dlogits = (exp(log p) − t) · (1/batch)` with the f32 `1/batch` and targets
/// computed in f64 as the reference does. `exp`/`ln` are the inline polynomials of
/// `jit::math` (≤ 2 ulp), so results agree with the reference to a few ulp rather than
/// bit for bit. f32x4 across classes, scalar tail; each row depends on its own data only.
#[derive(Clone, Debug)]
pub struct CrossEntropyKernel {
    spec: CrossEntropySpec,
    kernel: CompiledKernel,
}

impl CrossEntropyKernel {
    /// Generates and compiles the fused loss.
    pub fn compile(jit: &mut JitModule, spec: CrossEntropySpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!("cross_entropy_{}x{}_of{}", s.rows, s.classes, s.batch);
        let eps = s.smoothing.get();
        if !(0.0..=1.0).contains(&eps) {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!("label smoothing must be in [0, 1], got {eps}"),
            });
        }
        if s.rows > s.batch {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!(
                    "a chunk of {} rows exceeds the batch of {}",
                    s.rows, s.batch
                ),
            });
        }
        check_len(&name, "target", Some(s.rows))?;
        let total = check_len(&name, "logits", s.rows.checked_mul(s.classes))?;
        let params = vec![
            ParamSpec::read("logits", total),
            ParamSpec::read("target", s.rows),
            ParamSpec::write("row_loss", s.rows),
            ParamSpec::write("dlogits", total),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit_cross_entropy(b, &s, p))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &CrossEntropySpec {
        &self.spec
    }

    /// Runs the loss. Every target must be an integer class index in `0..classes`
    /// (checked here: an error, not a wrong loss).
    pub fn run(
        &self,
        logits: &[f32],
        target: &[f32],
        row_loss: &mut [f32],
        dlogits: &mut [f32],
    ) -> Result<(), JitError> {
        let classes = self.spec.classes as f32;
        if let Some((row, t)) = target
            .iter()
            .enumerate()
            .find(|(_, t)| !(t.fract() == 0.0 && (0.0..classes).contains(*t)))
        {
            return Err(JitError::Argument {
                kernel: self.kernel.name().to_string(),
                param: "target".to_string(),
                problem: format!(
                    "row {row} has class {t}, not an integer in 0..{}",
                    self.spec.classes
                ),
            });
        }
        self.kernel.call(&mut [
            KernelArg::Read(logits),
            KernelArg::Read(target),
            KernelArg::Write(row_loss),
            KernelArg::Write(dlogits),
        ])
    }
}

/// `select` for f32 (`cond` from `fcmp`) or f32x4 (`cond` a lane mask).
fn pick(b: &mut FunctionBuilder<'_>, cond: ir::Value, yes: ir::Value, no: ir::Value) -> ir::Value {
    if b.func.dfg.value_type(yes) == types::F32 {
        b.ins().select(cond, yes, no)
    } else {
        let m = mask_x4(b, cond);
        b.ins().bitselect(m, yes, no)
    }
}

/// A scalar constant of type `ty` (splatted for f32x4).
fn konst(b: &mut FunctionBuilder<'_>, ty: ir::Type, v: f32) -> ir::Value {
    if ty == types::F32 {
        b.ins().f32const(v)
    } else {
        splat_x4(b, v)
    }
}

/// Emits `body(ptr, byte_offset, ty, first_element)` over `n` contiguous elements: f32x4
/// groups (unrolled or a runtime loop), then the scalar tail. `first_element` is the
/// element index of lane 0 as an f32 (for class indices).
fn over_row(
    b: &mut FunctionBuilder<'_>,
    n: usize,
    base: ir::Value,
    mut body: impl FnMut(&mut FunctionBuilder<'_>, ir::Value, i32, ir::Type, ir::Value),
) -> Result<(), JitError> {
    repeat(b, n / 4, UNROLL_VECTORS, |b, g| {
        let (p, o) = g.addr(b, base, 16, 0);
        let first = match g {
            Idx::Const(k) => b.ins().f32const((4 * k) as f32),
            Idx::Dyn(i) => {
                let e = b.ins().imul_imm_s(i, 4);
                b.ins().fcvt_from_sint(types::F32, e)
            }
        };
        body(b, p, o, types::F32X4, first);
        Ok(())
    })?;
    for t in (n / 4) * 4..n {
        let first = b.ins().f32const(t as f32);
        body(b, base, imm(t as i64 * F32_BYTES), types::F32, first);
    }
    Ok(())
}

/// `acc ← acc ∘ lane` for every lane of `v` in lane order (a scalar chain, so the result
/// does not depend on the vector width): `∘` is `fsub` when `subtract`, else `fadd`.
fn chain(b: &mut FunctionBuilder<'_>, acc: Variable, v: ir::Value, subtract: bool) {
    let lanes = if b.func.dfg.value_type(v) == types::F32 {
        1
    } else {
        4
    };
    for l in 0..lanes {
        let x = if lanes == 1 {
            v
        } else {
            b.ins().extractlane(v, l as u8)
        };
        let cur = b.use_var(acc);
        let next = if subtract {
            b.ins().fsub(cur, x)
        } else {
            b.ins().fadd(cur, x)
        };
        b.def_var(acc, next);
    }
}

fn emit_cross_entropy(
    b: &mut FunctionBuilder<'_>,
    s: &CrossEntropySpec,
    p: &[ir::Value],
) -> Result<(), JitError> {
    let fl = buf_flags();
    let c = s.classes;
    let eps = f64::from(s.smoothing.get());
    // The reference's targets: (1 − ε)·[c == label] + ε/C in f64, rounded to f32.
    let cold = (eps / c as f64) as f32;
    let hot = ((1.0 - eps) + eps / c as f64) as f32;
    let scale = 1.0f32 / s.batch as f32;
    let row_bytes = c as i64 * F32_BYTES;
    counted_loop(b, s.rows, |b, r| {
        let z = offset(b, p[0], r, row_bytes);
        let d = offset(b, p[3], r, row_bytes);
        let tp = offset(b, p[1], r, F32_BYTES);
        let label = b.ins().load(types::F32, fl, tp, 0);

        // Pass 1: the maximum (a NaN never replaces it).
        let mx4 = b.declare_var(types::F32X4);
        let mx = b.declare_var(types::F32);
        let ninf = splat_x4(b, f32::NEG_INFINITY);
        b.def_var(mx4, ninf);
        let ninf1 = b.ins().f32const(f32::NEG_INFINITY);
        b.def_var(mx, ninf1);
        over_row(b, c, z, |b, ptr, o, ty, _| {
            let v = b.ins().load(ty, fl, ptr, o);
            let var = if ty == types::F32 { mx } else { mx4 };
            let cur = b.use_var(var);
            let gt = b.ins().fcmp(FloatCC::GreaterThan, v, cur);
            let next = pick(b, gt, v, cur);
            b.def_var(var, next);
        })?;
        let v4 = b.use_var(mx4);
        for l in 0..4u8 {
            let e = b.ins().extractlane(v4, l);
            let cur = b.use_var(mx);
            let gt = b.ins().fcmp(FloatCC::GreaterThan, e, cur);
            let next = b.ins().select(gt, e, cur);
            b.def_var(mx, next);
        }
        let m = b.use_var(mx);
        let m4 = b.ins().splat(types::F32X4, m);

        // Pass 2: exp(z − m) into dlogits (as scratch), summed like ndarray's `sum`.
        over_row(b, c, z, |b, ptr, o, ty, _| {
            let v = b.ins().load(ty, fl, ptr, o);
            let mm = if ty == types::F32 { m } else { m4 };
            let sh = b.ins().fsub(v, mm);
            let e = exp(b, sh);
            let dst = b.ins().isub(ptr, z);
            let dst = b.ins().iadd(d, dst);
            b.ins().store(fl, e, dst, o);
        })?;
        let sum = unrolled_fold_sum(b, d, 0, c)?;
        let lse = ln(b, sum);
        let lse4 = b.ins().splat(types::F32X4, lse);
        let label4 = b.ins().splat(types::F32X4, label);

        // Pass 3: log p, the loss chain and the gradient.
        let loss = b.declare_var(types::F32);
        let zero = b.ins().f32const(0.0);
        b.def_var(loss, zero);
        over_row(b, c, z, |b, ptr, o, ty, first| {
            let vec = ty == types::F32X4;
            let v = b.ins().load(ty, fl, ptr, o);
            let sh = b.ins().fsub(v, if vec { m4 } else { m });
            let logp = b.ins().fsub(sh, if vec { lse4 } else { lse });
            let prob = exp(b, logp);
            let class = if vec {
                let f = b.ins().splat(types::F32X4, first);
                let lanes = const_x4(b, [0.0, 1.0, 2.0, 3.0]);
                b.ins().fadd(f, lanes)
            } else {
                first
            };
            let is = b
                .ins()
                .fcmp(FloatCC::Equal, class, if vec { label4 } else { label });
            let (h, cd) = (konst(b, ty, hot), konst(b, ty, cold));
            let t = pick(b, is, h, cd);
            let prod = b.ins().fmul(t, logp);
            chain(b, loss, prod, true);
            let diff = b.ins().fsub(prob, t);
            let sc = konst(b, ty, scale);
            let g = b.ins().fmul(diff, sc);
            let dst = b.ins().isub(ptr, z);
            let dst = b.ins().iadd(d, dst);
            b.ins().store(fl, g, dst, o);
        })?;
        let l = b.use_var(loss);
        let lp = offset(b, p[2], r, F32_BYTES);
        b.ins().store(fl, l, lp, 0);
        Ok(())
    })
}

/// Which regression loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegressionLoss {
    /// Squared error: loss `(p − t)²`, gradient `(p − t)·(2/n)`.
    Mse,
    /// Absolute error: loss `|p − t|`, gradient `sign(p − t)·(1/n)` with `sign(0) = 0`.
    Mae,
}

/// A regression loss over `pred, target [rows, features]` of a batch of `batch` rows
/// (`n = batch·features` elements in the mean).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegressionLossSpec {
    /// Rows in this chunk.
    pub rows: usize,
    /// Values per row.
    pub features: usize,
    /// Rows of the whole batch.
    pub batch: usize,
    /// MSE or MAE.
    pub kind: RegressionLoss,
}

/// A compiled [`RegressionLossSpec`]: buffers `pred`, `target` (read, `rows·features`),
/// `row_loss [rows]`, `grad [rows·features]` (written).
///
/// `row_loss[r]` sums the row's squared (absolute) errors in order from 0; the gradient is
/// `(p − t)·s` with `s = (2/n)` rounded from f64 (MSE) or `sign(p − t)·(1/n)` with the f32
/// division (MAE) — exactly the reference's per-element operations, so `grad` is
/// bit-identical to `mse_backward` / `mae_backward`. (The mean differs from the reference
/// in rounding only: it sums row sums instead of one running sum.) f32x4, scalar tail.
#[derive(Clone, Debug)]
pub struct RegressionLossKernel {
    spec: RegressionLossSpec,
    kernel: CompiledKernel,
}

impl RegressionLossKernel {
    /// Generates and compiles the loss.
    pub fn compile(jit: &mut JitModule, spec: RegressionLossSpec) -> Result<Self, JitError> {
        let s = spec;
        let kind = match s.kind {
            RegressionLoss::Mse => "mse",
            RegressionLoss::Mae => "mae",
        };
        let name = format!("{kind}_{}x{}_of{}", s.rows, s.features, s.batch);
        if s.rows > s.batch {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!(
                    "a chunk of {} rows exceeds the batch of {}",
                    s.rows, s.batch
                ),
            });
        }
        check_len(&name, "row_loss", Some(s.rows))?;
        let total = check_len(&name, "pred", s.rows.checked_mul(s.features))?;
        let n = check_len(&name, "batch", s.batch.checked_mul(s.features))?;
        let params = vec![
            ParamSpec::read("pred", total),
            ParamSpec::read("target", total),
            ParamSpec::write("row_loss", s.rows),
            ParamSpec::write("grad", total),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit_regression(b, &s, n, p))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &RegressionLossSpec {
        &self.spec
    }

    /// Runs the loss.
    pub fn run(
        &self,
        pred: &[f32],
        target: &[f32],
        row_loss: &mut [f32],
        grad: &mut [f32],
    ) -> Result<(), JitError> {
        self.kernel.call(&mut [
            KernelArg::Read(pred),
            KernelArg::Read(target),
            KernelArg::Write(row_loss),
            KernelArg::Write(grad),
        ])
    }
}

fn emit_regression(
    b: &mut FunctionBuilder<'_>,
    s: &RegressionLossSpec,
    n: usize,
    p: &[ir::Value],
) -> Result<(), JitError> {
    let fl = buf_flags();
    let scale = match s.kind {
        // upstream (1) · of_f64(2/n) and upstream / of_f64(n), as the reference.
        RegressionLoss::Mse => (2.0 / n as f64) as f32,
        RegressionLoss::Mae => 1.0f32 / n as f32,
    };
    let row_bytes = s.features as i64 * F32_BYTES;
    counted_loop(b, s.rows, |b, r| {
        let pr = offset(b, p[0], r, row_bytes);
        let tr = offset(b, p[1], r, row_bytes);
        let gr = offset(b, p[3], r, row_bytes);
        let loss = b.declare_var(types::F32);
        let zero = b.ins().f32const(0.0);
        b.def_var(loss, zero);
        over_row(b, s.features, pr, |b, ptr, o, ty, _| {
            let rel = b.ins().isub(ptr, pr);
            let tp = b.ins().iadd(tr, rel);
            let gp = b.ins().iadd(gr, rel);
            let pv = b.ins().load(ty, fl, ptr, o);
            let tv = b.ins().load(ty, fl, tp, o);
            let diff = b.ins().fsub(pv, tv);
            let sc = konst(b, ty, scale);
            let (term, g) = match s.kind {
                RegressionLoss::Mse => {
                    let sq = b.ins().fmul(diff, diff);
                    (sq, b.ins().fmul(diff, sc))
                }
                RegressionLoss::Mae => {
                    let abs = b.ins().fabs(diff);
                    let z = konst(b, ty, 0.0);
                    let one = konst(b, ty, 1.0);
                    let mone = konst(b, ty, -1.0);
                    let pos = b.ins().fcmp(FloatCC::GreaterThan, diff, z);
                    let neg = b.ins().fcmp(FloatCC::LessThan, diff, z);
                    let sign = pick(b, neg, mone, z);
                    let sign = pick(b, pos, one, sign);
                    (abs, b.ins().fmul(sign, sc))
                }
            };
            chain(b, loss, term, false);
            b.ins().store(fl, g, gp, o);
        })?;
        let l = b.use_var(loss);
        let lp = offset(b, p[2], r, F32_BYTES);
        b.ins().store(fl, l, lp, 0);
        Ok(())
    })
}

/// The scalar loss from per-row losses: `loss[0] = (Σ row_loss, in order from 0) / divisor`
/// (`divisor` = batch rows for cross-entropy, batch·features for MSE/MAE; the division is
/// in f32 as in the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LossMeanSpec {
    /// Row losses (the whole batch).
    pub rows: usize,
    /// What the sum is divided by.
    pub divisor: usize,
}

/// A compiled [`LossMeanSpec`]: a scalar running sum (rows are few), then one division.
/// Fed the same row losses, it gives the same bits however they were chunked.
#[derive(Clone, Debug)]
pub struct LossMeanKernel {
    spec: LossMeanSpec,
    kernel: CompiledKernel,
}

impl LossMeanKernel {
    /// Generates and compiles the mean.
    pub fn compile(jit: &mut JitModule, spec: LossMeanSpec) -> Result<Self, JitError> {
        let name = format!("loss_mean_{}_over{}", spec.rows, spec.divisor);
        let rows = check_len(&name, "row_loss", Some(spec.rows))?;
        check_len(&name, "divisor", Some(spec.divisor))?;
        let params = vec![
            ParamSpec::read("row_loss", rows),
            ParamSpec::write("loss", 1),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            let acc = b.declare_var(types::F32);
            let zero = b.ins().f32const(0.0);
            b.def_var(acc, zero);
            counted_loop(b, rows, |b, r| {
                let a = offset(b, p[0], r, F32_BYTES);
                let v = b.ins().load(types::F32, fl, a, 0);
                let cur = b.use_var(acc);
                let next = b.ins().fadd(cur, v);
                b.def_var(acc, next);
                Ok(())
            })?;
            let sum = b.use_var(acc);
            let d = b.ins().f32const(spec.divisor as f32);
            let mean = b.ins().fdiv(sum, d);
            b.ins().store(fl, mean, p[1], 0);
            Ok(())
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &LossMeanSpec {
        &self.spec
    }

    /// Writes the mean of `row_loss` into `loss[0]`; returns it too.
    pub fn run(&self, row_loss: &[f32], loss: &mut [f32]) -> Result<f32, JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(row_loss), KernelArg::Write(loss)])?;
        Ok(loss[0])
    }
}
