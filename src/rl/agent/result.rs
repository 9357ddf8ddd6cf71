//! What a training run returns.

use ndarray::Array2;

use crate::rl::agent::eval::EvalSummary;

/// Result of [`crate::rl::agent::train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainResult {
    /// Undiscounted return of every completed training episode, in order.
    pub episode_returns: Vec<f64>,
    /// Length (steps) of every completed training episode.
    pub episode_lengths: Vec<u32>,
    /// Success flag of every completed training episode.
    pub episode_success: Vec<bool>,
    /// Environment steps taken in training (including an unfinished last episode under a
    /// step budget).
    pub total_steps: u64,
    /// Learned Q-table, `states × actions` (double Q: mean of its two tables).
    pub q: Array2<f64>,
    /// Greedy evaluation after training (`None` when `eval_episodes = 0`).
    pub eval: Option<EvalSummary>,
    /// The greedy policy drawn on the map (frozen_lake, cliff_walking, grid); `None` for
    /// other environments. Same text as [`crate::rl::render::policy_arrows`].
    pub policy_map: Option<String>,
}
