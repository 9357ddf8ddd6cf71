//! Growing one tree: depth-limited, every node split on its best histogram split until it
//! reaches `depth`, has fewer than `2 · min_leaf` samples or no split gains anything. Nodes
//! are grown depth first with an explicit stack, so at most `depth + 1` histograms are
//! alive; without a leaf limit the order does not change the tree.

use super::binning::{BinMapper, Binned};
use super::histogram::Histogram;
use super::split::{SplitRules, Totals, best_split};

/// A tree as node arrays (node 0 is the root; children come after their parent).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    /// The first model output this tree adds to.
    pub output: usize,
    /// Outputs it adds to (1 for a boosting tree; every output for a decision tree).
    pub channels: usize,
    /// The feature each internal node tests (0 at leaves).
    pub feature: Vec<u32>,
    /// The last bin that goes left, for the training bins (0 at leaves).
    pub bin: Vec<u8>,
    /// A sample goes left when its feature value is `<= threshold` (the bin's upper edge,
    /// an f32 stored as f64; 0 at leaves).
    pub threshold: Vec<f64>,
    /// Left child, or -1 at a leaf.
    pub left: Vec<i32>,
    /// Right child, or -1 at a leaf.
    pub right: Vec<i32>,
    /// `channels` values per node (shrinkage applied), row-major; a leaf's are its output.
    pub value: Vec<f64>,
}

impl Tree {
    /// Nodes.
    pub fn nodes(&self) -> usize {
        self.left.len()
    }

    /// Leaves.
    pub fn leaves(&self) -> usize {
        self.left.iter().filter(|l| **l < 0).count()
    }

    /// The leaf a sample (its `features` values) lands in.
    pub fn leaf(&self, x: &[f32]) -> usize {
        let mut node = 0;
        while self.left[node] >= 0 {
            let v = f64::from(x[self.feature[node] as usize]);
            node = if v <= self.threshold[node] {
                self.left[node] as usize
            } else {
                self.right[node] as usize
            };
        }
        node
    }

    /// The node a sample reaches when the tree is cut at depth `depth` (a node at that
    /// depth, or a leaf above it).
    pub fn node_at_depth(&self, x: &[f32], depth: usize) -> usize {
        let mut node = 0;
        for _ in 0..depth {
            if self.left[node] < 0 {
                break;
            }
            let v = f64::from(x[self.feature[node] as usize]);
            node = if v <= self.threshold[node] {
                self.left[node] as usize
            } else {
                self.right[node] as usize
            };
        }
        node
    }

    /// The values of leaf `node`.
    pub fn values(&self, node: usize) -> &[f64] {
        &self.value[node * self.channels..(node + 1) * self.channels]
    }

    /// Depth of the deepest leaf (0 for a lone root).
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes()];
        let mut deepest = 0;
        for i in 0..self.nodes() {
            if self.left[i] >= 0 {
                for c in [self.left[i], self.right[i]] {
                    depth[c as usize] = depth[i] + 1;
                    deepest = deepest.max(depth[i] + 1);
                }
            }
        }
        deepest
    }
}

/// How a tree grows.
#[derive(Clone, Copy, Debug)]
pub struct GrowRules {
    /// Largest depth.
    pub depth: usize,
    /// Split limits.
    pub split: SplitRules,
    /// Leaf values are scaled by this (the learning rate).
    pub shrink: f64,
}

/// A grown tree and the leaf each training sample landed in.
pub struct Grown {
    /// The tree.
    pub tree: Tree,
    /// Leaf node per training sample.
    pub leaf_of: Vec<u32>,
}

struct Pending {
    node: usize,
    rows: Vec<u32>,
    hist: Option<Histogram>,
    depth: usize,
}

/// Grows a tree on `grad`/`hess` (row-major `[samples, channels]`) for the binned
/// training samples; the tree adds to outputs `output..output + channels`.
#[allow(clippy::too_many_arguments)]
pub fn grow(
    binned: &Binned,
    mapper: &BinMapper,
    grad: &[f64],
    hess: &[f64],
    channels: usize,
    output: usize,
    rules: GrowRules,
    pool: Option<&rayon::ThreadPool>,
) -> Grown {
    let n = binned.rows;
    let bins = mapper.max_bins();
    let bins_of = |j: usize| mapper.bins_of(j);
    let mut tree = Tree {
        output,
        channels,
        feature: vec![0],
        bin: vec![0],
        threshold: vec![0.0],
        left: vec![-1],
        right: vec![-1],
        value: vec![0.0; channels],
    };
    let mut leaf_of = vec![0u32; n];
    let mut stack = vec![Pending {
        node: 0,
        rows: (0..n as u32).collect(),
        hist: None,
        depth: 0,
    }];
    while let Some(p) = stack.pop() {
        let totals = Totals::of(&p.rows, grad, hess, channels);
        for k in 0..channels {
            let denom = (totals.hess[k] + rules.split.l2).max(f64::MIN_POSITIVE);
            tree.value[p.node * channels + k] = -totals.grad[k] / denom * rules.shrink;
        }
        let splittable = p.depth < rules.depth && p.rows.len() >= 2 * rules.split.min_leaf.max(1);
        let mut split = None;
        let mut hist = None;
        if splittable {
            let h = p.hist.unwrap_or_else(|| {
                Histogram::build(binned, &p.rows, grad, hess, channels, bins, pool)
            });
            split = best_split(&h, &totals, &bins_of, binned.features, rules.split);
            hist = Some(h);
        }
        let (Some(s), Some(hist)) = (split, hist) else {
            for &r in &p.rows {
                leaf_of[r as usize] = p.node as u32;
            }
            continue;
        };
        let column = binned.column(s.feature);
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) =
            p.rows.iter().partition(|&&r| column[r as usize] <= s.bin);
        let (l, r) = (tree.left.len(), tree.left.len() + 1);
        tree.feature[p.node] = s.feature as u32;
        tree.bin[p.node] = s.bin;
        tree.threshold[p.node] = f64::from(mapper.edges[s.feature][usize::from(s.bin)]);
        tree.left[p.node] = l as i32;
        tree.right[p.node] = r as i32;
        for _ in 0..2 {
            tree.feature.push(0);
            tree.bin.push(0);
            tree.threshold.push(0.0);
            tree.left.push(-1);
            tree.right.push(-1);
            tree.value.extend(std::iter::repeat_n(0.0, channels));
        }
        // Sum the smaller child; the larger is the parent minus it.
        let left_small = left_rows.len() <= right_rows.len();
        let small_rows = if left_small { &left_rows } else { &right_rows };
        let small = Histogram::build(binned, small_rows, grad, hess, channels, bins, pool);
        let large = hist.subtract(&small);
        let (lh, rh) = if left_small {
            (small, large)
        } else {
            (large, small)
        };
        let depth = p.depth + 1;
        stack.push(Pending {
            node: r,
            rows: right_rows,
            hist: Some(rh),
            depth,
        });
        stack.push(Pending {
            node: l,
            rows: left_rows,
            hist: Some(lh),
            depth,
        });
    }
    Grown { tree, leaf_of }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_feature_step_is_found_exactly() {
        // y = 1 for x > 5, else 0; squared error from 0: grad = -y, hess = 1.
        let x: Vec<f32> = (0..20).map(|i| i as f32 * 0.5).collect();
        let y: Vec<f64> = x.iter().map(|v| f64::from(u8::from(*v > 5.0))).collect();
        let grad: Vec<f64> = y.iter().map(|v| -v).collect();
        let hess = vec![1.0; 20];
        let m = BinMapper::fit(&x, 20, 1, 255);
        let b = m.transform(&x, 20);
        let rules = GrowRules {
            depth: 3,
            split: SplitRules {
                l2: 0.0,
                min_leaf: 1,
            },
            shrink: 1.0,
        };
        let g = grow(&b, &m, &grad, &hess, 1, 0, rules, None);
        assert_eq!(g.tree.nodes(), 3, "{:?}", g.tree);
        assert_eq!(g.tree.threshold[0], 5.25);
        for (i, v) in x.iter().enumerate() {
            let leaf = g.tree.leaf(&[*v]);
            assert_eq!(leaf as u32, g.leaf_of[i]);
            assert_eq!(g.tree.values(leaf)[0], y[i]);
        }
    }
}
