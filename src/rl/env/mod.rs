//! Environments. Discrete ones (`frozen_lake`, `cliff_walking`, `taxi`, `grid`) are a
//! [`TabularEnv`]: the full transition table in Gymnasium's `P` layout, from which a
//! [`CompiledTable`] with cumulative probabilities is built for fast sampling. The
//! classic-control ones (`cartpole`, `mountain_car`, `acrobot`) are simulated step by step
//! ([`control::ControlEnv`]). Every environment's time limit can be overridden with
//! `max_steps` ([`EnvDecl`]).

pub mod acrobot;
pub mod cartpole;
pub mod cliff;
pub mod control;
pub mod frozen_lake;
pub mod grid;
pub mod map;
pub mod mountain_car;
pub mod table;
pub mod taxi;

use std::fmt::Write as _;

use crate::rl::error::RlError;
pub use control::{ControlEnv, ControlKind, ControlSpec, ControlStep};
pub use table::CompiledTable;

/// One possible outcome of an action: Gymnasium's `(prob, next_state, reward, terminated)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    /// Probability of this outcome.
    pub prob: f64,
    /// The state reached.
    pub next: usize,
    /// The reward received.
    pub reward: f64,
    /// Whether the episode ends here (not by the time limit).
    pub terminated: bool,
}

/// What counts as a successful episode in evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Success {
    /// The episode terminated in one of these states (`true` per state): frozen_lake, grid.
    Goal(Vec<bool>),
    /// The episode terminated rather than being truncated: cliff_walking, taxi.
    Terminated,
    /// The episode lasted until the time limit: cartpole.
    Truncated,
}

/// How a grid-like environment is drawn, for printing a greedy policy.
#[derive(Clone, Debug, PartialEq)]
pub struct GridLayout {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Per state (row-major): the map character (`S G H # . C`); `.` and `F` cells get the
    /// policy's arrow.
    pub cells: Vec<char>,
    /// The arrow of each action.
    pub arrows: Vec<char>,
}

/// A finite environment: the transition table and what an episode needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TabularEnv {
    /// The builtin it came from (`frozen_lake`, …).
    pub kind: &'static str,
    /// Number of states.
    pub n_states: usize,
    /// Number of actions.
    pub n_actions: usize,
    /// `p[state][action]` = outcomes, in Gymnasium's order.
    pub p: Vec<Vec<Vec<Transition>>>,
    /// Initial-state distribution (sums to 1).
    pub initial: Vec<f64>,
    /// Episodes are truncated after this many steps (Gymnasium's `TimeLimit`).
    pub max_steps: Option<u32>,
    /// What counts as success.
    pub success: Success,
    /// For drawing the policy, when the states are cells of a grid.
    pub layout: Option<GridLayout>,
}

impl TabularEnv {
    /// The table as JSON in Gymnasium's `P` layout:
    /// `{"state": {"action": [[prob, next_state, reward, terminated], …]}}`. Floats are
    /// printed with Rust's shortest round-trip form, so Python reads back the same doubles.
    pub fn transitions_json(&self) -> String {
        let mut out = String::from("{");
        for (s, actions) in self.p.iter().enumerate() {
            if s > 0 {
                out.push(',');
            }
            let _ = write!(out, "\n  \"{s}\": {{");
            for (a, outcomes) in actions.iter().enumerate() {
                if a > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "\"{a}\": [");
                for (i, t) in outcomes.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(
                        out,
                        "[{}, {}, {}, {}]",
                        json_f64(t.prob),
                        t.next,
                        json_f64(t.reward),
                        t.terminated
                    );
                }
                out.push(']');
            }
            out.push('}');
        }
        out.push_str("\n}\n");
        out
    }

    /// The table with cumulative probabilities, for sampling.
    pub fn compile(&self) -> CompiledTable {
        CompiledTable::new(self)
    }
}

fn json_f64(v: f64) -> String {
    // `{:?}` is the shortest representation that round-trips and always has a `.` or `e`.
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "null".to_string()
    }
}

/// Which frozen lake map.
#[derive(Clone, Debug, PartialEq)]
pub enum LakeMap {
    /// Gymnasium's `MAPS["4x4"]` (time limit 100).
    Named4x4,
    /// Gymnasium's `MAPS["8x8"]` (time limit 200).
    Named8x8,
    /// A drawn map: rows of `S F H G` (time limit 100, like `FrozenLake-v1`).
    Custom(String),
}

impl LakeMap {
    /// Reads the `map` argument: `"4x4"`, `"8x8"`, or a drawing (several rows, or one row
    /// of `S F H G` only). Anything else is an unknown name.
    pub fn parse(text: &str) -> Result<LakeMap, RlError> {
        match text.trim() {
            "4x4" => Ok(LakeMap::Named4x4),
            "8x8" => Ok(LakeMap::Named8x8),
            t if t.lines().filter(|l| !l.trim().is_empty()).count() > 1
                || (!t.is_empty() && t.chars().all(|c| "SFHG".contains(c) || c == ' ')) =>
            {
                Ok(LakeMap::Custom(text.to_string()))
            }
            t => Err(RlError::MapName {
                name: t.to_string(),
            }),
        }
    }
}

/// The settings of a `grid(…)` environment.
#[derive(Clone, Debug, PartialEq)]
pub struct GridSpec {
    /// The drawing: rows of `S G # H .` cells.
    pub map: String,
    /// Reward of a step that does not enter `G` or `H`.
    pub step_reward: f64,
    /// Reward for entering `G`.
    pub goal_reward: f64,
    /// Reward for entering `H`.
    pub hole_reward: f64,
    /// Probability of slipping to one of the two perpendicular moves (split equally).
    pub slip: f64,
    /// Time limit.
    pub max_steps: u32,
}

/// An environment as declared: the evaluated arguments of an `env` block.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvSpec {
    /// Gymnasium `FrozenLake-v1`.
    FrozenLake {
        /// Which map.
        map: LakeMap,
        /// Moves slip to either perpendicular direction (1/3 each way).
        slippery: bool,
    },
    /// Gymnasium `CliffWalking-v0`.
    CliffWalking,
    /// Gymnasium `Taxi-v3`.
    Taxi,
    /// Gymnasium `CartPole-v1`.
    CartPole,
    /// Gymnasium `MountainCar-v0`.
    MountainCar,
    /// Gymnasium `Acrobot-v1`.
    Acrobot(acrobot::Dynamics),
    /// A custom grid world.
    Grid(GridSpec),
}

/// A built environment.
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltEnv {
    /// A finite MDP with its table.
    Tabular(TabularEnv),
    /// A classic-control environment.
    Control(ControlSpec),
}

impl BuiltEnv {
    /// The time limit (`None`: cliff_walking without `max_steps`).
    pub fn max_steps(&self) -> Option<u32> {
        match self {
            BuiltEnv::Tabular(t) => t.max_steps,
            BuiltEnv::Control(c) => Some(c.max_steps),
        }
    }
}

impl EnvSpec {
    /// The builtin's name.
    pub fn kind(&self) -> &'static str {
        match self {
            EnvSpec::FrozenLake { .. } => "frozen_lake",
            EnvSpec::CliffWalking => "cliff_walking",
            EnvSpec::Taxi => "taxi",
            EnvSpec::CartPole => "cartpole",
            EnvSpec::MountainCar => "mountain_car",
            EnvSpec::Acrobot(_) => "acrobot",
            EnvSpec::Grid(_) => "grid",
        }
    }

    /// The classic-control kind, for continuous environments.
    pub fn control(&self) -> Option<ControlKind> {
        match self {
            EnvSpec::CartPole => Some(ControlKind::CartPole),
            EnvSpec::MountainCar => Some(ControlKind::MountainCar),
            EnvSpec::Acrobot(d) => Some(ControlKind::Acrobot(*d)),
            _ => None,
        }
    }

    /// Builds the environment (its transition table for discrete ones), validating maps
    /// and arguments.
    pub fn build(&self) -> Result<BuiltEnv, RlError> {
        let control = |kind: ControlKind| {
            BuiltEnv::Control(ControlSpec {
                kind,
                max_steps: kind.default_max_steps(),
            })
        };
        Ok(match self {
            EnvSpec::FrozenLake { map, slippery } => {
                BuiltEnv::Tabular(frozen_lake::build(map, *slippery)?)
            }
            EnvSpec::CliffWalking => BuiltEnv::Tabular(cliff::build()),
            EnvSpec::Taxi => BuiltEnv::Tabular(taxi::build()),
            EnvSpec::Grid(g) => BuiltEnv::Tabular(grid::build(g)?),
            EnvSpec::CartPole => control(ControlKind::CartPole),
            EnvSpec::MountainCar => control(ControlKind::MountainCar),
            EnvSpec::Acrobot(d) => control(ControlKind::Acrobot(*d)),
        })
    }

    /// The transition table of a discrete environment.
    pub fn table(&self) -> Result<TabularEnv, RlError> {
        EnvDecl::from(self.clone()).table()
    }
}

/// An `env` block: the environment and the user's time limit, if one was given.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvDecl {
    /// The environment.
    pub spec: EnvSpec,
    /// `max_steps = …`: replaces the environment's own time limit (Gymnasium's
    /// `max_episode_steps`); `None` keeps it.
    pub max_steps: Option<u32>,
}

impl From<EnvSpec> for EnvDecl {
    fn from(spec: EnvSpec) -> EnvDecl {
        EnvDecl {
            spec,
            max_steps: None,
        }
    }
}

impl EnvDecl {
    /// The builtin's name.
    pub fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    /// Builds the environment with the user's time limit applied.
    pub fn build(&self) -> Result<BuiltEnv, RlError> {
        let mut built = self.spec.build()?;
        if let Some(limit) = self.max_steps {
            match &mut built {
                BuiltEnv::Tabular(t) => t.max_steps = Some(limit),
                BuiltEnv::Control(c) => c.max_steps = limit,
            }
        }
        Ok(built)
    }

    /// The transition table of a discrete environment.
    pub fn table(&self) -> Result<TabularEnv, RlError> {
        match self.build()? {
            BuiltEnv::Tabular(t) => Ok(t),
            BuiltEnv::Control(_) => Err(RlError::NotDiscrete {
                env: self.kind().to_string(),
            }),
        }
    }
}
