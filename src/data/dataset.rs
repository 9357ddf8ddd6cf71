//! The in-memory dataset: a feature matrix, the shape of one sample, and labels.

use ndarray::{Array2, Axis};

use super::error::DataError;

/// The largest number of classes a dataset may have (2^24). Per-class tables (counts,
/// stratification, a classifier's output layer) are sized by the class count, so this bounds
/// what a corrupt label file can make us allocate.
pub const MAX_CLASSES: u32 = 1 << 24;

/// Class labels: one class index per sample, all below `num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassLabels {
    /// Class index of each sample.
    pub indices: Vec<u32>,
    /// Number of classes; every index is `< num_classes`.
    pub num_classes: u32,
    /// For each class index, the label it had in the source file. Identity (`[0, 1, ...]`) after
    /// loading; `classes = [5, 6, 7, 8, 9]` turns it into `[5, 6, 7, 8, 9]` so reports can show
    /// the original digit.
    pub source_classes: Vec<u32>,
}

impl ClassLabels {
    /// Class labels with identity `source_classes`; fails if an index is `>= num_classes`.
    pub fn new(indices: Vec<u32>, num_classes: u32) -> Result<Self, DataError> {
        if num_classes == 0 || num_classes > MAX_CLASSES {
            return Err(DataError::Config {
                what: "number of classes".into(),
                reason: format!("{num_classes} is not in 1..={MAX_CLASSES}"),
            });
        }
        if let Some((i, &c)) = indices.iter().enumerate().find(|&(_, &c)| c >= num_classes) {
            return Err(DataError::Shape {
                context: "class labels".into(),
                reason: format!("sample {i} has class {c}, not below {num_classes} classes"),
            });
        }
        Ok(ClassLabels {
            indices,
            num_classes,
            source_classes: (0..num_classes).collect(),
        })
    }

    /// Number of samples of each class (length `num_classes`).
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes as usize];
        for &c in &self.indices {
            counts[c as usize] += 1;
        }
        counts
    }
}

/// What a sample is to be mapped to.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// Classification: an integer class per sample.
    Classes(ClassLabels),
    /// Regression: `n × k` real-valued targets.
    Targets(Array2<f32>),
}

impl Labels {
    /// Number of samples labelled.
    pub fn len(&self) -> usize {
        match self {
            Labels::Classes(c) => c.indices.len(),
            Labels::Targets(t) => t.nrows(),
        }
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class labels, if these are class labels.
    pub fn as_classes(&self) -> Option<&ClassLabels> {
        match self {
            Labels::Classes(c) => Some(c),
            Labels::Targets(_) => None,
        }
    }

    /// The labels of the samples at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Labels {
        match self {
            Labels::Classes(c) => Labels::Classes(ClassLabels {
                indices: rows.iter().map(|&r| c.indices[r]).collect(),
                num_classes: c.num_classes,
                source_classes: c.source_classes.clone(),
            }),
            Labels::Targets(t) => Labels::Targets(t.select(Axis(0), rows)),
        }
    }
}

/// A labelled dataset held in memory.
///
/// Invariants (checked by [`Dataset::new`]): `features` is `n × product(sample_shape)` in
/// standard (row-major, contiguous) layout, so row `i` is sample `i` flattened in the order of
/// `sample_shape` (for images: channel, height, width); `labels` has `n` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Array2<f32>,
    sample_shape: Vec<usize>,
    labels: Labels,
}

impl Dataset {
    /// Builds a dataset, checking the invariants above. Non-contiguous feature arrays are made
    /// contiguous (copied) so batches can be borrowed as plain slices.
    pub fn new(
        features: Array2<f32>,
        sample_shape: Vec<usize>,
        labels: Labels,
    ) -> Result<Self, DataError> {
        let per_sample = sample_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| DataError::Shape {
                context: "dataset".into(),
                reason: format!("sample shape {sample_shape:?} overflows"),
            })?;
        if per_sample == 0 {
            return Err(DataError::Shape {
                context: "dataset".into(),
                reason: format!("sample shape {sample_shape:?} holds no values"),
            });
        }
        if sample_shape.is_empty() || per_sample != features.ncols() {
            return Err(DataError::Shape {
                context: "dataset".into(),
                reason: format!(
                    "sample shape {sample_shape:?} holds {per_sample} values but each sample has {}",
                    features.ncols()
                ),
            });
        }
        if labels.len() != features.nrows() {
            return Err(DataError::Shape {
                context: "dataset".into(),
                reason: format!("{} samples but {} labels", features.nrows(), labels.len()),
            });
        }
        let features = if features.is_standard_layout() {
            features
        } else {
            features.as_standard_layout().into_owned()
        };
        Ok(Dataset {
            features,
            sample_shape,
            labels,
        })
    }

    /// The `n × product(sample_shape)` feature matrix (contiguous, row-major).
    pub fn features(&self) -> &Array2<f32> {
        &self.features
    }

    /// The features as one contiguous slice, sample after sample.
    pub fn features_slice(&self) -> &[f32] {
        // Standard layout is an invariant of the type, so this is always `Some`; an empty
        // slice is a harmless fallback that the invariant makes unreachable.
        self.features.as_slice().unwrap_or(&[])
    }

    /// Mutable access to the features for in-place transforms (normalisation). The shape
    /// cannot change through this reference's `ArrayViewMut`.
    pub fn features_mut(&mut self) -> ndarray::ArrayViewMut2<'_, f32> {
        self.features.view_mut()
    }

    /// The shape of one sample, e.g. `[1, 8, 8]` (channels, height, width) for digits.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// Number of values per sample (`product(sample_shape)`).
    pub fn sample_len(&self) -> usize {
        self.features.ncols()
    }

    /// The labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.nrows()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes, for class labels.
    pub fn num_classes(&self) -> Option<u32> {
        self.labels.as_classes().map(|c| c.num_classes)
    }

    /// The samples at `rows` (indices must be `< len()`), in that order.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        Dataset {
            features: self.features.select(Axis(0), rows),
            sample_shape: self.sample_shape.clone(),
            labels: self.labels.select(rows),
        }
    }

    /// Reinterprets each sample with another shape of the same size (e.g. `[64]` → `[1, 8, 8]`).
    pub fn reshape_samples(mut self, sample_shape: Vec<usize>) -> Result<Self, DataError> {
        let per_sample: Option<usize> = sample_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        if sample_shape.is_empty() || per_sample != Some(self.sample_len()) {
            return Err(DataError::Shape {
                context: "sample_shape".into(),
                reason: format!(
                    "{sample_shape:?} does not hold the {} values of each sample ({:?})",
                    self.sample_len(),
                    self.sample_shape
                ),
            });
        }
        self.sample_shape = sample_shape;
        Ok(self)
    }

    /// Splits the dataset into its parts.
    pub fn into_parts(self) -> (Array2<f32>, Vec<usize>, Labels) {
        (self.features, self.sample_shape, self.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_shapes() {
        let f = Array2::<f32>::zeros((3, 4));
        let l = Labels::Classes(ClassLabels::new(vec![0, 1, 0], 2).unwrap());
        assert!(Dataset::new(f.clone(), vec![2, 2], l.clone()).is_ok());
        assert!(Dataset::new(f.clone(), vec![3], l.clone()).is_err());
        assert!(Dataset::new(f.clone(), vec![], l.clone()).is_err());
        let empty = Array2::<f32>::zeros((3, 0));
        assert!(Dataset::new(empty, vec![0], l.clone()).is_err());
        let short = Labels::Classes(ClassLabels::new(vec![0, 1], 2).unwrap());
        assert!(Dataset::new(f, vec![4], short).is_err());
        assert!(ClassLabels::new(vec![0, 2], 2).is_err());
    }

    #[test]
    fn non_contiguous_features_are_made_contiguous() {
        let f = Array2::<f32>::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32);
        let t = f.t().to_owned(); // to_owned keeps the transposed (Fortran) layout
        let l = Labels::Targets(Array2::zeros((3, 1)));
        let d = Dataset::new(t, vec![2], l).unwrap();
        assert_eq!(d.features_slice(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn select_and_reshape() {
        let f = Array2::<f32>::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32);
        let l = Labels::Classes(ClassLabels::new(vec![0, 1, 2], 3).unwrap());
        let d = Dataset::new(f, vec![4], l).unwrap();
        let s = d.select(&[2, 0]);
        assert_eq!(s.features_slice(), &[8., 9., 10., 11., 0., 1., 2., 3.]);
        assert_eq!(s.labels().as_classes().unwrap().indices, vec![2, 0]);
        let r = s.reshape_samples(vec![1, 2, 2]).unwrap();
        assert_eq!(r.sample_shape(), &[1, 2, 2]);
        assert!(r.reshape_samples(vec![3]).is_err());
    }
}
