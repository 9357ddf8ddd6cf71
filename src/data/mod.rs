//! The data layer: datasets, loaders, splits, normalisation, batching, and the file formats
//! ammc reads and writes (CSV, IDX, NPY, safetensors), with atomic writes.
//!
//! Entry point for a `data` block: build a [`DataSpec`] and call [`prepare`]. Training loops
//! iterate with [`BatchLoader`]. Weights go through [`safetensors`], arrays through
//! [`npy::write`]. Every error is a [`DataError`] with a stable `amm::data::*` code.
//! `docs/data.md` describes the loaders, defaults and semantics.

pub mod args;
pub mod atomic;
pub mod batch;
pub mod csv;
pub mod dataset;
pub mod digits;
pub mod element;
pub mod error;
pub mod filter;
pub mod idx;
pub mod labels;
pub mod normalize;
pub mod npy;
pub mod pipeline;
pub mod safetensors;
pub mod source;
pub mod split;
pub mod synthetic;

pub use args::{Arg, ArgValue, spec_from_args};
pub use atomic::write_atomic;
pub use batch::{Batch, BatchLabels, BatchLoader};
pub use csv::CsvSource;
pub use dataset::{ClassLabels, Dataset, Labels};
pub use error::{DataError, SourceName};
pub use filter::filter_classes;
pub use idx::IdxSource;
pub use labels::{LabelKind, LabelOptions};
pub use normalize::{Normalize, Normalizer};
pub use npy::NpySource;
pub use pipeline::{DataSpec, PreparedData, Source, load_source, prepare, prepare_dataset};
pub use split::{Stratify, split};
pub use synthetic::{SyntheticSpec, synthetic};
