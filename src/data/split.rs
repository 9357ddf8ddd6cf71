//! Deterministic stratified splits, class filters, normalisation and mini-batch order.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset, Labels};

/// Feature normalisation, fitted on the training split only and applied to every split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// Leave features as they are.
    None,
    /// Divide by the largest absolute training value (digits: 16 → [0, 1]).
    Scale,
    /// Per feature: subtract the training mean, divide by the training std (1 where 0).
    Standardize,
}

impl Normalize {
    /// Parses the `normalize` argument.
    pub fn parse(s: &str) -> Result<Normalize, DataError> {
        match s {
            "none" => Ok(Normalize::None),
            "scale" => Ok(Normalize::Scale),
            "standardize" => Ok(Normalize::Standardize),
            other => Err(DataError::Normalize(other.to_string())),
        }
    }
}

/// A normalisation fitted on a training split: feature `j` becomes `(x - shift[j]) * scale[j]`.
/// Written into `model.safetensors` so predictions on raw inputs see what training saw.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// `scale` or `standardize`.
    pub kind: String,
    /// Subtracted from each feature (one per feature of a sample).
    pub shift: Vec<f32>,
    /// Multiplies each shifted feature.
    pub scale: Vec<f32>,
}

impl Normalization {
    /// Features per sample it was fitted on.
    pub fn len(&self) -> usize {
        self.shift.len()
    }

    /// True when fitted on samples without features (never for a loaded dataset).
    pub fn is_empty(&self) -> bool {
        self.shift.is_empty()
    }

    /// Normalises row-major samples in place, with the same f32 operations training used
    /// (so predictions on raw inputs equal those on the normalised splits bit for bit).
    pub fn apply(&self, features: &mut [f32]) {
        let per = self.len().max(1);
        for row in features.chunks_mut(per) {
            for ((v, shift), scale) in row.iter_mut().zip(&self.shift).zip(&self.scale) {
                *v = (*v - shift) * scale;
            }
        }
    }
}

/// Train / validation / test parts of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// Training split.
    pub train: Dataset,
    /// Validation split (present with three fractions).
    pub val: Option<Dataset>,
    /// Test split.
    pub test: Option<Dataset>,
    /// The normalisation fitted on `train` and applied to every split (`None`: raw).
    pub normalization: Option<Normalization>,
}

impl Splits {
    /// Applies a normalisation fitted on the training split.
    pub fn normalize(&mut self, how: Normalize) {
        let per = self.train.sample_len();
        let (kind, (shift, scale)): (&str, (Vec<f32>, Vec<f32>)) = match how {
            Normalize::None => return,
            Normalize::Scale => ("scale", {
                let m = self.train.features.iter().fold(0f32, |a, v| a.max(v.abs()));
                let s = if m > 0.0 { 1.0 / m } else { 1.0 };
                (vec![0.0; per], vec![s; per])
            }),
            Normalize::Standardize => ("standardize", {
                let n = self.train.len().max(1) as f64;
                let mut mean = vec![0f64; per];
                let mut sq = vec![0f64; per];
                for row in self.train.features.chunks(per.max(1)) {
                    for (j, v) in row.iter().enumerate() {
                        mean[j] += f64::from(*v);
                        sq[j] += f64::from(*v) * f64::from(*v);
                    }
                }
                let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
                let inv: Vec<f32> = sq
                    .iter()
                    .zip(&mean)
                    .map(|(s, m)| {
                        let var = (s / n - m * m).max(0.0);
                        if var > 1e-12 {
                            (1.0 / var.sqrt()) as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (mean.iter().map(|m| *m as f32).collect(), inv)
            }),
        };
        let fitted = Normalization {
            kind: kind.to_string(),
            shift,
            scale,
        };
        for d in [Some(&mut self.train), self.val.as_mut(), self.test.as_mut()]
            .into_iter()
            .flatten()
        {
            fitted.apply(&mut d.features);
        }
        self.normalization = Some(fitted);
    }
}

/// Keeps the samples of the listed classes and renumbers them `0..k` in the listed order.
pub fn keep_classes(d: &Dataset, keep: &[u32]) -> Result<Dataset, DataError> {
    let Labels::Classes { ids, classes } = &d.labels else {
        return Ok(d.clone());
    };
    if let Some(bad) = keep.iter().find(|c| **c as usize >= *classes) {
        return Err(DataError::UnknownClass {
            class: *bad,
            classes: *classes,
        });
    }
    let indices: Vec<usize> = (0..ids.len()).filter(|i| keep.contains(&ids[*i])).collect();
    let mut out = d.select(&indices);
    if let Labels::Classes { ids, classes } = &mut out.labels {
        for id in ids.iter_mut() {
            *id = keep.iter().position(|c| c == id).unwrap_or(0) as u32;
        }
        *classes = keep.len();
    }
    Ok(out)
}

/// Splits by fractions after a seeded shuffle, stratified by class for class labels: each
/// class is divided in the same proportions (rounding down, remainders to train), so small
/// splits keep the class balance.
pub fn split(d: &Dataset, fractions: &[f64], seed: u64) -> Result<Splits, DataError> {
    let bad = |reason: &str| DataError::Split {
        fractions: fractions.to_vec(),
        reason: reason.into(),
    };
    if !(2..=3).contains(&fractions.len()) {
        return Err(bad("expected 2 or 3 fractions"));
    }
    if fractions.iter().any(|f| !(*f > 0.0 && *f < 1.0)) {
        return Err(bad("every fraction must be in (0, 1)"));
    }
    if (fractions.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(bad("the fractions must sum to 1"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups: Vec<Vec<usize>> = match &d.labels {
        Labels::Classes { ids, classes } => (0..*classes as u32)
            .map(|c| (0..ids.len()).filter(|i| ids[*i] == c).collect())
            .collect(),
        Labels::Values { .. } => vec![(0..d.len()).collect()],
    };
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); fractions.len()];
    for mut g in groups {
        g.shuffle(&mut rng);
        let n = g.len();
        let mut start = 0;
        // Later parts take floor(fraction·n); the first (train) takes the rest.
        let sizes: Vec<usize> = fractions
            .iter()
            .map(|f| (f * n as f64).floor() as usize)
            .collect();
        let train = n - sizes[1..].iter().sum::<usize>();
        for (k, size) in std::iter::once(train)
            .chain(sizes[1..].iter().copied())
            .enumerate()
        {
            parts[k].extend_from_slice(&g[start..start + size]);
            start += size;
        }
    }
    for p in parts.iter_mut() {
        p.shuffle(&mut rng);
    }
    if parts.iter().any(Vec::is_empty) {
        return Err(bad(&format!(
            "a split would be empty with {} samples",
            d.len()
        )));
    }
    let mut it = parts.into_iter().map(|p| d.select(&p));
    let train = it.next().ok_or_else(|| bad("no training split"))?;
    let (val, test) = if fractions.len() == 3 {
        (it.next(), it.next())
    } else {
        (None, it.next())
    };
    Ok(Splits {
        train,
        val,
        test,
        normalization: None,
    })
}

/// The order of training samples in epoch `epoch` (seeded by the run seed and the epoch).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::digits;

    #[test]
    fn stratified_and_deterministic() {
        let d = digits::load().unwrap();
        let s = split(&d, &[0.7, 0.15, 0.15], 0).unwrap();
        assert_eq!(
            s.train.len() + s.val.as_ref().unwrap().len() + s.test.as_ref().unwrap().len(),
            1797
        );
        let Labels::Classes { ids, .. } = &s.test.as_ref().unwrap().labels else {
            panic!()
        };
        let mut counts = [0; 10];
        ids.iter().for_each(|c| counts[*c as usize] += 1);
        assert!(counts.iter().all(|c| (26..=27).contains(c)), "{counts:?}");
        assert_eq!(split(&d, &[0.7, 0.15, 0.15], 0).unwrap(), s);
        assert_ne!(split(&d, &[0.7, 0.15, 0.15], 1).unwrap().train, s.train);
        assert!(split(&d, &[0.5, 0.6], 0).is_err());
        assert!(split(&d, &[1.0], 0).is_err());
    }

    #[test]
    fn class_filter_renumbers() {
        let d = digits::load().unwrap();
        let high = keep_classes(&d, &[5, 6, 7, 8, 9]).unwrap();
        let Labels::Classes { ids, classes } = &high.labels else {
            panic!()
        };
        assert_eq!(*classes, 5);
        assert!(ids.iter().all(|c| *c < 5));
        assert!(keep_classes(&d, &[12]).is_err());
    }

    #[test]
    fn normalisation_uses_training_statistics() {
        let d = digits::load().unwrap();
        let mut s = split(&d, &[0.8, 0.2], 0).unwrap();
        s.normalize(Normalize::Scale);
        assert_eq!(s.train.features.iter().copied().fold(0f32, f32::max), 1.0);
        let mut s = split(&d, &[0.8, 0.2], 0).unwrap();
        s.normalize(Normalize::Standardize);
        let per = 64;
        let n = s.train.len() as f32;
        let mean: f32 = s.train.features.iter().skip(20).step_by(per).sum::<f32>() / n;
        assert!(mean.abs() < 1e-4, "{mean}");
    }
}
