//! Transition tables of discrete environments, in Gymnasium's `P` layout, and their compiled
//! form used by the sampling hot loop.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::rl::rng::RlRng;

/// One possible result of taking an action in a state: Gymnasium's
/// `(prob, next_state, reward, terminated)` plus our `success` flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Probability of this outcome.
    pub prob: f64,
    /// State reached.
    pub next_state: usize,
    /// Reward received.
    pub reward: f64,
    /// Whether the episode terminates on this outcome.
    pub terminated: bool,
    /// Whether this outcome counts as reaching the goal (used for success rates; not part of
    /// Gymnasium's `P` and not serialised).
    pub success: bool,
}

/// Complete dynamics of a discrete environment: for every state and action the list of
/// possible outcomes, in the same order as Gymnasium's `env.unwrapped.P[s][a]` (duplicate
/// outcomes, e.g. two slips into the same wall, are kept as separate entries like Gymnasium).
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionTable {
    num_states: usize,
    num_actions: usize,
    /// `offsets[s * num_actions + a] .. offsets[s * num_actions + a + 1]` indexes `entries`.
    offsets: Vec<usize>,
    entries: Vec<Transition>,
}

impl TransitionTable {
    /// Builds a table by calling `outcomes(s, a)` for every state and action in order.
    pub fn build(
        num_states: usize,
        num_actions: usize,
        mut outcomes: impl FnMut(usize, usize) -> Vec<Transition>,
    ) -> Self {
        let mut offsets = Vec::with_capacity(num_states * num_actions + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for s in 0..num_states {
            for a in 0..num_actions {
                entries.extend(outcomes(s, a));
                offsets.push(entries.len());
            }
        }
        TransitionTable {
            num_states,
            num_actions,
            offsets,
            entries,
        }
    }

    /// Number of states.
    pub fn num_states(&self) -> usize {
        self.num_states
    }

    /// Number of actions.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// The outcomes of taking `action` in `state` (panics if either is out of range; both come
    /// from the environment itself, never from user input).
    pub fn outcomes(&self, state: usize, action: usize) -> &[Transition] {
        let i = state * self.num_actions + action;
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Largest deviation of any `(state, action)` probability sum from 1, and whether every
    /// probability is in `[0, 1]` and every next state in range. Used by tests and as a
    /// sanity check of table builders.
    pub fn check(&self) -> TableCheck {
        let mut max_sum_error: f64 = 0.0;
        let mut well_formed = true;
        for s in 0..self.num_states {
            for a in 0..self.num_actions {
                let outs = self.outcomes(s, a);
                well_formed &= !outs.is_empty();
                let sum: f64 = outs.iter().map(|t| t.prob).sum();
                max_sum_error = max_sum_error.max((sum - 1.0).abs());
                for t in outs {
                    well_formed &= (0.0..=1.0).contains(&t.prob)
                        && t.next_state < self.num_states
                        && t.reward.is_finite();
                }
            }
        }
        TableCheck {
            max_sum_error,
            well_formed,
        }
    }

    /// The table as Gymnasium-layout JSON:
    /// `{"0": {"0": [[prob, next_state, reward, terminated], …], …}, …}` with keys in numeric
    /// order. This is what `ammc inspect FILE ENV --transitions` prints.
    pub fn to_gymnasium_json(&self) -> String {
        // Serialising plain numbers, bools and string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Compiles the table into the cumulative-probability form sampled by [`CompiledTable`].
    pub fn compile(&self) -> CompiledTable {
        let mut outcomes = Vec::with_capacity(self.entries.len());
        let mut ranges = Vec::with_capacity(self.num_states * self.num_actions);
        for s in 0..self.num_states {
            for a in 0..self.num_actions {
                let start = outcomes.len() as u32;
                let outs = self.outcomes(s, a);
                let mut cum = 0.0;
                for (k, t) in outs.iter().enumerate() {
                    cum += t.prob;
                    // The last outcome catches everything: Gymnasium's `argmax(cumsum > u)`
                    // would fall back to index 0 if rounding left the total just below u,
                    // a probability-2^-53 artefact we do not reproduce.
                    let cum_here = if k + 1 == outs.len() {
                        f64::INFINITY
                    } else {
                        cum
                    };
                    outcomes.push(CompiledOutcome {
                        cum: cum_here,
                        reward: t.reward,
                        next_state: t.next_state as u32,
                        terminated: t.terminated,
                        success: t.success,
                    });
                }
                ranges.push(OutcomeRange {
                    start,
                    len: outs.len() as u32,
                });
            }
        }
        CompiledTable {
            num_actions: self.num_actions,
            ranges,
            outcomes,
        }
    }
}

/// Result of [`TransitionTable::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableCheck {
    /// Largest `|sum of probabilities - 1|` over all state-action pairs.
    pub max_sum_error: f64,
    /// Every pair has outcomes, every probability is in `[0, 1]`, every next state exists.
    pub well_formed: bool,
}

impl Serialize for TransitionTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut states = serializer.serialize_map(Some(self.num_states))?;
        for s in 0..self.num_states {
            states.serialize_entry(
                &s.to_string(),
                &StateRow {
                    table: self,
                    state: s,
                },
            )?;
        }
        states.end()
    }
}

/// Serialisation helper: the `{action: [...]}` map of one state.
struct StateRow<'a> {
    table: &'a TransitionTable,
    state: usize,
}

impl Serialize for StateRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut actions = serializer.serialize_map(Some(self.table.num_actions))?;
        for a in 0..self.table.num_actions {
            let outs: Vec<GymTuple> = self
                .table
                .outcomes(self.state, a)
                .iter()
                .map(|t| GymTuple(*t))
                .collect();
            actions.serialize_entry(&a.to_string(), &outs)?;
        }
        actions.end()
    }
}

/// Serialisation helper: one `[prob, next_state, reward, terminated]` array.
struct GymTuple(Transition);

impl Serialize for GymTuple {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(4))?;
        seq.serialize_element(&self.0.prob)?;
        seq.serialize_element(&self.0.next_state)?;
        seq.serialize_element(&self.0.reward)?;
        seq.serialize_element(&self.0.terminated)?;
        seq.end()
    }
}

/// One outcome in sampling form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompiledOutcome {
    /// Cumulative probability up to and including this outcome (`+inf` for the last one).
    pub cum: f64,
    /// Reward.
    pub reward: f64,
    /// Next state.
    pub next_state: u32,
    /// Episode ends.
    pub terminated: bool,
    /// Goal reached.
    pub success: bool,
}

/// Where the outcomes of one state-action pair live in [`CompiledTable`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct OutcomeRange {
    start: u32,
    len: u32,
}

/// A transition table laid out for fast sampling: one contiguous outcome array, cumulative
/// probabilities, and no random draw at all for deterministic pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledTable {
    num_actions: usize,
    ranges: Vec<OutcomeRange>,
    outcomes: Vec<CompiledOutcome>,
}

impl CompiledTable {
    /// Samples the outcome of `action` in `state` the way Gymnasium's `categorical_sample`
    /// does (first outcome whose cumulative probability exceeds a uniform draw), except that
    /// single-outcome pairs consume no random number.
    #[inline(always)]
    pub fn sample(&self, state: usize, action: usize, rng: &mut RlRng) -> &CompiledOutcome {
        let range = self.ranges[state * self.num_actions + action];
        let start = range.start as usize;
        let outs = &self.outcomes[start..start + range.len as usize];
        if outs.len() == 1 {
            return &outs[0];
        }
        let u = rng.next_f64();
        // Index of the first outcome with `cum > u` = number of outcomes with `cum <= u`
        // (cumulative sums are non-decreasing; the last one is +inf and never counted).
        // Counting without an early exit avoids a mispredicted branch per step, which
        // profiling showed was the largest single cost of the training loop.
        let mut k = 0;
        for o in &outs[..outs.len() - 1] {
            k += (o.cum <= u) as usize;
        }
        &outs[k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coin() -> TransitionTable {
        TransitionTable::build(2, 1, |s, _| {
            if s == 0 {
                vec![
                    Transition {
                        prob: 0.25,
                        next_state: 0,
                        reward: 0.0,
                        terminated: false,
                        success: false,
                    },
                    Transition {
                        prob: 0.75,
                        next_state: 1,
                        reward: 1.0,
                        terminated: true,
                        success: true,
                    },
                ]
            } else {
                vec![Transition {
                    prob: 1.0,
                    next_state: 1,
                    reward: 0.0,
                    terminated: true,
                    success: false,
                }]
            }
        })
    }

    #[test]
    fn json_layout_matches_gymnasium() {
        let json = coin().to_gymnasium_json();
        assert_eq!(
            json,
            r#"{"0":{"0":[[0.25,0,0.0,false],[0.75,1,1.0,true]]},"1":{"0":[[1.0,1,0.0,true]]}}"#
        );
    }

    #[test]
    fn sampling_frequencies_follow_probabilities() {
        let compiled = coin().compile();
        let mut rng = RlRng::new(5, 0);
        let n = 40_000;
        let hits = (0..n)
            .filter(|_| compiled.sample(0, 0, &mut rng).next_state == 1)
            .count();
        let freq = hits as f64 / n as f64;
        assert!((freq - 0.75).abs() < 0.01, "{freq}");
        assert_eq!(compiled.sample(1, 0, &mut rng).next_state, 1);
    }

    #[test]
    fn check_reports_bad_sums() {
        let good = coin().check();
        assert!(good.well_formed && good.max_sum_error < 1e-12);
        let bad = TransitionTable::build(1, 1, |_, _| {
            vec![Transition {
                prob: 0.5,
                next_state: 0,
                reward: 0.0,
                terminated: false,
                success: false,
            }]
        });
        assert!((bad.check().max_sum_error - 0.5).abs() < 1e-12);
    }
}
