//! Errors reported by the reinforcement-learning module.

use miette::Diagnostic;
use thiserror::Error;

/// Everything that can go wrong when building an environment or training an agent from
/// user-supplied configuration. Each variant carries a stable miette code `amm::rl::…`.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum RlError {
    /// A `map = "…"` string that is neither a built-in map name nor a map drawing.
    #[error("unknown map name `{name}`")]
    #[diagnostic(
        code(amm::rl::unknown_map),
        help(
            "built-in maps are {known}; or draw a custom map with one character per cell, one row per line"
        )
    )]
    UnknownMap {
        /// The name the user wrote.
        name: String,
        /// Comma-separated list of the valid names for this environment.
        known: String,
    },

    /// A map string with no rows at all.
    #[error("the map is empty")]
    #[diagnostic(
        code(amm::rl::empty_map),
        help("draw at least one row of cells, e.g. \"S . G\"")
    )]
    EmptyMap,

    /// A map cell character that the environment does not understand.
    #[error("unexpected character `{ch}` in map at row {row}, column {col}")]
    #[diagnostic(code(amm::rl::bad_map_char), help("allowed cells here are: {allowed}"))]
    BadMapChar {
        /// The offending character.
        ch: char,
        /// 1-based row of the map (blank lines are not counted).
        row: usize,
        /// 1-based cell column in that row (whitespace is not counted).
        col: usize,
        /// Human-readable list of allowed cell characters.
        allowed: String,
    },

    /// Rows of different lengths.
    #[error("ragged map: row {row} has {found} cells but row 1 has {expected}")]
    #[diagnostic(
        code(amm::rl::ragged_map),
        help("every row of the map must have the same number of cells")
    )]
    RaggedMap {
        /// 1-based row number of the first row with the wrong length.
        row: usize,
        /// Number of cells in row 1.
        expected: usize,
        /// Number of cells in the offending row.
        found: usize,
    },

    /// A map without a start cell `S`.
    #[error("the map has no start cell `S`")]
    #[diagnostic(code(amm::rl::missing_start), help("mark the start cell with `S`"))]
    MissingStart,

    /// A map without a goal cell `G`.
    #[error("the map has no goal cell `G`")]
    #[diagnostic(
        code(amm::rl::missing_goal),
        help("mark at least one goal cell with `G`")
    )]
    MissingGoal,

    /// A probability argument outside `[0, 1]` (or not a number).
    #[error("`{name}` = {value} is not a probability")]
    #[diagnostic(
        code(amm::rl::bad_probability),
        help("`{name}` must be a number between 0 and 1 inclusive")
    )]
    BadProbability {
        /// Argument name, e.g. `slip`.
        name: String,
        /// The value given.
        value: f64,
    },

    /// A numeric argument outside its allowed range.
    #[error("`{name}` = {value} is out of range")]
    #[diagnostic(code(amm::rl::bad_argument), help("`{name}` must be {expected}"))]
    BadArgument {
        /// Argument name, e.g. `alpha`.
        name: String,
        /// The value given, rendered as text.
        value: String,
        /// Description of the valid range.
        expected: String,
    },

    /// Discretisation bins that do not fit the observation.
    #[error("bad discretisation: {reason}")]
    #[diagnostic(
        code(amm::rl::bad_bins),
        help(
            "give one bin spec per observation dimension, each with count >= 1 and low < high (finite)"
        )
    )]
    BadBins {
        /// What is wrong.
        reason: String,
    },

    /// `bins` given for an environment whose observations are already discrete.
    #[error("`bins` given, but environment `{env}` already has discrete states")]
    #[diagnostic(
        code(amm::rl::bins_on_discrete),
        help("remove `bins`; it only applies to continuous environments such as cartpole")
    )]
    BinsOnDiscrete {
        /// Environment kind name.
        env: String,
    },

    /// A request that needs a finite transition table, made on a continuous environment.
    #[error("environment `{env}` has continuous observations and no transition table")]
    #[diagnostic(
        code(amm::rl::not_discrete),
        help("transition tables exist for frozen_lake, cliff_walking, taxi and grid")
    )]
    NotDiscrete {
        /// Environment kind name.
        env: String,
    },

    /// A request to draw a policy on a map for an environment that has no map.
    #[error("environment `{env}` is not a grid map, so its policy cannot be drawn as arrows")]
    #[diagnostic(
        code(amm::rl::not_grid),
        help("policy arrows are available for frozen_lake, cliff_walking and grid")
    )]
    NotGrid {
        /// Environment kind name.
        env: String,
    },

    /// A Q-table whose shape does not match the environment.
    #[error(
        "Q-table has shape {rows}x{cols} but the environment has {states} states and {actions} actions"
    )]
    #[diagnostic(
        code(amm::rl::shape_mismatch),
        help("use the Q-table produced by training on the same environment")
    )]
    ShapeMismatch {
        /// Rows of the given table.
        rows: usize,
        /// Columns of the given table.
        cols: usize,
        /// States of the environment.
        states: usize,
        /// Actions of the environment.
        actions: usize,
    },

    /// A discretised state space too large to hold as a Q-table.
    #[error("the discretised state space has {states} states, more than the limit of {limit}")]
    #[diagnostic(code(amm::rl::too_many_states), help("use fewer bins per dimension"))]
    TooManyStates {
        /// Product of the bin counts (saturated).
        states: u128,
        /// The limit.
        limit: u128,
    },
}

impl RlError {
    /// Shorthand for [`RlError::BadArgument`].
    pub(crate) fn bad_argument(name: &str, value: impl ToString, expected: &str) -> Self {
        RlError::BadArgument {
            name: name.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Checks that `value` is a probability in `[0, 1]`.
pub(crate) fn check_probability(name: &str, value: f64) -> Result<(), RlError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(RlError::BadProbability {
            name: name.to_string(),
            value,
        })
    }
}

/// Checks that `value` is a finite number (rewards, bounds).
pub(crate) fn check_finite(name: &str, value: f64) -> Result<(), RlError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(RlError::bad_argument(name, value, "a finite number"))
    }
}
