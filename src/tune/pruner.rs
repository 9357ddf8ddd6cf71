//! Median pruning: stop a trial at step `s` when its intermediate value is worse than the
//! median of the values completed trials reported at step `s`.
//!
//! To keep studies reproducible whatever the number of parallel jobs, the reference set of
//! a trial is fixed when its batch starts: the COMPLETE trials of all earlier batches. Trials
//! running in the same batch never influence each other.

use std::collections::BTreeMap;

use super::strategy::Direction;

/// `prune = median` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MedianPruner {
    /// No pruning until this many trials completed (Optuna's `n_startup_trials`).
    pub warmup_trials: usize,
    /// No pruning before this step (Optuna's `n_warmup_steps`).
    pub warmup_steps: u64,
}

impl Default for MedianPruner {
    fn default() -> Self {
        MedianPruner {
            warmup_trials: 5,
            warmup_steps: 0,
        }
    }
}

/// Which pruner a study uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PrunerConfig {
    /// Never prune.
    #[default]
    None,
    /// `prune = median`.
    Median(MedianPruner),
}

/// Intermediate values of the reference (completed) trials, by step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReference {
    completed: usize,
    by_step: BTreeMap<i64, Vec<f64>>,
}

impl PruneReference {
    /// Builds the reference from the intermediate values of completed trials.
    pub fn new<'a>(completed: impl IntoIterator<Item = &'a [(i64, f64)]>) -> Self {
        let mut r = PruneReference::default();
        for t in completed {
            r.completed += 1;
            for (step, v) in t {
                if v.is_finite() {
                    r.by_step.entry(*step).or_default().push(*v);
                }
            }
        }
        for v in r.by_step.values_mut() {
            v.sort_by(f64::total_cmp);
        }
        r
    }

    /// Number of completed reference trials.
    pub fn completed(&self) -> usize {
        self.completed
    }

    /// Median of the reference values at `step` (mean of the two middle ones when even).
    pub fn median(&self, step: i64) -> Option<f64> {
        let v = self.by_step.get(&step)?;
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
        }
    }
}

impl PrunerConfig {
    /// Whether a trial reporting `value` at `step` should stop.
    pub fn should_prune(
        &self,
        reference: &PruneReference,
        direction: Direction,
        step: u64,
        value: f64,
    ) -> bool {
        let PrunerConfig::Median(m) = self else {
            return false;
        };
        if reference.completed() < m.warmup_trials.max(1) || step < m.warmup_steps {
            return false;
        }
        let Ok(step) = i64::try_from(step) else {
            return false;
        };
        match reference.median(step) {
            Some(med) => direction.better(med, value),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(vals: &[(i64, f64)]) -> Vec<(i64, f64)> {
        vals.to_vec()
    }

    #[test]
    fn prunes_only_worse_than_median_after_warmup() {
        let ts = [
            trial(&[(0, 1.0), (1, 0.5)]),
            trial(&[(0, 2.0), (1, 0.7)]),
            trial(&[(0, 3.0)]),
        ];
        let r = PruneReference::new(ts.iter().map(|t| &t[..]));
        assert_eq!(r.median(0), Some(2.0));
        assert_eq!(r.median(1), Some(0.6));
        let p = PrunerConfig::Median(MedianPruner {
            warmup_trials: 3,
            warmup_steps: 1,
        });
        let min = Direction::Minimize;
        assert!(!p.should_prune(&r, min, 0, 100.0), "warm-up step");
        assert!(p.should_prune(&r, min, 1, 0.61));
        assert!(
            !p.should_prune(&r, min, 1, 0.6),
            "equal to the median is kept"
        );
        assert!(!p.should_prune(&r, min, 2, 100.0), "no reference at step 2");
        assert!(p.should_prune(&r, Direction::Maximize, 1, 0.59));
        let few = PruneReference::new(ts[..2].iter().map(|t| &t[..]));
        assert!(
            !p.should_prune(&few, min, 1, 100.0),
            "too few completed trials"
        );
        assert!(!PrunerConfig::None.should_prune(&r, min, 1, 100.0));
    }
}
