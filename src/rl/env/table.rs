//! A transition table laid out for sampling: per (state, action) a contiguous run of
//! outcomes with cumulative probabilities, so a step is one uniform draw and a short scan
//! (one to four outcomes here). No allocation happens after construction.

use super::TabularEnv;
use crate::rl::rng::Rng;

/// One outcome with its cumulative probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// P(outcome index ≤ this one).
    pub cum: f64,
    /// Reward.
    pub reward: f64,
    /// Next state.
    pub next: u32,
    /// Terminal.
    pub terminated: bool,
}

/// The cumulative form of a [`TabularEnv`]'s table.
#[derive(Clone, Debug)]
pub struct CompiledTable {
    n_actions: usize,
    /// `start[s * n_actions + a] .. start[s * n_actions + a + 1]` indexes `outcomes`.
    start: Vec<u32>,
    outcomes: Vec<Outcome>,
    /// Cumulative initial-state distribution over `initial_states`.
    initial_cum: Vec<f64>,
    initial_states: Vec<u32>,
}

impl CompiledTable {
    /// Builds the cumulative table. Outcomes keep Gymnasium's order, so sampling picks the
    /// first outcome whose cumulative probability exceeds the draw, exactly like
    /// Gymnasium's `categorical_sample`.
    pub fn new(env: &TabularEnv) -> CompiledTable {
        let mut start = Vec::with_capacity(env.n_states * env.n_actions + 1);
        let mut outcomes = Vec::new();
        for actions in &env.p {
            for list in actions {
                start.push(outcomes.len() as u32);
                let mut cum = 0.0;
                for t in list {
                    cum += t.prob;
                    outcomes.push(Outcome {
                        cum,
                        reward: t.reward,
                        next: t.next as u32,
                        terminated: t.terminated,
                    });
                }
                // Rounding must never leave a draw without an outcome.
                if let Some(last) = outcomes.last_mut() {
                    last.cum = f64::INFINITY;
                }
            }
        }
        start.push(outcomes.len() as u32);
        let mut initial_cum = Vec::new();
        let mut initial_states = Vec::new();
        let mut cum = 0.0;
        for (s, &p) in env.initial.iter().enumerate() {
            if p > 0.0 {
                cum += p;
                initial_cum.push(cum);
                initial_states.push(s as u32);
            }
        }
        if let Some(last) = initial_cum.last_mut() {
            *last = f64::INFINITY;
        }
        CompiledTable {
            n_actions: env.n_actions,
            start,
            outcomes,
            initial_cum,
            initial_states,
        }
    }

    /// Draws a start state.
    #[inline]
    pub fn reset(&self, rng: &mut Rng) -> u32 {
        if self.initial_states.len() == 1 {
            return self.initial_states[0];
        }
        let u = rng.unit();
        let i = self
            .initial_cum
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.initial_states.len() - 1);
        self.initial_states[i]
    }

    /// Samples the outcome of `action` in `state`. A deterministic transition draws no
    /// random number.
    #[inline(always)]
    pub fn step(&self, state: u32, action: u32, rng: &mut Rng) -> Outcome {
        let k = state as usize * self.n_actions + action as usize;
        let (lo, hi) = (self.start[k] as usize, self.start[k + 1] as usize);
        let run = &self.outcomes[lo..hi];
        if run.len() == 1 {
            return run[0];
        }
        let u = rng.unit();
        for o in run {
            if u < o.cum {
                return *o;
            }
        }
        run[run.len() - 1]
    }
}
