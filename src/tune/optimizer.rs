//! A stateful ask/tell front end over a [`Strategy`], for callers that drive evaluations
//! themselves (the [`crate::tune::study::Study`] runner uses strategies directly).

use super::error::TuneError;
use super::space::SearchSpace;
use super::strategy::{AskContext, Direction, Observation, Outcome, Strategy, StrategyConfig};
use super::value::TrialParams;

/// One suggested configuration and the slot to tell its result under.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Slot number.
    pub slot: usize,
    /// Configuration to evaluate.
    pub params: TrialParams,
}

/// Ask/tell optimiser: `ask(n)` returns the next `n` suggestions (fewer at the end of the
/// budget), `tell(slot, outcome)` records a result. Suggestions asked while others are
/// still pending account for them (constant liar in `bayes`).
pub struct Optimizer {
    space: SearchSpace,
    strategy: Box<dyn Strategy>,
    direction: Direction,
    seed: u64,
    next_slot: usize,
    history: Vec<Observation>,
    pending: Vec<Suggestion>,
}

impl Optimizer {
    /// Validates `strategy` for `space` and builds the optimiser.
    pub fn new(
        space: SearchSpace,
        strategy: &StrategyConfig,
        direction: Direction,
        seed: u64,
    ) -> Result<Self, TuneError> {
        let strategy = strategy.build(&space)?;
        Ok(Optimizer {
            space,
            strategy,
            direction,
            seed,
            next_slot: 0,
            history: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// Trials not asked yet.
    pub fn remaining(&self) -> usize {
        self.strategy.budget().saturating_sub(self.next_slot)
    }

    /// The next up-to-`n` suggestions.
    pub fn ask(&mut self, n: usize) -> Vec<Suggestion> {
        let count = n.min(self.remaining());
        if count == 0 {
            return Vec::new();
        }
        let pending: Vec<TrialParams> = self.pending.iter().map(|s| s.params.clone()).collect();
        let ctx = AskContext {
            space: &self.space,
            direction: self.direction,
            seed: self.seed,
            first_slot: self.next_slot,
            count,
            history: &self.history,
            pending: &pending,
        };
        let params = self.strategy.ask(&ctx);
        let out: Vec<Suggestion> = params
            .into_iter()
            .enumerate()
            .map(|(i, params)| Suggestion {
                slot: self.next_slot + i,
                params,
            })
            .collect();
        self.next_slot += count;
        self.pending.extend(out.iter().cloned());
        out
    }

    /// Records the result of a pending slot.
    pub fn tell(&mut self, slot: usize, outcome: Outcome) -> Result<(), TuneError> {
        let i = self
            .pending
            .iter()
            .position(|s| s.slot == slot)
            .ok_or(TuneError::UnknownSlot { slot })?;
        let s = self.pending.remove(i);
        let at = self.history.partition_point(|o| o.slot < slot);
        self.history.insert(
            at,
            Observation {
                slot,
                params: s.params,
                outcome,
            },
        );
        Ok(())
    }

    /// Told observations in slot order.
    pub fn history(&self) -> &[Observation] {
        &self.history
    }

    /// Best completed observation (earliest slot on ties).
    pub fn best(&self) -> Option<&Observation> {
        let mut best: Option<&Observation> = None;
        for o in &self.history {
            if let Outcome::Complete(v) = o.outcome {
                let better = match best.map(|b| b.outcome) {
                    Some(Outcome::Complete(bv)) => self.direction.better(v, bv),
                    _ => true,
                };
                if better {
                    best = Some(o);
                }
            }
        }
        best
    }
}
