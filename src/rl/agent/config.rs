//! Agent configuration: algorithm, learning rates, exploration, budget, evaluation.

use crate::rl::agent::schedule::EpsilonSchedule;
use crate::rl::env::BinSpec;
use crate::rl::error::RlError;

/// Tabular control algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `q_learning`: target `r + γ max_a' Q(s', a')`.
    QLearning,
    /// `sarsa`: target `r + γ Q(s', a')` with `a'` the next action actually taken.
    Sarsa,
    /// `expected_sarsa`: target `r + γ Σ_a' π(a'|s') Q(s', a')` under the epsilon-greedy
    /// policy.
    ExpectedSarsa,
    /// `double_q`: two tables; a fair coin picks which one is updated, using the other to
    /// evaluate its own greedy action (van Hasselt 2010). Behaviour uses `Q_A + Q_B`.
    DoubleQ,
}

impl Algorithm {
    /// Name as written in `.amm`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::QLearning => "q_learning",
            Algorithm::Sarsa => "sarsa",
            Algorithm::ExpectedSarsa => "expected_sarsa",
            Algorithm::DoubleQ => "double_q",
        }
    }

    /// Parses an `.amm` agent kind name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Algorithm::QLearning,
            Algorithm::Sarsa,
            Algorithm::ExpectedSarsa,
            Algorithm::DoubleQ,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `episodes = n`: exactly `n` complete episodes.
    Episodes(u64),
    /// `steps = n`: exactly `n` environment steps; an episode still running when the budget
    /// runs out is not recorded in the per-episode statistics.
    Steps(u64),
}

/// Configuration of an `agent name = algorithm(env = …) { … }` item.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Update rule. Default `q_learning`.
    pub algorithm: Algorithm,
    /// Step size α in `(0, 1]`. Default `0.1`.
    pub alpha: f64,
    /// Discount γ in `[0, 1]`. Default `0.99`.
    pub gamma: f64,
    /// Exploration schedule. Default `constant(0.1)`.
    pub epsilon: EpsilonSchedule,
    /// Training budget. Default `episodes = 10_000`.
    pub budget: Budget,
    /// Seed of every random draw (training on ChaCha8 stream 0, evaluation on stream 1).
    /// Default `0`.
    pub seed: u64,
    /// Greedy evaluation episodes after training; `0` skips evaluation. Default `1000`.
    pub eval_episodes: u64,
    /// Step cap for evaluation episodes of environments without a time limit (a greedy
    /// policy can cycle forever in cliff_walking). Default `10_000`.
    pub eval_step_limit: u32,
    /// Discretisation of continuous observations, one spec per dimension; `None` uses the
    /// environment's default (cartpole: [`crate::rl::env::CARTPOLE_DEFAULT_BINS`]). Must be
    /// `None` for discrete environments.
    pub bins: Option<Vec<BinSpec>>,
    /// Episodes per progress report / window of the progress table. Default `100`.
    pub window: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            algorithm: Algorithm::QLearning,
            alpha: 0.1,
            gamma: 0.99,
            epsilon: EpsilonSchedule::default(),
            budget: Budget::Episodes(10_000),
            seed: 0,
            eval_episodes: 1000,
            eval_step_limit: 10_000,
            bins: None,
            window: 100,
        }
    }
}

impl AgentConfig {
    /// Checks every numeric argument's range.
    pub fn validate(&self) -> Result<(), RlError> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(RlError::bad_argument("alpha", self.alpha, "in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(RlError::bad_argument("gamma", self.gamma, "in [0, 1]"));
        }
        self.epsilon.validate()?;
        match self.budget {
            Budget::Episodes(0) => {
                return Err(RlError::bad_argument("episodes", 0, "at least 1"));
            }
            Budget::Steps(0) => return Err(RlError::bad_argument("steps", 0, "at least 1")),
            _ => {}
        }
        if self.window == 0 {
            return Err(RlError::bad_argument("window", 0, "at least 1"));
        }
        if self.eval_step_limit == 0 {
            return Err(RlError::bad_argument("eval_step_limit", 0, "at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [
            Algorithm::QLearning,
            Algorithm::Sarsa,
            Algorithm::ExpectedSarsa,
            Algorithm::DoubleQ,
        ] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(Algorithm::from_name("dqn"), None);
    }

    #[test]
    fn validation() {
        assert!(AgentConfig::default().validate().is_ok());
        let bad = |c: AgentConfig| c.validate().unwrap_err();
        assert!(matches!(
            bad(AgentConfig {
                alpha: 0.0,
                ..Default::default()
            }),
            RlError::BadArgument { .. }
        ));
        assert!(matches!(
            bad(AgentConfig {
                gamma: f64::NAN,
                ..Default::default()
            }),
            RlError::BadArgument { .. }
        ));
        assert!(matches!(
            bad(AgentConfig {
                budget: Budget::Steps(0),
                ..Default::default()
            }),
            RlError::BadArgument { .. }
        ));
        assert!(matches!(
            bad(AgentConfig {
                epsilon: EpsilonSchedule::Constant(-0.5),
                ..Default::default()
            }),
            RlError::BadProbability { .. }
        ));
    }
}
