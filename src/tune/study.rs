//! Running a study: ask a batch of suggestions, evaluate them (`worker.rs`, in
//! parallel threads when `jobs > 1`), record every step in the journal, repeat. Resuming
//! replays the journal first: finished trials are kept, trials left RUNNING by a crashed run
//! (its process is known to be gone, or no heartbeat within the grace period) are marked FAIL
//! and their slot is run again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{Value as Json, json};

use super::journal::{self, Journal, JournalError, TrialState, iso_time, now_seconds, op};
use super::liveness;
use super::prune::{Intermediate, MedianPruner};
use super::space::{Dimension, Distribution, ParamValue, Params, Space};
use super::strategy::{Observation, SearchState, Strategy};
use super::worker::{self, Pending, Recorder};

/// Whether to minimise or maximise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
}

impl Direction {
    /// Optuna's `StudyDirection` code.
    pub fn code(self) -> i64 {
        match self {
            Direction::Minimize => 1,
            Direction::Maximize => 2,
        }
    }

    /// The value to minimise.
    pub fn loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }
}

/// Everything a study needs.
#[derive(Clone, Debug)]
pub struct StudyConfig {
    /// Study name (the tune block's name).
    pub name: String,
    /// Search space.
    pub space: Space,
    /// Strategy and budget.
    pub strategy: Strategy,
    /// Direction.
    pub direction: Direction,
    /// Strategy seed.
    pub seed: u64,
    /// Trials evaluated in parallel (≥ 1); results do not depend on it.
    pub jobs: usize,
    /// Journal file; `None` keeps the study in memory.
    pub journal: Option<PathBuf>,
    /// A RUNNING trial without a heartbeat for this long belongs to a dead run.
    pub heartbeat_grace: Duration,
    /// How often running trials record a heartbeat.
    pub heartbeat_interval: Duration,
    /// Early stopping of trials that report intermediate values (`None`: every trial runs to
    /// the end).
    pub prune: Option<MedianPruner>,
}

/// A running trial's line to the study: intermediate values go in, stop decisions come out.
pub trait Monitor {
    /// Records the objective's value after `step` (0-based epoch). `true` means the trial is
    /// pruned: the objective should stop and return at once (its result is then ignored).
    fn report(&mut self, step: usize, value: f64) -> bool;
}

/// What evaluates a trial. Implementations must be callable from several threads.
pub trait Objective: Sync {
    /// The objective value at `params`, or a message saying why the trial failed.
    fn evaluate(&self, params: &Params) -> Result<f64, String>;

    /// [`Objective::evaluate`], reporting intermediate values (per epoch) to `monitor` and
    /// stopping when it says so. Objectives without intermediate results keep the default,
    /// which reports nothing.
    fn evaluate_monitored(
        &self,
        params: &Params,
        monitor: &mut dyn Monitor,
    ) -> Result<f64, String> {
        let _ = monitor;
        self.evaluate(params)
    }
}

impl<F: Fn(&Params) -> Result<f64, String> + Sync> Objective for F {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        self(params)
    }
}

/// One trial of the study.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// Optuna trial number (position in the journal's study, failed retries included).
    pub number: usize,
    /// Position in the strategy's sequence.
    pub slot: usize,
    /// Parameters.
    pub params: Params,
    /// Objective value (COMPLETE trials; the last intermediate value for PRUNED ones, as
    /// Optuna records it).
    pub value: Option<f64>,
    /// Final state.
    pub state: TrialState,
    /// Wall time of the evaluation.
    pub seconds: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// Intermediate objective values by step (0-based epoch).
    pub intermediate: Intermediate,
    /// Whether it was read from the journal rather than run now.
    pub resumed: bool,
}

/// The outcome of a study.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyResult {
    /// Trials in journal order (including FAIL trials of crashed runs).
    pub trials: Vec<Trial>,
    /// Index into `trials` of the best COMPLETE trial.
    pub best: Option<usize>,
}

impl StudyResult {
    /// The best trial.
    pub fn best_trial(&self) -> Option<&Trial> {
        self.best.map(|i| &self.trials[i])
    }

    /// Number of COMPLETE trials.
    pub fn complete(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .count()
    }
}

/// Why a study could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StudyError {
    /// Journal trouble.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),
    /// The journal's study was run with a different direction or space.
    #[error("study `{name}` in {path} was run with a different {what}")]
    #[diagnostic(
        code(amm::tune::journal_mismatch),
        help("move the old journal away (or change --out) to start a new study")
    )]
    Mismatch {
        /// Study.
        name: String,
        /// Journal.
        path: PathBuf,
        /// `direction`, `search space`.
        what: String,
    },
    /// Another run is evaluating trials of this study right now.
    #[error("study `{name}` has trials RUNNING in another process (heartbeat {age:.0}s ago)")]
    #[diagnostic(
        code(amm::tune::busy),
        help(
            "wait for that run to finish; trials without a heartbeat are retried after the grace period"
        )
    )]
    Busy {
        /// Study.
        name: String,
        /// Seconds since the newest heartbeat.
        age: f64,
    },
}

/// Optuna's JSON for a distribution (`distribution_to_json`).
pub fn optuna_distribution(d: &Distribution) -> String {
    let v = match d {
        Distribution::Float { low, high, log } => json!({
            "name": "FloatDistribution",
            "attributes": {"step": null, "low": low, "high": high, "log": log},
        }),
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => json!({
            "name": "IntDistribution",
            "attributes": {"log": log, "step": step, "low": low, "high": high},
        }),
        Distribution::Choice(values) => json!({
            "name": "CategoricalDistribution",
            "attributes": {"choices": values.iter().map(ParamValue::to_json).collect::<Vec<_>>()},
        }),
    };
    v.to_string()
}

/// Optuna's internal representation of a value (float; category index for choices).
fn internal(d: &Distribution, v: &ParamValue) -> f64 {
    match d {
        Distribution::Choice(values) => values.iter().position(|c| c == v).unwrap_or(0) as f64,
        _ => v.as_f64().unwrap_or(f64::NAN),
    }
}

/// A recorded trial's value of one param, read back the way [`internal`] and the exact
/// text wrote it: a choice from its category index in `params` (Optuna's internal
/// representation), floats and ints from their exact text (ints beyond 2^53 do not survive
/// a JSON float). `None` when the value is not one of the distribution's.
fn recorded_param(t: &journal::TrialRecord, d: &Dimension) -> Option<ParamValue> {
    let exact_text = t
        .system_attrs
        .get(EXACT)
        .and_then(|m| m.get(&d.name))
        .and_then(Json::as_str);
    let internal = t.params.get(&d.name).copied();
    let v = match &d.dist {
        Distribution::Choice(values) => {
            let x = internal?;
            if x.fract() != 0.0 || x < 0.0 {
                return None;
            }
            values.get(x as usize).cloned()?
        }
        Distribution::Float { .. } => {
            ParamValue::Float(exact_text.and_then(|s| s.parse().ok()).or(internal)?)
        }
        Distribution::Int { .. } => {
            ParamValue::Int(match exact_text.and_then(|s| s.parse().ok()) {
                Some(i) => i,
                None => {
                    let x = internal?;
                    if x.fract() != 0.0 || x < -(2f64.powi(63)) || x >= 2f64.powi(63) {
                        return None;
                    }
                    x as i64
                }
            })
        }
    };
    d.contains(&v).then_some(v)
}

const SLOT: &str = "ammc:slot";
pub(super) const ERROR: &str = "ammc:error";
pub(super) const HEARTBEAT: &str = "ammc:heartbeat";
/// Exact float params and values as text: JSON numbers read back through serde_json may be off
/// by one unit in the last place, and a resumed study must see bit-identical history.
const EXACT: &str = "ammc:exact";
pub(super) const EXACT_VALUE: &str = "ammc:value";
/// Exact intermediate values, `{step: text}`, written when the trial ends.
pub(super) const EXACT_INTERMEDIATE: &str = "ammc:intermediate";

/// Shortest text that parses back to exactly `x`.
pub(super) fn exact(x: f64) -> String {
    format!("{x:?}")
}

/// Intermediate values of a recorded trial, exact when the trial finished.
fn exact_intermediate(t: &journal::TrialRecord) -> Intermediate {
    match t
        .system_attrs
        .get(EXACT_INTERMEDIATE)
        .and_then(Json::as_object)
    {
        Some(m) => m
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.parse().ok()?)))
            .collect(),
        None => t.intermediate_values.clone(),
    }
}

/// Runs (or resumes) a study. `report` sees each trial as it finishes, in slot order within a
/// batch.
pub fn run_study(
    cfg: &StudyConfig,
    objective: &dyn Objective,
    report: &mut dyn FnMut(&Trial),
) -> Result<StudyResult, StudyError> {
    let space = &cfg.space;
    let journal = cfg.journal.as_deref().map(Journal::new);
    let replay = match &journal {
        Some(j) => j.replay()?,
        None => journal::Replay::default(),
    };
    let mismatch = |what: &str| StudyError::Mismatch {
        name: cfg.name.clone(),
        path: cfg.journal.clone().unwrap_or_default(),
        what: what.to_string(),
    };
    let dists: BTreeMap<String, String> = space
        .dims
        .iter()
        .map(|d| (d.name.clone(), optuna_distribution(&d.dist)))
        .collect();
    let mut trials: Vec<Trial> = Vec::new();
    let mut done: BTreeMap<usize, usize> = BTreeMap::new(); // slot → index in `trials`
    let mut stale_ops = Vec::new();
    let study_id = match replay.studies.iter().position(|s| s.name == cfg.name) {
        Some(id) => {
            if replay.studies[id].directions != [cfg.direction.code()] {
                return Err(mismatch("direction"));
            }
            let now = now_seconds();
            for t in replay.trials.iter().filter(|t| t.study_id == id) {
                if t.distributions != dists {
                    return Err(mismatch("search space"));
                }
                let params: Option<Params> =
                    space.dims.iter().map(|d| recorded_param(t, d)).collect();
                let (Some(params), Some(slot)) =
                    (params, t.system_attrs.get(SLOT).and_then(Json::as_u64))
                else {
                    return Err(mismatch("search space"));
                };
                let slot = slot as usize;
                let mut state = t.state;
                let mut error = t
                    .system_attrs
                    .get(ERROR)
                    .and_then(Json::as_str)
                    .map(String::from);
                if state == TrialState::Running || state == TrialState::Waiting {
                    let owner_gone = t.worker_id.as_deref().is_some_and(liveness::is_dead);
                    let beat = t
                        .system_attrs
                        .get(HEARTBEAT)
                        .and_then(Json::as_str)
                        .or(t.datetime_start.as_deref())
                        .and_then(journal::parse_iso_time)
                        .unwrap_or(0.0);
                    let age = now - beat;
                    if !owner_gone && age < cfg.heartbeat_grace.as_secs_f64() {
                        return Err(StudyError::Busy {
                            name: cfg.name.clone(),
                            age,
                        });
                    }
                    let msg = if owner_gone {
                        "the run that owned it is no longer running (killed or crashed)".to_string()
                    } else {
                        format!("no heartbeat for {age:.0}s: the run that owned it stopped")
                    };
                    stale_ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": t.trial_id, "system_attr": {ERROR: msg}}));
                    // Optuna accepts one attribute per operation.
                    stale_ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": t.trial_id, "system_attr": {"ammc:stale": true}}));
                    stale_ops.push(json!({"op_code": op::SET_TRIAL_STATE_VALUES, "trial_id": t.trial_id, "state": TrialState::Fail.code(), "values": null, "datetime_complete": iso_time(SystemTime::now())}));
                    state = TrialState::Fail;
                    error = Some(msg);
                }
                let stale = t.system_attrs.contains_key("ammc:stale")
                    || matches!(t.state, TrialState::Running | TrialState::Waiting);
                trials.push(Trial {
                    number: t.number,
                    slot,
                    params,
                    value: t
                        .system_attrs
                        .get(EXACT_VALUE)
                        .and_then(Json::as_str)
                        .and_then(|s| s.parse().ok())
                        .or_else(|| t.values.as_ref().and_then(|v| v.first().copied())),
                    state,
                    seconds: match (&t.datetime_start, &t.datetime_complete) {
                        (Some(a), Some(b)) => journal::parse_iso_time(b)
                            .zip(journal::parse_iso_time(a))
                            .map_or(0.0, |(b, a)| (b - a).max(0.0)),
                        _ => 0.0,
                    },
                    error,
                    intermediate: exact_intermediate(t),
                    resumed: true,
                });
                if !stale && state.is_finished() {
                    done.entry(slot).or_insert(trials.len() - 1);
                }
            }
            id
        }
        None => {
            let j = journal.as_ref();
            if let Some(j) = j {
                j.append(&[json!({"op_code": op::CREATE_STUDY, "study_name": cfg.name, "directions": [cfg.direction.code()]})])?;
            }
            replay.studies.len()
        }
    };
    let mut rec = Recorder {
        journal: journal.clone(),
        study_id,
        next_trial_id: replay.trials.len(),
        next_number: trials.len(),
    };
    if !stale_ops.is_empty() {
        rec.write(&stale_ops)?;
    }
    let mut history: Vec<Observation> = Vec::new();
    let mut search = SearchState::default();
    // COMPLETE trials of the slots below `completed_upto`, for the pruner.
    let mut completed: Vec<Intermediate> = Vec::new();
    let mut completed_upto = 0;
    for batch in cfg.strategy.batches() {
        // Asked even when every slot of the batch is finished: the strategy's state must
        // follow the same sequence as in an uninterrupted run.
        let suggestions =
            cfg.strategy
                .suggest(space, cfg.seed, &history, batch.clone(), &mut search);
        // Slots still to run, with their journal trial ids.
        let mut pending: Vec<Pending> = Vec::new();
        let mut create = Vec::new();
        for (slot, params) in batch.clone().zip(suggestions) {
            if done.contains_key(&slot) {
                continue;
            }
            let (trial_id, number) = (rec.next_trial_id, rec.next_number);
            rec.next_trial_id += 1;
            rec.next_number += 1;
            let pmap: serde_json::Map<String, Json> = space
                .dims
                .iter()
                .zip(&params)
                .map(|(d, v)| (d.name.clone(), json!(internal(&d.dist, v))))
                .collect();
            let exact_map: serde_json::Map<String, Json> = space
                .dims
                .iter()
                .zip(&params)
                .filter_map(|(d, v)| match (&d.dist, v) {
                    // A choice's internal value is its index; its values are in the
                    // distribution itself.
                    (Distribution::Choice(_), _) => None,
                    (_, ParamValue::Float(x)) => Some((d.name.clone(), json!(exact(*x)))),
                    (_, ParamValue::Int(i)) => Some((d.name.clone(), json!(i.to_string()))),
                    _ => None,
                })
                .collect();
            create.push(json!({
                "op_code": op::CREATE_TRIAL,
                "study_id": rec.study_id,
                "datetime_start": iso_time(SystemTime::now()),
                "state": TrialState::Running.code(),
                "value": null,
                "values": null,
                "params": pmap,
                "distributions": dists,
                "user_attrs": {},
                "system_attrs": {SLOT: slot, EXACT: exact_map},
                "intermediate_values": {},
            }));
            pending.push(Pending {
                slot,
                params,
                trial_id,
                number,
            });
        }
        rec.write(&create)?;
        // The pruner compares with COMPLETE trials of earlier batches only: what it sees does
        // not depend on the order in which trials of this batch finish, so `jobs` cannot
        // change a decision.
        // Extended batch by batch, not rebuilt: rebuilding made a study quadratic in its
        // trials.
        while completed_upto < batch.start {
            if let Some(t) = done.get(&completed_upto).map(|&i| &trials[i])
                && t.state == TrialState::Complete
            {
                completed.push(t.intermediate.clone());
            }
            completed_upto += 1;
        }
        let results = worker::evaluate(cfg, objective, &rec, &pending, &completed)?;
        for (p, f) in pending.into_iter().zip(results) {
            let t = Trial {
                number: p.number,
                slot: p.slot,
                params: p.params,
                value: f.value,
                state: f.state,
                seconds: f.seconds,
                error: f.error,
                intermediate: f.intermediate,
                resumed: false,
            };
            report(&t);
            trials.push(t);
            done.insert(p.slot, trials.len() - 1);
        }
        for slot in batch {
            if let Some(&i) = done.get(&slot) {
                let t = &trials[i];
                history.push(Observation {
                    params: t.params.clone(),
                    loss: t.value.map(|v| cfg.direction.loss(v)),
                });
            }
        }
    }
    let best = trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state == TrialState::Complete)
        .filter_map(|(i, t)| t.value.map(|v| (i, cfg.direction.loss(v))))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i);
    Ok(StudyResult { trials, best })
}
