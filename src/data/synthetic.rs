//! Synthetic, learnable classification data of any sample shape.
//!
//! How a dataset is generated (all randomness from one `ChaCha8Rng::seed_from_u64(seed)`):
//!
//! 1. **Prototypes.** Each class gets a smooth pattern: in each channel, the sum of
//!    [`BUMPS`] Gaussian bumps with random centres (uniform over the sample), random widths
//!    (0.12..0.3 of each axis) and random heights (0.5..1.0). Axes are taken as spatial
//!    coordinates scaled to [0, 1]; for shapes of 3 or more axes the first is the channel axis
//!    (each channel gets its own bumps), so `[1, 28, 28]` gives one blob image per class and
//!    `[16]` a smooth 1-D profile.
//! 2. **Labels.** Sample `i` gets class `i mod classes`, then the labels are shuffled, so the
//!    class counts are balanced exactly (they differ by at most one).
//! 3. **Samples.** Each sample is its class pattern, translated by a random whole number of
//!    cells along every spatial axis (up to `⌊jitter · length⌋` either way; default
//!    [`DEFAULT_JITTER`] = 1/8, so ±1 cell on 8×8, ±3 on 28×28; the pattern is evaluated
//!    beyond the sample's edges, so nothing wraps around; only samples with 2 or more spatial
//!    axes are translated — a 1-D sample is a feature vector and stays in place), scaled by an intensity
//!    `a ~ U(0.8, 1.2)`, plus independent Gaussian noise of standard deviation `noise`
//!    (default [`DEFAULT_NOISE`]) on every value. The normals come from a 65,536-entry
//!    inverse-CDF table indexed by 16 random bits, which keeps generation cheap (60,000 × 784
//!    values take well under a second in release builds) and exactly reproducible.
//!
//! The translations make the task more than template matching: a nearest-class-mean
//! classifier does well but not perfectly, while models that learn translation-robust
//! features (a small CNN, or an MLP with enough data) do better. With `jitter = 0` samples are
//! noisy copies of the prototypes returned by [`prototypes`].

use std::sync::OnceLock;

use ndarray::Array2;
use rand::{Rng, RngCore, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::dataset::{ClassLabels, Dataset, Labels};
use super::error::DataError;

/// Gaussian bumps per class and channel.
pub const BUMPS: usize = 3;

/// Default standard deviation of the additive noise (prototype values are in about 0..1.5).
pub const DEFAULT_NOISE: f32 = 0.3;

/// Default largest translation, as a fraction of each spatial axis.
pub const DEFAULT_JITTER: f32 = 0.125;

/// Largest dataset generated, in values (2^31 `f32` = 8 GiB): a typo such as
/// `n = 60_000_000_000` must be an error, not an out-of-memory kill.
pub const MAX_VALUES: usize = 1 << 31;

/// What synthetic data to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Shape of one sample, e.g. `[1, 28, 28]` or `[20]`.
    pub sample_shape: Vec<usize>,
    /// Number of classes (at least 1).
    pub classes: u32,
    /// Number of samples.
    pub n: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Standard deviation of the additive Gaussian noise (0 = noiseless).
    pub noise: f32,
    /// Largest random translation as a fraction of each spatial axis, in [0, 0.5]
    /// (0 = patterns never move).
    pub jitter: f32,
}

impl SyntheticSpec {
    /// A spec with the default noise and jitter.
    pub fn new(sample_shape: Vec<usize>, classes: u32, n: usize, seed: u64) -> Self {
        SyntheticSpec {
            sample_shape,
            classes,
            n,
            seed,
            noise: DEFAULT_NOISE,
            jitter: DEFAULT_JITTER,
        }
    }
}

/// Generates `n` samples of `shape` in `classes` classes with the default noise and jitter.
pub fn synthetic(shape: &[usize], classes: u32, n: usize, seed: u64) -> Result<Dataset, DataError> {
    generate(&SyntheticSpec::new(shape.to_vec(), classes, n, seed))
}

fn config_error(what: &str, reason: String) -> DataError {
    DataError::Config {
        what: format!("synthetic {what}"),
        reason,
    }
}

/// Checks the spec; returns the number of values per sample.
fn validate(spec: &SyntheticSpec) -> Result<usize, DataError> {
    if spec.sample_shape.is_empty() || spec.sample_shape.contains(&0) {
        return Err(config_error(
            "shape",
            format!(
                "{:?} must be non-empty with positive sizes",
                spec.sample_shape
            ),
        ));
    }
    if spec.classes == 0 {
        return Err(config_error("classes", "must be at least 1".into()));
    }
    if spec.n == 0 {
        return Err(config_error("n", "must be at least 1".into()));
    }
    if !(spec.noise.is_finite() && spec.noise >= 0.0) {
        return Err(config_error(
            "noise",
            format!("{} must be finite and >= 0", spec.noise),
        ));
    }
    if !(0.0..=0.5).contains(&spec.jitter) {
        return Err(config_error(
            "jitter",
            format!("{} must be in [0, 0.5]", spec.jitter),
        ));
    }
    let d = spec
        .sample_shape
        .iter()
        .try_fold(1usize, |a, &x| a.checked_mul(x));
    let total = d.and_then(|d| d.checked_mul(spec.n));
    match (d, total) {
        (Some(d), Some(t)) if t <= MAX_VALUES => Ok(d),
        _ => Err(config_error(
            "size",
            format!(
                "{} samples of {:?} exceed the limit of {MAX_VALUES} values (8 GiB)",
                spec.n, spec.sample_shape
            ),
        )),
    }
}

/// The geometry of a sample: channels, spatial axes, and the margins added for translation.
struct Layout {
    channels: usize,
    spatial: Vec<usize>,
    /// Largest translation per spatial axis, in cells.
    margin: Vec<usize>,
    /// Spatial axes of the padded pattern (`spatial + 2 · margin`).
    padded: Vec<usize>,
}

impl Layout {
    fn new(spec: &SyntheticSpec) -> Self {
        let shape = &spec.sample_shape;
        // Channel axis only for 3+ axes; everything else is spatial.
        let (channels, spatial) = if shape.len() >= 3 {
            (shape[0], shape[1..].to_vec())
        } else {
            (1, shape.clone())
        };
        // Only image-like samples (2+ spatial axes) move; a 1-D sample is a feature vector
        // whose positions mean something fixed.
        let margin: Vec<usize> = spatial
            .iter()
            .map(|&len| {
                if spatial.len() >= 2 {
                    (len as f32 * spec.jitter).floor() as usize
                } else {
                    0
                }
            })
            .collect();
        let padded = spatial
            .iter()
            .zip(&margin)
            .map(|(l, m)| l + 2 * m)
            .collect();
        Layout {
            channels,
            spatial,
            margin,
            padded,
        }
    }

    fn padded_per_channel(&self) -> usize {
        self.padded.iter().product()
    }
}

/// The class patterns on the padded grid (`classes × channels · prod(padded)`), drawn first
/// from `rng`.
fn draw_patterns(spec: &SyntheticSpec, layout: &Layout, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let ppc = layout.padded_per_channel();
    let spatial = &layout.spatial;
    let mut protos = Array2::<f32>::zeros((spec.classes as usize, layout.channels * ppc));
    let mut coords = vec![0f32; spatial.len()];
    for c in 0..spec.classes as usize {
        for ch in 0..layout.channels {
            let bumps: Vec<(Vec<f32>, Vec<f32>, f32)> = (0..BUMPS)
                .map(|_| {
                    let centre: Vec<f32> = spatial.iter().map(|_| rng.random::<f32>()).collect();
                    let width: Vec<f32> = spatial
                        .iter()
                        .map(|_| rng.random_range(0.12f32..0.3))
                        .collect();
                    (centre, width, rng.random_range(0.5f32..1.0))
                })
                .collect();
            for p in 0..ppc {
                // Unravel p on the padded grid into coordinates of the unpadded sample
                // (cell centres of the sample are in [0, 1]; margins fall outside).
                let mut rem = p;
                for axis in (0..spatial.len()).rev() {
                    let q = rem % layout.padded[axis];
                    rem /= layout.padded[axis];
                    coords[axis] =
                        (q as f32 - layout.margin[axis] as f32 + 0.5) / spatial[axis] as f32;
                }
                let v: f32 = bumps
                    .iter()
                    .map(|(centre, width, height)| {
                        let r2: f32 = coords
                            .iter()
                            .zip(centre)
                            .zip(width)
                            .map(|((x, m), w)| ((x - m) / w).powi(2))
                            .sum();
                        height * (-0.5 * r2).exp()
                    })
                    .sum();
                protos[[c, ch * ppc + p]] = v;
            }
        }
    }
    protos
}

/// Calls `f(dst_start, src_start, len)` for every contiguous run (one per position of the
/// leading spatial axes) copying a window of the padded pattern, offset by `offset` cells per
/// axis, into a sample channel.
fn for_each_run(layout: &Layout, offset: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let dims = layout.spatial.len();
    let last = layout.spatial[dims - 1];
    let rows: usize = layout.spatial[..dims - 1].iter().product();
    let mut pstride = vec![1usize; dims];
    for a in (0..dims - 1).rev() {
        pstride[a] = pstride[a + 1] * layout.padded[a + 1];
    }
    let mut coord = vec![0usize; dims.saturating_sub(1)];
    for r in 0..rows {
        let mut src = offset[dims - 1];
        for a in 0..dims - 1 {
            src += (coord[a] + offset[a]) * pstride[a];
        }
        f(r * last, src, last);
        // Odometer over the leading axes.
        for a in (0..dims - 1).rev() {
            coord[a] += 1;
            if coord[a] < layout.spatial[a] {
                break;
            }
            coord[a] = 0;
        }
    }
}

/// The class prototypes a spec generates (`classes × product(shape)`): each class's noiseless,
/// untranslated pattern, e.g. for nearest-prototype baselines.
pub fn prototypes(spec: &SyntheticSpec) -> Result<Array2<f32>, DataError> {
    let d = validate(spec)?;
    let layout = Layout::new(spec);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let padded = draw_patterns(spec, &layout, &mut rng);
    let per_channel = d / layout.channels;
    let ppc = layout.padded_per_channel();
    let mut out = Array2::<f32>::zeros((spec.classes as usize, d));
    for c in 0..spec.classes as usize {
        for ch in 0..layout.channels {
            for_each_run(&layout, &layout.margin, |dst, src, len| {
                for k in 0..len {
                    out[[c, ch * per_channel + dst + k]] = padded[[c, ch * ppc + src + k]];
                }
            });
        }
    }
    Ok(out)
}

/// Generates a synthetic dataset (see the module documentation for the recipe).
pub fn generate(spec: &SyntheticSpec) -> Result<Dataset, DataError> {
    let d = validate(spec)?;
    let layout = Layout::new(spec);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let patterns = draw_patterns(spec, &layout, &mut rng);
    let k = spec.classes;
    let mut labels: Vec<u32> = (0..spec.n).map(|i| (i % k as usize) as u32).collect();
    labels.shuffle(&mut rng);
    let table = normal_table();
    let per_channel = d / layout.channels;
    let ppc = layout.padded_per_channel();
    let mut features = vec![0f32; spec.n * d];
    let noise = spec.noise;
    let mut offset = vec![0usize; layout.spatial.len()];
    let (mut bits, mut left) = (0u64, 0u32);
    for (row, &class) in features.chunks_exact_mut(d).zip(&labels) {
        let a: f32 = rng.random_range(0.8f32..1.2);
        for (o, &m) in offset.iter_mut().zip(&layout.margin) {
            *o = if m == 0 {
                0
            } else {
                rng.random_range(0..=2 * m)
            };
        }
        let pattern = patterns.row(class as usize);
        let pattern = pattern.as_slice().unwrap_or(&[]);
        for ch in 0..layout.channels {
            let dst_ch = &mut row[ch * per_channel..(ch + 1) * per_channel];
            let src_ch = &pattern[ch * ppc..(ch + 1) * ppc];
            for_each_run(&layout, &offset, |dst, src, len| {
                for (x, &p) in dst_ch[dst..dst + len]
                    .iter_mut()
                    .zip(&src_ch[src..src + len])
                {
                    // 4 normals per 64 random bits.
                    if left == 0 {
                        bits = rng.next_u64();
                        left = 4;
                    }
                    let z = table[(bits & 0xFFFF) as usize];
                    bits >>= 16;
                    left -= 1;
                    *x = a * p + noise * z;
                }
            });
        }
    }
    let features = Array2::from_shape_vec((spec.n, d), features).map_err(|e| DataError::Shape {
        context: "synthetic".into(),
        reason: e.to_string(),
    })?;
    Dataset::new(
        features,
        spec.sample_shape.clone(),
        Labels::Classes(ClassLabels::new(labels, k)?),
    )
}

/// Standard normal quantiles at the midpoints of 65,536 equal-probability cells.
fn normal_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..65536)
            .map(|i| inverse_normal_cdf((i as f64 + 0.5) / 65536.0) as f32)
            .collect()
    })
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for `p` in (0, 1).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_table_has_unit_moments() {
        let t = normal_table();
        let mean: f64 = t.iter().map(|&v| v as f64).sum::<f64>() / t.len() as f64;
        let var: f64 = t.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / t.len() as f64;
        assert!(mean.abs() < 1e-6, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        assert!((inverse_normal_cdf(0.975) - 1.959964).abs() < 1e-5);
        assert!((inverse_normal_cdf(0.001) + 3.090232).abs() < 1e-5);
    }

    #[test]
    fn deterministic_and_balanced() {
        let a = synthetic(&[1, 6, 6], 4, 103, 9).unwrap();
        let b = synthetic(&[1, 6, 6], 4, 103, 9).unwrap();
        assert_eq!(a, b);
        let c = synthetic(&[1, 6, 6], 4, 103, 10).unwrap();
        assert_ne!(a.features(), c.features());
        let counts = a.labels().as_classes().unwrap().counts();
        assert_eq!(counts, vec![26, 26, 26, 25]);
        assert_eq!(a.sample_shape(), &[1, 6, 6]);
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(synthetic(&[], 2, 10, 0).is_err());
        assert!(synthetic(&[3, 0], 2, 10, 0).is_err());
        assert!(synthetic(&[3], 0, 10, 0).is_err());
        assert!(synthetic(&[3], 2, 0, 0).is_err());
        assert!(synthetic(&[usize::MAX, 2], 2, 10, 0).is_err());
        assert!(synthetic(&[1, 28, 28], 10, 60_000_000_000, 0).is_err());
        assert!(synthetic(&[1, 28, 28], 10, 3_000_000, 0).is_err());
        let mut s = SyntheticSpec::new(vec![2], 2, 2, 0);
        s.noise = f32::NAN;
        assert_eq!(generate(&s).unwrap_err().code_str(), "amm::data::config");
        let mut s = SyntheticSpec::new(vec![2], 2, 2, 0);
        s.jitter = 0.6;
        assert_eq!(generate(&s).unwrap_err().code_str(), "amm::data::config");
    }

    #[test]
    fn zero_jitter_and_noise_reproduce_scaled_prototypes() {
        let mut s = SyntheticSpec::new(vec![2, 5, 7], 3, 20, 4);
        s.noise = 0.0;
        s.jitter = 0.0;
        let d = generate(&s).unwrap();
        let p = prototypes(&s).unwrap();
        let labels = &d.labels().as_classes().unwrap().indices;
        for (row, &c) in d.features_slice().chunks_exact(70).zip(labels) {
            let proto = p.row(c as usize);
            let a = row[0] / proto[0];
            assert!((0.8..1.2).contains(&a));
            for (x, q) in row.iter().zip(proto) {
                assert!((x - a * q).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn jitter_translates_the_pattern_without_wrapping() {
        // One row of 16 cells, jitter 1/8: shifts of -2..=2 cells along the row.
        let mut s = SyntheticSpec::new(vec![1, 16], 1, 200, 8);
        s.noise = 0.0;
        let d = generate(&s).unwrap();
        let mut padded_spec = s.clone();
        padded_spec.jitter = 0.0;
        let proto = prototypes(&padded_spec).unwrap();
        let mut shifts_seen = std::collections::BTreeSet::new();
        for row in d.features_slice().chunks_exact(16) {
            // Find the shift t with row[i] ∝ proto[i - t] on the overlap.
            let best = (-2i32..=2)
                .min_by(|&t1, &t2| {
                    let err = |t: i32| -> f32 {
                        let a = row[8] / proto[[0, (8 - t) as usize]];
                        (4..12)
                            .map(|i| (row[i] - a * proto[[0, (i as i32 - t) as usize]]).abs())
                            .sum()
                    };
                    err(t1).total_cmp(&err(t2))
                })
                .unwrap();
            shifts_seen.insert(best);
        }
        assert_eq!(shifts_seen.len(), 5, "{shifts_seen:?}");
    }
}
