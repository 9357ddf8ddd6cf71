//! The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015), a synthetic
//! long-range regression task for sequence models. A sample is `T` steps of two features:
//! a value drawn uniformly from [0, 1) and a marker that is 1 at exactly two steps — one in
//! the first half, one in the second — and 0 elsewhere. The target is the sum of the two
//! marked values. Predicting the mean target (1.0) has an expected squared error of 1/6;
//! a model must pair each value with its own step's marker across the whole sequence to do
//! better, which the mean over time of the features does not preserve.
//! Deterministic in the seed (ChaCha8).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Labels};

/// Generates `n` sequences of `steps` steps (`steps ≥ 2`), sample shape `[steps, 2]`.
pub fn generate(n: usize, steps: usize, seed: u64) -> Dataset {
    let steps = steps.max(2);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xadd1_4e55_add1_4e55);
    let half = steps / 2;
    let mut features = Vec::with_capacity(n * steps * 2);
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let first = rng.random_range(0..half);
        let second = rng.random_range(half..steps);
        let mut target = 0f32;
        for t in 0..steps {
            let v: f32 = rng.random();
            let marked = t == first || t == second;
            if marked {
                target += v;
            }
            features.push(v);
            features.push(if marked { 1.0 } else { 0.0 });
        }
        values.push(target);
    }
    Dataset {
        features,
        sample_shape: vec![steps, 2],
        labels: Labels::Values { values, width: 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_markers_one_per_half_and_the_target_is_their_sum() {
        let d = generate(50, 10, 7);
        assert_eq!(d.sample_shape, vec![10, 2]);
        let Labels::Values { values, width: 1 } = &d.labels else {
            panic!("regression labels")
        };
        for (i, target) in values.iter().enumerate() {
            let s = &d.features[i * 20..(i + 1) * 20];
            let marked: Vec<usize> = (0..10).filter(|t| s[2 * t + 1] == 1.0).collect();
            assert_eq!(marked.len(), 2, "sample {i}");
            assert!(marked[0] < 5 && marked[1] >= 5, "sample {i}: {marked:?}");
            let sum: f32 = marked.iter().map(|t| s[2 * t]).sum();
            assert_eq!(sum, *target);
            assert!(s.iter().step_by(2).all(|v| (0.0..1.0).contains(v)));
        }
        assert_eq!(generate(50, 10, 7), d, "same seed, same data");
        assert_ne!(generate(50, 10, 8).features, d.features);
    }
}
