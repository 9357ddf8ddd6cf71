//! `random(trials)`: independent uniform draws in the unit cube.

use rand::Rng;

use super::{AskContext, Purpose, Strategy, at_least, rng_for};
use crate::tune::error::ConfigError;
use crate::tune::value::TrialParams;

/// Settings of `random(trials)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomConfig {
    /// Number of trials.
    pub trials: usize,
}

/// Uniform random search: slot `s` is drawn from its own stream, so suggestions do not
/// depend on batch sizes or on results.
#[derive(Debug, Clone)]
pub struct Random {
    config: RandomConfig,
}

impl Random {
    /// Validates the settings.
    pub fn new(config: RandomConfig) -> Result<Self, ConfigError> {
        at_least("trials", config.trials, 1)?;
        Ok(Random { config })
    }
}

impl Strategy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn budget(&self) -> usize {
        self.config.trials
    }

    fn default_batch(&self) -> usize {
        8
    }

    fn ask(&self, ctx: &AskContext<'_>) -> Vec<TrialParams> {
        (ctx.first_slot..ctx.first_slot + ctx.count)
            .map(|slot| {
                let mut rng = rng_for(ctx.seed, Purpose::Random, slot as u64);
                let u: Vec<f64> = (0..ctx.space.dims()).map(|_| rng.random::<f64>()).collect();
                ctx.space.decode(&u)
            })
            .collect()
    }
}
