//! Learning-rate schedules as pure functions of the step (or epoch) counter `t = 0, 1, 2, ...`.

use super::check::in_range;
use super::error::OpError;

const OP: &str = "lr_schedule";

/// How the learning rate decays after warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrDecay {
    /// `lr(t) = base`.
    Constant,
    /// `lr(t) = base * gamma^floor(t / step_size)` (PyTorch's `StepLR`).
    Step {
        /// Steps between decays (≥ 1).
        step_size: u64,
        /// Multiplier per decay (> 0).
        gamma: f64,
    },
    /// `lr(t) = eta_min + (base - eta_min) * (1 + cos(pi * min(t, t_max) / t_max)) / 2`
    /// (PyTorch's `CosineAnnealingLR` closed form, held at `eta_min` after `t_max` instead of
    /// rising again).
    Cosine {
        /// Steps from `base` down to `eta_min` (≥ 1).
        t_max: u64,
        /// Final learning rate (≥ 0).
        eta_min: f64,
    },
}

/// A learning-rate schedule: an optional linear warm-up followed by a decay.
///
/// With `warmup_steps = W > 0`: `lr(t) = base * (t + 1) / W` for `t < W` (so the first step
/// already uses `base / W` and step `W - 1` reaches `base`), then `lr(t) = decay(t - W)`, i.e.
/// the decay starts its own clock when the warm-up ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    base_lr: f64,
    decay: LrDecay,
    warmup_steps: u64,
}

impl LrSchedule {
    /// A schedule with the given base learning rate and decay, no warm-up.
    pub fn new(base_lr: f64, decay: LrDecay) -> Result<Self, OpError> {
        in_range(
            OP,
            "lr",
            base_lr,
            0.0,
            f64::INFINITY,
            false,
            "must be finite and >= 0",
        )?;
        match decay {
            LrDecay::Constant => {}
            LrDecay::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(OpError::HyperParameter {
                        op: OP,
                        name: "step_size",
                        value: "0".into(),
                        reason: "must be at least 1",
                    });
                }
                in_range(
                    OP,
                    "gamma",
                    gamma,
                    f64::MIN_POSITIVE,
                    f64::INFINITY,
                    false,
                    "must be finite and > 0",
                )?;
            }
            LrDecay::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    return Err(OpError::HyperParameter {
                        op: OP,
                        name: "t_max",
                        value: "0".into(),
                        reason: "must be at least 1",
                    });
                }
                in_range(
                    OP,
                    "eta_min",
                    eta_min,
                    0.0,
                    f64::INFINITY,
                    false,
                    "must be finite and >= 0",
                )?;
            }
        }
        Ok(Self {
            base_lr,
            decay,
            warmup_steps: 0,
        })
    }

    /// The constant schedule `lr(t) = base_lr`.
    pub fn constant(base_lr: f64) -> Result<Self, OpError> {
        Self::new(base_lr, LrDecay::Constant)
    }

    /// The same schedule preceded by `warmup_steps` steps of linear warm-up (0 = none).
    pub const fn with_warmup(self, warmup_steps: u64) -> Self {
        Self {
            warmup_steps,
            ..self
        }
    }

    /// The base learning rate.
    pub const fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// The learning rate to use at step (or epoch) `t`, counting from 0.
    pub fn lr_at(&self, t: u64) -> f64 {
        if t < self.warmup_steps {
            return self.base_lr * (t + 1) as f64 / self.warmup_steps as f64;
        }
        let t = t - self.warmup_steps;
        match self.decay {
            LrDecay::Constant => self.base_lr,
            LrDecay::Step { step_size, gamma } => {
                // `new` guarantees step_size >= 1; the exponent saturates instead of wrapping.
                let k = i32::try_from(t / step_size.max(1)).unwrap_or(i32::MAX);
                self.base_lr * gamma.powi(k)
            }
            LrDecay::Cosine { t_max, eta_min } => {
                let t_max = t_max.max(1);
                let progress = t.min(t_max) as f64 / t_max as f64;
                eta_min
                    + (self.base_lr - eta_min) * (1.0 + (std::f64::consts::PI * progress).cos())
                        / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-15
    }

    #[test]
    fn constant_and_step() {
        let c = LrSchedule::constant(0.1).unwrap();
        assert_eq!(c.lr_at(0), 0.1);
        assert_eq!(c.lr_at(1_000_000), 0.1);
        let s = LrSchedule::new(
            1.0,
            LrDecay::Step {
                step_size: 3,
                gamma: 0.5,
            },
        )
        .unwrap();
        let got: Vec<f64> = (0..8).map(|t| s.lr_at(t)).collect();
        assert_eq!(got, vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn cosine_endpoints_midpoint_and_hold() {
        let s = LrSchedule::new(
            1.0,
            LrDecay::Cosine {
                t_max: 10,
                eta_min: 0.1,
            },
        )
        .unwrap();
        assert!(close(s.lr_at(0), 1.0));
        assert!(close(s.lr_at(5), 0.55));
        assert!(close(s.lr_at(10), 0.1));
        assert!(close(s.lr_at(25), 0.1));
        // Monotone non-increasing.
        for t in 0..12 {
            assert!(s.lr_at(t + 1) <= s.lr_at(t));
        }
    }

    #[test]
    fn warmup_composes_with_any_decay() {
        let s = LrSchedule::new(
            1.0,
            LrDecay::Step {
                step_size: 2,
                gamma: 0.1,
            },
        )
        .unwrap()
        .with_warmup(4);
        let got: Vec<f64> = (0..8).map(|t| s.lr_at(t)).collect();
        let want = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1];
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, w), "{got:?}");
        }
        let c = LrSchedule::new(
            2.0,
            LrDecay::Cosine {
                t_max: 4,
                eta_min: 0.0,
            },
        )
        .unwrap()
        .with_warmup(2);
        assert!(close(c.lr_at(0), 1.0));
        assert!(close(c.lr_at(2), 2.0));
        assert!(close(c.lr_at(4), 1.0));
        assert!(close(c.lr_at(6), 0.0));
    }

    #[test]
    fn bad_schedules_are_errors() {
        assert!(
            LrSchedule::new(
                1.0,
                LrDecay::Step {
                    step_size: 0,
                    gamma: 0.5
                }
            )
            .is_err()
        );
        assert!(
            LrSchedule::new(
                1.0,
                LrDecay::Step {
                    step_size: 1,
                    gamma: 0.0
                }
            )
            .is_err()
        );
        assert!(
            LrSchedule::new(
                1.0,
                LrDecay::Cosine {
                    t_max: 0,
                    eta_min: 0.0
                }
            )
            .is_err()
        );
        assert!(
            LrSchedule::new(
                1.0,
                LrDecay::Cosine {
                    t_max: 5,
                    eta_min: -1.0
                }
            )
            .is_err()
        );
        assert!(LrSchedule::constant(f64::INFINITY).is_err());
        assert!(LrSchedule::constant(-0.1).is_err());
    }
}
