//! A transition table laid out for sampling: every (state, action) owns `stride`
//! consecutive outcome slots (stride = the most outcomes any pair has: 3 on a slippery
//! lake, 1 for taxi), holding cumulative probabilities. A step is one index computation,
//! one uniform draw and a scan of at most `stride` slots; no allocation happens after
//! construction. A table where every pair has one outcome draws no random number at all.

use super::TabularEnv;
use crate::rl::rng::Rng;

/// One outcome with its cumulative probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// P(outcome index ≤ this one); the last outcome of a pair holds +∞, so rounding can
    /// never leave a draw without an outcome.
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
    stride: usize,
    /// `outcomes[(s * n_actions + a) * stride ..][..stride]`; unused slots repeat the last
    /// outcome (never reached: its cumulative probability is +∞).
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
        let stride = env
            .p
            .iter()
            .flat_map(|actions| actions.iter().map(Vec::len))
            .max()
            .unwrap_or(1)
            .max(1);
        let mut outcomes = Vec::with_capacity(env.n_states * env.n_actions * stride);
        for actions in &env.p {
            for list in actions {
                let first = outcomes.len();
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
                let nonempty = outcomes.len() > first;
                let last = match outcomes.last_mut() {
                    Some(o) if nonempty => {
                        o.cum = f64::INFINITY;
                        *o
                    }
                    // An empty list cannot come out of the builders; stay put if it did.
                    _ => Outcome {
                        cum: f64::INFINITY,
                        reward: 0.0,
                        next: (first / (env.n_actions.max(1) * stride)) as u32,
                        terminated: false,
                    },
                };
                outcomes.resize(first + stride, last);
            }
        }
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
            stride,
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

    /// Samples the outcome of `action` in `state`.
    #[inline(always)]
    pub fn step(&self, state: u32, action: u32, rng: &mut Rng) -> Outcome {
        let k = (state as usize * self.n_actions + action as usize) * self.stride;
        if self.stride == 1 {
            return self.outcomes[k];
        }
        let run = &self.outcomes[k..k + self.stride];
        let u = rng.unit();
        for o in run {
            if u < o.cum {
                return *o;
            }
        }
        run[run.len() - 1]
    }
}
