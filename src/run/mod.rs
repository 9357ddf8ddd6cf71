//! The life of a run, whatever the block kind: what every `train`, `agent` and `tune` run
//! shares between starting and leaving its files in `<out>/<block>/`.
//!
//! - [`events`]: what a run reports as it goes ([`Event`]); the caller renders it (the CLI
//!   as text lines or JSON objects, tests by collecting), so domain code never prints.
//! - [`interrupt`]: SIGINT/SIGTERM become a flag that runs poll at safe points.
//! - [`dir`]: a run is written into a staging directory and committed as a set, so
//!   `<out>/<block>/` always holds one complete run (old or new), never a mix.
//! - [`record`]: content hashes and the common fields of `summary.json`.
//! - [`metrics`]: per-split metrics and per-epoch records.
//!
//! This module sits beside `data` at the bottom of the pipeline: `runtime`, `rl` and `tune`
//! use it; it uses none of them.

pub mod dir;
pub mod events;
pub mod interrupt;
pub mod metrics;
pub mod plot;
pub mod record;

use std::path::PathBuf;

pub use dir::RunDir;
pub use events::{Event, EventSink};
pub use interrupt::Interrupt;

use crate::diag::Diag;

/// Everything a block's run needs from whoever starts it (the CLI, the block pipeline, a
/// test), besides the block itself.
pub struct RunContext<'a> {
    /// Parent of `<block>/`.
    pub out_dir: PathBuf,
    /// Directory of the `.amm` file: relative data and weight paths start here.
    pub base_dir: PathBuf,
    /// What executes training plans.
    pub backend: crate::runtime::backend::BackendKind,
    /// Where progress goes.
    pub events: &'a mut dyn EventSink,
    /// Polled at safe points; set by SIGINT/SIGTERM.
    pub interrupt: Interrupt,
    /// Continue from the last checkpoint instead of starting over.
    pub resume: bool,
    /// Seconds between periodic checkpoints (0: after every epoch).
    pub checkpoint_seconds: f64,
    /// The `--set` values in force, recorded in `summary.json`.
    pub overrides: Vec<(String, String)>,
    /// `--storage`: the URL of the server holding tune studies (`None`: journal files).
    pub tune_storage: Option<String>,
}

/// Why a run did not finish.
#[derive(Debug)]
pub enum RunFailure {
    /// Diagnostics to render (exit 1).
    Diags(Vec<Diag>),
    /// I/O trouble (exit 2).
    Io(String),
    /// Stopped by SIGINT/SIGTERM after writing what it had (exit 130).
    Interrupted,
}

impl RunFailure {
    /// An I/O failure on `path`.
    pub fn io(path: &std::path::Path, e: &std::io::Error) -> RunFailure {
        RunFailure::Io(format!("cannot write {}: {e}", path.display()))
    }
}
