//! Text output of a run: the training curve per window of episodes and the greedy policy
//! drawn on a grid map.

use std::fmt::Write as _;

use crate::rl::agent::EpisodeRecord;
use crate::rl::env::GridLayout;

/// Training statistics over a run of consecutive episodes.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct WindowRow {
    /// First episode (1-based).
    pub first: u64,
    /// Last episode.
    pub last: u64,
    /// Mean return.
    pub mean_return: f64,
    /// Fraction of successful episodes.
    pub success_rate: f64,
}

/// Episodes per window: `window` if given, else a tenth of the episodes (at least 1).
pub fn window_size(window: Option<u64>, episodes: u64) -> u64 {
    window.unwrap_or(episodes / 10).max(1)
}

/// Splits the records into windows of `size` episodes (the last may be shorter).
pub fn windows(records: &[EpisodeRecord], size: u64) -> Vec<WindowRow> {
    records
        .chunks(size.max(1) as usize)
        .filter_map(|c| {
            let (first, last) = (c.first()?, c.last()?);
            let n = c.len() as f64;
            Some(WindowRow {
                first: first.episode,
                last: last.episode,
                mean_return: c.iter().map(|r| r.ret).sum::<f64>() / n,
                success_rate: c.iter().filter(|r| r.success).count() as f64 / n,
            })
        })
        .collect()
}

/// The windows as an aligned table.
pub fn window_table(rows: &[WindowRow]) -> String {
    let mut out = format!(
        "{:>17}  {:>12}  {:>8}\n",
        "episodes", "mean return", "success"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:>17}  {:>12.4}  {:>8.3}",
            format!("{}-{}", r.first, r.last),
            r.mean_return,
            r.success_rate
        );
    }
    out
}

/// The greedy policy drawn on the map: an arrow per open cell, `S G H # C` kept, `·` where
/// all actions still have the same value (never learned). Arrows show the first best action.
pub fn policy_map(layout: &GridLayout, q: &[f64], n_actions: usize) -> String {
    let mut out = String::new();
    for r in 0..layout.rows {
        for c in 0..layout.cols {
            let s = r * layout.cols + c;
            let cell = layout.cells.get(s).copied().unwrap_or('?');
            let ch = if matches!(cell, '.' | 'F') {
                let row = q.get(s * n_actions..(s + 1) * n_actions).unwrap_or(&[]);
                match row.first() {
                    Some(&v0) if row.iter().all(|&v| v == v0) => '·',
                    Some(_) => {
                        let mut best = 0;
                        for (a, &v) in row.iter().enumerate() {
                            if v > row[best] {
                                best = a;
                            }
                        }
                        layout.arrows.get(best).copied().unwrap_or('?')
                    }
                    None => '?',
                }
            } else {
                cell
            };
            if c > 0 {
                out.push(' ');
            }
            out.push(ch);
        }
        out.push('\n');
    }
    out
}
