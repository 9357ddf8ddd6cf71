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
    #[diagnostic(code(amm::data::parse))]
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
    #[diagnostic(code(amm::data::corrupt))]
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
    #[diagnostic(code(amm::data::classes))]
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
    /// A loader call without a required argument (the resolver normally catches this).
    #[error("`{loader}` needs {argument}")]
    #[diagnostic(code(amm::data::argument))]
    MissingArgument {
        /// Loader name.
        loader: String,
        /// What is missing.
        argument: String,
    },
    /// An I/O failure.
    #[error("{file}: {source}")]
    #[diagnostic(code(amm::data::io))]
    Io {
        /// File name.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
}
