//! Binding the arguments of a `data` block's loader call to a [`DataSpec`].
//!
//! The front end evaluates `data NAME = LOADER(args...)` to a loader name and a list of
//! (optionally named) plain values, and calls [`spec_from_args`]. This keeps argument names,
//! defaults and their validation in one place, next to the loaders (documented in
//! `docs/data.md`). Errors name the loader and argument, so the caller can point at its span.
//!
//! Loaders and their arguments (positional order in brackets):
//! - `builtin.digits` (or `digits`)
//! - `synthetic` [shape, classes, n, seed] — `shape` list of ints, `classes` int, `n` int,
//!   `noise` float, `jitter` float
//! - `csv` [path, label] — `path` str, `label` str (default `"label"`), `features` list of str
//! - `idx` [images, labels] — two paths
//! - `npy` [features, labels] — two paths
//!
//! Common to all: `split` (list of floats), `seed` (int; for `synthetic` it seeds both the
//! generator and the split), `stratify` (bool), `classes` (list of ints: the class filter; for
//! `synthetic` an int is the class count), `normalize` (`"none"`, `"scale"`, `"standardize"`).
//! File loaders also take `label_kind` (`"auto"`, `"classes"`, `"targets"`), `num_classes`
//! (int) and `sample_shape` (list of ints).

use std::path::PathBuf;

use super::csv::CsvSource;
use super::error::DataError;
use super::idx::IdxSource;
use super::labels::{LabelKind, LabelOptions};
use super::normalize::Normalize;
use super::npy::NpySource;
use super::pipeline::{DataSpec, Source};
use super::split::Stratify;
use super::synthetic::SyntheticSpec;

/// A plain value given to a loader.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A string literal.
    Str(String),
    /// A list literal.
    List(Vec<ArgValue>),
}

/// One argument of a loader call: named (`seed = 0`) or positional.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name, or `None` for a positional argument.
    pub name: Option<String>,
    /// The value.
    pub value: ArgValue,
}

impl Arg {
    /// A named argument.
    pub fn named(name: &str, value: ArgValue) -> Self {
        Arg {
            name: Some(name.to_string()),
            value,
        }
    }

    /// A positional argument.
    pub fn positional(value: ArgValue) -> Self {
        Arg { name: None, value }
    }
}

impl ArgValue {
    fn kind(&self) -> &'static str {
        match self {
            ArgValue::Int(_) => "an int",
            ArgValue::Float(_) => "a float",
            ArgValue::Bool(_) => "a bool",
            ArgValue::Str(_) => "a string",
            ArgValue::List(_) => "a list",
        }
    }
}

/// Which loader a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loader {
    Digits,
    Synthetic,
    Csv,
    Idx,
    Npy,
}

const COMMON: &[&str] = &["split", "seed", "stratify", "classes", "normalize"];
const FILE_COMMON: &[&str] = &["label_kind", "num_classes", "sample_shape"];

impl Loader {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "builtin.digits" | "digits" => Loader::Digits,
            "synthetic" | "builtin.synthetic" => Loader::Synthetic,
            "csv" => Loader::Csv,
            "idx" => Loader::Idx,
            "npy" => Loader::Npy,
            _ => return None,
        })
    }

    /// Positional parameter names, in order.
    fn positional(self) -> &'static [&'static str] {
        match self {
            Loader::Digits => &[],
            Loader::Synthetic => &["shape", "classes", "n", "seed"],
            Loader::Csv => &["path", "label"],
            Loader::Idx => &["images", "labels"],
            Loader::Npy => &["features", "labels"],
        }
    }

    /// Loader-specific named parameters (beyond the positional ones and the common ones).
    fn extra(self) -> &'static [&'static str] {
        match self {
            Loader::Digits => &[],
            Loader::Synthetic => &["noise", "jitter"],
            Loader::Csv => &["features"],
            Loader::Idx | Loader::Npy => &[],
        }
    }

    fn accepts(self, name: &str) -> bool {
        self.positional().contains(&name)
            || self.extra().contains(&name)
            || COMMON.contains(&name)
            || (matches!(self, Loader::Csv | Loader::Idx | Loader::Npy)
                && FILE_COMMON.contains(&name))
    }

    fn all_names(self) -> String {
        let mut v: Vec<&str> = self.positional().to_vec();
        v.extend_from_slice(self.extra());
        v.extend_from_slice(COMMON);
        if !matches!(self, Loader::Digits | Loader::Synthetic) {
            v.extend_from_slice(FILE_COMMON);
        }
        v.join(", ")
    }
}

/// Named view of the arguments with typed getters that produce [`DataError::Arg`].
struct Bound<'a> {
    loader: &'a str,
    kind: Loader,
    values: Vec<(&'static str, &'a ArgValue)>,
}

impl<'a> Bound<'a> {
    fn err(&self, arg: &str, reason: String) -> DataError {
        DataError::Arg {
            loader: self.loader.to_string(),
            arg: arg.to_string(),
            reason,
            accepted: self.kind.all_names(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a ArgValue> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn wrong(&self, name: &str, want: &str, got: &ArgValue) -> DataError {
        self.err(name, format!("expected {want}, got {}", got.kind()))
    }

    fn int(&self, name: &str) -> Result<Option<i64>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Int(i)) => Ok(Some(*i)),
            Some(v) => Err(self.wrong(name, "an int", v)),
        }
    }

    fn nonneg(&self, name: &str) -> Result<Option<u64>, DataError> {
        match self.int(name)? {
            None => Ok(None),
            Some(i) => u64::try_from(i)
                .map(Some)
                .map_err(|_| self.err(name, format!("must not be negative, got {i}"))),
        }
    }

    fn float(&self, name: &str) -> Result<Option<f64>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Float(f)) => Ok(Some(*f)),
            Some(ArgValue::Int(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(self.wrong(name, "a number", v)),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(name, "true or false", v)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Str(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(name, "a string", v)),
        }
    }

    fn required_path(&self, name: &str) -> Result<PathBuf, DataError> {
        self.string(name)?
            .map(PathBuf::from)
            .ok_or_else(|| self.err(name, "required".into()))
    }

    fn list(&self, name: &str) -> Result<Option<&'a [ArgValue]>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::List(items)) => Ok(Some(items)),
            Some(v) => Err(self.wrong(name, "a list", v)),
        }
    }

    fn float_list(&self, name: &str) -> Result<Option<Vec<f64>>, DataError> {
        let Some(items) = self.list(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                ArgValue::Float(f) => Ok(*f),
                ArgValue::Int(i) => Ok(*i as f64),
                other => Err(self.wrong(name, "a list of numbers", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn usize_list(&self, name: &str) -> Result<Option<Vec<usize>>, DataError> {
        let Some(items) = self.list(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                ArgValue::Int(i) if *i >= 0 => Ok(*i as usize),
                other => Err(self.err(name, format!("expected non-negative ints, got {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, DataError> {
        let Some(items) = self.list(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                ArgValue::Str(s) => Ok(s.clone()),
                other => Err(self.wrong(name, "a list of strings", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn label_options(&self) -> Result<LabelOptions, DataError> {
        let kind = match self.string("label_kind")?.as_deref() {
            None | Some("auto") => LabelKind::Auto,
            Some("classes") => LabelKind::Classes,
            Some("targets") => LabelKind::Targets,
            Some(other) => {
                return Err(self.err(
                    "label_kind",
                    format!("`{other}` is not one of \"auto\", \"classes\", \"targets\""),
                ));
            }
        };
        let num_classes = match self.nonneg("num_classes")? {
            None => None,
            Some(k) => Some(
                u32::try_from(k)
                    .ok()
                    .filter(|&k| k > 0)
                    .ok_or_else(|| self.err("num_classes", format!("{k} is out of range")))?,
            ),
        };
        Ok(LabelOptions { kind, num_classes })
    }
}

/// Builds a [`DataSpec`] from a loader name and its arguments. Positional arguments fill the
/// loader's positional parameters in order; named ones may come in any order; an argument
/// given twice, unknown, or of the wrong type is an error ([`DataError::Arg`]).
pub fn spec_from_args(loader: &str, args: &[Arg]) -> Result<DataSpec, DataError> {
    let kind = Loader::parse(loader).ok_or_else(|| DataError::Arg {
        loader: loader.to_string(),
        arg: String::new(),
        reason: format!("unknown data loader `{loader}`"),
        accepted: "builtin.digits, synthetic, csv, idx, npy".into(),
    })?;
    let mut bound = Bound {
        loader,
        kind,
        values: Vec::new(),
    };
    let mut next_positional = 0;
    for arg in args {
        let name: &'static str = match &arg.name {
            None => {
                let Some(&n) = kind.positional().get(next_positional) else {
                    return Err(bound.err(
                        "",
                        format!(
                            "too many positional arguments (at most {})",
                            kind.positional().len()
                        ),
                    ));
                };
                next_positional += 1;
                n
            }
            Some(n) => {
                if !kind.accepts(n) {
                    return Err(bound.err(n, "unknown argument".into()));
                }
                // Map to the static name so all lookups share one representation.
                kind.positional()
                    .iter()
                    .chain(kind.extra())
                    .chain(COMMON)
                    .chain(FILE_COMMON)
                    .find(|s| **s == n.as_str())
                    .copied()
                    .ok_or_else(|| bound.err(n, "unknown argument".into()))?
            }
        };
        if bound.get(name).is_some() {
            return Err(bound.err(name, "given more than once".into()));
        }
        bound.values.push((name, &arg.value));
    }

    let seed = bound.nonneg("seed")?;
    // For synthetic, `classes` as an int is the class count, so the filter must be a list.
    let class_filter = match (kind, bound.get("classes")) {
        (Loader::Synthetic, Some(ArgValue::Int(_))) | (_, None) => None,
        (_, Some(ArgValue::List(items))) => Some(
            items
                .iter()
                .map(|v| match v {
                    ArgValue::Int(i) => u32::try_from(*i)
                        .map_err(|_| bound.err("classes", format!("{i} is not a class index"))),
                    other => Err(bound.wrong("classes", "a list of ints", other)),
                })
                .collect::<Result<Vec<u32>, _>>()?,
        ),
        (_, Some(other)) => return Err(bound.wrong("classes", "a list of ints", other)),
    };
    let source = match kind {
        Loader::Digits => Source::BuiltinDigits,
        Loader::Synthetic => {
            let shape = bound
                .usize_list("shape")?
                .ok_or_else(|| bound.err("shape", "required".into()))?;
            let classes = match bound.get("classes") {
                Some(ArgValue::Int(k)) => u32::try_from(*k)
                    .map_err(|_| bound.err("classes", format!("{k} is out of range")))?,
                _ => return Err(bound.err("classes", "the number of classes is required".into())),
            };
            let n = bound
                .nonneg("n")?
                .ok_or_else(|| bound.err("n", "required".into()))?;
            let mut spec = SyntheticSpec::new(shape, classes, n as usize, seed.unwrap_or(0));
            if let Some(noise) = bound.float("noise")? {
                spec.noise = noise as f32;
            }
            if let Some(jitter) = bound.float("jitter")? {
                spec.jitter = jitter as f32;
            }
            Source::Synthetic(spec)
        }
        Loader::Csv => Source::Csv(CsvSource {
            path: bound.required_path("path")?,
            label: bound.string("label")?.unwrap_or_else(|| "label".into()),
            features: bound.string_list("features")?,
            label_options: bound.label_options()?,
            sample_shape: bound.usize_list("sample_shape")?,
        }),
        Loader::Idx => Source::Idx(IdxSource {
            images: bound.required_path("images")?,
            labels: bound.required_path("labels")?,
            label_options: bound.label_options()?,
            sample_shape: bound.usize_list("sample_shape")?,
        }),
        Loader::Npy => Source::Npy(NpySource {
            features: bound.required_path("features")?,
            labels: bound.required_path("labels")?,
            label_options: bound.label_options()?,
            sample_shape: bound.usize_list("sample_shape")?,
        }),
    };
    let mut spec = DataSpec::new(source);
    if let Some(split) = bound.float_list("split")? {
        spec.split = split;
    }
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    spec.stratify = match bound.boolean("stratify")? {
        None => Stratify::Auto,
        Some(true) => Stratify::Yes,
        Some(false) => Stratify::No,
    };
    spec.classes = class_filter;
    spec.normalize = match bound.string("normalize")?.as_deref() {
        None | Some("scale") => Normalize::Scale,
        Some("none") => Normalize::None,
        Some("standardize") => Normalize::Standardize,
        Some(other) => {
            return Err(bound.err(
                "normalize",
                format!("`{other}` is not one of \"none\", \"scale\", \"standardize\""),
            ));
        }
    };
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ArgValue {
        ArgValue::Str(v.into())
    }

    #[test]
    fn digits_with_split_and_seed() {
        let spec = spec_from_args(
            "builtin.digits",
            &[
                Arg::named(
                    "split",
                    ArgValue::List(vec![
                        ArgValue::Float(0.7),
                        ArgValue::Float(0.15),
                        ArgValue::Float(0.15),
                    ]),
                ),
                Arg::named("seed", ArgValue::Int(3)),
                Arg::named(
                    "classes",
                    ArgValue::List(vec![ArgValue::Int(5), ArgValue::Int(6)]),
                ),
                Arg::named("normalize", s("standardize")),
            ],
        )
        .unwrap();
        assert_eq!(spec.source, Source::BuiltinDigits);
        assert_eq!(spec.split, vec![0.7, 0.15, 0.15]);
        assert_eq!(spec.seed, 3);
        assert_eq!(spec.classes, Some(vec![5, 6]));
        assert_eq!(spec.normalize, Normalize::Standardize);
        assert_eq!(spec.stratify, Stratify::Auto);
    }

    #[test]
    fn positional_and_named_mix() {
        let spec = spec_from_args(
            "synthetic",
            &[
                Arg::positional(ArgValue::List(vec![
                    ArgValue::Int(1),
                    ArgValue::Int(28),
                    ArgValue::Int(28),
                ])),
                Arg::positional(ArgValue::Int(10)),
                Arg::named("n", ArgValue::Int(600)),
                Arg::named("noise", ArgValue::Float(0.5)),
            ],
        )
        .unwrap();
        let Source::Synthetic(sy) = spec.source else {
            panic!("synthetic expected")
        };
        assert_eq!(
            (sy.sample_shape, sy.classes, sy.n, sy.noise),
            (vec![1, 28, 28], 10, 600, 0.5)
        );
        let idx = spec_from_args(
            "idx",
            &[Arg::positional(s("a.gz")), Arg::named("labels", s("b.gz"))],
        )
        .unwrap();
        assert!(
            matches!(idx.source, Source::Idx(ref i) if i.labels == std::path::Path::new("b.gz"))
        );
        let csv = spec_from_args(
            "csv",
            &[
                Arg::named("path", s("t.csv")),
                Arg::named("features", ArgValue::List(vec![s("a"), s("b")])),
                Arg::named("label_kind", s("targets")),
            ],
        )
        .unwrap();
        let Source::Csv(c) = csv.source else {
            panic!("csv expected")
        };
        assert_eq!(c.label, "label");
        assert_eq!(c.label_options.kind, LabelKind::Targets);
    }

    #[test]
    fn bad_arguments_are_reported_by_name() {
        let cases: Vec<(&str, Vec<Arg>, &str)> = vec![
            ("mnist", vec![], ""),
            (
                "builtin.digits",
                vec![Arg::named("sed", ArgValue::Int(1))],
                "sed",
            ),
            (
                "builtin.digits",
                vec![Arg::positional(ArgValue::Int(1))],
                "",
            ),
            ("builtin.digits", vec![Arg::named("seed", s("x"))], "seed"),
            (
                "builtin.digits",
                vec![Arg::named("seed", ArgValue::Int(-1))],
                "seed",
            ),
            (
                "builtin.digits",
                vec![
                    Arg::named("seed", ArgValue::Int(1)),
                    Arg::named("seed", ArgValue::Int(2)),
                ],
                "seed",
            ),
            (
                "builtin.digits",
                vec![Arg::named("normalize", s("minmax"))],
                "normalize",
            ),
            ("idx", vec![Arg::named("images", s("a"))], "labels"),
            (
                "synthetic",
                vec![Arg::named("shape", ArgValue::List(vec![]))],
                "classes",
            ),
            (
                "csv",
                vec![Arg::named("path", s("t")), Arg::named("label_kind", s("x"))],
                "label_kind",
            ),
            (
                "builtin.digits",
                vec![Arg::named("num_classes", ArgValue::Int(3))],
                "num_classes",
            ),
        ];
        for (loader, args, arg) in cases {
            match spec_from_args(loader, &args) {
                Err(DataError::Arg { arg: a, .. }) => assert_eq!(a, arg, "{loader} {args:?}"),
                other => panic!("{loader} {args:?}: {other:?}"),
            }
        }
    }
}
