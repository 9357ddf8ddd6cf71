//! Gymnasium `Taxi-v3`: a 5x5 city with walls, four stands R (0,0), G (0,4), Y (4,0),
//! B (4,3). State `((row * 5 + col) * 5 + passenger) * 4 + destination`, passenger 4 = in
//! the taxi. Actions 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff. Reward -1 per
//! step, +20 for delivering (which terminates), -10 for an illegal pickup or dropoff;
//! dropping the passenger at another stand leaves them there (reward -1). Episodes start
//! with the passenger at a stand other than the destination, uniformly over the 300 such
//! states, and are truncated after 200 steps.

use super::{Success, TabularEnv, Transition};

/// Gymnasium's map: `:` is open, `|` a wall between columns.
const MAP: [&str; 7] = [
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
];
const LOCS: [(usize, usize); 4] = [(0, 0), (0, 4), (4, 0), (4, 3)];

/// The state number of a configuration.
pub fn encode(row: usize, col: usize, passenger: usize, dest: usize) -> usize {
    ((row * 5 + col) * 5 + passenger) * 4 + dest
}

fn open(row: usize, map_col: usize) -> bool {
    MAP[1 + row].as_bytes()[map_col] == b':'
}

/// Builds the taxi table.
#[allow(clippy::needless_range_loop)] // indices are the state components
pub fn build() -> TabularEnv {
    let n = 500;
    let mut p = vec![Vec::new(); n];
    let mut initial = vec![0.0; n];
    for row in 0..5 {
        for col in 0..5 {
            for pass in 0..5 {
                for dest in 0..4 {
                    let state = encode(row, col, pass, dest);
                    if pass < 4 && pass != dest {
                        initial[state] += 1.0;
                    }
                    let mut actions = Vec::with_capacity(6);
                    for action in 0..6 {
                        let (mut r, mut c, mut np) = (row, col, pass);
                        let mut reward = -1.0;
                        let mut terminated = false;
                        let here = (row, col);
                        match action {
                            0 => r = (row + 1).min(4),
                            1 => r = row.saturating_sub(1),
                            2 if open(row, 2 * col + 2) => c = (col + 1).min(4),
                            3 if open(row, 2 * col) => c = col.saturating_sub(1),
                            4 => {
                                if pass < 4 && here == LOCS[pass] {
                                    np = 4;
                                } else {
                                    reward = -10.0;
                                }
                            }
                            5 => {
                                if here == LOCS[dest] && pass == 4 {
                                    np = dest;
                                    terminated = true;
                                    reward = 20.0;
                                } else if let (Some(i), 4) =
                                    (LOCS.iter().position(|&l| l == here), pass)
                                {
                                    np = i;
                                } else {
                                    reward = -10.0;
                                }
                            }
                            _ => {}
                        }
                        actions.push(vec![Transition {
                            prob: 1.0,
                            next: encode(r, c, np, dest),
                            reward,
                            terminated,
                        }]);
                    }
                    p[state] = actions;
                }
            }
        }
    }
    let total: f64 = initial.iter().sum();
    for v in &mut initial {
        *v /= total;
    }
    TabularEnv {
        kind: "taxi",
        n_states: n,
        n_actions: 6,
        p,
        initial,
        max_steps: Some(200),
        success: Success::Terminated,
        layout: None,
    }
}
