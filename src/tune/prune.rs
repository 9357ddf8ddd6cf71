//! The median stopping rule (`prune = median(warmup)`), with the semantics of Optuna's
//! `MedianPruner` (a `PercentilePruner` at the 50th percentile, `interval_steps = 1`,
//! `n_min_trials = 1`): once `startup_trials` trials have completed, a trial that has reported
//! a value at step `s ≥ warmup` is stopped when the best value it has reported so far is worse
//! than the median of the completed trials' values at step `s`.
//!
//! Steps are 0-based epochs (Optuna's `for step in range(epochs)` convention), so
//! `warmup = 3` never stops a trial during its first three epochs, and
//! `optuna.pruners.MedianPruner(n_warmup_steps = warmup)` makes the same decisions on the
//! values an ammc journal records.

use std::collections::BTreeMap;

use super::study::Direction;

/// Intermediate objective values of one trial by step (0-based epoch).
pub type Intermediate = BTreeMap<usize, f64>;

/// Optuna's default number of completed trials before the median rule may stop anything.
pub const DEFAULT_STARTUP_TRIALS: usize = 5;

/// The median stopping rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MedianPruner {
    /// Steps at the start of a trial that are never pruned.
    pub warmup: usize,
    /// Completed trials needed before anything is pruned.
    pub startup_trials: usize,
}

impl MedianPruner {
    /// The rule with `warmup` epochs of grace and Optuna's default of 5 startup trials.
    pub fn new(warmup: usize) -> MedianPruner {
        MedianPruner {
            warmup,
            startup_trials: DEFAULT_STARTUP_TRIALS,
        }
    }

    /// Whether to stop a trial that has just reported its value at `step`; `current` holds
    /// every value it reported so far (including `step`'s) and `completed` the intermediate
    /// values of the COMPLETE trials the decision may use.
    pub fn should_prune(
        &self,
        direction: Direction,
        completed: &[Intermediate],
        current: &Intermediate,
        step: usize,
    ) -> bool {
        if completed.is_empty() || completed.len() < self.startup_trials || step < self.warmup {
            return false;
        }
        // Best value so far over the trial's steps (NaN-ignoring, like `np.nanmax`).
        let finite = current.values().copied().filter(|v| !v.is_nan());
        let best = match direction {
            Direction::Maximize => finite.fold(f64::NAN, f64::max),
            Direction::Minimize => finite.fold(f64::NAN, f64::min),
        };
        if best.is_nan() {
            // Optuna prunes a trial whose every reported value is NaN.
            return true;
        }
        let Some(median) = median(completed.iter().filter_map(|t| t.get(&step).copied())) else {
            return false;
        };
        match direction {
            Direction::Maximize => best < median,
            Direction::Minimize => best > median,
        }
    }
}

/// Median with linear interpolation between the middle values (`np.nanpercentile(v, 50)`),
/// ignoring NaN; `None` when nothing is left.
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = (v.len() - 1) as f64 * 0.5;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[f64]) -> Intermediate {
        values.iter().copied().enumerate().collect()
    }

    #[test]
    fn median_interpolates() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), Some(2.5));
        assert_eq!(median([f64::NAN, 1.0].into_iter()), Some(1.0));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn rule_follows_optuna() {
        let p = MedianPruner::new(1);
        let done: Vec<Intermediate> = (0..5)
            .map(|i| curve(&[0.5, 0.6 + 0.01 * i as f64]))
            .collect();
        // Median at step 1 is 0.62.
        let bad = curve(&[0.1, 0.3]);
        assert!(p.should_prune(Direction::Maximize, &done, &bad, 1));
        // Warm-up: step 0 is never pruned.
        assert!(!p.should_prune(Direction::Maximize, &done, &curve(&[0.1]), 0));
        // The best value so far counts, not the latest.
        let recovered = curve(&[0.7, 0.3]);
        assert!(!p.should_prune(Direction::Maximize, &done, &recovered, 1));
        // Fewer than 5 completed trials: no pruning.
        assert!(!p.should_prune(Direction::Maximize, &done[..4], &bad, 1));
        // Minimisation mirrors it.
        assert!(!p.should_prune(Direction::Minimize, &done, &bad, 1));
        assert!(p.should_prune(Direction::Minimize, &done, &curve(&[0.9, 0.8]), 1));
        // No completed trial reported this step: keep going.
        assert!(!p.should_prune(Direction::Maximize, &done, &curve(&[0.1, 0.1, 0.1]), 2));
        // Only NaN reported: pruned, as Optuna does.
        assert!(p.should_prune(Direction::Maximize, &done, &curve(&[f64::NAN, f64::NAN]), 1));
    }
}
