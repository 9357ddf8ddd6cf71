//! The study runner: asks the strategy for configurations in fixed-size batches, runs them
//! on `jobs` threads, records everything in the journal, prunes, resumes and shares work
//! with other workers.
//!
//! Reproducibility contract: for a given seed and settings, the configuration evaluated in
//! each *slot* and (for a deterministic objective) its result are the same whatever `jobs`
//! is, whether the study ran in one go or was interrupted and resumed, and however many
//! workers share the journal. It holds because:
//!
//! * slots are grouped into batches of `batch` slots (set by the study, never by `jobs`);
//!   batch `k` is only suggested once every slot of batches `< k` is finished, from exactly
//!   that history, in slot order;
//! * strategies are pure functions of seed, slot numbers and history (see
//!   [`crate::tune::strategy`]);
//! * the median pruner of a batch only looks at trials of earlier batches.
//!
//! Crash safety: a worker claims a slot by appending (under the journal lock) a trial whose
//! `ammc:slot` system attribute names it, then keeps the trial alive with `ammc:heartbeat`
//! attributes every `heartbeat.interval`. A RUNNING trial whose last heartbeat (or start
//! time) is older than `heartbeat.grace` and that no live thread of this process owns is
//! marked FAIL (`ammc:stale = true`) and its slot is run again as a new trial with
//! `ammc:retry_of` pointing at it. Slots whose trial is COMPLETE, PRUNED, or FAIL because
//! the objective failed are never re-run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::error::{ConfigError, JournalError, TuneError};
use super::journal::ops::{direction_code, distribution_json, internal_repr};
use super::journal::time::{format_iso, now_unix, parse_iso};
use super::journal::{Journal, JournalState, LockSettings, Op, TrialEntry};
use super::pruner::{PruneReference, PrunerConfig};
use super::space::SearchSpace;
use super::strategy::{AskContext, Direction, Observation, Outcome, Strategy, StrategyConfig};
use super::trial::{TrialRecord, TrialState};
use super::value::{ParamEntry, TrialParams};

/// System attribute holding a trial's slot number.
pub const SLOT_KEY: &str = "ammc:slot";
/// System attribute naming the trial number a retry re-runs.
pub const RETRY_KEY: &str = "ammc:retry_of";
/// System attribute holding the last heartbeat (ISO time).
pub const HEARTBEAT_KEY: &str = "ammc:heartbeat";
/// System attribute set on trials failed for a stale heartbeat.
pub const STALE_KEY: &str = "ammc:stale";
/// System attribute with the failure message (Optuna's historical key).
pub const FAIL_REASON_KEY: &str = "fail_reason";
/// Study system attribute fingerprinting the settings.
pub const CONFIG_KEY: &str = "ammc:config";

/// Liveness settings for crash detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeartbeatSettings {
    /// How often running trials record a heartbeat.
    pub interval: Duration,
    /// A RUNNING trial silent for longer than this is considered dead.
    pub grace: Duration,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        HeartbeatSettings {
            interval: Duration::from_secs(30),
            grace: Duration::from_secs(120),
        }
    }
}

/// Everything a study needs; build with [`StudyConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// Study name in the journal (the lead uses the `tune` block name).
    pub name: String,
    /// Search space.
    pub space: SearchSpace,
    /// Strategy and budget.
    pub strategy: StrategyConfig,
    /// Objective direction.
    pub direction: Direction,
    /// Seed of every random choice.
    pub seed: u64,
    /// Parallel trials in this process (threads).
    pub jobs: usize,
    /// Suggestion batch size; `None` = the strategy's default (random 8, bayes 4,
    /// genetic = population). Part of the reproducibility key, unlike `jobs`.
    pub batch: Option<usize>,
    /// Pruning rule.
    pub pruner: PrunerConfig,
    /// Journal file; `None` keeps the study in memory only.
    pub journal: Option<PathBuf>,
    /// Crash detection.
    pub heartbeat: HeartbeatSettings,
    /// Journal lock timing.
    pub lock: LockSettings,
    /// How often an idle worker re-reads the journal while others finish a batch.
    pub poll_interval: Duration,
}

impl StudyConfig {
    /// A configuration with defaults: seed 0, one job, strategy batch, no pruning, in memory.
    pub fn new(
        name: impl Into<String>,
        space: SearchSpace,
        strategy: StrategyConfig,
        direction: Direction,
    ) -> Self {
        StudyConfig {
            name: name.into(),
            space,
            strategy,
            direction,
            seed: 0,
            jobs: 1,
            batch: None,
            pruner: PrunerConfig::None,
            journal: None,
            heartbeat: HeartbeatSettings::default(),
            lock: LockSettings::default(),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Answer of [`TrialReporter::report`].
#[must_use = "stop the trial when told to prune"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneDecision {
    /// Keep going.
    Continue,
    /// Stop now: the trial is recorded as PRUNED whatever the objective returns.
    Prune,
}

/// Handed to the objective to report intermediate values and attributes.
pub struct TrialReporter<'a> {
    number: usize,
    trial_id: usize,
    slot: usize,
    journal: &'a Mutex<Journal>,
    pruner: &'a PrunerConfig,
    reference: &'a PruneReference,
    direction: Direction,
    last: Option<(i64, f64)>,
    pruned: bool,
    error: Option<JournalError>,
}

impl TrialReporter<'_> {
    /// Records `value` at `step` and applies the pruning rule. Non-finite values are not
    /// recorded and never prune. After a `Prune` answer later reports are ignored.
    pub fn report(&mut self, step: u64, value: f64) -> PruneDecision {
        if self.pruned {
            return PruneDecision::Prune;
        }
        if !value.is_finite() {
            return PruneDecision::Continue;
        }
        let istep = i64::try_from(step).unwrap_or(i64::MAX);
        self.write(vec![Op::SetTrialIntermediateValue {
            trial_id: self.trial_id,
            step: istep,
            value,
        }]);
        self.last = Some((istep, value));
        if self
            .pruner
            .should_prune(self.reference, self.direction, step, value)
        {
            self.pruned = true;
            PruneDecision::Prune
        } else {
            PruneDecision::Continue
        }
    }

    /// True once the trial was told to prune.
    pub fn should_prune(&self) -> bool {
        self.pruned
    }

    /// Optuna trial number.
    pub fn trial_number(&self) -> usize {
        self.number
    }

    /// Strategy slot.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Stores a user attribute on the trial (e.g. a run directory).
    pub fn set_user_attr(&mut self, key: &str, value: Value) {
        self.write(vec![Op::SetTrialUserAttr {
            trial_id: self.trial_id,
            key: key.to_string(),
            value,
        }]);
    }

    fn write(&mut self, ops: Vec<Op>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = lock_journal(self.journal).append(ops) {
            self.error = Some(e);
        }
    }
}

/// Result of a study: every trial in the journal for it, in trial-number order.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOutcome {
    /// Study name.
    pub name: String,
    /// Objective direction.
    pub direction: Direction,
    /// Planned number of slots (0 when loaded without settings).
    pub budget: usize,
    /// All trials, including stale failures and their retries.
    pub trials: Vec<TrialRecord>,
    /// Objective evaluations performed by this call (0 for a loaded study).
    pub evaluated_here: usize,
}

impl StudyOutcome {
    /// Best COMPLETE trial (lowest trial number on ties).
    pub fn best(&self) -> Option<&TrialRecord> {
        let mut best: Option<&TrialRecord> = None;
        for t in &self.trials {
            if t.state != TrialState::Complete {
                continue;
            }
            let Some(v) = t.value else { continue };
            if best.is_none_or(|b| b.value.is_some_and(|bv| self.direction.better(v, bv))) {
                best = Some(t);
            }
        }
        best
    }

    /// Trials in a given state.
    pub fn in_state(&self, state: TrialState) -> impl Iterator<Item = &TrialRecord> {
        self.trials.iter().filter(move |t| t.state == state)
    }

    /// The deciding trial of each slot (finished, not stale), in slot order.
    pub fn by_slot(&self) -> Vec<&TrialRecord> {
        let mut m: BTreeMap<usize, &TrialRecord> = BTreeMap::new();
        for t in &self.trials {
            if let Some(s) = t.slot
                && t.state.is_finished()
                && !t.stale
            {
                m.entry(s).or_insert(t);
            }
        }
        m.into_values().collect()
    }
}

const STALE_PREFIX: &str = "stale heartbeat";

fn lock_journal(j: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    // A poisoned mutex only means a thread panicked elsewhere; the journal stays valid.
    j.lock().unwrap_or_else(|e| e.into_inner())
}

/// Converts a replayed trial into a record (parameters in recorded order).
fn record_of(t: &TrialEntry) -> TrialRecord {
    let params = TrialParams::new(
        t.params
            .iter()
            .filter_map(|p| {
                Some(ParamEntry {
                    name: p.name.clone(),
                    value: p.distribution.external(p.internal)?,
                })
            })
            .collect(),
    );
    let value = match t.state {
        TrialState::Complete | TrialState::Pruned => {
            t.values.as_ref().and_then(|v| v.first().copied())
        }
        _ => None,
    };
    TrialRecord {
        number: t.number,
        slot: t
            .system_attrs
            .get(SLOT_KEY)
            .and_then(Value::as_u64)
            .map(|s| s as usize),
        params,
        state: t.state,
        value,
        intermediate: t.intermediate.iter().map(|(k, v)| (*k, *v)).collect(),
        fail_reason: t
            .system_attrs
            .get(FAIL_REASON_KEY)
            .and_then(Value::as_str)
            .map(str::to_string),
        started: t.datetime_start.as_deref().and_then(parse_iso),
        finished: t.datetime_complete.as_deref().and_then(parse_iso),
        retry_of: t
            .system_attrs
            .get(RETRY_KEY)
            .and_then(Value::as_u64)
            .map(|s| s as usize),
        stale: t.system_attrs.get(STALE_KEY).is_some(),
    }
}

/// Reorders `params` to the space's declaration order; `None` if it does not fit.
fn fit_space(space: &SearchSpace, params: &TrialParams) -> Option<TrialParams> {
    let ordered = TrialParams::new(
        space
            .params()
            .iter()
            .map(|p| {
                Some(ParamEntry {
                    name: p.name.clone(),
                    value: params.get(&p.name)?.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?,
    );
    space.encode(&ordered).ok()?;
    Some(ordered)
}

/// Status of one slot as seen in the journal.
#[derive(Debug, Clone, PartialEq)]
enum SlotState {
    /// Needs a trial; `retry_of` is the last stale trial of the slot, if any.
    Open { retry_of: Option<usize> },
    /// A trial is running.
    Running { trial_id: usize, last_beat: f64 },
    /// Finished; index into `View::records`.
    Done(usize),
}

/// The study as seen in a journal state.
struct View {
    records: Vec<TrialRecord>,
    slots: Vec<SlotState>,
    next_number: usize,
}

impl View {
    fn build(st: &JournalState, study_id: usize, budget: usize) -> View {
        let mut slots = vec![SlotState::Open { retry_of: None }; budget];
        let mut records = Vec::new();
        let ids: &[usize] = st.study(study_id).map(|s| &s.trial_ids[..]).unwrap_or(&[]);
        for &tid in ids {
            let t = &st.trials[tid];
            let r = record_of(t);
            let idx = records.len();
            if let Some(slot) = r.slot.filter(|s| *s < budget) {
                let stale = r.stale;
                match (&slots[slot], r.state) {
                    (SlotState::Done(_), _) => {}
                    (_, TrialState::Complete | TrialState::Pruned) => {
                        slots[slot] = SlotState::Done(idx)
                    }
                    (_, TrialState::Fail) if !stale => slots[slot] = SlotState::Done(idx),
                    (_, TrialState::Fail) => {
                        if !matches!(slots[slot], SlotState::Running { .. }) {
                            slots[slot] = SlotState::Open {
                                retry_of: Some(r.number),
                            };
                        }
                    }
                    (_, TrialState::Running) => {
                        let beat = t
                            .system_attrs
                            .get(HEARTBEAT_KEY)
                            .and_then(Value::as_str)
                            .and_then(parse_iso);
                        let last_beat = beat
                            .into_iter()
                            .chain(r.started)
                            .fold(f64::NEG_INFINITY, f64::max);
                        slots[slot] = SlotState::Running {
                            trial_id: tid,
                            last_beat,
                        };
                    }
                    (_, TrialState::Waiting) => {}
                }
            }
            records.push(r);
        }
        View {
            next_number: ids.len(),
            records,
            slots,
        }
    }

    fn first_unfinished(&self) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| !matches!(s, SlotState::Done(_)))
    }

    fn history_before(&self, end: usize, space: &SearchSpace) -> Vec<Observation> {
        self.slots[..end]
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| {
                let SlotState::Done(i) = s else { return None };
                let r = &self.records[*i];
                let params = fit_space(space, &r.params)?;
                let outcome = match r.state {
                    TrialState::Complete => Outcome::Complete(r.value?),
                    TrialState::Pruned => Outcome::Pruned { last: r.value },
                    _ => Outcome::Failed,
                };
                Some(Observation {
                    slot,
                    params,
                    outcome,
                })
            })
            .collect()
    }

    fn prune_reference_before(&self, end: usize) -> PruneReference {
        PruneReference::new(self.slots[..end].iter().filter_map(|s| match s {
            SlotState::Done(i) if self.records[*i].state == TrialState::Complete => {
                Some(&self.records[*i].intermediate[..])
            }
            _ => None,
        }))
    }

    /// RUNNING trials not owned here whose heartbeat is older than `grace`.
    fn stale(&self, now: f64, grace: Duration, owned: &HashSet<usize>) -> Vec<(usize, usize)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| match s {
                SlotState::Running {
                    trial_id,
                    last_beat,
                } if !owned.contains(trial_id) && now - last_beat > grace.as_secs_f64() => {
                    Some((slot, *trial_id))
                }
                _ => None,
            })
            .collect()
    }
}

/// Work for a trial thread.
struct Job {
    slot: usize,
    trial_id: usize,
    number: usize,
    params: TrialParams,
    reference: Arc<PruneReference>,
}

/// Report from a trial thread.
struct Done {
    trial_id: usize,
    error: Option<JournalError>,
}

/// Suggestions and pruning reference of one batch.
struct BatchPlan {
    index: usize,
    params: Vec<TrialParams>,
    reference: Arc<PruneReference>,
}

/// A configured study, ready to run.
pub struct Study {
    config: StudyConfig,
    strategy: Box<dyn Strategy>,
    batch: usize,
    budget: usize,
    dist_json: Vec<String>,
}

impl Study {
    /// Validates the configuration.
    pub fn new(config: StudyConfig) -> Result<Study, TuneError> {
        if config.jobs == 0 {
            return Err(TuneError::ZeroJobs);
        }
        if config.heartbeat.grace <= config.heartbeat.interval {
            return Err(ConfigError::OutOfRange {
                setting: "heartbeat.grace",
                range: "above heartbeat.interval",
                value: config.heartbeat.grace.as_secs_f64(),
            }
            .into());
        }
        let strategy = config.strategy.build(&config.space)?;
        let batch = config.batch.unwrap_or_else(|| strategy.default_batch());
        super::strategy::at_least("batch", batch, 1)?;
        let budget = strategy.budget();
        let dist_json = config
            .space
            .params()
            .iter()
            .map(|p| distribution_json(&p.distribution))
            .collect();
        Ok(Study {
            config,
            strategy,
            batch,
            budget,
            dist_json,
        })
    }

    /// Number of slots (trials without retries) the study runs.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Effective batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The settings fingerprint stored with the study; resuming requires the same one.
    pub fn fingerprint(&self) -> String {
        let c = &self.config;
        let space: Vec<String> = c
            .space
            .params()
            .iter()
            .map(|p| format!("{} ~ {}", p.name, p.distribution))
            .collect();
        serde_json::json!({
            "format": 1,
            "space": space,
            "strategy": c.strategy.describe(),
            "direction": c.direction.name(),
            "seed": c.seed,
            "batch": self.batch,
            "pruner": format!("{:?}", c.pruner),
        })
        .to_string()
    }

    fn open_journal(&self) -> Result<Journal, TuneError> {
        Ok(match &self.config.journal {
            Some(p) => Journal::open(p, self.config.lock)?,
            None => Journal::in_memory(),
        })
    }

    /// Creates the study in the journal or checks that the existing one matches.
    fn ensure_study(&self, journal: &mut Journal) -> Result<usize, TuneError> {
        let name = self.config.name.clone();
        let fingerprint = self.fingerprint();
        let direction = self.config.direction;
        journal.transact(|st| {
            if st.study_id(&name).is_some() {
                return (Vec::new(), ());
            }
            let study_id = st.studies.len();
            (
                vec![
                    Op::CreateStudy {
                        study_name: name.clone(),
                        directions: vec![direction],
                    },
                    Op::SetStudySystemAttr {
                        study_id,
                        key: CONFIG_KEY.into(),
                        value: Value::String(fingerprint.clone()),
                    },
                ],
                (),
            )
        })?;
        let st = journal.state();
        let id = st.study_id(&name).ok_or_else(|| TuneError::StudyNotFound {
            study: name.clone(),
            path: journal_path(journal),
        })?;
        let study = st.study(id).ok_or_else(|| TuneError::StudyNotFound {
            study: name.clone(),
            path: journal_path(journal),
        })?;
        if study.directions != [direction_code(direction)] {
            return Err(TuneError::StudyMismatch {
                study: name,
                reason: format!(
                    "direction codes {:?} in the journal, {} requested",
                    study.directions,
                    direction.name()
                ),
            });
        }
        match study.system_attrs.get(CONFIG_KEY).and_then(Value::as_str) {
            Some(f) if f == fingerprint => Ok(id),
            Some(f) => Err(TuneError::StudyMismatch {
                study: name,
                reason: format!("journal has {f}, requested {fingerprint}"),
            }),
            None => Err(TuneError::StudyMismatch {
                study: name,
                reason: "the study was not created by ammc (no settings fingerprint)".into(),
            }),
        }
    }

    fn plan(&self, view: &View, index: usize) -> BatchPlan {
        let first = index * self.batch;
        let count = self.batch.min(self.budget - first);
        let history = view.history_before(first, &self.config.space);
        let ctx = AskContext {
            space: &self.config.space,
            direction: self.config.direction,
            seed: self.config.seed,
            first_slot: first,
            count,
            history: &history,
            pending: &[],
        };
        BatchPlan {
            index,
            params: self.strategy.ask(&ctx),
            reference: Arc::new(view.prune_reference_before(first)),
        }
    }

    fn claim_ops(
        &self,
        study_id: usize,
        trial_id: usize,
        slot: usize,
        retry_of: Option<usize>,
        params: &TrialParams,
    ) -> Vec<Op> {
        let mut attrs = Map::new();
        attrs.insert(SLOT_KEY.into(), Value::from(slot));
        if let Some(r) = retry_of {
            attrs.insert(RETRY_KEY.into(), Value::from(r));
        }
        let mut ops = vec![Op::CreateTrial {
            study_id,
            datetime_start: format_iso(now_unix()),
            system_attrs: attrs,
        }];
        for (i, p) in self.config.space.params().iter().enumerate() {
            let Some(v) = params.get(&p.name) else {
                continue;
            };
            let Some(internal) = internal_repr(&p.distribution, v) else {
                continue;
            };
            ops.push(Op::SetTrialParam {
                trial_id,
                param_name: p.name.clone(),
                internal,
                distribution: self.dist_json[i].clone(),
            });
        }
        ops
    }

    /// Runs (or resumes, or joins) the study until every slot has a finished trial.
    ///
    /// The objective gets the configuration and a [`TrialReporter`]; `Err(message)`, a
    /// non-finite value or a panic records the trial as FAIL and the study goes on.
    pub fn optimize<F>(&self, objective: F) -> Result<StudyOutcome, TuneError>
    where
        F: Fn(&TrialParams, &mut TrialReporter<'_>) -> Result<f64, String> + Sync,
    {
        let mut journal = self.open_journal()?;
        let study_id = self.ensure_study(&mut journal)?;
        let journal = Mutex::new(journal);
        let jobs = self.config.jobs;
        let evaluated = std::sync::atomic::AtomicUsize::new(0);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let result: Result<(), TuneError> = std::thread::scope(|scope| {
            for _ in 0..jobs {
                let done_tx = done_tx.clone();
                let (job_rx, journal, objective, evaluated) =
                    (&job_rx, &journal, &objective, &evaluated);
                scope.spawn(move || {
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = job else { break };
                        evaluated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let trial_id = job.trial_id;
                        let error = self.run_trial(job, journal, objective);
                        if done_tx.send(Done { trial_id, error }).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let r = self.coordinate(study_id, &journal, &job_tx, &done_rx);
            drop(job_tx);
            // Let running trials finish and record themselves before returning.
            while done_rx.recv().is_ok() {}
            r
        });
        result?;
        let journal = journal.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut outcome = self.outcome_from(&journal, study_id);
        outcome.evaluated_here = evaluated.into_inner();
        Ok(outcome)
    }

    fn outcome_from(&self, journal: &Journal, study_id: usize) -> StudyOutcome {
        let view = View::build(journal.state(), study_id, self.budget);
        StudyOutcome {
            name: self.config.name.clone(),
            direction: self.config.direction,
            budget: self.budget,
            trials: view.records,
            evaluated_here: 0,
        }
    }

    /// The coordinator loop (runs on the calling thread).
    fn coordinate(
        &self,
        study_id: usize,
        journal: &Mutex<Journal>,
        job_tx: &mpsc::Sender<Job>,
        done_rx: &mpsc::Receiver<Done>,
    ) -> Result<(), TuneError> {
        let hb = self.config.heartbeat;
        let jobs = self.config.jobs;
        let mut owned: HashMap<usize, usize> = HashMap::new();
        let mut plan: Option<BatchPlan> = None;
        let mut last_beat = Instant::now();
        loop {
            // 1. Look at the journal without the lock.
            let view = {
                let mut j = lock_journal(journal);
                j.sync()?;
                View::build(j.state(), study_id, self.budget)
            };
            let current = view.first_unfinished().map(|s| s / self.batch);
            if let Some(k) = current
                && plan.as_ref().is_none_or(|p| p.index != k)
            {
                // Outside the journal mutex: a GP fit must not block trial threads.
                plan = Some(self.plan(&view, k));
            }
            let Some(current) = current else {
                if owned.is_empty() {
                    return Ok(());
                }
                self.wait(done_rx, &mut owned, journal, &mut last_beat, hb.interval)?;
                continue;
            };
            let owned_ids: HashSet<usize> = owned.keys().copied().collect();
            let now = now_unix();
            let has_stale = !view.stale(now, hb.grace, &owned_ids).is_empty();
            let first = current * self.batch;
            let end = (first + self.batch).min(self.budget);
            let has_open = view.slots[first..end]
                .iter()
                .any(|s| matches!(s, SlotState::Open { .. }));
            // 2. Claim open slots of the current batch (and fail stale trials) under the lock.
            if has_stale || (has_open && owned.len() < jobs) {
                let Some(p) = plan.as_ref().filter(|p| p.index == current) else {
                    continue;
                };
                let capacity = jobs - owned.len();
                let claims = lock_journal(journal).transact(|st| {
                    let mut view = View::build(st, study_id, self.budget);
                    let mut ops = Vec::new();
                    let now = now_unix();
                    for (slot, trial_id) in view.stale(now, hb.grace, &owned_ids) {
                        let number = st.trials[trial_id].number;
                        ops.push(Op::SetTrialSystemAttr {
                            trial_id,
                            key: STALE_KEY.into(),
                            value: Value::Bool(true),
                        });
                        ops.push(Op::SetTrialSystemAttr {
                            trial_id,
                            key: FAIL_REASON_KEY.into(),
                            value: Value::String(format!(
                                "{STALE_PREFIX}: no sign of life for more than {} s, worker presumed dead",
                                hb.grace.as_secs_f64()
                            )),
                        });
                        ops.push(Op::SetTrialStateValues {
                            trial_id,
                            state: TrialState::Fail,
                            values: None,
                            datetime_complete: format_iso(now),
                        });
                        view.slots[slot] = SlotState::Open {
                            retry_of: Some(number),
                        };
                    }
                    let mut claims = Vec::new();
                    if view.first_unfinished().map(|s| s / self.batch) == Some(current) {
                        let mut trial_id = st.trials.len();
                        let mut number = view.next_number;
                        for slot in first..end {
                            if claims.len() == capacity {
                                break;
                            }
                            let SlotState::Open { retry_of } = view.slots[slot] else {
                                continue;
                            };
                            let params = &p.params[slot - first];
                            ops.extend(self.claim_ops(study_id, trial_id, slot, retry_of, params));
                            claims.push(Job {
                                slot,
                                trial_id,
                                number,
                                params: params.clone(),
                                reference: p.reference.clone(),
                            });
                            trial_id += 1;
                            number += 1;
                        }
                    }
                    (ops, claims)
                })?;
                for job in claims {
                    owned.insert(job.trial_id, job.slot);
                    if job_tx.send(job).is_err() {
                        return Ok(());
                    }
                }
            }
            // 3. Wait for a result, a heartbeat deadline, or (idle) the next poll.
            if owned.is_empty() {
                std::thread::sleep(self.config.poll_interval);
            } else {
                self.wait(
                    done_rx,
                    &mut owned,
                    journal,
                    &mut last_beat,
                    self.config.poll_interval,
                )?;
            }
        }
    }

    /// Waits up to `max` for a finished trial, writing heartbeats when due.
    fn wait(
        &self,
        done_rx: &mpsc::Receiver<Done>,
        owned: &mut HashMap<usize, usize>,
        journal: &Mutex<Journal>,
        last_beat: &mut Instant,
        max: Duration,
    ) -> Result<(), TuneError> {
        let interval = self.config.heartbeat.interval;
        let until_beat = interval.saturating_sub(last_beat.elapsed());
        match done_rx.recv_timeout(max.min(until_beat).max(Duration::from_millis(1))) {
            Ok(done) => {
                owned.remove(&done.trial_id);
                if let Some(e) = done.error {
                    return Err(e.into());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => owned.clear(),
        }
        if last_beat.elapsed() >= interval && !owned.is_empty() {
            let stamp = Value::String(format_iso(now_unix()));
            let mut ids: Vec<usize> = owned.keys().copied().collect();
            ids.sort_unstable();
            let ops = ids
                .into_iter()
                .map(|trial_id| Op::SetTrialSystemAttr {
                    trial_id,
                    key: HEARTBEAT_KEY.into(),
                    value: stamp.clone(),
                })
                .collect();
            lock_journal(journal).append(ops)?;
            *last_beat = Instant::now();
        }
        Ok(())
    }

    /// Runs one trial on a worker thread and records its end state.
    fn run_trial<F>(
        &self,
        job: Job,
        journal: &Mutex<Journal>,
        objective: &F,
    ) -> Option<JournalError>
    where
        F: Fn(&TrialParams, &mut TrialReporter<'_>) -> Result<f64, String> + Sync,
    {
        let mut reporter = TrialReporter {
            number: job.number,
            trial_id: job.trial_id,
            slot: job.slot,
            journal,
            pruner: &self.config.pruner,
            reference: &job.reference,
            direction: self.config.direction,
            last: None,
            pruned: false,
            error: None,
        };
        let result = catch_unwind(AssertUnwindSafe(|| objective(&job.params, &mut reporter)));
        let (state, values, reason) = if reporter.pruned {
            (
                TrialState::Pruned,
                reporter.last.map(|(_, v)| vec![v]),
                None,
            )
        } else {
            match result {
                Ok(Ok(v)) if v.is_finite() => (TrialState::Complete, Some(vec![v]), None),
                Ok(Ok(v)) => (
                    TrialState::Fail,
                    None,
                    Some(format!("objective returned a non-finite value ({v})")),
                ),
                Ok(Err(msg)) => (TrialState::Fail, None, Some(msg)),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".into());
                    (
                        TrialState::Fail,
                        None,
                        Some(format!("objective panicked: {msg}")),
                    )
                }
            }
        };
        if let Some(e) = reporter.error.take() {
            return Some(e);
        }
        let mut ops = Vec::new();
        if let Some(r) = reason {
            ops.push(Op::SetTrialSystemAttr {
                trial_id: job.trial_id,
                key: FAIL_REASON_KEY.into(),
                value: Value::String(r),
            });
        }
        ops.push(Op::SetTrialStateValues {
            trial_id: job.trial_id,
            state,
            values,
            datetime_complete: format_iso(now_unix()),
        });
        lock_journal(journal).append(ops).err()
    }
}

fn journal_path(j: &Journal) -> String {
    j.path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<memory>".into())
}

/// Loads a study from a journal without running anything (for reports).
pub fn load_study(path: &Path, name: &str) -> Result<StudyOutcome, TuneError> {
    let journal = Journal::open(path, LockSettings::default())?;
    let st = journal.state();
    let id = st.study_id(name).ok_or_else(|| TuneError::StudyNotFound {
        study: name.into(),
        path: path.display().to_string(),
    })?;
    let direction = match st.study(id).map(|s| s.directions.as_slice()) {
        Some([2]) => Direction::Maximize,
        _ => Direction::Minimize,
    };
    let view = View::build(st, id, 0);
    Ok(StudyOutcome {
        name: name.into(),
        direction,
        budget: 0,
        trials: view.records,
        evaluated_here: 0,
    })
}
