//! Errors of the data layer: every one names the file and the place in it.

use miette::Diagnostic;
use thiserror::Error;

/// Why a dataset could not be loaded or written.
#[derive(Debug, Error, Diagnostic)]
pub enum DataError {
    /// Labels that cannot be of the declared kind, or an unknown kind.
    #[error("{0}")]
    #[diagnostic(
        code(amm::data::label_kind),
        help(
            "`label_kind` is \"auto\" (integers are classes), \"classes\" or \"real\" (regression targets, even whole numbers)"
        )
    )]
    LabelKind(String),
    /// The embedded digits file does not match its checksum.
    #[error("the embedded digits dataset is corrupt (sha256 {found}, expected {expected})")]
    #[diagnostic(code(amm::data::checksum), help("rebuild ammc from a clean checkout"))]
    Checksum {
        /// Digest found.
        found: String,
        /// Digest expected.
        expected: String,
    },
    /// A text file has a malformed value.
    #[error("{file}:{line}:{column}: {message}")]
    #[diagnostic(
        code(amm::data::parse),
        help("fix the file at the line and column shown")
    )]
    Parse {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (field number for CSV).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A compressed or binary file ends early or is damaged.
    #[error("{file}: {message}")]
    #[diagnostic(
        code(amm::data::corrupt),
        help("the file is truncated, damaged or not in the format of its loader; export it again")
    )]
    Corrupt {
        /// File name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Split fractions that do not describe a split.
    #[error("split {fractions:?} is not valid: {reason}")]
    #[diagnostic(
        code(amm::data::split),
        help(
            "give 2 (train, test) or 3 (train, validation, test) positive fractions summing to 1"
        )
    )]
    Split {
        /// As given.
        fractions: Vec<f64>,
        /// Why not.
        reason: String,
    },
    /// A class filter names a class the data does not have.
    #[error("class {class} is not in the dataset (it has classes 0..{classes})")]
    #[diagnostic(
        code(amm::data::classes),
        help("the `classes` filter may only name classes that occur in the labels")
    )]
    UnknownClass {
        /// Requested class.
        class: u32,
        /// Classes present.
        classes: usize,
    },
    /// Unknown normalisation.
    #[error("unknown normalize = {0:?}")]
    #[diagnostic(
        code(amm::data::normalize),
        help("use \"none\", \"scale\" or \"standardize\"")
    )]
    Normalize(String),
    /// CSV rows read as sequences whose feature count is not a multiple of the steps.
    #[error("{file}: {columns} feature columns cannot be read as {steps} steps of equal width")]
    #[diagnostic(
        code(amm::data::steps),
        help(
            "`steps` must divide the number of feature columns (columns are step-major: all features of step 0, then step 1, …)"
        )
    )]
    Steps {
        /// File name.
        file: String,
        /// Feature columns per row.
        columns: usize,
        /// The declared steps.
        steps: usize,
    },
    /// A loader call without a required argument (the resolver normally catches this).
    #[error("`{loader}` needs {argument}")]
    #[diagnostic(
        code(amm::data::argument),
        help("give the loader the path argument it needs")
    )]
    MissingArgument {
        /// Loader name.
        loader: String,
        /// What is missing.
        argument: String,
    },
    /// An I/O failure.
    #[error("{file}: {source}")]
    #[diagnostic(
        code(amm::data::io),
        help("check the path; relative paths start at the directory of the .amm file")
    )]
    Io {
        /// File name.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path names a directory, FIFO, socket or device.
    #[error("{file} is {kind}, not a regular file")]
    #[diagnostic(
        code(amm::data::not_a_file),
        help("give the path of a dataset file; pipes and devices cannot be read as datasets")
    )]
    NotAFile {
        /// File name.
        file: String,
        /// What it is.
        kind: &'static str,
    },
    /// The data would not fit in the memory budget (checked before it is read).
    #[error("{file}: {message}")]
    #[diagnostic(
        code(amm::data::too_large),
        help(
            "use a subset of the data, or raise the process's memory limit (ulimit -v, the cgroup's memory.max) on a machine with the memory"
        )
    )]
    TooLarge {
        /// File name.
        file: String,
        /// Sizes and the limit.
        message: String,
    },
    /// A NaN or infinite value.
    #[error("{file}: {at} is {value}")]
    #[diagnostic(
        code(amm::data::not_finite),
        help(
            "replace or drop missing and infinite values before training (e.g. numpy.nan_to_num); they would make every loss NaN"
        )
    )]
    NotFinite {
        /// File name.
        file: String,
        /// Where (line and column, or element and byte offset).
        at: String,
        /// The value as read.
        value: String,
    },
    /// A value beyond f32's range (it would become infinite).
    #[error("{file}: {at} is {value}, beyond the float32 range (±3.4e38)")]
    #[diagnostic(
        code(amm::data::range),
        help("ammc trains in float32; rescale the data (e.g. standardize it) before saving it")
    )]
    OutOfRange {
        /// File name.
        file: String,
        /// Where (line and column, or element and byte offset).
        at: String,
        /// The value as read.
        value: String,
    },
    /// No samples, or samples holding no value (a 0 dimension, no feature column).
    #[error("{file}: {message}")]
    #[diagnostic(
        code(amm::data::empty_sample),
        help("every sample needs at least one feature: no dimension may be 0")
    )]
    EmptySample {
        /// File name.
        file: String,
        /// The shape or the columns.
        message: String,
    },
}

impl DataError {
    /// The stable code of this error (the `code(…)` miette shows).
    pub fn code(&self) -> &'static str {
        match self {
            DataError::Checksum { .. } => "amm::data::checksum",
            DataError::Parse { .. } => "amm::data::parse",
            DataError::Corrupt { .. } => "amm::data::corrupt",
            DataError::Split { .. } => "amm::data::split",
            DataError::UnknownClass { .. } => "amm::data::classes",
            DataError::Normalize(_) => "amm::data::normalize",
            DataError::MissingArgument { .. } => "amm::data::argument",
            DataError::Io { .. } => "amm::data::io",
            DataError::NotAFile { .. } => "amm::data::not_a_file",
            DataError::TooLarge { .. } => "amm::data::too_large",
            DataError::NotFinite { .. } => "amm::data::not_finite",
            DataError::OutOfRange { .. } => "amm::data::range",
            DataError::EmptySample { .. } => "amm::data::empty_sample",
            DataError::LabelKind(_) => "amm::data::label_kind",
            DataError::Steps { .. } => "amm::data::steps",
        }
    }
}
