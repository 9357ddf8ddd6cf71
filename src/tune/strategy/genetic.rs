//! `genetic(population, generations)`: a generational genetic algorithm in the unit cube.
//!
//! * Generation 0 is a digitally shifted Sobol design.
//! * Generation `g ≥ 1` breeds from a parent pool made of generation `g − 1` plus the
//!   `elite` best trials seen so far (elitism without re-evaluating them, which would waste
//!   trials on a deterministic objective).
//! * Parents are picked by tournament selection (`tournament` random entrants, best wins;
//!   failed and pruned trials always lose).
//! * Crossover (probability `crossover_rate`): floats and log floats use BLX-0.5 blending
//!   of the two parents' unit coordinates; integers and choices take either parent's value.
//! * Mutation (each gene with probability `mutation_rate`): floats get Gaussian noise in the
//!   unit cube (reflected at the borders) whose scale decays geometrically from
//!   `mutation_sigma` to a tenth of it over the run; integers move by at least one step;
//!   choices are resampled among the other values.
//!
//! Slot `s` belongs to generation `s / population` and draws from its own random stream.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::acquisition::{normal, reflect01};
use super::{AskContext, Outcome, Purpose, Strategy, at_least, rng_for, sobol_point};
use crate::tune::error::ConfigError;
use crate::tune::space::{Distribution, SearchSpace};
use crate::tune::value::TrialParams;

/// Settings of `genetic(population, generations)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneticConfig {
    /// Individuals per generation (also the default batch size).
    pub population: usize,
    /// Number of generations; the budget is `population × generations`.
    pub generations: usize,
    /// Tournament size.
    pub tournament: usize,
    /// Probability that a child mixes two parents (otherwise it copies one).
    pub crossover_rate: f64,
    /// Per-gene mutation probability; `None` = `max(1 / dims, 0.2)`.
    pub mutation_rate: Option<f64>,
    /// Initial standard deviation of float mutations in unit-cube coordinates.
    pub mutation_sigma: f64,
    /// Best trials carried into every parent pool.
    pub elite: usize,
}

impl GeneticConfig {
    /// Default operators for a given population and number of generations.
    pub fn new(population: usize, generations: usize) -> Self {
        GeneticConfig {
            population,
            generations,
            tournament: 3,
            crossover_rate: 0.9,
            mutation_rate: None,
            mutation_sigma: 0.2,
            elite: (population / 5).max(1),
        }
    }
}

/// Generational genetic algorithm (see the module docs).
#[derive(Debug, Clone)]
pub struct Genetic {
    config: GeneticConfig,
}

fn in_unit(setting: &'static str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            setting,
            range: "[0, 1]",
            value: v,
        })
    }
}

impl Genetic {
    /// Validates the settings.
    pub fn new(config: GeneticConfig) -> Result<Self, ConfigError> {
        at_least("population", config.population, 2)?;
        at_least("generations", config.generations, 1)?;
        at_least("tournament", config.tournament, 1)?;
        in_unit("crossover_rate", config.crossover_rate)?;
        if let Some(r) = config.mutation_rate {
            in_unit("mutation_rate", r)?;
        }
        if !(config.mutation_sigma > 0.0 && config.mutation_sigma <= 1.0) {
            return Err(ConfigError::OutOfRange {
                setting: "mutation_sigma",
                range: "(0, 1]",
                value: config.mutation_sigma,
            });
        }
        Ok(Genetic { config })
    }

    fn tournament<'a>(&self, pool: &'a [(f64, Vec<f64>)], rng: &mut ChaCha8Rng) -> &'a [f64] {
        let mut best = rng.random_range(0..pool.len());
        for _ in 1..self.config.tournament {
            let c = rng.random_range(0..pool.len());
            if pool[c].0 < pool[best].0 {
                best = c;
            }
        }
        &pool[best].1
    }

    fn child(
        &self,
        space: &SearchSpace,
        pool: &[(f64, Vec<f64>)],
        generation: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        let c = &self.config;
        let a = self.tournament(pool, rng).to_vec();
        let b = self.tournament(pool, rng).to_vec();
        let mut x = a.clone();
        if rng.random::<f64>() < c.crossover_rate {
            for (k, p) in space.params().iter().enumerate() {
                x[k] = match p.distribution {
                    Distribution::Uniform { .. } | Distribution::LogUniform { .. } => {
                        let (lo, hi) = (a[k].min(b[k]), a[k].max(b[k]));
                        let span = hi - lo;
                        reflect01(lo - 0.5 * span + rng.random::<f64>() * 2.0 * span)
                    }
                    _ => {
                        if rng.random::<bool>() {
                            a[k]
                        } else {
                            b[k]
                        }
                    }
                };
            }
        }
        let d = space.dims();
        let rate = c.mutation_rate.unwrap_or((1.0 / d as f64).max(0.2));
        let progress = if c.generations > 1 {
            (generation as f64 / (c.generations - 1) as f64).min(1.0)
        } else {
            0.0
        };
        let sigma = c.mutation_sigma * 0.1f64.powf(progress);
        for (k, p) in space.params().iter().enumerate() {
            if rng.random::<f64>() >= rate {
                continue;
            }
            x[k] = match &p.distribution {
                Distribution::Uniform { .. } | Distribution::LogUniform { .. } => {
                    reflect01(x[k] + sigma * normal(rng))
                }
                Distribution::Int {
                    low, high, step, ..
                } => {
                    // Move by whole cells: at least one, more for large sigma.
                    let cells = ((high - low) / step + 1) as f64;
                    let moves = (sigma * cells * normal(rng).abs()).round().max(1.0);
                    let dir = if rng.random::<bool>() { 1.0 } else { -1.0 };
                    reflect01(x[k] + dir * moves / cells)
                }
                Distribution::Choice { values } => {
                    let n = values.len();
                    if n < 2 {
                        x[k]
                    } else {
                        let cur = ((x[k] * n as f64).floor() as usize).min(n - 1);
                        let mut pick = rng.random_range(0..n - 1);
                        if pick >= cur {
                            pick += 1;
                        }
                        (pick as f64 + 0.5) / n as f64
                    }
                }
            };
        }
        x
    }
}

impl Strategy for Genetic {
    fn name(&self) -> &'static str {
        "genetic"
    }

    fn budget(&self) -> usize {
        self.config.population * self.config.generations
    }

    fn default_batch(&self) -> usize {
        self.config.population
    }

    fn ask(&self, ctx: &AskContext<'_>) -> Vec<TrialParams> {
        let space = ctx.space;
        let pop = self.config.population;
        let scored: Vec<(usize, f64, Vec<f64>)> = ctx
            .history
            .iter()
            .filter_map(|o| {
                let x = space.encode(&o.params).ok()?;
                let loss = match o.outcome {
                    Outcome::Complete(v) if v.is_finite() => ctx.direction.loss(v),
                    _ => f64::INFINITY,
                };
                Some((o.slot, loss, x))
            })
            .collect();
        let mut elite: Vec<&(usize, f64, Vec<f64>)> =
            scored.iter().filter(|o| o.1.is_finite()).collect();
        elite.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        elite.truncate(self.config.elite);
        (ctx.first_slot..ctx.first_slot + ctx.count)
            .map(|slot| {
                let generation = slot / pop;
                let start = generation.saturating_sub(1) * pop;
                let mut pool: Vec<(f64, Vec<f64>)> = scored
                    .iter()
                    .filter(|o| generation > 0 && o.0 >= start && o.0 < start + pop)
                    .map(|o| (o.1, o.2.clone()))
                    .collect();
                for e in &elite {
                    if !(generation > 0 && e.0 >= start && e.0 < start + pop) {
                        pool.push((e.1, e.2.clone()));
                    }
                }
                if generation == 0 || pool.is_empty() {
                    return space.decode(&sobol_point(space, ctx.seed, slot));
                }
                let mut rng = rng_for(ctx.seed, Purpose::Genetic, slot as u64);
                space.decode(&self.child(space, &pool, generation, &mut rng))
            })
            .collect()
    }
}
