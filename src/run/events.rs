//! What a run reports as it happens. Domain code emits [`Event`]s; the caller decides how
//! to show them (the CLI prints a line per event, or one JSON object per event with
//! `--json`), so the same run serves the terminal, tools, tests and the block pipeline.

use serde::Serialize;

use super::metrics::{EpochRecord, SplitMetrics};

/// One thing that happened in a run. Serialised with an `"event"` tag for `--json`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A train block starts (or resumes).
    TrainStart {
        /// The block.
        block: String,
        /// Its model.
        model: String,
        /// Its dataset.
        data: String,
        /// Samples per split.
        train: usize,
        /// Validation samples.
        val: Option<usize>,
        /// Test samples.
        test: Option<usize>,
        /// Batch size.
        batch: usize,
        /// Planned epochs.
        epochs: usize,
        /// Learnable parameters.
        parameters: usize,
        /// Backend name.
        backend: String,
        /// Threads of the backend.
        threads: usize,
        /// The epoch and batch this run continues after, when resumed.
        resumed_at: Option<Position>,
    },
    /// An epoch begins (progress bars).
    EpochStart {
        /// The block.
        block: String,
        /// 1-based epoch.
        epoch: usize,
        /// Planned epochs.
        epochs: usize,
        /// Batches in it.
        batches: usize,
    },
    /// A batch finished (progress bars only: never printed as a line).
    Batch {
        /// The block.
        block: String,
    },
    /// A boosting round of a tree head finished (`crate::trees`).
    Round {
        /// The block.
        block: String,
        /// Planned rounds.
        rounds: usize,
        /// 1-based round.
        round: usize,
        /// Metrics on the training split after it.
        train: SplitMetrics,
        /// Metrics on the validation split after it.
        val: Option<SplitMetrics>,
        /// Wall seconds it took.
        seconds: f64,
    },
    /// An epoch finished.
    Epoch {
        /// The block.
        block: String,
        /// Planned epochs.
        epochs: usize,
        /// Its record (the same as the `metrics.jsonl` line).
        #[serde(flatten)]
        record: EpochRecord,
        /// Wall seconds it took.
        seconds: f64,
        /// This epoch is the best so far on the monitored metric.
        best: bool,
    },
    /// The learning rate was reduced because the monitored metric stalled.
    LrReduced {
        /// The block.
        block: String,
        /// After this epoch.
        epoch: usize,
        /// The new rate.
        lr: f64,
    },
    /// Training stopped before its last epoch because the monitored metric stalled.
    EarlyStop {
        /// The block.
        block: String,
        /// The last epoch trained.
        epoch: usize,
        /// The monitored metric.
        metric: String,
        /// The epoch with the best value.
        best_epoch: usize,
        /// That value.
        best: f64,
    },
    /// Final metrics on one split.
    Final {
        /// The block.
        block: String,
        /// `train`, `val` or `test`.
        split: String,
        /// The metrics.
        metrics: SplitMetrics,
        /// Which weights were evaluated (`last` or `best`).
        weights: String,
    },
    /// Throughput of a finished training run.
    Throughput {
        /// The block.
        block: String,
        /// Training samples per second.
        samples_per_sec: f64,
        /// Wall time in seconds.
        wall_seconds: f64,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// The block.
        block: String,
        /// Where the run stands.
        at: Position,
    },
    /// The run stopped on SIGINT/SIGTERM after saving what it had.
    Interrupted {
        /// The block.
        block: String,
        /// Where it stopped.
        at: Position,
        /// How to continue.
        resume: String,
    },
    /// A block's outputs were up to date and reused.
    Reused {
        /// The block.
        block: String,
        /// Its run directory.
        dir: String,
    },
    /// A run directory was committed.
    Wrote {
        /// The block.
        block: String,
        /// The directory.
        dir: String,
        /// The files in it.
        files: Vec<String>,
    },
    /// An agent block starts.
    AgentStart {
        /// The block.
        block: String,
        /// Algorithm name.
        algorithm: String,
        /// The env block.
        env: String,
        /// Its kind.
        env_kind: String,
        /// States × actions, or the bins.
        shape: String,
        /// Episodes or steps.
        budget: String,
        /// Step size of a tabular agent (`None` for dqn, which learns with its optimizer).
        alpha: Option<f64>,
        /// Discount.
        gamma: f64,
        /// Seed.
        seed: u64,
    },
    /// Training progress of an agent (progress bars only).
    AgentProgress {
        /// The block.
        block: String,
        /// Episodes or steps done.
        done: u64,
        /// Of this many.
        total: u64,
        /// `episodes` or `steps`.
        unit: String,
        /// Current exploration rate.
        epsilon: f64,
        /// Exponential moving average of recent returns.
        recent_return: f64,
    },
    /// A window of training episodes completed.
    Window {
        /// The block.
        block: String,
        /// First episode (1-based).
        first: u64,
        /// Last episode.
        last: u64,
        /// Mean return.
        mean_return: f64,
        /// Fraction of successful episodes.
        success_rate: f64,
    },
    /// The greedy policy's evaluation.
    Evaluation {
        /// The block.
        block: String,
        /// Episodes run.
        episodes: u64,
        /// Mean return.
        mean_return: f64,
        /// Standard deviation of returns.
        std_return: f64,
        /// Success rate.
        success_rate: f64,
        /// Mean episode length.
        mean_steps: f64,
    },
    /// The greedy policy drawn on a grid map.
    Policy {
        /// The block.
        block: String,
        /// The map, one line per row.
        map: String,
    },
    /// Training throughput of an agent.
    AgentThroughput {
        /// The block.
        block: String,
        /// Episodes trained.
        episodes: u64,
        /// Environment steps.
        steps: u64,
        /// Seconds.
        seconds: f64,
        /// Steps per second.
        steps_per_sec: f64,
    },
    /// A tuning trial finished (complete, pruned or failed).
    Trial {
        /// The tune block.
        block: String,
        /// Trial number (0-based, Optuna's).
        number: u64,
        /// `COMPLETE`, `PRUNED` or `FAIL`.
        state: String,
        /// The objective value.
        value: Option<f64>,
        /// Why it failed.
        error: Option<String>,
    },
    /// Free-form text from a run kind without structured events yet.
    Line {
        /// The block.
        block: String,
        /// The text.
        text: String,
    },
}

/// A point in a training run: after `batch` batches of epoch `epoch` (1-based;
/// `batch == 0` means at the start of the epoch, i.e. after epoch `epoch - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Position {
    /// 1-based epoch.
    pub epoch: usize,
    /// Batches of it completed.
    pub batch: usize,
}

/// Receives events.
pub trait EventSink {
    /// Called once per event, in order.
    fn emit(&mut self, event: Event);
}

impl<F: FnMut(Event)> EventSink for F {
    fn emit(&mut self, event: Event) {
        self(event)
    }
}

/// Drops every event.
pub struct Silent;

impl EventSink for Silent {
    fn emit(&mut self, _: Event) {}
}
