//! The four update rules reach their known fixed points on a one-state MDP: action 0 pays
//! 1 and stays (never terminal; episodes are truncated at 20 steps), action 1 pays −1 and
//! terminates. With γ = ½ and ε-greedy exploration:
//! - Q-learning and double Q: Q[0] = 1 + γ·Q[0] = 2, Q[1] = −1;
//! - expected SARSA (and SARSA, in expectation): Q[0] = 1 + γ·(ε/2·(Q[0] + Q[1]) + (1 − ε)·Q[0]).
//!
//! Truncation must bootstrap: treating the 20-step cut as terminal would pull Q[0] lower.

use ammc::rl::agent::{AgentConfig, Algorithm, Budget, Epsilon, learn};
use ammc::rl::episodic::{Episodic, Step};
use ammc::rl::rng::Rng;

struct OneState;

impl Episodic for OneState {
    fn n_states(&self) -> usize {
        1
    }
    fn n_actions(&self) -> usize {
        2
    }
    fn max_steps(&self) -> Option<u32> {
        Some(20)
    }
    fn reset(&mut self, _rng: &mut Rng) -> u32 {
        0
    }
    fn step(&mut self, _s: u32, a: u32, _rng: &mut Rng) -> Step {
        if a == 0 {
            Step {
                next: 0,
                reward: 1.0,
                terminated: false,
            }
        } else {
            Step {
                next: 0,
                reward: -1.0,
                terminated: true,
            }
        }
    }
    fn success(&self, _last: &Step, truncated: bool) -> bool {
        truncated
    }
}

fn q(algorithm: Algorithm, alpha: f64, eps: f64, steps: u64) -> Vec<f64> {
    let mut cfg = AgentConfig::new(algorithm);
    cfg.alpha = alpha;
    cfg.gamma = 0.5;
    cfg.epsilon = Epsilon::Constant(eps);
    cfg.budget = Budget::Steps(steps);
    let mut rng = Rng::seed_from_u64(11);
    learn(&mut OneState, &cfg, &mut rng, &mut |_| {}).q
}

#[test]
fn q_learning_and_double_q_reach_the_optimal_values() {
    for alg in [Algorithm::QLearning, Algorithm::DoubleQ] {
        let v = q(alg, 0.2, 0.3, 50_000);
        assert!((v[0] - 2.0).abs() < 1e-9, "{alg:?}: {v:?}");
        assert!((v[1] + 1.0).abs() < 1e-9, "{alg:?}: {v:?}");
    }
}

#[test]
fn expected_sarsa_reaches_the_on_policy_values() {
    let eps = 0.2;
    // Q0 = 1 + γ(ε/2·(Q0 − 1) + (1 − ε)·Q0)  ⇒  Q0 = (1 − γε/2) / (1 − γ(1 − ε/2)).
    let want = (1.0 - 0.5 * eps / 2.0) / (1.0 - 0.5 * (1.0 - eps / 2.0));
    let v = q(Algorithm::ExpectedSarsa, 0.2, eps, 50_000);
    assert!((v[0] - want).abs() < 1e-9, "{v:?} vs {want}");
    assert!((v[1] + 1.0).abs() < 1e-9);
    // SARSA samples the same expectation: close with a small step size.
    let v = q(Algorithm::Sarsa, 0.005, eps, 400_000);
    assert!((v[0] - want).abs() < 0.05, "{v:?} vs {want}");
}

#[test]
fn records_count_truncation_and_termination() {
    let mut cfg = AgentConfig::new(Algorithm::QLearning);
    cfg.epsilon = Epsilon::Constant(0.0);
    cfg.budget = Budget::Episodes(30);
    let mut rng = Rng::seed_from_u64(0);
    let l = learn(&mut OneState, &cfg, &mut rng, &mut |_| {});
    // Greedy from zeros: once action 0 has value > 0 it keeps being chosen and every
    // episode runs to the 20-step limit.
    let last = l.records.last().unwrap();
    assert_eq!((last.steps, last.ret, last.success), (20, 20.0, true));
    assert_eq!(l.records.len(), 30);
    assert_eq!(
        l.steps,
        l.records.iter().map(|r| r.steps as u64).sum::<u64>()
    );
}
