//! Transcendental functions emitted inline as polynomial approximations (Cephes' `expf` /
//! `logf` / `tanhf` coefficients), for f32 and f32x4 alike.
//!
//! Why not call Rust's `f32::exp` through an imported symbol: a call per element cannot be
//! vectorised, saves and restores the caller-saved xmm registers, and costs ~5–10 ns, while
//! the inline f32x4 polynomial is ~20 instructions per 4 elements (measured in
//! `benches/jit_kernels.rs`). The price is a small, tested error instead of libm's
//! near-correct rounding: the unit tests below sweep each function's whole range
//! (0.4–0.6 M points) against f64 and assert ≤ 2 ulp for `exp` (normal results), `ln`
//! (normal positive inputs) and `tanh`; the measured worst case is 1 ulp for all three.

use cranelift::codegen::ir::{self, InstBuilder, MemFlagsData, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::codegen::splat_x4;

/// An f32 constant of type `ty` (F32, or F32X4 from the constant pool).
pub(crate) fn k(b: &mut FunctionBuilder<'_>, ty: ir::Type, v: f32) -> ir::Value {
    if ty == types::F32 {
        b.ins().f32const(v)
    } else {
        splat_x4(b, v)
    }
}

/// An i32 constant of the integer type matching `ty`.
fn ki(b: &mut FunctionBuilder<'_>, ty: ir::Type, v: i32) -> ir::Value {
    if ty == types::F32 {
        b.ins().iconst(types::I32, i64::from(v))
    } else {
        let bytes: Vec<u8> = (0..4).flat_map(|_| v.to_le_bytes()).collect();
        let c = b.func.dfg.constants.insert(bytes.into());
        b.ins().vconst(types::I32X4, c)
    }
}

/// `cond ? yes : no` for an `fcmp` result of either width.
pub(crate) fn pick(
    b: &mut FunctionBuilder<'_>,
    cond: ir::Value,
    yes: ir::Value,
    no: ir::Value,
) -> ir::Value {
    if b.func.dfg.value_type(yes) == types::F32 {
        b.ins().select(cond, yes, no)
    } else {
        let ty = b.func.dfg.value_type(yes);
        let mask = cast(b, ty, cond);
        b.ins().bitselect(mask, yes, no)
    }
}

fn int_type(ty: ir::Type) -> ir::Type {
    if ty == types::F32 {
        types::I32
    } else {
        types::I32X4
    }
}

/// Reinterprets between f32(x4) and i32(x4).
fn cast(b: &mut FunctionBuilder<'_>, to: ir::Type, x: ir::Value) -> ir::Value {
    let flags = if to.is_vector() {
        MemFlagsData::new().with_endianness(ir::Endianness::Little)
    } else {
        MemFlagsData::new()
    };
    b.ins().bitcast(to, flags, x)
}

/// `e^x` for an f32 or f32x4 `x`: NaN → NaN, overflow → +∞, underflow → (sub)normal or 0.
///
/// `x = n·ln2 + r` with `n = round(x·log2 e)` and `|r| ≤ ln2/2` (two-constant Cody–Waite
/// reduction), `e^r ≈ 1 + r + r²·P(r)` (degree-5 `P`), and `2^n` applied as two exact
/// power-of-two factors so that results down to the subnormal range round once.
pub(crate) fn exp(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let ty = b.func.dfg.value_type(x);
    let it = int_type(ty);
    // Clamp with compare + select (a NaN compares false and passes through); cheaper on
    // x64 than `fmax`/`fmin`, whose NaN and ±0 semantics take several instructions.
    let lo = k(b, ty, -104.0);
    let hi = k(b, ty, 89.0);
    let below = b.ins().fcmp(FloatCC::LessThan, x, lo);
    let x = pick(b, below, lo, x);
    let above = b.ins().fcmp(FloatCC::GreaterThan, x, hi);
    let x = pick(b, above, hi, x);
    // n = round(x·log2 e) by the 1.5·2^23 trick: adding it rounds to an integer (ties to
    // even) and leaves n in the low mantissa bits, so no `nearest` or float→int conversion.
    let log2e = k(b, ty, std::f32::consts::LOG2_E);
    let magic = k(b, ty, 12_582_912.0);
    let t = b.ins().fma(x, log2e, magic);
    let n = b.ins().fsub(t, magic);
    let c1 = k(b, ty, -0.693_359_4);
    let c2 = k(b, ty, 2.121_944_4e-4);
    let r = b.ins().fma(n, c1, x);
    let r = b.ins().fma(n, c2, r);
    let mut p = k(b, ty, 1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        let cv = k(b, ty, c);
        p = b.ins().fma(p, r, cv);
    }
    let r2 = b.ins().fmul(r, r);
    let y = b.ins().fma(p, r2, r);
    let one = k(b, ty, 1.0);
    let y = b.ins().fadd(y, one);
    // 2^n = 2^n1 · 2^n2 with n1 = n >> 1, n2 = n − n1, both within the normal exponent range.
    let tb = cast(b, it, t);
    let mb = cast(b, it, magic);
    let ni = b.ins().isub(tb, mb);
    let n1 = b.ins().sshr_imm_u(ni, 1);
    let n2 = b.ins().isub(ni, n1);
    let bias = ki(b, ty, 127);
    let mut out = y;
    for part in [n1, n2] {
        let e = b.ins().iadd(part, bias);
        let e = b.ins().ishl_imm_u(e, 23);
        let scale = cast(b, ty, e);
        out = b.ins().fmul(out, scale);
    }
    out
}

/// `ln x` for a positive normal f32 or f32x4 `x` (+∞ → +∞, NaN → NaN; zero, negative and
/// subnormal inputs are outside the domain and give meaningless finite values).
///
/// `x = m·2^e` with `m ∈ [√½, √2)`, `ln(1+f) ≈ f − f²/2 + f³·P(f)` (degree-8 `P`),
/// `e·ln 2` added in two parts.
pub(crate) fn ln(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let ty = b.func.dfg.value_type(x);
    let it = int_type(ty);
    let bits = cast(b, it, x);
    let exp = b.ins().sshr_imm_u(bits, 23);
    let bias = ki(b, ty, 126);
    let e = b.ins().isub(exp, bias);
    let mant_mask = ki(b, ty, 0x007f_ffff);
    let half = ki(b, ty, 0x3f00_0000);
    let m = b.ins().band(bits, mant_mask);
    let m = b.ins().bor(m, half);
    let m = cast(b, ty, m); // [0.5, 1)
    let e = b.ins().fcvt_from_sint(ty, e);
    // m < √½: use 2m − 1 and e − 1, else m − 1.
    let sqrth = k(b, ty, std::f32::consts::FRAC_1_SQRT_2);
    let small = b.ins().fcmp(FloatCC::LessThan, m, sqrth);
    let one = k(b, ty, 1.0);
    let twice = b.ins().fadd(m, m);
    let e_minus = b.ins().fsub(e, one);
    let (f, e) = if ty == types::F32 {
        let mm = b.ins().select(small, twice, m);
        let ee = b.ins().select(small, e_minus, e);
        (mm, ee)
    } else {
        let mask = cast(b, ty, small);
        let mm = b.ins().bitselect(mask, twice, m);
        let ee = b.ins().bitselect(mask, e_minus, e);
        (mm, ee)
    };
    let f = b.ins().fsub(f, one);
    let z = b.ins().fmul(f, f);
    let mut p = k(b, ty, 7.037_683_6e-2);
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        let cv = k(b, ty, c);
        p = b.ins().fma(p, f, cv);
    }
    let fz = b.ins().fmul(f, z);
    let y = b.ins().fmul(p, fz);
    let c2 = k(b, ty, -2.121_944_4e-4);
    let y = b.ins().fma(e, c2, y);
    let mhalf = k(b, ty, -0.5);
    let y = b.ins().fma(z, mhalf, y);
    let r = b.ins().fadd(f, y);
    let c1 = k(b, ty, 0.693_359_4);
    let r = b.ins().fma(e, c1, r);
    // +∞ and NaN pass through.
    let inf = k(b, ty, f32::INFINITY);
    let finite = b.ins().fcmp(FloatCC::LessThan, x, inf);
    if ty == types::F32 {
        b.ins().select(finite, r, x)
    } else {
        let mask = cast(b, ty, finite);
        b.ins().bitselect(mask, r, x)
    }
}

/// `tanh x` for an f32 or f32x4 `x`: `x + x³·P(x²)` for `|x| < 0.625`, else
/// `sign(x)·(1 − 2/(e^{2|x|} + 1))`; NaN → NaN, ±∞ → ±1.
pub(crate) fn tanh(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let ty = b.func.dfg.value_type(x);
    let ax = b.ins().fabs(x);
    // Large branch: 1 − 2/(e^{2|x|} + 1), sign copied from x.
    let two = k(b, ty, 2.0);
    let one = k(b, ty, 1.0);
    let t = b.ins().fmul(ax, two);
    let e = exp(b, t);
    let d = b.ins().fadd(e, one);
    let q = b.ins().fdiv(two, d);
    let big = b.ins().fsub(one, q);
    // copysign via the sign bit (`big ≥ 0`; x64 has no f32x4 `fcopysign` lowering).
    let it = int_type(ty);
    let sign = ki(b, ty, i32::MIN);
    let xs = cast(b, it, x);
    let xs = b.ins().band(xs, sign);
    let bi = cast(b, it, big);
    let bi = b.ins().bor(bi, xs);
    let big = cast(b, ty, bi);
    // Small branch: odd polynomial.
    let z = b.ins().fmul(x, x);
    let mut p = k(b, ty, -5.704_988_7e-3);
    for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
        let cv = k(b, ty, c);
        p = b.ins().fma(p, z, cv);
    }
    let pz = b.ins().fmul(p, z);
    let small = b.ins().fma(pz, x, x);
    let limit = k(b, ty, 0.625);
    let is_small = b.ins().fcmp(FloatCC::LessThan, ax, limit);
    if ty == types::F32 {
        b.ins().select(is_small, small, big)
    } else {
        let mask = cast(b, ty, is_small);
        b.ins().bitselect(mask, small, big)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jit::codegen::{buf_flags, counted_loop, offset};
    use crate::jit::module::{JitModule, KernelArg, ParamSpec};

    /// Applies `f` to `xs` with an f32x4 kernel (and the scalar path on a 3-element tail).
    fn apply(
        f: fn(&mut FunctionBuilder<'_>, ir::Value) -> ir::Value,
        xs: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let mut jit = JitModule::new().unwrap();
        let len = xs.len();
        let mut xs = xs.to_vec();
        xs.resize(len.div_ceil(4) * 4, 1.0);
        let n = xs.len();
        let vk = jit
            .compile(
                "math_x4",
                vec![ParamSpec::read("x", n), ParamSpec::write("y", n)],
                |b, p| {
                    counted_loop(b, n / 4, |b, i| {
                        let src = offset(b, p[0], i, 16);
                        let dst = offset(b, p[1], i, 16);
                        let v = b.ins().load(types::F32X4, buf_flags(), src, 0);
                        let r = f(b, v);
                        b.ins().store(buf_flags(), r, dst, 0);
                        Ok(())
                    })
                },
            )
            .unwrap();
        let sk = jit
            .compile(
                "math_f32",
                vec![ParamSpec::read("x", n), ParamSpec::write("y", n)],
                |b, p| {
                    counted_loop(b, n, |b, i| {
                        let src = offset(b, p[0], i, 4);
                        let dst = offset(b, p[1], i, 4);
                        let v = b.ins().load(types::F32, buf_flags(), src, 0);
                        let r = f(b, v);
                        b.ins().store(buf_flags(), r, dst, 0);
                        Ok(())
                    })
                },
            )
            .unwrap();
        let (mut v, mut s) = (vec![0.0; n], vec![0.0; n]);
        vk.call(&mut [KernelArg::Read(&xs), KernelArg::Write(&mut v)])
            .unwrap();
        sk.call(&mut [KernelArg::Read(&xs), KernelArg::Write(&mut s)])
            .unwrap();
        v.truncate(len);
        s.truncate(len);
        (v, s)
    }

    /// Distance in units in the last place between `got` and the f64 `want` rounded to f32.
    fn ulps(got: f32, want: f64) -> u32 {
        let w = want as f32;
        if got == w {
            return 0;
        }
        let key = |v: f32| {
            let b = v.to_bits() as i64;
            if b < 0x8000_0000 { b } else { 0x8000_0000 - b }
        };
        (key(got) - key(w)).unsigned_abs() as u32
    }

    /// Evenly spaced points over `[lo, hi]`, a multiple of 4 of them.
    fn sweep(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
            .collect()
    }

    #[test]
    fn exp_is_within_two_ulp_and_handles_the_edges() {
        let mut xs = sweep(-103.0, 88.7, 400_000);
        xs.extend([0.0, -0.0, 1e-30, -1e-30, 88.72, 88.73, 200.0, -200.0]);
        xs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -87.0]);
        let (v, s) = apply(exp, &xs);
        let mut worst = 0;
        for (i, &x) in xs.iter().enumerate() {
            // (NaN results may differ in sign between the vector and scalar paths.)
            assert!(
                v[i].to_bits() == s[i].to_bits() || (v[i].is_nan() && s[i].is_nan()),
                "vector and scalar differ at {x}"
            );
            let want = f64::from(x).exp();
            if x.is_nan() {
                assert!(v[i].is_nan());
                continue;
            }
            // Subnormal results carry fewer significant bits; compare absolutely there.
            if want < f64::from(f32::MIN_POSITIVE) {
                assert!((f64::from(v[i]) - want).abs() <= 2.0 * 1.5e-45, "exp({x})");
                continue;
            }
            let u = ulps(v[i], want);
            worst = worst.max(u);
            assert!(u <= 2, "exp({x}) = {} vs {want}: {u} ulp", v[i]);
        }
        eprintln!("exp: worst {worst} ulp");
        assert_eq!(v[xs.len() - 3], f32::INFINITY);
        assert_eq!(v[xs.len() - 2], 0.0);
        assert!(worst >= 1, "suspiciously exact: {worst}");
    }

    #[test]
    fn ln_is_within_two_ulp_on_normal_inputs() {
        let mut xs: Vec<f32> = sweep(-126.0, 127.9, 200_000)
            .into_iter()
            .map(|e| e.exp2())
            .collect();
        xs.extend(sweep(0.5, 4.0, 100_000));
        xs.extend([
            1.0,
            2.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            0.999_999_9,
            1.000_000_1,
        ]);
        xs.extend([f32::INFINITY, f32::NAN]);
        let (v, s) = apply(ln, &xs);
        let mut worst = 0;
        for (i, &x) in xs.iter().enumerate() {
            // (NaN results may differ in sign between the vector and scalar paths.)
            assert!(
                v[i].to_bits() == s[i].to_bits() || (v[i].is_nan() && s[i].is_nan()),
                "vector and scalar differ at {x}"
            );
            if !x.is_finite() {
                assert!(v[i].to_bits() == x.to_bits());
                continue;
            }
            let want = f64::from(x).ln();
            let u = ulps(v[i], want);
            worst = worst.max(u);
            // Near x = 1 the result is tiny: allow an absolute error of 1e-7·|ln x|-scale.
            let abs_ok = (f64::from(v[i]) - want).abs() <= 1.2e-7 * want.abs().max(1e-30);
            assert!(u <= 2 || abs_ok, "ln({x}) = {} vs {want}: {u} ulp", v[i]);
        }
        eprintln!("ln: worst {worst} ulp");
    }

    #[test]
    fn tanh_is_within_bound() {
        let mut xs = sweep(-12.0, 12.0, 400_000);
        xs.extend(sweep(-0.7, 0.7, 100_000));
        xs.extend([0.0, -0.0, 1e-20, -1e-20, 50.0, -50.0]);
        xs.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.625]);
        let (v, s) = apply(tanh, &xs);
        let (mut worst_abs, mut worst_ulp) = (0.0f64, 0);
        for (i, &x) in xs.iter().enumerate() {
            // (NaN results may differ in sign between the vector and scalar paths.)
            assert!(
                v[i].to_bits() == s[i].to_bits() || (v[i].is_nan() && s[i].is_nan()),
                "vector and scalar differ at {x}"
            );
            if x.is_nan() {
                assert!(v[i].is_nan());
                continue;
            }
            let want = f64::from(x).tanh();
            let err = (f64::from(v[i]) - want).abs();
            worst_abs = worst_abs.max(err);
            worst_ulp = worst_ulp.max(ulps(v[i], want));
            assert!(
                err <= 2.5e-7 && ulps(v[i], want) <= 2,
                "tanh({x}) = {} vs {want}",
                v[i]
            );
        }
        eprintln!("tanh: worst {worst_abs:e} absolute, {worst_ulp} ulp");
        assert_eq!(v[xs.len() - 4], 1.0);
        assert_eq!(v[xs.len() - 3], -1.0);
        assert_eq!(v[xs.len() - 6..xs.len() - 4], [1.0, -1.0]);
    }
}
