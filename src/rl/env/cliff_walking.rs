//! CliffWalking-v1 (Gymnasium `toy_text/cliffwalking.py`), reproduced transition by
//! transition.
//!
//! In Gymnasium 1.x stepping into the cliff does **not** terminate the episode: it gives
//! -100 and puts the agent back on the start cell (`terminated = False`); only reaching the
//! goal terminates. CliffWalking-v1 is registered without a `max_episode_steps`, so by
//! default episodes are unlimited here as well.

use crate::rl::env::map::{Cell, GridLayout, GridMap};
use crate::rl::env::table::{Transition, TransitionTable};
use crate::rl::env::tabular::TabularModel;
use crate::rl::error::RlError;

const ROWS: usize = 4;
const COLS: usize = 12;
/// Start cell `(3, 0)`.
pub const START_STATE: usize = 3 * COLS;
/// Goal cell `(3, 11)`.
pub const GOAL_STATE: usize = 3 * COLS + COLS - 1;

/// Row/column deltas of actions 0 = up, 1 = right, 2 = down, 3 = left (Gymnasium's order).
const DELTAS: [(i64, i64); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];

/// Configuration of `cliff_walking(...)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CliffWalkingConfig {
    /// CliffWalkingSlippery-v1: the intended move or either perpendicular one, 1/3 each.
    /// Default `false`.
    pub slippery: bool,
    /// Episode step limit; default `None` (unlimited, as registered in Gymnasium).
    pub max_steps: Option<u32>,
}

fn is_cliff(r: usize, c: usize) -> bool {
    r == ROWS - 1 && (1..COLS - 1).contains(&c)
}

/// Builds the CliffWalking model for `config`.
pub fn build(config: &CliffWalkingConfig) -> Result<TabularModel, RlError> {
    if config.max_steps == Some(0) {
        return Err(RlError::bad_argument("max_steps", 0, "at least 1"));
    }
    let table = TransitionTable::build(ROWS * COLS, 4, |s, a| {
        let (row, col) = ((s / COLS) as i64, (s % COLS) as i64);
        let moves: Vec<usize> = if config.slippery {
            vec![(a + 3) % 4, a, (a + 1) % 4]
        } else {
            vec![a]
        };
        let prob = 1.0 / moves.len() as f64;
        moves
            .into_iter()
            .map(|m| {
                let (dr, dc) = DELTAS[m];
                let r = (row + dr).clamp(0, ROWS as i64 - 1) as usize;
                let c = (col + dc).clamp(0, COLS as i64 - 1) as usize;
                if is_cliff(r, c) {
                    Transition {
                        prob,
                        next_state: START_STATE,
                        reward: -100.0,
                        terminated: false,
                        success: false,
                    }
                } else {
                    let next = r * COLS + c;
                    Transition {
                        prob,
                        next_state: next,
                        reward: -1.0,
                        terminated: next == GOAL_STATE,
                        success: next == GOAL_STATE,
                    }
                }
            })
            .collect()
    });
    let cells = (0..ROWS * COLS)
        .map(|s| match s {
            START_STATE => Cell::Start,
            GOAL_STATE => Cell::Goal,
            _ if is_cliff(s / COLS, s % COLS) => Cell::Cliff,
            _ => Cell::Floor,
        })
        .collect();
    Ok(TabularModel {
        name: "cliff_walking",
        table,
        start_states: vec![START_STATE],
        time_limit: config.max_steps,
        layout: Some(GridLayout {
            map: GridMap {
                rows: ROWS,
                cols: COLS,
                cells,
            },
            arrows: vec!['↑', '→', '↓', '←'],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cliff_returns_to_start_without_terminating() {
        let m = build(&CliffWalkingConfig::default()).unwrap();
        let t = m.table.outcomes(START_STATE, 1)[0];
        assert_eq!(
            (t.next_state, t.reward, t.terminated),
            (START_STATE, -100.0, false)
        );
        let up = m.table.outcomes(START_STATE, 0)[0];
        assert_eq!((up.next_state, up.reward, up.terminated), (24, -1.0, false));
        let goal = m.table.outcomes(GOAL_STATE - COLS, 2)[0];
        assert_eq!(
            (goal.next_state, goal.terminated, goal.success),
            (GOAL_STATE, true, true)
        );
        assert_eq!(m.time_limit, None);
    }

    #[test]
    fn slippery_has_three_outcomes() {
        let m = build(&CliffWalkingConfig {
            slippery: true,
            max_steps: None,
        })
        .unwrap();
        assert_eq!(m.table.outcomes(0, 0).len(), 3);
        assert!(m.table.check().max_sum_error < 1e-12);
    }
}
