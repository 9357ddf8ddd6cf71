//! Data: datasets as flat `f32` features with a per-sample shape and class or real labels;
//! the shipped digits, synthetic data, file loaders; deterministic splits, normalisation and
//! mini-batches; safetensors and atomic file writes for run outputs.

mod adding;
pub mod atomic;
mod digits;
mod error;
pub mod files;
pub mod safetensors;
mod split;
mod synthetic;

use std::path::Path;

pub use error::DataError;
pub use split::{Normalization, Normalize, Splits, epoch_order};

use std::collections::BTreeMap;

use crate::resolve::Value;

/// A dataset loader call with its arguments evaluated (built by the shape checker).
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// The name of the `data` block.
    pub name: String,
    /// Loader (`builtin.digits`, `synthetic`, `csv`, …).
    pub loader: String,
    /// Arguments by name, defaults filled in.
    pub args: BTreeMap<String, Value>,
}

/// Labels of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// Class indices in `0..classes`.
    Classes {
        /// One per sample.
        ids: Vec<u32>,
        /// Number of classes.
        classes: usize,
    },
    /// Real targets, `width` per sample.
    Values {
        /// Row-major `[n, width]`.
        values: Vec<f32>,
        /// Targets per sample.
        width: usize,
    },
}

/// A dataset in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Row-major `[n, product(sample_shape)]`.
    pub features: Vec<f32>,
    /// Shape of one sample (CHW for images).
    pub sample_shape: Vec<usize>,
    /// Labels.
    pub labels: Labels,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match &self.labels {
            Labels::Classes { ids, .. } => ids.len(),
            Labels::Values { values, width } => values.len() / (*width).max(1),
        }
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Target values of sample `i` as f32 (the class index for classification).
    pub fn target(&self, i: usize, out: &mut Vec<f32>) {
        match &self.labels {
            Labels::Classes { ids, .. } => out.push(ids[i] as f32),
            Labels::Values { values, width } => {
                out.extend_from_slice(&values[i * width..(i + 1) * width])
            }
        }
    }

    /// The subset at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let per = self.sample_len();
        let mut features = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            features.extend_from_slice(&self.features[i * per..(i + 1) * per]);
        }
        let labels = match &self.labels {
            Labels::Classes { ids, classes } => Labels::Classes {
                ids: indices.iter().map(|i| ids[*i]).collect(),
                classes: *classes,
            },
            Labels::Values { values, width } => Labels::Values {
                values: indices
                    .iter()
                    .flat_map(|i| values[i * width..(i + 1) * width].iter().copied())
                    .collect(),
                width: *width,
            },
        };
        Dataset {
            features,
            sample_shape: self.sample_shape.clone(),
            labels,
        }
    }
}

fn arg_list(spec: &DataSpec, name: &str) -> Option<Vec<f64>> {
    match spec.args.get(name) {
        Some(Value::List(v)) => v.iter().map(Value::as_f64).collect(),
        _ => None,
    }
}

/// What the shape checker needs to know of a dataset: one sample's shape and the labels' kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Description {
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
    /// Class count (classification) or targets per sample (regression).
    pub labels: LabelKind,
}

/// The kind of labels a dataset has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// This many classes.
    Classes(usize),
    /// This many real targets per sample.
    Values(usize),
}

impl From<&Labels> for LabelKind {
    fn from(l: &Labels) -> Self {
        match l {
            Labels::Classes { classes, .. } => LabelKind::Classes(*classes),
            Labels::Values { width, .. } => LabelKind::Values(*width),
        }
    }
}

/// What `label_kind` declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelDecl {
    /// Integer-valued single labels are classes, anything else real targets.
    Auto,
    /// Class indices; real-valued labels are an error.
    Classes,
    /// Real targets, even when every value is a whole number.
    Real,
}

impl LabelDecl {
    /// The declaration of `spec` (`auto` when absent).
    pub fn of(spec: &DataSpec) -> Result<LabelDecl, DataError> {
        match spec.args.get("label_kind") {
            None => Ok(LabelDecl::Auto),
            Some(Value::Str(s)) => match s.as_str() {
                "auto" => Ok(LabelDecl::Auto),
                "classes" => Ok(LabelDecl::Classes),
                "real" => Ok(LabelDecl::Real),
                other => Err(DataError::LabelKind(format!(
                    "unknown label_kind {other:?} in `{}`",
                    spec.name
                ))),
            },
            Some(_) => Err(DataError::LabelKind(format!(
                "label_kind of `{}` must be a string",
                spec.name
            ))),
        }
    }

    /// Labels of the declared kind.
    fn apply(self, labels: Labels, data: &str) -> Result<Labels, DataError> {
        match (self, labels) {
            (LabelDecl::Real, Labels::Classes { ids, .. }) => Ok(Labels::Values {
                values: ids.iter().map(|&i| i as f32).collect(),
                width: 1,
            }),
            (LabelDecl::Classes, Labels::Values { values, width }) => {
                let bad = values
                    .iter()
                    .position(|v| v.fract() != 0.0 || *v < 0.0 || *v >= (1 << 24) as f32);
                match (width, bad) {
                    (1, None) => {
                        let ids: Vec<u32> = values.iter().map(|&v| v as u32).collect();
                        let classes = ids.iter().max().map_or(0, |m| *m as usize + 1);
                        Ok(Labels::Classes { ids, classes })
                    }
                    (1, Some(i)) => Err(DataError::LabelKind(format!(
                        "`{data}` declares class labels, but label {i} is {}",
                        values[i]
                    ))),
                    (w, _) => Err(DataError::LabelKind(format!(
                        "`{data}` declares class labels, but each sample has {w} targets"
                    ))),
                }
            }
            (_, labels) => Ok(labels),
        }
    }

    fn apply_kind(self, kind: LabelKind, data: &str) -> Result<LabelKind, DataError> {
        match (self, kind) {
            (LabelDecl::Real, LabelKind::Classes(_)) => Ok(LabelKind::Values(1)),
            (LabelDecl::Classes, LabelKind::Values(w)) => Err(DataError::LabelKind(format!(
                "`{data}` declares class labels, but its labels are real values ({w} per sample)"
            ))),
            (_, k) => Ok(k),
        }
    }
}

/// Describes a dataset without loading large feature files: IDX and NPY features are read
/// up to their headers; labels (small) and everything else are read whole.
pub fn describe(spec: &DataSpec, base_dir: &Path) -> Result<Description, DataError> {
    let decl = LabelDecl::of(spec)?;
    let mut d = describe_as_found(spec, base_dir)?;
    d.labels = decl.apply_kind(d.labels, &spec.name)?;
    Ok(d)
}

fn describe_as_found(spec: &DataSpec, base_dir: &Path) -> Result<Description, DataError> {
    let path = |name: &str| match spec.args.get(name) {
        Some(Value::Str(p)) => Ok(base_dir.join(p)),
        _ => Err(DataError::MissingArgument {
            loader: spec.loader.clone(),
            argument: name.to_string(),
        }),
    };
    match spec.loader.as_str() {
        "idx" => {
            let (h, labels) = files::idx_describe(&path("images")?, &path("labels")?)?;
            Ok(Description {
                sample_shape: h.sample_shape,
                labels: (&labels).into(),
            })
        }
        "npy" => {
            let (h, labels) = files::npy_describe(&path("features")?, &path("labels")?)?;
            Ok(Description {
                sample_shape: as_sequences(spec, h.sample_shape),
                labels: (&labels).into(),
            })
        }
        _ => {
            let s = load(spec, base_dir)?;
            Ok(Description {
                sample_shape: s.train.sample_shape.clone(),
                labels: (&s.train.labels).into(),
            })
        }
    }
}

/// Loads, filters, splits and normalises the dataset a `data` block describes. Relative
/// paths are resolved against `base_dir` (the directory of the `.amm` file).
pub fn load(spec: &DataSpec, base_dir: &Path) -> Result<Splits, DataError> {
    let data = load_whole(spec, base_dir)?;
    let fractions = arg_list(spec, "split").unwrap_or_else(|| vec![0.7, 0.15, 0.15]);
    let normalize = match spec.args.get("normalize") {
        Some(Value::Str(s)) => Normalize::parse(s)?,
        _ => Normalize::None,
    };
    let mut splits = split::split(&data, &fractions, seed_of(spec))?;
    splits.normalize(normalize);
    Ok(splits)
}

/// A 3-D NPY array `[n, T, F]` declared `as = "sequences"` keeps its axes: sequences
/// `[T, F]` rather than single-channel images `[1, T, F]` (the row-major data is the same).
fn as_sequences(spec: &DataSpec, shape: Vec<usize>) -> Vec<usize> {
    let sequences = matches!(spec.args.get("as"), Some(Value::Str(s)) if s == "sequences");
    match shape.as_slice() {
        [1, t, f] if sequences => vec![*t, *f],
        _ => shape,
    }
}

fn seed_of(spec: &DataSpec) -> u64 {
    spec.args
        .get("seed")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as u64
}

/// Loads and filters every sample of the dataset a `data` block describes, raw: not split
/// and not normalised (evaluating a model on another dataset applies the model's own
/// normalisation).
pub fn load_whole(spec: &DataSpec, base_dir: &Path) -> Result<Dataset, DataError> {
    let seed = seed_of(spec);
    let mut data = match spec.loader.as_str() {
        "builtin.digits" => {
            let mut d = digits::load()?;
            // Row by row: the 8 rows of an image are 8 time steps of 8 pixels; the
            // row-major layout of [1, 8, 8] already is that of [8, 8].
            if matches!(spec.args.get("as"), Some(Value::Str(s)) if s == "rows") {
                d.sample_shape = vec![8, 8];
            }
            d
        }
        "builtin.adding" => {
            let int = |name: &str, default: i64| {
                spec.args
                    .get(name)
                    .and_then(Value::as_i64)
                    .unwrap_or(default)
                    .max(1) as usize
            };
            adding::generate(int("n", 2000), int("steps", 50), seed)
        }
        "synthetic" => {
            let shape: Vec<usize> = arg_list(spec, "shape")
                .unwrap_or_default()
                .iter()
                .map(|d| *d as usize)
                .collect();
            let classes = spec
                .args
                .get("classes")
                .and_then(Value::as_i64)
                .unwrap_or(2)
                .max(2) as usize;
            let n = spec
                .args
                .get("n")
                .and_then(Value::as_i64)
                .unwrap_or(1000)
                .max(1) as usize;
            synthetic::generate(&shape, classes, n, seed)
        }
        loader => {
            let path = |name: &str| match spec.args.get(name) {
                Some(Value::Str(p)) => Ok(base_dir.join(p)),
                _ => Err(DataError::MissingArgument {
                    loader: loader.to_string(),
                    argument: name.to_string(),
                }),
            };
            match loader {
                "csv" => {
                    let label = match spec.args.get("label") {
                        Some(Value::Str(l)) => l.clone(),
                        _ => String::new(),
                    };
                    let mut d = files::csv(&path("path")?, &label)?;
                    if let Some(steps) = spec.args.get("steps").and_then(Value::as_i64) {
                        let columns = d.sample_len();
                        let steps = steps.max(1) as usize;
                        if !columns.is_multiple_of(steps) {
                            return Err(DataError::Steps {
                                file: path("path")?.display().to_string(),
                                columns,
                                steps,
                            });
                        }
                        // Row-major: the row's columns are step-major already.
                        d.sample_shape = vec![steps, columns / steps];
                    }
                    d
                }
                "idx" => files::idx(&path("images")?, &path("labels")?)?,
                "npy" => {
                    let mut d = files::npy(&path("features")?, &path("labels")?)?;
                    d.sample_shape = as_sequences(spec, d.sample_shape);
                    d
                }
                other => {
                    return Err(DataError::MissingArgument {
                        loader: other.to_string(),
                        argument: "a known loader".into(),
                    });
                }
            }
        }
    };
    data.labels = LabelDecl::of(spec)?.apply(data.labels, &spec.name)?;
    if let Some(keep) = arg_list(spec, "classes").filter(|_| spec.loader != "synthetic") {
        data = split::keep_classes(&data, &keep.iter().map(|c| *c as u32).collect::<Vec<_>>())?;
    }
    Ok(data)
}
