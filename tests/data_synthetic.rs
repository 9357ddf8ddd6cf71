//! Synthetic data is learnable: a nearest-class-mean classifier fitted on the training split
//! scores far above chance on the validation split (computed here, not assumed).

use ammc::data::synthetic::{SyntheticSpec, generate, prototypes};
use ammc::data::{Dataset, Stratify, split, synthetic};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Accuracy on `test` of the classifier "closest class mean of `train`".
fn nearest_mean_accuracy(train: &Dataset, test: &Dataset, shuffle_train_labels: bool) -> f64 {
    let d = train.sample_len();
    let tc = train.labels().as_classes().unwrap();
    let k = tc.num_classes as usize;
    let mut labels = tc.indices.clone();
    if shuffle_train_labels {
        // Permuting the labels destroys the feature/label association.
        labels.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
    }
    let mut means = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    for (row, &c) in train.features_slice().chunks_exact(d).zip(&labels) {
        counts[c as usize] += 1;
        for (m, &v) in means[c as usize * d..(c as usize + 1) * d]
            .iter_mut()
            .zip(row)
        {
            *m += v as f64;
        }
    }
    for c in 0..k {
        for m in &mut means[c * d..(c + 1) * d] {
            *m /= counts[c].max(1) as f64;
        }
    }
    let truth = &test.labels().as_classes().unwrap().indices;
    let mut correct = 0;
    for (row, &y) in test.features_slice().chunks_exact(d).zip(truth) {
        let best = (0..k)
            .min_by(|&a, &b| {
                let da: f64 = row
                    .iter()
                    .zip(&means[a * d..(a + 1) * d])
                    .map(|(&x, m)| (x as f64 - m).powi(2))
                    .sum();
                let db: f64 = row
                    .iter()
                    .zip(&means[b * d..(b + 1) * d])
                    .map(|(&x, m)| (x as f64 - m).powi(2))
                    .sum();
                da.total_cmp(&db)
            })
            .unwrap();
        correct += (best == y as usize) as usize;
    }
    correct as f64 / test.len() as f64
}

/// Accuracy on `test` of the 1-nearest-neighbour classifier over `train`.
fn nearest_neighbour_accuracy(train: &Dataset, test: &Dataset) -> f64 {
    let d = train.sample_len();
    let tl = &train.labels().as_classes().unwrap().indices;
    let truth = &test.labels().as_classes().unwrap().indices;
    let mut correct = 0;
    for (row, &y) in test.features_slice().chunks_exact(d).zip(truth) {
        let (best, _) = train
            .features_slice()
            .chunks_exact(d)
            .zip(tl)
            .map(|(t, &c)| {
                let dist: f32 = t.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum();
                (c, dist)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        correct += (best == y) as usize;
    }
    correct as f64 / test.len() as f64
}

struct Scores {
    nearest_mean: f64,
    scrambled: f64,
    nearest_neighbour: f64,
}

fn accuracy(shape: &[usize], classes: u32, n: usize, seed: u64) -> Scores {
    let data = synthetic(shape, classes, n, seed).unwrap();
    let parts = split(&data, &[0.8, 0.2], seed, Stratify::Auto).unwrap();
    Scores {
        nearest_mean: nearest_mean_accuracy(&parts[0], &parts[1], false),
        scrambled: nearest_mean_accuracy(&parts[0], &parts[1], true),
        nearest_neighbour: nearest_neighbour_accuracy(&parts[0], &parts[1]),
    }
}

#[test]
fn synthetic_images_are_learnable() {
    for (shape, classes, n) in [
        (vec![1usize, 8, 8], 10u32, 2000usize),
        (vec![1, 28, 28], 10, 1500),
        (vec![3, 8, 8], 5, 1000),
        (vec![32], 4, 1000),
    ] {
        let Scores {
            nearest_mean: acc,
            scrambled: shuffled,
            nearest_neighbour: nn,
        } = accuracy(&shape, classes, n, 5);
        let chance = 1.0 / classes as f64;
        eprintln!(
            "{shape:?} x{classes} n={n}: nearest-mean {acc:.3}, 1-NN {nn:.3}, \
             nearest-mean with scrambled labels {shuffled:.3}, chance {chance:.3}"
        );
        assert!(acc > chance + 0.5, "{shape:?}: accuracy {acc}");
        assert!(nn > chance + 0.5, "{shape:?}: 1-NN accuracy {nn}");
        // The same classifier without the label signal is near chance: the accuracy above
        // comes from the class patterns, not from an artefact of the evaluation.
        assert!(shuffled < chance + 0.2, "{shape:?}: scrambled {shuffled}");
    }
}

#[test]
fn samples_are_noisy_copies_of_their_class_prototype() {
    let mut spec = SyntheticSpec::new(vec![1, 10, 10], 3, 300, 11);
    spec.jitter = 0.0;
    let data = generate(&spec).unwrap();
    let protos = prototypes(&spec).unwrap();
    let labels = &data.labels().as_classes().unwrap().indices;
    let d = data.sample_len();
    // Residual after removing the best-scaled prototype has the configured noise level.
    let mut sq = 0f64;
    let mut count = 0usize;
    for (row, &c) in data.features_slice().chunks_exact(d).zip(labels) {
        let p = protos.row(c as usize);
        let a: f64 = row
            .iter()
            .zip(p)
            .map(|(&x, &q)| x as f64 * q as f64)
            .sum::<f64>()
            / p.iter().map(|&q| (q as f64).powi(2)).sum::<f64>();
        assert!((0.7..1.3).contains(&a), "intensity {a}");
        for (&x, &q) in row.iter().zip(p) {
            sq += (x as f64 - a * q as f64).powi(2);
            count += 1;
        }
    }
    let sigma = (sq / count as f64).sqrt();
    assert!(
        (sigma - spec.noise as f64).abs() < 0.03,
        "residual std {sigma} vs noise {}",
        spec.noise
    );
    // Prototypes differ between classes and are smooth (neighbours closer than random pairs).
    assert_ne!(protos.row(0), protos.row(1));
    let p = protos.row(0);
    let neighbour: f64 = (0..9)
        .map(|j| (p[j] as f64 - p[j + 1] as f64).abs())
        .sum::<f64>()
        / 9.0;
    let range =
        p.iter().cloned().fold(f32::MIN, f32::max) - p.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        neighbour < 0.3 * range as f64,
        "not smooth: {neighbour} vs range {range}"
    );
}

#[test]
fn generation_is_bit_identical_for_a_seed() {
    let a = synthetic(&[1, 28, 28], 10, 200, 123).unwrap();
    let b = synthetic(&[1, 28, 28], 10, 200, 123).unwrap();
    let bits = |d: &Dataset| {
        d.features_slice()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.labels(), b.labels());
}
