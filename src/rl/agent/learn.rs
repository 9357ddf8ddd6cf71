//! The training loop. One generic function per environment type (monomorphised), one
//! pass per step, no allocation per step: the Q-table is a flat `Vec<f64>` indexed
//! `state * n_actions + action`.
//!
//! Greedy choices break ties uniformly at random with the run's generator (reservoir
//! sampling over the tied actions, so a random number is drawn only when there is a tie);
//! without that, an untrained table of zeros would always pick action 0.

use super::{AgentConfig, Algorithm, Budget};
use crate::rl::episodic::{Episodic, Step};
use crate::rl::rng::Rng;

/// Environments without a time limit (cliff_walking) are cut after this many steps in
/// training, so no setting can make a run hang. Gymnasium has no such limit; a sensible
/// agent never comes near it.
pub const UNLIMITED_TRAIN_CAP: u32 = 100_000;

/// Most actions an environment may have (the builtins have at most 6).
pub const MAX_ACTIONS: usize = 16;

/// One finished training episode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpisodeRecord {
    /// 1-based episode number.
    pub episode: u64,
    /// Undiscounted return.
    pub ret: f64,
    /// Steps taken.
    pub steps: u32,
    /// Whether it counts as a success (see [`crate::rl::env::Success`]).
    pub success: bool,
    /// Epsilon at the episode's start.
    pub epsilon: f64,
}

/// The outcome of training.
#[derive(Clone, Debug, PartialEq)]
pub struct Learned {
    /// The greedy policy's action values, `[n_states * n_actions]` row-major (for double
    /// Q-learning, the mean of its two tables).
    pub q: Vec<f64>,
    /// States.
    pub n_states: usize,
    /// Actions.
    pub n_actions: usize,
    /// Episodes finished.
    pub episodes: u64,
    /// Environment steps taken (including those of a cut final episode).
    pub steps: u64,
    /// The first `log_episodes` finished episodes, in order (the agent's cap keeps long
    /// runs in bounded memory).
    pub records: Vec<EpisodeRecord>,
}

/// The greedy action of a row of action values; ties are broken uniformly at random.
#[inline(always)]
pub fn greedy(row: &[f64], rng: &mut Rng) -> u32 {
    let mut best = row[0];
    let mut choice = 0u32;
    let mut ties = 1u32;
    for (a, &v) in row.iter().enumerate().skip(1) {
        if v > best {
            best = v;
            choice = a as u32;
            ties = 1;
        } else if v == best {
            ties += 1;
            if rng.below(ties) == 0 {
                choice = a as u32;
            }
        }
    }
    choice
}

#[inline(always)]
fn max(row: &[f64]) -> f64 {
    row.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// Index of the first maximum (for double Q's target, where only the value matters up to
/// ties between equal values of the other table).
#[inline(always)]
fn first_argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (a, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = a;
        }
    }
    best
}

/// The tables being learned.
struct Tables {
    q: Vec<f64>,
    /// Double Q-learning's second table (empty otherwise).
    q2: Vec<f64>,
    na: usize,
}

impl Tables {
    #[inline(always)]
    fn row(&self, s: u32) -> &[f64] {
        let i = s as usize * self.na;
        &self.q[i..i + self.na]
    }

    /// Epsilon-greedy on Q (or on Q1 + Q2 for double Q-learning).
    #[inline(always)]
    fn act(&self, s: u32, eps: f64, rng: &mut Rng) -> u32 {
        if eps > 0.0 && rng.unit() < eps {
            return rng.below(self.na as u32);
        }
        if self.q2.is_empty() {
            greedy(self.row(s), rng)
        } else {
            let i = s as usize * self.na;
            let mut sum = [0.0; MAX_ACTIONS];
            let (q1, q2) = (&self.q[i..i + self.na], &self.q2[i..i + self.na]);
            for ((x, a), b) in sum.iter_mut().zip(q1).zip(q2) {
                *x = a + b;
            }
            greedy(&sum[..self.na], rng)
        }
    }
}

/// Trains `cfg.algorithm` on `env`; `progress` sees every finished episode.
pub fn learn<E: Episodic>(
    env: &mut E,
    cfg: &AgentConfig,
    rng: &mut Rng,
    progress: &mut dyn FnMut(&EpisodeRecord),
) -> Learned {
    learn_until(env, cfg, rng, progress, &|| false)
}

/// [`learn`] that asks `stop` before every episode whether to end training there (an
/// interrupt); what was learned so far is returned.
pub fn learn_until<E: Episodic>(
    env: &mut E,
    cfg: &AgentConfig,
    rng: &mut Rng,
    progress: &mut dyn FnMut(&EpisodeRecord),
    stop: &dyn Fn() -> bool,
) -> Learned {
    learn_from(env, cfg, None, rng, progress, stop)
}

/// [`learn_until`] starting from the table `init` (`[n_states * n_actions]`, checked by
/// the caller) instead of `cfg.q_init` everywhere; double Q-learning starts both tables
/// from it. Terminal states' entries are never read as a future (a terminal step
/// bootstraps from nothing), so an optimistic start does not leak into the targets.
pub fn learn_from<E: Episodic>(
    env: &mut E,
    cfg: &AgentConfig,
    init: Option<&[f64]>,
    rng: &mut Rng,
    progress: &mut dyn FnMut(&EpisodeRecord),
    stop: &dyn Fn() -> bool,
) -> Learned {
    let (ns, na) = (env.n_states(), env.n_actions());
    let double = cfg.algorithm == Algorithm::DoubleQ;
    let start = match init {
        Some(q) if q.len() == ns * na => q.to_vec(),
        _ => vec![cfg.q_init; ns * na],
    };
    let mut t = Tables {
        q2: if double { start.clone() } else { Vec::new() },
        q: start,
        na,
    };
    let limit = env.max_steps().unwrap_or(UNLIMITED_TRAIN_CAP);
    let (max_episodes, max_steps) = match cfg.budget {
        Budget::Episodes(n) => (n, u64::MAX),
        Budget::Steps(n) => (u64::MAX, n),
    };
    let (alpha, gamma) = (cfg.alpha, cfg.gamma);
    let per_step = cfg.epsilon.per_step();
    let mut records = Vec::new();
    let mut total = 0u64;
    let mut episode = 0u64;
    'episodes: while episode < max_episodes {
        if stop() {
            break;
        }
        let start_eps = cfg.epsilon.at(total, episode);
        let mut eps = start_eps;
        let mut s = env.reset(rng);
        let mut a = if cfg.algorithm == Algorithm::Sarsa {
            t.act(s, eps, rng)
        } else {
            0
        };
        let mut ret = 0.0;
        let mut len = 0u32;
        loop {
            if total >= max_steps {
                break 'episodes;
            }
            if per_step {
                eps = cfg.epsilon.at(total, episode);
            }
            if cfg.algorithm != Algorithm::Sarsa {
                a = t.act(s, eps, rng);
            }
            let st: Step = env.step(s, a, rng);
            total += 1;
            len += 1;
            ret += st.reward;
            let truncated = !st.terminated && len >= limit;
            let idx = s as usize * na + a as usize;
            match cfg.algorithm {
                Algorithm::QLearning => {
                    let future = if st.terminated {
                        0.0
                    } else {
                        max(t.row(st.next))
                    };
                    t.q[idx] += alpha * (st.reward + gamma * future - t.q[idx]);
                }
                Algorithm::Sarsa => {
                    // The next action is chosen even when truncated: the cut episode's
                    // last state still bootstraps (truncation is not termination).
                    let a2 = if st.terminated {
                        0
                    } else {
                        t.act(st.next, eps, rng)
                    };
                    let future = if st.terminated {
                        0.0
                    } else {
                        t.q[st.next as usize * na + a2 as usize]
                    };
                    t.q[idx] += alpha * (st.reward + gamma * future - t.q[idx]);
                    a = a2;
                }
                Algorithm::ExpectedSarsa => {
                    let future = if st.terminated {
                        0.0
                    } else {
                        // Under epsilon-greedy with random tie-breaking the greedy mass
                        // 1 − ε is spread over the tied maxima, which share one value.
                        let row = t.row(st.next);
                        let sum: f64 = row.iter().sum();
                        eps / na as f64 * sum + (1.0 - eps) * max(row)
                    };
                    t.q[idx] += alpha * (st.reward + gamma * future - t.q[idx]);
                }
                Algorithm::DoubleQ => {
                    let j = st.next as usize * na;
                    let (upd, other) = if rng.unit() < 0.5 {
                        (&mut t.q, &t.q2)
                    } else {
                        (&mut t.q2, &t.q)
                    };
                    let future = if st.terminated {
                        0.0
                    } else {
                        let best = first_argmax(&upd[j..j + na]);
                        other[j + best]
                    };
                    upd[idx] += alpha * (st.reward + gamma * future - upd[idx]);
                }
            }
            s = st.next;
            if st.terminated || truncated {
                episode += 1;
                let r = EpisodeRecord {
                    episode,
                    ret,
                    steps: len,
                    success: env.success(&st, truncated),
                    epsilon: start_eps,
                };
                progress(&r);
                if (records.len() as u64) < cfg.log_episodes {
                    records.push(r);
                }
                break;
            }
        }
    }
    let mut q = t.q;
    if double {
        for (x, y) in q.iter_mut().zip(&t.q2) {
            *x = (*x + y) / 2.0;
        }
    }
    Learned {
        q,
        n_states: ns,
        n_actions: na,
        episodes: episode,
        steps: total,
        records,
    }
}
