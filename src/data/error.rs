//! The error type of the data layer.
//!
//! Every failure a user's file, path or configuration can cause is a [`DataError`] variant with a
//! stable diagnostic code `amm::data::<kind>`, the file it concerns, and the byte offset (binary
//! formats) or line and column (CSV) where the problem was found. Offsets into gzip files count
//! bytes of the *decompressed* stream; the file name then says so (see [`SourceName`]).

use std::fmt;
use std::path::{Path, PathBuf};

/// How a file is named in error messages: its path, plus whether offsets refer to the
/// decompressed contents of a gzip file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceName {
    /// The path as given by the user (or a pseudo path such as `<builtin digits>`).
    pub path: PathBuf,
    /// True when the bytes were gunzipped, so byte offsets refer to the decompressed stream.
    pub gunzipped: bool,
}

impl SourceName {
    /// A plain (not compressed) source.
    pub fn plain(path: impl Into<PathBuf>) -> Self {
        SourceName {
            path: path.into(),
            gunzipped: false,
        }
    }

    /// The path of the source.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.gunzipped {
            write!(f, " (gunzipped)")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while loading, splitting, batching or writing data.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DataError {
    /// A file named in a data block does not exist.
    #[error("data file not found: {path}")]
    #[diagnostic(
        code(amm::data::not_found),
        help("relative paths in a data block are resolved against the directory of the .amm file")
    )]
    NotFound {
        /// The path that was looked up (after resolving against the base directory).
        path: PathBuf,
    },

    /// Reading or writing a file failed for a reason other than its absence.
    #[error("I/O error on {path}: {source}")]
    #[diagnostic(code(amm::data::io))]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A gzip-compressed file could not be decompressed (corrupt or cut short).
    #[error("{path}: corrupt or truncated gzip stream: {source}")]
    #[diagnostic(
        code(amm::data::gzip),
        help("check the download: `gzip -t FILE` reports the same problem")
    )]
    Gzip {
        /// The compressed file.
        path: PathBuf,
        /// The decompressor's error.
        #[source]
        source: std::io::Error,
    },

    /// The file ends before the data its header announces (or before the header itself).
    #[error(
        "{file}: truncated: {what} needs bytes {offset}..{}, but the data ends at byte {}",
        .offset + .needed,
        .offset + .available
    )]
    #[diagnostic(
        code(amm::data::truncated),
        help("the file was probably cut short by an interrupted download or copy; fetch it again")
    )]
    Truncated {
        /// The file concerned.
        file: SourceName,
        /// Byte offset where the missing part starts.
        offset: u64,
        /// What was being read (e.g. "IDX dimensions", "pixel data").
        what: String,
        /// Bytes needed from `offset`.
        needed: u64,
        /// Bytes present from `offset`.
        available: u64,
    },

    /// The file is longer than its header announces.
    #[error("{file}: {extra} unexpected trailing bytes after the data ending at byte {offset}")]
    #[diagnostic(
        code(amm::data::trailing_data),
        help(
            "the header's dimensions do not match the file; the file may be corrupt or of another format"
        )
    )]
    TrailingData {
        /// The file concerned.
        file: SourceName,
        /// Byte offset where the announced data ends.
        offset: u64,
        /// Number of bytes after that.
        extra: u64,
    },

    /// The file does not start with the magic bytes of the expected format.
    #[error("{file}: bad magic bytes at byte 0: expected {expected}, found {found}")]
    #[diagnostic(
        code(amm::data::bad_magic),
        help(
            "is this the right file for this loader? (IDX files start with 00 00, NPY with \\x93NUMPY)"
        )
    )]
    BadMagic {
        /// The file concerned.
        file: SourceName,
        /// Description of the expected magic.
        expected: String,
        /// Hex dump of the bytes found.
        found: String,
    },

    /// The header is malformed (unparsable, inconsistent or absurd).
    #[error("{file}: bad header at byte {offset}: {reason}")]
    #[diagnostic(code(amm::data::bad_header))]
    BadHeader {
        /// The file concerned.
        file: SourceName,
        /// Byte offset of the offending header field.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// The element type stored in the file is not supported.
    #[error("{file}: unsupported element type {dtype} (header byte {offset})")]
    #[diagnostic(code(amm::data::dtype), help("{supported}"))]
    UnsupportedDtype {
        /// The file concerned.
        file: SourceName,
        /// Byte offset of the type code in the header.
        offset: u64,
        /// The type found.
        dtype: String,
        /// The types that are supported.
        supported: String,
    },

    /// Features and labels disagree on the number of samples.
    #[error("{features} holds {n_features} samples but {labels} holds {n_labels} labels")]
    #[diagnostic(
        code(amm::data::count_mismatch),
        help(
            "the image/feature file and the label file must come from the same set (e.g. both train or both t10k)"
        )
    )]
    CountMismatch {
        /// The feature (image) file.
        features: PathBuf,
        /// Samples in the feature file.
        n_features: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels in the label file.
        n_labels: usize,
    },

    /// A class label is negative, not an integer, or not below the number of classes.
    #[error(
        "{file}: label {value} at {location} is not a class index ({})",
        match .num_classes {
            Some(k) => format!("an integer in 0..={}", k.saturating_sub(1)),
            None => format!("a non-negative integer below {}", super::dataset::MAX_CLASSES),
        }
    )]
    #[diagnostic(
        code(amm::data::label_range),
        help(
            "class labels must be integers 0..classes-1; raise `classes`, or use `labels = \"targets\"` for real-valued targets"
        )
    )]
    LabelOutOfRange {
        /// The file concerned.
        file: SourceName,
        /// Where: "sample N (byte B)" or "line L, column C".
        location: String,
        /// The offending value as text.
        value: String,
        /// The number of classes, when it was given.
        num_classes: Option<u32>,
    },

    /// A CSV field could not be parsed as a finite number.
    #[error("{file}:{line}:{column}: cannot parse `{field}` as a number: {reason}")]
    #[diagnostic(
        code(amm::data::csv_parse),
        help(
            "every selected column must hold finite numbers; choose feature columns with `features = [...]`"
        )
    )]
    CsvParse {
        /// The file concerned.
        file: SourceName,
        /// 1-based line number.
        line: usize,
        /// 1-based column (byte position within the line) where the field starts.
        column: usize,
        /// The field text.
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A CSV row has a different number of fields than the header.
    #[error("{file}:{line}: row has {found} fields but the header has {expected}")]
    #[diagnostic(code(amm::data::csv_columns))]
    CsvColumns {
        /// The file concerned.
        file: SourceName,
        /// 1-based line number.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },

    /// A CSV column named in the data block is not in the header (or is ambiguous).
    #[error("{file}:1: {problem} column `{name}`")]
    #[diagnostic(code(amm::data::csv_column), help("the header has: {available}"))]
    CsvColumn {
        /// The file concerned.
        file: SourceName,
        /// "no", "duplicate" or "label used as feature".
        problem: String,
        /// The column name asked for.
        name: String,
        /// The header's column names, comma separated.
        available: String,
    },

    /// A CSV file has a malformed quoted field.
    #[error("{file}:{line}:{column}: {reason}")]
    #[diagnostic(code(amm::data::csv_syntax))]
    CsvSyntax {
        /// The file concerned.
        file: SourceName,
        /// 1-based line number.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        reason: String,
    },

    /// Embedded data does not match its recorded checksum.
    #[error("checksum mismatch for {name}: expected sha256 {expected}, got {actual}")]
    #[diagnostic(
        code(amm::data::checksum),
        help("the ammc binary is corrupt or was built from modified data files; reinstall it")
    )]
    Checksum {
        /// The data set name.
        name: String,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the bytes present.
        actual: String,
    },

    /// Array dimensions do not fit (sample shape, label rank, empty data...).
    #[error("{context}: {reason}")]
    #[diagnostic(code(amm::data::shape))]
    Shape {
        /// The file or operation concerned.
        context: String,
        /// What is wrong.
        reason: String,
    },

    /// Split fractions are invalid.
    #[error("invalid split {fractions:?}: {reason}")]
    #[diagnostic(
        code(amm::data::split),
        help(
            "give 1 to 3 positive fractions (train, val, test) summing to 1, e.g. [0.8, 0.2] or [0.7, 0.15, 0.15]"
        )
    )]
    Split {
        /// The fractions given.
        fractions: Vec<f64>,
        /// What is wrong.
        reason: String,
    },

    /// The class filter (`classes = [...]`) cannot be applied.
    #[error("invalid class filter {classes:?}: {reason}")]
    #[diagnostic(code(amm::data::class_filter))]
    ClassFilter {
        /// The classes asked for.
        classes: Vec<u32>,
        /// What is wrong.
        reason: String,
    },

    /// A loader argument in a `data` block is unknown, missing, repeated or of the wrong type.
    #[error(
        "{loader}: {}{reason}",
        if .arg.is_empty() { String::new() } else { format!("argument `{}`: ", .arg) }
    )]
    #[diagnostic(code(amm::data::arg), help("`{loader}` accepts: {accepted}"))]
    Arg {
        /// The loader called (e.g. `idx`).
        loader: String,
        /// The argument concerned (empty for a positional argument or the loader itself).
        arg: String,
        /// What is wrong.
        reason: String,
        /// The argument names the loader accepts.
        accepted: String,
    },

    /// A configuration value is invalid (batch size 0, zero classes, ...).
    #[error("invalid {what}: {reason}")]
    #[diagnostic(code(amm::data::config))]
    Config {
        /// The setting concerned.
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// A safetensors file is corrupt or inconsistent.
    #[error("{file}: invalid safetensors file: {reason}")]
    #[diagnostic(
        code(amm::data::safetensors),
        help("the file may be truncated or not a safetensors file; re-export the weights")
    )]
    Safetensors {
        /// The file concerned.
        file: SourceName,
        /// What is wrong.
        reason: String,
    },

    /// A safetensors tensor has an element type other than F32.
    #[error("{file}: tensor `{tensor}` has dtype {dtype}; only F32 is supported")]
    #[diagnostic(
        code(amm::data::safetensors_dtype),
        help(
            "convert the weights to float32 before loading, e.g. `{{k: v.astype(np.float32)}}` in Python"
        )
    )]
    SafetensorsDtype {
        /// The file concerned.
        file: SourceName,
        /// The tensor name.
        tensor: String,
        /// Its dtype.
        dtype: String,
    },
}

impl DataError {
    /// Maps an I/O error on `path` to [`DataError::NotFound`] or [`DataError::Io`].
    pub fn from_io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// The stable diagnostic code of this error (e.g. `amm::data::truncated`).
    pub fn code_str(&self) -> String {
        use miette::Diagnostic;
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }
}
