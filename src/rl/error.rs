//! Errors of the RL module. Each has a stable diagnostic code; `rl::program` turns them
//! into [`crate::diag::Diag`]s located at the env or agent that caused them.

/// Why an environment or agent cannot be built or run.
#[derive(Clone, Debug, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum RlError {
    /// `frozen_lake(map = "5x5")`: neither a named map nor a map drawing.
    #[error("unknown map `{name}`")]
    #[diagnostic(
        code(amm::rl::map_name),
        help("the named maps are \"4x4\" and \"8x8\"; or draw the map: rows of S F H G")
    )]
    MapName {
        /// What was written.
        name: String,
    },
    /// A map with no rows.
    #[error("the map is empty")]
    #[diagnostic(code(amm::rl::map), help("draw at least one row of cells"))]
    MapEmpty,
    /// Rows of different lengths.
    #[error("map row {row} has {len} cells but row 1 has {expected}")]
    #[diagnostic(
        code(amm::rl::map),
        help("every row of the map must have the same number of cells")
    )]
    MapRagged {
        /// 1-based row.
        row: usize,
        /// Its cells.
        len: usize,
        /// Cells of the first row.
        expected: usize,
    },
    /// A character that is not a cell of this kind of map.
    #[error("map row {row}, column {col}: `{cell}` is not a cell")]
    #[diagnostic(code(amm::rl::map), help("{allowed}"))]
    MapCell {
        /// 1-based row.
        row: usize,
        /// 1-based column.
        col: usize,
        /// The character.
        cell: char,
        /// Which cells are allowed.
        allowed: String,
    },
    /// No `S` or no `G`.
    #[error("the map has no `{cell}` cell")]
    #[diagnostic(
        code(amm::rl::map),
        help("a map needs a start `S` and at least one goal `G`")
    )]
    MapMissing {
        /// `S` or `G`.
        cell: char,
    },
    /// More than one start (grid maps).
    #[error("the map has {count} `S` cells")]
    #[diagnostic(code(amm::rl::map), help("a grid map has exactly one start `S`"))]
    MapStarts {
        /// How many.
        count: usize,
    },
    /// A map too large for a tabular agent.
    #[error("the map has {cells} cells; the limit is {limit}")]
    #[diagnostic(code(amm::rl::map), help("draw a smaller map"))]
    MapTooLarge {
        /// Cells drawn.
        cells: usize,
        /// Largest allowed.
        limit: usize,
    },
    /// An argument outside its range.
    #[error("`{name}` = {value} is out of range: {expected}")]
    #[diagnostic(code(amm::rl::argument), help("use a value {expected}"))]
    Argument {
        /// Argument or field name.
        name: String,
        /// The value as text.
        value: String,
        /// The valid range, as a phrase ("in [0, 1]").
        expected: String,
    },
    /// `bins` that do not fit the environment.
    #[error("{message}")]
    #[diagnostic(code(amm::rl::bins), help("{help}"))]
    Bins {
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
    },
    /// An operation that needs a discrete environment.
    #[error("`{env}` has a continuous observation and no transition table")]
    #[diagnostic(
        code(amm::rl::not_discrete),
        help("transition tables exist for frozen_lake, cliff_walking, taxi and grid")
    )]
    NotDiscrete {
        /// The environment kind.
        env: String,
    },
    /// A `--state` that does not fit the environment.
    #[error("{message}")]
    #[diagnostic(
        code(amm::rl::state),
        help(
            "give the physical state as a JSON list: cartpole [x, velocity, angle, angular velocity], mountain_car [position, velocity], acrobot [θ1, θ2, θ1 velocity, θ2 velocity]"
        )
    )]
    State {
        /// What is wrong.
        message: String,
    },
    /// A `dqn` agent on an environment with discrete states.
    #[error("`{env}` has discrete states; a dqn agent needs a continuous observation")]
    #[diagnostic(
        code(amm::rl::dqn_discrete),
        help("use a tabular agent (q_learning, sarsa, expected_sarsa, double_q) for it")
    )]
    NotContinuous {
        /// The environment kind.
        env: String,
    },
    /// The network's backend failed.
    #[error("the Q-network failed: {message}")]
    #[diagnostic(
        code(amm::rl::backend),
        help("run with --backend reference to compare")
    )]
    Backend {
        /// What the backend said.
        message: String,
    },
    /// A saved table or network that cannot be read.
    #[error("cannot read `{path}`: {message}")]
    #[diagnostic(
        code(amm::agent::saved),
        help("give the `qtable.npy` or `qnetwork.safetensors` a run of this agent wrote")
    )]
    Saved {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A saved table or network whose shapes are not the agent's.
    #[error("`{path}` does not fit {agent}: {what}")]
    #[diagnostic(
        code(amm::agent::saved_shape),
        help("load a file saved by an agent with the same environment and network, or retrain")
    )]
    SavedShape {
        /// The file.
        path: String,
        /// The agent, as a phrase ("agent `learner`", "this agent").
        agent: String,
        /// Both shapes, as a phrase.
        what: String,
    },
}
