//! Element-wise activations: relu, leaky_relu, sigmoid, tanh (gelu and softmax have own files).
//!
//! All are generic over the array dimension; backward passes take the upstream gradient and
//! whichever of the forward's input `x` or output `y` makes the derivative simplest.

use ndarray::{Array, ArrayView, Dimension, Zip};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;

/// PyTorch's default negative slope of `leaky_relu`.
pub const LEAKY_RELU_DEFAULT_SLOPE: f64 = 0.01;

/// `dx = f(dy, s)` element-wise after checking that `saved` has `dy`'s shape.
pub(crate) fn zip_backward<T: Real, D: Dimension>(
    op: &'static str,
    dy: &ArrayView<T, D>,
    saved: &ArrayView<T, D>,
    f: impl Fn(T, T) -> T,
) -> Result<Array<T, D>, OpError> {
    same_shape(op, "upstream gradient", dy.shape(), saved.shape())?;
    Ok(Zip::from(dy).and(saved).map_collect(|&g, &s| f(g, s)))
}

/// `relu(x) = max(x, 0)`.
pub fn relu_forward<T: Real, D: Dimension>(x: ArrayView<T, D>) -> Array<T, D> {
    x.mapv(|v| if v > T::zero() { v } else { T::zero() })
}

/// `dx = dy` where `x > 0`, else 0 (the derivative at exactly 0 is taken as 0, like PyTorch).
pub fn relu_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    x: ArrayView<T, D>,
) -> Result<Array<T, D>, OpError> {
    zip_backward(
        "relu",
        &dy,
        &x,
        |g, v| if v > T::zero() { g } else { T::zero() },
    )
}

/// `leaky_relu(x) = x` if `x > 0`, else `slope * x` (PyTorch default slope 0.01,
/// [`LEAKY_RELU_DEFAULT_SLOPE`]).
pub fn leaky_relu_forward<T: Real, D: Dimension>(x: ArrayView<T, D>, slope: f64) -> Array<T, D> {
    let s = T::of_f64(slope);
    x.mapv(|v| if v > T::zero() { v } else { v * s })
}

/// `dx = dy` where `x > 0`, else `slope * dy` (at exactly 0 the slope side is taken, like PyTorch).
pub fn leaky_relu_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    x: ArrayView<T, D>,
    slope: f64,
) -> Result<Array<T, D>, OpError> {
    let s = T::of_f64(slope);
    zip_backward(
        "leaky_relu",
        &dy,
        &x,
        |g, v| if v > T::zero() { g } else { g * s },
    )
}

/// `sigmoid(x) = 1 / (1 + exp(-x))`, evaluated as `exp(x) / (1 + exp(x))` for negative `x`
/// so that neither branch overflows.
pub fn sigmoid_forward<T: Real, D: Dimension>(x: ArrayView<T, D>) -> Array<T, D> {
    x.mapv(|v| {
        if v >= T::zero() {
            T::one() / (T::one() + (-v).exp())
        } else {
            let e = v.exp();
            e / (T::one() + e)
        }
    })
}

/// `dx = dy * y * (1 - y)` with `y` the forward output.
pub fn sigmoid_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    y: ArrayView<T, D>,
) -> Result<Array<T, D>, OpError> {
    zip_backward("sigmoid", &dy, &y, |g, s| g * s * (T::one() - s))
}

/// `tanh(x)`.
pub fn tanh_forward<T: Real, D: Dimension>(x: ArrayView<T, D>) -> Array<T, D> {
    x.mapv(|v| v.tanh())
}

/// `dx = dy * (1 - y^2)` with `y` the forward output.
pub fn tanh_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    y: ArrayView<T, D>,
) -> Result<Array<T, D>, OpError> {
    zip_backward("tanh", &dy, &y, |g, t| g * (T::one() - t * t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{
        assert_grad_close, numeric_grad, random_array, random_array_away_from_zero,
    };
    use ndarray::{Ix2, Ix3};

    #[test]
    fn forward_values() {
        let x = ndarray::array![-2.0f64, 0.0, 3.0];
        assert_eq!(relu_forward(x.view()), ndarray::array![0.0, 0.0, 3.0]);
        assert_eq!(
            leaky_relu_forward(x.view(), LEAKY_RELU_DEFAULT_SLOPE),
            ndarray::array![-0.02, 0.0, 3.0]
        );
        let s = sigmoid_forward(ndarray::array![0.0f64, 1000.0, -1000.0, 2.0].view());
        assert_eq!(s[0], 0.5);
        assert_eq!(s[1], 1.0);
        assert_eq!(s[2], 0.0);
        assert!((s[3] - 0.8807970779778823).abs() < 1e-15);
        assert!(
            (tanh_forward(ndarray::array![0.5f64].view())[0] - 0.46211715726000974).abs() < 1e-15
        );
    }

    #[test]
    fn derivative_at_zero_follows_pytorch() {
        let x = ndarray::array![0.0f64];
        let dy = ndarray::array![1.0f64];
        assert_eq!(relu_backward(dy.view(), x.view()).unwrap()[0], 0.0);
        assert_eq!(
            leaky_relu_backward(dy.view(), x.view(), 0.2).unwrap()[0],
            0.2
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Inputs at least 1e-3 away from the kinks of relu / leaky_relu at 0.
        let x = random_array_away_from_zero::<Ix3>(&[3, 4, 5], 1, 1e-3) * 3.0;
        let dy = random_array::<Ix3>(&[3, 4, 5], 2);
        let loss = |y: Array<f64, Ix3>| (y * &dy).sum();
        let g = relu_backward(dy.view(), x.view()).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| loss(relu_forward(x.view()))),
            "relu",
        );
        let g = leaky_relu_backward(dy.view(), x.view(), 0.07).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| loss(leaky_relu_forward(x.view(), 0.07))),
            "leaky_relu",
        );
        let y = sigmoid_forward(x.view());
        let g = sigmoid_backward(dy.view(), y.view()).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| loss(sigmoid_forward(x.view()))),
            "sigmoid",
        );
        let y = tanh_forward(x.view());
        let g = tanh_backward(dy.view(), y.view()).unwrap();
        assert_grad_close(
            &g,
            &numeric_grad(&x, |x| loss(tanh_forward(x.view()))),
            "tanh",
        );
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = random_array::<Ix2>(&[2, 3], 1);
        let b = random_array::<Ix2>(&[3, 2], 1);
        assert!(relu_backward(a.view(), b.view()).is_err());
        assert!(tanh_backward(a.view(), b.view()).is_err());
    }
}
