//! Error types of the tuning engine.
//!
//! Every variant carries a stable miette code under `amm::tune::…` so the CLI can
//! render it and tests can match on it.

use miette::Diagnostic;
use thiserror::Error;

/// A search-space definition that cannot be sampled.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum SpaceError {
    /// `lo >= hi` for a range distribution.
    #[error("parameter `{name}`: lower bound {low} must be below upper bound {high}")]
    #[diagnostic(
        code(amm::tune::empty_range),
        help("write the smaller bound first, e.g. `uniform(0.1, 0.9)`")
    )]
    EmptyRange {
        /// Parameter name.
        name: String,
        /// Lower bound as written.
        low: String,
        /// Upper bound as written.
        high: String,
    },
    /// A log-scaled range whose lower bound is not positive.
    #[error("parameter `{name}`: a log-scaled range needs a positive lower bound, got {low}")]
    #[diagnostic(
        code(amm::tune::log_nonpositive),
        help("log spaces cannot contain 0 or negative values; use `uniform` or raise the bound")
    )]
    LogNonPositive {
        /// Parameter name.
        name: String,
        /// Lower bound as written.
        low: String,
    },
    /// A bound that is NaN or infinite.
    #[error("parameter `{name}`: bound {value} is not a finite number")]
    #[diagnostic(
        code(amm::tune::non_finite_bound),
        help("bounds must be finite numbers")
    )]
    NonFiniteBound {
        /// Parameter name.
        name: String,
        /// The offending value.
        value: String,
    },
    /// `choice()` with no values.
    #[error("parameter `{name}`: `choice()` needs at least one value")]
    #[diagnostic(
        code(amm::tune::empty_choice),
        help("list the candidates, e.g. `choice(8, 16, 32)`")
    )]
    EmptyChoice {
        /// Parameter name.
        name: String,
    },
    /// The same value listed twice in a `choice()`.
    #[error("parameter `{name}`: value {value} appears more than once in `choice()`")]
    #[diagnostic(code(amm::tune::duplicate_choice), help("remove the repeated value"))]
    DuplicateChoice {
        /// Parameter name.
        name: String,
        /// The repeated value.
        value: String,
    },
    /// A non-finite float listed in a `choice()`.
    #[error("parameter `{name}`: choice value {value} is not a finite number")]
    #[diagnostic(
        code(amm::tune::non_finite_choice),
        help("choice values must be finite")
    )]
    NonFiniteChoice {
        /// Parameter name.
        name: String,
        /// The offending value.
        value: String,
    },
    /// `int(…, step = s)` with `s <= 0`, or a step combined with `log = true`.
    #[error("parameter `{name}`: {reason}")]
    #[diagnostic(
        code(amm::tune::bad_step),
        help("`step` must be a positive integer, and `log = true` only allows `step = 1`")
    )]
    BadStep {
        /// Parameter name.
        name: String,
        /// What is wrong with the step.
        reason: String,
    },
    /// Two parameters with the same name.
    #[error("parameter `{name}` is defined twice in the search space")]
    #[diagnostic(
        code(amm::tune::duplicate_param),
        help("each tuned parameter may appear once")
    )]
    DuplicateParam {
        /// Parameter name.
        name: String,
    },
    /// A parameter with an empty name.
    #[error("a search-space parameter has an empty name")]
    #[diagnostic(code(amm::tune::empty_name), help("give every tuned parameter a name"))]
    EmptyName,
    /// A search space without parameters.
    #[error("the search space has no parameters")]
    #[diagnostic(
        code(amm::tune::empty_space),
        help("add at least one `name ~ distribution` line")
    )]
    EmptySpace,
    /// A configuration that does not fit the space (wrong names, types, or out of range).
    #[error("configuration does not fit the search space: {reason}")]
    #[diagnostic(
        code(amm::tune::params_mismatch),
        help(
            "every parameter of the space must have one value of the right type inside its range"
        )
    )]
    ParamsMismatch {
        /// What does not fit.
        reason: String,
    },
}

/// A strategy or study setting outside its valid range.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum ConfigError {
    /// A count (trials, population, …) that must be positive is zero.
    #[error("`{setting}` must be at least {min}, got {value}")]
    #[diagnostic(code(amm::tune::setting_too_small), help("raise the value"))]
    TooSmall {
        /// Setting name.
        setting: &'static str,
        /// Smallest allowed value.
        min: usize,
        /// Value given.
        value: usize,
    },
    /// A real-valued setting outside its range.
    #[error("`{setting}` must be in {range}, got {value}")]
    #[diagnostic(
        code(amm::tune::setting_out_of_range),
        help("use a value inside the range")
    )]
    OutOfRange {
        /// Setting name.
        setting: &'static str,
        /// Allowed range, human readable.
        range: &'static str,
        /// Value given.
        value: f64,
    },
    /// `bayes(trials, init)` with `init > trials`.
    #[error("`init` ({init}) cannot exceed `trials` ({trials})")]
    #[diagnostic(
        code(amm::tune::init_exceeds_trials),
        help("lower `init` or raise `trials`")
    )]
    InitExceedsTrials {
        /// Initial design size.
        init: usize,
        /// Trial budget.
        trials: usize,
    },
}

/// Failure reading, writing or locking a study journal.
#[derive(Debug, Error, Diagnostic)]
pub enum JournalError {
    /// An I/O error on the journal or its lock file.
    #[error("journal {path}: {source}")]
    #[diagnostic(
        code(amm::tune::journal_io),
        help("check that the directory exists and is writable")
    )]
    Io {
        /// File involved.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A complete line of the journal that is not a valid operation.
    #[error("journal {path}, line {line}: {reason}")]
    #[diagnostic(
        code(amm::tune::journal_corrupt),
        help(
            "the journal was edited or written by an incompatible tool; move it away to start over"
        )
    )]
    Corrupt {
        /// Journal file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The lock file could not be acquired within the time limit.
    #[error("could not lock journal {path} within {seconds} s")]
    #[diagnostic(
        code(amm::tune::journal_lock_timeout),
        help("another worker holds `<journal>.lock`; if none is running, delete the lock file")
    )]
    LockTimeout {
        /// Lock file.
        path: String,
        /// Seconds waited.
        seconds: u64,
    },
}

/// Everything that can stop a study.
#[derive(Debug, Error, Diagnostic)]
pub enum TuneError {
    /// Invalid search space.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Space(#[from] SpaceError),
    /// Invalid strategy or study setting.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    /// Journal problem.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),
    /// The journal already holds a study of this name created with other settings.
    #[error("study `{study}` in the journal was created with different settings: {reason}")]
    #[diagnostic(
        code(amm::tune::study_mismatch),
        help(
            "resume with the original space, strategy, seed and direction, or use a new journal path"
        )
    )]
    StudyMismatch {
        /// Study name.
        study: String,
        /// What differs.
        reason: String,
    },
    /// `jobs = 0`.
    #[error("`jobs` must be at least 1")]
    #[diagnostic(
        code(amm::tune::zero_jobs),
        help("use `jobs = 1` to run trials one at a time")
    )]
    ZeroJobs,
    /// `tell` for a slot that was never asked or was already told.
    #[error("slot {slot} is not pending")]
    #[diagnostic(
        code(amm::tune::unknown_slot),
        help("tell each asked slot exactly once")
    )]
    UnknownSlot {
        /// Slot number.
        slot: usize,
    },
    /// No study of that name in the journal.
    #[error("no study named `{study}` in journal {path}")]
    #[diagnostic(
        code(amm::tune::study_not_found),
        help("check the journal path and the tune block name")
    )]
    StudyNotFound {
        /// Study name.
        study: String,
        /// Journal path.
        path: String,
    },
}
