//! Batch normalisation over axis 1 (channels) of `[N, C]` or `[N, C, H, W]` inputs,
//! PyTorch's `BatchNorm1d`/`BatchNorm2d` semantics.
//!
//! Training mode normalises with the batch statistics (biased variance) and updates the
//! running statistics with the *unbiased* variance; eval mode normalises with the running
//! statistics. Statistics are taken over every axis except 1: `m = N * H * W` values per channel.

use ndarray::{Array1, Array3, ArrayD, ArrayView1, ArrayView3, ArrayViewD, Axis};

use super::check::{in_range, same_shape};
use super::error::OpError;
use super::real::Real;

const OP: &str = "batchnorm";

/// Hyper-parameters of batch normalisation (PyTorch defaults: `eps = 1e-5`, `momentum = 0.1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormSpec {
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Weight of the new batch statistic in the running average:
    /// `running = (1 - momentum) * running + momentum * batch_stat`.
    pub momentum: f64,
}

impl Default for BatchNormSpec {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

impl BatchNormSpec {
    fn validate(&self) -> Result<(), OpError> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(OpError::HyperParameter {
                op: OP,
                name: "eps",
                value: self.eps.to_string(),
                reason: "must be positive and finite",
            });
        }
        in_range(
            OP,
            "momentum",
            self.momentum,
            0.0,
            1.0,
            true,
            "must be in [0, 1]",
        )
    }
}

/// Running statistics of one batch-norm layer (initialised to mean 0, variance 1 like PyTorch).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormRunning<T> {
    /// Running mean per channel, `[C]`.
    pub mean: Array1<T>,
    /// Running (unbiased) variance per channel, `[C]`.
    pub var: Array1<T>,
}

impl<T: Real> BatchNormRunning<T> {
    /// Fresh running statistics for `channels` channels: mean 0, variance 1.
    pub fn new(channels: usize) -> Self {
        Self {
            mean: Array1::zeros(channels),
            var: Array1::ones(channels),
        }
    }
}

/// What the training-mode forward keeps for the backward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormSaved<T> {
    /// The normalised input `(x - mean) / sqrt(var + eps)`, same shape as `x`.
    pub x_hat: ArrayD<T>,
    /// `1 / sqrt(var + eps)` per channel (biased batch variance), `[C]`.
    pub inv_std: Array1<T>,
}

/// Output of the training-mode forward.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormTrainOutput<T> {
    /// `gamma * x_hat + beta`, same shape as `x`.
    pub y: ArrayD<T>,
    /// Saved for [`batchnorm_backward`].
    pub saved: BatchNormSaved<T>,
}

/// Gradients of batch normalisation (training mode).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormGrads<T> {
    /// `dL/dx`, same shape as `x`.
    pub dx: ArrayD<T>,
    /// `dL/dgamma`, `[C]`.
    pub dgamma: Array1<T>,
    /// `dL/dbeta`, `[C]`.
    pub dbeta: Array1<T>,
}

/// Views `[N, C, ...]` as `[N, C, L]`, checking the rank and the parameter lengths.
fn as_ncl<'a, T: Real>(
    what: &'static str,
    x: &'a ArrayViewD<'a, T>,
) -> Result<ndarray::CowArray<'a, T, ndarray::Ix3>, OpError> {
    if x.ndim() < 2 {
        return Err(OpError::Shape {
            op: OP,
            what,
            got: x.shape().to_vec(),
            expected: "[N, C] or [N, C, H, W]".into(),
        });
    }
    let n = x.shape()[0];
    let c = x.shape()[1];
    let l = x.shape()[2..].iter().product::<usize>();
    x.to_shape((n, c, l)).map_err(|_| OpError::Shape {
        op: OP,
        what,
        got: x.shape().to_vec(),
        expected: "a reshapeable array".into(),
    })
}

fn check_param<T>(what: &'static str, p: &ArrayView1<T>, channels: usize) -> Result<(), OpError> {
    same_shape(OP, what, p.shape(), &[channels])
}

fn from_ncl<T: Real>(a: Array3<T>, shape: &[usize]) -> Result<ArrayD<T>, OpError> {
    a.into_shape_with_order(ndarray::IxDyn(shape))
        .map_err(|_| OpError::Shape {
            op: OP,
            what: "output",
            got: shape.to_vec(),
            expected: "a reshapeable array".into(),
        })
}

/// `gamma[c] * x_hat + beta[c]` over `[N, C, L]`.
fn affine<T: Real>(
    x_hat: &ArrayView3<T>,
    gamma: &ArrayView1<T>,
    beta: &ArrayView1<T>,
) -> Array3<T> {
    let mut y = x_hat.to_owned();
    for (c, mut plane) in y.axis_iter_mut(Axis(1)).enumerate() {
        plane.mapv_inplace(|v| v * gamma[c] + beta[c]);
    }
    y
}

/// Training-mode forward: per channel `c`, with `m` values,
/// `mean = sum x / m`, `var = sum (x - mean)^2 / m` (biased),
/// `x_hat = (x - mean) / sqrt(var + eps)`, `y = gamma * x_hat + beta`;
/// then `running.mean = (1-momentum) running.mean + momentum mean` and
/// `running.var = (1-momentum) running.var + momentum var * m/(m-1)` (unbiased).
///
/// Needs `m >= 2` (PyTorch refuses one value per channel in training mode, too).
pub fn batchnorm_forward_train<T: Real>(
    x: ArrayViewD<T>,
    gamma: ArrayView1<T>,
    beta: ArrayView1<T>,
    running: &mut BatchNormRunning<T>,
    spec: &BatchNormSpec,
) -> Result<BatchNormTrainOutput<T>, OpError> {
    spec.validate()?;
    let x3 = as_ncl("input", &x)?;
    let (n, c, l) = x3.dim();
    check_param("gamma", &gamma, c)?;
    check_param("beta", &beta, c)?;
    check_param("running mean", &running.mean.view(), c)?;
    check_param("running var", &running.var.view(), c)?;
    let m = n * l;
    if m < 2 {
        return Err(OpError::TooSmall {
            op: OP,
            height: n,
            width: l,
            reason: "training mode needs more than one value per channel (batch * H * W >= 2)"
                .into(),
        });
    }
    let m_t = T::of_f64(m as f64);
    let eps = T::of_f64(spec.eps);
    let momentum = T::of_f64(spec.momentum);
    let mut x_hat = Array3::zeros((n, c, l));
    let mut inv_std = Array1::zeros(c);
    for ci in 0..c {
        let plane = x3.index_axis(Axis(1), ci);
        let mean = plane.sum() / m_t;
        let var = plane.mapv(|v| (v - mean) * (v - mean)).sum() / m_t;
        let istd = T::one() / (var + eps).sqrt();
        inv_std[ci] = istd;
        x_hat
            .index_axis_mut(Axis(1), ci)
            .assign(&plane.mapv(|v| (v - mean) * istd));
        let unbiased = var * m_t / T::of_f64((m - 1) as f64);
        running.mean[ci] = (T::one() - momentum) * running.mean[ci] + momentum * mean;
        running.var[ci] = (T::one() - momentum) * running.var[ci] + momentum * unbiased;
    }
    let y = affine(&x_hat.view(), &gamma, &beta);
    Ok(BatchNormTrainOutput {
        y: from_ncl(y, x.shape())?,
        saved: BatchNormSaved {
            x_hat: from_ncl(x_hat, x.shape())?,
            inv_std,
        },
    })
}

/// Eval-mode forward: `y = gamma * (x - running.mean) / sqrt(running.var + eps) + beta`.
pub fn batchnorm_forward_eval<T: Real>(
    x: ArrayViewD<T>,
    gamma: ArrayView1<T>,
    beta: ArrayView1<T>,
    running: &BatchNormRunning<T>,
    spec: &BatchNormSpec,
) -> Result<ArrayD<T>, OpError> {
    spec.validate()?;
    let x3 = as_ncl("input", &x)?;
    let c = x3.dim().1;
    check_param("gamma", &gamma, c)?;
    check_param("beta", &beta, c)?;
    check_param("running mean", &running.mean.view(), c)?;
    check_param("running var", &running.var.view(), c)?;
    let eps = T::of_f64(spec.eps);
    let mut x_hat = x3.to_owned();
    for (ci, mut plane) in x_hat.axis_iter_mut(Axis(1)).enumerate() {
        let mean = running.mean[ci];
        let istd = T::one() / (running.var[ci] + eps).sqrt();
        plane.mapv_inplace(|v| (v - mean) * istd);
    }
    from_ncl(affine(&x_hat.view(), &gamma, &beta), x.shape())
}

/// Training-mode backward, per channel with `m` values:
/// `dbeta = sum dy`, `dgamma = sum dy * x_hat`,
/// `dx = gamma * inv_std / m * (m * dy - dbeta - x_hat * dgamma)`.
pub fn batchnorm_backward<T: Real>(
    dy: ArrayViewD<T>,
    gamma: ArrayView1<T>,
    saved: &BatchNormSaved<T>,
) -> Result<BatchNormGrads<T>, OpError> {
    same_shape(OP, "upstream gradient", dy.shape(), saved.x_hat.shape())?;
    let dy3 = as_ncl("upstream gradient", &dy)?;
    let x_hat_view = saved.x_hat.view();
    let xh3 = as_ncl("saved x_hat", &x_hat_view)?;
    let (n, c, l) = dy3.dim();
    check_param("gamma", &gamma, c)?;
    check_param("saved inv_std", &saved.inv_std.view(), c)?;
    let m_t = T::of_f64((n * l) as f64);
    let mut dx = Array3::zeros((n, c, l));
    let mut dgamma = Array1::zeros(c);
    let mut dbeta = Array1::zeros(c);
    for ci in 0..c {
        let g = dy3.index_axis(Axis(1), ci);
        let xh = xh3.index_axis(Axis(1), ci);
        let sum_dy = g.sum();
        let sum_dy_xh = (&g * &xh).sum();
        dbeta[ci] = sum_dy;
        dgamma[ci] = sum_dy_xh;
        let k = gamma[ci] * saved.inv_std[ci] / m_t;
        let mut dplane = dx.index_axis_mut(Axis(1), ci);
        ndarray::Zip::from(&mut dplane)
            .and(&g)
            .and(&xh)
            .for_each(|d, &gv, &xv| *d = k * (m_t * gv - sum_dy - xv * sum_dy_xh));
    }
    Ok(BatchNormGrads {
        dx: from_ncl(dx, dy.shape())?,
        dgamma,
        dbeta,
    })
}

/// Eval-mode backward (running statistics are constants, so the layer is a per-channel affine
/// map): with `s = 1/sqrt(running.var + eps)`,
/// `dx = dy * gamma * s`, `dgamma = sum dy * (x - running.mean) * s`, `dbeta = sum dy`.
/// Needed when gradients flow through a frozen (eval-mode) normalisation layer.
pub fn batchnorm_backward_eval<T: Real>(
    dy: ArrayViewD<T>,
    x: ArrayViewD<T>,
    gamma: ArrayView1<T>,
    running: &BatchNormRunning<T>,
    spec: &BatchNormSpec,
) -> Result<BatchNormGrads<T>, OpError> {
    spec.validate()?;
    same_shape(OP, "upstream gradient", dy.shape(), x.shape())?;
    let dy3 = as_ncl("upstream gradient", &dy)?;
    let x3 = as_ncl("input", &x)?;
    let (n, c, l) = x3.dim();
    check_param("gamma", &gamma, c)?;
    check_param("running mean", &running.mean.view(), c)?;
    check_param("running var", &running.var.view(), c)?;
    let eps = T::of_f64(spec.eps);
    let mut dx = Array3::zeros((n, c, l));
    let mut dgamma = Array1::zeros(c);
    let mut dbeta = Array1::zeros(c);
    for ci in 0..c {
        let s = T::one() / (running.var[ci] + eps).sqrt();
        let mean = running.mean[ci];
        let g = dy3.index_axis(Axis(1), ci);
        let xs = x3.index_axis(Axis(1), ci);
        dbeta[ci] = g.sum();
        dgamma[ci] = ndarray::Zip::from(&g)
            .and(&xs)
            .fold(T::zero(), |acc, &gv, &xv| acc + gv * (xv - mean) * s);
        dx.index_axis_mut(Axis(1), ci)
            .assign(&g.mapv(|gv| gv * gamma[ci] * s));
    }
    Ok(BatchNormGrads {
        dx: from_ncl(dx, dy.shape())?,
        dgamma,
        dbeta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::{Ix1, IxDyn};

    fn train_y(x: &ArrayD<f64>, gamma: &Array1<f64>, beta: &Array1<f64>) -> ArrayD<f64> {
        let mut running = BatchNormRunning::new(gamma.len());
        batchnorm_forward_train(
            x.view(),
            gamma.view(),
            beta.view(),
            &mut running,
            &BatchNormSpec::default(),
        )
        .unwrap()
        .y
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (seed, shape) in [
            vec![5usize, 3],
            vec![2, 3, 3, 5],
            vec![1, 2, 3, 1],
            vec![2, 1],
        ]
        .into_iter()
        .enumerate()
        {
            let seed = seed as u64 * 10;
            let c = shape[1];
            let x = random_array::<IxDyn>(&shape, seed);
            let gamma = random_array::<Ix1>(&[c], seed + 1) + 1.5;
            let beta = random_array::<Ix1>(&[c], seed + 2);
            let dy = random_array::<IxDyn>(&shape, seed + 3);
            let mut running = BatchNormRunning::new(c);
            let out = batchnorm_forward_train(
                x.view(),
                gamma.view(),
                beta.view(),
                &mut running,
                &BatchNormSpec::default(),
            )
            .unwrap();
            let g = batchnorm_backward(dy.view(), gamma.view(), &out.saved).unwrap();
            assert_grad_close(
                &g.dx,
                &numeric_grad(&x, |x| (train_y(x, &gamma, &beta) * &dy).sum()),
                "dx",
            );
            assert_grad_close(
                &g.dgamma,
                &numeric_grad(&gamma, |gm| (train_y(&x, gm, &beta) * &dy).sum()),
                "dgamma",
            );
            assert_grad_close(
                &g.dbeta,
                &numeric_grad(&beta, |b| (train_y(&x, &gamma, b) * &dy).sum()),
                "dbeta",
            );
        }
    }

    #[test]
    fn eval_gradients_match_finite_differences() {
        let shape = [3usize, 2, 2, 3];
        let x = random_array::<IxDyn>(&shape, 40);
        let dy = random_array::<IxDyn>(&shape, 41);
        let gamma = random_array::<Ix1>(&[2], 42) + 1.5;
        let beta = random_array::<Ix1>(&[2], 43);
        let running = BatchNormRunning {
            mean: ndarray::array![0.3, -0.2],
            var: ndarray::array![0.5, 2.0],
        };
        let spec = BatchNormSpec::default();
        let eval = |x: &ArrayD<f64>, gm: &Array1<f64>, b: &Array1<f64>| {
            (batchnorm_forward_eval(x.view(), gm.view(), b.view(), &running, &spec).unwrap() * &dy)
                .sum()
        };
        let g =
            batchnorm_backward_eval(dy.view(), x.view(), gamma.view(), &running, &spec).unwrap();
        assert_grad_close(
            &g.dx,
            &numeric_grad(&x, |x| eval(x, &gamma, &beta)),
            "eval dx",
        );
        assert_grad_close(
            &g.dgamma,
            &numeric_grad(&gamma, |gm| eval(&x, gm, &beta)),
            "eval dgamma",
        );
        assert_grad_close(
            &g.dbeta,
            &numeric_grad(&beta, |b| eval(&x, &gamma, b)),
            "eval dbeta",
        );
    }

    #[test]
    fn training_normalises_and_updates_running_stats() {
        // One channel with values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
        let x = ndarray::array![[1.0f64], [2.0], [3.0], [6.0]].into_dyn();
        let gamma = ndarray::array![2.0];
        let beta = ndarray::array![0.5];
        let mut running = BatchNormRunning::new(1);
        let out = batchnorm_forward_train(
            x.view(),
            gamma.view(),
            beta.view(),
            &mut running,
            &BatchNormSpec::default(),
        )
        .unwrap();
        let istd = 1.0 / (3.5f64 + 1e-5).sqrt();
        for (i, v) in [1.0, 2.0, 3.0, 6.0].iter().enumerate() {
            assert!((out.y[[i, 0]] - (2.0 * (v - 3.0) * istd + 0.5)).abs() < 1e-12);
        }
        assert!((running.mean[0] - 0.3).abs() < 1e-12);
        assert!((running.var[0] - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-12);
        // Eval mode uses the running statistics.
        let y = batchnorm_forward_eval(
            x.view(),
            gamma.view(),
            beta.view(),
            &running,
            &BatchNormSpec::default(),
        )
        .unwrap();
        let istd = 1.0 / (running.var[0] + 1e-5).sqrt();
        assert!((y[[0, 0]] - (2.0 * (1.0 - 0.3) * istd + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let gamma = Array1::<f32>::ones(2);
        let beta = Array1::<f32>::zeros(2);
        let spec = BatchNormSpec::default();
        let mut running = BatchNormRunning::new(2);
        let one = ArrayD::<f32>::zeros(IxDyn(&[1, 2]));
        assert!(matches!(
            batchnorm_forward_train(one.view(), gamma.view(), beta.view(), &mut running, &spec),
            Err(OpError::TooSmall { .. })
        ));
        let wrong_c = ArrayD::<f32>::zeros(IxDyn(&[4, 3]));
        assert!(
            batchnorm_forward_train(
                wrong_c.view(),
                gamma.view(),
                beta.view(),
                &mut running,
                &spec
            )
            .is_err()
        );
        let rank1 = ArrayD::<f32>::zeros(IxDyn(&[4]));
        assert!(
            batchnorm_forward_eval(rank1.view(), gamma.view(), beta.view(), &running, &spec)
                .is_err()
        );
        let x = ArrayD::<f32>::zeros(IxDyn(&[4, 2]));
        let bad = BatchNormSpec {
            eps: 0.0,
            momentum: 0.1,
        };
        assert!(
            batchnorm_forward_eval(x.view(), gamma.view(), beta.view(), &running, &bad).is_err()
        );
        let bad = BatchNormSpec {
            eps: 1e-5,
            momentum: 1.5,
        };
        assert!(
            batchnorm_forward_train(x.view(), gamma.view(), beta.view(), &mut running, &bad)
                .is_err()
        );
    }
}
