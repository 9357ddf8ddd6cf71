//! The training curve of an agent run in bounded memory: window rows (the progress table
//! and `summary.json`) and the points of the learning-curve picture, fed one finished
//! episode at a time. Nothing here grows with the number of episodes beyond a fixed
//! number of summaries — a 100M-step run keeps the same few kilobytes as a short one.
//!
//! Rows of a window size known before training (an explicit `window`, or a tenth of an
//! episode budget) are exact. A step budget without `window` cannot know a tenth of its
//! episodes until the end: its rows are a tenth of the episodes when every episode was
//! kept (`log_episodes`), otherwise 10–20 equal windows of a power-of-two size (pairs of
//! windows merge whenever 20 are full).

use crate::rl::agent::EpisodeRecord;
use crate::rl::render::{WindowRow, window_size, windows};

/// Most points of the per-episode return line in the picture; beyond that a point is the
/// mean of 2^k consecutive episodes.
pub const PLOT_POINTS: usize = 2048;
/// Most window rows kept for a step budget whose window size is not known in advance.
pub const COARSE_ROWS: usize = 20;

/// Running sums over consecutive episodes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Acc {
    first: u64,
    last: u64,
    n: u64,
    sum_return: f64,
    successes: u64,
}

impl Acc {
    fn add(&mut self, r: &EpisodeRecord) {
        if self.n == 0 {
            self.first = r.episode;
        }
        self.last = r.episode;
        self.n += 1;
        self.sum_return += r.ret;
        self.successes += u64::from(r.success);
    }

    fn merge(a: Acc, b: Acc) -> Acc {
        Acc {
            first: a.first,
            last: b.last,
            n: a.n + b.n,
            sum_return: a.sum_return + b.sum_return,
            successes: a.successes + b.successes,
        }
    }

    fn row(&self) -> WindowRow {
        let n = self.n.max(1) as f64;
        WindowRow {
            first: self.first,
            last: self.last,
            mean_return: self.sum_return / n,
            success_rate: self.successes as f64 / n,
        }
    }
}

/// At most `max` equal windows: when `max` are full, neighbours merge pairwise and the
/// window size doubles.
#[derive(Clone, Debug)]
struct Doubling {
    max: usize,
    size: u64,
    full: Vec<Acc>,
    open: Acc,
}

impl Doubling {
    fn new(max: usize) -> Doubling {
        Doubling {
            max: max.max(2) & !1,
            size: 1,
            full: Vec::new(),
            open: Acc::default(),
        }
    }

    fn push(&mut self, r: &EpisodeRecord) {
        self.open.add(r);
        if self.open.n < self.size {
            return;
        }
        self.full.push(std::mem::take(&mut self.open));
        if self.full.len() == self.max {
            self.full = self
                .full
                .chunks(2)
                .map(|p| Acc::merge(p[0], p[1]))
                .collect();
            self.size *= 2;
        }
    }

    fn rows(&self) -> Vec<WindowRow> {
        let mut rows: Vec<WindowRow> = self.full.iter().map(Acc::row).collect();
        if self.open.n > 0 {
            rows.push(self.open.row());
        }
        rows
    }
}

/// A point of the learning-curve picture: the mean return of episodes `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    /// First episode.
    pub first: u64,
    /// Last episode.
    pub last: u64,
    /// Episodes in it.
    pub episodes: u64,
    /// Their mean return.
    pub mean_return: f64,
}

/// The training curve; see the module documentation.
#[derive(Clone, Debug)]
pub struct Curve {
    /// The window size known before training.
    window: Option<u64>,
    fixed: Vec<WindowRow>,
    open: Acc,
    coarse: Doubling,
    plot: Doubling,
    episodes: u64,
}

impl Curve {
    /// A curve with windows of `window` episodes when that size is known before training.
    pub fn new(window: Option<u64>) -> Curve {
        Curve {
            window: window.map(|w| w.max(1)),
            fixed: Vec::new(),
            open: Acc::default(),
            coarse: Doubling::new(COARSE_ROWS),
            plot: Doubling::new(PLOT_POINTS),
            episodes: 0,
        }
    }

    /// Adds a finished episode; returns the window row it completes, if any.
    pub fn push(&mut self, r: &EpisodeRecord) -> Option<WindowRow> {
        self.episodes += 1;
        self.coarse.push(r);
        self.plot.push(r);
        let w = self.window?;
        self.open.add(r);
        if self.open.n < w {
            return None;
        }
        let row = std::mem::take(&mut self.open).row();
        self.fixed.push(row);
        Some(row)
    }

    /// Episodes seen.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// The window rows of the whole run (the last one may be shorter). `kept` are the
    /// episodes the run kept, from the first: when they are all of them, a step budget's
    /// rows are exactly a tenth of the episodes each.
    pub fn rows(&self, kept: &[EpisodeRecord]) -> Vec<WindowRow> {
        if self.window.is_some() {
            let mut rows = self.fixed.clone();
            if self.open.n > 0 {
                rows.push(self.open.row());
            }
            return rows;
        }
        if kept.len() as u64 == self.episodes {
            return windows(kept, window_size(None, self.episodes));
        }
        self.coarse.rows()
    }

    /// The per-episode return line of the picture: one point per episode up to
    /// [`PLOT_POINTS`] episodes, else means of equal runs of episodes.
    pub fn points(&self) -> Vec<CurvePoint> {
        let mut out: Vec<CurvePoint> = self
            .plot
            .full
            .iter()
            .map(|a| CurvePoint {
                first: a.first,
                last: a.last,
                episodes: a.n,
                mean_return: a.sum_return / a.n.max(1) as f64,
            })
            .collect();
        let o = &self.plot.open;
        if o.n > 0 {
            out.push(CurvePoint {
                first: o.first,
                last: o.last,
                episodes: o.n,
                mean_return: o.sum_return / o.n as f64,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(episode: u64, ret: f64) -> EpisodeRecord {
        EpisodeRecord {
            episode,
            ret,
            steps: 1,
            success: ret > 0.5,
            epsilon: 0.0,
        }
    }

    #[test]
    fn fixed_windows_equal_the_windows_of_all_records() {
        let all: Vec<EpisodeRecord> = (1..=107).map(|e| rec(e, (e % 3) as f64)).collect();
        let mut c = Curve::new(Some(10));
        let streamed: Vec<WindowRow> = all.iter().filter_map(|r| c.push(r)).collect();
        assert_eq!(streamed.len(), 10);
        assert_eq!(c.rows(&[]), windows(&all, 10));
    }

    #[test]
    fn unknown_windows_are_a_tenth_when_kept_and_bounded_otherwise() {
        let all: Vec<EpisodeRecord> = (1..=1000).map(|e| rec(e, e as f64)).collect();
        let mut c = Curve::new(None);
        for r in &all {
            c.push(r);
        }
        assert_eq!(c.rows(&all), windows(&all, 100));
        let coarse = c.rows(&all[..10]);
        assert!(
            (10..=COARSE_ROWS).contains(&coarse.len()),
            "{}",
            coarse.len()
        );
        assert_eq!(coarse.first().map(|r| r.first), Some(1));
        assert_eq!(coarse.last().map(|r| r.last), Some(1000));
        // Equal windows of a power of two: 20 windows of 32 merged into 10 of 64 at
        // episode 640, so 15 of 64 and a last of 40; means exact.
        assert_eq!(coarse.len(), 16);
        assert_eq!(coarse[0].last, 64);
        assert_eq!(coarse[0].mean_return, 32.5);
        assert_eq!(coarse[15].first, 961);
        let total: f64 = coarse
            .iter()
            .map(|r| r.mean_return * (r.last - r.first + 1) as f64)
            .sum();
        assert_eq!(total, 500_500.0);
    }

    #[test]
    fn plot_points_are_per_episode_then_bounded() {
        let mut c = Curve::new(None);
        for e in 1..=100 {
            c.push(&rec(e, e as f64));
        }
        assert_eq!(c.points().len(), 100);
        for e in 101..=100_000 {
            c.push(&rec(e, e as f64));
        }
        let p = c.points();
        assert!(
            p.len() <= PLOT_POINTS && p.len() >= PLOT_POINTS / 2,
            "{}",
            p.len()
        );
        assert_eq!(p.iter().map(|x| x.episodes).sum::<u64>(), 100_000);
    }
}
