//! Greedy evaluation of a learned table.

use super::learn::greedy;
use crate::rl::episodic::Episodic;
use crate::rl::rng::Rng;

/// Environments without a time limit (cliff_walking) are cut after this many steps in
/// evaluation: a greedy policy may loop forever. A cut episode is not a success.
pub const UNLIMITED_EVAL_CAP: u32 = 10_000;

/// Results of the greedy evaluation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EvalSummary {
    /// Episodes run.
    pub episodes: u64,
    /// Mean undiscounted return.
    pub mean_return: f64,
    /// Population standard deviation of the returns.
    pub std_return: f64,
    /// Fraction of successful episodes.
    pub success_rate: f64,
    /// Mean episode length.
    pub mean_steps: f64,
}

/// Runs `episodes` greedy episodes (ties broken at random with `rng`).
pub fn evaluate<E: Episodic>(env: &mut E, q: &[f64], episodes: u64, rng: &mut Rng) -> EvalSummary {
    let na = env.n_actions();
    let limit = env.max_steps().unwrap_or(UNLIMITED_EVAL_CAP);
    let (mut sum, mut sum_sq, mut successes, mut steps) = (0.0, 0.0, 0u64, 0u64);
    for _ in 0..episodes {
        let mut s = env.reset(rng);
        let mut ret = 0.0;
        let mut len = 0u32;
        loop {
            let i = s as usize * na;
            let a = greedy(&q[i..i + na], rng);
            let st = env.step(s, a, rng);
            len += 1;
            ret += st.reward;
            s = st.next;
            let truncated = !st.terminated && len >= limit;
            if st.terminated || truncated {
                let capped = truncated && env.max_steps().is_none();
                if !capped && env.success(&st, truncated) {
                    successes += 1;
                }
                break;
            }
        }
        sum += ret;
        sum_sq += ret * ret;
        steps += len as u64;
    }
    let n = episodes.max(1) as f64;
    let mean = sum / n;
    EvalSummary {
        episodes,
        mean_return: mean,
        std_return: (sum_sq / n - mean * mean).max(0.0).sqrt(),
        success_rate: successes as f64 / n,
        mean_steps: steps as f64 / n,
    }
}
