//! Exact planning on transition tables: finite-horizon value iteration. Used to know the best
//! achievable success probability of an environment (e.g. 0.7442 for slippery FrozenLake 4x4
//! within its 100-step limit) and to check learned policies against it.

use crate::rl::env::TransitionTable;

/// Optimal value of every state when at most `horizon` steps remain, where each outcome pays
/// `payoff(transition)` and terminating outcomes end the episode:
/// `V_0 = 0`, `V_{k+1}(s) = max_a Σ p · (payoff + γ · [not terminated] · V_k(s'))`.
pub fn finite_horizon_values(
    table: &TransitionTable,
    horizon: u32,
    gamma: f64,
    payoff: impl Fn(&crate::rl::env::Transition) -> f64,
) -> Vec<f64> {
    let ns = table.num_states();
    let na = table.num_actions();
    let mut v = vec![0.0; ns];
    let mut next = vec![0.0; ns];
    for _ in 0..horizon {
        for (s, slot) in next.iter_mut().enumerate() {
            let mut best = f64::NEG_INFINITY;
            for a in 0..na {
                let q: f64 = table
                    .outcomes(s, a)
                    .iter()
                    .map(|t| {
                        let future = if t.terminated { 0.0 } else { v[t.next_state] };
                        t.prob * (payoff(t) + gamma * future)
                    })
                    .sum();
                best = best.max(q);
            }
            *slot = best;
        }
        std::mem::swap(&mut v, &mut next);
    }
    v
}

/// Highest probability of reaching a success outcome (goal) within `horizon` steps, for every
/// state.
pub fn success_probability(table: &TransitionTable, horizon: u32) -> Vec<f64> {
    finite_horizon_values(table, horizon, 1.0, |t| if t.success { 1.0 } else { 0.0 })
}

/// Optimal expected undiscounted return within `horizon` steps, for every state.
pub fn optimal_return(table: &TransitionTable, horizon: u32) -> Vec<f64> {
    finite_horizon_values(table, horizon, 1.0, |t| t.reward)
}

/// Probability that the fixed `policy` (one action per state) reaches a success outcome within
/// `horizon` steps, for every state. `policy.len()` must equal the number of states and every
/// action must exist (it comes from a Q-table of the same environment).
pub fn policy_success_probability(
    table: &TransitionTable,
    policy: &[usize],
    horizon: u32,
) -> Vec<f64> {
    let ns = table.num_states();
    let mut v = vec![0.0; ns];
    let mut next = vec![0.0; ns];
    for _ in 0..horizon {
        for (s, slot) in next.iter_mut().enumerate() {
            *slot = table
                .outcomes(s, policy[s])
                .iter()
                .map(|t| {
                    let future = if t.terminated { 0.0 } else { v[t.next_state] };
                    t.prob * (if t.success { 1.0 } else { 0.0 } + future)
                })
                .sum();
        }
        std::mem::swap(&mut v, &mut next);
    }
    v
}

/// The greedy policy of a Q-table (lowest action index among ties), one action per row.
pub fn greedy_policy(q: &ndarray::Array2<f64>) -> Vec<usize> {
    q.rows()
        .into_iter()
        .map(|row| crate::rl::agent::policy::greedy_action(&row.to_vec()))
        .collect()
}
