//! Gymnasium `CliffWalking-v0`: a 4x12 grid, start (3, 0), goal (3, 11), the cliff is
//! (3, 1..=10). Actions 0 up, 1 right, 2 down, 3 left. Every step costs -1; stepping into
//! the cliff costs -100 and returns the agent to the start without ending the episode.
//! Reaching the goal terminates. No time limit (Gymnasium registers none). The rows of the
//! table for the cliff cells and the goal are the ordinary moves from there, as in
//! Gymnasium (they are never visited).

use super::{GridLayout, Success, TabularEnv, Transition};

const ROWS: usize = 4;
const COLS: usize = 12;
const START: usize = 3 * COLS;

fn is_cliff(row: usize, col: usize) -> bool {
    row == 3 && (1..COLS - 1).contains(&col)
}

/// Builds the cliff walking table.
pub fn build() -> TabularEnv {
    let n = ROWS * COLS;
    let deltas: [(isize, isize); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];
    let mut p = Vec::with_capacity(n);
    for s in 0..n {
        let (row, col) = ((s / COLS) as isize, (s % COLS) as isize);
        let actions = deltas
            .iter()
            .map(|&(dr, dc)| {
                let r = (row + dr).clamp(0, ROWS as isize - 1) as usize;
                let c = (col + dc).clamp(0, COLS as isize - 1) as usize;
                let t = if is_cliff(r, c) {
                    Transition {
                        prob: 1.0,
                        next: START,
                        reward: -100.0,
                        terminated: false,
                    }
                } else {
                    Transition {
                        prob: 1.0,
                        next: r * COLS + c,
                        reward: -1.0,
                        terminated: (r, c) == (ROWS - 1, COLS - 1),
                    }
                };
                vec![t]
            })
            .collect();
        p.push(actions);
    }
    let mut initial = vec![0.0; n];
    initial[START] = 1.0;
    let cells = (0..n)
        .map(|s| {
            let (r, c) = (s / COLS, s % COLS);
            if s == START {
                'S'
            } else if (r, c) == (ROWS - 1, COLS - 1) {
                'G'
            } else if is_cliff(r, c) {
                'C'
            } else {
                '.'
            }
        })
        .collect();
    TabularEnv {
        kind: "cliff_walking",
        n_states: n,
        n_actions: 4,
        p,
        initial,
        max_steps: None,
        success: Success::Terminated,
        layout: Some(GridLayout {
            rows: ROWS,
            cols: COLS,
            cells,
            arrows: vec!['↑', '→', '↓', '←'],
        }),
    }
}
