//! Drawing a greedy policy as arrows on a grid map.

use ndarray::Array2;

use crate::rl::agent::policy::greedy_action;
use crate::rl::env::{EnvConfig, EnvModel, GridLayout};
use crate::rl::error::RlError;

/// Drawn for floor cells whose Q-values are all equal (no learned preference, typically a
/// state never visited).
pub const NO_PREFERENCE: char = '·';

/// Draws the greedy policy of `q` on `layout`: one character per cell, cells separated by a
/// space, rows by `\n` (no trailing newline). `S`, `G`, `H`, `#` (and `C` for cliff cells) are
/// kept; every other cell shows the arrow of its greedy action (lowest index among ties), or
/// [`NO_PREFERENCE`] when all its actions have the same value.
pub fn render_policy(layout: &GridLayout, q: &Array2<f64>) -> Result<String, RlError> {
    let map = &layout.map;
    let (states, actions) = q.dim();
    if states != map.rows * map.cols || actions != layout.arrows.len() {
        return Err(RlError::ShapeMismatch {
            rows: states,
            cols: actions,
            states: map.rows * map.cols,
            actions: layout.arrows.len(),
        });
    }
    let mut out = String::new();
    for r in 0..map.rows {
        if r > 0 {
            out.push('\n');
        }
        for c in 0..map.cols {
            if c > 0 {
                out.push(' ');
            }
            let s = r * map.cols + c;
            let ch = match map.at(r, c).letter() {
                Some(letter) => letter,
                None => {
                    let row: Vec<f64> = q.row(s).to_vec();
                    if row.iter().all(|&v| v == row[0]) {
                        NO_PREFERENCE
                    } else {
                        layout.arrows[greedy_action(&row)]
                    }
                }
            };
            out.push(ch);
        }
    }
    Ok(out)
}

/// The greedy policy of `q` drawn on the map of `env` (frozen_lake, cliff_walking, grid);
/// `amm::rl::not_grid` for taxi and cartpole.
pub fn policy_arrows(env: &EnvConfig, q: &Array2<f64>) -> Result<String, RlError> {
    match env.build()? {
        EnvModel::Tabular(model) => match &model.layout {
            Some(layout) => render_policy(layout, q),
            None => Err(RlError::NotGrid {
                env: env.kind().to_string(),
            }),
        },
        EnvModel::CartPole(_) => Err(RlError::NotGrid {
            env: env.kind().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::env::{GridConfig, TaxiConfig};

    #[test]
    fn arrows_and_letters() {
        let env = EnvConfig::Grid(GridConfig {
            map: "S . #\n. H G".into(),
            ..Default::default()
        });
        let mut q = Array2::zeros((6, 4));
        q[[1, 1]] = 1.0; // (0,1): down
        q[[3, 2]] = 0.5; // (1,0): right
        assert_eq!(policy_arrows(&env, &q).unwrap(), "S ↓ #\n→ H G");
        let wrong = Array2::zeros((5, 4));
        assert!(matches!(
            policy_arrows(&env, &wrong),
            Err(RlError::ShapeMismatch { .. })
        ));
        let taxi = EnvConfig::Taxi(TaxiConfig::default());
        assert!(matches!(
            policy_arrows(&taxi, &Array2::zeros((500, 6))),
            Err(RlError::NotGrid { .. })
        ));
    }

    #[test]
    fn unvisited_cells_show_no_preference() {
        let env = EnvConfig::Grid(GridConfig {
            map: "S . G".into(),
            ..Default::default()
        });
        assert_eq!(
            policy_arrows(&env, &Array2::zeros((3, 4))).unwrap(),
            "S · G"
        );
    }
}
