//! The JIT GEMM against a plain f64 triple loop, on many shapes (odd sizes exercise the
//! padding of every tile edge) and every layout. Tolerance: |err| ≤ 1e-5·K·max|a|·max|b|
//! (f32 accumulation of K products, fused multiply-adds).

use ammc::jit::gemm::Gemm;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for kk in 0..k {
                let av = if ta { a[kk * m + i] } else { a[i * k + kk] };
                let bv = if tb { b[j * k + kk] } else { b[kk * n + j] };
                s += f64::from(av) * f64::from(bv);
            }
            c[i * n + j] = s;
        }
    }
    c
}

fn check(m: usize, k: usize, n: usize, ta: bool, tb: bool, rng: &mut ChaCha8Rng) {
    let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut g = Gemm::new(m, k, n, ta, tb).unwrap();
    let want = reference(&a, &b, m, k, n, ta, tb);
    let tol = 1e-5 * k as f64;
    let mut c = vec![0f32; m * n];
    g.run(&a, &b, &mut c, false).unwrap();
    for (i, (got, w)) in c.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*got) - w).abs() <= tol,
            "{m}x{k}x{n} ta={ta} tb={tb} [{i}]: {got} vs {w}"
        );
    }
    // Accumulating adds to what is there.
    let mut c2 = vec![1f32; m * n];
    g.run(&a, &b, &mut c2, true).unwrap();
    for (got, w) in c2.iter().zip(&want) {
        assert!((f64::from(*got) - (w + 1.0)).abs() <= tol + 1e-6);
    }
}

#[test]
fn random_shapes_and_layouts() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..60 {
        let (m, k, n) = (
            rng.random_range(1..40),
            rng.random_range(1..40),
            rng.random_range(1..40),
        );
        let (ta, tb) = (rng.random(), rng.random());
        check(m, k, n, ta, tb, &mut rng);
    }
}

#[test]
fn training_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for (m, k, n) in [
        (64, 400, 120),
        (128, 300, 7),
        (1, 1, 1),
        (4, 8, 8),
        (5, 9, 17),
        (32, 64, 128),
    ] {
        for (ta, tb) in [(false, false), (false, true), (true, false)] {
            check(m, k, n, ta, tb, &mut rng);
        }
    }
}

#[test]
fn wrong_lengths_are_errors() {
    let mut g = Gemm::new(3, 4, 5, false, false).unwrap();
    let mut c = vec![0f32; 15];
    assert!(g.run(&[0.0; 11], &[0.0; 20], &mut c, false).is_err());
    assert!(g.run(&[0.0; 12], &[0.0; 20], &mut c[..14], false).is_err());
    assert!(Gemm::new(0, 4, 5, false, false).is_err());
}
