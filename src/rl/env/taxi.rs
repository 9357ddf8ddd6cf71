//! Taxi-v3/v4 (Gymnasium `toy_text/taxi.py`, default "dry" dynamics), reproduced transition
//! by transition: 5x5 grid, 500 states encoded as `((row * 5 + col) * 5 + pass_loc) * 4 +
//! dest`, 6 actions (0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff), rewards -1 per
//! step, +20 for a correct dropoff (terminates), -10 for an illegal pickup or dropoff.
//! Initial states: uniform over the 300 states with the passenger waiting at one of the four
//! pads (`pass_loc < 4`) different from the destination.

use crate::rl::env::table::{Transition, TransitionTable};
use crate::rl::env::tabular::TabularModel;
use crate::rl::error::RlError;

/// Gymnasium's taxi map; `:` is an open passage, `|` a wall between cells.
const MAP: [&str; 7] = [
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
];

/// Pad coordinates R, G, Y, B.
const LOCS: [(usize, usize); 4] = [(0, 0), (0, 4), (4, 0), (4, 3)];
/// Number of states.
pub const NUM_STATES: usize = 500;
/// Number of actions.
pub const NUM_ACTIONS: usize = 6;
const MAX_ROW: usize = 4;
const MAX_COL: usize = 4;

/// Configuration of `taxi(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxiConfig {
    /// Episode step limit; default 200 (Taxi-v4's `max_episode_steps`).
    pub max_steps: Option<u32>,
}

impl Default for TaxiConfig {
    fn default() -> Self {
        TaxiConfig {
            max_steps: Some(200),
        }
    }
}

/// Gymnasium's `encode(taxi_row, taxi_col, pass_loc, dest_idx)`.
pub fn encode(row: usize, col: usize, pass_loc: usize, dest: usize) -> usize {
    ((row * 5 + col) * 5 + pass_loc) * 4 + dest
}

/// Gymnasium's `decode(state)` → `(taxi_row, taxi_col, pass_loc, dest_idx)`.
pub fn decode(state: usize) -> (usize, usize, usize, usize) {
    (state / 100, (state / 20) % 5, (state / 4) % 5, state % 4)
}

/// Character of the map drawing at `(line, column)`.
fn desc(line: usize, column: usize) -> u8 {
    MAP[line].as_bytes()[column]
}

/// Gymnasium's `_build_dry_transitions` for one state and action.
fn dry_transition(
    row: usize,
    col: usize,
    pass_idx: usize,
    dest: usize,
    action: usize,
) -> Transition {
    let taxi_loc = (row, col);
    let (mut new_row, mut new_col, mut new_pass) = (row, col, pass_idx);
    let mut reward = -1.0;
    let mut terminated = false;
    match action {
        0 => new_row = (row + 1).min(MAX_ROW),
        1 => new_row = row.saturating_sub(1),
        2 if desc(1 + row, 2 * col + 2) == b':' => new_col = (col + 1).min(MAX_COL),
        3 if desc(1 + row, 2 * col) == b':' => new_col = col.saturating_sub(1),
        4 => {
            if pass_idx < 4 && taxi_loc == LOCS[pass_idx] {
                new_pass = 4;
            } else {
                reward = -10.0;
            }
        }
        5 => {
            if taxi_loc == LOCS[dest] && pass_idx == 4 {
                new_pass = dest;
                terminated = true;
                reward = 20.0;
            } else if let (Some(pad), 4) = (LOCS.iter().position(|&l| l == taxi_loc), pass_idx) {
                new_pass = pad;
            } else {
                reward = -10.0;
            }
        }
        _ => {} // east/west into a wall: stay, -1
    }
    Transition {
        prob: 1.0,
        next_state: encode(new_row, new_col, new_pass, dest),
        reward,
        terminated,
        success: terminated,
    }
}

/// Builds the Taxi model for `config`.
pub fn build(config: &TaxiConfig) -> Result<TabularModel, RlError> {
    if config.max_steps == Some(0) {
        return Err(RlError::bad_argument("max_steps", 0, "at least 1"));
    }
    let table = TransitionTable::build(NUM_STATES, NUM_ACTIONS, |s, a| {
        let (row, col, pass_idx, dest) = decode(s);
        vec![dry_transition(row, col, pass_idx, dest, a)]
    });
    let start_states = (0..NUM_STATES)
        .filter(|&s| {
            let (_, _, pass_idx, dest) = decode(s);
            pass_idx < 4 && pass_idx != dest
        })
        .collect();
    Ok(TabularModel {
        name: "taxi",
        table,
        start_states,
        time_limit: config.max_steps,
        layout: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for s in 0..NUM_STATES {
            let (r, c, p, d) = decode(s);
            assert_eq!(encode(r, c, p, d), s);
        }
    }

    #[test]
    fn rewards_and_walls() {
        let m = build(&TaxiConfig::default()).unwrap();
        assert_eq!(m.start_states.len(), 300);
        // Pick up at R (0,0) with passenger at R, destination G.
        let s = encode(0, 0, 0, 1);
        let t = m.table.outcomes(s, 4)[0];
        assert_eq!((t.next_state, t.reward), (encode(0, 0, 4, 1), -1.0));
        // Illegal pickup.
        assert_eq!(m.table.outcomes(encode(1, 1, 0, 1), 4)[0].reward, -10.0);
        // Wall east of (0,1).
        assert_eq!(
            m.table.outcomes(encode(0, 1, 0, 1), 2)[0].next_state,
            encode(0, 1, 0, 1)
        );
        // Correct dropoff at G.
        let d = m.table.outcomes(encode(0, 4, 4, 1), 5)[0];
        assert_eq!(
            (d.next_state, d.reward, d.terminated),
            (encode(0, 4, 1, 1), 20.0, true)
        );
        // Dropoff at another pad (Y) leaves the passenger there, -1.
        let y = m.table.outcomes(encode(4, 0, 4, 1), 5)[0];
        assert_eq!(
            (y.next_state, y.reward, y.terminated),
            (encode(4, 0, 2, 1), -1.0, false)
        );
    }
}
