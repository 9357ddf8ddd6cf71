//! Turning the raw label values read from a file into [`Labels`].

use ndarray::Array2;

use super::dataset::{ClassLabels, Labels, MAX_CLASSES};
use super::error::{DataError, SourceName};

/// How the label values of a file are to be interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelKind {
    /// Class indices when the file stores integers (IDX/NPY integer or bool dtype), or — for
    /// CSV and floating-point files — when there is one label column and every value is a
    /// non-negative integer; real targets otherwise.
    #[default]
    Auto,
    /// Class indices: every value must be a non-negative integer below the class count.
    Classes,
    /// Real-valued regression targets.
    Targets,
}

/// Label interpretation options shared by the file loaders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelOptions {
    /// Classes or targets (default: auto-detect, see [`LabelKind::Auto`]).
    pub kind: LabelKind,
    /// Number of classes; default `max(label) + 1`. Labels `>=` this are an error.
    pub num_classes: Option<u32>,
}

/// Raw label values as read from a file, row-major `n × width`.
pub(crate) struct RawLabels<'a> {
    /// The values.
    pub values: Vec<f64>,
    /// Values per sample.
    pub width: usize,
    /// True when the file's element type is an integer or bool type.
    pub integer_typed: bool,
    /// The file, for errors.
    pub file: &'a SourceName,
}

/// Converts raw values into labels. `locate(i)` describes where value `i` lives in the file
/// (e.g. "line 12, column 5" or "label 3 (byte 11)") for error messages.
pub(crate) fn build_labels(
    raw: RawLabels<'_>,
    options: &LabelOptions,
    locate: &dyn Fn(usize) -> String,
) -> Result<Labels, DataError> {
    let n = raw.values.len().checked_div(raw.width).unwrap_or(0);
    let is_class_value = |v: f64| v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64;
    let as_classes = match options.kind {
        LabelKind::Classes => true,
        LabelKind::Targets => false,
        LabelKind::Auto => {
            raw.width == 1 && (raw.integer_typed || raw.values.iter().all(|&v| is_class_value(v)))
        }
    };
    if !as_classes {
        let values: Vec<f32> = raw.values.iter().map(|&v| v as f32).collect();
        let targets =
            Array2::from_shape_vec((n, raw.width), values).map_err(|e| DataError::Shape {
                context: raw.file.to_string(),
                reason: format!("labels: {e}"),
            })?;
        return Ok(Labels::Targets(targets));
    }
    if raw.width != 1 {
        return Err(DataError::Shape {
            context: raw.file.to_string(),
            reason: format!(
                "class labels need one value per sample, found {} per sample",
                raw.width
            ),
        });
    }
    if let Some(k) = options.num_classes
        && !(1..=MAX_CLASSES).contains(&k)
    {
        return Err(DataError::Config {
            what: "number of classes".into(),
            reason: format!("{k} is not in 1..={MAX_CLASSES}"),
        });
    }
    // Without an explicit count, a corrupt label must not imply billions of classes (every
    // per-class table would be that large): labels are bounded by MAX_CLASSES.
    let limit = options.num_classes.unwrap_or(MAX_CLASSES);
    let mut indices = Vec::with_capacity(n);
    for (i, &v) in raw.values.iter().enumerate() {
        if !is_class_value(v) || v >= limit as f64 {
            return Err(DataError::LabelOutOfRange {
                file: raw.file.clone(),
                location: locate(i),
                value: format!("{v}"),
                num_classes: options.num_classes,
            });
        }
        indices.push(v as u32);
    }
    let num_classes = match options.num_classes {
        Some(k) => k,
        None => indices.iter().max().map_or(1, |&m| m + 1),
    };
    Ok(Labels::Classes(ClassLabels::new(indices, num_classes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(values: Vec<f64>, width: usize, integer_typed: bool, f: &SourceName) -> RawLabels<'_> {
        RawLabels {
            values,
            width,
            integer_typed,
            file: f,
        }
    }

    #[test]
    fn auto_detects_classes_and_targets() {
        let f = SourceName::plain("l");
        let loc = |i: usize| format!("#{i}");
        let l = build_labels(
            raw(vec![0., 2., 1.], 1, false, &f),
            &LabelOptions::default(),
            &loc,
        )
        .unwrap();
        assert_eq!(l.as_classes().unwrap().num_classes, 3);
        let t = build_labels(
            raw(vec![0.5, 2., 1.], 1, false, &f),
            &LabelOptions::default(),
            &loc,
        )
        .unwrap();
        assert!(matches!(t, Labels::Targets(ref a) if a.dim() == (3, 1)));
        let wide = build_labels(
            raw(vec![0., 1., 2., 3.], 2, true, &f),
            &LabelOptions::default(),
            &loc,
        )
        .unwrap();
        assert!(matches!(wide, Labels::Targets(ref a) if a.dim() == (2, 2)));
    }

    #[test]
    fn out_of_range_labels_are_errors() {
        let f = SourceName::plain("l");
        let loc = |i: usize| format!("#{i}");
        let opts = LabelOptions {
            kind: LabelKind::Auto,
            num_classes: Some(3),
        };
        let e = build_labels(raw(vec![0., 3.], 1, true, &f), &opts, &loc).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::label_range");
        assert!(e.to_string().contains("#1"), "{e}");
        let neg =
            build_labels(raw(vec![-1.], 1, true, &f), &LabelOptions::default(), &loc).unwrap_err();
        assert_eq!(neg.code_str(), "amm::data::label_range");
        // A huge label without an explicit class count is rejected, not turned into 4e9 classes.
        let huge = build_labels(
            raw(vec![0., 4e9], 1, true, &f),
            &LabelOptions::default(),
            &loc,
        )
        .unwrap_err();
        assert_eq!(huge.code_str(), "amm::data::label_range");
        let too_many = LabelOptions {
            kind: LabelKind::Classes,
            num_classes: Some(u32::MAX),
        };
        let e = build_labels(raw(vec![0.], 1, true, &f), &too_many, &loc).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::config");
        let frac = LabelOptions {
            kind: LabelKind::Classes,
            num_classes: None,
        };
        let e = build_labels(raw(vec![0.5], 1, false, &f), &frac, &loc).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::label_range");
    }
}
