//! The generated GELU (exact erf form) against the reference `gelu_forward`/`gelu_backward`,
//! which evaluate `x·Φ(x)` and `Φ(x) + x·φ(x)` in f64 and round to f32.
//!
//! Tolerances (measured worst cases are printed with `--nocapture`):
//! * forward: ≤ 4 ulp of the reference output, or ≤ 4 subnormal steps (4·2^-149) where the
//!   output is subnormal (`x ≲ −13.2`);
//! * backward: `|dx − dx_ref| ≤ |dy|·(4 ulp of |d| + 6e-8)` with `d = gelu'(x)`: the
//!   derivative crosses 0 at `x ≈ −0.7518` (GELU's minimum), where `Φ(x)` and `x·φ(x)`
//!   cancel and only an absolute bound on `d` (one ulp of the terms' scale) is meaningful.

use ammc::jit::JitModule;
use ammc::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use ammc::runtime::reference::{gelu_backward, gelu_forward};
use ndarray::ArrayView1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn compile(jit: &mut JitModule, spec: ElementwiseSpec) -> ElementwiseKernel {
    ElementwiseKernel::compile(jit, spec).unwrap()
}

/// Distance in ulp between two finite f32 of any sign.
fn ulps(a: f32, b: f32) -> u64 {
    let key = |v: f32| {
        let bits = i64::from(v.to_bits());
        if bits < 0x8000_0000 {
            bits
        } else {
            0x8000_0000 - bits
        }
    };
    (key(a) - key(b)).unsigned_abs()
}

/// One ulp of `|v|` (for normal and subnormal `v`).
fn ulp_of(v: f32) -> f64 {
    let a = v.abs();
    let next = f32::from_bits(a.to_bits() + 1);
    f64::from(next) - f64::from(a)
}

/// Dense sweeps over the interesting range plus random points and the special values.
fn inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (0..200_001)
        .map(|i| -16.0 + 24.0 * i as f32 / 200_000.0)
        .collect();
    // Fine sweep around 0 and the derivative's zero.
    xs.extend((0..40_001).map(|i| -1.5 + 3.0 * i as f32 / 40_000.0));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    xs.extend((0..20_000).map(|_| rng.random_range(-20.0f32..20.0)));
    xs.extend((0..2_000).map(|_| rng.random_range(-1e-3f32..1e-3)));
    xs.extend([
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        1e-40,
        -1e-40,
        f32::MIN_POSITIVE,
        -0.751_791_5,
        5.5,
        -5.5,
        13.2,
        -13.2,
        14.9,
        -14.9,
        15.0,
        -15.0,
        30.0,
        -30.0,
        1e30,
        -1e30,
        f32::MAX,
        f32::MIN,
    ]);
    xs
}

#[test]
fn forward_is_within_four_ulp_of_the_reference() {
    let xs = inputs();
    let mut jit = JitModule::new().unwrap();
    let k = compile(&mut jit, ElementwiseSpec::Gelu { len: xs.len() });
    let mut y = vec![0.0; xs.len()];
    k.run(&[&xs], &mut y).unwrap();
    let want = gelu_forward(ArrayView1::from(&xs));
    let (mut worst, mut worst_sub) = (0u64, 0.0f64);
    for (i, (&g, &w)) in y.iter().zip(want.iter()).enumerate() {
        let x = xs[i];
        assert!(w.is_finite(), "reference gelu({x}) = {w}");
        if w.abs() < f32::MIN_POSITIVE {
            let err = (f64::from(g) - f64::from(w)).abs();
            worst_sub = worst_sub.max(err);
            assert!(
                err <= 4.0 * 1.401e-45,
                "gelu({x}) = {g:e} vs {w:e} (subnormal)"
            );
            continue;
        }
        let u = ulps(g, w);
        worst = worst.max(u);
        assert!(u <= 4, "gelu({x}) = {g:e} vs reference {w:e}: {u} ulp");
    }
    eprintln!("gelu forward: worst {worst} ulp (normal), {worst_sub:e} absolute (subnormal)");
    assert!(worst >= 1, "suspiciously exact");
}

#[test]
fn backward_is_within_tolerance_of_the_reference() {
    let xs = inputs();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let dy: Vec<f32> = xs
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i % 3 == 0 {
                1.0
            } else {
                rng.random_range(-2.0f32..2.0)
            }
        })
        .collect();
    let mut jit = JitModule::new().unwrap();
    let k = compile(&mut jit, ElementwiseSpec::GeluBackward { len: xs.len() });
    let mut dx = vec![0.0; xs.len()];
    k.run(&[&xs, &dy], &mut dx).unwrap();
    let want = gelu_backward(ArrayView1::from(&dy), ArrayView1::from(&xs)).unwrap();
    let (mut worst_ulp, mut worst_abs) = (0u64, 0.0f64);
    for (i, (&g, &w)) in dx.iter().zip(want.iter()).enumerate() {
        let (x, gy) = (xs[i], dy[i]);
        assert!(w.is_finite(), "reference gelu'({x})");
        // d = dx/dy as the reference rounded it (exact for dy = 1).
        let d = w / gy;
        let err = (f64::from(g) - f64::from(w)).abs();
        let bound = f64::from(gy.abs()) * (4.0 * ulp_of(d) + 6e-8) + ulp_of(w);
        assert!(
            err <= bound,
            "gelu'({x})·{gy} = {g:e} vs {w:e} (err {err:e} > {bound:e})"
        );
        if gy == 1.0 {
            if d.abs() > 1e-3 {
                worst_ulp = worst_ulp.max(ulps(g, w));
            } else {
                worst_abs = worst_abs.max(err);
            }
        }
    }
    eprintln!(
        "gelu backward (dy = 1): worst {worst_ulp} ulp where |d| > 1e-3, {worst_abs:e} absolute below"
    );
}

#[test]
fn special_values_follow_the_reference() {
    let xs = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0];
    let mut jit = JitModule::new().unwrap();
    let f = compile(&mut jit, ElementwiseSpec::Gelu { len: xs.len() });
    let bk = compile(&mut jit, ElementwiseSpec::GeluBackward { len: xs.len() });
    let mut y = vec![0.0; xs.len()];
    f.run(&[&xs], &mut y).unwrap();
    let want = gelu_forward(ArrayView1::from(&xs[..]));
    for (i, (&g, &w)) in y.iter().zip(want.iter()).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "gelu({}) = {g} vs {w}",
            xs[i]
        );
    }
    assert_eq!(y[0], f32::INFINITY);
    assert!(y[1].is_nan() && y[2].is_nan());
    let dy = [1.0f32; 5];
    let mut dx = vec![0.0; xs.len()];
    bk.run(&[&xs, &dy], &mut dx).unwrap();
    let want = gelu_backward(ArrayView1::from(&dy[..]), ArrayView1::from(&xs[..])).unwrap();
    for (i, (&g, &w)) in dx.iter().zip(want.iter()).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "gelu'({}) = {g} vs {w}",
            xs[i]
        );
    }
    assert_eq!(dx[3], 0.5);
}

#[test]
fn lengths_with_tails_and_chunks_agree() {
    // Every length 1..=41 (all tail sizes), and a buffer run whole vs in two chunks.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut jit = JitModule::new().unwrap();
    for len in 1..=41 {
        let xs: Vec<f32> = (0..len).map(|_| rng.random_range(-6.0f32..6.0)).collect();
        let dy: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let f = compile(&mut jit, ElementwiseSpec::Gelu { len });
        let bk = compile(&mut jit, ElementwiseSpec::GeluBackward { len });
        let (mut y, mut dx) = (vec![0.0; len], vec![0.0; len]);
        f.run(&[&xs], &mut y).unwrap();
        bk.run(&[&xs, &dy], &mut dx).unwrap();
        let want_y = gelu_forward(ArrayView1::from(&xs));
        for (g, w) in y.iter().zip(want_y.iter()) {
            assert!(ulps(*g, *w) <= 4, "len {len}: {g} vs {w}");
        }
        // Chunk invariance: the scalar tail and the vector body give the same bits, so
        // splitting at any point reproduces the whole-buffer result.
        let cut = len / 3;
        if cut > 0 {
            let f1 = compile(&mut jit, ElementwiseSpec::Gelu { len: cut });
            let f2 = compile(&mut jit, ElementwiseSpec::Gelu { len: len - cut });
            let b1 = compile(&mut jit, ElementwiseSpec::GeluBackward { len: cut });
            let b2 = compile(&mut jit, ElementwiseSpec::GeluBackward { len: len - cut });
            let (mut y2, mut dx2) = (vec![0.0; len], vec![0.0; len]);
            let (ya, yb) = y2.split_at_mut(cut);
            f1.run(&[&xs[..cut]], ya).unwrap();
            f2.run(&[&xs[cut..]], yb).unwrap();
            let (da, db) = dx2.split_at_mut(cut);
            b1.run(&[&xs[..cut], &dy[..cut]], da).unwrap();
            b2.run(&[&xs[cut..], &dy[cut..]], db).unwrap();
            assert_eq!(
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                y2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "len {len}"
            );
            assert_eq!(
                dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                dx2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "len {len}"
            );
        }
    }
}

#[test]
fn bad_lengths_are_errors() {
    let mut jit = JitModule::new().unwrap();
    assert!(ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Gelu { len: 0 }).is_err());
    assert!(
        ElementwiseKernel::compile(&mut jit, ElementwiseSpec::GeluBackward { len: 0 }).is_err()
    );
    assert!(ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Gelu { len: 1 << 29 }).is_err());
    let f = compile(&mut jit, ElementwiseSpec::Gelu { len: 8 });
    let bk = compile(&mut jit, ElementwiseSpec::GeluBackward { len: 8 });
    let x = vec![0.5f32; 8];
    let mut y = vec![0.0f32; 8];
    assert!(f.run(&[&x[..7]], &mut y).is_err());
    assert!(f.run(&[&x], &mut y[..7]).is_err());
    assert!(f.run(&[&x, &x], &mut y).is_err());
    assert!(bk.run(&[&x], &mut y).is_err());
    assert!(bk.run(&[&x, &x[..5]], &mut y).is_err());
    assert!(bk.run(&[&x, &x], &mut y).is_ok());
}
