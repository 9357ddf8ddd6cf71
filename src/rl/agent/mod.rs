//! Tabular agents: Q-learning, SARSA, expected SARSA and double Q-learning with an
//! epsilon-greedy behaviour policy, trained for a budget of episodes or steps and then
//! evaluated greedily.

pub mod eval;
pub mod learn;
pub mod schedule;

pub use eval::{EvalEpisode, EvalSummary, evaluate, evaluate_episodes};
pub use learn::{EpisodeRecord, Learned, learn, learn_from, learn_until};
pub use schedule::{Epsilon, Unit};

use crate::rl::error::RlError;

/// The learning rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Off-policy TD control: target r + γ·max Q(s′, ·).
    QLearning,
    /// On-policy TD control: target r + γ·Q(s′, a′) with a′ the next behaviour action.
    Sarsa,
    /// Target r + γ·E_π[Q(s′, ·)] under the epsilon-greedy policy.
    ExpectedSarsa,
    /// Two tables; each update evaluates one table's argmax with the other (van Hasselt).
    DoubleQ,
}

impl Algorithm {
    /// From the builtin's name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "q_learning" => Algorithm::QLearning,
            "sarsa" => Algorithm::Sarsa,
            "expected_sarsa" => Algorithm::ExpectedSarsa,
            "double_q" => Algorithm::DoubleQ,
            _ => return None,
        })
    }

    /// The builtin's name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::QLearning => "q_learning",
            Algorithm::Sarsa => "sarsa",
            Algorithm::ExpectedSarsa => "expected_sarsa",
            Algorithm::DoubleQ => "double_q",
        }
    }
}

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// This many episodes.
    Episodes(u64),
    /// This many environment steps (the episode in progress when the budget runs out is
    /// cut and not recorded).
    Steps(u64),
}

/// Episodes trained when an agent sets neither `episodes` nor `steps`.
pub const DEFAULT_EPISODES: u64 = 10_000;

/// An agent's settings (the evaluated fields of an `agent` block).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    /// Learning rule.
    pub algorithm: Algorithm,
    /// Step size, in (0, 1].
    pub alpha: f64,
    /// Discount, in [0, 1].
    pub gamma: f64,
    /// Exploration schedule.
    pub epsilon: Epsilon,
    /// Training budget.
    pub budget: Budget,
    /// Bins per observation dimension (continuous environments only).
    pub bins: Option<Vec<u32>>,
    /// Greedy evaluation episodes after training.
    pub eval_episodes: u64,
    /// Episodes per row of the progress table (`None`: a tenth of the episodes).
    pub window: Option<u64>,
    /// Seed of everything random in the run.
    pub seed: u64,
    /// Training episodes kept and written one per line to `returns.jsonl`, from the
    /// first (the window rows always cover every episode).
    pub log_episodes: u64,
    /// A saved table or network to start from (`init_from`, resolved against the
    /// program's directory).
    pub init_from: Option<std::path::PathBuf>,
    /// The value every Q-table entry starts from when there is no `init_from` (`init`;
    /// optimistic values make a greedy learner try what it has not tried).
    pub q_init: f64,
}

/// Training episodes written to `returns.jsonl` when an agent sets no `log_episodes`.
pub const DEFAULT_LOG_EPISODES: u64 = 100_000;

impl AgentConfig {
    /// A configuration with the language's defaults: alpha 0.1, gamma 0.99, 10,000
    /// episodes, epsilon linear from 1.0 to 0.05 over half of them, 1000 evaluation
    /// episodes, seed 0.
    pub fn new(algorithm: Algorithm) -> AgentConfig {
        let budget = Budget::Episodes(DEFAULT_EPISODES);
        AgentConfig {
            algorithm,
            alpha: 0.1,
            gamma: 0.99,
            epsilon: default_epsilon(budget),
            budget,
            bins: None,
            eval_episodes: 1000,
            window: None,
            seed: 0,
            log_episodes: DEFAULT_LOG_EPISODES,
            init_from: None,
            q_init: 0.0,
        }
    }

    /// Checks every setting's range.
    pub fn validate(&self) -> Result<(), RlError> {
        let bad = |name: &str, value: String, expected: &str| {
            Err(RlError::Argument {
                name: name.to_string(),
                value,
                expected: expected.to_string(),
            })
        };
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return bad("alpha", self.alpha.to_string(), "in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma", self.gamma.to_string(), "in [0, 1]");
        }
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                bad(name, v.to_string(), "in [0, 1]")
            }
        };
        match self.epsilon {
            Epsilon::Constant(e) => unit("epsilon", e)?,
            Epsilon::Linear { from, to, over, .. } => {
                unit("from", from)?;
                unit("to", to)?;
                if over == 0 {
                    return bad("steps", "0".into(), "of at least 1");
                }
            }
            Epsilon::Exponential { from, to, decay } => {
                unit("from", from)?;
                unit("to", to)?;
                if !(decay > 0.0 && decay <= 1.0) {
                    return bad("decay", decay.to_string(), "in (0, 1]");
                }
            }
        }
        match self.budget {
            Budget::Episodes(0) => return bad("episodes", "0".into(), "of at least 1"),
            Budget::Steps(0) => return bad("steps", "0".into(), "of at least 1"),
            _ => {}
        }
        if self.window == Some(0) {
            return bad("window", "0".into(), "of at least 1");
        }
        Ok(())
    }
}

/// The schedule used when `epsilon` is not given: linear from 1.0 to 0.05 over half the
/// budget, counted in the budget's unit.
pub fn default_epsilon(budget: Budget) -> Epsilon {
    let (over, unit) = match budget {
        Budget::Episodes(n) => (n / 2, Unit::Episodes),
        Budget::Steps(n) => (n / 2, Unit::Steps),
    };
    Epsilon::Linear {
        from: 1.0,
        to: 0.05,
        over: over.max(1),
        unit,
    }
}
