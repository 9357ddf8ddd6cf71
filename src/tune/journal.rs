//! Study storage in Optuna's `JournalStorage` file format: one JSON operation per line
//! (`op_code` 0 = create study, 4 = create trial, 6 = set state and values, 7 = set an
//! intermediate value, 9 = set system attributes; Optuna's workers also write 1 = delete a
//! study, 5 = set a param, 2, 3 and 8 = user and study attributes, all replayed as Optuna does), appended under Optuna's lock-file protocol (`<path>.lock` created exclusively,
//! retried with backoff), so `optuna.storages.JournalStorage(JournalFileBackend(path))` reads
//! our studies and we read what we wrote before a crash.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

/// Optuna's operation codes.
pub mod op {
    /// `CREATE_STUDY`
    pub const CREATE_STUDY: i64 = 0;
    /// `CREATE_TRIAL`
    pub const CREATE_TRIAL: i64 = 4;
    /// `SET_TRIAL_STATE_VALUES`
    pub const SET_TRIAL_STATE_VALUES: i64 = 6;
    /// `SET_TRIAL_INTERMEDIATE_VALUE`
    pub const SET_TRIAL_INTERMEDIATE_VALUE: i64 = 7;
    /// `SET_TRIAL_SYSTEM_ATTR`
    pub const SET_TRIAL_SYSTEM_ATTR: i64 = 9;
    /// `DELETE_STUDY`
    pub const DELETE_STUDY: i64 = 1;
    /// `SET_TRIAL_PARAM`: Optuna's workers create a trial empty and add each param as it is
    /// suggested.
    pub const SET_TRIAL_PARAM: i64 = 5;
}

/// Optuna's `TrialState` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialState {
    /// 0: being evaluated.
    Running,
    /// 1: finished with a value.
    Complete,
    /// 2: stopped early.
    Pruned,
    /// 3: failed.
    Fail,
    /// 4: queued.
    Waiting,
}

impl TrialState {
    /// Optuna's integer code.
    pub fn code(self) -> i64 {
        match self {
            TrialState::Running => 0,
            TrialState::Complete => 1,
            TrialState::Pruned => 2,
            TrialState::Fail => 3,
            TrialState::Waiting => 4,
        }
    }

    fn from_code(c: i64) -> Option<TrialState> {
        Some(match c {
            0 => TrialState::Running,
            1 => TrialState::Complete,
            2 => TrialState::Pruned,
            3 => TrialState::Fail,
            4 => TrialState::Waiting,
            _ => return None,
        })
    }

    /// Whether the trial is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Pruned | TrialState::Fail
        )
    }

    /// Upper-case name as Optuna prints it.
    pub fn name(self) -> &'static str {
        match self {
            TrialState::Running => "RUNNING",
            TrialState::Complete => "COMPLETE",
            TrialState::Pruned => "PRUNED",
            TrialState::Fail => "FAIL",
            TrialState::Waiting => "WAITING",
        }
    }
}

/// Journal trouble.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    /// Reading or writing the file failed.
    #[error("study journal {path}: {source}")]
    #[diagnostic(
        code(amm::tune::journal_io),
        help("check that the output directory is writable")
    )]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The lock file stayed in place.
    #[error("study journal {path} is locked by another process")]
    #[diagnostic(
        code(amm::tune::journal_locked),
        help("wait for the other run to finish, or delete the `.lock` file if no run is active")
    )]
    Locked {
        /// The journal.
        path: PathBuf,
    },
    /// A lock file left by a crashed run that cannot be removed (a directory, or no
    /// permission).
    #[error(
        "study journal {path} is locked by {lock}, which is stale but cannot be removed: {source}"
    )]
    #[diagnostic(
        code(amm::tune::journal_stale_lock),
        help("no run holds it: delete {} by hand and run again", lock.display())
    )]
    StaleLock {
        /// The journal.
        path: PathBuf,
        /// The lock path.
        lock: PathBuf,
        /// Why removing it failed.
        source: std::io::Error,
    },
    /// The Redis server cannot be reached or refused a command.
    #[error("study storage {url}: {message}")]
    #[diagnostic(
        code(amm::tune::redis),
        help("check that a Redis server is running at that address and reachable from here")
    )]
    Redis {
        /// The server.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A line is not a valid operation.
    #[error("study journal {path}, line {line}: {reason}")]
    #[diagnostic(
        code(amm::tune::journal_format),
        help("the journal is damaged; move it away to start the study afresh")
    )]
    Format {
        /// The journal.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A study as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyRecord {
    /// Name.
    pub name: String,
    /// Optuna `StudyDirection` codes (1 minimise, 2 maximise).
    pub directions: Vec<i64>,
    /// Deleted (`DELETE_STUDY`): its id is never reused, its name may be.
    pub deleted: bool,
}

/// A trial as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    /// Global trial id (order of creation over all studies).
    pub trial_id: usize,
    /// Study index.
    pub study_id: usize,
    /// Number within the study.
    pub number: usize,
    /// State.
    pub state: TrialState,
    /// Params in Optuna's internal representation (float; index for categorical).
    pub params: BTreeMap<String, f64>,
    /// Distributions as Optuna JSON strings.
    pub distributions: BTreeMap<String, String>,
    /// Objective value(s).
    pub values: Option<Vec<f64>>,
    /// Intermediate values by step.
    pub intermediate_values: BTreeMap<usize, f64>,
    /// The worker that created the trial.
    pub worker_id: Option<String>,
    /// System attributes.
    pub system_attrs: serde_json::Map<String, Json>,
    /// Start time (ISO 8601, local-naive like Optuna).
    pub datetime_start: Option<String>,
    /// Completion time.
    pub datetime_complete: Option<String>,
}

/// Everything a journal says, replayed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Studies by id.
    pub studies: Vec<StudyRecord>,
    /// Trials by id.
    pub trials: Vec<TrialRecord>,
}

/// An append-only journal file.
#[derive(Clone, Debug)]
pub struct Journal {
    path: PathBuf,
    worker_id: String,
    /// What has been replayed so far and where it ended, so that a worker re-reading the
    /// journal under the lock (to claim a trial) reads only what others appended since.
    cache: std::sync::Arc<std::sync::Mutex<Cursor>>,
}

/// A replay of a journal's first `offset` bytes (`lines` complete lines).
#[derive(Clone, Debug, Default)]
struct Cursor {
    offset: u64,
    lines: usize,
    replay: Replay,
}

/// A time as the ISO 8601 text Optuna writes: UTC with an explicit `+00:00` offset, like
/// Python's `datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")`. Without the
/// offset Optuna would read it as local time.
pub fn iso_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Parses [`iso_time`]'s format back to seconds since the epoch. A UTC offset (`+02:00`,
/// `-05:30`, `Z`) is applied; a time without one (written by ammc before it wrote offsets)
/// is UTC.
pub fn parse_iso_time(s: &str) -> Option<f64> {
    let (date, time) = s.split_once('T')?;
    let (time, offset) = split_offset(time)?;
    let mut dp = date.split('-').map(|v| v.parse::<i64>().ok());
    let (y, m, d) = (dp.next()??, dp.next()??, dp.next()??);
    let mut tp = time.split(':');
    let (hh, mm) = (
        tp.next()?.parse::<i64>().ok()?,
        tp.next()?.parse::<i64>().ok()?,
    );
    let ss: f64 = tp.next()?.parse().ok()?;
    // Days from civil.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 - offset) as f64 + ss)
}

/// Splits `HH:MM:SS[.ffffff][Z|±HH:MM]` into the time and the offset in seconds east of UTC.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(t) = time.strip_suffix('Z') {
        return Some((t, 0));
    }
    match time.rfind(['+', '-']) {
        Some(p) => {
            let (t, off) = time.split_at(p);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            Some((t, sign * (h * 3600 + m * 60)))
        }
        None => Some((time, 0)),
    }
}

/// Seconds since the epoch now.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A held lock file; removed on drop.
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A lock older than this is considered abandoned by a crashed writer (Optuna uses 30 s).
const LOCK_GRACE: Duration = Duration::from_secs(30);

impl Journal {
    /// A journal at `path` written by this process.
    pub fn new(path: &Path) -> Journal {
        Journal {
            path: path.to_path_buf(),
            worker_id: super::liveness::worker_id(),
            cache: Default::default(),
        }
    }

    /// This process's worker id, as written into each operation.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> Result<LockGuard, JournalError> {
        let lock = PathBuf::from(format!("{}.lock", self.path.display()));
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut wait = Duration::from_millis(1);
        let deadline = std::time::Instant::now() + LOCK_GRACE * 2;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    // The owner, so that a run after a crash can see the lock is abandoned
                    // (Optuna never reads the lock file's contents).
                    let _ = f.write_all(self.worker_id.as_bytes());
                    return Ok(LockGuard(lock));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock left by a crashed writer is broken at once when its owner is
                    // known to be gone, otherwise after the grace period.
                    let owner_gone = std::fs::read_to_string(&lock)
                        .is_ok_and(|owner| super::liveness::is_dead(owner.trim()));
                    let stale = owner_gone
                        || std::fs::metadata(&lock)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > LOCK_GRACE);
                    if stale {
                        // A lock that cannot be removed would otherwise be retried forever.
                        match std::fs::remove_file(&lock) {
                            Ok(()) => continue,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(source) => {
                                return Err(JournalError::StaleLock {
                                    path: self.path.clone(),
                                    lock,
                                    source,
                                });
                            }
                        }
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(JournalError::Locked {
                            path: self.path.clone(),
                        });
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// Appends operations (each gets this worker's id) under the lock. A torn last line left
    /// by a crash is cut off first so the new lines start on a line of their own. Reads only
    /// the file's tail, so an append costs the same at any journal length.
    pub fn append(&self, ops: &[Json]) -> Result<(), JournalError> {
        let _guard = self.lock()?;
        self.cut_torn_tail().map_err(|e| self.io(e))?;
        self.write_ops(ops)
    }

    /// Reads what others appended and lets `decide` choose operations from the up-to-date
    /// replay, appending them before the lock is released: nobody can write in between, so
    /// a trial claimed this way is claimed once (Optuna's workers append under the same
    /// lock file).
    pub fn transact<T, E: From<JournalError>>(
        &self,
        mut decide: impl FnMut(&Replay) -> Result<(Vec<Json>, T), E>,
    ) -> Result<T, E> {
        let _guard = self.lock()?;
        self.cut_torn_tail().map_err(|e| self.io(e))?;
        let (ops, out) = self.with_replay(|r| decide(r))??;
        if !ops.is_empty() {
            self.write_ops(&ops)?;
        }
        Ok(out)
    }

    fn write_ops(&self, ops: &[Json]) -> Result<(), JournalError> {
        let mut text = String::new();
        for o in ops {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.insert("worker_id".into(), json!(self.worker_id));
            }
            text += &o.to_string();
            text.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        // One write per append, no fsync (as Optuna): a killed process loses nothing that
        // was written, and a torn tail line is cut off on the next append.
        f.write_all(text.as_bytes()).map_err(|e| self.io(e))
    }

    /// Cuts an incomplete last line, reading backwards from the end in blocks until the
    /// last newline (one block unless a crash tore the tail).
    fn cut_torn_tail(&self) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let mut end = len;
        let mut block = vec![0u8; 4096];
        while end > 0 {
            let start = end.saturating_sub(block.len() as u64);
            let n = (end - start) as usize;
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut block[..n])?;
            if let Some(p) = block[..n].iter().rposition(|b| *b == b'\n') {
                let keep = start + p as u64 + 1;
                if keep < len {
                    f.set_len(keep)?;
                }
                return Ok(());
            }
            end = start;
        }
        // No newline at all: the whole file is one torn line.
        if len > 0 {
            f.set_len(0)?;
        }
        Ok(())
    }

    /// Reads and replays the journal (an absent file is an empty journal). An incomplete last
    /// line — a write cut short by a crash — is ignored, as Optuna does.
    /// Only the bytes appended since the last call are read (the journal is append-only; a
    /// file shorter than what was read — replaced or truncated by hand — is read afresh).
    pub fn replay(&self) -> Result<Replay, JournalError> {
        self.with_replay(Replay::clone)
    }

    /// Brings the replay up to date and lets `f` look at it (without copying it: a worker
    /// reads the study at every claim).
    fn with_replay<T>(&self, look: impl FnOnce(&Replay) -> T) -> Result<T, JournalError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| self.io(std::io::Error::other("journal cache poisoned")))?;
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *cache = Cursor::default();
                return Ok(look(&cache.replay));
            }
            Err(e) => return Err(self.io(e)),
        };
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        if len < cache.offset {
            *cache = Cursor::default();
        }
        let mut bytes = Vec::new();
        f.seek(SeekFrom::Start(cache.offset))
            .and_then(|_| f.read_to_end(&mut bytes))
            .map_err(|e| self.io(e))?;
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(p) => &bytes[..=p],
            None => &[][..],
        };
        let text = std::str::from_utf8(complete).map_err(|e| JournalError::Format {
            path: self.path.clone(),
            line: cache.lines + 1,
            reason: e.to_string(),
        })?;
        if text.is_empty() {
            return Ok(look(&cache.replay));
        }
        let first_line = cache.lines;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fail = |reason: String| JournalError::Format {
                path: self.path.clone(),
                line: first_line + i + 1,
                reason,
            };
            let applied = serde_json::from_str::<Json>(line)
                .map_err(|e| fail(e.to_string()))
                .and_then(|v| apply(&mut cache.replay, &v).map_err(fail));
            if let Err(e) = applied {
                // Half applied: start from scratch next time (and meet the same line).
                *cache = Cursor::default();
                return Err(e);
            }
        }
        cache.offset += complete.len() as u64;
        cache.lines += text.lines().count();
        Ok(look(&cache.replay))
    }
}

/// Applies one operation as Optuna's replay does.
pub fn apply(r: &mut Replay, v: &Json) -> Result<(), String> {
    let code = v["op_code"].as_i64().ok_or("no op_code")?;
    let trial = |r: &mut Replay| -> Result<usize, String> {
        let id = v["trial_id"].as_u64().ok_or("no trial_id")? as usize;
        if id >= r.trials.len() {
            return Err(format!("unknown trial {id}"));
        }
        Ok(id)
    };
    match code {
        op::CREATE_STUDY => {
            let name = v["study_name"].as_str().ok_or("no study_name")?.to_string();
            let directions = v["directions"]
                .as_array()
                .ok_or("no directions")?
                .iter()
                .filter_map(Json::as_i64)
                .collect();
            if !r.studies.iter().any(|s| s.name == name && !s.deleted) {
                r.studies.push(StudyRecord {
                    name,
                    directions,
                    deleted: false,
                });
            }
        }
        op::DELETE_STUDY => {
            let id = v["study_id"].as_u64().ok_or("no study_id")? as usize;
            if let Some(s) = r.studies.get_mut(id) {
                s.deleted = true;
            }
        }
        op::CREATE_TRIAL => {
            let study_id = v["study_id"].as_u64().ok_or("no study_id")? as usize;
            if study_id >= r.studies.len() {
                return Err(format!("unknown study {study_id}"));
            }
            if r.studies[study_id].deleted {
                // Optuna creates no trial (and uses up no trial id) in a deleted study.
                return Ok(());
            }
            let number = r.trials.iter().filter(|t| t.study_id == study_id).count();
            let state =
                TrialState::from_code(v["state"].as_i64().unwrap_or(0)).ok_or("bad trial state")?;
            let params = v["params"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, x)| x.as_f64().map(|f| (k.clone(), f)))
                        .collect()
                })
                .unwrap_or_default();
            let distributions = v["distributions"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let values = match (&v["values"], &v["value"]) {
                (Json::Array(a), _) => Some(a.iter().filter_map(Json::as_f64).collect()),
                (_, x) => x.as_f64().map(|f| vec![f]),
            };
            r.trials.push(TrialRecord {
                trial_id: r.trials.len(),
                study_id,
                number,
                state,
                params,
                distributions,
                values,
                intermediate_values: BTreeMap::new(),
                worker_id: v["worker_id"].as_str().map(String::from),
                system_attrs: v["system_attrs"].as_object().cloned().unwrap_or_default(),
                datetime_start: v["datetime_start"].as_str().map(String::from),
                datetime_complete: v["datetime_complete"].as_str().map(String::from),
            });
        }
        op::SET_TRIAL_STATE_VALUES => {
            let id = trial(r)?;
            let t = &mut r.trials[id];
            if t.state.is_finished() {
                // Optuna rejects updates of finished trials; so do we (keep the first).
                return Ok(());
            }
            let state = TrialState::from_code(v["state"].as_i64().ok_or("no state")?)
                .ok_or("bad trial state")?;
            if state == TrialState::Running && t.state == TrialState::Running {
                // Another worker already took this (queued) trial: Optuna ignores the claim.
                return Ok(());
            }
            t.state = state;
            if let Some(a) = v["values"].as_array() {
                t.values = Some(a.iter().filter_map(Json::as_f64).collect());
            }
            if let Some(s) = v["datetime_start"].as_str() {
                t.datetime_start = Some(s.to_string());
            }
            if let Some(s) = v["datetime_complete"].as_str() {
                t.datetime_complete = Some(s.to_string());
            }
        }
        op::SET_TRIAL_PARAM => {
            let id = trial(r)?;
            if r.trials[id].state.is_finished() {
                return Ok(());
            }
            let name = v["param_name"].as_str().ok_or("no param_name")?;
            let value = v["param_value_internal"]
                .as_f64()
                .ok_or("no param_value_internal")?;
            let dist = v["distribution"].as_str().ok_or("no distribution")?;
            let t = &mut r.trials[id];
            t.params.insert(name.to_string(), value);
            t.distributions.insert(name.to_string(), dist.to_string());
        }
        op::SET_TRIAL_SYSTEM_ATTR => {
            let id = trial(r)?;
            if r.trials[id].state.is_finished() {
                return Ok(());
            }
            if v["system_attr"].as_object().is_none_or(|m| m.len() != 1) {
                // Optuna asserts exactly one attribute per operation; keep the files it reads.
                return Err("system_attr must hold exactly one attribute".into());
            }
            if let Some(m) = v["system_attr"].as_object() {
                for (k, x) in m {
                    r.trials[id].system_attrs.insert(k.clone(), x.clone());
                }
            }
        }
        op::SET_TRIAL_INTERMEDIATE_VALUE => {
            let id = trial(r)?;
            if r.trials[id].state.is_finished() {
                return Ok(());
            }
            let step = v["step"].as_u64().ok_or("no step")? as usize;
            // Optuna writes NaN as a bare `NaN`, which is not JSON; ammc never reports one.
            let value = v["intermediate_value"]
                .as_f64()
                .ok_or("no intermediate_value")?;
            r.trials[id].intermediate_values.insert(step, value);
        }
        // User and study attributes (2, 3, 8) and Rustuna's DISCARD_TRIALS (10) do not affect
        // what ammc resumes from.
        2 | 3 | 8 | 10 => {}
        other => return Err(format!("unknown operation code {other}")),
    }
    Ok(())
}
