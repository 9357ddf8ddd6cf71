//! The exact (erf-form) GELU and its derivative as inline f32/f32x4 code:
//! `gelu(x) = x·Φ(x)` and `gelu'(x) = Φ(x) + x·φ(x)`, with `Φ` the standard normal CDF and
//! `φ(x) = e^{−x²/2}/√(2π)` its density.
//!
//! Why not `Φ(x) = (1 + erf(x/√2))/2`: for negative `x` that cancels (GELU's output there
//! is a tiny negative number that must keep its relative accuracy), and the rounding of
//! `x/√2` alone costs ~`x²` ulp in the tail. Instead, with `t = |x|`,
//!
//! * `Φ(−t) = e^{−t²/2} · R(q) / (1 + √2·t)` where `q = (t − 4)/(t + 4) ∈ [−1, 1)` and `R`
//!   a degree-11 polynomial fitted (Lawson-weighted least squares on Chebyshev nodes, in f64,
//!   then rounded to f32) to `(1 + √2·t)·e^{t²/2}·Φ(−t)` over `t ∈ [0, 15]`: relative error
//!   3.4e-9 with the f32 coefficients, ~1e-7 including the f32 Horner rounding. The map
//!   `t ↦ q` (after Juffa's `erfcf`) makes one polynomial cover the whole range, and the
//!   `(1 + √2·t)` factor keeps the fitted function near-constant as `t → ∞`;
//! * `e^{−t²/2}` is `exp(−s/2)·(1 − e/2)` with `s = t·t` rounded and `e = fma(t, t, −s)`
//!   its exact rounding error, so the tail keeps full relative accuracy instead of losing
//!   `t²` ulp to the rounding of `t²`;
//! * `Φ(x) = Φ(−t)` for `x < 0`, `1 − Φ(−t)` otherwise (≥ 0.5: no harmful cancellation).
//!
//! `t` is clamped to 15 (where `e^{−t²/2}` is already 0 in f32), so ±∞ give finite `q`;
//! the results at ±∞ and NaN then follow the reference's f64 formula: `gelu(+∞) = +∞`,
//! `gelu(−∞) = −∞·0 = NaN`, `gelu'(±∞) = NaN` (`±∞·φ = ∞·0`), NaN → NaN.
//! Accuracy against the f64 reference (measured in `tests/it/jit_gelu.rs`): see
//! `docs/jit.md` ("GELU").

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC};
use cranelift::frontend::FunctionBuilder;

use super::math::{exp, k, pick};

/// `R(q)` coefficients, highest degree first (see the module docs).
const R_COEFFS: [f32; 12] = [
    -1.794_239e-5,
    -1.476_069_2e-4,
    -7.973_238e-5,
    1.080_502_8e-3,
    -6.778_663e-4,
    -7.292_138_4e-3,
    2.888_400_3e-2,
    -5.831_817_5e-2,
    7.014_916e-2,
    -3.172_115_2e-2,
    -6.617_832e-2,
    0.628_477_9,
];

/// `√2` rounded to f32: the fitted function uses exactly this value.
const SQRT_2: f32 = std::f32::consts::SQRT_2;
/// `1/√(2π)` rounded to f32.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
/// Beyond this `|x|`, `e^{−x²/2}` is 0 in f32; the polynomial is fitted up to here.
const T_MAX: f32 = 15.0;

/// The pieces shared by GELU's forward and backward for one f32 or f32x4 `x`.
struct NormalParts {
    /// `Φ(−|x|) / e^{−x²/2}` (a normal number, ~0.5 at 0 falling like `1/(|x|√(2π))`).
    ratio: ir::Value,
    /// `e^{−x²/2}` (0 for `|x| ≥ 15`; subnormal beyond ~13.2).
    gauss: ir::Value,
    /// `x < 0` (an `fcmp` result).
    negative: ir::Value,
}

impl NormalParts {
    /// `Φ(x)`.
    fn cdf(&self, b: &mut FunctionBuilder<'_>) -> ir::Value {
        let ty = b.func.dfg.value_type(self.ratio);
        let tail = b.ins().fmul(self.gauss, self.ratio); // Φ(−|x|)
        let one = k(b, ty, 1.0);
        let upper = b.ins().fsub(one, tail);
        pick(b, self.negative, tail, upper)
    }
}

/// `Φ(−|x|)/e^{−x²/2}` and `e^{−x²/2}` (module docs for the method).
fn normal_parts(b: &mut FunctionBuilder<'_>, x: ir::Value) -> NormalParts {
    let ty = b.func.dfg.value_type(x);
    let t = b.ins().fabs(x);
    // Clamp by compare + select: a NaN compares false and passes through.
    let tmax = k(b, ty, T_MAX);
    let big = b.ins().fcmp(FloatCC::GreaterThan, t, tmax);
    let t = pick(b, big, tmax, t);
    // e^{−t²/2} with the rounding error of t² folded back in.
    let s = b.ins().fmul(t, t);
    let ns = b.ins().fneg(s);
    let err = b.ins().fma(t, t, ns);
    let mhalf = k(b, ty, -0.5);
    let hs = b.ins().fmul(s, mhalf); // exact (a power of two)
    let g = exp(b, hs);
    let he = b.ins().fmul(err, mhalf);
    let gauss = b.ins().fma(g, he, g);
    // q = (t − 4)/(t + 4), refined with one Newton-like correction (exact residual by FMA).
    let four = k(b, ty, 4.0);
    let mfour = k(b, ty, -4.0);
    let one = k(b, ty, 1.0);
    let num = b.ins().fsub(t, four);
    let den = b.ins().fadd(t, four);
    let r = b.ins().fdiv(one, den);
    let q = b.ins().fmul(num, r);
    let q1 = b.ins().fadd(q, one);
    let tq = b.ins().fma(q1, mfour, t); // t − 4q − 4
    let nq = b.ins().fneg(q);
    let e = b.ins().fma(nq, t, tq); // (t − 4) − q(t + 4)
    let q = b.ins().fma(r, e, q);
    let mut p = k(b, ty, R_COEFFS[0]);
    for &c in &R_COEFFS[1..] {
        let cv = k(b, ty, c);
        p = b.ins().fma(p, q, cv);
    }
    let sq2 = k(b, ty, SQRT_2);
    let d = b.ins().fma(sq2, t, one);
    let ratio = b.ins().fdiv(p, d);
    let zero = k(b, ty, 0.0);
    let negative = b.ins().fcmp(FloatCC::LessThan, x, zero);
    NormalParts {
        ratio,
        gauss,
        negative,
    }
}

/// `gelu(x) = x·Φ(x)` for an f32 or f32x4 `x`. For `x < 0` it is `(x·ratio)·e^{−x²/2}`:
/// the possibly subnormal Gaussian factor is applied last, so a subnormal output is
/// rounded once instead of losing the bits `Φ` already lost to underflow.
pub(crate) fn gelu(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let ty = b.func.dfg.value_type(x);
    let parts = normal_parts(b, x);
    let xr = b.ins().fmul(x, parts.ratio);
    let low = b.ins().fmul(xr, parts.gauss);
    let tail = b.ins().fmul(parts.gauss, parts.ratio);
    let one = k(b, ty, 1.0);
    let upper = b.ins().fsub(one, tail);
    let high = b.ins().fmul(x, upper);
    pick(b, parts.negative, low, high)
}

/// `gelu'(x) = Φ(x) + x·φ(x)` for an f32 or f32x4 `x` (the factor the backward multiplies
/// `dy` by).
pub(crate) fn gelu_derivative(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let ty = b.func.dfg.value_type(x);
    let parts = normal_parts(b, x);
    let c = k(b, ty, FRAC_1_SQRT_2PI);
    let xc = b.ins().fmul(x, c);
    let cdf = parts.cdf(b);
    b.ins().fma(xc, parts.gauss, cdf)
}
