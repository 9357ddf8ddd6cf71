//! Tree heads: a model's last stage can be a gradient-boosted ensemble
//! (`boosted_trees(…)`) or a single tree (`decision_tree(…)`), trained on the features a
//! frozen backbone computes (or on raw flat features) instead of by gradient descent.
//!
//! The pieces, in the order a run uses them: [`binning`] fits quantile bin edges on the
//! train split; [`histogram`] sums gradients and hessians per feature and bin;
//! [`split`] finds the best split of a node from its histogram; [`grow`] grows one
//! depth-limited tree; [`boost`] is the boosting loop (and the single tree) with early
//! stopping; [`ensemble`] is the saved format (`trees.json`) and prediction; [`features`]
//! runs the frozen backbone once in evaluation mode; [`block`] is a train block's run.
//!
//! Determinism: bins, gradients and splits are computed in a fixed order; histograms are
//! built per feature in parallel, each feature by one task in sample order, so a seed-free
//! fit gives the same trees, bit for bit, on any number of threads.

pub mod binning;
pub mod block;
pub mod boost;
pub mod ensemble;
pub mod features;
pub mod grow;
pub mod histogram;
pub mod split;

/// What a tree head predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One of this many classes.
    Classes(usize),
    /// This many real targets.
    Values(usize),
}

impl Task {
    /// Model outputs: one per class or target.
    pub fn outputs(self) -> usize {
        match self {
            Task::Classes(k) | Task::Values(k) => k,
        }
    }

    /// The task of labels.
    pub fn of(labels: &crate::data::Labels) -> Task {
        match labels {
            crate::data::Labels::Classes { classes, .. } => Task::Classes(*classes),
            crate::data::Labels::Values { width, .. } => Task::Values(*width),
        }
    }
}

/// The saved ensemble's file name in a run directory.
pub const TREES_FILE: &str = "trees.json";
