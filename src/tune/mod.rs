//! Hyperparameter tuning: search spaces, strategies (random, TPE, Bayesian optimisation with a
//! Gaussian process, genetic), objective formulas, the median pruner, an Optuna-compatible
//! study journal with resume, and the report files. The CLI (`ammc run` on a `tune` block) builds a
//! [`StudyConfig`] from the program and calls [`run_study`].

pub mod acquisition;
pub mod block;
pub mod branches;
pub mod formula;
pub mod gp;
pub mod journal;
pub mod liveness;
pub mod prune;
pub mod redis_store;
pub mod report;
pub mod rng;
pub mod sobol;
pub mod space;
mod store;
pub mod strategy;
pub mod study;
pub mod tpe;
mod worker;

pub use formula::{Formula, FormulaError};
pub use journal::TrialState;
pub use prune::{Intermediate, MedianPruner};
pub use space::{Condition, Dimension, Distribution, ParamValue, Params, Space, SpaceError};
pub use strategy::{Observation, SearchState, Strategy};
pub use study::{
    Direction, Monitor, Objective, StudyConfig, StudyError, StudyResult, Trial, run_study,
};

/// The Branin–Hoo function, the standard test objective (global minimum 0.397887 at
/// (−π, 12.275), (π, 2.275) and (9.42478, 2.475)).
pub fn branin(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

/// Branin's global minimum value.
pub const BRANIN_MIN: f64 = 0.397_887_357_729_738_2;
