//! Parameter initialisation matching PyTorch's defaults for `Linear`, `Conv2d` and `BatchNorm`.
//!
//! PyTorch initialises weights with `kaiming_uniform_(a = sqrt(5))`: gain `sqrt(2/(1+a^2)) =
//! sqrt(1/3)`, bound `gain * sqrt(3/fan_in) = 1/sqrt(fan_in)`; and biases with
//! `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`. So both are `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
//! `fan_in = in_features` (dense) or `in_channels * kh * kw` (conv). The *distribution* matches
//! PyTorch; the values do not (different random generator).
//!
//! Sampling order (fixed, so a seed fixes the values bit for bit): all weights in row-major
//! order, then all biases; each value is `bound * (2u - 1)` with `u` the next `f64` uniform in
//! `[0, 1)` of the ChaCha8 stream, computed in `f64` and rounded to `T`.

use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::error::OpError;
use super::geometry::Hw;
use super::real::Real;

/// Weight and bias of a dense layer.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseParams<T> {
    /// `[out, in]`.
    pub w: Array2<T>,
    /// `[out]`.
    pub b: Array1<T>,
}

/// Weight and bias of a convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2dParams<T> {
    /// `[O, C, kh, kw]`.
    pub w: Array4<T>,
    /// `[O]`.
    pub b: Array1<T>,
}

/// Affine parameters of a batch-norm layer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormParams<T> {
    /// Scale, initialised to 1.
    pub gamma: Array1<T>,
    /// Shift, initialised to 0.
    pub beta: Array1<T>,
}

/// An array of `shape` with entries `U(-bound, bound)` drawn in row-major order.
pub fn uniform_array<T: Real>(shape: &[usize], bound: f64, rng: &mut ChaCha8Rng) -> ArrayD<T> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        T::of_f64(bound * (2.0 * rng.random::<f64>() - 1.0))
    })
}

/// `1/sqrt(fan_in)`, or an error for an empty fan-in (a layer with no inputs).
fn fan_in_bound(op: &'static str, fan_in: usize) -> Result<f64, OpError> {
    if fan_in == 0 {
        return Err(OpError::HyperParameter {
            op,
            name: "fan_in",
            value: "0".into(),
            reason: "a layer needs at least one input",
        });
    }
    Ok(1.0 / (fan_in as f64).sqrt())
}

fn into_dim<T, D: ndarray::Dimension>(
    op: &'static str,
    a: ArrayD<T>,
) -> Result<ndarray::Array<T, D>, OpError> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<D>().map_err(|_| OpError::Shape {
        op,
        what: "initialised parameter",
        got: shape,
        expected: "the layer's parameter rank".into(),
    })
}

/// PyTorch-default init of `Linear(in_features, out_features)`: weight `[out, in]` then bias `[out]`.
pub fn init_dense<T: Real>(
    in_features: usize,
    out_features: usize,
    rng: &mut ChaCha8Rng,
) -> Result<DenseParams<T>, OpError> {
    let bound = fan_in_bound("init_dense", in_features)?;
    let w = uniform_array::<T>(&[out_features, in_features], bound, rng);
    let b = uniform_array::<T>(&[out_features], bound, rng);
    Ok(DenseParams {
        w: into_dim("init_dense", w)?,
        b: into_dim("init_dense", b)?,
    })
}

/// PyTorch-default init of `Conv2d(in_channels, out_channels, kernel)`: weight `[O, C, kh, kw]`
/// then bias `[O]`, `fan_in = in_channels * kh * kw`.
pub fn init_conv2d<T: Real>(
    in_channels: usize,
    out_channels: usize,
    kernel: Hw,
    rng: &mut ChaCha8Rng,
) -> Result<Conv2dParams<T>, OpError> {
    let bound = fan_in_bound("init_conv2d", in_channels * kernel.area())?;
    let w = uniform_array::<T>(&[out_channels, in_channels, kernel.h, kernel.w], bound, rng);
    let b = uniform_array::<T>(&[out_channels], bound, rng);
    Ok(Conv2dParams {
        w: into_dim("init_conv2d", w)?,
        b: into_dim("init_conv2d", b)?,
    })
}

/// PyTorch-default batch-norm affine parameters: `gamma = 1`, `beta = 0` (no randomness).
pub fn init_batchnorm<T: Real>(channels: usize) -> BatchNormParams<T> {
    BatchNormParams {
        gamma: Array1::ones(channels),
        beta: Array1::zeros(channels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn dense_init_is_deterministic_and_bounded() {
        let a = init_dense::<f32>(20, 30, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let b = init_dense::<f32>(20, 30, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let c = init_dense::<f32>(20, 30, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.w.shape(), &[30, 20]);
        assert_eq!(a.b.shape(), &[30]);
        let bound = 1.0 / 20f32.sqrt();
        assert!(a.w.iter().chain(a.b.iter()).all(|v| v.abs() < bound));
        // Spread: a uniform on [-bound, bound] has std bound/sqrt(3); 600 samples land near it.
        let n = a.w.len() as f32;
        let var = a.w.iter().map(|v| v * v).sum::<f32>() / n;
        let want = bound * bound / 3.0;
        assert!((var - want).abs() < 0.15 * want, "var {var} vs {want}");
    }

    #[test]
    fn f32_and_f64_inits_agree_to_rounding() {
        let a = init_conv2d::<f32>(3, 4, Hw::square(3), &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        let b = init_conv2d::<f64>(3, 4, Hw::square(3), &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        assert_eq!(a.w.shape(), &[4, 3, 3, 3]);
        for (x, y) in a.w.iter().zip(b.w.iter()) {
            assert_eq!(*x, *y as f32);
        }
        let bound = 1.0 / 27f64.sqrt();
        assert!(b.w.iter().chain(b.b.iter()).all(|v| v.abs() < bound));
    }

    #[test]
    fn zero_fan_in_is_an_error_and_batchnorm_is_identity() {
        assert!(init_dense::<f32>(0, 3, &mut ChaCha8Rng::seed_from_u64(1)).is_err());
        assert!(
            init_conv2d::<f32>(3, 3, Hw::new(0, 3), &mut ChaCha8Rng::seed_from_u64(1)).is_err()
        );
        let bn = init_batchnorm::<f32>(3);
        assert_eq!(bn.gamma.to_vec(), vec![1.0; 3]);
        assert_eq!(bn.beta.to_vec(), vec![0.0; 3]);
    }
}
