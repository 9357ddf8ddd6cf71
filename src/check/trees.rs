//! What a tree head accepts: it is the model's last stage; every stage before it is
//! frozen with pretrained weights (or has no weights at all, like `flatten`); the features
//! reaching it are flat `[N, F]`; the train block sets only `model`, `data` and `seed`
//! (the head's own arguments replace loss, optimizer, epochs and early stopping); early
//! stopping needs a validation split. Classification or regression follows the data's
//! labels.

use std::collections::HashMap;

use super::shape::Shape;
use super::{DataInfo, Env, LayerInfo, ModelSummary, Pretrained, ShapeChecker, spec};
use crate::diag::Diag;
use crate::resolve::schema::{self, Family};
use crate::resolve::{ModuleId, Value};
use crate::syntax::ast::{Call, ModelDecl, TrainDecl};

/// Train-block fields a tree head has no use for, with what replaces each.
const UNUSED_FIELDS: &[(&str, &str)] = &[
    (
        "loss",
        "the objective follows the labels: log-loss for classes, squared error for real targets",
    ),
    (
        "optimizer",
        "trees are fitted by boosting: set `lr` on the head",
    ),
    (
        "schedule",
        "trees are fitted by boosting: set `lr` on the head",
    ),
    (
        "epochs",
        "set the number of boosting rounds with `trees = …` on the head",
    ),
    (
        "batch",
        "boosting uses every training sample in every round",
    ),
    (
        "clip_norm",
        "boosting has no gradient steps to clip: raise `l2` on the head to damp leaves",
    ),
    (
        "init",
        "the stages before a tree head are pretrained and frozen",
    ),
    ("early_stop", "set `early_stopping = ROUNDS` on the head"),
    (
        "metrics",
        "a tree head reports loss and accuracy (classes) or MSE and MAE (targets)",
    ),
];

/// What [`ShapeChecker::tree_model`] needs of the train block being checked.
pub(super) struct TreeModel<'a> {
    pub t: &'a TrainDecl,
    pub train: &'a str,
    pub model_name: &'a str,
    pub data_name: &'a str,
    pub stages: &'a [Call],
    pub head: &'a Call,
    pub stage_layers: &'a [std::ops::Range<usize>],
    pub layers: Vec<LayerInfo>,
    pub data: DataInfo,
    pub shape: Shape,
    pub pretrained: Vec<Pretrained>,
    pub warnings: Vec<Diag>,
    pub batch: usize,
    pub env: &'a Env<'a>,
}

impl ShapeChecker<'_> {
    /// The index of the model's tree head: `Some(None)` without one, `None` (reported) when
    /// a tree head is not the last stage.
    pub(super) fn tree_head_stage(
        &mut self,
        module: ModuleId,
        m: &ModelDecl,
    ) -> Option<Option<usize>> {
        let is_tree = |c: &Call| {
            let name = c.dotted();
            self.program.lookup(module, &name).is_none()
                && schema::builtin(Family::TreeHead, &name).is_some()
        };
        let at = m.stages.iter().position(is_tree);
        match at {
            Some(i) if i + 1 < m.stages.len() => {
                let head = &m.stages[i];
                self.err(
                    Diag::new(
                        "amm::trees::not_last",
                        format!("`{}` must be the last stage of model `{}`", head.dotted(), m.name.name),
                    )
                    .primary(head.path_span(), "a tree head outputs predictions, not features")
                    .secondary(m.stages[i + 1].span, "a stage after it")
                    .help("end the model with the tree head: `model m = backbone(…) -> boosted_trees(…)`"),
                );
                None
            }
            _ => Some(at),
        }
    }

    /// Checks a model ending in a tree head and builds its summary.
    pub(super) fn tree_model(&mut self, tm: TreeModel) -> Option<ModelSummary> {
        let errors = self.diags.len();
        for (name, why) in UNUSED_FIELDS {
            if let Some(f) = tm.t.fields.iter().find(|f| f.key.name == *name) {
                self.err(
                    Diag::new(
                        "amm::trees::field",
                        format!("a tree head does not use `{name}`"),
                    )
                    .primary(
                        f.span,
                        format!("`{}` trains `{}` with a tree head", tm.train, tm.model_name),
                    )
                    .secondary(tm.head.path_span(), "the tree head")
                    .help(format!("remove `{name}`: {why}")),
                );
            }
        }
        // Every stage before the head must be frozen and pretrained, or have no weights.
        for (stage, range) in tm.stages.iter().zip(tm.stage_layers) {
            let layers = &tm.layers[range.clone()];
            let params: usize = layers.iter().map(|l| l.params).sum();
            if params == 0 {
                continue;
            }
            let frozen = super::stage_frozen(stage);
            let weights = stage
                .arg_list()
                .iter()
                .any(|a| a.name.as_ref().is_some_and(|n| n.name == "weights"));
            if frozen && weights {
                continue;
            }
            let what = match (frozen, weights) {
                (false, false) => "has trainable weights",
                (false, true) => "is pretrained but not frozen",
                _ => "is frozen but has no pretrained weights (its features would be random)",
            };
            self.err(
                Diag::new(
                    "amm::trees::trainable_backbone",
                    format!(
                        "`{}` {what}, but a tree head cannot train the stages before it",
                        stage.dotted()
                    ),
                )
                .primary(stage.span, format!("{} weights a tree head cannot train", super::summary::thousands(params)))
                .secondary(tm.head.path_span(), "trees are fitted on fixed features")
                .help(format!(
                    "pretrain it in another train block and freeze it: `{}(weights = pretrain, frozen = true)`",
                    stage.dotted()
                )),
            );
        }
        if tm.shape.rank() != 1 {
            let mut d = Diag::new(
                "amm::trees::flat",
                format!(
                    "a tree head needs flat features [N, F], but it receives {}",
                    tm.shape
                ),
            )
            .primary(tm.head.path_span(), format!("receives {}", tm.shape));
            if let Some(l) = tm.layers.last() {
                d = d.secondary(l.span, format!("`{}` outputs {}", l.text, l.output));
            }
            self.err(d.help(if tm.layers.is_empty() {
                "put a backbone that flattens before it: `backbone pixels { flatten }` and `model m = pixels -> …`".to_string()
            } else {
                "end the backbone with `flatten` or `global_avgpool`".to_string()
            }));
        }
        let head = self.tree_head(&tm)?;
        if head.early_stopping.is_some() && !self.has_validation(tm.data_name) {
            self.err(
                Diag::new(
                    "amm::train::no_val",
                    format!("early stopping watches the validation loss, but `{}` has no validation split", tm.data_name),
                )
                .primary(tm.head.span, "early_stopping needs a validation split")
                .help(format!("give `{}` three split fractions, e.g. `split = [0.7, 0.15, 0.15]`", tm.data_name)),
            );
        }
        if self.diags.len() > errors {
            return None;
        }
        let classes = tm.data.classes.is_some();
        let spec = spec::TrainSpec {
            data: self.data_spec_of(tm.data_name, tm.env)?,
            loss: if classes {
                spec::Loss::CrossEntropy {
                    label_smoothing: 0.0,
                }
            } else {
                spec::Loss::Mse
            },
            // Unused: every stage before a tree head is frozen, so no update runs. The
            // rate recorded is the head's shrinkage.
            optimizer: spec::Optimizer::Sgd {
                lr: head.lr as f32,
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            },
            schedule: spec::Schedule::Constant { warmup: 0 },
            epochs: head.trees,
            batch: tm.batch,
            metrics: if classes {
                vec!["accuracy".into()]
            } else {
                vec!["mse".into(), "mae".into()]
            },
            clip_norm: None,
            seed: tm
                .t
                .fields
                .iter()
                .find(|f| f.key.name == "seed")
                .and_then(|f| self.int(&f.value, tm.env))
                .map_or(0, |s| s.max(0) as u64),
            init: spec::InitScheme::default(),
            early_stop: None,
            tree: Some(head),
        };
        Some(ModelSummary {
            train: tm.train.to_string(),
            model: tm.model_name.to_string(),
            input: tm.data.shape.clone(),
            layers: tm.layers,
            batch: tm.batch,
            optimizer_slots: 0,
            spec,
            pretrained: tm.pretrained,
            warnings: tm.warnings,
        })
    }

    /// The head's arguments, evaluated with the schema's defaults.
    fn tree_head(&mut self, tm: &TreeModel) -> Option<spec::TreeHead> {
        let name = tm.head.dotted();
        let call = schema::builtin(Family::TreeHead, &name)?;
        let args: HashMap<String, Value> = self.call_args(tm.head, call.args, tm.env)?;
        let int =
            |k: &str, d: i64| args.get(k).and_then(Value::as_i64).unwrap_or(d).max(0) as usize;
        let float = |k: &str, d: f64| args.get(k).and_then(Value::as_f64).unwrap_or(d);
        let kind = if name == "decision_tree" {
            spec::TreeKind::DecisionTree
        } else {
            spec::TreeKind::BoostedTrees
        };
        let single = kind == spec::TreeKind::DecisionTree;
        Some(spec::TreeHead {
            kind,
            trees: if single { 1 } else { int("trees", 100) },
            depth: int("depth", 6),
            lr: if single { 1.0 } else { float("lr", 0.1) },
            min_leaf: int("min_leaf", if single { 1 } else { 20 }),
            l2: if single { 0.0 } else { float("l2", 0.0) },
            bins: int("bins", 255),
            early_stopping: args
                .get("early_stopping")
                .and_then(Value::as_i64)
                .map(|p| p.max(1) as usize),
            outputs: tm.data.classes.or(tm.data.targets).unwrap_or(1),
        })
    }

    /// The evaluated loader call of data `name`.
    fn data_spec_of(&mut self, name: &str, env: &Env) -> Option<spec::DataSpec> {
        let id = self.program.lookup(env.module, name)?;
        let crate::syntax::ast::ItemKind::Data(d) = &self.program.def(id).item.kind else {
            return None;
        };
        let crate::syntax::ast::ExprKind::Call(c) = &d.value.kind else {
            return None;
        };
        let loader = c.dotted();
        let args = self.call_args(c, schema::builtin(Family::Dataset, &loader)?.args, env)?;
        Some(spec::DataSpec {
            name: name.to_string(),
            loader,
            args: args.into_iter().collect(),
        })
    }
}
