//! A tree head's inputs and its use after training: the frozen backbone run once in
//! evaluation mode on the JIT backend (the [`Predictor`] `ammc eval` uses), or the
//! normalised inputs themselves when the model is only a tree head; then the ensemble's
//! outputs, reports and predictions. `ammc run`, `ammc eval` and `ammc predict` all go
//! through [`TreeModel`], so they compute the same numbers.

use std::path::Path;

use super::boost::metrics;
use super::ensemble::{Ensemble, Link};
use crate::check::ModelSummary;
use crate::data::{Dataset, Labels, Normalization};
use crate::lower::Plan;
use crate::runtime::backend::BackendKind;
use crate::runtime::infer::{
    EvalReport, InferError, ModelFile, Predictions, Predictor, report_of_outputs, softmax,
};

/// The frozen part of a tree model: computes the head's features.
pub struct Backbone<'p> {
    predictor: Option<Predictor<'p>>,
    normalization: Option<Normalization>,
}

impl<'p> Backbone<'p> {
    /// Loads the backbone's weights (`file`, checked against the plan) into `backend`;
    /// `plan` is `None` for a model without layers.
    pub fn new(
        backend: BackendKind,
        model: &'p ModelSummary,
        plan: Option<&'p Plan>,
        file: &ModelFile,
    ) -> Result<Backbone<'p>, InferError> {
        let predictor = match plan {
            Some(plan) => Some(Predictor::new(backend, model, plan, file)?),
            None => None,
        };
        Ok(Backbone {
            predictor,
            normalization: file.normalization.clone(),
        })
    }

    /// Features of normalised samples, row-major `[n, features]`.
    pub fn features(&mut self, normalized: &[f32]) -> Result<Vec<f32>, InferError> {
        match &mut self.predictor {
            Some(p) => p.outputs_normalized(normalized),
            None => Ok(normalized.to_vec()),
        }
    }

    /// Features of raw samples: the training normalisation is applied first.
    pub fn features_raw(&mut self, mut raw: Vec<f32>) -> Result<Vec<f32>, InferError> {
        if let Some(n) = &self.normalization {
            n.apply(&mut raw);
        }
        self.features(&raw)
    }
}

/// The first sample index with a non-finite feature and that feature, if any.
pub fn first_not_finite(features: &[f32], per: usize) -> Option<(usize, usize)> {
    let i = features.iter().position(|v| !v.is_finite())?;
    Some((i / per.max(1), i % per.max(1)))
}

/// The report of `ensemble` on features and their labels.
pub fn report(ensemble: &Ensemble, features: &[f32], labels: &Labels, top_k: usize) -> EvalReport {
    let scores = ensemble.scores(features);
    let m = metrics(ensemble.task, ensemble.link, &scores, labels);
    let outputs: Vec<f32> = scores.iter().map(|v| *v as f32).collect();
    report_of_outputs(labels, &outputs, m.loss, top_k)
}

/// Predictions of `ensemble` on features: classes with probabilities, or values.
pub fn predictions(ensemble: &Ensemble, features: &[f32]) -> Predictions {
    let scores = ensemble.scores(features);
    let width = ensemble.outputs().max(1);
    match (ensemble.task, ensemble.link) {
        (super::Task::Classes(_), link) => {
            let mut classes = Vec::new();
            let mut probabilities = Vec::with_capacity(scores.len());
            for row in scores.chunks(width) {
                let p: Vec<f32> = match link {
                    Link::Softmax => softmax(&row.iter().map(|v| *v as f32).collect::<Vec<_>>()),
                    Link::Identity => row.iter().map(|v| *v as f32).collect(),
                };
                classes.push(crate::runtime::train::argmax(&p));
                probabilities.extend(p);
            }
            Predictions::Classes {
                classes,
                probabilities,
                width,
            }
        }
        (super::Task::Values(_), _) => Predictions::Values {
            values: scores.iter().map(|v| *v as f32).collect(),
            width,
        },
    }
}

/// A trained tree model: its frozen backbone and its ensemble.
pub struct TreeModel<'p> {
    /// The backbone.
    pub backbone: Backbone<'p>,
    /// The trees.
    pub ensemble: Ensemble,
}

impl<'p> TreeModel<'p> {
    /// Loads a run's `model.safetensors` (`weights`: the backbone and the normalisation)
    /// and the `trees.json` beside it.
    pub fn load(
        backend: BackendKind,
        model: &'p ModelSummary,
        plan: Option<&'p Plan>,
        weights: &Path,
    ) -> Result<TreeModel<'p>, InferError> {
        let file = crate::runtime::infer::read_model_file(weights)?;
        let trees = weights.with_file_name(super::TREES_FILE);
        if !trees.exists() {
            return Err(InferError::Missing(trees));
        }
        let unreadable = |why: String| InferError::Unreadable {
            path: trees.clone(),
            why,
        };
        let bytes = crate::input::read_bounded(&trees, crate::input::memory_budget().bytes)
            .map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| unreadable(e.to_string()))?;
        let ensemble = Ensemble::from_json(&text).map_err(unreadable)?;
        let width = model.output().elements();
        let task = model_task(model);
        if ensemble.features != width || Some(ensemble.task) != task {
            return Err(InferError::Mismatch {
                path: trees.clone(),
                why: format!(
                    "its trees take {} features and predict {:?}; the model gives {width} features and predicts {:?}",
                    ensemble.features, ensemble.task, task
                ),
                from: file.model.clone().filter(|m| *m != model.model),
            });
        }
        let backbone = Backbone::new(backend, model, plan, &file)?;
        Ok(TreeModel { backbone, ensemble })
    }

    /// The report on normalised data (a split as `data::load` returns it).
    pub fn evaluate(&mut self, data: &Dataset, top_k: usize) -> Result<EvalReport, InferError> {
        let f = self.backbone.features(&data.features)?;
        Ok(report(&self.ensemble, &f, &data.labels, top_k))
    }

    /// The report on raw data (normalised first).
    pub fn evaluate_raw(&mut self, data: Dataset, top_k: usize) -> Result<EvalReport, InferError> {
        let f = self.backbone.features_raw(data.features)?;
        Ok(report(&self.ensemble, &f, &data.labels, top_k))
    }

    /// Predictions on raw samples.
    pub fn predict(&mut self, raw: Vec<f32>) -> Result<Predictions, InferError> {
        let f = self.backbone.features_raw(raw)?;
        Ok(predictions(&self.ensemble, &f))
    }
}

/// The task a checked tree model was instantiated for: classes when its objective is the
/// log-loss, else regression targets.
pub fn model_task(model: &ModelSummary) -> Option<super::Task> {
    let head = model.spec.tree.as_ref()?;
    Some(match model.spec.loss {
        crate::check::spec::Loss::CrossEntropy { .. } => super::Task::Classes(head.outputs),
        _ => super::Task::Values(head.outputs),
    })
}
