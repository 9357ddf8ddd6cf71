//! Quantile binning: each feature's values become small integers (bins) whose boundaries
//! are fitted on the training split, so split finding scans at most `bins` candidates per
//! feature instead of every distinct value (LightGBM's and scikit-learn's
//! HistGradientBoosting's approach).

/// Bin edges per feature, fitted on the training split.
///
/// A value `x` of feature `j` falls in bin `b` = the number of edges below it
/// (`edges[j].partition_point(|e| e < x)`), so `x <= edges[j][b] ⇔ bin(x) <= b`: a split
/// "bins `0..=b` go left" is exactly "`x <= edges[j][b]` goes left" on raw values, which is
/// what the saved trees store.
#[derive(Clone, Debug, PartialEq)]
pub struct BinMapper {
    /// Sorted, distinct edges of each feature (at most `bins - 1`).
    pub edges: Vec<Vec<f32>>,
}

/// Features as bins, feature-major: `bins[j * rows + r]`.
#[derive(Clone, Debug)]
pub struct Binned {
    /// Samples.
    pub rows: usize,
    /// Features.
    pub features: usize,
    /// Bin of each (feature, sample).
    pub bins: Vec<u8>,
}

impl Binned {
    /// The bins of feature `j`, one per sample.
    pub fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.rows..(j + 1) * self.rows]
    }
}

impl BinMapper {
    /// Fits edges on `x` (row-major `[rows, features]`, finite values) with at most
    /// `max_bins` (2 to 255) bins per feature: a feature with at most `max_bins` distinct
    /// values gets an edge between each pair of neighbours (the midpoint); others get
    /// edges at the `q / max_bins` quantiles (the midpoint of the two order statistics
    /// around each), duplicates removed.
    pub fn fit(x: &[f32], rows: usize, features: usize, max_bins: usize) -> BinMapper {
        let max_bins = max_bins.clamp(2, 255);
        let mut edges = Vec::with_capacity(features);
        let mut column = Vec::with_capacity(rows);
        for j in 0..features {
            column.clear();
            column.extend((0..rows).map(|r| x[r * features + j]));
            column.sort_by(f32::total_cmp);
            let mut distinct = column.clone();
            distinct.dedup();
            let mut e: Vec<f32> = if distinct.len() <= max_bins {
                distinct.windows(2).map(|w| between(w[0], w[1])).collect()
            } else {
                (1..max_bins)
                    .map(|q| {
                        let pos = q as f64 * (rows - 1) as f64 / max_bins as f64;
                        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                        if column[lo] == column[hi] {
                            column[lo]
                        } else {
                            between(column[lo], column[hi])
                        }
                    })
                    .collect()
            };
            e.dedup();
            // An edge at or above the largest value would leave its right side empty.
            if let Some(&top) = column.last() {
                e.retain(|v| *v < top);
            }
            edges.push(e);
        }
        BinMapper { edges }
    }

    /// Features.
    pub fn features(&self) -> usize {
        self.edges.len()
    }

    /// Bins of feature `j`.
    pub fn bins_of(&self, j: usize) -> usize {
        self.edges[j].len() + 1
    }

    /// The most bins of any feature.
    pub fn max_bins(&self) -> usize {
        (0..self.features())
            .map(|j| self.bins_of(j))
            .max()
            .unwrap_or(1)
    }

    /// The bin of value `v` of feature `j`.
    pub fn bin(&self, j: usize, v: f32) -> u8 {
        // At most 254 edges, so the count fits a byte.
        self.edges[j].partition_point(|e| *e < v) as u8
    }

    /// Bins every value of `x` (row-major `[rows, features]`).
    pub fn transform(&self, x: &[f32], rows: usize) -> Binned {
        let features = self.features();
        let mut bins = vec![0u8; rows * features];
        for j in 0..features {
            for r in 0..rows {
                bins[j * rows + r] = self.bin(j, x[r * features + j]);
            }
        }
        Binned {
            rows,
            features,
            bins,
        }
    }
}

/// An edge `e` with `a <= e < b`: the midpoint, or `a` when the midpoint rounds to `b`
/// (neighbouring f32 values).
fn between(a: f32, b: f32) -> f32 {
    let mid = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if mid >= a && mid < b { mid } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_midpoints_and_bins_agree_with_edges() {
        let x = [0.0f32, 1.0, 1.0, 3.0, 0.0];
        let m = BinMapper::fit(&x, 5, 1, 255);
        assert_eq!(m.edges[0], vec![0.5, 2.0]);
        for (v, b) in [(0.0, 0), (0.5, 0), (0.6, 1), (2.0, 1), (3.0, 2)] {
            assert_eq!(m.bin(0, v), b, "value {v}");
        }
    }

    #[test]
    fn many_values_are_cut_at_quantiles() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let m = BinMapper::fit(&x, 1000, 1, 4);
        assert_eq!(m.bins_of(0), 4);
        let b = m.transform(&x, 1000);
        let counts: Vec<usize> = (0..4)
            .map(|k| b.column(0).iter().filter(|v| **v == k).count())
            .collect();
        assert!(counts.iter().all(|c| (240..=260).contains(c)), "{counts:?}");
    }

    #[test]
    fn neighbouring_floats_still_separate() {
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let m = BinMapper::fit(&[a, b], 2, 1, 255);
        assert_eq!((m.bin(0, a), m.bin(0, b)), (0, 1));
    }
}
