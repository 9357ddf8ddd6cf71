//! Adam (L2 weight decay folded into the gradient) and AdamW (decoupled weight decay),
//! exactly PyTorch's `torch.optim.Adam` / `torch.optim.AdamW` updates (no amsgrad).

use super::check::{in_range, same_shape};
use super::error::OpError;
use super::real::Real;

/// Hyper-parameters of [`adam_step`] and [`adamw_step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (set it per step from an [`LrSchedule`](super::schedule::LrSchedule)).
    pub lr: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the bias-corrected root second moment.
    pub eps: f64,
    /// Adam: L2 penalty added to the gradient. AdamW: decoupled decay rate.
    pub weight_decay: f64,
}

impl AdamConfig {
    /// PyTorch's `Adam` defaults: `lr = 1e-3, betas = (0.9, 0.999), eps = 1e-8, weight_decay = 0`.
    pub const fn adam() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// PyTorch's `AdamW` defaults: as [`AdamConfig::adam`] but `weight_decay = 0.01`.
    pub const fn adamw() -> Self {
        Self {
            weight_decay: 0.01,
            ..Self::adam()
        }
    }

    fn validate(&self, op: &'static str) -> Result<(), OpError> {
        in_range(
            op,
            "lr",
            self.lr,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        in_range(
            op,
            "beta1",
            self.beta1,
            0.0,
            1.0,
            false,
            "must be in [0, 1)",
        )?;
        in_range(
            op,
            "beta2",
            self.beta2,
            0.0,
            1.0,
            false,
            "must be in [0, 1)",
        )?;
        in_range(
            op,
            "eps",
            self.eps,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        in_range(
            op,
            "weight_decay",
            self.weight_decay,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )
    }
}

/// Per-parameter state of Adam/AdamW.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState<T> {
    /// Number of steps taken so far (the bias corrections use the count after incrementing).
    pub step: u64,
    /// First-moment running average `m`.
    pub exp_avg: Vec<T>,
    /// Second-moment running average `v`.
    pub exp_avg_sq: Vec<T>,
}

impl<T: Real> AdamState<T> {
    /// Fresh state for a parameter of `len` elements: step 0, zero moments.
    pub fn new(len: usize) -> Self {
        Self {
            step: 0,
            exp_avg: vec![T::zero(); len],
            exp_avg_sq: vec![T::zero(); len],
        }
    }
}

/// Whether weight decay is an L2 term in the gradient (Adam) or a separate shrink (AdamW).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decay {
    L2,
    Decoupled,
}

fn step<T: Real>(
    op: &'static str,
    decay: Decay,
    params: &mut [T],
    grads: &[T],
    state: &mut AdamState<T>,
    cfg: &AdamConfig,
) -> Result<(), OpError> {
    cfg.validate(op)?;
    same_shape(op, "gradient", &[grads.len()], &[params.len()])?;
    same_shape(
        op,
        "first-moment state",
        &[state.exp_avg.len()],
        &[params.len()],
    )?;
    same_shape(
        op,
        "second-moment state",
        &[state.exp_avg_sq.len()],
        &[params.len()],
    )?;
    state.step += 1;
    let t = state.step as f64;
    let step_size = T::of_f64(cfg.lr / (1.0 - cfg.beta1.powf(t)));
    let bc2_sqrt = T::of_f64((1.0 - cfg.beta2.powf(t)).sqrt());
    let (b1, b2) = (T::of_f64(cfg.beta1), T::of_f64(cfg.beta2));
    let (one_b1, one_b2) = (T::of_f64(1.0 - cfg.beta1), T::of_f64(1.0 - cfg.beta2));
    let eps = T::of_f64(cfg.eps);
    let wd = T::of_f64(cfg.weight_decay);
    let shrink = T::of_f64(1.0 - cfg.lr * cfg.weight_decay);
    for (i, p) in params.iter_mut().enumerate() {
        let mut g = grads[i];
        match decay {
            Decay::L2 => g += wd * *p,
            Decay::Decoupled => *p *= shrink,
        }
        let m = b1 * state.exp_avg[i] + one_b1 * g;
        let v = b2 * state.exp_avg_sq[i] + one_b2 * g * g;
        state.exp_avg[i] = m;
        state.exp_avg_sq[i] = v;
        let denom = v.sqrt() / bc2_sqrt + eps;
        *p -= step_size * m / denom;
    }
    Ok(())
}

/// One in-place Adam step (`t` = step count after incrementing):
///
/// ```text
/// g = grad + weight_decay * p
/// m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
/// p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// ```
pub fn adam_step<T: Real>(
    params: &mut [T],
    grads: &[T],
    state: &mut AdamState<T>,
    cfg: &AdamConfig,
) -> Result<(), OpError> {
    step("adam", Decay::L2, params, grads, state, cfg)
}

/// One in-place AdamW step: first `p = p * (1 - lr * weight_decay)`, then the Adam update
/// with the raw gradient (no L2 term).
pub fn adamw_step<T: Real>(
    params: &mut [T],
    grads: &[T],
    state: &mut AdamState<T>,
    cfg: &AdamConfig,
) -> Result<(), OpError> {
    step("adamw", Decay::Decoupled, params, grads, state, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adam_step_moves_by_lr_in_sign_direction() {
        // With bias correction, step 1 gives m_hat = g, v_hat = g^2, so p -= lr * g/(|g| + eps).
        let mut p = vec![1.0f64, 1.0];
        let mut s = AdamState::new(2);
        let cfg = AdamConfig {
            lr: 0.1,
            ..AdamConfig::adam()
        };
        adam_step(&mut p, &[3.0, -0.5], &mut s, &cfg).unwrap();
        assert!((p[0] - (1.0 - 0.1 * 3.0 / (3.0 + 1e-8))).abs() < 1e-15);
        assert!((p[1] - (1.0 + 0.1 * 0.5 / (0.5 + 1e-8))).abs() < 1e-15);
    }

    #[test]
    fn two_adamw_steps_worked_by_hand() {
        // p0 = 2, lr = 0.1, betas (0.5, 0.75), eps = 0, wd = 0.5; grads 1 then -1.
        // step 1: p = 2 * (1 - 0.05) = 1.9; m = 0.5, v = 0.25; m_hat = 1, v_hat = 1; p = 1.8
        // step 2: p = 1.8 * 0.95 = 1.71; m = 0.25 - 0.5 = -0.25; v = 0.1875 + 0.25 = 0.4375
        //         m_hat = -0.25/0.75 = -1/3; v_hat = 0.4375/0.4375 = 1; p = 1.71 + 0.1/3
        let cfg = AdamConfig {
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.75,
            eps: 0.0,
            weight_decay: 0.5,
        };
        let mut s = AdamState::new(1);
        let mut p = vec![2.0f64];
        adamw_step(&mut p, &[1.0], &mut s, &cfg).unwrap();
        assert!((p[0] - 1.8).abs() < 1e-15, "{}", p[0]);
        adamw_step(&mut p, &[-1.0], &mut s, &cfg).unwrap();
        assert!((p[0] - (1.71 + 0.1 / 3.0)).abs() < 1e-14, "{}", p[0]);
        assert_eq!(s.step, 2);
    }

    #[test]
    fn bad_configs_and_lengths_are_errors() {
        let mut p = vec![0.0f32; 2];
        let mut s = AdamState::new(2);
        let bad = AdamConfig {
            beta1: 1.0,
            ..AdamConfig::adam()
        };
        assert!(adam_step(&mut p, &[0.0, 0.0], &mut s, &bad).is_err());
        assert!(adamw_step(&mut p, &[0.0], &mut s, &AdamConfig::adamw()).is_err());
        let mut short = AdamState::new(1);
        assert!(adam_step(&mut p, &[0.0, 0.0], &mut short, &AdamConfig::adam()).is_err());
        assert_eq!(short.step, 0, "a rejected step must not advance the state");
    }
}
