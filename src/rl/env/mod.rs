//! Environments: Gymnasium-faithful frozen_lake, cliff_walking, taxi and cartpole, and the
//! user-drawn `grid`.
//!
//! The discrete environments are all *table-driven*: their configuration is compiled into a
//! [`TransitionTable`] in Gymnasium's `P` layout, and stepping samples from that table. This
//! makes parity with Gymnasium checkable entry by entry and gives one fast stepping path.

pub mod cartpole;
pub mod cliff_walking;
pub mod discretise;
pub mod frozen_lake;
pub mod grid;
pub mod map;
pub mod table;
pub mod tabular;
pub mod taxi;

pub use cartpole::{CartPole, CartPoleConfig, CartPoleState};
pub use cliff_walking::CliffWalkingConfig;
pub use discretise::{
    BinSpec, CARTPOLE_DEFAULT_BINS, DiscretisedCartPole, Discretiser, bins_from_lists,
};
pub use frozen_lake::FrozenLakeConfig;
pub use grid::GridConfig;
pub use map::{Cell, GridLayout, GridMap};
pub use table::{Transition, TransitionTable};
pub use tabular::{TabularEnv, TabularModel};
pub use taxi::TaxiConfig;

use crate::rl::error::RlError;
use crate::rl::rng::RlRng;

/// Configuration of one environment, as written in an `env name = kind(...)` item.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvConfig {
    /// `frozen_lake(map, slippery, success_rate, max_steps)`.
    FrozenLake(FrozenLakeConfig),
    /// `cliff_walking(slippery, max_steps)`.
    CliffWalking(CliffWalkingConfig),
    /// `taxi(max_steps)`.
    Taxi(TaxiConfig),
    /// `cartpole(max_steps)`.
    CartPole(CartPoleConfig),
    /// `grid(map, step_reward, goal_reward, hole_reward, slip, max_steps)`.
    Grid(GridConfig),
}

/// A validated environment, ready to be stepped.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvModel {
    /// A discrete, table-driven environment.
    Tabular(TabularModel),
    /// The continuous cart-pole (needs discretisation for tabular agents).
    CartPole(CartPoleConfig),
}

impl EnvConfig {
    /// The environment kind as written in `.amm` (`frozen_lake`, `cliff_walking`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            EnvConfig::FrozenLake(_) => "frozen_lake",
            EnvConfig::CliffWalking(_) => "cliff_walking",
            EnvConfig::Taxi(_) => "taxi",
            EnvConfig::CartPole(_) => "cartpole",
            EnvConfig::Grid(_) => "grid",
        }
    }

    /// Validates the configuration and builds the environment (for discrete environments this
    /// computes the full transition table).
    pub fn build(&self) -> Result<EnvModel, RlError> {
        Ok(match self {
            EnvConfig::FrozenLake(c) => EnvModel::Tabular(frozen_lake::build(c)?),
            EnvConfig::CliffWalking(c) => EnvModel::Tabular(cliff_walking::build(c)?),
            EnvConfig::Taxi(c) => EnvModel::Tabular(taxi::build(c)?),
            EnvConfig::Grid(c) => EnvModel::Tabular(grid::build(c)?),
            EnvConfig::CartPole(c) => {
                c.validate()?;
                EnvModel::CartPole(c.clone())
            }
        })
    }

    /// The full transition table (errors with `amm::rl::not_discrete` for cartpole).
    pub fn transition_table(&self) -> Result<TransitionTable, RlError> {
        match self.build()? {
            EnvModel::Tabular(m) => Ok(m.table),
            EnvModel::CartPole(_) => Err(RlError::NotDiscrete {
                env: self.kind().to_string(),
            }),
        }
    }

    /// The transition table as Gymnasium-`P`-layout JSON,
    /// `{"state": {"action": [[prob, next_state, reward, terminated], …]}}`; this is what
    /// `ammc inspect FILE ENV --transitions` prints.
    pub fn transitions_json(&self) -> Result<String, RlError> {
        Ok(self.transition_table()?.to_gymnasium_json())
    }
}

/// What one environment step produced, as seen by a tabular agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    /// Next (discrete) state.
    pub state: usize,
    /// Reward.
    pub reward: f64,
    /// The episode ended by the environment's own rules (goal, hole, pole fell, …).
    pub terminated: bool,
    /// The step reached the goal (success for discrete environments).
    pub success: bool,
}

/// An environment a tabular agent can interact with: discrete states, discrete actions.
/// The time limit is applied by the caller (like Gymnasium's `TimeLimit` wrapper).
pub trait StepEnv {
    /// Number of discrete states (rows of the Q-table).
    fn num_states(&self) -> usize;
    /// Number of actions (columns of the Q-table).
    fn num_actions(&self) -> usize;
    /// Starts an episode and returns its initial state.
    fn reset(&mut self, rng: &mut RlRng) -> usize;
    /// Takes `action` (< `num_actions()`).
    fn step(&mut self, action: usize, rng: &mut RlRng) -> StepResult;
    /// Steps after which an episode is truncated; `None` = unlimited.
    fn time_limit(&self) -> Option<u32>;
    /// Whether surviving until the time limit counts as success (cartpole).
    fn truncation_is_success(&self) -> bool;
}
