//! Trial states and finished-trial records shared by the runner, the journal and reports.

use std::time::Duration;

use super::value::TrialParams;

/// Lifecycle state of a trial; the numeric codes are Optuna's `TrialState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrialState {
    /// Being evaluated (code 0).
    Running,
    /// Finished with a value (code 1).
    Complete,
    /// Stopped early by the pruner (code 2).
    Pruned,
    /// The objective failed, or the worker died (code 3).
    Fail,
    /// Queued, not started (code 4; only written by Optuna's `enqueue_trial`).
    Waiting,
}

impl TrialState {
    /// Optuna's integer code.
    pub fn code(self) -> i64 {
        match self {
            TrialState::Running => 0,
            TrialState::Complete => 1,
            TrialState::Pruned => 2,
            TrialState::Fail => 3,
            TrialState::Waiting => 4,
        }
    }

    /// State for an Optuna integer code.
    pub fn from_code(code: i64) -> Option<TrialState> {
        Some(match code {
            0 => TrialState::Running,
            1 => TrialState::Complete,
            2 => TrialState::Pruned,
            3 => TrialState::Fail,
            4 => TrialState::Waiting,
            _ => return None,
        })
    }

    /// True for states that can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Pruned | TrialState::Fail
        )
    }

    /// Upper-case name as Optuna prints it.
    pub fn name(self) -> &'static str {
        match self {
            TrialState::Running => "RUNNING",
            TrialState::Complete => "COMPLETE",
            TrialState::Pruned => "PRUNED",
            TrialState::Fail => "FAIL",
            TrialState::Waiting => "WAITING",
        }
    }
}

/// One trial of a study as recorded in the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    /// Optuna trial number within the study (0-based, journal order).
    pub number: usize,
    /// Strategy slot this trial evaluates (retries share the slot of the trial they redo).
    pub slot: Option<usize>,
    /// Configuration.
    pub params: TrialParams,
    /// Current state.
    pub state: TrialState,
    /// Objective value (COMPLETE) or last intermediate value (PRUNED).
    pub value: Option<f64>,
    /// Intermediate values by step, in step order.
    pub intermediate: Vec<(i64, f64)>,
    /// Why the trial failed (objective error, panic, stale heartbeat).
    pub fail_reason: Option<String>,
    /// Start time, Unix seconds.
    pub started: Option<f64>,
    /// End time, Unix seconds.
    pub finished: Option<f64>,
    /// Trial number this one re-runs after a stale failure.
    pub retry_of: Option<usize>,
    /// Failed because its worker stopped sending heartbeats (its slot was re-run).
    pub stale: bool,
}

impl TrialRecord {
    /// Wall-clock duration, when both ends are known.
    pub fn duration(&self) -> Option<Duration> {
        match (self.started, self.finished) {
            (Some(a), Some(b)) if b >= a => Some(Duration::from_secs_f64(b - a)),
            _ => None,
        }
    }
}
