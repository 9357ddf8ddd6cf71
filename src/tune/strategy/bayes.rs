//! `bayes(trials, init)`: Bayesian optimisation with a Gaussian-process surrogate and the
//! log expected improvement acquisition.
//!
//! * Slots below `init` follow a digitally shifted Sobol design (so the first points
//!   cover the space evenly), as do later slots while fewer than two trials completed.
//! * Then each batch fits a GP ([`crate::tune::gp`]) to all told trials: completed ones with
//!   their loss, failed and pruned ones imputed with the worst completed loss (so the model
//!   learns to avoid regions that crash or get pruned), and maximises LogEI
//!   ([`super::acquisition`]).
//! * Batches (`batch > 1`) use the *constant liar* heuristic: after choosing a point, the
//!   GP is conditioned on it with a fake target equal to the mean of the observed
//!   standardised targets (hyperparameters kept), and the next point is chosen against that
//!   model. Pending configurations from [`AskContext::pending`] are treated the same way.
//!   The mean lie sits between the optimistic (min) and pessimistic (max) variants: it
//!   removes the chosen point's uncertainty without pretending it is good or bad.

use super::acquisition::{self, AcqSettings, LogEi};
use super::{AskContext, Outcome, Purpose, Strategy, at_least, rng_for, sobol_point};
use crate::tune::error::ConfigError;
use crate::tune::gp::{Gp, GpFitSettings};
use crate::tune::space::SearchSpace;
use crate::tune::value::TrialParams;

/// Settings of `bayes(trials, init)`.
#[derive(Debug, Clone, PartialEq)]
pub struct BayesConfig {
    /// Number of trials.
    pub trials: usize,
    /// Size of the initial Sobol design; `None` = `max(5, 2·(dims + 1))`, capped at `trials`.
    pub init: Option<usize>,
    /// Quasi-random candidates scored per suggestion.
    pub candidates: usize,
    /// Local acquisition searches per suggestion.
    pub local_starts: usize,
    /// Random restarts of the hyperparameter fit (besides the neutral start).
    pub fit_restarts: usize,
}

impl BayesConfig {
    /// Defaults for everything but the budget and the initial design.
    pub fn new(trials: usize, init: Option<usize>) -> Self {
        BayesConfig {
            trials,
            init,
            candidates: 512,
            local_starts: 5,
            fit_restarts: 1,
        }
    }
}

/// Gaussian-process Bayesian optimisation (see the module docs).
#[derive(Debug, Clone)]
pub struct Bayes {
    config: BayesConfig,
    init: usize,
}

impl Bayes {
    /// Validates the settings for `space`.
    pub fn new(config: BayesConfig, space: &SearchSpace) -> Result<Self, ConfigError> {
        at_least("trials", config.trials, 1)?;
        at_least("candidates", config.candidates, 1)?;
        let init = match config.init {
            Some(init) => {
                at_least("init", init, 1)?;
                if init > config.trials {
                    return Err(ConfigError::InitExceedsTrials {
                        init,
                        trials: config.trials,
                    });
                }
                init
            }
            None => (2 * (space.dims() + 1)).max(5).min(config.trials),
        };
        Ok(Bayes { config, init })
    }

    /// Effective initial design size.
    pub fn init(&self) -> usize {
        self.init
    }
}

impl Strategy for Bayes {
    fn name(&self) -> &'static str {
        "bayes"
    }

    fn budget(&self) -> usize {
        self.config.trials
    }

    fn default_batch(&self) -> usize {
        4
    }

    fn ask(&self, ctx: &AskContext<'_>) -> Vec<TrialParams> {
        let space = ctx.space;
        let kinds = space.dim_kinds();
        // Encoded history; observations that no longer fit the space are skipped.
        let mut xs: Vec<Vec<f64>> = Vec::new();
        let mut losses: Vec<Option<f64>> = Vec::new();
        for o in ctx.history {
            if let Ok(x) = space.encode(&o.params) {
                xs.push(x);
                losses.push(match o.outcome {
                    Outcome::Complete(v) if v.is_finite() => Some(ctx.direction.loss(v)),
                    _ => None,
                });
            }
        }
        let complete: Vec<f64> = losses.iter().flatten().copied().collect();
        let distinct = complete.iter().any(|v| *v != complete[0]);
        let mut chosen: Vec<Vec<f64>> = ctx
            .pending
            .iter()
            .filter_map(|p| space.encode(p).ok())
            .collect();
        let mut model: Option<Option<Gp>> = None;
        let mut out = Vec::with_capacity(ctx.count);
        for j in 0..ctx.count {
            let slot = ctx.first_slot + j;
            let sobol = || space.decode(&sobol_point(space, ctx.seed, slot));
            if slot < self.init || complete.len() < 2 || !distinct {
                let p = sobol();
                if let Ok(x) = space.encode(&p) {
                    chosen.push(x);
                }
                out.push(p);
                continue;
            }
            let gp = model.get_or_insert_with(|| {
                let worst = complete.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let y: Vec<f64> = losses.iter().map(|l| l.unwrap_or(worst)).collect();
                let mut rng = rng_for(ctx.seed, Purpose::Bayes, ctx.first_slot as u64);
                let settings = GpFitSettings {
                    restarts: self.config.fit_restarts,
                    ..Default::default()
                };
                Gp::fit(&kinds, &xs, &y, &mut rng, settings)
            });
            let Some(base) = gp.as_ref() else {
                out.push(sobol());
                continue;
            };
            let n_obs = xs.len();
            let targets = base.targets();
            let best = losses
                .iter()
                .zip(targets)
                .filter(|(l, _)| l.is_some())
                .map(|(_, t)| *t)
                .fold(f64::INFINITY, f64::min);
            let lie = targets[..n_obs].iter().sum::<f64>() / n_obs as f64;
            let fantasy;
            let model_ref = if chosen.is_empty() {
                base
            } else {
                match base.fantasize(&chosen, &vec![lie; chosen.len()]) {
                    Some(g) => {
                        fantasy = g;
                        &fantasy
                    }
                    None => base,
                }
            };
            let mut order: Vec<usize> = (0..n_obs).filter(|&i| losses[i].is_some()).collect();
            order.sort_by(|&a, &b| targets[a].total_cmp(&targets[b]));
            let incumbents: Vec<Vec<f64>> = order.iter().take(3).map(|&i| xs[i].clone()).collect();
            let mut avoid = xs.clone();
            avoid.extend(chosen.iter().cloned());
            let acq = LogEi {
                gp: model_ref,
                best,
            };
            let settings = AcqSettings {
                candidates: self.config.candidates,
                local_starts: self.config.local_starts,
                ..Default::default()
            };
            let mut rng = rng_for(ctx.seed, Purpose::Candidates, slot as u64);
            let x = acquisition::maximize(&acq, space, &incumbents, &avoid, &mut rng, &settings)
                .unwrap_or_else(|| space.snap(&sobol_point(space, ctx.seed, slot)));
            out.push(space.decode(&x));
            chosen.push(x);
        }
        out
    }
}
