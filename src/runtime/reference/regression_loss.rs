//! Regression losses: mean squared error and mean absolute error, mean over all elements.

use ndarray::{Array, ArrayView, Dimension, Zip};

use super::check::{non_empty, same_shape};
use super::error::OpError;
use super::real::Real;

fn check<T, D: Dimension>(
    op: &'static str,
    pred: &ArrayView<T, D>,
    target: &ArrayView<T, D>,
) -> Result<(), OpError> {
    same_shape(op, "target", target.shape(), pred.shape())?;
    non_empty(op, "prediction", pred.len())
}

/// `mse = (1/n) sum (pred - target)^2` over all `n` elements.
pub fn mse_forward<T: Real, D: Dimension>(
    pred: ArrayView<T, D>,
    target: ArrayView<T, D>,
) -> Result<T, OpError> {
    check("mse", &pred, &target)?;
    let sum = Zip::from(&pred)
        .and(&target)
        .fold(T::zero(), |acc, &p, &t| acc + (p - t) * (p - t));
    Ok(sum / T::of_f64(pred.len() as f64))
}

/// `dpred = upstream * 2 (pred - target) / n`.
pub fn mse_backward<T: Real, D: Dimension>(
    pred: ArrayView<T, D>,
    target: ArrayView<T, D>,
    upstream: T,
) -> Result<Array<T, D>, OpError> {
    check("mse", &pred, &target)?;
    let scale = upstream * T::of_f64(2.0 / pred.len() as f64);
    Ok(Zip::from(&pred)
        .and(&target)
        .map_collect(|&p, &t| (p - t) * scale))
}

/// `mae = (1/n) sum |pred - target|` over all `n` elements (PyTorch's `l1_loss`).
pub fn mae_forward<T: Real, D: Dimension>(
    pred: ArrayView<T, D>,
    target: ArrayView<T, D>,
) -> Result<T, OpError> {
    check("mae", &pred, &target)?;
    let sum = Zip::from(&pred)
        .and(&target)
        .fold(T::zero(), |acc, &p, &t| acc + (p - t).abs());
    Ok(sum / T::of_f64(pred.len() as f64))
}

/// `dpred = upstream * sign(pred - target) / n`, with `sign(0) = 0` (like PyTorch).
pub fn mae_backward<T: Real, D: Dimension>(
    pred: ArrayView<T, D>,
    target: ArrayView<T, D>,
    upstream: T,
) -> Result<Array<T, D>, OpError> {
    check("mae", &pred, &target)?;
    let scale = upstream / T::of_f64(pred.len() as f64);
    Ok(Zip::from(&pred).and(&target).map_collect(|&p, &t| {
        let d = p - t;
        let sign = if d > T::zero() {
            T::one()
        } else if d < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        sign * scale
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix2;

    #[test]
    fn forward_values() {
        let p = ndarray::array![[1.0f64, 2.0], [3.0, 4.0]];
        let t = ndarray::array![[0.0f64, 2.0], [5.0, 3.5]];
        assert_eq!(
            mse_forward(p.view(), t.view()).unwrap(),
            (1.0 + 0.0 + 4.0 + 0.25) / 4.0
        );
        assert_eq!(
            mae_forward(p.view(), t.view()).unwrap(),
            (1.0 + 0.0 + 2.0 + 0.5) / 4.0
        );
        let g = mae_backward(p.view(), t.view(), 1.0).unwrap();
        assert_eq!(g, ndarray::array![[0.25, 0.0], [-0.25, 0.25]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let p = random_array::<Ix2>(&[5, 3], 1);
        let t = random_array::<Ix2>(&[5, 3], 2);
        let g = mse_backward(p.view(), t.view(), 0.7).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&p, |p| 0.7 * mse_forward(p.view(), t.view()).unwrap()),
            "mse",
        );
        // Random p and t differ by far more than the step, so |p - t| is smooth where probed.
        let g = mae_backward(p.view(), t.view(), 0.7).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&p, |p| 0.7 * mae_forward(p.view(), t.view()).unwrap()),
            "mae",
        );
    }

    #[test]
    fn mismatch_and_empty_are_errors() {
        let p = ndarray::Array2::<f32>::zeros((2, 2));
        let t = ndarray::Array2::<f32>::zeros((2, 1));
        assert!(mse_forward(p.view(), t.view()).is_err());
        assert!(mae_backward(p.view(), t.view(), 1.0).is_err());
        let e = ndarray::Array2::<f32>::zeros((0, 2));
        assert!(matches!(
            mse_forward(e.view(), e.view()),
            Err(OpError::Empty { .. })
        ));
    }
}
