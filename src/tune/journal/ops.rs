//! Journal operations in Optuna's `JournalStorage` format: one JSON object per line with an
//! `op_code`, the writing `worker_id`, and operation fields.
//!
//! | op_code | operation                      | fields written by ammc |
//! |---------|--------------------------------|-------------------------|
//! | 0       | create study                   | `study_name`, `directions` |
//! | 2 / 3   | set study user / system attr   | `study_id`, `user_attr` / `system_attr` (one key) |
//! | 4       | create trial                   | `study_id`, `datetime_start`, `system_attrs` |
//! | 5       | set trial param                | `trial_id`, `param_name`, `param_value_internal`, `distribution` |
//! | 6       | set trial state and values     | `trial_id`, `state`, `values`, `datetime_complete` |
//! | 7       | set trial intermediate value   | `trial_id`, `step`, `intermediate_value` |
//! | 8 / 9   | set trial user / system attr   | `trial_id`, `user_attr` / `system_attr` (one key) |
//!
//! Study directions are part of op 0 (Optuna ≥ 3 has no separate "set directions" op):
//! `1` = minimise, `2` = maximise. Field order and float spelling follow Python's
//! `json.dumps(..., separators=(",", ":"))`.

use serde::Serialize;
use serde_json::Value;

use super::pyjson::{self, py_float, py_scalar};
use crate::tune::space::Distribution;
use crate::tune::strategy::Direction;
use crate::tune::trial::TrialState;
use crate::tune::value::ParamValue;

/// Optuna operation codes.
pub mod code {
    /// Create a study.
    pub const CREATE_STUDY: i64 = 0;
    /// Delete a study.
    pub const DELETE_STUDY: i64 = 1;
    /// Set a study user attribute.
    pub const SET_STUDY_USER_ATTR: i64 = 2;
    /// Set a study system attribute.
    pub const SET_STUDY_SYSTEM_ATTR: i64 = 3;
    /// Create a trial.
    pub const CREATE_TRIAL: i64 = 4;
    /// Set a trial parameter.
    pub const SET_TRIAL_PARAM: i64 = 5;
    /// Set a trial state and values.
    pub const SET_TRIAL_STATE_VALUES: i64 = 6;
    /// Set a trial intermediate value.
    pub const SET_TRIAL_INTERMEDIATE_VALUE: i64 = 7;
    /// Set a trial user attribute.
    pub const SET_TRIAL_USER_ATTR: i64 = 8;
    /// Set a trial system attribute.
    pub const SET_TRIAL_SYSTEM_ATTR: i64 = 9;
}

/// Optuna's integer code for a direction.
pub fn direction_code(d: Direction) -> i64 {
    match d {
        Direction::Minimize => 1,
        Direction::Maximize => 2,
    }
}

/// Internal representation of a parameter value (Optuna's `param_value_internal`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Internal {
    /// Float and int distributions store the number as a float (`9.0`).
    Number(f64),
    /// Categorical distributions store the choice index (`2`).
    Index(usize),
}

/// One operation to append.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Op 0.
    CreateStudy {
        /// Study name.
        study_name: String,
        /// One direction per objective.
        directions: Vec<Direction>,
    },
    /// Op 3.
    SetStudySystemAttr {
        /// Study id.
        study_id: usize,
        /// Key.
        key: String,
        /// JSON value.
        value: Value,
    },
    /// Op 4. `system_attrs` rides in the same line (Optuna's trial-template field) so a
    /// trial and its slot number appear atomically.
    CreateTrial {
        /// Study id.
        study_id: usize,
        /// ISO start time.
        datetime_start: String,
        /// Initial system attributes (omitted from the line when empty).
        system_attrs: serde_json::Map<String, Value>,
    },
    /// Op 5.
    SetTrialParam {
        /// Trial id (global across studies).
        trial_id: usize,
        /// Parameter name.
        param_name: String,
        /// Internal value.
        internal: Internal,
        /// Distribution JSON string (see [`distribution_json`]).
        distribution: String,
    },
    /// Op 6 (finished states only in ammc).
    SetTrialStateValues {
        /// Trial id.
        trial_id: usize,
        /// New state.
        state: TrialState,
        /// Objective values, if any.
        values: Option<Vec<f64>>,
        /// ISO completion time.
        datetime_complete: String,
    },
    /// Op 7.
    SetTrialIntermediateValue {
        /// Trial id.
        trial_id: usize,
        /// Step.
        step: i64,
        /// Value.
        value: f64,
    },
    /// Op 8.
    SetTrialUserAttr {
        /// Trial id.
        trial_id: usize,
        /// Key.
        key: String,
        /// JSON value.
        value: Value,
    },
    /// Op 9.
    SetTrialSystemAttr {
        /// Trial id.
        trial_id: usize,
        /// Key.
        key: String,
        /// JSON value.
        value: Value,
    },
}

#[derive(Serialize)]
struct CreateStudyLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    study_name: &'a str,
    directions: Vec<i64>,
}

#[derive(Serialize)]
struct StudyAttrLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    study_id: usize,
    system_attr: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct CreateTrialLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    study_id: usize,
    datetime_start: &'a str,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    system_attrs: &'a serde_json::Map<String, Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum InternalJson {
    Number(f64),
    Index(usize),
}

#[derive(Serialize)]
struct ParamLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    trial_id: usize,
    param_name: &'a str,
    param_value_internal: InternalJson,
    distribution: &'a str,
}

#[derive(Serialize)]
struct StateLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    trial_id: usize,
    state: i64,
    values: Option<&'a [f64]>,
    datetime_complete: &'a str,
}

#[derive(Serialize)]
struct IntermediateLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    trial_id: usize,
    step: i64,
    intermediate_value: f64,
}

#[derive(Serialize)]
struct UserAttrLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    trial_id: usize,
    user_attr: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct SystemAttrLine<'a> {
    op_code: i64,
    worker_id: &'a str,
    trial_id: usize,
    system_attr: serde_json::Map<String, Value>,
}

fn one(key: &str, value: &Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), value.clone());
    m
}

impl Op {
    /// The JSON line (without the trailing newline) for this operation.
    pub fn to_line(&self, worker_id: &str) -> Result<String, serde_json::Error> {
        match self {
            Op::CreateStudy {
                study_name,
                directions,
            } => pyjson::to_line(&CreateStudyLine {
                op_code: code::CREATE_STUDY,
                worker_id,
                study_name,
                directions: directions.iter().map(|d| direction_code(*d)).collect(),
            }),
            Op::SetStudySystemAttr {
                study_id,
                key,
                value,
            } => pyjson::to_line(&StudyAttrLine {
                op_code: code::SET_STUDY_SYSTEM_ATTR,
                worker_id,
                study_id: *study_id,
                system_attr: one(key, value),
            }),
            Op::CreateTrial {
                study_id,
                datetime_start,
                system_attrs,
            } => pyjson::to_line(&CreateTrialLine {
                op_code: code::CREATE_TRIAL,
                worker_id,
                study_id: *study_id,
                datetime_start,
                system_attrs,
            }),
            Op::SetTrialParam {
                trial_id,
                param_name,
                internal,
                distribution,
            } => pyjson::to_line(&ParamLine {
                op_code: code::SET_TRIAL_PARAM,
                worker_id,
                trial_id: *trial_id,
                param_name,
                param_value_internal: match internal {
                    Internal::Number(x) => InternalJson::Number(*x),
                    Internal::Index(i) => InternalJson::Index(*i),
                },
                distribution,
            }),
            Op::SetTrialStateValues {
                trial_id,
                state,
                values,
                datetime_complete,
            } => pyjson::to_line(&StateLine {
                op_code: code::SET_TRIAL_STATE_VALUES,
                worker_id,
                trial_id: *trial_id,
                state: state.code(),
                values: values.as_deref(),
                datetime_complete,
            }),
            Op::SetTrialIntermediateValue {
                trial_id,
                step,
                value,
            } => pyjson::to_line(&IntermediateLine {
                op_code: code::SET_TRIAL_INTERMEDIATE_VALUE,
                worker_id,
                trial_id: *trial_id,
                step: *step,
                intermediate_value: *value,
            }),
            Op::SetTrialUserAttr {
                trial_id,
                key,
                value,
            } => pyjson::to_line(&UserAttrLine {
                op_code: code::SET_TRIAL_USER_ATTR,
                worker_id,
                trial_id: *trial_id,
                user_attr: one(key, value),
            }),
            Op::SetTrialSystemAttr {
                trial_id,
                key,
                value,
            } => pyjson::to_line(&SystemAttrLine {
                op_code: code::SET_TRIAL_SYSTEM_ATTR,
                worker_id,
                trial_id: *trial_id,
                system_attr: one(key, value),
            }),
        }
    }
}

/// An Optuna distribution as stored in the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum OptunaDist {
    /// `FloatDistribution` (and the legacy uniform / log-uniform / discrete-uniform ones).
    Float {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Log scale.
        log: bool,
        /// Discretisation step.
        step: Option<f64>,
    },
    /// `IntDistribution` (and the legacy int-uniform / int-log-uniform ones).
    Int {
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
        /// Log scale.
        log: bool,
        /// Step.
        step: i64,
    },
    /// `CategoricalDistribution`.
    Categorical {
        /// Choices as JSON scalars.
        choices: Vec<Value>,
    },
}

impl OptunaDist {
    /// The Optuna distribution equivalent to one of ours.
    pub fn from_distribution(d: &Distribution) -> OptunaDist {
        match d {
            Distribution::Uniform { low, high } => OptunaDist::Float {
                low: *low,
                high: *high,
                log: false,
                step: None,
            },
            Distribution::LogUniform { low, high } => OptunaDist::Float {
                low: *low,
                high: *high,
                log: true,
                step: None,
            },
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => OptunaDist::Int {
                low: *low,
                high: *high,
                log: *log,
                step: *step,
            },
            Distribution::Choice { values } => OptunaDist::Categorical {
                choices: values.iter().map(ParamValue::to_json).collect(),
            },
        }
    }

    /// Parses Optuna's `distribution_to_json` output (current and legacy class names).
    pub fn parse(json: &str) -> Option<OptunaDist> {
        let v: Value = serde_json::from_str(json).ok()?;
        let name = v.get("name")?.as_str()?;
        let a = v.get("attributes")?;
        let f = |k: &str| a.get(k).and_then(Value::as_f64);
        let i = |k: &str| a.get(k).and_then(Value::as_i64);
        let b = |k: &str| a.get(k).and_then(Value::as_bool).unwrap_or(false);
        Some(match name {
            "FloatDistribution" => OptunaDist::Float {
                low: f("low")?,
                high: f("high")?,
                log: b("log"),
                step: f("step"),
            },
            "UniformDistribution" => OptunaDist::Float {
                low: f("low")?,
                high: f("high")?,
                log: false,
                step: None,
            },
            "LogUniformDistribution" => OptunaDist::Float {
                low: f("low")?,
                high: f("high")?,
                log: true,
                step: None,
            },
            "DiscreteUniformDistribution" => OptunaDist::Float {
                low: f("low")?,
                high: f("high")?,
                log: false,
                step: f("q"),
            },
            "IntDistribution" => OptunaDist::Int {
                low: i("low")?,
                high: i("high")?,
                log: b("log"),
                step: i("step").unwrap_or(1),
            },
            "IntUniformDistribution" => OptunaDist::Int {
                low: i("low")?,
                high: i("high")?,
                log: false,
                step: i("step").unwrap_or(1),
            },
            "IntLogUniformDistribution" => OptunaDist::Int {
                low: i("low")?,
                high: i("high")?,
                log: true,
                step: i("step").unwrap_or(1),
            },
            "CategoricalDistribution" => OptunaDist::Categorical {
                choices: a.get("choices")?.as_array()?.clone(),
            },
            _ => return None,
        })
    }

    /// Python `json.dumps(distribution_to_json(...))` spelling, attribute order included.
    pub fn to_json_string(&self) -> String {
        match self {
            OptunaDist::Float {
                low,
                high,
                log,
                step,
            } => format!(
                "{{\"name\": \"FloatDistribution\", \"attributes\": {{\"step\": {}, \"low\": {}, \"high\": {}, \"log\": {}}}}}",
                step.map(py_float).unwrap_or_else(|| "null".into()),
                py_float(*low),
                py_float(*high),
                log
            ),
            OptunaDist::Int {
                low,
                high,
                log,
                step,
            } => format!(
                "{{\"name\": \"IntDistribution\", \"attributes\": {{\"log\": {log}, \"step\": {step}, \"low\": {low}, \"high\": {high}}}}}"
            ),
            OptunaDist::Categorical { choices } => {
                let items: Vec<String> = choices.iter().map(py_scalar).collect();
                format!(
                    "{{\"name\": \"CategoricalDistribution\", \"attributes\": {{\"choices\": [{}]}}}}",
                    items.join(", ")
                )
            }
        }
    }

    /// Optuna's `to_external_repr`: the parameter value for an internal value.
    pub fn external(&self, internal: f64) -> Option<ParamValue> {
        match self {
            OptunaDist::Float { .. } => Some(ParamValue::Float(internal)),
            OptunaDist::Int { .. } => Some(ParamValue::Int(internal as i64)),
            OptunaDist::Categorical { choices } => {
                if internal < 0.0 {
                    return None;
                }
                ParamValue::from_json(choices.get(internal as usize)?)
            }
        }
    }
}

/// The distribution JSON string Optuna would store for one of our distributions.
pub fn distribution_json(d: &Distribution) -> String {
    OptunaDist::from_distribution(d).to_json_string()
}

/// The internal representation of `value` under `d` (`None` if it does not belong).
pub fn internal_repr(d: &Distribution, value: &ParamValue) -> Option<Internal> {
    match d {
        Distribution::Choice { .. } => d.choice_index(value).map(Internal::Index),
        _ => value.as_f64().map(Internal::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_strings_match_optuna() {
        assert_eq!(
            distribution_json(&Distribution::uniform(-5.0, 10.0)),
            r#"{"name": "FloatDistribution", "attributes": {"step": null, "low": -5.0, "high": 10.0, "log": false}}"#
        );
        assert_eq!(
            distribution_json(&Distribution::log_uniform(1e-4, 0.1)),
            r#"{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0001, "high": 0.1, "log": true}}"#
        );
        assert_eq!(
            distribution_json(&Distribution::int_with(1, 9, false, 2)),
            r#"{"name": "IntDistribution", "attributes": {"log": false, "step": 2, "low": 1, "high": 9}}"#
        );
        let c = Distribution::choice(vec![
            ParamValue::Int(8),
            ParamValue::Str("a".into()),
            ParamValue::Bool(true),
            ParamValue::Float(1.5),
        ]);
        assert_eq!(
            distribution_json(&c),
            r#"{"name": "CategoricalDistribution", "attributes": {"choices": [8, "a", true, 1.5]}}"#
        );
        let parsed = OptunaDist::parse(&distribution_json(&c)).unwrap();
        assert_eq!(parsed.external(2.0), Some(ParamValue::Bool(true)));
    }

    #[test]
    fn lines_match_optuna_layout() {
        let op = Op::SetTrialParam {
            trial_id: 0,
            param_name: "n".into(),
            internal: Internal::Number(9.0),
            distribution: distribution_json(&Distribution::int_with(1, 9, false, 2)),
        };
        assert_eq!(
            op.to_line("w").unwrap(),
            r#"{"op_code":5,"worker_id":"w","trial_id":0,"param_name":"n","param_value_internal":9.0,"distribution":"{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 2, \"low\": 1, \"high\": 9}}"}"#
        );
        let op = Op::SetTrialStateValues {
            trial_id: 3,
            state: TrialState::Fail,
            values: None,
            datetime_complete: "2026-11-29T01:07:04.374115+00:00".into(),
        };
        assert_eq!(
            op.to_line("w").unwrap(),
            r#"{"op_code":6,"worker_id":"w","trial_id":3,"state":3,"values":null,"datetime_complete":"2026-11-29T01:07:04.374115+00:00"}"#
        );
    }
}
