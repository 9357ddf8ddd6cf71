//! Progress reports sent to the caller while training (for progress bars and the
//! per-window table).

/// Statistics of one window of consecutive training episodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    /// Index (0-based) of the first episode in the window.
    pub first_episode: u64,
    /// Number of episodes in the window.
    pub episodes: u64,
    /// Mean undiscounted return.
    pub mean_return: f64,
    /// Fraction of successful episodes.
    pub success_rate: f64,
    /// Mean episode length in steps.
    pub mean_length: f64,
}

/// One progress report: sent after every `window` completed episodes, and once more at the
/// end of training for the last, partial window (if it has any episodes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Episodes completed so far.
    pub episodes: u64,
    /// Environment steps taken so far.
    pub steps: u64,
    /// Fraction of the budget used, in `[0, 1]`.
    pub fraction: f64,
    /// Epsilon in effect for the next step.
    pub epsilon: f64,
    /// The window that just ended.
    pub window: WindowStats,
}

/// Running sums for the current window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WindowAccumulator {
    pub first_episode: u64,
    pub episodes: u64,
    pub return_sum: f64,
    pub successes: u64,
    pub length_sum: u64,
}

impl WindowAccumulator {
    /// Adds one finished episode.
    #[inline]
    pub fn push(&mut self, ret: f64, len: u32, success: bool) {
        self.episodes += 1;
        self.return_sum += ret;
        self.successes += success as u64;
        self.length_sum += len as u64;
    }

    /// Closes the window and starts the next one at `next_first`.
    pub fn take(&mut self, next_first: u64) -> WindowStats {
        let n = self.episodes.max(1) as f64;
        let stats = WindowStats {
            first_episode: self.first_episode,
            episodes: self.episodes,
            mean_return: self.return_sum / n,
            success_rate: self.successes as f64 / n,
            mean_length: self.length_sum as f64 / n,
        };
        *self = WindowAccumulator {
            first_episode: next_first,
            ..Default::default()
        };
        stats
    }
}
