//! Using a trained model: read `model.safetensors` (weights plus the normalisation fitted
//! on the train split), load it into an evaluation-mode backend for a train block's model,
//! and evaluate it (`ammc eval`) or predict on raw inputs (`ammc predict`). Prints nothing;
//! the CLI renders the reports.

use std::path::{Path, PathBuf};

use crate::check::LayerOp;
use crate::check::ModelSummary;
use crate::check::spec::Loss;
use crate::data::safetensors::Tensor;
use crate::data::{Dataset, Labels, Normalization};
use crate::diag::Diag;
use crate::lower::{BufferId, Plan};
use crate::runtime::backend::{Backend, BackendKind};
use crate::runtime::train::{
    TrainError, argmax, forward_batches, forward_batches_reading, is_model_tensor,
};
use crate::source::Span;

/// Metadata keys of `model.safetensors` written by `ammc run`.
pub mod meta {
    /// The train block that produced the weights.
    pub const BLOCK: &str = "ammc.block";
    /// The model it trained.
    pub const MODEL: &str = "ammc.model";
    /// Per-sample input shape, a JSON list (`[1, 8, 8]`).
    pub const INPUT_SHAPE: &str = "ammc.input_shape";
    /// The normalisation fitted on the train split, JSON ([`crate::data::Normalization`]);
    /// absent when the data is not normalised.
    pub const NORMALIZATION: &str = "ammc.normalization";
}

/// A weights file as read: its tensors and what its metadata says.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The tensors.
    pub tensors: Vec<Tensor>,
    /// The normalisation to apply to raw inputs.
    pub normalization: Option<Normalization>,
    /// The model that produced it, when recorded.
    pub model: Option<String>,
}

/// Why a trained model cannot be used.
#[derive(Debug)]
pub enum InferError {
    /// The weights file does not exist (the block was never run).
    Missing(PathBuf),
    /// The weights file cannot be read or is not a valid safetensors file.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The weights belong to a different model.
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        why: String,
        /// The model recorded in the file.
        from: Option<String>,
    },
    /// Input samples of the wrong shape.
    Shape {
        /// The input file.
        input: PathBuf,
        /// Its per-sample shape.
        found: Vec<usize>,
        /// The model's per-sample input shape.
        expected: Vec<usize>,
    },
    /// `--features` names no stage or layer whose activations exist.
    UnknownFeature {
        /// The name asked for.
        name: String,
        /// The names that can be asked for.
        available: Vec<String>,
        /// The activation a layer's output was fused into (`features.conv1` → `features.relu1`).
        fused_into: Option<String>,
    },
    /// The input or evaluation data cannot be loaded.
    Data(crate::data::DataError),
    /// A kernel failed (a bug: the checker accepted the model).
    Op(String),
    /// The export format has no form for a layer of the model.
    Unsupported(String),
}

impl From<TrainError> for InferError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Weights(m) => InferError::Op(m),
            TrainError::Op(m) => InferError::Op(m),
            TrainError::Diverged(d) => InferError::Op(format!("non-finite loss {}", d.loss)),
        }
    }
}

impl InferError {
    /// The diagnostic, labelled at the train block `block` (its name at `span`).
    pub fn diag(&self, block: &str, span: Span) -> Diag {
        match self {
            InferError::Missing(path) => Diag::new(
                "amm::weights::missing",
                format!("`{block}` has no trained weights at {}", path.display()),
            )
            .primary(span, "this train block")
            .help(format!(
                "run `ammc run FILE {block}` first (with the same `--out`), or pass `--weights PATH`"
            )),
            InferError::Unreadable { path, why } => Diag::new(
                "amm::weights::load",
                format!("cannot read the weights {}: {why}", path.display()),
            )
            .primary(span, "weights for this train block")
            .help(format!(
                "pass a `model.safetensors` written by `ammc run … {block}`"
            )),
            InferError::Mismatch { path, why, from } => {
                let from = from
                    .as_ref()
                    .map_or(String::new(), |m| format!(" (they were trained for `{m}`)"));
                Diag::new(
                    "amm::weights::mismatch",
                    format!(
                        "the weights {} do not fit the model of `{block}`{from}: {why}",
                        path.display()
                    ),
                )
                .primary(span, "this train block's model")
                .help(format!(
                    "pass the `model.safetensors` of a run of `{block}`, or run it again"
                ))
            }
            InferError::Shape {
                input,
                found,
                expected,
            } => Diag::new(
                "amm::predict::shape",
                format!(
                    "the samples of {} have shape {}, the model of `{block}` takes {}",
                    input.display(),
                    shape_text(found),
                    shape_text(expected)
                ),
            )
            .primary(span, "this train block's model")
            .help(format!(
                "give samples of shape {} (a CSV row must have {} values)",
                shape_text(expected),
                expected.iter().product::<usize>()
            )),
            InferError::UnknownFeature {
                name,
                available,
                fused_into,
            } => {
                let d = Diag::new(
                    "amm::predict::features",
                    match fused_into {
                        Some(_) => format!(
                            "the output of `{name}` in the model of `{block}` is never stored: it is fused with the activation that follows"
                        ),
                        None => format!("the model of `{block}` has no stage or layer `{name}`"),
                    },
                )
                .primary(span, "this train block's model");
                let list = available.join(", ");
                match (fused_into, crate::diag::suggest(name, available.iter().map(String::as_str))) {
                    (Some(next), _) => d.help(format!(
                        "ask for `{next}` (the activated output); stages and layers: {list}"
                    )),
                    (None, Some(s)) => d.help(format!("did you mean `{s}`? stages and layers: {list}")),
                    (None, None) => d.help(format!("stages and layers: {list}")),
                }
            }
            InferError::Data(e) => {
                let help = miette::Diagnostic::help(e).map(|h| h.to_string());
                let d = Diag::new(e.code(), e.to_string()).primary(span, "for this train block");
                match help {
                    Some(h) => d.help(h),
                    None => d.help("check the file's format (NPY, CSV with a header row, or IDX)"),
                }
            }
            InferError::Unsupported(m) => Diag::new("amm::export::unsupported", m.clone())
                .primary(span, "for this train block")
                .help("ONNX export covers dense, convolutional and pooling models; for sequence layers use `model.safetensors`, which loads into PyTorch's nn.GRU/nn.LSTM/nn.Conv1d/nn.Embedding (see docs/language.md, Sequences)"),
            InferError::Op(m) => Diag::new("amm::internal::kernel", m.clone())
                .primary(span, "in this train block")
                .help("this is a bug in ammc; please report it with this file"),
        }
    }
}

fn shape_text(dims: &[usize]) -> String {
    crate::check::Shape(dims.to_vec()).to_string()
}

/// An activation of the model that `ammc predict --features` can write: a stage's output
/// (`features`) or a layer's (`features.relu2`).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureTap {
    /// The stage or dotted layer name.
    pub name: String,
    /// The plan buffer holding it.
    pub buffer: BufferId,
    /// Per-sample shape: the checker's shape of that stage or layer.
    pub shape: Vec<usize>,
    /// Produced by a conv (alone or with its fused activation): a stack of feature maps.
    pub conv: bool,
}

/// Every stage and layer of `model` whose activations `plan` stores, in model order: each
/// layer with an output buffer, then each stage whose last layer has one. A dense or conv
/// layer fused with the activation after it has no buffer of its own and is left out.
pub fn feature_taps(model: &ModelSummary, plan: &Plan) -> Vec<FeatureTap> {
    let buffer_of = |name: &str| {
        let want = format!("{name}.out");
        plan.buffers
            .iter()
            .position(|b| b.name == want)
            .map(|i| BufferId(i as u32))
    };
    let mut layers = Vec::new();
    let mut stages: Vec<FeatureTap> = Vec::new();
    for (i, l) in model.layers.iter().enumerate() {
        let Some(buffer) = buffer_of(&l.name) else {
            continue;
        };
        // The activation fused into a conv holds that conv's feature maps.
        let conv = matches!(l.op, LayerOp::Conv { .. })
            || (i > 0
                && matches!(model.layers[i - 1].op, LayerOp::Conv { .. })
                && buffer_of(&model.layers[i - 1].name).is_none());
        let tap = FeatureTap {
            name: l.name.clone(),
            buffer,
            shape: l.output.0.clone(),
            conv,
        };
        let stage = l.name.split('.').next().unwrap_or(&l.name).to_string();
        let is_last_of_stage = model
            .layers
            .get(i + 1)
            .is_none_or(|n| n.name.split('.').next() != Some(stage.as_str()));
        if is_last_of_stage {
            stages.push(FeatureTap {
                name: stage,
                ..tap.clone()
            });
        }
        layers.push(tap);
    }
    stages.extend(layers);
    stages
}

/// The tap named `name`, or why there is none.
pub fn feature_tap(
    model: &ModelSummary,
    plan: &Plan,
    name: &str,
) -> Result<FeatureTap, InferError> {
    let taps = feature_taps(model, plan);
    if let Some(t) = taps.iter().find(|t| t.name == name) {
        return Ok(t.clone());
    }
    let fused_into = model
        .layers
        .iter()
        .position(|l| l.name == name)
        .and_then(|i| model.layers.get(i + 1))
        .map(|next| next.name.clone())
        .filter(|next| taps.iter().any(|t| t.name == *next));
    Err(InferError::UnknownFeature {
        name: name.to_string(),
        available: taps.into_iter().map(|t| t.name).collect(),
        fused_into,
    })
}

/// Reads a weights file written by `ammc run` (or any safetensors file of f32 tensors).
pub fn read_model_file(path: &Path) -> Result<ModelFile, InferError> {
    if !path.exists() {
        return Err(InferError::Missing(path.to_path_buf()));
    }
    let unreadable = |why: String| InferError::Unreadable {
        path: path.to_path_buf(),
        why,
    };
    let bytes = crate::input::read_bounded(path, crate::input::memory_budget().bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    let tensors =
        crate::data::safetensors::deserialize(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let metadata = crate::data::safetensors::metadata(&bytes).map_err(unreadable)?;
    let normalization = match metadata.get(meta::NORMALIZATION) {
        None => None,
        Some(text) => {
            let n: Normalization = serde_json::from_str(text)
                .map_err(|e| unreadable(format!("its normalisation metadata is corrupt: {e}")))?;
            if n.shift.len() != n.scale.len()
                || n.shift.iter().chain(&n.scale).any(|v| !v.is_finite())
            {
                return Err(unreadable(
                    "its normalisation metadata is corrupt (lengths differ or values are not finite)"
                        .into(),
                ));
            }
            Some(n)
        }
    };
    Ok(ModelFile {
        path: path.to_path_buf(),
        tensors,
        normalization,
        model: metadata.get(meta::MODEL).cloned(),
    })
}

/// A trained model loaded into an evaluation-mode backend.
pub struct Predictor<'p> {
    model: &'p ModelSummary,
    ex: Box<dyn Backend + 'p>,
    normalization: Option<Normalization>,
}

impl<'p> Predictor<'p> {
    /// Loads `file` into a backend for `plan` (lowered from `model`): every learned tensor
    /// of the model must be in the file with its shape, and the file must hold nothing else.
    pub fn new(
        backend: BackendKind,
        model: &'p ModelSummary,
        plan: &'p Plan,
        file: &ModelFile,
    ) -> Result<Predictor<'p>, InferError> {
        let mismatch = |why: String| InferError::Mismatch {
            path: file.path.clone(),
            why,
            from: file.model.clone().filter(|m| *m != model.model),
        };
        let mut ex = backend
            .instantiate(plan, model.spec.seed)
            .map_err(|e| InferError::Op(e.to_string()))?;
        let mut used = 0;
        for (i, b) in plan.buffers.iter().enumerate() {
            if !is_model_tensor(b) {
                continue;
            }
            let t = file
                .tensors
                .iter()
                .find(|t| t.name == b.name)
                .ok_or_else(|| mismatch(format!("it has no tensor `{}`", b.name)))?;
            if t.shape != b.shape {
                return Err(mismatch(format!(
                    "tensor `{}` has shape {:?}, the model needs {:?}",
                    b.name, t.shape, b.shape
                )));
            }
            ex.data_mut(BufferId(i as u32)).copy_from_slice(&t.data);
            used += 1;
        }
        if used != file.tensors.len()
            && let Some(extra) = file.tensors.iter().find(|t| {
                !plan
                    .buffers
                    .iter()
                    .any(|b| b.name == t.name && is_model_tensor(b))
            })
        {
            return Err(mismatch(format!(
                "it has a tensor `{}` the model does not have",
                extra.name
            )));
        }
        if let Some(n) = &file.normalization
            && n.len() != model.input.0.iter().product::<usize>()
        {
            return Err(mismatch(format!(
                "its normalisation is for {} features per sample, the model takes {}",
                n.len(),
                model.input.0.iter().product::<usize>()
            )));
        }
        Ok(Predictor {
            model,
            ex,
            normalization: file.normalization.clone(),
        })
    }

    /// The normalisation applied to raw inputs.
    pub fn normalization(&self) -> Option<&Normalization> {
        self.normalization.as_ref()
    }

    /// Evaluates on already-normalised data (a split as `data::load` returns it).
    pub fn evaluate(&mut self, data: &Dataset, top_k: usize) -> Result<EvalReport, InferError> {
        let mut acc = Accumulator::new(&data.labels, top_k);
        forward_batches(self.ex.as_mut(), data, &mut |b| acc.add(&b))?;
        Ok(acc.finish())
    }

    /// Evaluates on raw data: the model's normalisation is applied first.
    pub fn evaluate_raw(
        &mut self,
        mut data: Dataset,
        top_k: usize,
    ) -> Result<EvalReport, InferError> {
        if let Some(n) = &self.normalization {
            n.apply(&mut data.features);
        }
        self.evaluate(&data, top_k)
    }

    /// The model's outputs (logits or regression values), row-major, for raw samples
    /// of the model's input shape: the normalisation is applied, then the forward pass in
    /// evaluation mode.
    pub fn outputs(&mut self, mut features: Vec<f32>) -> Result<Vec<f32>, InferError> {
        if let Some(n) = &self.normalization {
            n.apply(&mut features);
        }
        self.outputs_normalized(&features)
    }

    /// [`Predictor::outputs`] for samples already normalised.
    pub fn outputs_normalized(&mut self, features: &[f32]) -> Result<Vec<f32>, InferError> {
        let dummy = self.dataset(features.to_vec());
        let width = self.model.output().0.iter().product::<usize>();
        let n = dummy.len();
        let mut out = Vec::with_capacity(n * width);
        forward_batches(self.ex.as_mut(), &dummy, &mut |b| {
            out.extend_from_slice(b.outputs)
        })?;
        Ok(out)
    }

    /// The activations at `tap` for raw samples (normalised first), row-major
    /// `[n, tap.shape…]`, computed in evaluation mode.
    pub fn activations(
        &mut self,
        mut features: Vec<f32>,
        tap: &FeatureTap,
    ) -> Result<Vec<f32>, InferError> {
        if let Some(n) = &self.normalization {
            n.apply(&mut features);
        }
        let dummy = self.dataset(features);
        let mut out = Vec::with_capacity(dummy.len() * tap.shape.iter().product::<usize>());
        forward_batches_reading(self.ex.as_mut(), &dummy, tap.buffer, &mut |b| {
            out.extend_from_slice(b.outputs)
        })?;
        Ok(out)
    }

    /// Normalised samples as a dataset with placeholder targets (zeros are a valid class
    /// index and value; the outputs do not depend on them).
    fn dataset(&self, features: Vec<f32>) -> Dataset {
        let per = self.model.input.0.iter().product::<usize>().max(1);
        let n = features.len() / per;
        let width = self.model.output().0.iter().product::<usize>();
        Dataset {
            features,
            sample_shape: self.model.input.0.clone(),
            labels: match self.model.spec.loss {
                Loss::CrossEntropy { .. } => Labels::Classes {
                    ids: vec![0; n],
                    classes: width,
                },
                _ => Labels::Values {
                    values: vec![0.0; n * width],
                    width,
                },
            },
        }
    }

    /// Predictions for raw samples: classes with probabilities, or regression values.
    pub fn predict(&mut self, features: Vec<f32>) -> Result<Predictions, InferError> {
        let out = self.outputs(features)?;
        Ok(self.predictions(out))
    }

    /// Turns model outputs into predictions (softmax for a cross-entropy model).
    pub fn predictions(&self, outputs: Vec<f32>) -> Predictions {
        let width = self.model.output().0.iter().product::<usize>().max(1);
        match self.model.spec.loss {
            Loss::CrossEntropy { .. } => {
                let mut classes = Vec::with_capacity(outputs.len() / width);
                let mut probabilities = Vec::with_capacity(outputs.len());
                for row in outputs.chunks(width) {
                    classes.push(argmax(row));
                    probabilities.extend(softmax(row));
                }
                Predictions::Classes {
                    classes,
                    probabilities,
                    width,
                }
            }
            _ => Predictions::Values {
                values: outputs,
                width,
            },
        }
    }
}

/// The report of outputs computed outside a plan (a tree head's), with `loss` as their
/// mean loss: the same accuracy, top-k, per-class and regression sums as [`Predictor`]'s.
pub fn report_of_outputs(labels: &Labels, outputs: &[f32], loss: f64, top_k: usize) -> EvalReport {
    let targets: Vec<f32> = match labels {
        Labels::Classes { ids, .. } => ids.iter().map(|c| *c as f32).collect(),
        Labels::Values { values, .. } => values.clone(),
    };
    let rows = match labels {
        Labels::Classes { ids, .. } => ids.len(),
        Labels::Values { values, width } => values.len() / (*width).max(1),
    };
    let mut acc = Accumulator::new(labels, top_k);
    acc.add(&crate::runtime::train::EvalBatch {
        rows,
        outputs,
        targets: &targets,
        loss: loss as f32,
    });
    let mut report = acc.finish();
    report.loss = loss;
    report
}

/// A numerically stable softmax of one row (in f64, rounded to f32).
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(*v)));
    let exps: Vec<f64> = row.iter().map(|v| (f64::from(*v) - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// What `ammc predict` produces.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// A classifier's classes and probabilities.
    Classes {
        /// Predicted class per sample.
        classes: Vec<usize>,
        /// Row-major probabilities, `width` per sample.
        probabilities: Vec<f32>,
        /// Number of classes.
        width: usize,
    },
    /// Regression values, `width` per sample.
    Values {
        /// Row-major values.
        values: Vec<f32>,
        /// Targets per sample.
        width: usize,
    },
}

/// Metrics of a model on one dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EvalReport {
    /// Samples evaluated.
    pub samples: usize,
    /// Mean loss (as training computes it).
    pub loss: f64,
    /// Classification metrics (a cross-entropy model).
    pub classification: Option<ClassMetrics>,
    /// Regression metrics.
    pub regression: Option<RegressionMetrics>,
}

/// Metrics of a classifier.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassMetrics {
    /// Fraction of samples whose top class is right.
    pub accuracy: f64,
    /// Top-k accuracy: the true class among the k highest scores.
    pub top_k: Vec<TopK>,
    /// Per class, in class order.
    pub per_class: Vec<ClassStats>,
    /// Unweighted mean F1 over classes.
    pub macro_f1: f64,
    /// `confusion[true][predicted]` sample counts.
    pub confusion: Vec<Vec<usize>>,
}

/// One top-k accuracy.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TopK {
    /// k.
    pub k: usize,
    /// Fraction of samples with the true class among the top k.
    pub accuracy: f64,
}

/// Precision, recall and F1 of one class (0 where undefined, as scikit-learn reports).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassStats {
    /// Class index.
    pub class: usize,
    /// Right among those predicted as this class.
    pub precision: f64,
    /// Found among those of this class.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Samples of this class.
    pub support: usize,
}

/// Metrics of a regression model, over every target value.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RegressionMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination, `1 − SSE/SST` with per-target means (`None` when
    /// every target is the same value).
    pub r2: Option<f64>,
}

/// Sums over batches, in order (the same f64 sums `train::evaluate` forms, so loss and
/// accuracy equal those `ammc run` reports).
struct Accumulator {
    classes: Option<usize>,
    top_k: usize,
    loss: f64,
    count: usize,
    correct: usize,
    in_top_k: Vec<usize>,
    confusion: Vec<Vec<usize>>,
    se: f64,
    ae: f64,
    targets: Vec<f32>,
    width: usize,
}

impl Accumulator {
    fn new(labels: &Labels, top_k: usize) -> Accumulator {
        let (classes, width) = match labels {
            Labels::Classes { classes, .. } => (Some(*classes), *classes),
            Labels::Values { width, .. } => (None, *width),
        };
        let ks = top_k.min(width).max(1);
        Accumulator {
            classes,
            top_k: ks,
            loss: 0.0,
            count: 0,
            correct: 0,
            in_top_k: vec![0; ks],
            confusion: vec![vec![0; classes.unwrap_or(0)]; classes.unwrap_or(0)],
            se: 0.0,
            ae: 0.0,
            targets: Vec::new(),
            width,
        }
    }

    fn add(&mut self, b: &crate::runtime::train::EvalBatch) {
        self.loss += f64::from(b.loss) * b.rows as f64;
        self.count += b.rows;
        let width = b.outputs.len() / b.rows.max(1);
        match self.classes {
            Some(classes) => {
                for (r, t) in b.targets.iter().enumerate() {
                    let row = &b.outputs[r * width..(r + 1) * width];
                    let t = *t as usize;
                    let best = argmax(row);
                    self.correct += usize::from(best == t);
                    if t < classes && best < classes {
                        self.confusion[t][best] += 1;
                    }
                    // The true class's rank, ties broken as argmax breaks them (lower index
                    // first), so top-1 equals the accuracy.
                    let score = row.get(t).copied().unwrap_or(f32::NEG_INFINITY);
                    let rank = row
                        .iter()
                        .enumerate()
                        .filter(|(j, v)| **v > score || (**v == score && *j < t))
                        .count();
                    if rank < self.top_k {
                        self.in_top_k[rank] += 1;
                    }
                }
            }
            None => {
                for (o, t) in b.outputs.iter().zip(b.targets) {
                    let d = f64::from(o - t);
                    self.se += d * d;
                    self.ae += d.abs();
                }
                self.targets.extend_from_slice(b.targets);
            }
        }
    }

    fn finish(self) -> EvalReport {
        let n = self.count.max(1) as f64;
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let classification = self.classes.map(|classes| {
            let per_class: Vec<ClassStats> = (0..classes)
                .map(|c| {
                    let tp = self.confusion[c][c];
                    let support: usize = self.confusion[c].iter().sum();
                    let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
                    let precision = ratio(tp, predicted);
                    let recall = ratio(tp, support);
                    let f1 = if precision + recall > 0.0 {
                        2.0 * precision * recall / (precision + recall)
                    } else {
                        0.0
                    };
                    ClassStats {
                        class: c,
                        precision,
                        recall,
                        f1,
                        support,
                    }
                })
                .collect();
            let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / classes.max(1) as f64;
            let mut cumulative = 0;
            let top_k = self
                .in_top_k
                .iter()
                .enumerate()
                .map(|(k, hits)| {
                    cumulative += hits;
                    TopK {
                        k: k + 1,
                        accuracy: cumulative as f64 / n,
                    }
                })
                .collect();
            ClassMetrics {
                accuracy: self.correct as f64 / n,
                top_k,
                per_class,
                macro_f1,
                confusion: self.confusion.clone(),
            }
        });
        let regression = self.classes.is_none().then(|| {
            let w = self.width.max(1);
            let m = n * w as f64;
            let mut mean = vec![0f64; w];
            for row in self.targets.chunks(w) {
                for (m, t) in mean.iter_mut().zip(row) {
                    *m += f64::from(*t);
                }
            }
            for v in mean.iter_mut() {
                *v /= n;
            }
            let sst: f64 = self
                .targets
                .chunks(w)
                .flat_map(|row| {
                    row.iter()
                        .zip(&mean)
                        .map(|(t, m)| (f64::from(*t) - m).powi(2))
                })
                .sum();
            RegressionMetrics {
                mse: self.se / m,
                mae: self.ae / m,
                r2: (sst > 0.0).then(|| 1.0 - self.se / sst),
            }
        });
        EvalReport {
            samples: self.count,
            loss: self.loss / n,
            classification,
            regression,
        }
    }
}
