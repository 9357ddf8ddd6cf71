//! In-memory replay of a journal, following Optuna's `JournalStorageReplayResult` rules:
//! study ids count study creations, trial ids count trial creations across all studies,
//! operations on unknown studies/trials or on finished trials are ignored, and a
//! duplicate study name is ignored.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ops::{OptunaDist, code};
use crate::tune::trial::TrialState;

/// A study as replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyEntry {
    /// Study name.
    pub name: String,
    /// Optuna direction codes (1 = minimise, 2 = maximise).
    pub directions: Vec<i64>,
    /// User attributes.
    pub user_attrs: Map<String, Value>,
    /// System attributes.
    pub system_attrs: Map<String, Value>,
    /// Global trial ids, in trial-number order.
    pub trial_ids: Vec<usize>,
}

/// One recorded parameter of a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRecord {
    /// Parameter name.
    pub name: String,
    /// Internal value.
    pub internal: f64,
    /// Distribution.
    pub distribution: OptunaDist,
}

/// A trial as replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialEntry {
    /// Owning study.
    pub study_id: usize,
    /// Number within the study.
    pub number: usize,
    /// State.
    pub state: TrialState,
    /// Parameters in the order they were set.
    pub params: Vec<ParamRecord>,
    /// Objective values.
    pub values: Option<Vec<f64>>,
    /// Intermediate values by step.
    pub intermediate: BTreeMap<i64, f64>,
    /// User attributes.
    pub user_attrs: Map<String, Value>,
    /// System attributes.
    pub system_attrs: Map<String, Value>,
    /// ISO start time.
    pub datetime_start: Option<String>,
    /// ISO completion time.
    pub datetime_complete: Option<String>,
}

/// Replayed content of a journal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalState {
    /// Studies by id (`None` once deleted).
    pub studies: Vec<Option<StudyEntry>>,
    /// Trials by global id.
    pub trials: Vec<TrialEntry>,
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value, String> {
    v.get(k).ok_or_else(|| format!("missing field `{k}`"))
}

fn usize_field(v: &Value, k: &str) -> Result<usize, String> {
    field(v, k)?
        .as_u64()
        .map(|x| x as usize)
        .ok_or_else(|| format!("field `{k}` is not a non-negative integer"))
}

fn values_field(v: &Value) -> Result<Option<Vec<f64>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| "non-numeric value".to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err("`values` is neither null nor a list".into()),
    }
}

fn single_attr(v: &Value, k: &str) -> Result<Map<String, Value>, String> {
    field(v, k)?
        .as_object()
        .cloned()
        .ok_or_else(|| format!("field `{k}` is not an object"))
}

impl JournalState {
    /// The id of the live study called `name`.
    pub fn study_id(&self, name: &str) -> Option<usize> {
        self.studies
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.name == name))
    }

    /// The live study with id `id`.
    pub fn study(&self, id: usize) -> Option<&StudyEntry> {
        self.studies.get(id).and_then(Option::as_ref)
    }

    fn updatable(&mut self, trial_id: usize) -> Option<&mut TrialEntry> {
        self.trials
            .get_mut(trial_id)
            .filter(|t| !t.state.is_finished())
    }

    /// Applies one parsed journal line.
    pub fn apply(&mut self, v: &Value) -> Result<(), String> {
        let op = field(v, "op_code")?
            .as_i64()
            .ok_or("`op_code` is not an integer")?;
        match op {
            code::CREATE_STUDY => {
                let name = field(v, "study_name")?
                    .as_str()
                    .ok_or("`study_name` is not a string")?
                    .to_string();
                let directions = field(v, "directions")?
                    .as_array()
                    .ok_or("`directions` is not a list")?
                    .iter()
                    .map(|d| d.as_i64().ok_or("direction is not an integer"))
                    .collect::<Result<Vec<_>, _>>()?;
                if self.study_id(&name).is_none() {
                    self.studies.push(Some(StudyEntry {
                        name,
                        directions,
                        user_attrs: Map::new(),
                        system_attrs: Map::new(),
                        trial_ids: Vec::new(),
                    }));
                }
            }
            code::DELETE_STUDY => {
                let id = usize_field(v, "study_id")?;
                if let Some(s) = self.studies.get_mut(id) {
                    *s = None;
                }
            }
            code::SET_STUDY_USER_ATTR | code::SET_STUDY_SYSTEM_ATTR => {
                let id = usize_field(v, "study_id")?;
                let key = if op == code::SET_STUDY_USER_ATTR {
                    "user_attr"
                } else {
                    "system_attr"
                };
                let attrs = single_attr(v, key)?;
                if let Some(Some(s)) = self.studies.get_mut(id) {
                    let target = if op == code::SET_STUDY_USER_ATTR {
                        &mut s.user_attrs
                    } else {
                        &mut s.system_attrs
                    };
                    target.extend(attrs);
                }
            }
            code::CREATE_TRIAL => {
                let study_id = usize_field(v, "study_id")?;
                let trial_id = self.trials.len();
                let Some(Some(study)) = self.studies.get_mut(study_id) else {
                    return Ok(());
                };
                let number = study.trial_ids.len();
                let state = match v.get("state").and_then(Value::as_i64) {
                    Some(c) => TrialState::from_code(c).ok_or("unknown trial state")?,
                    None => TrialState::Running,
                };
                let mut entry = TrialEntry {
                    study_id,
                    number,
                    state,
                    params: Vec::new(),
                    values: None,
                    intermediate: BTreeMap::new(),
                    user_attrs: Map::new(),
                    system_attrs: Map::new(),
                    datetime_start: v
                        .get("datetime_start")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    datetime_complete: v
                        .get("datetime_complete")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                };
                // Optional template fields (Optuna's `add_trial` / `enqueue_trial`).
                if let Some(vals) = v.get("values") {
                    entry.values = values_field(vals)?;
                }
                if entry.values.is_none()
                    && let Some(x) = v.get("value").and_then(Value::as_f64)
                {
                    entry.values = Some(vec![x]);
                }
                if let (Some(Value::Object(dists)), Some(Value::Object(params))) =
                    (v.get("distributions"), v.get("params"))
                {
                    for (name, internal) in params {
                        let dist = dists
                            .get(name)
                            .and_then(Value::as_str)
                            .and_then(OptunaDist::parse)
                            .ok_or("bad distribution in trial template")?;
                        entry.params.push(ParamRecord {
                            name: name.clone(),
                            internal: internal.as_f64().ok_or("bad internal value")?,
                            distribution: dist,
                        });
                    }
                }
                if let Some(Value::Object(m)) = v.get("user_attrs") {
                    entry.user_attrs = m.clone();
                }
                if let Some(Value::Object(m)) = v.get("system_attrs") {
                    entry.system_attrs = m.clone();
                }
                if let Some(Value::Object(m)) = v.get("intermediate_values") {
                    for (k, x) in m {
                        if let (Ok(step), Some(x)) = (k.parse::<i64>(), x.as_f64()) {
                            entry.intermediate.insert(step, x);
                        }
                    }
                }
                study.trial_ids.push(trial_id);
                self.trials.push(entry);
            }
            code::SET_TRIAL_PARAM => {
                let trial_id = usize_field(v, "trial_id")?;
                let name = field(v, "param_name")?
                    .as_str()
                    .ok_or("`param_name` is not a string")?
                    .to_string();
                let internal = field(v, "param_value_internal")?
                    .as_f64()
                    .ok_or("`param_value_internal` is not a number")?;
                let dist = field(v, "distribution")?
                    .as_str()
                    .and_then(OptunaDist::parse)
                    .ok_or("unreadable `distribution`")?;
                if let Some(t) = self.updatable(trial_id) {
                    t.params.retain(|p| p.name != name);
                    t.params.push(ParamRecord {
                        name,
                        internal,
                        distribution: dist,
                    });
                }
            }
            code::SET_TRIAL_STATE_VALUES => {
                let trial_id = usize_field(v, "trial_id")?;
                let state = field(v, "state")?
                    .as_i64()
                    .and_then(TrialState::from_code)
                    .ok_or("unknown trial state")?;
                let values = values_field(v.get("values").unwrap_or(&Value::Null))?;
                if let Some(t) = self.updatable(trial_id) {
                    if state == TrialState::Running && t.state == TrialState::Running {
                        return Ok(());
                    }
                    if state == TrialState::Running {
                        t.datetime_start = v
                            .get("datetime_start")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                    if state.is_finished() {
                        t.datetime_complete = v
                            .get("datetime_complete")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                    t.state = state;
                    if values.is_some() {
                        t.values = values;
                    }
                }
            }
            code::SET_TRIAL_INTERMEDIATE_VALUE => {
                let trial_id = usize_field(v, "trial_id")?;
                let step = field(v, "step")?
                    .as_i64()
                    .ok_or("`step` is not an integer")?;
                let x = field(v, "intermediate_value")?
                    .as_f64()
                    .ok_or("`intermediate_value` is not a number")?;
                if let Some(t) = self.updatable(trial_id) {
                    t.intermediate.insert(step, x);
                }
            }
            code::SET_TRIAL_USER_ATTR | code::SET_TRIAL_SYSTEM_ATTR => {
                let trial_id = usize_field(v, "trial_id")?;
                let user = op == code::SET_TRIAL_USER_ATTR;
                let attrs = single_attr(v, if user { "user_attr" } else { "system_attr" })?;
                if let Some(t) = self.updatable(trial_id) {
                    if user {
                        t.user_attrs.extend(attrs);
                    } else {
                        t.system_attrs.extend(attrs);
                    }
                }
            }
            // Op 10 (discard trials) and future codes: ignored, as Optuna ignores op 10.
            _ => {}
        }
        Ok(())
    }
}
