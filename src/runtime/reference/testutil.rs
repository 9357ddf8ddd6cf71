//! Test helpers: seeded random arrays and central finite differences in `f64`.

use ndarray::{Array, Dimension, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Step for central differences. With `f64` and O(1) values the truncation error
/// (~h^2) and the rounding error (~1e-16/h) are both ~1e-10, well under the tolerance.
const H: f64 = 1e-5;
/// Relative tolerance of the gradient checks.
const RTOL: f64 = 1e-6;
/// Absolute floor, for gradient entries that are (near) zero.
const ATOL: f64 = 1e-8;

/// An array of the given shape with entries uniform in `[-1, 1)`, from a seeded ChaCha8 stream.
pub fn random_array<D: Dimension>(shape: &[usize], seed: u64) -> Array<f64, D> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = shape.iter().product();
    let data: Vec<f64> = (0..len).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
    Array::from_shape_vec(IxDyn(shape), data)
        .unwrap()
        .into_dimensionality::<D>()
        .unwrap()
}

/// Like [`random_array`] but every entry has magnitude ≥ `min_abs`, to stay away from kinks
/// (relu at 0, |x| at 0) by more than the finite-difference step.
pub fn random_array_away_from_zero<D: Dimension>(
    shape: &[usize],
    seed: u64,
    min_abs: f64,
) -> Array<f64, D> {
    random_array::<D>(shape, seed).mapv(|v| {
        if v.abs() < min_abs {
            if v < 0.0 { v - min_abs } else { v + min_abs }
        } else {
            v
        }
    })
}

/// Central-difference gradient of the scalar function `f` at `x`.
pub fn numeric_grad<D: Dimension>(
    x: &Array<f64, D>,
    mut f: impl FnMut(&Array<f64, D>) -> f64,
) -> Array<f64, D> {
    let mut probe = x.as_standard_layout().into_owned();
    let mut grad = Array::zeros(x.raw_dim());
    let n = probe.len();
    for i in 0..n {
        let orig = probe.as_slice().unwrap()[i];
        probe.as_slice_mut().unwrap()[i] = orig + H;
        let up = f(&probe);
        probe.as_slice_mut().unwrap()[i] = orig - H;
        let down = f(&probe);
        probe.as_slice_mut().unwrap()[i] = orig;
        grad.as_slice_mut().unwrap()[i] = (up - down) / (2.0 * H);
    }
    grad
}

/// Asserts `|analytic - numeric| <= RTOL * max(|analytic|, |numeric|) + ATOL` element-wise.
pub fn assert_grad_close<D: Dimension>(
    analytic: &Array<f64, D>,
    numeric: &Array<f64, D>,
    what: &str,
) {
    assert_eq!(analytic.shape(), numeric.shape(), "{what}: shape");
    for (i, (a, n)) in analytic.iter().zip(numeric.iter()).enumerate() {
        let tol = RTOL * a.abs().max(n.abs()) + ATOL;
        assert!(
            (a - n).abs() <= tol,
            "{what}[{i}]: analytic {a} vs numeric {n} (diff {})",
            (a - n).abs()
        );
    }
}

/// Asserts two arrays are equal to within `tol` element-wise (absolute).
pub fn assert_all_close<D: Dimension>(a: &Array<f64, D>, b: &Array<f64, D>, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}
