//! Discretisation of continuous observations into tabular states (uniform bins per dimension
//! with clipping).

use crate::rl::env::cartpole::{CartPole, CartPoleState, THETA_THRESHOLD, X_THRESHOLD};
use crate::rl::env::{StepEnv, StepResult};
use crate::rl::error::RlError;
use crate::rl::rng::RlRng;

/// Largest discretised state space accepted (the Q-table has `states × actions` f64s).
pub const MAX_STATES: usize = 1 << 22;

/// Uniform bins for one observation dimension. Values are clipped to `[low, high]` and cut
/// into `count` equal-width bins (a value exactly at `high` falls in the last bin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinSpec {
    /// Number of bins (≥ 1; 1 means the dimension is ignored).
    pub count: usize,
    /// Lower clipping bound.
    pub low: f64,
    /// Upper clipping bound.
    pub high: f64,
}

/// Default cartpole bins `[x, x_dot, theta, theta_dot]` = 4 × 4 × 12 × 12 = 2304 states over
/// x ∈ [-2.4, 2.4], x_dot ∈ [-2, 2], theta ∈ [-12°, 12°], theta_dot ∈ [-1.5, 1.5]: the cart
/// coarsely (it only matters near the track ends), the pole finely, within the ranges a
/// balancing policy visits. Chosen empirically: with Q-learning (α 0.1, γ 0.99, ε linear
/// 1 → 0.01 over the first quarter of a 1M-step budget) the greedy policy of 12 of 12 seeds
/// averaged ≥ 497 of the 500 steps.
pub const CARTPOLE_DEFAULT_BINS: [BinSpec; 4] = [
    BinSpec {
        count: 4,
        low: -X_THRESHOLD,
        high: X_THRESHOLD,
    },
    BinSpec {
        count: 4,
        low: -2.0,
        high: 2.0,
    },
    BinSpec {
        count: 12,
        low: -THETA_THRESHOLD,
        high: THETA_THRESHOLD,
    },
    BinSpec {
        count: 12,
        low: -1.5,
        high: 1.5,
    },
];

/// Bin specs from `.amm`-style lists: `counts` per dimension and optional `(low, high)` ranges
/// per dimension; without ranges, each dimension keeps the range of `defaults` (e.g.
/// [`CARTPOLE_DEFAULT_BINS`]). Lengths must match `defaults`; the specs are validated when
/// the agent is built.
pub fn bins_from_lists(
    counts: &[usize],
    ranges: Option<&[(f64, f64)]>,
    defaults: &[BinSpec],
) -> Result<Vec<BinSpec>, RlError> {
    if counts.len() != defaults.len() {
        return Err(RlError::BadBins {
            reason: format!(
                "{} bin counts given for a {}-dimensional observation",
                counts.len(),
                defaults.len()
            ),
        });
    }
    if let Some(r) = ranges
        && r.len() != counts.len()
    {
        return Err(RlError::BadBins {
            reason: format!("{} ranges given for {} bin counts", r.len(), counts.len()),
        });
    }
    Ok(counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let (low, high) = ranges.map_or((defaults[i].low, defaults[i].high), |r| r[i]);
            BinSpec { count, low, high }
        })
        .collect())
}

/// Maps a continuous observation to a state index (mixed radix over the bins, first
/// dimension most significant).
#[derive(Debug, Clone, PartialEq)]
pub struct Discretiser {
    specs: Vec<BinSpec>,
    num_states: usize,
}

impl Discretiser {
    /// Validates `specs` against an observation of `dims` dimensions.
    pub fn new(specs: &[BinSpec], dims: usize) -> Result<Self, RlError> {
        if specs.len() != dims {
            return Err(RlError::BadBins {
                reason: format!(
                    "{} bin specs given for a {dims}-dimensional observation",
                    specs.len()
                ),
            });
        }
        let mut num_states: u128 = 1;
        for (i, b) in specs.iter().enumerate() {
            if b.count == 0 {
                return Err(RlError::BadBins {
                    reason: format!("dimension {i} has 0 bins"),
                });
            }
            if !(b.low.is_finite() && b.high.is_finite() && b.low < b.high) {
                return Err(RlError::BadBins {
                    reason: format!(
                        "dimension {i} has range [{}, {}]; need finite low < high",
                        b.low, b.high
                    ),
                });
            }
            num_states = num_states.saturating_mul(b.count as u128);
        }
        if num_states > MAX_STATES as u128 {
            return Err(RlError::TooManyStates {
                states: num_states,
                limit: MAX_STATES as u128,
            });
        }
        Ok(Discretiser {
            specs: specs.to_vec(),
            num_states: num_states as usize,
        })
    }

    /// Number of discrete states.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// The bin specs.
    pub fn specs(&self) -> &[BinSpec] {
        &self.specs
    }

    /// State index of `obs` (which has as many components as there are specs).
    #[inline]
    pub fn index(&self, obs: &[f64]) -> usize {
        let mut idx = 0;
        for (b, &x) in self.specs.iter().zip(obs) {
            let scaled = (x - b.low) / (b.high - b.low) * b.count as f64;
            // Float-to-int casts saturate (negative and NaN → 0), which does the clipping.
            let bin = (scaled as usize).min(b.count - 1);
            idx = idx * b.count + bin;
        }
        idx
    }
}

/// CartPole seen through a [`Discretiser`], steppable by the tabular agents.
#[derive(Debug, Clone)]
pub struct DiscretisedCartPole {
    /// The underlying system.
    pub cartpole: CartPole,
    /// Observation → state mapping.
    pub discretiser: Discretiser,
    time_limit: Option<u32>,
}

impl DiscretisedCartPole {
    /// Wraps a cart-pole with the given bins and time limit.
    pub fn new(bins: &[BinSpec], time_limit: Option<u32>) -> Result<Self, RlError> {
        Ok(DiscretisedCartPole {
            cartpole: CartPole::default(),
            discretiser: Discretiser::new(bins, 4)?,
            time_limit,
        })
    }

    fn observe(&self, state: &CartPoleState) -> usize {
        self.discretiser.index(state)
    }
}

impl StepEnv for DiscretisedCartPole {
    fn num_states(&self) -> usize {
        self.discretiser.num_states()
    }

    fn num_actions(&self) -> usize {
        2
    }

    fn reset(&mut self, rng: &mut RlRng) -> usize {
        let s = self.cartpole.reset(rng);
        self.observe(&s)
    }

    #[inline]
    fn step(&mut self, action: usize, _rng: &mut RlRng) -> StepResult {
        let terminated = self.cartpole.step(action);
        StepResult {
            state: self.observe(&self.cartpole.state),
            reward: 1.0,
            terminated,
            success: false,
        }
    }

    fn time_limit(&self) -> Option<u32> {
        self.time_limit
    }

    fn truncation_is_success(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_clip_and_index() {
        let d = Discretiser::new(
            &[
                BinSpec {
                    count: 2,
                    low: 0.0,
                    high: 1.0,
                },
                BinSpec {
                    count: 3,
                    low: -1.0,
                    high: 1.0,
                },
            ],
            2,
        )
        .unwrap();
        assert_eq!(d.num_states(), 6);
        assert_eq!(d.index(&[-5.0, -5.0]), 0);
        assert_eq!(d.index(&[0.75, 0.0]), 3 + 1);
        assert_eq!(d.index(&[1.0, 1.0]), 5);
        assert_eq!(d.index(&[f64::NAN, 9.0]), 2);
    }

    #[test]
    fn bins_from_lists_uses_default_ranges() {
        let b = bins_from_lists(&[1, 2, 3, 4], None, &CARTPOLE_DEFAULT_BINS).unwrap();
        assert_eq!(b[3].count, 4);
        assert_eq!(b[3].high, CARTPOLE_DEFAULT_BINS[3].high);
        let r = [(-1.0, 1.0); 4];
        let b = bins_from_lists(&[1, 2, 3, 4], Some(&r), &CARTPOLE_DEFAULT_BINS).unwrap();
        assert_eq!((b[0].low, b[0].high), (-1.0, 1.0));
        assert!(bins_from_lists(&[1, 2], None, &CARTPOLE_DEFAULT_BINS).is_err());
        assert!(bins_from_lists(&[1, 2, 3, 4], Some(&r[..2]), &CARTPOLE_DEFAULT_BINS).is_err());
    }

    #[test]
    fn bad_bins() {
        let b = |count, low, high| BinSpec { count, low, high };
        assert!(matches!(
            Discretiser::new(&[b(2, 0.0, 1.0)], 4),
            Err(RlError::BadBins { .. })
        ));
        assert!(matches!(
            Discretiser::new(&[b(0, 0.0, 1.0)], 1),
            Err(RlError::BadBins { .. })
        ));
        assert!(matches!(
            Discretiser::new(&[b(2, 1.0, 1.0)], 1),
            Err(RlError::BadBins { .. })
        ));
        assert!(matches!(
            Discretiser::new(&[b(100_000, 0.0, 1.0), b(100_000, 0.0, 1.0)], 2),
            Err(RlError::TooManyStates { .. })
        ));
    }
}
