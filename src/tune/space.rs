//! Search spaces: `uniform`, `log_uniform`, `int` and `choice` distributions, their
//! validation, the unit-cube encoding shared by all strategies, and corner listing.
//!
//! Every parameter maps to one coordinate `u ∈ [0, 1]`. Floats map linearly (log-scaled
//! ones in log space); integers map to equal-width cells, one per allowed value, so a
//! uniform `u` gives a uniform integer; choices map to `n` equal cells. Strategies work
//! in this cube and decode at the end, which keeps them type-agnostic.

use std::fmt;

use super::error::SpaceError;
use super::value::{ParamEntry, ParamValue, TrialParams};

/// How one parameter is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// `uniform(lo, hi)`: a float, uniform on `[lo, hi]`.
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
    },
    /// `log_uniform(lo, hi)`: a float whose logarithm is uniform; `lo > 0`.
    LogUniform {
        /// Lower bound (inclusive, positive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
    },
    /// `int(lo, hi, log = false, step = 1)`: an integer in `lo, lo+step, …, ≤ hi`.
    ///
    /// As in Optuna, when `hi - lo` is not a multiple of `step` the upper bound is lowered
    /// to the largest reachable value when the space is built.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Sample uniformly in log space (`low >= 1`, `step = 1`).
        log: bool,
        /// Spacing between allowed values (`>= 1`).
        step: i64,
    },
    /// `choice(v1, v2, …)`: one of the listed values, all equally likely a priori.
    Choice {
        /// Candidates in declaration order.
        values: Vec<ParamValue>,
    },
}

impl Distribution {
    /// `uniform(low, high)`.
    pub fn uniform(low: f64, high: f64) -> Self {
        Distribution::Uniform { low, high }
    }

    /// `log_uniform(low, high)`.
    pub fn log_uniform(low: f64, high: f64) -> Self {
        Distribution::LogUniform { low, high }
    }

    /// `int(low, high)` with `log = false, step = 1`.
    pub fn int(low: i64, high: i64) -> Self {
        Distribution::Int {
            low,
            high,
            log: false,
            step: 1,
        }
    }

    /// `int(low, high, log = log, step = step)`.
    pub fn int_with(low: i64, high: i64, log: bool, step: i64) -> Self {
        Distribution::Int {
            low,
            high,
            log,
            step,
        }
    }

    /// `choice(values…)`.
    pub fn choice(values: Vec<ParamValue>) -> Self {
        Distribution::Choice { values }
    }

    /// Checks the distribution and returns its normalised form (adjusted integer bound).
    fn validated(&self, name: &str) -> Result<Distribution, SpaceError> {
        let finite = |v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(SpaceError::NonFiniteBound {
                    name: name.to_string(),
                    value: format!("{v}"),
                })
            }
        };
        match self {
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high } => {
                finite(*low)?;
                finite(*high)?;
                if matches!(self, Distribution::LogUniform { .. }) && *low <= 0.0 {
                    return Err(SpaceError::LogNonPositive {
                        name: name.to_string(),
                        low: format!("{low}"),
                    });
                }
                if low >= high {
                    return Err(SpaceError::EmptyRange {
                        name: name.to_string(),
                        low: format!("{low}"),
                        high: format!("{high}"),
                    });
                }
                Ok(self.clone())
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if *step < 1 {
                    return Err(SpaceError::BadStep {
                        name: name.to_string(),
                        reason: format!("step must be at least 1, got {step}"),
                    });
                }
                if *log && *step != 1 {
                    return Err(SpaceError::BadStep {
                        name: name.to_string(),
                        reason: format!("`log = true` requires step = 1, got {step}"),
                    });
                }
                if *log && *low <= 0 {
                    return Err(SpaceError::LogNonPositive {
                        name: name.to_string(),
                        low: low.to_string(),
                    });
                }
                if low >= high {
                    return Err(SpaceError::EmptyRange {
                        name: name.to_string(),
                        low: low.to_string(),
                        high: high.to_string(),
                    });
                }
                // i128 so that extreme bounds cannot overflow.
                let span = (*high as i128 - *low as i128) / *step as i128 * *step as i128;
                let adjusted = (*low as i128 + span) as i64;
                if adjusted == *low {
                    return Err(SpaceError::EmptyRange {
                        name: name.to_string(),
                        low: low.to_string(),
                        high: format!("{high} (no second value reachable with step {step})"),
                    });
                }
                Ok(Distribution::Int {
                    low: *low,
                    high: adjusted,
                    log: *log,
                    step: *step,
                })
            }
            Distribution::Choice { values } => {
                if values.is_empty() {
                    return Err(SpaceError::EmptyChoice {
                        name: name.to_string(),
                    });
                }
                for (i, v) in values.iter().enumerate() {
                    if let ParamValue::Float(x) = v
                        && !x.is_finite()
                    {
                        return Err(SpaceError::NonFiniteChoice {
                            name: name.to_string(),
                            value: format!("{x}"),
                        });
                    }
                    if values[..i].iter().any(|w| w.same(v)) {
                        return Err(SpaceError::DuplicateChoice {
                            name: name.to_string(),
                            value: v.to_amm_literal(),
                        });
                    }
                }
                Ok(self.clone())
            }
        }
    }

    /// Number of allowed integer values minus one (`K`), for `Int`.
    fn int_cells(low: i64, high: i64, step: i64) -> i64 {
        ((high as i128 - low as i128) / step as i128) as i64
    }

    /// Decodes a unit coordinate into a value of this distribution.
    ///
    /// Out-of-range or non-finite coordinates are clamped into `[0, 1]`.
    pub fn from_unit(&self, u: f64) -> ParamValue {
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.5
        };
        match self {
            Distribution::Uniform { low, high } => {
                ParamValue::Float((low + u * (high - low)).clamp(*low, *high))
            }
            Distribution::LogUniform { low, high } => {
                let (a, b) = (low.ln(), high.ln());
                ParamValue::Float((a + u * (b - a)).exp().clamp(*low, *high))
            }
            Distribution::Int {
                low,
                high,
                log: false,
                step,
            } => {
                let k = Self::int_cells(*low, *high, *step);
                let cell = ((u * (k + 1) as f64).floor() as i64).clamp(0, k);
                ParamValue::Int(low + cell * step)
            }
            Distribution::Int {
                low,
                high,
                log: true,
                ..
            } => {
                let (a, b) = ((*low as f64 - 0.5).ln(), (*high as f64 + 0.5).ln());
                let v = (a + u * (b - a)).exp().round() as i64;
                ParamValue::Int(v.clamp(*low, *high))
            }
            Distribution::Choice { values } => {
                let n = values.len();
                let i = ((u * n as f64).floor() as usize).min(n - 1);
                values[i].clone()
            }
        }
    }

    /// Encodes a value into its unit coordinate (cell centres for integers and choices),
    /// or `None` when the value has the wrong type or lies outside the distribution.
    pub fn to_unit(&self, v: &ParamValue) -> Option<f64> {
        match self {
            Distribution::Uniform { low, high } => {
                let x = v.as_f64()?;
                (x >= *low && x <= *high).then(|| (x - low) / (high - low))
            }
            Distribution::LogUniform { low, high } => {
                let x = v.as_f64()?;
                (x >= *low && x <= *high).then(|| (x.ln() - low.ln()) / (high.ln() - low.ln()))
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                let x = v.as_i64()?;
                if x < *low || x > *high || (x - low) % step != 0 {
                    return None;
                }
                if *log {
                    let (a, b) = ((*low as f64 - 0.5).ln(), (*high as f64 + 0.5).ln());
                    Some(((x as f64).ln() - a) / (b - a))
                } else {
                    let k = Self::int_cells(*low, *high, *step);
                    Some((((x - low) / step) as f64 + 0.5) / (k + 1) as f64)
                }
            }
            Distribution::Choice { values } => {
                let i = self.choice_index(v)?;
                Some((i as f64 + 0.5) / values.len() as f64)
            }
        }
    }

    /// Index of `v` among the choices of a `Choice` distribution.
    pub fn choice_index(&self, v: &ParamValue) -> Option<usize> {
        match self {
            Distribution::Choice { values } => values.iter().position(|w| w.same(v)),
            _ => None,
        }
    }

    /// Number of choices for `Choice`, `None` for numeric distributions.
    pub fn n_choices(&self) -> Option<usize> {
        match self {
            Distribution::Choice { values } => Some(values.len()),
            _ => None,
        }
    }

    /// The bounds (or every choice) of the distribution, used by [`SearchSpace::corners`].
    pub fn extremes(&self) -> Vec<ParamValue> {
        match self {
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high } => {
                vec![ParamValue::Float(*low), ParamValue::Float(*high)]
            }
            Distribution::Int { low, high, .. } => {
                vec![ParamValue::Int(*low), ParamValue::Int(*high)]
            }
            Distribution::Choice { values } => values.clone(),
        }
    }

    /// The "middle" value: arithmetic midpoint, geometric midpoint for log scales, the middle
    /// allowed integer, or the middle choice.
    pub fn midpoint(&self) -> ParamValue {
        match self {
            Distribution::Uniform { low, high } => ParamValue::Float(0.5 * (low + high)),
            Distribution::LogUniform { low, high } => ParamValue::Float((low * high).sqrt()),
            Distribution::Int {
                low,
                high,
                log: false,
                step,
            } => {
                let k = Self::int_cells(*low, *high, *step);
                ParamValue::Int(low + (k / 2) * step)
            }
            Distribution::Int { .. } => self.from_unit(0.5),
            Distribution::Choice { values } => values[(values.len() - 1) / 2].clone(),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform { low, high } => write!(f, "uniform({low:?}, {high:?})"),
            Distribution::LogUniform { low, high } => write!(f, "log_uniform({low:?}, {high:?})"),
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => write!(f, "int({low}, {high}, log = {log}, step = {step})"),
            Distribution::Choice { values } => {
                f.write_str("choice(")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&v.to_amm_literal())?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One tuned parameter: a name and its distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Parameter name (what `--set name=…` overrides).
    pub name: String,
    /// Distribution to draw from.
    pub distribution: Distribution,
}

impl ParamSpec {
    /// Convenience constructor.
    pub fn new(name: impl Into<String>, distribution: Distribution) -> Self {
        ParamSpec {
            name: name.into(),
            distribution,
        }
    }
}

/// How the Gaussian process treats one coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimKind {
    /// Ordered coordinate in `[0, 1]` (floats, log floats, integers).
    Continuous,
    /// Unordered categorical with this many values; the coordinate holds the index.
    Categorical(usize),
}

/// One corner configuration of a space (see [`SearchSpace::corners`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Corner {
    /// Parameter set to an extreme value.
    pub param: String,
    /// Its extreme value (a bound or a choice).
    pub value: ParamValue,
    /// Full configuration (other parameters at their midpoints).
    pub params: TrialParams,
}

/// A validated, ordered set of tuned parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    params: Vec<ParamSpec>,
}

impl SearchSpace {
    /// Validates `params` and builds the space. Integer upper bounds not reachable with the
    /// step are lowered (as Optuna does).
    pub fn new(params: Vec<ParamSpec>) -> Result<Self, SpaceError> {
        if params.is_empty() {
            return Err(SpaceError::EmptySpace);
        }
        let mut out: Vec<ParamSpec> = Vec::with_capacity(params.len());
        for p in params {
            if p.name.is_empty() {
                return Err(SpaceError::EmptyName);
            }
            if out.iter().any(|q| q.name == p.name) {
                return Err(SpaceError::DuplicateParam { name: p.name });
            }
            let distribution = p.distribution.validated(&p.name)?;
            out.push(ParamSpec {
                name: p.name,
                distribution,
            });
        }
        Ok(SearchSpace { params: out })
    }

    /// Parameters in declaration order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// Number of parameters (= unit-cube dimensions).
    pub fn dims(&self) -> usize {
        self.params.len()
    }

    /// How each coordinate is treated by the Gaussian process.
    pub fn dim_kinds(&self) -> Vec<DimKind> {
        self.params
            .iter()
            .map(|p| match p.distribution.n_choices() {
                Some(n) => DimKind::Categorical(n),
                None => DimKind::Continuous,
            })
            .collect()
    }

    /// Decodes a unit-cube point (one coordinate per parameter) into a configuration.
    pub fn decode(&self, u: &[f64]) -> TrialParams {
        TrialParams::new(
            self.params
                .iter()
                .enumerate()
                .map(|(i, p)| ParamEntry {
                    name: p.name.clone(),
                    value: p.distribution.from_unit(u.get(i).copied().unwrap_or(0.5)),
                })
                .collect(),
        )
    }

    /// Encodes a configuration into the unit cube, checking names, types and ranges.
    pub fn encode(&self, params: &TrialParams) -> Result<Vec<f64>, SpaceError> {
        if params.len() != self.params.len() {
            return Err(SpaceError::ParamsMismatch {
                reason: format!(
                    "expected {} parameters, got {}",
                    self.params.len(),
                    params.len()
                ),
            });
        }
        self.params
            .iter()
            .map(|p| {
                let v = params
                    .get(&p.name)
                    .ok_or_else(|| SpaceError::ParamsMismatch {
                        reason: format!("missing parameter `{}`", p.name),
                    })?;
                p.distribution
                    .to_unit(v)
                    .ok_or_else(|| SpaceError::ParamsMismatch {
                        reason: format!(
                            "`{}` = {} is not a value of {}",
                            p.name,
                            v.to_amm_literal(),
                            p.distribution
                        ),
                    })
            })
            .collect()
    }

    /// Snaps a unit-cube point onto the representable grid (integer cells, choice cells),
    /// i.e. `encode(decode(u))`.
    pub fn snap(&self, u: &[f64]) -> Vec<f64> {
        self.params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = p.distribution.from_unit(u.get(i).copied().unwrap_or(0.5));
                p.distribution.to_unit(&v).unwrap_or(0.5)
            })
            .collect()
    }

    /// Every parameter at its midpoint (see [`Distribution::midpoint`]).
    pub fn midpoint(&self) -> TrialParams {
        TrialParams::new(
            self.params
                .iter()
                .map(|p| ParamEntry {
                    name: p.name.clone(),
                    value: p.distribution.midpoint(),
                })
                .collect(),
        )
    }

    /// The corner configurations of the space: for each parameter, each bound (or each
    /// choice) with all other parameters at their midpoints. Duplicates are dropped.
    ///
    /// Running these through a shape check before a study catches configurations that
    /// cannot build (e.g. a width too small for a later layer) before any trial is spent.
    pub fn corners(&self) -> Vec<Corner> {
        let mid = self.midpoint();
        let mut out: Vec<Corner> = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            for value in p.distribution.extremes() {
                let mut entries = mid.entries().to_vec();
                entries[i].value = value.clone();
                let params = TrialParams::new(entries);
                if out.iter().any(|c| c.params.same(&params)) {
                    continue;
                }
                out.push(Corner {
                    param: p.name.clone(),
                    value,
                    params,
                });
            }
        }
        out
    }
}
