//! Reinforcement learning: Gymnasium-faithful tabular environments, CartPole, user-drawn
//! grids, and tabular agents (Q-learning, SARSA, expected SARSA, double Q-learning).
//!
//! Entry points for the CLI:
//! - [`EnvConfig`] / [`AgentConfig`]: plain configuration structs (one per `env` / `agent`
//!   item);
//! - [`train`]: train + evaluate, with a progress callback, returning [`TrainResult`];
//! - [`EnvConfig::transitions_json`]: Gymnasium-`P`-layout transition table
//!   (`ammc inspect FILE ENV --transitions`);
//! - [`policy_arrows`]: a greedy policy drawn on the map;
//! - [`evaluate`], [`greedy_rollout`]: re-use a Q-table.
//!
//! See `docs/rl.md` for the user-facing description of every argument and default.

pub mod agent;
pub mod env;
pub mod error;
pub mod planning;
pub mod render;
pub mod rng;

pub use agent::{
    AgentConfig, Algorithm, Budget, EpsilonSchedule, EvalSummary, Progress, Rollout, TrainResult,
    WindowStats, evaluate, greedy_rollout, train,
};
pub use env::{
    BinSpec, CartPoleConfig, CliffWalkingConfig, EnvConfig, FrozenLakeConfig, GridConfig,
    TaxiConfig,
};
pub use error::RlError;
pub use render::policy_arrows;
