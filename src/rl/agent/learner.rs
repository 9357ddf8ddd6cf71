//! The training loop: one generic, monomorphised loop per (environment, algorithm) pair,
//! with no allocation per step.

use crate::rl::agent::config::{AgentConfig, Budget};
use crate::rl::agent::policy::{argmax_random_tie, epsilon_greedy, max_value};
use crate::rl::agent::progress::{Progress, WindowAccumulator};
use crate::rl::env::StepEnv;
use crate::rl::rng::{RlRng, TRAIN_STREAM};

/// Algorithm selectors for the const-generic loop (resolved at compile time).
pub(crate) const Q_LEARNING: u8 = 0;
pub(crate) const SARSA: u8 = 1;
pub(crate) const EXPECTED_SARSA: u8 = 2;
pub(crate) const DOUBLE_Q: u8 = 3;

/// Raw output of a training run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainLog {
    pub returns: Vec<f64>,
    pub lengths: Vec<u32>,
    pub success: Vec<bool>,
    pub total_steps: u64,
    /// Row-major `states × actions` Q-table (for double Q, the mean of both tables).
    pub q: Vec<f64>,
}

/// Trains from an all-zero Q-table. `ALG` is one of the selector constants above.
pub(crate) fn train_loop<E: StepEnv, const ALG: u8>(
    env: &mut E,
    cfg: &AgentConfig,
    progress: &mut dyn FnMut(Progress),
) -> TrainLog {
    let na = env.num_actions();
    let ns = env.num_states();
    let mut rng = RlRng::new(cfg.seed, TRAIN_STREAM);
    let mut q = vec![0.0f64; ns * na];
    // Second table only for double Q.
    let mut q2 = if ALG == DOUBLE_Q {
        vec![0.0f64; ns * na]
    } else {
        Vec::new()
    };
    // Scratch row for double Q's behaviour policy (Q_A + Q_B), allocated once.
    let mut sum_row = vec![0.0f64; na];

    let (alpha, gamma) = (cfg.alpha, cfg.gamma);
    let schedule = cfg.epsilon;
    let (episode_cap, step_cap) = match cfg.budget {
        Budget::Episodes(n) => (n, u64::MAX),
        Budget::Steps(n) => (u64::MAX, n),
    };
    let limit = env.time_limit().unwrap_or(u32::MAX);
    let truncation_success = env.truncation_is_success();

    let mut returns = Vec::new();
    let mut lengths = Vec::new();
    let mut success_flags = Vec::new();
    let mut window = WindowAccumulator::default();
    let mut total_steps: u64 = 0;
    let mut episode: u64 = 0;

    // Behaviour action in state `s` with exploration rate `eps`.
    macro_rules! behave {
        ($s:expr, $eps:expr) => {{
            let s = $s;
            if ALG == DOUBLE_Q {
                let (ra, rb) = (&q[s * na..s * na + na], &q2[s * na..s * na + na]);
                for k in 0..na {
                    sum_row[k] = ra[k] + rb[k];
                }
                epsilon_greedy(&sum_row, $eps, &mut rng)
            } else {
                epsilon_greedy(&q[s * na..s * na + na], $eps, &mut rng)
            }
        }};
    }

    'training: while episode < episode_cap {
        let mut s = env.reset(&mut rng);
        let mut a = behave!(s, schedule.at(total_steps));
        let mut ret = 0.0;
        let mut len: u32 = 0;
        let success;
        loop {
            if total_steps >= step_cap {
                break 'training;
            }
            let out = env.step(a, &mut rng);
            total_steps += 1;
            len += 1;
            ret += out.reward;
            let s2 = out.state;
            let truncated = !out.terminated && len >= limit;
            let done = out.terminated || truncated;
            let eps = schedule.at(total_steps);
            let sa = s * na + a;
            let next = s2 * na;
            let mut a2 = 0;
            match ALG {
                Q_LEARNING => {
                    let boot = if out.terminated {
                        0.0
                    } else {
                        max_value(&q[next..next + na])
                    };
                    q[sa] += alpha * (out.reward + gamma * boot - q[sa]);
                    if !done {
                        a2 = behave!(s2, eps);
                    }
                }
                SARSA => {
                    // The next action is chosen before the update (Sutton & Barto); on
                    // truncation it is still drawn, to bootstrap from.
                    let boot = if out.terminated {
                        0.0
                    } else {
                        a2 = behave!(s2, eps);
                        q[next + a2]
                    };
                    q[sa] += alpha * (out.reward + gamma * boot - q[sa]);
                }
                EXPECTED_SARSA => {
                    let boot = if out.terminated {
                        0.0
                    } else {
                        // Under epsilon-greedy with random tie-breaking the greedy mass
                        // (1 - eps) falls on actions that all have the maximal value.
                        let row = &q[next..next + na];
                        let mean = row.iter().sum::<f64>() / na as f64;
                        eps * mean + (1.0 - eps) * max_value(row)
                    };
                    q[sa] += alpha * (out.reward + gamma * boot - q[sa]);
                    if !done {
                        a2 = behave!(s2, eps);
                    }
                }
                _ => {
                    // Double Q: the coin decides which table learns.
                    let (learn, judge) = if rng.next_u64() >> 63 == 0 {
                        (&mut q, &q2)
                    } else {
                        (&mut q2, &q)
                    };
                    let boot = if out.terminated {
                        0.0
                    } else {
                        let best = argmax_random_tie(&learn[next..next + na], &mut rng);
                        judge[next + best]
                    };
                    learn[sa] += alpha * (out.reward + gamma * boot - learn[sa]);
                    if !done {
                        a2 = behave!(s2, eps);
                    }
                }
            }
            if done {
                success = out.success || (truncated && truncation_success);
                break;
            }
            s = s2;
            a = a2;
        }
        returns.push(ret);
        lengths.push(len);
        success_flags.push(success);
        window.push(ret, len, success);
        episode += 1;
        if window.episodes >= cfg.window {
            let stats = window.take(episode);
            progress(Progress {
                episodes: episode,
                steps: total_steps,
                fraction: budget_fraction(cfg.budget, episode, total_steps),
                epsilon: schedule.at(total_steps),
                window: stats,
            });
        }
    }
    if window.episodes > 0 {
        let stats = window.take(episode);
        progress(Progress {
            episodes: episode,
            steps: total_steps,
            fraction: 1.0,
            epsilon: schedule.at(total_steps),
            window: stats,
        });
    }
    if ALG == DOUBLE_Q {
        for (x, y) in q.iter_mut().zip(&q2) {
            *x = 0.5 * (*x + *y);
        }
    }
    TrainLog {
        returns,
        lengths,
        success: success_flags,
        total_steps,
        q,
    }
}

/// Fraction of `budget` used after `episodes` episodes and `steps` steps.
fn budget_fraction(budget: Budget, episodes: u64, steps: u64) -> f64 {
    let (done, total) = match budget {
        Budget::Episodes(n) => (episodes, n),
        Budget::Steps(n) => (steps, n),
    };
    (done as f64 / total.max(1) as f64).min(1.0)
}
