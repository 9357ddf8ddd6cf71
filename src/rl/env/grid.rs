//! `grid(map, …)`: a grid world drawn in the program. Cells: `S` start (exactly one), `G`
//! goal (terminal), `H` hole (terminal), `#` wall, `.` floor. Actions 0 left, 1 down,
//! 2 right, 3 up, as in FrozenLake. A move into a wall or off the map stays in place. With
//! `slip` in [0, 1) the intended move happens with probability 1 − slip and each
//! perpendicular move with slip / 2 (outcomes listed perpendicular-left, intended,
//! perpendicular-right, like FrozenLake; zero-probability outcomes are left out).
//!
//! Rewards: entering `G` gives `goal_reward`, entering `H` gives `hole_reward`, any other
//! step `step_reward`. `G`, `H` and wall rows of the table are absorbing (wall cells are
//! never reached). Episodes are truncated after `max_steps`.

use super::map::Map;
use super::{GridLayout, GridSpec, Success, TabularEnv, Transition};
use crate::rl::error::RlError;

fn check_range(name: &str, v: f64, ok: bool, expected: &str) -> Result<(), RlError> {
    if ok {
        Ok(())
    } else {
        Err(RlError::Argument {
            name: name.to_string(),
            value: format!("{v}"),
            expected: expected.to_string(),
        })
    }
}

/// Builds the grid's transition table.
pub fn build(spec: &GridSpec) -> Result<TabularEnv, RlError> {
    check_range(
        "slip",
        spec.slip,
        (0.0..1.0).contains(&spec.slip),
        "in [0, 1)",
    )?;
    for (name, v) in [
        ("step_reward", spec.step_reward),
        ("goal_reward", spec.goal_reward),
        ("hole_reward", spec.hole_reward),
    ] {
        check_range(name, v, v.is_finite(), "that is finite")?;
    }
    check_range(
        "max_steps",
        spec.max_steps as f64,
        spec.max_steps >= 1,
        "of at least 1",
    )?;
    let map = Map::parse(
        &spec.map,
        "SG#H.",
        "grid cells are S (start), G (goal), # (wall), H (hole), . (floor)",
    )?;
    let starts = map.cells.iter().filter(|&&c| c == 'S').count();
    if starts != 1 {
        return Err(RlError::MapStarts { count: starts });
    }
    let (nrow, ncol) = (map.rows, map.cols);
    let n = nrow * ncol;
    let step = |row: usize, col: usize, a: usize| -> usize {
        let (r, c) = match a {
            0 => (row, col.wrapping_sub(1)),
            1 => (row + 1, col),
            2 => (row, col + 1),
            _ => (row.wrapping_sub(1), col),
        };
        if r >= nrow || c >= ncol || map.at(r, c) == '#' {
            row * ncol + col
        } else {
            r * ncol + c
        }
    };
    let mut p = Vec::with_capacity(n);
    for s in 0..n {
        let (row, col) = (s / ncol, s % ncol);
        let cell = map.cells[s];
        let mut actions = Vec::with_capacity(4);
        for a in 0..4 {
            if matches!(cell, 'G' | 'H' | '#') {
                actions.push(vec![Transition {
                    prob: 1.0,
                    next: s,
                    reward: 0.0,
                    terminated: cell != '#',
                }]);
                continue;
            }
            let moves = [
                ((a + 3) % 4, spec.slip / 2.0),
                (a, 1.0 - spec.slip),
                ((a + 1) % 4, spec.slip / 2.0),
            ];
            let list = moves
                .iter()
                .filter(|(_, prob)| *prob > 0.0)
                .map(|&(b, prob)| {
                    let next = step(row, col, b);
                    let (reward, terminated) = match map.cells[next] {
                        'G' => (spec.goal_reward, true),
                        'H' => (spec.hole_reward, true),
                        _ => (spec.step_reward, false),
                    };
                    Transition {
                        prob,
                        next,
                        reward,
                        terminated,
                    }
                })
                .collect();
            actions.push(list);
        }
        p.push(actions);
    }
    let initial = map
        .cells
        .iter()
        .map(|&c| if c == 'S' { 1.0 } else { 0.0 })
        .collect();
    Ok(TabularEnv {
        kind: "grid",
        n_states: n,
        n_actions: 4,
        p,
        initial,
        max_steps: Some(spec.max_steps),
        success: Success::Goal(map.cells.iter().map(|&c| c == 'G').collect()),
        layout: Some(GridLayout {
            rows: nrow,
            cols: ncol,
            cells: map.cells.clone(),
            arrows: vec!['←', '↓', '→', '↑'],
        }),
    })
}
