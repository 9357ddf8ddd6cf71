//! A discrete environment defined entirely by its transition table (frozen_lake,
//! cliff_walking, taxi, grid), and the stepping state used by the training loop.

use crate::rl::env::map::GridLayout;
use crate::rl::env::table::{CompiledTable, TransitionTable};
use crate::rl::env::{StepEnv, StepResult};
use crate::rl::rng::RlRng;

/// Everything that defines a table-driven environment.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularModel {
    /// Environment kind name (`frozen_lake`, …), for messages.
    pub name: &'static str,
    /// Full dynamics.
    pub table: TransitionTable,
    /// Initial-state distribution: uniform over these states (every Gymnasium toy-text
    /// environment we mirror starts uniformly over a set of states).
    pub start_states: Vec<usize>,
    /// Episode step limit (Gymnasium's `TimeLimit`); `None` = unlimited.
    pub time_limit: Option<u32>,
    /// Map and action arrows, for environments that are drawn on a grid.
    pub layout: Option<GridLayout>,
}

/// A [`TabularModel`] being stepped: compiled table plus the current state.
#[derive(Debug, Clone)]
pub struct TabularEnv {
    compiled: CompiledTable,
    num_states: usize,
    num_actions: usize,
    start_states: Vec<usize>,
    time_limit: Option<u32>,
    state: usize,
}

impl TabularEnv {
    /// Prepares `model` for stepping.
    pub fn new(model: &TabularModel) -> Self {
        TabularEnv {
            compiled: model.table.compile(),
            num_states: model.table.num_states(),
            num_actions: model.table.num_actions(),
            start_states: model.start_states.clone(),
            time_limit: model.time_limit,
            state: model.start_states.first().copied().unwrap_or(0),
        }
    }

    /// The current state.
    pub fn state(&self) -> usize {
        self.state
    }
}

impl StepEnv for TabularEnv {
    fn num_states(&self) -> usize {
        self.num_states
    }

    fn num_actions(&self) -> usize {
        self.num_actions
    }

    #[inline]
    fn reset(&mut self, rng: &mut RlRng) -> usize {
        self.state = if self.start_states.len() == 1 {
            self.start_states[0]
        } else {
            self.start_states[rng.below(self.start_states.len())]
        };
        self.state
    }

    #[inline(always)]
    fn step(&mut self, action: usize, rng: &mut RlRng) -> StepResult {
        let out = self.compiled.sample(self.state, action, rng);
        self.state = out.next_state as usize;
        StepResult {
            state: self.state,
            reward: out.reward,
            terminated: out.terminated,
            success: out.success,
        }
    }

    fn time_limit(&self) -> Option<u32> {
        self.time_limit
    }

    fn truncation_is_success(&self) -> bool {
        false
    }
}
