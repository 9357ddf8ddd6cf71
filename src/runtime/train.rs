//! The training loop: mini-batches in a seeded order, forward, loss, backward, scheduled
//! update; evaluation on the validation split after each epoch and on every split at the end;
//! divergence detection, early stopping and plateau schedules; checkpoints of the whole
//! training state so a run resumes bit for bit. Backend-agnostic: it sees only the
//! [`Backend`] trait.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::check::ModelSummary;
use crate::check::spec::Schedule;
use crate::data::safetensors::Tensor;
use crate::data::{Dataset, Labels, Splits, epoch_order};
use crate::lower::{BufferId, Plan, Role, lower};
use crate::runtime::backend::{Backend, BackendKind};
use crate::runtime::reference::{LrDecay, LrSchedule};

pub use crate::run::metrics::{EpochRecord, SplitMetrics};

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
    /// Found in the weights after an epoch (the loss stayed finite).
    pub in_weights: bool,
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

impl std::fmt::Display for TrainError {
    /// The diagnostic text, for places that show a failure as a line (a failed tune trial).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Diverged(d) => {
                if d.in_weights {
                    write!(f, "the weights became non-finite in epoch {}", d.epoch)?;
                } else {
                    write!(
                        f,
                        "the loss became {} at epoch {}, step {}",
                        d.loss, d.epoch, d.step
                    )?;
                }
                match &d.first_bad {
                    Some(layer) => write!(f, " (first non-finite values in `{layer}`)"),
                    None => Ok(()),
                }
            }
            TrainError::Op(m) => write!(f, "internal error in a kernel: {m}"),
            TrainError::Weights(m) => write!(f, "pretrained weights: {m}"),
        }
    }
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
        // The plateau reduction is a factor the session applies on top.
        Schedule::Plateau { warmup, .. } => (LrDecay::Constant, warmup),
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

/// One evaluated batch: the model's outputs and the targets of `rows` samples, and the
/// batch's mean loss.
pub struct EvalBatch<'a> {
    /// Samples in the batch.
    pub rows: usize,
    /// Row-major model outputs (logits or predictions), `rows × width`.
    pub outputs: &'a [f32],
    /// Class indices or target values, as the backend loaded them.
    pub targets: &'a [f32],
    /// The batch's mean loss.
    pub loss: f32,
}

/// Runs `data` through the model in evaluation mode (no dropout, running batchnorm
/// statistics) in plan-sized batches, in order, handing each batch to `each`.
pub fn forward_batches(
    ex: &mut dyn Backend,
    data: &Dataset,
    each: &mut dyn FnMut(EvalBatch),
) -> Result<(), TrainError> {
    let output = ex.plan().output;
    forward_batches_reading(ex, data, output, each)
}

/// [`forward_batches`] handing each batch the rows of buffer `read` (an activation of the
/// plan) as its `outputs` instead of the model's output.
pub fn forward_batches_reading(
    ex: &mut dyn Backend,
    data: &Dataset,
    read: BufferId,
    each: &mut dyn FnMut(EvalBatch),
) -> Result<(), TrainError> {
    let plan = ex.plan().clone();
    let order: Vec<usize> = (0..data.len()).collect();
    let (mut features, mut targets) = (Vec::new(), Vec::new());
    for chunk in order.chunks(plan.batch.max(1)) {
        gather(data, chunk, &mut features, &mut targets);
        ex.load_batch(&features, &targets, chunk.len())
            .map_err(op_error)?;
        ex.forward(false).map_err(op_error)?;
        let loss = ex.loss().map_err(op_error)?;
        each(EvalBatch {
            rows: chunk.len(),
            outputs: ex.data(read),
            targets: &targets,
            loss,
        });
    }
    Ok(())
}

/// The predicted class of one output row: the first index of the largest value.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
        )
        .0
}

/// Evaluates on a split in evaluation mode (no dropout, running batchnorm statistics).
pub fn evaluate(ex: &mut dyn Backend, data: &Dataset) -> Result<SplitMetrics, TrainError> {
    let (mut loss, mut correct, mut se, mut ae, mut count) = (0f64, 0usize, 0f64, 0f64, 0usize);
    forward_batches(ex, data, &mut |b| {
        loss += f64::from(b.loss) * b.rows as f64;
        let out = b.outputs;
        let width = out.len() / b.rows.max(1);
        match &data.labels {
            Labels::Classes { .. } => {
                for (r, t) in b.targets.iter().enumerate() {
                    let best = argmax(&out[r * width..(r + 1) * width]);
                    correct += usize::from(best == *t as usize);
                }
            }
            Labels::Values { .. } => {
                for (o, t) in out.iter().zip(b.targets) {
                    let d = f64::from(o - t);
                    se += d * d;
                    ae += d.abs();
                }
            }
        }
        count += b.rows;
    })?;
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
        | Embedding { y, .. }
        | Conv1d { y, .. }
        | MaxPool1d { y, .. }
        | AvgPool1d { y, .. }
        | Rnn { y, .. }
        | TimeReduce { y, .. }
        | Add { y, .. } => vec![*y],
        _ => Vec::new(),
    }
}

fn op_error(e: crate::runtime::backend::BackendError) -> TrainError {
    TrainError::Op(e.to_string())
}

/// A pretrained stage's weights file, as a session loads it.
#[derive(Clone, Debug, PartialEq)]
pub struct StageWeights {
    /// The stage's instance in the model (`features`, `features_2`): the prefix of the
    /// tensors filled.
    pub stage: String,
    /// The backbone or head the stage instantiates: the prefix read from a file that has
    /// no tensors under the instance's name.
    pub backbone: String,
    /// The safetensors file.
    pub path: PathBuf,
}

/// Loads pretrained tensors into the backend by name.
fn load_pretrained(ex: &mut dyn Backend, plan: &Plan, w: &StageWeights) -> Result<(), TrainError> {
    let path = w.path.display();
    // Bounded by the memory budget, and never a FIFO or device (a block's output path
    // can be anything by the time it is read).
    let bytes = crate::input::read_bounded(&w.path, crate::input::memory_budget().bytes)
        .map_err(|e| TrainError::Weights(format!("cannot read `{path}`: {e}")))?;
    let tensors = crate::data::safetensors::deserialize(&bytes)
        .map_err(|e| TrainError::Weights(format!("`{path}`: {e}")))?;
    let prefix = format!("{}.", w.stage);
    let file_prefix = crate::check::weights::file_prefix(
        &w.stage,
        &w.backbone,
        tensors.iter().map(|t| t.name.as_str()),
    );
    for (i, b) in plan.buffers.iter().enumerate() {
        let persistent = matches!(b.role, Role::Param { .. })
            || b.name.ends_with(".running_mean")
            || b.name.ends_with(".running_var");
        let Some(rest) = b.name.strip_prefix(&prefix) else {
            continue;
        };
        if !persistent {
            continue;
        }
        let name = format!("{file_prefix}.{rest}");
        let t = tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| TrainError::Weights(format!("`{path}` has no tensor `{name}`")))?;
        if t.shape != b.shape {
            return Err(TrainError::Weights(format!(
                "tensor `{name}` in `{path}` has shape {:?}, the layer needs {:?}",
                t.shape, b.shape
            )));
        }
        ex.data_mut(BufferId(i as u32)).copy_from_slice(&t.data);
    }
    Ok(())
}

/// Where a session stands; everything besides the buffers that a checkpoint must hold to
/// continue bit for bit.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Batches completed of the next epoch (a checkpoint taken mid-epoch).
    pub batch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Sum of batch losses × rows so far in the current epoch.
    pub loss_sum: f64,
    /// Learning rate of the last step.
    pub lr: f32,
    /// Early-stopping and plateau bookkeeping.
    pub monitor: MonitorState,
    /// Dropout stream position (decimal: JSON numbers cannot hold a u128).
    pub rng: String,
    /// Seconds spent in training steps (for throughput; not part of any result).
    pub train_seconds: f64,
}

/// Early-stopping and plateau bookkeeping.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorState {
    /// Best value of the early-stopping metric.
    pub best: Option<f64>,
    /// Its epoch.
    pub best_epoch: usize,
    /// Epochs since it last improved.
    pub stale: usize,
    /// Early stopping fired.
    pub stopped: bool,
    /// Best value of the plateau metric.
    pub plateau_best: Option<f64>,
    /// Epochs since it last improved.
    pub plateau_stale: usize,
    /// Factor the plateau schedule applies to the learning rate.
    pub lr_scale: f64,
}

impl Default for MonitorState {
    fn default() -> Self {
        MonitorState {
            best: None,
            best_epoch: 0,
            stale: 0,
            stopped: false,
            plateau_best: None,
            plateau_stale: 0,
            lr_scale: 1.0,
        }
    }
}

/// What an epoch's end decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// The early-stopping metric improved (the weights are the best so far).
    pub improved: bool,
    /// The plateau schedule lowered the learning rate to this.
    pub lr_reduced: Option<f64>,
    /// Early stopping fired: no more epochs.
    pub stop: bool,
}

/// How a call to [`Session::run_epoch`] ended.
#[derive(Debug)]
pub enum EpochOutcome {
    /// The epoch completed.
    Done {
        /// Its record.
        record: EpochRecord,
        /// What its end decided.
        verdict: Verdict,
        /// Wall seconds.
        seconds: f64,
    },
    /// `interrupted()` became true at a batch boundary; the state is consistent there.
    Interrupted,
}

/// A training run in progress over one plan: the backend with its buffers plus the loop
/// state. Drive it epoch by epoch with [`Session::run_epoch`]; between epochs (or after an
/// interruption) it can be checkpointed, and a fresh session restored from a checkpoint
/// continues exactly where the first one stood.
pub struct Session<'p> {
    model: &'p ModelSummary,
    plan: &'p Plan,
    splits: &'p Splits,
    ex: Box<dyn Backend + 'p>,
    schedule: LrSchedule,
    batches: usize,
    state: LoopState,
}

/// A checkpoint file's tensor holding the loop state as JSON bytes is not used: the state
/// goes in the safetensors metadata under this key.
const STATE_KEY: &str = "ammc.loop_state";
/// Metadata key of the content hash of what produced the checkpoint.
const HASH_KEY: &str = "ammc.hash";

impl<'p> Session<'p> {
    /// Instantiates the backend (initial weights from the seed), loads pretrained stages
    /// (stage name, file).
    pub fn new(
        backend: BackendKind,
        model: &'p ModelSummary,
        plan: &'p Plan,
        splits: &'p Splits,
        pretrained: &[StageWeights],
    ) -> Result<Session<'p>, TrainError> {
        let spec = &model.spec;
        let mut ex = backend.instantiate(plan, spec.seed).map_err(op_error)?;
        for w in pretrained {
            load_pretrained(ex.as_mut(), plan, w)?;
        }
        let batches = splits.train.len().div_ceil(spec.batch.max(1));
        let schedule = schedule(
            spec.optimizer.lr(),
            &spec.schedule,
            batches,
            batches.saturating_mul(spec.epochs),
        )?;
        Ok(Session {
            model,
            plan,
            splits,
            ex,
            schedule,
            batches,
            state: LoopState::default(),
        })
    }

    /// The loop state.
    pub fn state(&self) -> &LoopState {
        &self.state
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// No epoch is left: all ran, or early stopping fired.
    pub fn finished(&self) -> bool {
        self.state.epoch >= self.model.spec.epochs || self.state.monitor.stopped
    }

    /// Trains until the end of the current epoch, or until `interrupted()` is true at a
    /// batch boundary. `tick` sees the epoch start and every batch (progress bars).
    pub fn run_epoch(
        &mut self,
        tick: &mut dyn FnMut(Progress),
        interrupted: &dyn Fn() -> bool,
    ) -> Result<EpochOutcome, TrainError> {
        let t0 = Instant::now();
        let spec = &self.model.spec;
        let epoch = self.state.epoch;
        let n = self.splits.train.len();
        let order = epoch_order(n, spec.seed, epoch);
        let ex = self.ex.as_mut();
        if self.state.batch == 0 {
            self.state.loss_sum = 0.0;
            self.state.lr =
                (self.schedule.lr_at(self.state.step) * self.state.monitor.lr_scale) as f32;
        }
        tick(Progress::EpochStart {
            epoch: epoch + 1,
            batches: self.batches,
        });
        let (mut features, mut targets) = (Vec::new(), Vec::new());
        for (b, chunk) in order.chunks(spec.batch.max(1)).enumerate() {
            if b < self.state.batch {
                continue;
            }
            if interrupted() {
                self.state.train_seconds += t0.elapsed().as_secs_f64();
                return Ok(EpochOutcome::Interrupted);
            }
            gather(&self.splits.train, chunk, &mut features, &mut targets);
            ex.load_batch(&features, &targets, chunk.len())
                .map_err(op_error)?;
            ex.forward(true).map_err(op_error)?;
            let loss = ex.loss().map_err(op_error)?;
            if !loss.is_finite() {
                return Err(TrainError::Diverged(Divergence {
                    epoch: epoch + 1,
                    step: b + 1,
                    loss,
                    first_bad: first_non_finite(ex, self.plan),
                    in_weights: false,
                }));
            }
            ex.backward().map_err(op_error)?;
            let lr = (self.schedule.lr_at(self.state.step) * self.state.monitor.lr_scale) as f32;
            self.state.lr = lr;
            self.state.step += 1;
            ex.update(lr, self.state.step).map_err(op_error)?;
            self.state.loss_sum += f64::from(loss) * chunk.len() as f64;
            self.state.batch = b + 1;
            tick(Progress::Batch { loss });
        }
        self.state.train_seconds += t0.elapsed().as_secs_f64();
        // Parameters can turn non-finite without the loss doing so (a ReLU maps NaN to 0):
        // one pass over the weights per epoch is cheap next to the epoch itself.
        if let Some(name) = self.non_finite_param() {
            return Err(TrainError::Diverged(Divergence {
                epoch: epoch + 1,
                step: self.state.batch,
                loss: f32::NAN,
                first_bad: Some(name),
                in_weights: true,
            }));
        }
        let val = match &self.splits.val {
            Some(v) => Some(evaluate(self.ex.as_mut(), v)?),
            None => None,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: self.state.loss_sum / n.max(1) as f64,
            val,
            lr: f64::from(self.state.lr),
        };
        self.state.epoch += 1;
        self.state.batch = 0;
        self.state.loss_sum = 0.0;
        let verdict = self.judge(&record);
        Ok(EpochOutcome::Done {
            record,
            verdict,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// Early stopping and plateau bookkeeping after an epoch.
    fn judge(&mut self, record: &EpochRecord) -> Verdict {
        let spec = &self.model.spec;
        let m = &mut self.state.monitor;
        let mut verdict = Verdict::default();
        if let Some(es) = &spec.early_stop
            && let Some(v) = record.get(&es.watch.metric)
        {
            if es.watch.improves(v, m.best) {
                m.best = Some(v);
                m.best_epoch = record.epoch;
                m.stale = 0;
                verdict.improved = true;
            } else {
                m.stale += 1;
                if m.stale >= es.patience {
                    m.stopped = true;
                    verdict.stop = true;
                }
            }
        }
        if let Schedule::Plateau {
            metric,
            factor,
            patience,
            min_lr,
            ..
        } = &spec.schedule
            && let Some(v) = record.get(&metric.metric)
        {
            if metric.improves(v, m.plateau_best) {
                m.plateau_best = Some(v);
                m.plateau_stale = 0;
            } else {
                m.plateau_stale += 1;
                if m.plateau_stale > *patience {
                    let base = f64::from(spec.optimizer.lr());
                    let floor = if base > 0.0 {
                        f64::from(*min_lr) / base
                    } else {
                        0.0
                    };
                    let scale = (m.lr_scale * f64::from(*factor)).max(floor);
                    if scale < m.lr_scale {
                        m.lr_scale = scale;
                        verdict.lr_reduced = Some(base * scale);
                    }
                    m.plateau_stale = 0;
                }
            }
        }
        verdict
    }

    fn persistent(&self) -> impl Iterator<Item = (BufferId, &'p crate::lower::Buffer)> + 'p {
        self.plan
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b.role, Role::Param { .. } | Role::State))
            .map(|(i, b)| (BufferId(i as u32), b))
    }

    fn non_finite_param(&self) -> Option<String> {
        self.persistent()
            .find(|(id, _)| self.ex.data(*id).iter().any(|v| !v.is_finite()))
            .map(|(_, b)| b.name.clone())
    }

    /// The learned tensors (params and batchnorm running statistics) in model order: what
    /// `model.safetensors` holds.
    pub fn model_tensors(&self) -> Vec<Tensor> {
        self.plan
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| is_model_tensor(b))
            .map(|(i, b)| Tensor {
                name: b.name.clone(),
                shape: b.shape.clone(),
                data: self.ex.data(BufferId(i as u32)).to_vec(),
            })
            .collect()
    }

    /// Overwrites the learned tensors (restoring the best epoch's weights).
    pub fn load_model_tensors(&mut self, tensors: &[Tensor]) -> Result<(), TrainError> {
        for t in tensors {
            let id = self
                .plan
                .buffers
                .iter()
                .position(|b| b.name == t.name && is_model_tensor(b))
                .ok_or_else(|| {
                    TrainError::Weights(format!("no tensor `{}` in the model", t.name))
                })?;
            let dst = self.ex.data_mut(BufferId(id as u32));
            if dst.len() != t.data.len() {
                return Err(TrainError::Weights(format!(
                    "tensor `{}` has {} values, the model needs {}",
                    t.name,
                    t.data.len(),
                    dst.len()
                )));
            }
            dst.copy_from_slice(&t.data);
        }
        Ok(())
    }

    /// The whole training state as a safetensors file: every param and optimizer/batchnorm
    /// state buffer, plus the loop state and `hash` in the metadata.
    pub fn checkpoint(&mut self, hash: &str) -> Vec<u8> {
        self.state.rng = self.ex.rng_position().to_string();
        let tensors: Vec<Tensor> = self
            .persistent()
            .map(|(id, b)| Tensor {
                name: b.name.clone(),
                shape: b.shape.clone(),
                data: self.ex.data(id).to_vec(),
            })
            .collect();
        let meta = std::collections::BTreeMap::from([
            ("format".to_string(), "ammc-checkpoint".to_string()),
            (
                STATE_KEY.to_string(),
                serde_json::to_string(&self.state).unwrap_or_default(),
            ),
            (HASH_KEY.to_string(), hash.to_string()),
        ]);
        crate::data::safetensors::serialize(&tensors, &meta)
    }

    /// Restores a checkpoint written by [`Session::checkpoint`] for the same plan; `hash`
    /// must match what produced it.
    pub fn restore(&mut self, bytes: &[u8], hash: &str) -> Result<(), String> {
        let meta = crate::data::safetensors::metadata(bytes)?;
        if meta.get(HASH_KEY).map(String::as_str) != Some(hash) {
            return Err("it was written for a different version of this block (its definition, data or inputs changed)".to_string());
        }
        let state: LoopState = meta
            .get(STATE_KEY)
            .ok_or("it has no loop state")
            .and_then(|s| serde_json::from_str(s).map_err(|_| "its loop state is corrupt"))?;
        let rng: u128 = state
            .rng
            .parse()
            .map_err(|_| "its random state is corrupt")?;
        let tensors = crate::data::safetensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let ids: Vec<(BufferId, &crate::lower::Buffer)> = self.persistent().collect();
        if tensors.len() != ids.len() {
            return Err(format!(
                "it holds {} tensors, the plan has {}",
                tensors.len(),
                ids.len()
            ));
        }
        for (id, b) in ids {
            let t = tensors
                .iter()
                .find(|t| t.name == b.name)
                .ok_or_else(|| format!("it has no tensor `{}`", b.name))?;
            let dst = self.ex.data_mut(id);
            if t.shape != b.shape || dst.len() != t.data.len() {
                return Err(format!("tensor `{}` has the wrong shape", b.name));
            }
            dst.copy_from_slice(&t.data);
        }
        self.ex.set_rng_position(rng);
        self.state = state;
        Ok(())
    }

    /// Evaluates the current weights on every split: `train`, then `val` and `test` when
    /// present.
    pub fn evaluate_splits(&mut self) -> Result<Vec<(String, SplitMetrics)>, TrainError> {
        let ex = self.ex.as_mut();
        let mut finals = vec![("train".to_string(), evaluate(ex, &self.splits.train)?)];
        if let Some(v) = &self.splits.val {
            finals.push(("val".to_string(), evaluate(ex, v)?));
        }
        if let Some(t) = &self.splits.test {
            finals.push(("test".to_string(), evaluate(ex, t)?));
        }
        Ok(finals)
    }
}

/// Whether a plan buffer is part of a trained model (params and batchnorm statistics).
pub fn is_model_tensor(b: &crate::lower::Buffer) -> bool {
    matches!(b.role, Role::Param { .. })
        || b.name.ends_with(".running_mean")
        || b.name.ends_with(".running_var")
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
    let pretrained = default_weight_files(model);
    train_until(backend, model, splits, &pretrained, progress, &mut |_| {
        false
    })
}

/// Pretrained files as a library caller without a run context finds them: paths as
/// written (relative to the working directory), blocks' models under `runs/`.
pub fn default_weight_files(model: &ModelSummary) -> Vec<StageWeights> {
    use crate::check::WeightsSource;
    model
        .pretrained
        .iter()
        .map(|p| {
            let path = match &p.source {
                WeightsSource::File(f) => PathBuf::from(f),
                WeightsSource::Block(b) => Path::new("runs").join(b).join("model.safetensors"),
            };
            StageWeights {
                stage: p.stage.clone(),
                backbone: p.backbone.clone(),
                path,
            }
        })
        .collect()
}

/// [`train_with`] that loads pretrained stages from the given files (stage, path) and
/// asks `stop` after each epoch whether to end training there (a tuning pruner); the
/// final evaluation then runs on the weights reached.
pub fn train_until(
    backend: BackendKind,
    model: &ModelSummary,
    splits: &Splits,
    pretrained: &[StageWeights],
    progress: &mut dyn FnMut(Progress),
    stop: &mut dyn FnMut(&EpochRecord) -> bool,
) -> Result<TrainResult, TrainError> {
    let start = Instant::now();
    let plan = lower(model, model.spec.batch);
    let mut session = Session::new(backend, model, &plan, splits, pretrained)?;
    let mut epochs = Vec::new();
    let mut best: Option<Vec<Tensor>> = None;
    while !session.finished() {
        match session.run_epoch(progress, &|| false)? {
            EpochOutcome::Done {
                record,
                verdict,
                seconds,
            } => {
                if verdict.improved {
                    best = Some(session.model_tensors());
                }
                progress(Progress::EpochEnd {
                    record: &record,
                    seconds,
                });
                let stopped = stop(&record);
                epochs.push(record);
                if stopped {
                    break;
                }
            }
            EpochOutcome::Interrupted => break,
        }
    }
    if let (Some(b), Some(es)) = (&best, &model.spec.early_stop)
        && es.restore_best
    {
        session.load_model_tensors(b)?;
    }
    let finals = session.evaluate_splits()?;
    let trained = session.state().train_seconds;
    Ok(TrainResult {
        finals,
        samples_per_sec: (splits.train.len() * epochs.len()) as f64 / trained.max(1e-9),
        epochs,
        wall_seconds: start.elapsed().as_secs_f64(),
        tensors: session.model_tensors(),
    })
}
