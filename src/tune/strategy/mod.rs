//! Search strategies behind one ask/tell interface.
//!
//! A strategy is a *pure function* of `(seed, slot numbers, told history, pending
//! configurations)`: it keeps no hidden state between calls. That is what makes studies
//! reproducible whatever the number of parallel jobs, and resumable from a journal: the
//! runner only has to replay the history to get the very same next suggestions.
//! [`crate::tune::optimizer::Optimizer`] wraps a strategy into a stateful ask/tell object.
//!
//! Every random draw comes from a `ChaCha8Rng` derived from the study seed, a purpose tag
//! and a slot (or batch) number via [`rng_for`].

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::ConfigError;
use super::space::SearchSpace;
use super::value::TrialParams;

pub mod acquisition;
pub mod bayes;
pub mod genetic;
pub mod random;

pub use bayes::{Bayes, BayesConfig};
pub use genetic::{Genetic, GeneticConfig};
pub use random::{Random, RandomConfig};

/// Whether the objective is to be minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better (`minimize(…)`).
    Minimize,
    /// Larger is better (`maximize(…)`).
    Maximize,
}

impl Direction {
    /// The value turned into a loss (smaller is better).
    pub fn loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }

    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        self.loss(a) < self.loss(b)
    }

    /// Lower-case name (`"minimize"` / `"maximize"`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
    }
}

/// How a trial ended, as far as a strategy cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Finished with this objective value.
    Complete(f64),
    /// Stopped early by the pruner; `last` is its last intermediate value, if any.
    Pruned {
        /// Last reported intermediate value.
        last: Option<f64>,
    },
    /// The objective returned an error (or a non-finite value).
    Failed,
}

/// A told trial: which slot, what configuration, how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Suggestion slot (0-based position in the strategy's sequence).
    pub slot: usize,
    /// Configuration evaluated.
    pub params: TrialParams,
    /// Result.
    pub outcome: Outcome,
}

/// Everything a strategy may look at when suggesting.
#[derive(Debug, Clone, Copy)]
pub struct AskContext<'a> {
    /// The search space.
    pub space: &'a SearchSpace,
    /// Optimisation direction.
    pub direction: Direction,
    /// Study seed.
    pub seed: u64,
    /// Slot of the first suggestion requested.
    pub first_slot: usize,
    /// Number of suggestions requested (slots `first_slot..first_slot + count`).
    pub count: usize,
    /// Told trials, sorted by slot.
    pub history: &'a [Observation],
    /// Configurations asked earlier but not told yet (treated as pending evaluations).
    pub pending: &'a [TrialParams],
}

/// A search strategy (see the module docs for the purity contract).
pub trait Strategy: Send + Sync {
    /// Short name (`"random"`, `"bayes"`, `"genetic"`).
    fn name(&self) -> &'static str;
    /// Total number of trials the strategy plans (the study budget).
    fn budget(&self) -> usize;
    /// Batch size used when the study does not set one.
    fn default_batch(&self) -> usize;
    /// Suggests `ctx.count` configurations for slots `ctx.first_slot..`.
    fn ask(&self, ctx: &AskContext<'_>) -> Vec<TrialParams>;
}

/// Strategy settings, as written in a `tune` block.
#[derive(Debug, Clone, PartialEq)]
pub enum StrategyConfig {
    /// `random(trials)`.
    Random(RandomConfig),
    /// `bayes(trials, init)`.
    Bayes(BayesConfig),
    /// `genetic(population, generations)`.
    Genetic(GeneticConfig),
}

impl StrategyConfig {
    /// `random(trials)` with defaults.
    pub fn random(trials: usize) -> Self {
        StrategyConfig::Random(RandomConfig { trials })
    }

    /// `bayes(trials, init)`; `init = None` picks the default (see [`BayesConfig`]).
    pub fn bayes(trials: usize, init: Option<usize>) -> Self {
        StrategyConfig::Bayes(BayesConfig::new(trials, init))
    }

    /// `genetic(population, generations)` with default operators.
    pub fn genetic(population: usize, generations: usize) -> Self {
        StrategyConfig::Genetic(GeneticConfig::new(population, generations))
    }

    /// Total trial budget.
    pub fn trials(&self) -> usize {
        match self {
            StrategyConfig::Random(c) => c.trials,
            StrategyConfig::Bayes(c) => c.trials,
            StrategyConfig::Genetic(c) => c.population * c.generations,
        }
    }

    /// Validates the settings against `space` and builds the strategy.
    pub fn build(&self, space: &SearchSpace) -> Result<Box<dyn Strategy>, ConfigError> {
        Ok(match self {
            StrategyConfig::Random(c) => Box::new(Random::new(c.clone())?),
            StrategyConfig::Bayes(c) => Box::new(Bayes::new(c.clone(), space)?),
            StrategyConfig::Genetic(c) => Box::new(Genetic::new(c.clone())?),
        })
    }

    /// A stable one-line description (stored in the journal to detect setting changes).
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// Purpose tags so that different uses of the seed never share a random stream.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub(crate) enum Purpose {
    Random = 1,
    SobolShift = 2,
    Bayes = 3,
    Genetic = 4,
    Candidates = 5,
}

/// The random stream for `(seed, purpose, index)`.
pub(crate) fn rng_for(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let mixed = seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = ChaCha8Rng::seed_from_u64(mixed);
    rng.set_stream(index);
    rng
}

/// Checks that a count setting is at least `min`.
pub(crate) fn at_least(setting: &'static str, value: usize, min: usize) -> Result<(), ConfigError> {
    if value < min {
        Err(ConfigError::TooSmall {
            setting,
            min,
            value,
        })
    } else {
        Ok(())
    }
}

/// Unit-cube points from a digitally shifted Sobol sequence (uniform random beyond the
/// supported dimension count); point `index` depends only on `(seed, index)`.
pub(crate) fn sobol_point(space: &SearchSpace, seed: u64, index: usize) -> Vec<f64> {
    use rand::Rng;
    let mut shift_rng = rng_for(seed, Purpose::SobolShift, 0);
    match super::sobol::Sobol::scrambled(space.dims(), &mut shift_rng) {
        Some(s) if index <= u32::MAX as usize => s.point(index as u32),
        _ => {
            let mut r = rng_for(seed, Purpose::SobolShift, 1 + index as u64);
            (0..space.dims()).map(|_| r.random::<f64>()).collect()
        }
    }
}
