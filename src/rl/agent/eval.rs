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

/// One greedy evaluation episode.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EvalEpisode {
    /// Undiscounted return.
    #[serde(rename = "return")]
    pub ret: f64,
    /// Steps taken.
    pub steps: u32,
    /// Whether it counts as a success.
    pub success: bool,
}

impl EvalSummary {
    /// The summary of `episodes` (in the order they ran).
    pub fn of(episodes: &[EvalEpisode]) -> EvalSummary {
        let (mut sum, mut sum_sq, mut successes, mut steps) = (0.0, 0.0, 0u64, 0u64);
        for e in episodes {
            sum += e.ret;
            sum_sq += e.ret * e.ret;
            successes += u64::from(e.success);
            steps += u64::from(e.steps);
        }
        let n = (episodes.len() as u64).max(1) as f64;
        let mean = sum / n;
        EvalSummary {
            episodes: episodes.len() as u64,
            mean_return: mean,
            std_return: (sum_sq / n - mean * mean).max(0.0).sqrt(),
            success_rate: successes as f64 / n,
            mean_steps: steps as f64 / n,
        }
    }
}

/// Runs `episodes` greedy episodes (ties broken at random with `rng`).
pub fn evaluate<E: Episodic>(env: &mut E, q: &[f64], episodes: u64, rng: &mut Rng) -> EvalSummary {
    EvalSummary::of(&evaluate_episodes(env, q, episodes, rng))
}

/// [`evaluate`], episode by episode.
pub fn evaluate_episodes<E: Episodic>(
    env: &mut E,
    q: &[f64],
    episodes: u64,
    rng: &mut Rng,
) -> Vec<EvalEpisode> {
    let na = env.n_actions();
    let limit = env.max_steps().unwrap_or(UNLIMITED_EVAL_CAP);
    let mut out = Vec::with_capacity(episodes.min(1 << 20) as usize);
    for _ in 0..episodes {
        let mut s = env.reset(rng);
        let mut ret = 0.0;
        let mut len = 0u32;
        let success = loop {
            let i = s as usize * na;
            let a = greedy(&q[i..i + na], rng);
            let st = env.step(s, a, rng);
            len += 1;
            ret += st.reward;
            s = st.next;
            let truncated = !st.terminated && len >= limit;
            if st.terminated || truncated {
                let capped = truncated && env.max_steps().is_none();
                break !capped && env.success(&st, truncated);
            }
        };
        out.push(EvalEpisode {
            ret,
            steps: len,
            success,
        });
    }
    out
}
