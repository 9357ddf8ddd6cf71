//! Hyperparameter tuning engine: search spaces, strategies (random, Bayesian optimisation
//! with a Gaussian process, genetic), a parallel deterministic study runner with median
//! pruning, an Optuna-compatible journal, and report helpers.
//!
//! See `docs/tune.md` for the design and guarantees.

pub mod error;
pub mod gp;
pub mod journal;
pub mod lbfgs;
pub mod linalg;
pub mod optimizer;
pub mod pruner;
pub mod report;
pub mod sobol;
pub mod space;
pub mod special;
pub mod strategy;
pub mod study;
pub mod trial;
pub mod value;

pub use error::{ConfigError, JournalError, SpaceError, TuneError};
pub use optimizer::{Optimizer, Suggestion};
pub use pruner::{MedianPruner, PrunerConfig};
pub use space::{Corner, DimKind, Distribution, ParamSpec, SearchSpace};
pub use strategy::{Direction, Outcome, StrategyConfig};
pub use study::{
    HeartbeatSettings, PruneDecision, Study, StudyConfig, StudyOutcome, TrialReporter, load_study,
};
pub use trial::{TrialRecord, TrialState};
pub use value::{ParamEntry, ParamValue, TrialParams};
