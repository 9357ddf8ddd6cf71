//! The training loop: mini-batches in a seeded order, forward, loss, backward, scheduled
//! update; evaluation on the validation split after each epoch and on every split at the end;
//! divergence detection. Backend-agnostic: it sees only the [`Backend`] trait.

use std::time::Instant;

use crate::check::ModelSummary;
use crate::check::spec::Schedule;
use crate::data::safetensors::Tensor;
use crate::data::{Dataset, Labels, Splits, epoch_order};
use crate::lower::{BufferId, Plan, Role, lower};
use crate::runtime::backend::{Backend, BackendKind};
use crate::runtime::reference::{LrDecay, LrSchedule};

/// Loss and metrics of a model on one split.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SplitMetrics {
    /// Mean loss.
    pub loss: f64,
    /// Fraction of correct classes (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Mean squared error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse: Option<f64>,
    /// Mean absolute error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
}

/// One line of `metrics.jsonl`: deterministic numbers only (no timings).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// Validation metrics after the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val: Option<SplitMetrics>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
}

/// What the loop reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// An epoch begins with this many batches.
    EpochStart {
        /// 1-based epoch.
        epoch: usize,
        /// Batches in it.
        batches: usize,
    },
    /// A batch finished.
    Batch {
        /// Its training loss.
        loss: f32,
    },
    /// An epoch finished.
    EpochEnd {
        /// Its record.
        record: &'a EpochRecord,
        /// Seconds it took.
        seconds: f64,
    },
}

/// The loss stopped being a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// The loss value.
    pub loss: f32,
    /// The first buffer (in execution order) holding a non-finite value.
    pub first_bad: Option<String>,
}

/// Why training stopped early.
#[derive(Debug)]
pub enum TrainError {
    /// NaN or infinite loss.
    Diverged(Divergence),
    /// A kernel rejected its input (a bug if the checker passed the model).
    Op(String),
    /// A pretrained weight file could not be used.
    Weights(String),
}

/// The outcome of a run.
#[derive(Debug)]
pub struct TrainResult {
    /// Per-epoch records.
    pub epochs: Vec<EpochRecord>,
    /// Final metrics by split name (`train`, `val`, `test`).
    pub finals: Vec<(String, SplitMetrics)>,
    /// Training samples processed per second (training steps only).
    pub samples_per_sec: f64,
    /// Wall time of the whole run in seconds.
    pub wall_seconds: f64,
    /// Learned tensors and batchnorm statistics, in model order.
    pub tensors: Vec<Tensor>,
}

/// The learning-rate schedule of a train block in steps: `step(every)` decays every
/// `every` epochs of `batches` steps, `cosine` anneals over the steps after warm-up.
pub fn schedule(
    base: f32,
    schedule: &Schedule,
    batches: usize,
    total: usize,
) -> Result<LrSchedule, TrainError> {
    let (decay, warmup) = match *schedule {
        Schedule::Constant { warmup } => (LrDecay::Constant, warmup),
        Schedule::Step {
            every,
            gamma,
            warmup,
        } => (
            LrDecay::Step {
                step_size: (every * batches).max(1) as u64,
                gamma: f64::from(gamma),
            },
            warmup,
        ),
        Schedule::Cosine { min_lr, warmup } => (
            LrDecay::Cosine {
                t_max: total.saturating_sub(warmup).max(1) as u64,
                eta_min: f64::from(min_lr),
            },
            warmup,
        ),
    };
    LrSchedule::new(f64::from(base), decay)
        .map(|s| s.with_warmup(warmup as u64))
        .map_err(|e| TrainError::Op(e.to_string()))
}

/// Copies samples `order[start..end]` of `data` into batch vectors.
fn gather(data: &Dataset, order: &[usize], features: &mut Vec<f32>, targets: &mut Vec<f32>) {
    features.clear();
    targets.clear();
    let per = data.sample_len();
    for &i in order {
        features.extend_from_slice(&data.features[i * per..(i + 1) * per]);
        data.target(i, targets);
    }
}

/// Evaluates on a split in evaluation mode (no dropout, running batchnorm statistics).
pub fn evaluate(ex: &mut dyn Backend, data: &Dataset) -> Result<SplitMetrics, TrainError> {
    let plan = ex.plan().clone();
    let order: Vec<usize> = (0..data.len()).collect();
    let (mut features, mut targets) = (Vec::new(), Vec::new());
    let (mut loss, mut correct, mut se, mut ae, mut count) = (0f64, 0usize, 0f64, 0f64, 0usize);
    for chunk in order.chunks(plan.batch) {
        gather(data, chunk, &mut features, &mut targets);
        ex.load_batch(&features, &targets, chunk.len())
            .map_err(op_error)?;
        ex.forward(false).map_err(op_error)?;
        loss += f64::from(ex.loss().map_err(op_error)?) * chunk.len() as f64;
        let out = ex.data(plan.output).to_vec();
        let width = out.len() / chunk.len();
        match &data.labels {
            Labels::Classes { .. } => {
                for (r, t) in targets.iter().enumerate() {
                    let row = &out[r * width..(r + 1) * width];
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                        )
                        .0;
                    correct += usize::from(best == *t as usize);
                }
            }
            Labels::Values { .. } => {
                for (o, t) in out.iter().zip(&targets) {
                    let d = f64::from(o - t);
                    se += d * d;
                    ae += d.abs();
                }
            }
        }
        count += chunk.len();
    }
    let n = count.max(1) as f64;
    Ok(match &data.labels {
        Labels::Classes { .. } => SplitMetrics {
            loss: loss / n,
            accuracy: Some(correct as f64 / n),
            mse: None,
            mae: None,
        },
        Labels::Values { width, .. } => {
            let m = n * (*width).max(1) as f64;
            SplitMetrics {
                loss: loss / n,
                accuracy: None,
                mse: Some(se / m),
                mae: Some(ae / m),
            }
        }
    })
}

/// The first forward buffer holding a non-finite value, for divergence reports.
fn first_non_finite(ex: &dyn Backend, plan: &Plan) -> Option<String> {
    let order = plan
        .forward
        .iter()
        .flat_map(|k| kernel_outputs(k).into_iter());
    for id in order {
        if ex.data(id).iter().any(|v| !v.is_finite()) {
            return Some(plan.buffer(id).name.trim_end_matches(".out").to_string());
        }
    }
    None
}

fn kernel_outputs(k: &crate::lower::Kernel) -> Vec<BufferId> {
    use crate::lower::Kernel::*;
    match k {
        Dense { y, .. }
        | Conv { y, .. }
        | MaxPool { y, .. }
        | AvgPool { y, .. }
        | GlobalAvgPool { y, .. }
        | Act { y, .. }
        | Dropout { y, .. }
        | BatchNorm { y, .. }
        | Add { y, .. } => vec![*y],
        _ => Vec::new(),
    }
}

fn op_error(e: crate::runtime::backend::BackendError) -> TrainError {
    TrainError::Op(e.to_string())
}

/// Loads pretrained tensors into the backend by name.
fn load_pretrained(
    ex: &mut dyn Backend,
    plan: &Plan,
    stage: &str,
    path: &str,
) -> Result<(), TrainError> {
    let bytes = std::fs::read(path)
        .map_err(|e| TrainError::Weights(format!("cannot read `{path}`: {e}")))?;
    let tensors = crate::data::safetensors::deserialize(&bytes)
        .map_err(|e| TrainError::Weights(format!("`{path}`: {e}")))?;
    let prefix = format!("{stage}.");
    for (i, b) in plan.buffers.iter().enumerate() {
        let persistent = matches!(b.role, Role::Param { .. })
            || b.name.ends_with(".running_mean")
            || b.name.ends_with(".running_var");
        if !persistent || !b.name.starts_with(&prefix) {
            continue;
        }
        let t = tensors
            .iter()
            .find(|t| t.name == b.name)
            .ok_or_else(|| TrainError::Weights(format!("`{path}` has no tensor `{}`", b.name)))?;
        if t.shape != b.shape {
            return Err(TrainError::Weights(format!(
                "tensor `{}` in `{path}` has shape {:?}, the layer needs {:?}",
                b.name, t.shape, b.shape
            )));
        }
        ex.data_mut(BufferId(i as u32)).copy_from_slice(&t.data);
    }
    Ok(())
}

/// Trains `model` on `splits` with the reference backend.
pub fn train(
    model: &ModelSummary,
    splits: &Splits,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainResult, TrainError> {
    train_with(BackendKind::Reference, model, splits, progress)
}

/// Trains `model` on `splits` with the given backend.
pub fn train_with(
    backend: BackendKind,
    model: &ModelSummary,
    splits: &Splits,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainResult, TrainError> {
    train_until(backend, model, splits, progress, &mut |_| false)
}

/// [`train_with`] that asks `stop` after each epoch whether to end training there (early
/// stopping, a tuning pruner); the final evaluation then runs on the weights reached.
pub fn train_until(
    backend: BackendKind,
    model: &ModelSummary,
    splits: &Splits,
    progress: &mut dyn FnMut(Progress),
    stop: &mut dyn FnMut(&EpochRecord) -> bool,
) -> Result<TrainResult, TrainError> {
    let start = Instant::now();
    let spec = &model.spec;
    let plan = lower(model, spec.batch);
    let mut ex = backend.instantiate(&plan, spec.seed).map_err(op_error)?;
    let ex = ex.as_mut();
    for (stage, path) in &model.pretrained {
        load_pretrained(ex, &plan, stage, path)?;
    }
    let n = splits.train.len();
    let batches = n.div_ceil(spec.batch);
    let total_steps = batches * spec.epochs;
    let (mut features, mut targets) = (Vec::new(), Vec::new());
    let mut step = 0usize;
    let mut epochs = Vec::new();
    let mut train_seconds = 0f64;
    let lr_schedule = schedule(spec.optimizer.lr(), &spec.schedule, batches, total_steps)?;
    for epoch in 0..spec.epochs {
        let t0 = Instant::now();
        progress(Progress::EpochStart {
            epoch: epoch + 1,
            batches,
        });
        let order = epoch_order(n, spec.seed, epoch);
        let (mut loss_sum, mut lr) = (0f64, lr_schedule.lr_at(step as u64) as f32);
        for (b, chunk) in order.chunks(spec.batch).enumerate() {
            gather(&splits.train, chunk, &mut features, &mut targets);
            ex.load_batch(&features, &targets, chunk.len())
                .map_err(op_error)?;
            ex.forward(true).map_err(op_error)?;
            let loss = ex.loss().map_err(op_error)?;
            if !loss.is_finite() {
                return Err(TrainError::Diverged(Divergence {
                    epoch: epoch + 1,
                    step: b + 1,
                    loss,
                    first_bad: first_non_finite(ex, &plan),
                }));
            }
            ex.backward().map_err(op_error)?;
            lr = lr_schedule.lr_at(step as u64) as f32;
            step += 1;
            ex.update(lr, step as u64).map_err(op_error)?;
            loss_sum += f64::from(loss) * chunk.len() as f64;
            progress(Progress::Batch { loss });
        }
        train_seconds += t0.elapsed().as_secs_f64();
        let val = match &splits.val {
            Some(v) => Some(evaluate(ex, v)?),
            None => None,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / n.max(1) as f64,
            val,
            lr: f64::from(lr),
        };
        progress(Progress::EpochEnd {
            record: &record,
            seconds: t0.elapsed().as_secs_f64(),
        });
        let stopped = stop(&record);
        epochs.push(record);
        if stopped {
            break;
        }
    }
    let mut finals = vec![("train".to_string(), evaluate(ex, &splits.train)?)];
    if let Some(v) = &splits.val {
        finals.push(("val".to_string(), evaluate(ex, v)?));
    }
    if let Some(t) = &splits.test {
        finals.push(("test".to_string(), evaluate(ex, t)?));
    }
    let tensors = plan
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            matches!(b.role, Role::Param { .. })
                || b.name.ends_with(".running_mean")
                || b.name.ends_with(".running_var")
        })
        .map(|(i, b)| Tensor {
            name: b.name.clone(),
            shape: b.shape.clone(),
            data: ex.data(BufferId(i as u32)).to_vec(),
        })
        .collect();
    let trained = epochs.len();
    Ok(TrainResult {
        epochs,
        finals,
        samples_per_sec: (n * trained) as f64 / train_seconds.max(1e-9),
        wall_seconds: start.elapsed().as_secs_f64(),
        tensors,
    })
}
