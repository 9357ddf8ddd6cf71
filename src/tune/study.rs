//! Running a study: ask a batch of suggestions, claim free slots of it in the journal,
//! evaluate them (`worker.rs`, in parallel threads when `jobs > 1`), record every step,
//! repeat. Every claim re-reads the journal under its lock, so a resumed run, and any number
//! of processes sharing the journal, see each other's trials: finished slots are kept,
//! trials left RUNNING by a dead worker (its process is known to be gone, or no heartbeat
//! within the grace period) are marked FAIL and their slot is run again, and live ones are
//! waited for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{Value as Json, json};

use super::journal::{self, Journal, JournalError, TrialState, iso_time, now_seconds, op};
use super::liveness;
use super::prune::{Intermediate, MedianPruner};
use super::space::{Dimension, Distribution, ParamValue, Params, Space};
use super::store::Store;
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
    /// A Redis server holding the study instead (Optuna's `JournalRedisBackend` layout); takes
    /// precedence over `journal`.
    pub redis: Option<super::redis_store::RedisTarget>,
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
    /// Position in the strategy's sequence (`None` for a trial of an Optuna worker).
    pub slot: Option<usize>,
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
}

/// Optuna's JSON for a distribution (`distribution_to_json`).
pub fn optuna_distribution(d: &Distribution) -> String {
    let v = match d {
        Distribution::Float { low, high, log } => json!({
            "name": "FloatDistribution",
            "attributes": {"step": null, "low": low, "high": high, "log": log},
        }),
        Distribution::Quantized { low, high, step } => json!({
            "name": "FloatDistribution",
            "attributes": {"step": step, "low": low, "high": high, "log": false},
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
        Distribution::Float { .. } | Distribution::Quantized { .. } => {
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

/// Whether two Optuna distribution texts describe the same distribution: the JSON is
/// compared as values, numbers as numbers (Optuna writes `0.0` where ammc may write `0`,
/// and orders keys its own way).
fn same_distribution(a: &str, b: &str) -> bool {
    fn same(a: &Json, b: &Json) -> bool {
        match (a, b) {
            (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
            (Json::Array(x), Json::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Json::Object(x), Json::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(x), Ok(y)) => same(&x, &y),
        _ => a == b,
    }
}

/// A study's trials as one worker sees them in a replay of the journal, kept up to date
/// incrementally: finished trials never change, so each round looks only at new trials and
/// those still running (a study of n trials costs O(n) over its life, not per claim).
#[derive(Default)]
struct Tracker {
    /// The study's id, once it exists.
    study_id: Option<usize>,
    /// Trials in journal order (RUNNING ones as last seen).
    trials: Vec<Trial>,
    /// Journal trial id of each of `trials`.
    trial_ids: Vec<usize>,
    /// Indices into `trials` of trials not finished when last seen.
    open: Vec<usize>,
    /// Slot → index in `trials` of its finished trial (not counting stale ones).
    done: BTreeMap<usize, usize>,
    /// Finished trials that count against the budget (all but stale ones).
    counted_finished: usize,
    /// Trials of `replay.trials` looked at so far.
    scanned: usize,
}

/// This round's view of the running trials.
struct Round {
    /// Operations failing the RUNNING trials of dead workers.
    stale_ops: Vec<Json>,
    /// Slots being evaluated by a live worker.
    live_slots: Vec<usize>,
    /// Trials being evaluated by a live worker (any worker, Optuna's too).
    live: usize,
    /// Trials that count against the budget: finished ones (except stale ones, which are
    /// retried) and live ones.
    counted: usize,
}

/// A recorded trial as a [`Trial`] (`resumed`), and whether ammc marked it stale.
fn convert(
    cfg: &StudyConfig,
    dists: &BTreeMap<String, String>,
    t: &journal::TrialRecord,
) -> Result<(Trial, bool), StudyError> {
    let mismatch = |what: String| StudyError::Mismatch {
        name: cfg.name.clone(),
        path: cfg.journal.clone().unwrap_or_default(),
        what,
    };
    for (name, d) in &t.distributions {
        match dists.get(name) {
            Some(ours) if same_distribution(ours, d) => {}
            Some(_) => {
                return Err(mismatch(format!(
                    "search space: trial {} has `{name}` ~ {d}",
                    t.number
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "search space: trial {} has a param `{name}`, which this block does not search",
                    t.number
                )));
            }
        }
    }
    let space = &cfg.space;
    // An Optuna worker adds params one by one to a running trial (and a failed one may have
    // stopped before all of them); a finished trial without all of them is from another
    // search. A conditional param exists only when its branch is chosen: it must be absent
    // otherwise (as Optuna's define-by-run writes it), and takes its filler.
    let active = space
        .active_by(|i| recorded_param(t, &space.dims[i]).and_then(|v| space.dims[i].index_of(&v)));
    let params: Option<Params> = space
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if active[i] {
                recorded_param(t, d)
            } else if t.params.contains_key(&d.name) {
                None
            } else {
                Some(space.filler(i))
            }
        })
        .collect();
    let params = match params {
        Some(p) => p,
        None if t.state == TrialState::Complete || t.state == TrialState::Pruned => {
            let bad = space.dims.iter().enumerate().find(|(i, d)| {
                if active[*i] {
                    recorded_param(t, d).is_none()
                } else {
                    t.params.contains_key(&d.name)
                }
            });
            let what = match bad {
                Some((i, d)) if !active[i] => format!(
                    "search space: trial {} has `{}`, which its branch does not have",
                    t.number, d.name
                ),
                Some((_, d)) => format!(
                    "search space: trial {} has no valid value for `{}`",
                    t.number, d.name
                ),
                None => format!("search space: trial {}", t.number),
            };
            return Err(mismatch(what));
        }
        None => Vec::new(),
    };
    let trial = Trial {
        number: t.number,
        slot: t
            .system_attrs
            .get(SLOT)
            .and_then(Json::as_u64)
            .map(|s| s as usize),
        params,
        value: t
            .system_attrs
            .get(EXACT_VALUE)
            .and_then(Json::as_str)
            .and_then(|s| s.parse().ok())
            .or_else(|| t.values.as_ref().and_then(|v| v.first().copied())),
        state: t.state,
        seconds: match (&t.datetime_start, &t.datetime_complete) {
            (Some(a), Some(b)) => journal::parse_iso_time(b)
                .zip(journal::parse_iso_time(a))
                .map_or(0.0, |(b, a)| (b - a).max(0.0)),
            _ => 0.0,
        },
        error: t
            .system_attrs
            .get(ERROR)
            .and_then(Json::as_str)
            .map(String::from),
        intermediate: exact_intermediate(t),
        resumed: true,
    };
    Ok((trial, t.system_attrs.contains_key("ammc:stale")))
}

impl Tracker {
    /// Reads what changed in the replay and judges the RUNNING trials of other workers:
    /// alive, or stale (their process is known to be gone, or no heartbeat within the grace
    /// period). Stale trials stay open here until the operations failing them are in the
    /// journal (a Redis claim may be retried, and then they are written again).
    fn update(
        &mut self,
        cfg: &StudyConfig,
        dists: &BTreeMap<String, String>,
        replay: &journal::Replay,
    ) -> Result<Round, StudyError> {
        if self.study_id.is_none() {
            self.study_id = replay
                .studies
                .iter()
                .position(|s| s.name == cfg.name && !s.deleted);
            if let Some(id) = self.study_id
                && replay.studies[id].directions != [cfg.direction.code()]
            {
                return Err(StudyError::Mismatch {
                    name: cfg.name.clone(),
                    path: cfg.journal.clone().unwrap_or_default(),
                    what: "direction".into(),
                });
            }
        }
        let mut round = Round {
            stale_ops: Vec::new(),
            live_slots: Vec::new(),
            live: 0,
            counted: 0,
        };
        let Some(id) = self.study_id else {
            return Ok(round);
        };
        for t in replay.trials.get(self.scanned..).unwrap_or(&[]) {
            if t.study_id == id {
                let (trial, _) = convert(cfg, dists, t)?;
                self.trials.push(trial);
                self.trial_ids.push(t.trial_id);
                self.open.push(self.trials.len() - 1);
            }
        }
        self.scanned = replay.trials.len();
        let now = now_seconds();
        let mut still_open = Vec::new();
        for &i in &self.open {
            let t = &replay.trials[self.trial_ids[i]];
            let (trial, stale) = convert(cfg, dists, t)?;
            let slot = trial.slot;
            let state = trial.state;
            self.trials[i] = trial;
            if state.is_finished() {
                if !stale {
                    self.counted_finished += 1;
                    if let Some(s) = slot {
                        self.done.entry(s).or_insert(i);
                    }
                }
                continue;
            }
            still_open.push(i);
            // This process never holds a RUNNING trial while it reads the journal (it claims
            // and evaluates in turn), so its own worker id gets no special treatment.
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
                round.live += 1;
                if let Some(s) = slot {
                    round.live_slots.push(s);
                }
            } else {
                let msg = if owner_gone {
                    "the run that owned it is no longer running (killed or crashed)".to_string()
                } else {
                    format!("no heartbeat for {age:.0}s: the run that owned it stopped")
                };
                round.stale_ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": t.trial_id, "system_attr": {ERROR: msg}}));
                // Optuna accepts one attribute per operation.
                round.stale_ops.push(json!({"op_code": op::SET_TRIAL_SYSTEM_ATTR, "trial_id": t.trial_id, "system_attr": {"ammc:stale": true}}));
                round.stale_ops.push(json!({"op_code": op::SET_TRIAL_STATE_VALUES, "trial_id": t.trial_id, "state": TrialState::Fail.code(), "values": null, "datetime_complete": iso_time(SystemTime::now())}));
            }
        }
        self.open = still_open;
        round.counted = self.counted_finished + round.live;
        Ok(round)
    }
}

/// What a worker does next.
enum Step {
    /// Evaluate these trials, just claimed.
    Run(Vec<Pending>),
    /// Every slot of the batch is finished (by anyone).
    BatchDone,
    /// The budget is used up (counting other workers' running trials).
    Budget,
    /// Other workers are evaluating the batch's last slots: wait for them.
    Wait,
}

/// How often a waiting worker looks at the journal again.
const POLL: Duration = Duration::from_millis(100);

/// Runs (or resumes, or joins) a study. `report` sees each trial this process evaluates as it
/// finishes, in slot order within a batch.
///
/// Several processes may run the same study on one journal: each claims free slots of the
/// current batch under the journal's lock (re-reading what the others appended), so every
/// slot runs once and the budget counts every worker's trials, Optuna's included. A slot's
/// suggestion depends only on the finished slots of earlier batches, so ammc workers
/// evaluate the same points as one process would; trials of Optuna's own workers count
/// against the budget but do not steer ammc's strategy. The result is the whole study as
/// the journal holds it once no trial is running.
pub fn run_study(
    cfg: &StudyConfig,
    objective: &dyn Objective,
    report: &mut dyn FnMut(&Trial),
) -> Result<StudyResult, StudyError> {
    let space = &cfg.space;
    let store = match (&cfg.redis, &cfg.journal) {
        (Some(r), _) => Store::Redis(super::redis_store::RedisJournal::open(r)?),
        (None, Some(p)) => Store::File(Journal::new(p)),
        (None, None) => Store::memory(),
    };
    let dists: BTreeMap<String, String> = space
        .dims
        .iter()
        .map(|d| (d.name.clone(), optuna_distribution(&d.dist)))
        .collect();
    let budget = cfg.strategy.trials();
    let rec = Recorder { store: &store };
    let mut own: std::collections::BTreeSet<usize> = Default::default();
    let mut tracker = Tracker::default();
    let mut history: Vec<Observation> = Vec::new();
    let mut search = SearchState::default();
    // COMPLETE trials of earlier batches, for the pruner.
    let mut completed: Vec<Intermediate> = Vec::new();
    'batches: for batch in cfg.strategy.batches() {
        // Asked even when every slot of the batch is finished: the strategy's state must
        // follow the same sequence as in an uninterrupted run.
        let suggestions =
            cfg.strategy
                .suggest(space, cfg.seed, &history, batch.clone(), &mut search);
        loop {
            let step = store.transact(|replay| {
                let v = tracker.update(cfg, &dists, replay)?;
                let mut ops = v.stale_ops.clone();
                let study_id = match tracker.study_id {
                    Some(id) => id,
                    None => {
                        ops.push(json!({"op_code": op::CREATE_STUDY, "study_name": cfg.name, "directions": [cfg.direction.code()]}));
                        replay.studies.len()
                    }
                };
                let room = budget.saturating_sub(v.counted);
                let free: Vec<usize> = batch
                    .clone()
                    .filter(|s| !tracker.done.contains_key(s) && !v.live_slots.contains(s))
                    .take(room.min(cfg.jobs.max(1)))
                    .collect();
                let mut pending = Vec::new();
                for (i, &slot) in free.iter().enumerate() {
                    let params = suggestions[slot - batch.start].clone();
                    ops.push(create_trial_op(space, &dists, study_id, slot, &params));
                    pending.push(Pending {
                        slot,
                        params,
                        trial_id: replay.trials.len() + i,
                        number: tracker.trials.len() + i,
                    });
                }
                let step = if !pending.is_empty() {
                    Step::Run(pending)
                } else if batch.clone().all(|s| tracker.done.contains_key(&s)) {
                    Step::BatchDone
                } else if room == 0 && v.live == 0 && v.stale_ops.is_empty() {
                    // With trials still running elsewhere (or just found dead), wait instead:
                    // one may turn out stale, and its slot must then run again.
                    Step::Budget
                } else {
                    Step::Wait
                };
                Ok::<_, StudyError>((ops, step))
            })?;
            match step {
                Step::Run(pending) => {
                    let results = worker::evaluate(cfg, objective, &rec, &pending, &completed)?;
                    for (p, f) in pending.into_iter().zip(results) {
                        own.insert(p.trial_id);
                        report(&Trial {
                            number: p.number,
                            slot: Some(p.slot),
                            params: p.params,
                            value: f.value,
                            state: f.state,
                            seconds: f.seconds,
                            error: f.error,
                            intermediate: f.intermediate,
                            resumed: false,
                        });
                    }
                }
                Step::BatchDone => break,
                Step::Budget => break 'batches,
                Step::Wait => std::thread::sleep(POLL),
            }
        }
        for slot in batch {
            if let Some(&i) = tracker.done.get(&slot) {
                let t = &tracker.trials[i];
                history.push(Observation {
                    params: t.params.clone(),
                    loss: t.value.map(|v| cfg.direction.loss(v)),
                });
                // The pruner compares with COMPLETE trials of earlier batches only: what it
                // sees does not depend on the order in which trials of a batch finish, so
                // `jobs` (or other workers) cannot change a decision.
                if t.state == TrialState::Complete {
                    completed.push(t.intermediate.clone());
                }
            }
        }
    }
    // Other workers' last trials: waited for, so that every worker reports the whole study.
    loop {
        let live = store.transact(|replay| {
            let v = tracker.update(cfg, &dists, replay)?;
            Ok::<_, StudyError>((v.stale_ops.clone(), v.live + v.stale_ops.len()))
        })?;
        if live == 0 {
            break;
        }
        std::thread::sleep(POLL);
    }
    let trials: Vec<Trial> = tracker
        .trials
        .into_iter()
        .zip(&tracker.trial_ids)
        .map(|(mut t, id)| {
            t.resumed = !own.contains(id);
            t
        })
        .collect();
    let best = trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state == TrialState::Complete)
        .filter_map(|(i, t)| t.value.map(|v| (i, cfg.direction.loss(v))))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i);
    Ok(StudyResult { trials, best })
}

/// The `CREATE_TRIAL` operation of a slot: RUNNING, with its params in Optuna's internal
/// representation and, for ammc, their exact text and the slot.
fn create_trial_op(
    space: &Space,
    dists: &BTreeMap<String, String>,
    study_id: usize,
    slot: usize,
    params: &Params,
) -> Json {
    // Only the params that exist in this trial, with their distributions: what Optuna's
    // define-by-run writes for a trial that did not take the other branches.
    let present = space.present(params);
    let pmap: serde_json::Map<String, Json> = present
        .iter()
        .map(|(d, v)| (d.name.clone(), json!(internal(&d.dist, v))))
        .collect();
    let trial_dists: serde_json::Map<String, Json> = present
        .iter()
        .filter_map(|(d, _)| Some((d.name.clone(), json!(dists.get(&d.name)?))))
        .collect();
    let exact_map: serde_json::Map<String, Json> = present
        .iter()
        .copied()
        .filter_map(|(d, v)| match (&d.dist, v) {
            // A choice's internal value is its index; its values are in the distribution.
            (Distribution::Choice(_), _) => None,
            (_, ParamValue::Float(x)) => Some((d.name.clone(), json!(exact(*x)))),
            (_, ParamValue::Int(i)) => Some((d.name.clone(), json!(i.to_string()))),
            _ => None,
        })
        .collect();
    json!({
        "op_code": op::CREATE_TRIAL,
        "study_id": study_id,
        "datetime_start": iso_time(SystemTime::now()),
        "state": TrialState::Running.code(),
        "value": null,
        "values": null,
        "params": pmap,
        "distributions": trial_dists,
        "user_attrs": {},
        "system_attrs": {SLOT: slot, EXACT: exact_map},
        "intermediate_values": {},
    })
}
