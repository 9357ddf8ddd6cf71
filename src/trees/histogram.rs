//! Per-node gradient/hessian histograms: for each feature and bin, the sums of the
//! gradients and hessians (per output channel) and the number of samples of the node that
//! fall there. A child's histogram is its parent's minus its sibling's (the subtraction
//! trick), so only the smaller child is ever summed from its samples.

use rayon::prelude::*;

use super::binning::Binned;

/// The histograms of one node, one per feature, `bins` slots each.
#[derive(Clone, Debug)]
pub struct Histogram {
    /// Output channels summed (1 for a boosting tree).
    pub channels: usize,
    /// Slots per feature (the most bins of any feature).
    pub bins: usize,
    /// `[feature][bin][gradient sums (channels), hessian sums (channels)]`.
    pub sums: Vec<f64>,
    /// `[feature][bin]` sample counts.
    pub counts: Vec<u32>,
}

impl Histogram {
    /// Sums `grad`/`hess` (row-major `[samples, channels]`) of the samples `rows` (in
    /// increasing order) into each feature's bins. Features are summed in parallel on
    /// `pool`, each by one task in row order, so the result does not depend on the number
    /// of threads.
    pub fn build(
        binned: &Binned,
        rows: &[u32],
        grad: &[f64],
        hess: &[f64],
        channels: usize,
        bins: usize,
        pool: Option<&rayon::ThreadPool>,
    ) -> Histogram {
        let stride = 2 * channels;
        let mut sums = vec![0.0; binned.features * bins * stride];
        let mut counts = vec![0u32; binned.features * bins];
        let one = |j: usize, s: &mut [f64], c: &mut [u32]| {
            let column = binned.column(j);
            for &r in rows {
                let r = r as usize;
                let b = usize::from(column[r]);
                c[b] += 1;
                let slot = &mut s[b * stride..(b + 1) * stride];
                for k in 0..channels {
                    slot[k] += grad[r * channels + k];
                    slot[channels + k] += hess[r * channels + k];
                }
            }
        };
        let per_feature = bins * stride;
        match pool {
            Some(pool) if binned.features > 1 => pool.install(|| {
                sums.par_chunks_mut(per_feature)
                    .zip(counts.par_chunks_mut(bins))
                    .enumerate()
                    .for_each(|(j, (s, c))| one(j, s, c));
            }),
            _ => sums
                .chunks_mut(per_feature)
                .zip(counts.chunks_mut(bins))
                .enumerate()
                .for_each(|(j, (s, c))| one(j, s, c)),
        }
        Histogram {
            channels,
            bins,
            sums,
            counts,
        }
    }

    /// This node's histogram minus a child's: the other child's.
    pub fn subtract(mut self, child: &Histogram) -> Histogram {
        for (a, b) in self.sums.iter_mut().zip(&child.sums) {
            *a -= b;
        }
        for (a, b) in self.counts.iter_mut().zip(&child.counts) {
            *a -= b;
        }
        self
    }

    /// Gradient and hessian sums of feature `j`'s bin `b`.
    pub fn slot(&self, j: usize, b: usize) -> &[f64] {
        let stride = 2 * self.channels;
        let at = (j * self.bins + b) * stride;
        &self.sums[at..at + stride]
    }

    /// Samples in feature `j`'s bin `b`.
    pub fn count(&self, j: usize, b: usize) -> u32 {
        self.counts[j * self.bins + b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trees::binning::BinMapper;

    #[test]
    fn subtraction_gives_the_sibling_and_threads_do_not_matter() {
        let n = 200;
        let x: Vec<f32> = (0..n * 3).map(|i| ((i * 37) % 101) as f32).collect();
        let m = BinMapper::fit(&x, n, 3, 16);
        let b = m.transform(&x, n);
        let grad: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let hess: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let left: Vec<u32> = (0..n as u32).filter(|r| r % 3 == 0).collect();
        let right: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 0).collect();
        let bins = m.max_bins();
        let parent = Histogram::build(&b, &all, &grad, &hess, 1, bins, None);
        let l = Histogram::build(&b, &left, &grad, &hess, 1, bins, None);
        let r = Histogram::build(&b, &right, &grad, &hess, 1, bins, None);
        let by_sub = parent.subtract(&l);
        assert_eq!(by_sub.counts, r.counts);
        for (a, b) in by_sub.sums.iter().zip(&r.sums) {
            assert!((a - b).abs() < 1e-9);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        let p2 = Histogram::build(&b, &all, &grad, &hess, 1, bins, Some(&pool));
        let p1 = Histogram::build(&b, &all, &grad, &hess, 1, bins, None);
        assert_eq!(p1.sums, p2.sums);
    }
}
