//! Exploration-rate (epsilon) schedules.

use crate::rl::error::{RlError, check_probability};

/// How epsilon of the epsilon-greedy behaviour policy evolves. `t` is the number of
/// environment steps taken so far in training (over all episodes), so the action of step `t`
/// (counting from 0) is chosen with `epsilon(t)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpsilonSchedule {
    /// `constant(v)`: always `v`.
    Constant(f64),
    /// `linear(from, to, steps)`: `from + (to - from) * min(t / steps, 1)`; `steps = 0`
    /// means `to` from the start.
    Linear {
        /// Value at `t = 0`.
        from: f64,
        /// Value from `t = steps` on.
        to: f64,
        /// Length of the ramp in environment steps.
        steps: u64,
    },
    /// `exponential(from, to, decay)`: `to + (from - to) * exp(-decay * t)`.
    Exponential {
        /// Value at `t = 0`.
        from: f64,
        /// Asymptotic value.
        to: f64,
        /// Decay rate per environment step (≥ 0).
        decay: f64,
    },
}

impl Default for EpsilonSchedule {
    /// `constant(0.1)`.
    fn default() -> Self {
        EpsilonSchedule::Constant(0.1)
    }
}

impl EpsilonSchedule {
    /// Checks that every epsilon the schedule can produce is a probability.
    pub fn validate(&self) -> Result<(), RlError> {
        match *self {
            EpsilonSchedule::Constant(v) => check_probability("epsilon", v),
            EpsilonSchedule::Linear { from, to, .. } => {
                check_probability("epsilon.from", from)?;
                check_probability("epsilon.to", to)
            }
            EpsilonSchedule::Exponential { from, to, decay } => {
                check_probability("epsilon.from", from)?;
                check_probability("epsilon.to", to)?;
                if decay.is_finite() && decay >= 0.0 {
                    Ok(())
                } else {
                    Err(RlError::bad_argument(
                        "epsilon.decay",
                        decay,
                        "a finite number >= 0",
                    ))
                }
            }
        }
    }

    /// Epsilon for the action of environment step `t`.
    #[inline]
    pub fn at(&self, t: u64) -> f64 {
        match *self {
            EpsilonSchedule::Constant(v) => v,
            EpsilonSchedule::Linear { from, to, steps } => {
                if t >= steps {
                    to
                } else {
                    from + (to - from) * (t as f64 / steps as f64)
                }
            }
            EpsilonSchedule::Exponential { from, to, decay } => {
                to + (from - to) * (-decay * t as f64).exp()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let lin = EpsilonSchedule::Linear {
            from: 1.0,
            to: 0.1,
            steps: 10,
        };
        assert_eq!(lin.at(0), 1.0);
        assert!((lin.at(5) - 0.55).abs() < 1e-12);
        assert_eq!(lin.at(10), 0.1);
        assert_eq!(lin.at(1_000), 0.1);
        let exp = EpsilonSchedule::Exponential {
            from: 1.0,
            to: 0.0,
            decay: 0.5,
        };
        assert!((exp.at(2) - (-1.0f64).exp()).abs() < 1e-15);
        assert_eq!(EpsilonSchedule::Constant(0.3).at(99), 0.3);
    }

    #[test]
    fn validation() {
        assert!(EpsilonSchedule::Constant(1.2).validate().is_err());
        assert!(
            EpsilonSchedule::Exponential {
                from: 1.0,
                to: 0.0,
                decay: -1.0
            }
            .validate()
            .is_err()
        );
        assert!(
            EpsilonSchedule::Linear {
                from: 1.0,
                to: 0.05,
                steps: 0
            }
            .validate()
            .is_ok()
        );
    }
}
