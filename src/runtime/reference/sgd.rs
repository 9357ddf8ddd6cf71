//! Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay,
//! exactly PyTorch's `torch.optim.SGD` update.

use super::check::{in_range, same_shape};
use super::error::OpError;
use super::real::Real;

const OP: &str = "sgd";

/// Hyper-parameters of [`sgd_step`]; PyTorch's defaults except `lr`, which has none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (set it per step from an [`LrSchedule`](super::schedule::LrSchedule)).
    pub lr: f64,
    /// Momentum factor; 0 disables the momentum buffer.
    pub momentum: f64,
    /// Dampening of the gradient added to the buffer (default 0).
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`, like PyTorch).
    pub nesterov: bool,
    /// L2 penalty: `weight_decay * param` is added to the gradient.
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr` and every other option off.
    pub const fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    fn validate(&self) -> Result<(), OpError> {
        in_range(
            OP,
            "lr",
            self.lr,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        in_range(
            OP,
            "momentum",
            self.momentum,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        in_range(
            OP,
            "dampening",
            self.dampening,
            0.0,
            1.0,
            true,
            "must be in [0, 1]",
        )?;
        in_range(
            OP,
            "weight_decay",
            self.weight_decay,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OpError::HyperParameter {
                op: OP,
                name: "nesterov",
                value: "true".into(),
                reason: "Nesterov momentum requires momentum > 0 and dampening = 0",
            });
        }
        Ok(())
    }
}

/// Per-parameter state of SGD: the momentum buffer, created on the first step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SgdState<T> {
    /// `None` until the first step with `momentum > 0`.
    pub momentum_buffer: Option<Vec<T>>,
}

impl<T> SgdState<T> {
    /// Fresh state (no momentum buffer yet).
    pub const fn new() -> Self {
        Self {
            momentum_buffer: None,
        }
    }
}

/// One in-place SGD step on `params` given `grads` (same length):
///
/// ```text
/// g = grad + weight_decay * p
/// if momentum != 0:
///     buf = g                                        (first step)
///     buf = momentum * buf + (1 - dampening) * g     (later steps)
///     g = g + momentum * buf   if nesterov   else   g = buf
/// p = p - lr * g
/// ```
pub fn sgd_step<T: Real>(
    params: &mut [T],
    grads: &[T],
    state: &mut SgdState<T>,
    cfg: &SgdConfig,
) -> Result<(), OpError> {
    cfg.validate()?;
    same_shape(OP, "gradient", &[grads.len()], &[params.len()])?;
    if let Some(buf) = &state.momentum_buffer {
        same_shape(OP, "momentum buffer", &[buf.len()], &[params.len()])?;
    }
    let lr = T::of_f64(cfg.lr);
    let wd = T::of_f64(cfg.weight_decay);
    let mu = T::of_f64(cfg.momentum);
    let keep = T::of_f64(1.0 - cfg.dampening);
    let effective: Vec<T> = params
        .iter()
        .zip(grads)
        .map(|(&p, &g)| g + wd * p)
        .collect();
    let step: Vec<T> = if cfg.momentum != 0.0 {
        let buf = match state.momentum_buffer.take() {
            None => effective.clone(),
            Some(mut buf) => {
                for (b, &g) in buf.iter_mut().zip(&effective) {
                    *b = mu * *b + keep * g;
                }
                buf
            }
        };
        let step = if cfg.nesterov {
            effective
                .iter()
                .zip(&buf)
                .map(|(&g, &b)| g + mu * b)
                .collect()
        } else {
            buf.clone()
        };
        state.momentum_buffer = Some(buf);
        step
    } else {
        effective
    };
    for (p, s) in params.iter_mut().zip(step) {
        *p -= lr * s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_step_is_p_minus_lr_g() {
        let mut p = vec![1.0f64, -2.0];
        sgd_step(
            &mut p,
            &[0.5, 1.0],
            &mut SgdState::new(),
            &SgdConfig::new(0.1),
        )
        .unwrap();
        assert_eq!(p, vec![0.95, -2.1]);
    }

    #[test]
    fn nesterov_momentum_worked_by_hand() {
        // p0 = 1, lr = 0.1, momentum = 0.9, wd = 0.1, nesterov, grads 1.0 then 2.0.
        // step 1: g = 1 + 0.1*1 = 1.1; buf = 1.1; update = 1.1 + 0.9*1.1 = 2.09; p = 1 - 0.209 = 0.791
        // step 2: g = 2 + 0.0791 = 2.0791; buf = 0.99 + 2.0791 = 3.0691;
        //         update = 2.0791 + 0.9*3.0691 = 4.84129; p = 0.791 - 0.484129 = 0.306871
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 0.1,
        };
        let mut state = SgdState::new();
        let mut p = vec![1.0f64];
        sgd_step(&mut p, &[1.0], &mut state, &cfg).unwrap();
        assert!((p[0] - 0.791).abs() < 1e-15);
        sgd_step(&mut p, &[2.0], &mut state, &cfg).unwrap();
        assert!((p[0] - 0.306871).abs() < 1e-15, "{}", p[0]);
        assert!((state.momentum_buffer.as_ref().unwrap()[0] - 3.0691).abs() < 1e-15);
    }

    #[test]
    fn bad_configs_and_lengths_are_errors() {
        let mut p = vec![0.0f32; 2];
        let mut s = SgdState::new();
        let nesterov_without_momentum = SgdConfig {
            nesterov: true,
            ..SgdConfig::new(0.1)
        };
        assert!(sgd_step(&mut p, &[0.0, 0.0], &mut s, &nesterov_without_momentum).is_err());
        assert!(sgd_step(&mut p, &[0.0, 0.0], &mut s, &SgdConfig::new(-1.0)).is_err());
        assert!(sgd_step(&mut p, &[0.0, 0.0], &mut s, &SgdConfig::new(f64::NAN)).is_err());
        assert!(sgd_step(&mut p, &[0.0], &mut s, &SgdConfig::new(0.1)).is_err());
        let mut s = SgdState {
            momentum_buffer: Some(vec![0.0f32; 3]),
        };
        let cfg = SgdConfig {
            momentum: 0.9,
            ..SgdConfig::new(0.1)
        };
        assert!(sgd_step(&mut p, &[0.0, 0.0], &mut s, &cfg).is_err());
    }
}
