//! Parameter values and the named configuration handed to an objective.

use std::fmt;

/// One value of a tuned parameter: what `uniform`/`log_uniform` (floats), `int` (integers)
/// and `choice` (numbers, strings, bools) produce.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A real number.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A string (only from `choice`).
    Str(String),
    /// A boolean (only from `choice`).
    Bool(bool),
}

impl ParamValue {
    /// The value as a float, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(x) => Some(*x),
            ParamValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The value as an integer, for `Int` values.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a string slice, for `Str` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, for `Bool` values.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ParamValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value written as a `.amm` literal, suitable for `--set name=<literal>`.
    ///
    /// Floats always carry a `.` or an exponent so they never read back as integers.
    pub fn to_amm_literal(&self) -> String {
        match self {
            ParamValue::Float(x) => format!("{x:?}"),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Str(s) => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
        }
    }

    /// The value as JSON (numbers, strings, bools).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Float(x) => serde_json::Number::from_f64(*x)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            ParamValue::Int(i) => serde_json::Value::from(*i),
            ParamValue::Str(s) => serde_json::Value::from(s.as_str()),
            ParamValue::Bool(b) => serde_json::Value::from(*b),
        }
    }

    /// Parses a JSON scalar back into a value (integers stay integers).
    pub fn from_json(v: &serde_json::Value) -> Option<ParamValue> {
        match v {
            serde_json::Value::Bool(b) => Some(ParamValue::Bool(*b)),
            serde_json::Value::String(s) => Some(ParamValue::Str(s.clone())),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(ParamValue::Int(i))
                } else {
                    n.as_f64().map(ParamValue::Float)
                }
            }
            _ => None,
        }
    }

    /// Whether two values are the same choice; `Int(1)` and `Float(1.0)` differ
    /// because they print differently in `--set` flags.
    pub(crate) fn same(&self, other: &ParamValue) -> bool {
        match (self, other) {
            (ParamValue::Float(a), ParamValue::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Str(s) => f.write_str(s),
            other => f.write_str(&other.to_amm_literal()),
        }
    }
}

/// One named value in a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamEntry {
    /// Parameter name as declared in the search space.
    pub name: String,
    /// Chosen value.
    pub value: ParamValue,
}

/// A full configuration: one value per search-space parameter, in declaration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrialParams {
    entries: Vec<ParamEntry>,
}

impl TrialParams {
    /// Builds a configuration from entries (kept in the given order).
    pub fn new(entries: Vec<ParamEntry>) -> Self {
        TrialParams { entries }
    }

    /// All entries in declaration order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.value))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.value)
    }

    /// The value of `name` as a float (integers convert).
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(ParamValue::as_f64)
    }

    /// The value of `name` as an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(ParamValue::as_i64)
    }

    /// The value of `name` as a string.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(ParamValue::as_str)
    }

    /// The value of `name` as a bool.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(ParamValue::as_bool)
    }

    /// Bitwise equality of all values (floats compared by bits), used to detect repeats.
    pub(crate) fn same(&self, other: &TrialParams) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.name == b.name && a.value.same(&b.value))
    }
}

impl fmt::Display for TrialParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", e.name, e.value.to_amm_literal())?;
        }
        Ok(())
    }
}
