//! The boosting loop (and the single tree): fit a [`TreeHead`] to features and labels.
//!
//! Boosted classification minimises the softmax log-loss: each round computes the
//! probabilities `p` of the current outputs, the gradients `p_k − y_k` and hessians
//! `p_k(1 − p_k)`, and grows one tree per class on them (scikit-learn's
//! HistGradientBoostingClassifier and LightGBM's multiclass objective), starting from the
//! log class priors. Regression minimises squared error (`½(f − y)²`: gradient `f − y`,
//! hessian 1), one tree per target per round, starting from the target means. Leaf values
//! are Newton steps `−G / (H + λ)` times the learning rate. With `early_stopping = P` the
//! validation loss is computed after every round; training stops after `P` rounds without
//! an improvement (by more than 1e-7) and the ensemble keeps the rounds up to the best.
//!
//! A decision tree is one tree fitted to the targets: its gradients are `−y` (one-hot
//! classes or target values) with unit hessians, no penalty and no shrinkage, so its split
//! gain is the Gini impurity decrease (classes) or squared-error decrease (targets) and
//! its leaves hold the class frequencies or target means of their samples.

use super::Task;
use super::binning::{BinMapper, Binned};
use super::ensemble::{Ensemble, FORMAT, Link, VERSION};
use super::grow::{GrowRules, grow};
use super::split::SplitRules;
use crate::check::spec::{TreeHead, TreeKind};
use crate::data::Labels;
use crate::run::metrics::SplitMetrics;

/// Samples of one split: features (row-major `[n, features]`, finite) and their labels.
#[derive(Clone, Copy)]
pub struct Samples<'a> {
    /// Row-major features.
    pub x: &'a [f32],
    /// Features per sample.
    pub features: usize,
    /// Labels.
    pub labels: &'a Labels,
}

impl Samples<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len() / self.features.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One line of `metrics.jsonl`: the ensemble after `round` rounds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundRecord {
    /// 1-based round.
    pub round: usize,
    /// Metrics on the training split.
    pub train: SplitMetrics,
    /// Metrics on the validation split, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<SplitMetrics>,
}

/// A fitted head.
pub struct Fitted {
    /// The trees kept (up to the best round under early stopping).
    pub ensemble: Ensemble,
    /// Every round trained.
    pub records: Vec<RoundRecord>,
    /// The round kept.
    pub best_round: usize,
    /// Early stopping ended training before the last round.
    pub stopped_early: bool,
}

/// Why fitting stopped without a head.
#[derive(Debug)]
pub enum FitError {
    /// SIGINT/SIGTERM between rounds.
    Interrupted,
    /// Outputs became non-finite in this round.
    NotFinite(usize),
}

/// Fits `head` on `train` (early stopping watches `val`); `on_round` sees every round's
/// record as it ends, `interrupted` is polled between rounds. Histograms are built on
/// `pool`; the trees do not depend on its size.
pub fn fit(
    head: &TreeHead,
    task: Task,
    train: Samples,
    val: Option<Samples>,
    pool: Option<&rayon::ThreadPool>,
    on_round: &mut dyn FnMut(&RoundRecord),
    interrupted: &dyn Fn() -> bool,
) -> Result<Fitted, FitError> {
    let n = train.len();
    let k = task.outputs();
    let mapper = BinMapper::fit(train.x, n, train.features, head.bins);
    let binned = mapper.transform(train.x, n);
    let y = targets(train.labels, k);
    let single = head.kind == TreeKind::DecisionTree;
    let link = match (task, single) {
        (Task::Classes(_), false) => Link::Softmax,
        _ => Link::Identity,
    };
    let baseline = if single {
        vec![0.0; k]
    } else {
        baseline(task, &y, n)
    };
    let mut ensemble = Ensemble {
        format: FORMAT.to_string(),
        version: VERSION,
        kind: head.kind,
        task,
        features: train.features,
        link,
        baseline: baseline.clone(),
        rounds: 0,
        bin_edges: mapper
            .edges
            .iter()
            .map(|e| e.iter().map(|v| f64::from(*v)).collect())
            .collect(),
        trees: Vec::new(),
    };
    let mut raw: Vec<f64> = baseline.iter().copied().cycle().take(n * k).collect();
    let mut raw_val: Option<Vec<f64>> =
        val.map(|v| baseline.iter().copied().cycle().take(v.len() * k).collect());
    let mut records = Vec::new();
    let (mut best_round, mut best_loss) = (0usize, f64::INFINITY);
    let mut stopped_early = false;
    let rounds = if single { 1 } else { head.trees };
    let split = SplitRules {
        l2: if single { 0.0 } else { head.l2 },
        min_leaf: head.min_leaf,
    };
    let rules = GrowRules {
        depth: head.depth,
        split,
        shrink: if single { 1.0 } else { head.lr },
    };
    for round in 1..=rounds {
        if interrupted() {
            return Err(FitError::Interrupted);
        }
        if single {
            let grad: Vec<f64> = y.iter().map(|v| -v).collect();
            let hess = vec![1.0; n * k];
            add_tree(
                &mut ensemble,
                &binned,
                &mapper,
                (&grad, &hess),
                (k, 0),
                rules,
                pool,
                (&mut raw, raw_val.as_mut().zip(val)),
            );
        } else {
            let (grad, hess) = gradients(task, &raw, &y, n);
            for c in 0..k {
                let g: Vec<f64> = (0..n).map(|r| grad[r * k + c]).collect();
                let h: Vec<f64> = (0..n).map(|r| hess[r * k + c]).collect();
                add_tree(
                    &mut ensemble,
                    &binned,
                    &mapper,
                    (&g, &h),
                    (1, c),
                    rules,
                    pool,
                    (&mut raw, raw_val.as_mut().zip(val)),
                );
            }
        }
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(FitError::NotFinite(round));
        }
        let record = RoundRecord {
            round,
            train: metrics(task, link, &raw, train.labels),
            val: raw_val
                .as_ref()
                .zip(val)
                .map(|(s, v)| metrics(task, link, s, v.labels)),
        };
        on_round(&record);
        let watched = record.val.as_ref().map(|v| v.loss);
        records.push(record);
        match (head.early_stopping, watched) {
            (Some(patience), Some(loss)) => {
                if loss < best_loss - 1e-7 {
                    best_loss = loss;
                    best_round = round;
                } else if round - best_round >= patience {
                    stopped_early = round < rounds;
                    break;
                }
            }
            _ => best_round = round,
        }
    }
    let per_round = if single { 1 } else { k };
    ensemble.trees.truncate(best_round * per_round);
    ensemble.rounds = best_round;
    Ok(Fitted {
        ensemble,
        records,
        best_round,
        stopped_early,
    })
}

/// Grows one tree on the gradients, adds its leaves to the training outputs (by the leaf
/// each sample reached) and to the validation outputs, and appends it.
#[allow(clippy::too_many_arguments)]
fn add_tree(
    ensemble: &mut Ensemble,
    binned: &Binned,
    mapper: &BinMapper,
    (grad, hess): (&[f64], &[f64]),
    (channels, output): (usize, usize),
    rules: GrowRules,
    pool: Option<&rayon::ThreadPool>,
    (raw, val): (&mut [f64], Option<(&mut Vec<f64>, Samples)>),
) {
    let k = ensemble.outputs();
    let grown = grow(binned, mapper, grad, hess, channels, output, rules, pool);
    for (r, leaf) in grown.leaf_of.iter().enumerate() {
        for (c, v) in grown.tree.values(*leaf as usize).iter().enumerate() {
            raw[r * k + output + c] += v;
        }
    }
    if let Some((raw_val, v)) = val {
        for (r, row) in v.x.chunks(v.features.max(1)).enumerate() {
            let leaf = grown.tree.leaf(row);
            for (c, value) in grown.tree.values(leaf).iter().enumerate() {
                raw_val[r * k + output + c] += value;
            }
        }
    }
    ensemble.trees.push(grown.tree);
}

/// Targets as f64 `[n, outputs]`: one-hot classes or the values.
fn targets(labels: &Labels, k: usize) -> Vec<f64> {
    match labels {
        Labels::Classes { ids, .. } => {
            let mut y = vec![0.0; ids.len() * k];
            for (r, c) in ids.iter().enumerate() {
                if (*c as usize) < k {
                    y[r * k + *c as usize] = 1.0;
                }
            }
            y
        }
        Labels::Values { values, .. } => values.iter().map(|v| f64::from(*v)).collect(),
    }
}

/// Log class priors (a class absent from the train split counts as one sample), or target
/// means.
fn baseline(task: Task, y: &[f64], n: usize) -> Vec<f64> {
    let k = task.outputs();
    let mut sums = vec![0.0; k];
    for row in y.chunks(k) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    let n = n.max(1) as f64;
    match task {
        Task::Classes(_) => sums.iter().map(|s| (s.max(1.0) / n).ln()).collect(),
        Task::Values(_) => sums.iter().map(|s| s / n).collect(),
    }
}

/// Gradients and hessians of the loss at the outputs `raw`, row-major `[n, outputs]`.
fn gradients(task: Task, raw: &[f64], y: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let k = task.outputs();
    match task {
        Task::Classes(_) => {
            let mut grad = vec![0.0; n * k];
            let mut hess = vec![0.0; n * k];
            for r in 0..n {
                let p = softmax(&raw[r * k..(r + 1) * k]);
                for c in 0..k {
                    grad[r * k + c] = p[c] - y[r * k + c];
                    hess[r * k + c] = (p[c] * (1.0 - p[c])).max(1e-16);
                }
            }
            (grad, hess)
        }
        Task::Values(_) => (
            raw.iter().zip(y).map(|(f, t)| f - t).collect(),
            vec![1.0; n * k],
        ),
    }
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
    let e: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Loss and metrics of outputs `scores` (row-major `[n, outputs]`): mean log-loss and
/// accuracy for classes (probabilities clamped at 1e-15 when the outputs are
/// probabilities), mean squared error (the loss), and MSE/MAE for targets.
pub fn metrics(task: Task, link: Link, scores: &[f64], labels: &Labels) -> SplitMetrics {
    let k = task.outputs();
    match labels {
        Labels::Classes { ids, .. } => {
            let n = ids.len().max(1) as f64;
            let (mut loss, mut correct) = (0.0, 0usize);
            for (row, y) in scores.chunks(k).zip(ids) {
                let y = *y as usize;
                let best = row
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                    )
                    .0;
                correct += usize::from(best == y);
                let s = row.get(y).copied().unwrap_or(f64::NEG_INFINITY);
                loss += match link {
                    Link::Softmax => {
                        let max = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
                        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                        lse - s
                    }
                    Link::Identity => -s.max(1e-15).ln(),
                };
            }
            SplitMetrics {
                loss: loss / n,
                accuracy: Some(correct as f64 / n),
                mse: None,
                mae: None,
            }
        }
        Labels::Values { values, .. } => {
            let m = values.len().max(1) as f64;
            let (mut se, mut ae) = (0.0, 0.0);
            for (s, t) in scores.iter().zip(values) {
                let d = s - f64::from(*t);
                se += d * d;
                ae += d.abs();
            }
            SplitMetrics {
                loss: se / m,
                accuracy: None,
                mse: Some(se / m),
                mae: Some(ae / m),
            }
        }
    }
}
