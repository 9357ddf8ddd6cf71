//! GELU, exact (erf) form — PyTorch's default `approximate='none'`.

use ndarray::{Array, ArrayView, Dimension};

use super::activation::zip_backward;
use super::erf::erfc;
use super::error::OpError;
use super::real::Real;

/// `1/sqrt(2*pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal CDF `Phi(x) = (1 + erf(x/sqrt 2))/2`, computed as `erfc(-x/sqrt 2)/2`
/// so that it keeps full relative accuracy for very negative `x`.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// `gelu(x) = x * Phi(x) = x/2 * (1 + erf(x/sqrt 2))` (evaluated in `f64`, rounded to `T`).
pub fn gelu_forward<T: Real, D: Dimension>(x: ArrayView<T, D>) -> Array<T, D> {
    x.mapv(|v| {
        let v = v.as_f64();
        T::of_f64(v * normal_cdf(v))
    })
}

/// `dx = dy * (Phi(x) + x * phi(x))` with `phi(x) = exp(-x^2/2)/sqrt(2 pi)` and `x` the forward input.
pub fn gelu_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    x: ArrayView<T, D>,
) -> Result<Array<T, D>, OpError> {
    zip_backward("gelu", &dy, &x, |g, v| {
        let v = v.as_f64();
        let d = normal_cdf(v) + v * FRAC_1_SQRT_2PI * (-0.5 * v * v).exp();
        g * T::of_f64(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix2;

    #[test]
    fn forward_matches_pytorch() {
        // torch.nn.functional.gelu(torch.tensor(xs, dtype=torch.float64)), torch 2.15.
        let xs = ndarray::array![-3.0f64, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0];
        let expected = [
            -0.00404969409489031,
            -0.15865525393145702,
            -0.15426876936299344,
            0.0,
            0.34573123063700656,
            0.841344746068543,
            2.99595030590511,
        ];
        for (g, e) in gelu_forward(xs.view()).iter().zip(expected) {
            // torch uses 1 + erf(x/sqrt 2), which cancels for negative x: allow 1e-12 relative.
            assert!((g - e).abs() <= 1e-12 * e.abs().max(1e-3), "{g} vs {e}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = random_array::<Ix2>(&[6, 7], 3) * 4.0;
        let dy = random_array::<Ix2>(&[6, 7], 4);
        let g = gelu_backward(dy.view(), x.view()).unwrap();
        let num = numeric_grad(&x, |x| (gelu_forward(x.view()) * &dy).sum());
        assert_grad_close(&g, &num, "gelu");
    }
}
