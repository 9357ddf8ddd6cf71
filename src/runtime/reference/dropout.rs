//! Inverted dropout with an explicit, precomputed keep-mask.
//!
//! The mask is an input rather than hidden state so that the forward pass, the backward pass
//! and any checker (the JIT) see exactly the same dropped units. [`dropout_mask`] draws it
//! from a ChaCha8 stream, so a seed fixes it bit for bit.

use ndarray::{Array, ArrayD, ArrayView, Dimension, IxDyn, Zip};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::check::{in_range, same_shape};
use super::error::OpError;
use super::real::Real;

const OP: &str = "dropout";

fn check_rate(rate: f64) -> Result<(), OpError> {
    in_range(OP, "rate", rate, 0.0, 1.0, true, "must be in [0, 1]")
}

/// Keep-scale `1/(1-rate)` applied to surviving units (0 when `rate == 1`, where all are dropped).
fn keep_scale(rate: f64) -> f64 {
    if rate >= 1.0 { 0.0 } else { 1.0 / (1.0 - rate) }
}

/// Draws a keep-mask of the given shape: element `i` (row-major order) is kept
/// (`true`) iff the `i`-th `f64` drawn uniformly from `[0, 1)` is `>= rate`,
/// so each unit is kept with probability `1 - rate`.
pub fn dropout_mask(
    shape: &[usize],
    rate: f64,
    rng: &mut ChaCha8Rng,
) -> Result<ArrayD<bool>, OpError> {
    check_rate(rate)?;
    Ok(ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        rng.random::<f64>() >= rate
    }))
}

/// Forward pass (training mode): `y = x * mask / (1 - rate)`; dropped units are 0.
/// With `rate == 1` everything is dropped and `y = 0`. In eval mode dropout is the identity
/// and this function is not called.
pub fn dropout_forward<T: Real, D: Dimension>(
    x: ArrayView<T, D>,
    mask: ArrayView<bool, D>,
    rate: f64,
) -> Result<Array<T, D>, OpError> {
    check_rate(rate)?;
    same_shape(OP, "mask", mask.shape(), x.shape())?;
    let scale = T::of_f64(keep_scale(rate));
    Ok(Zip::from(&x)
        .and(&mask)
        .map_collect(|&v, &keep| if keep { v * scale } else { T::zero() }))
}

/// Backward pass: `dx = dy * mask / (1 - rate)` (the same linear map as the forward).
pub fn dropout_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    mask: ArrayView<bool, D>,
    rate: f64,
) -> Result<Array<T, D>, OpError> {
    dropout_forward(dy, mask, rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix2;
    use rand::SeedableRng;

    #[test]
    fn mask_is_deterministic_and_has_the_right_rate() {
        let a = dropout_mask(&[100, 100], 0.3, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
        let b = dropout_mask(&[100, 100], 0.3, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
        let c = dropout_mask(&[100, 100], 0.3, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let kept = a.iter().filter(|&&k| k).count() as f64 / 10_000.0;
        assert!((kept - 0.7).abs() < 0.02, "kept fraction {kept}");
        assert!(
            dropout_mask(&[3], 0.0, &mut ChaCha8Rng::seed_from_u64(1))
                .unwrap()
                .iter()
                .all(|&k| k)
        );
        assert!(
            dropout_mask(&[3], 1.0, &mut ChaCha8Rng::seed_from_u64(1))
                .unwrap()
                .iter()
                .all(|&k| !k)
        );
    }

    #[test]
    fn forward_scales_survivors() {
        let x = ndarray::array![[1.0f64, 2.0], [3.0, 4.0]];
        let mask = ndarray::array![[true, false], [false, true]];
        let y = dropout_forward(x.view(), mask.view(), 0.5).unwrap();
        assert_eq!(y, ndarray::array![[2.0, 0.0], [0.0, 8.0]]);
        let y = dropout_forward(x.view(), mask.view(), 1.0).unwrap();
        assert!(y.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = random_array::<Ix2>(&[5, 7], 1);
        let dy = random_array::<Ix2>(&[5, 7], 2);
        let mask = dropout_mask(&[5, 7], 0.4, &mut ChaCha8Rng::seed_from_u64(3))
            .unwrap()
            .into_dimensionality::<Ix2>()
            .unwrap();
        let dx = dropout_backward(dy.view(), mask.view(), 0.4).unwrap();
        let num = numeric_grad(&x, |x| {
            (dropout_forward(x.view(), mask.view(), 0.4).unwrap() * &dy).sum()
        });
        assert_grad_close(&dx, &num, "dropout dx");
    }

    #[test]
    fn bad_rate_and_mask_are_errors() {
        let x = ndarray::Array2::<f32>::zeros((2, 2));
        let mask = ndarray::Array2::from_elem((2, 2), true);
        assert!(dropout_forward(x.view(), mask.view(), 1.5).is_err());
        assert!(dropout_forward(x.view(), mask.view(), -0.1).is_err());
        assert!(dropout_forward(x.view(), mask.view(), f64::NAN).is_err());
        let mask = ndarray::Array2::from_elem((2, 3), true);
        assert!(dropout_forward(x.view(), mask.view(), 0.5).is_err());
        assert!(dropout_mask(&[2], 2.0, &mut ChaCha8Rng::seed_from_u64(1)).is_err());
    }
}
