//! The whole data pipeline of one `data` block: load → filter classes → split → normalise.
//!
//! The lead's front end turns `data NAME = LOADER(args...)` into a [`DataSpec`] and calls
//! [`prepare`]; everything here is plain Rust configuration, independent of the AST.

use std::path::{Path, PathBuf};

use super::csv::{self, CsvSource};
use super::dataset::Dataset;
use super::digits;
use super::error::DataError;
use super::filter::filter_classes;
use super::idx::{self, IdxSource};
use super::normalize::{Normalize, Normalizer};
use super::npy::{self, NpySource};
use super::split::{Stratify, split};
use super::synthetic::{self, SyntheticSpec};

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `builtin.digits`: the embedded 8×8 digits.
    BuiltinDigits,
    /// `synthetic(shape, classes, n, seed)`: generated, learnable class patterns.
    Synthetic(SyntheticSpec),
    /// `csv(path, label, features)`: a numeric CSV with a header row.
    Csv(CsvSource),
    /// `idx(images, labels)`: an MNIST-style IDX pair.
    Idx(IdxSource),
    /// `npy(features, labels)`: a pair of NumPy arrays.
    Npy(NpySource),
}

/// Everything a `data` block specifies.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// The loader and its arguments.
    pub source: Source,
    /// Split fractions: `[train]`, `[train, val]` or `[train, val, test]` (default `[0.8, 0.2]`).
    pub split: Vec<f64>,
    /// Seed of the split permutation (default 0).
    pub seed: u64,
    /// Stratification (default: stratify class labels).
    pub stratify: Stratify,
    /// Keep only these classes, renumbered in list order (default: all).
    pub classes: Option<Vec<u32>>,
    /// Feature normalisation (default: scale).
    pub normalize: Normalize,
}

impl DataSpec {
    /// A spec with the defaults: split `[0.8, 0.2]`, seed 0, stratified for classes, all classes,
    /// `scale` normalisation.
    pub fn new(source: Source) -> Self {
        DataSpec {
            source,
            split: vec![0.8, 0.2],
            seed: 0,
            stratify: Stratify::Auto,
            classes: None,
            normalize: Normalize::Scale,
        }
    }
}

/// The result of [`prepare`]: the splits, normalised, and the fitted normaliser.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedData {
    /// The training split (first fraction).
    pub train: Dataset,
    /// The validation split (second fraction), if any.
    pub val: Option<Dataset>,
    /// The test split (third fraction), if any.
    pub test: Option<Dataset>,
    /// The normalisation fitted on `train` and applied to all splits.
    pub normalizer: Normalizer,
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Loads the samples of `source`; relative paths are resolved against `base_dir` (the
/// directory of the `.amm` file).
pub fn load_source(source: &Source, base_dir: &Path) -> Result<Dataset, DataError> {
    match source {
        Source::BuiltinDigits => digits::load(),
        Source::Synthetic(spec) => synthetic::generate(spec),
        Source::Csv(c) => csv::load(&CsvSource {
            path: resolve(base_dir, &c.path),
            ..c.clone()
        }),
        Source::Idx(s) => idx::load(&IdxSource {
            images: resolve(base_dir, &s.images),
            labels: resolve(base_dir, &s.labels),
            ..s.clone()
        }),
        Source::Npy(s) => npy::load(&NpySource {
            features: resolve(base_dir, &s.features),
            labels: resolve(base_dir, &s.labels),
            ..s.clone()
        }),
    }
}

/// Runs the pipeline on an already-loaded dataset: filter classes, split, normalise.
pub fn prepare_dataset(data: Dataset, spec: &DataSpec) -> Result<PreparedData, DataError> {
    // Validate the split before any (possibly costly) work on the data.
    super::split::validate_fractions(&spec.split)?;
    let data = match &spec.classes {
        Some(classes) => filter_classes(&data, classes)?,
        None => data,
    };
    if data.is_empty() {
        return Err(DataError::Shape {
            context: "dataset".into(),
            reason: "no samples".into(),
        });
    }
    let mut parts = split(&data, &spec.split, spec.seed, spec.stratify)?.into_iter();
    let (Some(mut train), mut val, mut test) = (parts.next(), parts.next(), parts.next()) else {
        return Err(DataError::Split {
            fractions: spec.split.clone(),
            reason: "no training split".into(),
        });
    };
    // An empty part would make every metric on it undefined; say so now, not mid-training.
    for (name, part) in [
        ("train", Some(&train)),
        ("val", val.as_ref()),
        ("test", test.as_ref()),
    ] {
        if part.is_some_and(|p| p.is_empty()) {
            return Err(DataError::Split {
                fractions: spec.split.clone(),
                reason: format!(
                    "the {name} part of {} samples would be empty; use more data or larger fractions",
                    data.len()
                ),
            });
        }
    }
    let normalizer = Normalizer::fit(spec.normalize, &train);
    normalizer.apply(&mut train)?;
    for part in [val.as_mut(), test.as_mut()].into_iter().flatten() {
        normalizer.apply(part)?;
    }
    Ok(PreparedData {
        train,
        val,
        test,
        normalizer,
    })
}

/// Loads, filters, splits and normalises the data a spec describes.
pub fn prepare(spec: &DataSpec, base_dir: &Path) -> Result<PreparedData, DataError> {
    super::split::validate_fractions(&spec.split)?;
    let data = load_source(&spec.source, base_dir)?;
    prepare_dataset(data, spec)
}
