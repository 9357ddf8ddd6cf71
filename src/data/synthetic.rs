//! Synthetic classification data of any sample shape, learnable by construction: each class
//! has a smooth prototype (a few Gaussian blobs per channel over the last two axes, or random
//! values for 1-D samples); a sample is its class prototype scaled by a random amplitude in
//! [0.8, 1.2] plus N(0, 0.5²) noise. Deterministic in the seed (ChaCha8).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Labels};

/// Generates `n` samples of `shape` in `classes` classes (labels cycle through the classes).
pub fn generate(shape: &[usize], classes: usize, n: usize, seed: u64) -> Dataset {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(17));
    let per: usize = shape.iter().product();
    let (h, w) = match shape.len() {
        0 => (1, 1),
        1 => (1, shape[0]),
        _ => (shape[shape.len() - 2], shape[shape.len() - 1]),
    };
    let planes = (per / (h * w).max(1)).max(1);
    let prototypes: Vec<Vec<f32>> = (0..classes)
        .map(|_| {
            let mut p = vec![0f32; per];
            for plane in 0..planes {
                for _ in 0..3 {
                    let (cy, cx) = (
                        rng.random_range(0.0..h as f32),
                        rng.random_range(0.0..w as f32),
                    );
                    let sigma = rng.random_range(0.1..0.3) * (h.max(w) as f32);
                    let amp = rng.random_range(-2.0..2.0f32);
                    for y in 0..h {
                        for x in 0..w {
                            let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
                            p[plane * h * w + y * w + x] +=
                                amp * (-d2 / (2.0 * sigma * sigma)).exp();
                        }
                    }
                }
            }
            p
        })
        .collect();
    let mut features = Vec::with_capacity(n * per);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        let amp = rng.random_range(0.8..1.2f32);
        for v in &prototypes[c] {
            // Box–Muller normal noise.
            let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            features.push(amp * v + 0.5 * z);
        }
        ids.push(c as u32);
    }
    Dataset {
        features,
        sample_shape: shape.to_vec(),
        labels: Labels::Classes { ids, classes },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Learnability, computed: a nearest-class-mean classifier fitted on half the data must
    /// do far better than chance on the other half.
    #[test]
    fn nearest_mean_beats_chance() {
        let d = generate(&[1, 12, 12], 5, 400, 3);
        let per = d.sample_len();
        let Labels::Classes { ids, .. } = &d.labels else {
            panic!()
        };
        let mut means = vec![vec![0f32; per]; 5];
        let mut counts = [0f32; 5];
        for i in 0..200 {
            counts[ids[i] as usize] += 1.0;
            let row = &d.features[i * per..(i + 1) * per];
            for (m, v) in means[ids[i] as usize].iter_mut().zip(row) {
                *m += v;
            }
        }
        for c in 0..5 {
            means[c].iter_mut().for_each(|v| *v /= counts[c]);
        }
        let correct = (200..400)
            .filter(|&i| {
                let x = &d.features[i * per..(i + 1) * per];
                let best = (0..5)
                    .min_by(|a, b| {
                        let da: f32 = x.iter().zip(&means[*a]).map(|(p, q)| (p - q).powi(2)).sum();
                        let db: f32 = x.iter().zip(&means[*b]).map(|(p, q)| (p - q).powi(2)).sum();
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                best as u32 == ids[i]
            })
            .count();
        assert!(correct > 150, "nearest-mean accuracy {correct}/200");
        assert_eq!(generate(&[1, 12, 12], 5, 400, 3), d, "deterministic");
    }
}
