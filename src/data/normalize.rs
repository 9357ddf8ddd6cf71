//! Feature normalisation whose statistics come from the training split only.
//!
//! - `none`: features unchanged.
//! - `scale`: divide every feature by the largest absolute feature value of the training split
//!   (16 for digits, 255 for MNIST), mapping non-negative data into [0, 1]. An all-zero training
//!   split leaves the data unchanged (factor 1).
//! - `standardize`: per feature, subtract the training mean and divide by the training
//!   standard deviation (population, ddof = 0). Features constant on the training split (e.g. the
//!   always-blank corner pixels of digits) are only centred (divisor 1), never divided by zero.
//!
//! The fitted [`Normalizer`] is applied identically to every split — and is returned so that
//! inference on new inputs can apply the same transform. Labels are never normalised.

use super::dataset::Dataset;
use super::error::DataError;

/// Which normalisation to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    /// Leave features unchanged.
    None,
    /// Divide by the training split's largest absolute value.
    #[default]
    Scale,
    /// Per-feature mean/std standardisation with training statistics.
    Standardize,
}

/// A fitted normalisation, ready to apply to any split or new input.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalizer {
    /// No change.
    Identity,
    /// Multiply every value by `1 / divisor`.
    Scale {
        /// The training split's largest absolute value (or 1 if that was 0).
        divisor: f32,
    },
    /// `(x - mean[j]) / std[j]` per feature `j`.
    Standardize {
        /// Per-feature training mean.
        mean: Vec<f32>,
        /// Per-feature training standard deviation (1 where it was 0).
        std: Vec<f32>,
    },
}

impl Normalizer {
    /// Computes the statistics of `kind` on `train`.
    pub fn fit(kind: Normalize, train: &Dataset) -> Normalizer {
        match kind {
            Normalize::None => Normalizer::Identity,
            Normalize::Scale => {
                let max = train
                    .features_slice()
                    .iter()
                    .fold(0f32, |m, &v| m.max(v.abs()));
                Normalizer::Scale {
                    divisor: if max > 0.0 { max } else { 1.0 },
                }
            }
            Normalize::Standardize => {
                let d = train.sample_len();
                let n = train.len().max(1) as f64;
                // f64 accumulators: sums of 60,000 squared pixels overflow f32 precision.
                let mut sum = vec![0f64; d];
                let mut sq = vec![0f64; d];
                for row in train.features_slice().chunks_exact(d) {
                    for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
                        *s += v as f64;
                        *q += (v as f64) * (v as f64);
                    }
                }
                let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
                let std: Vec<f32> = sq
                    .iter()
                    .zip(&mean)
                    .map(|(q, m)| {
                        let var = (q / n - m * m).max(0.0);
                        let s = var.sqrt();
                        // Below this the feature is constant up to rounding noise.
                        if s > 1e-12 * (1.0 + m.abs()) {
                            s as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                Normalizer::Standardize {
                    mean: mean.iter().map(|&m| m as f32).collect(),
                    std,
                }
            }
        }
    }

    /// Normalises one sample (or any number of consecutive samples) in place. For
    /// `Standardize`, `values.len()` must be a multiple of the number of features fitted.
    pub fn apply_slice(&self, values: &mut [f32]) -> Result<(), DataError> {
        match self {
            Normalizer::Identity => {}
            Normalizer::Scale { divisor } => {
                let inv = 1.0 / divisor;
                values.iter_mut().for_each(|v| *v *= inv);
            }
            Normalizer::Standardize { mean, std } => {
                let d = mean.len();
                if d == 0 || !values.len().is_multiple_of(d) {
                    return Err(DataError::Shape {
                        context: "standardize".into(),
                        reason: format!(
                            "fitted on samples of {d} values, applied to {} values",
                            values.len()
                        ),
                    });
                }
                for row in values.chunks_exact_mut(d) {
                    for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                        *v = (*v - m) / s;
                    }
                }
            }
        }
        Ok(())
    }

    /// Normalises every sample of `data` in place. Fails (leaving `data` unchanged) when
    /// `data`'s samples do not have the size the statistics were fitted on.
    pub fn apply(&self, data: &mut Dataset) -> Result<(), DataError> {
        if let Normalizer::Standardize { mean, .. } = self
            && mean.len() != data.sample_len()
        {
            return Err(DataError::Shape {
                context: "standardize".into(),
                reason: format!(
                    "fitted on samples of {} values, applied to samples of {}",
                    mean.len(),
                    data.sample_len()
                ),
            });
        }
        let mut view = data.features_mut();
        match view.as_slice_mut() {
            Some(slice) => self.apply_slice(slice),
            // A Dataset is always contiguous; rows are handled one by one otherwise.
            None => {
                for mut row in view.rows_mut() {
                    let mut tmp: Vec<f32> = row.to_vec();
                    self.apply_slice(&mut tmp)?;
                    row.iter_mut().zip(tmp).for_each(|(v, t)| *v = t);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::Labels;
    use ndarray::{Array2, array};

    fn ds(f: Array2<f32>) -> Dataset {
        let n = f.nrows();
        let d = f.ncols();
        Dataset::new(f, vec![d], Labels::Targets(Array2::zeros((n, 1)))).unwrap()
    }

    #[test]
    fn scale_uses_training_max_abs() {
        let train = ds(array![[0., 8.], [-16., 4.]]);
        let mut other = ds(array![[32., 2.]]);
        let n = Normalizer::fit(Normalize::Scale, &train);
        assert_eq!(n, Normalizer::Scale { divisor: 16.0 });
        n.apply(&mut other).unwrap();
        assert_eq!(other.features_slice(), &[2.0, 0.125]);
        let zero = ds(Array2::zeros((2, 2)));
        assert_eq!(
            Normalizer::fit(Normalize::Scale, &zero),
            Normalizer::Scale { divisor: 1.0 }
        );
    }

    #[test]
    fn standardize_centres_and_handles_constant_features() {
        let mut train = ds(array![[1., 5.], [3., 5.]]);
        let n = Normalizer::fit(Normalize::Standardize, &train);
        assert_eq!(
            n,
            Normalizer::Standardize {
                mean: vec![2.0, 5.0],
                std: vec![1.0, 1.0]
            }
        );
        n.apply(&mut train).unwrap();
        assert_eq!(train.features_slice(), &[-1., 0., 1., 0.]);
        let mut test = ds(array![[4., 7.]]);
        n.apply(&mut test).unwrap();
        let mut wrong = ds(array![[1., 2., 3.]]);
        assert_eq!(
            n.apply(&mut wrong).unwrap_err().code_str(),
            "amm::data::shape"
        );
        assert_eq!(test.features_slice(), &[2., 2.]);
    }
}
