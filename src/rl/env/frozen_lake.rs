//! Gymnasium `FrozenLake-v1`: walk from `S` to `G` over frozen cells `F` without falling
//! into a hole `H`. Actions 0 left, 1 down, 2 right, 3 up. On a slippery lake the intended
//! move and either perpendicular move happen with probability 1/3 each (as floats:
//! [`SUCCESS`] and [`FAIL`]) (the three outcomes
//! are listed separately even when they lead to the same cell, as Gymnasium does). Reward 1
//! on reaching `G`; `G` and `H` end the episode; their own rows of the table are absorbing.
//! Time limit 100 (4x4 and drawn maps) or 200 (8x8), as registered in Gymnasium.

use super::map::Map;
use super::{GridLayout, LakeMap, Success, TabularEnv, Transition};
use crate::rl::error::RlError;

/// Gymnasium's `MAPS["4x4"]`.
pub const MAP_4X4: [&str; 4] = ["SFFF", "FHFH", "FFFH", "HFFG"];
/// Gymnasium's `MAPS["8x8"]`.
pub const MAP_8X8: [&str; 8] = [
    "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG",
];

/// Probability of the intended move on a slippery lake (Gymnasium's `success_rate`).
pub const SUCCESS: f64 = 1.0 / 3.0;
/// Probability of each perpendicular move: Gymnasium (≥ 1.0) computes
/// `(1 - success_rate) / 2`, which is 0.33333333333333337, one ulp above 1/3; we use the
/// same expression so the tables are bit-identical.
pub const FAIL: f64 = (1.0 - SUCCESS) / 2.0;

/// Builds the lake's transition table.
pub fn build(map: &LakeMap, slippery: bool) -> Result<TabularEnv, RlError> {
    let (text, max_steps) = match map {
        LakeMap::Named4x4 => (MAP_4X4.join("\n"), 100),
        LakeMap::Named8x8 => (MAP_8X8.join("\n"), 200),
        LakeMap::Custom(t) => (t.clone(), 100),
    };
    let map = Map::parse(
        &text,
        "SFHG",
        "frozen_lake cells are S (start), F (frozen), H (hole), G (goal)",
    )?;
    Ok(table(&map, slippery, max_steps))
}

fn table(map: &Map, slippery: bool, max_steps: u32) -> TabularEnv {
    let (nrow, ncol) = (map.rows, map.cols);
    let n = nrow * ncol;
    // Gymnasium's `inc`: clamp to the grid.
    let step = |row: usize, col: usize, a: usize| -> (usize, usize) {
        match a {
            0 => (row, col.saturating_sub(1)),
            1 => ((row + 1).min(nrow - 1), col),
            2 => (row, (col + 1).min(ncol - 1)),
            _ => (row.saturating_sub(1), col),
        }
    };
    let outcome = |row: usize, col: usize, a: usize, prob: f64| -> Transition {
        let (r, c) = step(row, col, a);
        let cell = map.at(r, c);
        Transition {
            prob,
            next: r * ncol + c,
            reward: if cell == 'G' { 1.0 } else { 0.0 },
            terminated: cell == 'G' || cell == 'H',
        }
    };
    let mut p = Vec::with_capacity(n);
    for s in 0..n {
        let (row, col) = (s / ncol, s % ncol);
        let cell = map.at(row, col);
        let mut actions = Vec::with_capacity(4);
        for a in 0..4 {
            let list = if cell == 'G' || cell == 'H' {
                vec![Transition {
                    prob: 1.0,
                    next: s,
                    reward: 0.0,
                    terminated: true,
                }]
            } else if slippery {
                [(a + 3) % 4, a, (a + 1) % 4]
                    .iter()
                    .map(|&b| outcome(row, col, b, if b == a { SUCCESS } else { FAIL }))
                    .collect()
            } else {
                vec![outcome(row, col, a, 1.0)]
            };
            actions.push(list);
        }
        p.push(actions);
    }
    let starts = map.cells.iter().filter(|&&c| c == 'S').count() as f64;
    let initial = map
        .cells
        .iter()
        .map(|&c| if c == 'S' { 1.0 / starts } else { 0.0 })
        .collect();
    TabularEnv {
        kind: "frozen_lake",
        n_states: n,
        n_actions: 4,
        p,
        initial,
        max_steps: Some(max_steps),
        success: Success::Goal(map.cells.iter().map(|&c| c == 'G').collect()),
        layout: Some(GridLayout {
            rows: nrow,
            cols: ncol,
            cells: map.cells.clone(),
            arrows: vec!['←', '↓', '→', '↑'],
        }),
    }
}
