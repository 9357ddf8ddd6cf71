//! Planning with a model: value iteration and policy iteration on a tabular environment's
//! exact transition table, the exact evaluation of any table-greedy policy (the number a
//! sampled evaluation estimates), and Monte Carlo tree search ([`mcts`]) with the
//! environment itself as the simulator.
//!
//! Everything here reads Gymnasium's `P` layout ([`TabularEnv::p`]): outcomes with their
//! probability, reward and `terminated` flag. A terminal outcome contributes its reward
//! and nothing after it; a time limit (`max_steps`) truncates, which the exact evaluation
//! models by counting steps, exactly as [`crate::rl::agent::evaluate`] runs episodes.

pub mod block;
pub mod mcts;

pub use mcts::{Backup, MctsConfig, Rollout};

/// Which planner an agent block names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanMethodKind {
    /// `value_iteration`.
    ValueIteration,
    /// `policy_iteration`.
    PolicyIteration,
    /// `mcts`.
    Mcts,
}

impl PlanMethodKind {
    /// From the builtin's name.
    pub fn from_name(name: &str) -> Option<PlanMethodKind> {
        Some(match name {
            "value_iteration" => PlanMethodKind::ValueIteration,
            "policy_iteration" => PlanMethodKind::PolicyIteration,
            "mcts" => PlanMethodKind::Mcts,
            _ => return None,
        })
    }

    /// The builtin's name.
    pub fn name(self) -> &'static str {
        match self {
            PlanMethodKind::ValueIteration => "value_iteration",
            PlanMethodKind::PolicyIteration => "policy_iteration",
            PlanMethodKind::Mcts => "mcts",
        }
    }

    /// The agent fields it reads.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            PlanMethodKind::ValueIteration => &[
                "gamma",
                "tolerance",
                "max_iterations",
                "horizon",
                "eval_episodes",
                "seed",
            ],
            PlanMethodKind::PolicyIteration => &[
                "gamma",
                "tolerance",
                "max_iterations",
                "eval_episodes",
                "seed",
            ],
            PlanMethodKind::Mcts => &[
                "gamma",
                "simulations",
                "exploration",
                "depth",
                "trees",
                "backup",
                "rollout",
                "rollout_depth",
                "prior_visits",
                "eval_episodes",
                "seed",
            ],
        }
    }
}

/// A planner with its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanMethod {
    /// Value iteration on the table.
    ValueIteration,
    /// Policy iteration on the table.
    PolicyIteration,
    /// Tree search by simulation.
    Mcts(MctsConfig),
}

/// A planning agent's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSetup {
    /// The planner.
    pub method: PlanMethod,
    /// Discount, tolerance, iteration cap and horizon of the table solvers (MCTS reads the
    /// discount only).
    pub solve: SolveConfig,
    /// The table an MCTS agent's rollouts act greedily on (`rollout = …`).
    pub rollout: Option<RolloutTable>,
}

/// Where an MCTS agent's greedy rollouts read their table, and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutTable {
    /// The agent block or file.
    pub source: TableSource,
    /// The `rollout = …` value (errors reading the table point there).
    pub span: crate::source::Span,
}

/// A saved table named in a `.amm` file.
#[derive(Clone, Debug, PartialEq)]
pub enum TableSource {
    /// An agent block of the file: its run's `qtable.npy` in the output directory.
    Agent(String),
    /// A `.npy` file: a Q-table `[states, actions]` or a value table `[states, 1]`.
    File(std::path::PathBuf),
}

use crate::rl::agent::eval::UNLIMITED_EVAL_CAP;
use crate::rl::env::{Success, TabularEnv, Transition};

/// A solved (or evaluated) table: state values, action values and how the solver ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    /// `v[s]`.
    pub v: Vec<f64>,
    /// `q[s * n_actions + a]`: the value of taking `a` in `s`, then following `v`.
    pub q: Vec<f64>,
    /// Sweeps (value iteration) or improvement steps (policy iteration) done.
    pub iterations: u64,
    /// The last sweep changed no value by more than the tolerance (or the finite horizon
    /// was reached).
    pub converged: bool,
    /// The largest value change of each sweep, in order (for the convergence plot).
    pub residuals: Vec<f64>,
}

/// Settings of a planning solver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveConfig {
    /// Discount in [0, 1].
    pub gamma: f64,
    /// Stop when no value changes by more than this in a sweep.
    pub tolerance: f64,
    /// At most this many sweeps (value iteration) or improvement steps (policy iteration).
    pub max_iterations: u64,
    /// Finite horizon: values of the best policy over this many steps (value iteration
    /// only).
    pub horizon: Option<u32>,
}

/// `Σ p · (r + γ · v(s′))` over the outcomes of one action; terminal outcomes add no future.
#[inline]
fn backup(outcomes: &[Transition], v: &[f64], gamma: f64) -> f64 {
    outcomes
        .iter()
        .map(|t| t.prob * (t.reward + if t.terminated { 0.0 } else { gamma * v[t.next] }))
        .sum()
}

/// The action values of acting once, then following the state values `v`: how a value
/// table (`values.npy`) becomes a table to act greedily on.
pub fn q_of(env: &TabularEnv, v: &[f64], gamma: f64) -> Vec<f64> {
    let mut q = Vec::with_capacity(env.n_states * env.n_actions);
    for actions in &env.p {
        for outcomes in actions {
            q.push(backup(outcomes, v, gamma));
        }
    }
    q
}

/// Value iteration (Bellman optimality backups, in place over states in order: Gauss–
/// Seidel, which converges to the same fixed point in fewer sweeps). With a horizon, exactly
/// `horizon` synchronous sweeps from zero: `v` is then the best expected return within that
/// many steps.
pub fn value_iteration(env: &TabularEnv, cfg: &SolveConfig) -> Solved {
    value_iteration_until(env, cfg, &|| false)
}

/// [`value_iteration`], stopping after the sweep during which `stop` became true (an
/// interrupt); the table so far is returned, not converged.
pub fn value_iteration_until(
    env: &TabularEnv,
    cfg: &SolveConfig,
    stop: &dyn Fn() -> bool,
) -> Solved {
    let mut v = vec![0.0; env.n_states];
    let mut residuals = Vec::new();
    if let Some(h) = cfg.horizon {
        let mut next = v.clone();
        let mut done = 0;
        for _ in 0..h {
            if stop() {
                break;
            }
            done += 1;
            let mut delta: f64 = 0.0;
            for (s, actions) in env.p.iter().enumerate() {
                next[s] = actions
                    .iter()
                    .map(|o| backup(o, &v, cfg.gamma))
                    .fold(f64::NEG_INFINITY, f64::max);
                delta = delta.max((next[s] - v[s]).abs());
            }
            residuals.push(delta);
            std::mem::swap(&mut v, &mut next);
        }
        // The first decision of the horizon: values of each action with h − 1 steps after.
        let q = if h == 0 {
            vec![0.0; env.n_states * env.n_actions]
        } else {
            q_of(env, &next, cfg.gamma)
        };
        return Solved {
            v,
            q,
            iterations: u64::from(done),
            converged: done == h,
            residuals,
        };
    }
    let mut iterations = 0;
    let mut converged = false;
    while iterations < cfg.max_iterations && !stop() {
        iterations += 1;
        let mut delta: f64 = 0.0;
        for (s, actions) in env.p.iter().enumerate() {
            let best = actions
                .iter()
                .map(|o| backup(o, &v, cfg.gamma))
                .fold(f64::NEG_INFINITY, f64::max);
            delta = delta.max((best - v[s]).abs());
            v[s] = best;
        }
        residuals.push(delta);
        if delta <= cfg.tolerance {
            converged = true;
            break;
        }
    }
    let q = q_of(env, &v, cfg.gamma);
    Solved {
        v,
        q,
        iterations,
        converged,
        residuals,
    }
}

/// Policy iteration: evaluate the current deterministic policy (in-place sweeps to the
/// tolerance, at most `max_iterations` of them), improve it greedily, and stop when it no
/// longer changes. Improvement keeps the current action on ties (within 1e-12), so the
/// policy cannot cycle between equally good actions.
pub fn policy_iteration(env: &TabularEnv, cfg: &SolveConfig) -> Solved {
    policy_iteration_until(env, cfg, &|| false)
}

/// [`policy_iteration`], stopping at the next evaluation sweep once `stop` is true.
pub fn policy_iteration_until(
    env: &TabularEnv,
    cfg: &SolveConfig,
    stop: &dyn Fn() -> bool,
) -> Solved {
    let na = env.n_actions;
    let mut policy = vec![0usize; env.n_states];
    let mut v = vec![0.0; env.n_states];
    let mut residuals = Vec::new();
    let mut iterations = 0;
    let mut converged = false;
    'improve: while iterations < cfg.max_iterations {
        iterations += 1;
        // Evaluation.
        for _ in 0..cfg.max_iterations {
            if stop() {
                break 'improve;
            }
            let mut delta: f64 = 0.0;
            for (s, actions) in env.p.iter().enumerate() {
                let x = backup(&actions[policy[s]], &v, cfg.gamma);
                delta = delta.max((x - v[s]).abs());
                v[s] = x;
            }
            residuals.push(delta);
            if delta <= cfg.tolerance {
                break;
            }
        }
        // Improvement.
        let mut stable = true;
        for (s, actions) in env.p.iter().enumerate() {
            let current = backup(&actions[policy[s]], &v, cfg.gamma);
            let (mut best_a, mut best) = (policy[s], current);
            for (a, o) in actions.iter().enumerate().take(na) {
                let x = backup(o, &v, cfg.gamma);
                if x > best + 1e-12 {
                    best = x;
                    best_a = a;
                }
            }
            if best_a != policy[s] {
                policy[s] = best_a;
                stable = false;
            }
        }
        if stable {
            converged = true;
            break;
        }
    }
    let q = q_of(env, &v, cfg.gamma);
    Solved {
        v,
        q,
        iterations,
        converged,
        residuals,
    }
}

/// The exact value of a table-greedy policy, computed from the model: what the sampled
/// greedy evaluation estimates.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ExactEval {
    /// Expected undiscounted return of an episode.
    pub mean_return: f64,
    /// Probability that an episode is a success.
    pub success_rate: f64,
    /// Expected episode length (steps).
    pub mean_steps: f64,
    /// Steps the evaluation covered: the time limit, or the evaluation cap of environments
    /// without one.
    pub horizon: u32,
}

/// The greedy policy of `q` as the sampled evaluation plays it: uniform over the actions
/// whose value equals the row's maximum exactly (ties broken at random).
pub fn greedy_policy(q: &[f64], n_actions: usize) -> Vec<Vec<(usize, f64)>> {
    q.chunks(n_actions)
        .map(|row| {
            let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ties: Vec<usize> = (0..row.len()).filter(|&a| row[a] == best).collect();
            let p = 1.0 / ties.len().max(1) as f64;
            ties.into_iter().map(|a| (a, p)).collect()
        })
        .collect()
}

/// Exact evaluation of `policy` (per state, actions with probabilities) on `env`, episodes
/// cut at the time limit (or at [`UNLIMITED_EVAL_CAP`] steps without one, where a cut
/// episode is not a success, as in the sampled evaluation). Dynamic programming over the
/// steps left: at most `horizon` sweeps, stopping early once nothing changes.
pub fn evaluate_exact(env: &TabularEnv, policy: &[Vec<(usize, f64)>]) -> ExactEval {
    let horizon = env.max_steps.unwrap_or(UNLIMITED_EVAL_CAP);
    let n = env.n_states;
    let goal = |next: usize, terminated: bool| -> f64 {
        match &env.success {
            Success::Goal(g) => f64::from(u8::from(
                terminated && g.get(next).copied().unwrap_or(false),
            )),
            Success::Terminated => f64::from(u8::from(terminated)),
            // Success by outlasting the limit: counted at the cut below.
            Success::Truncated => 0.0,
        }
    };
    // With k steps left: expected return, success probability and length from each state.
    let (mut ret, mut succ, mut len) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    if matches!(env.success, Success::Truncated) && env.max_steps.is_some() {
        succ = vec![1.0; n];
    }
    let (mut r2, mut s2, mut l2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for _ in 0..horizon {
        let mut delta: f64 = 0.0;
        for s in 0..n {
            let (mut r, mut p_s, mut l) = (0.0, 0.0, 0.0);
            for &(a, pa) in &policy[s] {
                for t in &env.p[s][a] {
                    let w = pa * t.prob;
                    r += w * t.reward;
                    l += w;
                    if t.terminated {
                        p_s += w * goal(t.next, true);
                    } else {
                        r += w * ret[t.next];
                        p_s += w * succ[t.next];
                        l += w * len[t.next];
                    }
                }
            }
            delta = delta.max((r - ret[s]).abs()).max((p_s - succ[s]).abs());
            r2[s] = r;
            s2[s] = p_s;
            l2[s] = l;
        }
        std::mem::swap(&mut ret, &mut r2);
        std::mem::swap(&mut succ, &mut s2);
        let len_delta = len
            .iter()
            .zip(&l2)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        std::mem::swap(&mut len, &mut l2);
        // Values no longer depend on the steps left: every episode has ended by now.
        if delta == 0.0 && len_delta == 0.0 {
            break;
        }
    }
    let start = |x: &[f64]| -> f64 { env.initial.iter().zip(x).map(|(p, v)| p * v).sum() };
    ExactEval {
        mean_return: start(&ret),
        success_rate: start(&succ),
        mean_steps: start(&len),
        horizon,
    }
}
