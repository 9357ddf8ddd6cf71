//! Split finding: for every feature and every boundary between its bins, the gain in the
//! second-order objective of sending the bins at or below the boundary left, with an L2
//! penalty λ on leaf values (XGBoost's and LightGBM's gain):
//! `Σ_c GL²/(HL+λ) + GR²/(HR+λ) − G²/(H+λ)` over output channels `c`.

use super::histogram::Histogram;

/// Hessian mass each child must keep (scikit-learn's `min_hessian_to_split`).
pub const MIN_HESSIAN: f64 = 1e-3;

/// The gradient and hessian sums of a node, per channel, and its sample count.
#[derive(Clone, Debug)]
pub struct Totals {
    /// Gradient sum per channel.
    pub grad: Vec<f64>,
    /// Hessian sum per channel.
    pub hess: Vec<f64>,
    /// Samples.
    pub count: usize,
}

impl Totals {
    /// Sums the samples `rows` in order.
    pub fn of(rows: &[u32], grad: &[f64], hess: &[f64], channels: usize) -> Totals {
        let mut t = Totals {
            grad: vec![0.0; channels],
            hess: vec![0.0; channels],
            count: rows.len(),
        };
        for &r in rows {
            let r = r as usize;
            for k in 0..channels {
                t.grad[k] += grad[r * channels + k];
                t.hess[k] += hess[r * channels + k];
            }
        }
        t
    }
}

/// A chosen split: bins `0..=bin` of `feature` go left.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    /// The feature.
    pub feature: usize,
    /// The last bin that goes left.
    pub bin: u8,
    /// Its gain.
    pub gain: f64,
    /// Samples sent left.
    pub left_count: usize,
}

/// What limits a split.
#[derive(Clone, Copy, Debug)]
pub struct SplitRules {
    /// L2 penalty λ.
    pub l2: f64,
    /// Fewest samples in each child.
    pub min_leaf: usize,
}

fn score(g: &[f64], h: &[f64], l2: f64) -> f64 {
    g.iter()
        .zip(h)
        .map(|(g, h)| g * g / (h + l2).max(f64::MIN_POSITIVE))
        .sum()
}

/// The split of largest positive gain (the first feature, then the first bin, on ties),
/// or `None` when no split satisfies the rules and gains anything.
pub fn best_split(
    hist: &Histogram,
    totals: &Totals,
    bins_of: &dyn Fn(usize) -> usize,
    features: usize,
    rules: SplitRules,
) -> Option<Split> {
    let c = hist.channels;
    let parent = score(&totals.grad, &totals.hess, rules.l2);
    let min_leaf = rules.min_leaf.max(1);
    let mut best: Option<Split> = None;
    let mut gl = vec![0.0; c];
    let mut hl = vec![0.0; c];
    let mut gr = vec![0.0; c];
    let mut hr = vec![0.0; c];
    for j in 0..features {
        gl.iter_mut().chain(hl.iter_mut()).for_each(|v| *v = 0.0);
        let mut left = 0usize;
        for b in 0..bins_of(j).saturating_sub(1) {
            let slot = hist.slot(j, b);
            for k in 0..c {
                gl[k] += slot[k];
                hl[k] += slot[c + k];
            }
            left += hist.count(j, b) as usize;
            let right = totals.count - left;
            if left < min_leaf {
                continue;
            }
            if right < min_leaf {
                break;
            }
            for k in 0..c {
                gr[k] = totals.grad[k] - gl[k];
                hr[k] = totals.hess[k] - hl[k];
            }
            if hl.iter().sum::<f64>() < MIN_HESSIAN || hr.iter().sum::<f64>() < MIN_HESSIAN {
                continue;
            }
            let gain = score(&gl, &hl, rules.l2) + score(&gr, &hr, rules.l2) - parent;
            // Rounding noise is not a gain (a pure node scores the same split or not).
            if gain > 1e-12 * parent.abs().max(1.0) && best.is_none_or(|s| gain > s.gain) {
                best = Some(Split {
                    feature: j,
                    bin: b as u8,
                    gain,
                    left_count: left,
                });
            }
        }
    }
    best
}
