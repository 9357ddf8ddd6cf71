//! `grid`: a user-drawn grid world. Same action convention as frozen_lake (0 ←, 1 ↓, 2 →,
//! 3 ↑), plus walls, configurable rewards and slip.

use crate::rl::env::map::{Cell, GridLayout, GridMap};
use crate::rl::env::table::{Transition, TransitionTable};
use crate::rl::env::tabular::TabularModel;
use crate::rl::error::{RlError, check_finite, check_probability};

/// Cell characters of grid maps. `F` is accepted as floor so frozen_lake drawings work too.
const ALPHABET: &[(char, Cell)] = &[
    ('S', Cell::Start),
    ('.', Cell::Floor),
    ('F', Cell::Floor),
    ('#', Cell::Wall),
    ('H', Cell::Hole),
    ('G', Cell::Goal),
];

/// Configuration of `grid(map = """…""", ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GridConfig {
    /// The map drawing: `S` start, `G` goal, `#` wall, `H` hole, `.` floor; one row per
    /// line; whitespace (indentation, spaces between cells) and blank lines are ignored.
    pub map: String,
    /// Reward for every move that does not enter a goal or a hole. Default `0.0`.
    pub step_reward: f64,
    /// Reward for entering a goal cell (ends the episode, counts as success). Default `1.0`.
    pub goal_reward: f64,
    /// Reward for entering a hole (ends the episode). Default `0.0`.
    pub hole_reward: f64,
    /// Probability mass moved from the intended move to the two perpendicular moves
    /// (`slip / 2` each). Default `0.0` (deterministic).
    pub slip: f64,
    /// Episode step limit. Default `None`, meaning `max(100, 4 * rows * cols)`.
    pub max_steps: Option<u32>,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            map: String::new(),
            step_reward: 0.0,
            goal_reward: 1.0,
            hole_reward: 0.0,
            slip: 0.0,
            max_steps: None,
        }
    }
}

/// Builds the grid model for `config`.
pub fn build(config: &GridConfig) -> Result<TabularModel, RlError> {
    check_finite("step_reward", config.step_reward)?;
    check_finite("goal_reward", config.goal_reward)?;
    check_finite("hole_reward", config.hole_reward)?;
    check_probability("slip", config.slip)?;
    if config.max_steps == Some(0) {
        return Err(RlError::bad_argument("max_steps", 0, "at least 1"));
    }
    let map = GridMap::parse(&config.map, ALPHABET)?;
    let (nrow, ncol) = (map.rows, map.cols);
    let blocked = |r: usize, c: usize| map.at(r, c) == Cell::Wall;
    let target = |row: usize, col: usize, a: usize| -> (usize, usize) {
        let (r, c) = match a {
            0 => (row, col.wrapping_sub(1)),
            1 => (row + 1, col),
            2 => (row, col + 1),
            _ => (row.wrapping_sub(1), col),
        };
        if r >= nrow || c >= ncol || blocked(r, c) {
            (row, col)
        } else {
            (r, c)
        }
    };
    let outcome = |prob: f64, row: usize, col: usize, a: usize| -> Transition {
        let (r, c) = target(row, col, a);
        let cell = map.at(r, c);
        Transition {
            prob,
            next_state: r * ncol + c,
            reward: match cell {
                Cell::Goal => config.goal_reward,
                Cell::Hole => config.hole_reward,
                _ => config.step_reward,
            },
            terminated: matches!(cell, Cell::Goal | Cell::Hole),
            success: cell == Cell::Goal,
        }
    };
    let slip = config.slip;
    let table = TransitionTable::build(nrow * ncol, 4, |s, a| {
        let (row, col) = (s / ncol, s % ncol);
        match map.at(row, col) {
            // Terminal and unreachable cells are absorbing, like Gymnasium's holes/goals.
            Cell::Goal | Cell::Hole | Cell::Wall => vec![Transition {
                prob: 1.0,
                next_state: s,
                reward: 0.0,
                terminated: true,
                success: false,
            }],
            _ => [
                ((a + 3) % 4, slip / 2.0),
                (a, 1.0 - slip),
                ((a + 1) % 4, slip / 2.0),
            ]
            .into_iter()
            .filter(|&(_, p)| p > 0.0)
            .map(|(b, p)| outcome(p, row, col, b))
            .collect(),
        }
    });
    let default_limit = (4 * nrow * ncol).clamp(100, u32::MAX as usize) as u32;
    Ok(TabularModel {
        name: "grid",
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

    fn cfg(map: &str) -> GridConfig {
        GridConfig {
            map: map.into(),
            step_reward: -0.01,
            ..Default::default()
        }
    }

    #[test]
    fn walls_block_and_rewards_apply() {
        let m = build(&cfg("S # G\n. . .")).unwrap();
        // Right from S hits the wall: stay, step reward.
        let t = m.table.outcomes(0, 2)[0];
        assert_eq!((t.next_state, t.reward, t.terminated), (0, -0.01, false));
        // Up from (1,2) enters the goal.
        let g = m.table.outcomes(5, 3)[0];
        assert_eq!(
            (g.next_state, g.reward, g.terminated, g.success),
            (2, 1.0, true, true)
        );
        assert_eq!(m.time_limit, Some(100));
    }

    #[test]
    fn slip_splits_probability() {
        let m = build(&GridConfig {
            slip: 0.2,
            ..cfg("S . .\n. . G")
        })
        .unwrap();
        let probs: Vec<f64> = m.table.outcomes(1, 1).iter().map(|t| t.prob).collect();
        assert_eq!(probs, vec![0.1, 0.8, 0.1]);
        assert!(m.table.check().max_sum_error < 1e-12);
    }

    #[test]
    fn invalid_configs() {
        assert!(matches!(
            build(&GridConfig {
                slip: -0.1,
                ..cfg("S G")
            }),
            Err(RlError::BadProbability { .. })
        ));
        assert!(matches!(
            build(&GridConfig {
                goal_reward: f64::NAN,
                ..cfg("S G")
            }),
            Err(RlError::BadArgument { .. })
        ));
        assert_eq!(build(&cfg("S . .")), Err(RlError::MissingGoal));
    }
}
