//! Search strategies as deterministic functions of (seed, slot, history of earlier batches,
//! [`SearchState`]): the `slot`-th trial's parameters depend only on the study seed and the
//! results of earlier batches, and the state is itself rebuilt from those batches by asking
//! them in order. That makes parallel runs (`jobs = K`) and resumed studies give exactly the
//! suggestions of a serial run.
//!
//! Trials are asked in fixed batches ([`Strategy::batches`]); a batch is suggested from the
//! history of all earlier batches, evaluated (in parallel or not), then told.

use std::ops::Range;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::acquisition::log_ei;
use super::gp::{self, Data, Gp, Hyper};
use super::rng::stream;
use super::sobol::Sobol;
use super::space::{Distribution, Params, Space};
use super::tpe::{self, TpeOptions};

/// A finished trial as the strategies see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Its parameters.
    pub params: Params,
    /// The value to minimise (maximised objectives are negated); `None` for a failed trial.
    pub loss: Option<f64>,
}

/// A search strategy and its budget.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// `random(trials)`: independent uniform draws.
    Random {
        /// Number of trials.
        trials: usize,
    },
    /// `bayes(trials, init, batch)`: Sobol initial design, then GP + log expected
    /// improvement, `batch` points at a time (kriging believer).
    Bayes {
        /// Number of trials.
        trials: usize,
        /// Initial quasi-random trials.
        init: usize,
        /// Points proposed together after the initial design: a property of the search (the
        /// points depend on it), not of `jobs`; `jobs = batch` keeps every worker busy.
        batch: usize,
    },
    /// `tpe(trials, startup, batch, …)`: random startup trials, then the tree-structured
    /// Parzen estimator (see [`super::tpe`]), `batch` points at a time (constant liar).
    Tpe {
        /// Number of trials.
        trials: usize,
        /// Random trials before the first model-based one.
        startup: usize,
        /// Points proposed together after the startup trials.
        batch: usize,
        /// How a suggestion is made.
        options: TpeOptions,
    },
    /// `genetic(population, generations)`.
    Genetic {
        /// Individuals per generation.
        population: usize,
        /// Generations.
        generations: usize,
    },
}

/// What a strategy carries from one batch to the next: the Gaussian process's last fitted
/// hyperparameters, the warm start of the next fit. A study asks every batch in order, the
/// finished ones of a resumed study included (their results come from the journal), so the
/// state after batch `b` is the same in serial, parallel and resumed runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchState {
    hyper: Option<Hyper>,
}

impl SearchState {
    /// The Gaussian process's last fitted hyperparameters, if a Bayesian step ran.
    pub fn hyper(&self) -> Option<&Hyper> {
        self.hyper.as_ref()
    }
}

/// The largest budget a strategy may have (`ammc check` rejects more): a study keeps every
/// trial in memory and in its journal, about a kilobyte each.
pub const MAX_TRIALS: usize = 1_000_000;

/// Random trials asked per batch (a fixed number, so results do not depend on `jobs`).
const RANDOM_BATCH: usize = 8;

/// Purposes of the derived random streams.
const P_RANDOM: u64 = 1;
const P_SOBOL: u64 = 2;
const P_GP: u64 = 3;
const P_GENETIC: u64 = 4;
const P_TPE_STARTUP: u64 = 5;
const P_TPE: u64 = 6;

impl Strategy {
    /// Total number of trials (saturating: `ammc check` bounds budgets by [`MAX_TRIALS`]).
    pub fn trials(&self) -> usize {
        match self {
            Strategy::Random { trials }
            | Strategy::Bayes { trials, .. }
            | Strategy::Tpe { trials, .. } => *trials,
            Strategy::Genetic {
                population,
                generations,
            } => population.saturating_mul(*generations),
        }
    }

    /// The slot ranges asked together, in order. Lazy: a budget's batches are never all
    /// held at once.
    pub fn batches(&self) -> impl Iterator<Item = Range<usize>> + use<> {
        let n = self.trials();
        let (first, size) = match self {
            Strategy::Random { .. } => (RANDOM_BATCH.min(n), RANDOM_BATCH),
            // `batch` trials at a time after the initial design (1: each step sees every
            // result).
            Strategy::Bayes { init, batch, .. } => ((*init).min(n), *batch),
            Strategy::Tpe { startup, batch, .. } => ((*startup).min(n), *batch),
            Strategy::Genetic { population, .. } => ((*population).max(1).min(n), *population),
        };
        let size = size.max(1);
        let head = (first > 0).then_some(0..first);
        let tail = (first..n)
            .step_by(size)
            .map(move |s| s..s.saturating_add(size).min(n));
        head.into_iter().chain(tail)
    }

    /// Suggests the parameters of `slots` given the finished trials of all earlier slots
    /// (`history[i]` is slot `i`), updating `state`. Batches must be asked in the order of
    /// [`Strategy::batches`], starting from `SearchState::default()`.
    pub fn suggest(
        &self,
        space: &Space,
        seed: u64,
        history: &[Observation],
        slots: Range<usize>,
        state: &mut SearchState,
    ) -> Vec<Params> {
        match self {
            Strategy::Random { .. } => slots
                .map(|s| space.sample(&mut stream(seed, P_RANDOM, s as u64)))
                .collect(),
            Strategy::Bayes { init, .. } => {
                let mut out: Vec<Params> = Vec::new();
                // Suggestions of this batch's model-based slots, believed until evaluated.
                let first = init.saturating_sub(slots.start);
                // The model of the batch's first model-based slot, reused by the others.
                let mut model: Option<BayesModel> = None;
                for s in slots {
                    let p = if s < *init {
                        let mut rng = stream(seed, P_SOBOL, 0);
                        let sobol = Sobol::shifted(space.len(), &mut rng);
                        let mut extra = stream(seed, P_SOBOL, 1 + s as u64);
                        space.from_unit(&sobol.point(s as u64, &mut extra))
                    } else {
                        let mut rng = stream(seed, P_GP, s as u64);
                        if model.is_none() {
                            model = Some(BayesModel::fit(space, history, state, &mut rng));
                        }
                        match &model {
                            Some(m) => m.suggest(space, &out[first.min(out.len())..], &mut rng),
                            None => space.sample(&mut rng),
                        }
                    };
                    out.push(p);
                }
                out
            }
            Strategy::Tpe {
                startup, options, ..
            } => {
                let mut out: Vec<Params> = Vec::new();
                // Suggestions of this batch's model-based slots: the constant liar's points.
                let first = startup.saturating_sub(slots.start);
                for s in slots {
                    let p = if s < *startup {
                        space.sample(&mut stream(seed, P_TPE_STARTUP, s as u64))
                    } else {
                        let pending = &out[first.min(out.len())..];
                        tpe::suggest(
                            space,
                            options,
                            history,
                            pending,
                            &mut stream(seed, P_TPE, s as u64),
                        )
                    };
                    out.push(p);
                }
                out
            }
            Strategy::Genetic {
                population,
                generations,
            } => {
                let generation = slots.start / population.max(&1);
                let mut children: Vec<Params> = Vec::new();
                for s in slots {
                    let mut rng = stream(seed, P_GENETIC, s as u64);
                    let seen = |p: &Params, children: &[Params]| {
                        children.contains(p) || history.iter().any(|o| &o.params == p)
                    };
                    // An exact duplicate would cost a whole evaluation (a training run) to
                    // learn what is already known: draw again from the same stream, then fall
                    // back to uniform samples; a space too small to avoid it keeps the last.
                    let mut child = Vec::new();
                    for attempt in 0..DUPLICATE_RETRIES {
                        child = if generation == 0 || attempt >= DUPLICATE_RETRIES / 2 {
                            space.sample(&mut rng)
                        } else {
                            genetic_child(
                                space,
                                history,
                                *population,
                                generation,
                                *generations,
                                &mut rng,
                            )
                        };
                        if !seen(&child, &children) {
                            break;
                        }
                    }
                    children.push(child);
                }
                children
            }
        }
    }
}

/// A point in GP coordinates: unit cube for numeric dimensions, index for categorical ones.
fn encode(space: &Space, p: &Params) -> Vec<f64> {
    space
        .dims
        .iter()
        .zip(p)
        .map(|(d, v)| match d.index_of(v) {
            Some(i) => i as f64,
            None => d.to_unit(v),
        })
        .collect()
}

fn decode(space: &Space, x: &[f64]) -> Params {
    let p = space
        .dims
        .iter()
        .zip(x)
        .map(|(d, v)| match &d.dist {
            Distribution::Choice(values) => {
                values[(v.max(0.0) as usize).min(values.len() - 1)].clone()
            }
            _ => d.from_unit(*v),
        })
        .collect();
    space.canonical(p)
}

fn random_gp_point(space: &Space, rng: &mut ChaCha8Rng) -> Vec<f64> {
    space
        .dims
        .iter()
        .map(|d| match d.categories() {
            0 => rng.random::<f64>(),
            k => rng.random_range(0..k) as f64,
        })
        .collect()
}

/// Draws of a genetic child before an exact duplicate of an evaluated point is accepted
/// (half from crossover and mutation, half uniform).
const DUPLICATE_RETRIES: usize = 32;

/// Candidates scored before local search.
const CANDIDATES: usize = 512;
/// Local searches run from the best candidates.
const STARTS: usize = 4;

/// Below this many observations a step fits the hyperparameters from scratch (cheap at that
/// size, and the early fits decide where the search goes); from here on it refits from the
/// previous step's hyperparameters.
const WARM_FROM: usize = 30;

/// The model of one batch of Bayesian optimisation: a GP fitted to the finished trials, or
/// uniform sampling while there are too few of them (or the fit failed).
enum BayesModel {
    Random,
    Gp {
        data: Data,
        hyper: Hyper,
        model: Box<Gp>,
    },
}

impl BayesModel {
    /// Fits the GP's hyperparameters and the GP to `history`, updating `state`.
    fn fit(
        space: &Space,
        history: &[Observation],
        state: &mut SearchState,
        rng: &mut ChaCha8Rng,
    ) -> BayesModel {
        let ok: Vec<f64> = history.iter().filter_map(|o| o.loss).collect();
        if ok.len() < 2 {
            return BayesModel::Random;
        }
        // A failed trial counts as the worst value seen: left out, the model would not know
        // the point was tried, and would propose it (and fail) again.
        let worst = ok.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let data = Data {
            x: history.iter().map(|o| encode(space, &o.params)).collect(),
            y: history.iter().map(|o| o.loss.unwrap_or(worst)).collect(),
            categorical: space.dims.iter().map(|d| d.is_categorical()).collect(),
        };
        let neutral = Hyper::default_for(space.len());
        let fitted = match &state.hyper {
            // Each likelihood costs O(n³): with much data, start from the last optimum,
            // probing the neutral start and one random point in case a better basin appeared.
            Some(warm) if data.y.len() >= WARM_FROM => {
                let probe = Hyper::random(space.len(), rng);
                gp::refit_hyper(&data, warm, &[neutral.clone(), probe], 15, 1e-3)
            }
            warm => {
                let mut starts = vec![neutral.clone()];
                starts.extend(warm.iter().cloned());
                gp::fit_hyper(&data, &starts, 2, 30, rng)
            }
        };
        if let Some(h) = &fitted {
            state.hyper = Some(h.clone());
        }
        let hyper = fitted.unwrap_or(neutral);
        match Gp::fit(data.clone(), hyper.clone()) {
            Some(model) => BayesModel::Gp {
                data,
                hyper,
                model: Box::new(model),
            },
            None => BayesModel::Random,
        }
    }

    /// Maximises log EI and decodes. `pending` are the batch's earlier suggestions, not yet
    /// evaluated: the kriging believer adds them with the model's mean as their value, so
    /// the variance there collapses and the next point goes elsewhere.
    fn suggest(&self, space: &Space, pending: &[Params], rng: &mut ChaCha8Rng) -> Params {
        let BayesModel::Gp { data, hyper, model } = self else {
            return space.sample(rng);
        };
        let believed;
        let model: &Gp = if pending.is_empty() {
            model
        } else {
            let mut d = data.clone();
            for p in pending {
                let x = encode(space, p);
                d.y.push(model.predict(&x).mean);
                d.x.push(x);
            }
            believed = Gp::fit(d, hyper.clone());
            believed.as_ref().unwrap_or(model)
        };
        let best = data.y.iter().copied().fold(f64::INFINITY, f64::min);
        let score = |x: &[f64]| {
            let p = model.predict(x);
            log_ei(p.mean, p.var, best)
        };
        // Candidates: uniform points plus perturbations of the best observations.
        let mut cands: Vec<Vec<f64>> = (0..CANDIDATES)
            .map(|_| random_gp_point(space, rng))
            .collect();
        let mut order: Vec<usize> = (0..data.y.len()).collect();
        order.sort_by(|a, b| data.y[*a].total_cmp(&data.y[*b]));
        for &i in order.iter().take(5) {
            for _ in 0..16 {
                let mut x = data.x[i].clone();
                for (m, d) in space.dims.iter().enumerate() {
                    if d.categories() == 0 {
                        let g: f64 = rng.random::<f64>() + rng.random::<f64>() - 1.0;
                        x[m] = (x[m] + 0.05 * g).clamp(0.0, 1.0);
                    }
                }
                cands.push(x);
            }
            cands.push(data.x[i].clone());
        }
        let mut scored: Vec<(f64, Vec<f64>)> = cands.into_iter().map(|x| (score(&x), x)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut best_x = scored[0].1.clone();
        let mut best_s = scored[0].0;
        for (s0, x0) in scored.into_iter().take(STARTS) {
            let (s, x) = local_search(space, &score, x0, s0);
            if s > best_s {
                best_s = s;
                best_x = x;
            }
        }
        decode(space, &best_x)
    }
}

/// Pattern search: try ± steps per numeric dimension and every other category, halve the
/// step when nothing improves.
fn local_search(
    space: &Space,
    score: &dyn Fn(&[f64]) -> f64,
    mut x: Vec<f64>,
    mut s: f64,
) -> (f64, Vec<f64>) {
    let mut step = 0.05;
    let mut evals = 0;
    while step > 1e-7 && evals < 600 {
        let mut improved = false;
        for (m, d) in space.dims.iter().enumerate() {
            let k = d.categories();
            let moves: Vec<f64> = if k == 0 {
                vec![(x[m] + step).min(1.0), (x[m] - step).max(0.0)]
            } else {
                (0..k).map(|c| c as f64).filter(|c| *c != x[m]).collect()
            };
            for v in moves {
                let mut y = x.clone();
                y[m] = v;
                let t = score(&y);
                evals += 1;
                if t > s {
                    s = t;
                    x = y;
                    improved = true;
                }
            }
        }
        if !improved {
            step *= 0.5;
        }
    }
    (s, x)
}

/// One child of generation `generation`: tournament selection from the previous generation
/// plus the best trials so far (elitism), crossover, then type-appropriate mutation.
fn genetic_child(
    space: &Space,
    history: &[Observation],
    population: usize,
    generation: usize,
    generations: usize,
    rng: &mut ChaCha8Rng,
) -> Params {
    let prev_start = (generation - 1) * population;
    let elite = (population / 5).max(1);
    let mut pool: Vec<&Observation> = history
        .get(prev_start..)
        .unwrap_or(&[])
        .iter()
        .filter(|o| o.loss.is_some())
        .collect();
    let mut ranked: Vec<&Observation> = history.iter().filter(|o| o.loss.is_some()).collect();
    ranked.sort_by(|a, b| {
        a.loss
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.loss.unwrap_or(f64::INFINITY))
    });
    for o in ranked.iter().take(elite) {
        if !pool.iter().any(|p| std::ptr::eq(*p, *o)) {
            pool.push(o);
        }
    }
    if pool.is_empty() {
        return space.sample(rng);
    }
    let loss = |o: &Observation| o.loss.unwrap_or(f64::INFINITY);
    let tournament = |rng: &mut ChaCha8Rng| {
        let mut best = pool[rng.random_range(0..pool.len())];
        for _ in 1..3 {
            let c = pool[rng.random_range(0..pool.len())];
            if loss(c) < loss(best) {
                best = c;
            }
        }
        best
    };
    let a = tournament(rng);
    let b = tournament(rng);
    // Mutation shrinks as the search goes on: explore early, refine late.
    let progress = generation as f64 / generations.max(1) as f64;
    let sigma = 0.15 * (1.0 - progress) + 0.01;
    let rate = 1.0 / space.len() as f64;
    let child: Params = space
        .dims
        .iter()
        .enumerate()
        .map(|(m, d)| {
            let (va, vb) = (&a.params[m], &b.params[m]);
            let cross = rng.random::<f64>() < 0.9;
            match &d.dist {
                Distribution::Choice(values) => {
                    let mut v = if cross && rng.random::<bool>() {
                        vb.clone()
                    } else {
                        va.clone()
                    };
                    if rng.random::<f64>() < rate && values.len() > 1 {
                        v = values[rng.random_range(0..values.len())].clone();
                    }
                    v
                }
                _ => {
                    let (ua, ub) = (d.to_unit(va), d.to_unit(vb));
                    // Blend crossover (BLX-0.25) in unit coordinates.
                    let mut u = if cross {
                        let (lo, hi) = (ua.min(ub), ua.max(ub));
                        let ext = 0.25 * (hi - lo);
                        lo - ext + rng.random::<f64>() * (hi - lo + 2.0 * ext)
                    } else {
                        ua
                    };
                    if rng.random::<f64>() < rate.max(0.5) {
                        let g: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
                        u += sigma * g * 1.7;
                    }
                    d.from_unit(u.clamp(0.0, 1.0))
                }
            }
        })
        .collect();
    // A param the child's choices leave out takes its filler, so that duplicates compare
    // equal.
    space.canonical(child)
}
