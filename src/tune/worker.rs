//! Evaluating one batch of trials: up to `jobs` worker threads take trials in slot order,
//! each trial's intermediate values go to the journal and to the pruner as they arrive, its
//! result is recorded the moment it finishes, and a heartbeat thread marks the trials still
//! running so another process can tell a live study from a dead one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use serde_json::{Value as Json, json};

use super::journal::{JournalError, TrialState, iso_time, op};
use super::prune::{Intermediate, MedianPruner};
use super::space::Params;
use super::store::Store;
use super::study::{
    Direction, ERROR, EXACT_INTERMEDIATE, EXACT_VALUE, HEARTBEAT, Monitor, Objective, StudyConfig,
    exact,
};

/// The study's storage, as the worker threads write to it.
pub(super) struct Recorder<'a> {
    /// Where operations go.
    pub store: &'a Store,
}

impl Recorder<'_> {
    /// Appends operations.
    pub fn write(&self, ops: &[Json]) -> Result<(), JournalError> {
        self.store.append(ops)
    }
}

/// A trial created in the journal and waiting to be evaluated.
pub(super) struct Pending {
    /// Position in the strategy's sequence.
    pub slot: usize,
    /// Its parameters.
    pub params: Params,
    /// Journal trial id.
    pub trial_id: usize,
    /// Optuna trial number.
    pub number: usize,
}

/// How an evaluation ended.
pub(super) struct Finished {
    /// COMPLETE, PRUNED or FAIL.
    pub state: TrialState,
    /// The objective (COMPLETE) or the last intermediate value (PRUNED, as Optuna records it).
    pub value: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time.
    pub seconds: f64,
    /// Reported intermediate values.
    pub intermediate: Intermediate,
}

/// The study's side of a running trial: records intermediate values and applies the pruner
/// against a fixed set of completed trials.
struct StudyMonitor<'a> {
    pruner: Option<MedianPruner>,
    direction: Direction,
    completed: &'a [Intermediate],
    rec: &'a Recorder<'a>,
    trial_id: usize,
    values: Intermediate,
    pruned: bool,
    error: Option<JournalError>,
}

impl Monitor for StudyMonitor<'_> {
    fn report(&mut self, step: usize, value: f64) -> bool {
        // Non-finite values are not recorded: JSON has no NaN, and a diverging trial fails
        // on its own.
        if self.pruned || !value.is_finite() || self.values.contains_key(&step) {
            return self.pruned;
        }
        self.values.insert(step, value);
        let o = json!({"op_code": op::SET_TRIAL_INTERMEDIATE_VALUE, "trial_id": self.trial_id, "step": step, "intermediate_value": value});
        if let Err(e) = self.rec.write(&[o]) {
            self.error.get_or_insert(e);
        }
        self.pruned = self
            .pruner
            .is_some_and(|p| p.should_prune(self.direction, self.completed, &self.values, step));
        self.pruned
    }
}

/// Runs one trial and records its end in the journal; a journal error comes with the result.
fn run_one(
    cfg: &StudyConfig,
    objective: &dyn Objective,
    rec: &Recorder,
    completed: &[Intermediate],
    p: &Pending,
) -> (Finished, Option<JournalError>) {
    let mut monitor = StudyMonitor {
        pruner: cfg.prune,
        direction: cfg.direction,
        completed,
        rec,
        trial_id: p.trial_id,
        values: Intermediate::new(),
        pruned: false,
        error: None,
    };
    let start = Instant::now();
    let outcome = objective.evaluate_monitored(&p.params, &mut monitor);
    let seconds = start.elapsed().as_secs_f64();
    let mut f = Finished {
        state: TrialState::Complete,
        value: None,
        error: None,
        seconds,
        intermediate: std::mem::take(&mut monitor.values),
    };
    if monitor.pruned {
        // What the objective returned after being told to stop does not matter.
        f.state = TrialState::Pruned;
        f.value = f.intermediate.last_key_value().map(|(_, v)| *v);
    } else {
        match outcome {
            Ok(v) => f.value = Some(v),
            Err(e) => {
                f.state = TrialState::Fail;
                f.error = Some(e);
            }
        }
    }
    let id = p.trial_id;
    let mut ops = Vec::new();
    if !f.intermediate.is_empty() {
        // Exact text, so a resumed study prunes from bit-identical values.
        let m: serde_json::Map<String, Json> = f
            .intermediate
            .iter()
            .map(|(s, v)| (s.to_string(), json!(exact(*v))))
            .collect();
        ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": id, "system_attr": {EXACT_INTERMEDIATE: m}}));
    }
    if let Some(e) = &f.error {
        ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": id, "system_attr": {ERROR: e}}));
    }
    if let Some(v) = f.value {
        ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": id, "system_attr": {EXACT_VALUE: exact(v)}}));
    }
    ops.push(json!({
        "op_code": op::SET_TRIAL_STATE_VALUES,
        "trial_id": id,
        "state": f.state.code(),
        "values": f.value.map(|v| vec![v]),
        "datetime_complete": iso_time(SystemTime::now()),
    }));
    let written = rec.write(&ops).err();
    (f, monitor.error.or(written))
}

/// Evaluates the pending trials of a batch on up to `jobs` threads. Pruning decisions use
/// only `completed` (trials of earlier batches), so they do not depend on which trials of
/// this batch happen to finish first.
pub(super) fn evaluate(
    cfg: &StudyConfig,
    objective: &dyn Objective,
    rec: &Recorder,
    pending: &[Pending],
    completed: &[Intermediate],
) -> Result<Vec<Finished>, JournalError> {
    let results: Vec<Mutex<Option<Finished>>> = pending.iter().map(|_| Mutex::new(None)).collect();
    let running: Vec<AtomicBool> = pending.iter().map(|_| AtomicBool::new(false)).collect();
    let next = AtomicUsize::new(0);
    // Dropping the sender wakes the heartbeat thread at once when the batch is done.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let failure: Mutex<Option<JournalError>> = Mutex::new(None);
    let record_error = |e: JournalError| {
        if let Ok(mut f) = failure.lock() {
            f.get_or_insert(e);
        }
    };
    std::thread::scope(|s| {
        let worker = || {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = pending.get(i) else {
                    break;
                };
                running[i].store(true, Ordering::SeqCst);
                let (finished, error) = run_one(cfg, objective, rec, completed, p);
                if let Some(e) = error {
                    record_error(e);
                }
                running[i].store(false, Ordering::SeqCst);
                if let Ok(mut r) = results[i].lock() {
                    *r = Some(finished);
                }
            }
        };
        let jobs = cfg.jobs.clamp(1, pending.len().max(1));
        let handles: Vec<_> = (0..jobs).map(|_| s.spawn(worker)).collect();
        if rec.store.is_shared() {
            let running = &running;
            let record_error = &record_error;
            s.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(cfg.heartbeat_interval)
                {
                    let now = iso_time(SystemTime::now());
                    let ops: Vec<Json> = pending
                        .iter()
                        .zip(running.iter())
                        .filter(|(_, r)| r.load(Ordering::SeqCst))
                        .map(|(p, _)| json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": p.trial_id, "system_attr": {HEARTBEAT: now}}))
                        .collect();
                    if !ops.is_empty()
                        && let Err(e) = rec.write(&ops)
                    {
                        record_error(e);
                    }
                }
            });
        }
        for h in handles {
            let _ = h.join();
        }
        drop(stop_tx);
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or_else(|| Finished {
                state: TrialState::Fail,
                value: None,
                error: Some("the evaluation thread panicked".into()),
                seconds: 0.0,
                intermediate: Intermediate::new(),
            })
        })
        .collect())
}
