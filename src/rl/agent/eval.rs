//! Greedy evaluation of a learned Q-table.

use crate::rl::agent::policy::greedy_action;
use crate::rl::env::StepEnv;
use crate::rl::rng::RlRng;

/// Summary of greedy-policy evaluation episodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalSummary {
    /// Number of evaluation episodes.
    pub episodes: u64,
    /// Mean undiscounted return.
    pub mean_return: f64,
    /// Population standard deviation of the return (NumPy's `std`, ddof = 0).
    pub std_return: f64,
    /// Fraction of successful episodes (see `docs/rl.md` for each environment's definition).
    pub success_rate: f64,
    /// Mean episode length in steps.
    pub mean_length: f64,
}

/// One greedy episode, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Visited states, starting with the initial state (one more entry than `actions`).
    pub states: Vec<usize>,
    /// Actions taken.
    pub actions: Vec<usize>,
    /// Rewards received.
    pub rewards: Vec<f64>,
    /// Sum of `rewards`.
    pub total_reward: f64,
    /// The episode ended by termination (not by the step limit).
    pub terminated: bool,
    /// The episode counts as a success.
    pub success: bool,
}

/// Plays one greedy episode (lowest-index tie-breaking) of at most `step_limit` steps unless
/// the environment's own limit applies.
pub(crate) fn rollout<E: StepEnv>(
    env: &mut E,
    q: &[f64],
    rng: &mut RlRng,
    step_limit: u32,
) -> Rollout {
    let na = env.num_actions();
    let limit = env.time_limit().unwrap_or(step_limit);
    let mut s = env.reset(rng);
    let mut r = Rollout {
        states: vec![s],
        actions: Vec::new(),
        rewards: Vec::new(),
        total_reward: 0.0,
        terminated: false,
        success: false,
    };
    for len in 1..=limit {
        let a = greedy_action(&q[s * na..s * na + na]);
        let out = env.step(a, rng);
        r.actions.push(a);
        r.rewards.push(out.reward);
        r.states.push(out.state);
        r.total_reward += out.reward;
        s = out.state;
        if out.terminated {
            r.terminated = true;
            r.success = out.success;
            break;
        }
        if len == limit {
            r.success = env.truncation_is_success();
        }
    }
    r
}

/// Runs `episodes` greedy episodes and summarises them.
pub(crate) fn evaluate<E: StepEnv>(
    env: &mut E,
    q: &[f64],
    episodes: u64,
    rng: &mut RlRng,
    step_limit: u32,
) -> EvalSummary {
    let na = env.num_actions();
    let limit = env.time_limit().unwrap_or(step_limit);
    let truncation_success = env.truncation_is_success();
    // Welford's running mean/variance: no per-episode storage, whatever `episodes` is.
    // The reported mean is `sum / n` (exact for 0/1 returns).
    let (mut mean, mut m2, mut sum) = (0.0f64, 0.0f64, 0.0f64);
    let mut successes = 0u64;
    let mut length_sum = 0u64;
    let mut count = 0u64;
    for _ in 0..episodes {
        let mut s = env.reset(rng);
        let mut ret = 0.0;
        let mut len = 0u32;
        let mut success = false;
        while len < limit {
            let a = greedy_action(&q[s * na..s * na + na]);
            let out = env.step(a, rng);
            len += 1;
            ret += out.reward;
            s = out.state;
            if out.terminated {
                success = out.success;
                break;
            }
            if len == limit {
                success = truncation_success;
            }
        }
        count += 1;
        sum += ret;
        let delta = ret - mean;
        mean += delta / count as f64;
        m2 += delta * (ret - mean);
        successes += success as u64;
        length_sum += len as u64;
    }
    let n = episodes.max(1) as f64;
    EvalSummary {
        episodes,
        mean_return: sum / n,
        std_return: (m2 / n).sqrt(),
        success_rate: successes as f64 / n,
        mean_length: length_sum as f64 / n,
    }
}
