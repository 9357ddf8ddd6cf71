//! FrozenLake-v1 (Gymnasium `toy_text/frozen_lake.py`), reproduced transition by transition.

use crate::rl::env::map::{Cell, GridLayout, GridMap};
use crate::rl::env::table::{Transition, TransitionTable};
use crate::rl::env::tabular::TabularModel;
use crate::rl::error::{RlError, check_probability};

/// Gymnasium's `MAPS["4x4"]`.
pub const MAP_4X4: [&str; 4] = ["SFFF", "FHFH", "FFFH", "HFFG"];

/// Gymnasium's `MAPS["8x8"]`.
pub const MAP_8X8: [&str; 8] = [
    "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG",
];

/// Cell letters of frozen_lake maps (Gymnasium's: Start, Frozen, Hole, Goal).
const ALPHABET: &[(char, Cell)] = &[
    ('S', Cell::Start),
    ('F', Cell::Floor),
    ('H', Cell::Hole),
    ('G', Cell::Goal),
];

/// Action indices, as in Gymnasium.
const LEFT: usize = 0;
const DOWN: usize = 1;
const RIGHT: usize = 2;
// UP = 3 is the remaining case.

/// Configuration of `frozen_lake(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenLakeConfig {
    /// `"4x4"`, `"8x8"` (Gymnasium's built-in maps) or a map drawing using `S F H G`
    /// (one row per line, whitespace ignored). Default `"4x4"`.
    pub map: String,
    /// Slippery ice: the agent moves in the intended direction with probability
    /// `success_rate` and in each perpendicular direction with `(1 - success_rate) / 2`.
    /// Default `true`.
    pub slippery: bool,
    /// Gymnasium's `success_rate` (only used when slippery). Default `1/3`.
    pub success_rate: f64,
    /// Episode step limit. Default: 100 for `"4x4"` and custom maps, 200 for `"8x8"` (the
    /// `max_episode_steps` of FrozenLake-v1 / FrozenLake8x8-v1).
    pub max_steps: Option<u32>,
}

impl Default for FrozenLakeConfig {
    fn default() -> Self {
        FrozenLakeConfig {
            map: "4x4".to_string(),
            slippery: true,
            success_rate: 1.0 / 3.0,
            max_steps: None,
        }
    }
}

/// Resolves `map` to a drawing and the default time limit.
fn resolve_map(map: &str) -> Result<(String, u32), RlError> {
    let trimmed = map.trim();
    match trimmed {
        "4x4" => return Ok((MAP_4X4.join("\n"), 100)),
        "8x8" => return Ok((MAP_8X8.join("\n"), 200)),
        _ => {}
    }
    // A single word that is not made of map letters is a (mistyped) map name.
    let looks_like_name = !trimmed.contains(char::is_whitespace)
        && !trimmed
            .chars()
            .all(|c| ALPHABET.iter().any(|(a, _)| *a == c));
    if looks_like_name {
        return Err(RlError::UnknownMap {
            name: trimmed.to_string(),
            known: "\"4x4\", \"8x8\"".to_string(),
        });
    }
    Ok((map.to_string(), 100))
}

/// Builds the FrozenLake model for `config`.
pub fn build(config: &FrozenLakeConfig) -> Result<TabularModel, RlError> {
    check_probability("success_rate", config.success_rate)?;
    if config.max_steps == Some(0) {
        return Err(RlError::bad_argument("max_steps", 0, "at least 1"));
    }
    let (drawing, default_limit) = resolve_map(&config.map)?;
    let map = GridMap::parse(&drawing, ALPHABET)?;
    let (nrow, ncol) = (map.rows, map.cols);
    let success_rate = config.success_rate;
    let fail_rate = (1.0 - success_rate) / 2.0;

    let inc = |row: usize, col: usize, a: usize| -> (usize, usize) {
        match a {
            LEFT => (row, col.saturating_sub(1)),
            DOWN => ((row + 1).min(nrow - 1), col),
            RIGHT => (row, (col + 1).min(ncol - 1)),
            _ => (row.saturating_sub(1), col), // UP
        }
    };
    // Gymnasium's update_probability_matrix with reward_schedule (1, 0, 0).
    let outcome = |prob: f64, row: usize, col: usize, a: usize| -> Transition {
        let (r, c) = inc(row, col, a);
        let cell = map.at(r, c);
        Transition {
            prob,
            next_state: r * ncol + c,
            reward: if cell == Cell::Goal { 1.0 } else { 0.0 },
            terminated: matches!(cell, Cell::Goal | Cell::Hole),
            success: cell == Cell::Goal,
        }
    };

    let table = TransitionTable::build(nrow * ncol, 4, |s, a| {
        let (row, col) = (s / ncol, s % ncol);
        match map.at(row, col) {
            Cell::Goal | Cell::Hole => vec![Transition {
                prob: 1.0,
                next_state: s,
                reward: 0.0,
                terminated: true,
                success: false,
            }],
            _ if config.slippery => [(a + 3) % 4, a, (a + 1) % 4]
                .into_iter()
                .map(|b| {
                    let p = if b == a { success_rate } else { fail_rate };
                    outcome(p, row, col, b)
                })
                .collect(),
            _ => vec![outcome(1.0, row, col, a)],
        }
    });
    Ok(TabularModel {
        name: "frozen_lake",
        table,
        start_states: map.indices_of(Cell::Start),
        time_limit: Some(config.max_steps.unwrap_or(default_limit)),
        layout: Some(GridLayout {
            map,
            arrows: vec!['←', '↓', '→', '↑'],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slippery_4x4_matches_gymnasium_entries() {
        let m = build(&FrozenLakeConfig::default()).unwrap();
        assert_eq!(m.table.num_states(), 16);
        assert_eq!(m.time_limit, Some(100));
        assert_eq!(m.start_states, vec![0]);
        // P[0][0] in Gymnasium: [(1/3, 0, 0, F), (1/3, 0, 0, F), (1/3, 4, 0, F)]
        let p00: Vec<(usize, bool)> = m
            .table
            .outcomes(0, 0)
            .iter()
            .map(|t| (t.next_state, t.terminated))
            .collect();
        assert_eq!(p00, vec![(0, false), (0, false), (4, false)]);
        // P[14][2] reaches the goal in the middle (intended) outcome.
        let g = m.table.outcomes(14, 2)[1];
        assert_eq!(
            (g.next_state, g.reward, g.terminated, g.success),
            (15, 1.0, true, true)
        );
        // Holes are absorbing.
        assert_eq!(m.table.outcomes(5, 1).len(), 1);
        assert!(m.table.check().max_sum_error < 1e-12);
    }

    #[test]
    fn eight_by_eight_and_custom() {
        let m = build(&FrozenLakeConfig {
            map: "8x8".into(),
            slippery: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((m.table.num_states(), m.time_limit), (64, Some(200)));
        assert_eq!(m.table.outcomes(0, 2)[0].next_state, 1);
        let c = build(&FrozenLakeConfig {
            map: "\n  S F\n  H G\n".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((c.table.num_states(), c.time_limit), (4, Some(100)));
    }

    #[test]
    fn bad_configs() {
        let err = |map: &str| {
            build(&FrozenLakeConfig {
                map: map.into(),
                ..Default::default()
            })
            .unwrap_err()
        };
        assert!(matches!(err("5x5"), RlError::UnknownMap { .. }));
        assert_eq!(err("SFF\nFFF"), RlError::MissingGoal);
        assert_eq!(err("FFG"), RlError::MissingStart);
        assert!(matches!(err("SF\nFFG"), RlError::RaggedMap { .. }));
        assert!(matches!(
            err("S.G\nFFF"),
            RlError::BadMapChar { ch: '.', .. }
        ));
        let bad_p = build(&FrozenLakeConfig {
            success_rate: 1.5,
            ..Default::default()
        });
        assert!(matches!(bad_p, Err(RlError::BadProbability { .. })));
    }
}
