//! The search space: one [`Dimension`] per searched param, sampling, and the map to and from
//! the unit cube that the strategies work in (log-scaled params are uniform in log space there).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A value a param takes in a trial.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A real number.
    Float(f64),
    /// A whole number.
    Int(i64),
    /// A `true`/`false` choice.
    Bool(bool),
    /// A string choice.
    Str(String),
}

impl ParamValue {
    /// Numeric view (bools and strings have none).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(v) => Some(*v),
            ParamValue::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The value as `.amm` source text, ready for `--set name=value`.
    pub fn source_text(&self) -> String {
        match self {
            ParamValue::Float(v) => {
                let s = format!("{v:?}");
                if s.contains(['.', 'e', 'E']) || !v.is_finite() {
                    s
                } else {
                    format!("{s}.0")
                }
            }
            ParamValue::Int(v) => v.to_string(),
            ParamValue::Bool(v) => v.to_string(),
            ParamValue::Str(s) => format!("{s:?}"),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Float(v) => serde_json::json!(v),
            ParamValue::Int(v) => serde_json::json!(v),
            ParamValue::Bool(v) => serde_json::json!(v),
            ParamValue::Str(s) => serde_json::json!(s),
        }
    }
}

/// A distribution of one searched param.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// `uniform(low, high)` or `log_uniform(low, high)`.
    Float {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Uniform in log space.
        log: bool,
    },
    /// `int(low, high, log, step)`: `low, low + step, …` up to `high`.
    Int {
        /// Lower bound.
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Uniform in log space.
        log: bool,
        /// Spacing (1 when `log`).
        step: i64,
    },
    /// `uniform(low, high, step)`: `low, low + step, …, high` (Optuna's `FloatDistribution`
    /// with a `step`; `high − low` is a whole number of steps).
    Quantized {
        /// Lower bound.
        low: f64,
        /// Upper bound, on the grid.
        high: f64,
        /// Spacing, > 0.
        step: f64,
    },
    /// `choice(v, …)`.
    Choice(Vec<ParamValue>),
}

/// When a conditional param exists: only in trials whose `parent` (an earlier `choice`)
/// takes one of the values with these indices. Params without a condition exist in every
/// trial.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Index of the parent dimension in [`Space::dims`].
    pub parent: usize,
    /// Indices of the parent's values under which the param exists.
    pub values: Vec<usize>,
}

/// One searched param.
#[derive(Clone, Debug, PartialEq)]
pub struct Dimension {
    /// Param name.
    pub name: String,
    /// Its distribution.
    pub dist: Distribution,
}

/// Why a space is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum SpaceError {
    /// Bounds out of order, non-finite, or non-positive for a log scale.
    #[error("`{name}`: {reason}")]
    #[diagnostic(
        code(amm::tune::bounds),
        help("bounds must satisfy low < high (low <= high for int), and low > 0 for log scales")
    )]
    Bounds {
        /// The param.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `choice()` with no values.
    #[error("`{name}`: `choice` needs at least one value")]
    #[diagnostic(
        code(amm::tune::empty_choice),
        help("list the values: choice(8, 16, 32)")
    )]
    EmptyChoice {
        /// The param.
        name: String,
    },
    /// A conditional param whose parent is not an earlier `choice`.
    #[error("`{name}`: a conditional param needs an earlier `choice` as its parent")]
    #[diagnostic(
        code(amm::tune::branch),
        help(
            "write the branches after a choice: `opt ~ choice(\"a\", \"b\") {{ \"a\" {{ x ~ uniform(0, 1) }} }}`"
        )
    )]
    BadCondition {
        /// The param.
        name: String,
    },
    /// No dimensions.
    #[error("the search space is empty")]
    #[diagnostic(
        code(amm::tune::empty_space),
        help("name at least one param in `space`")
    )]
    Empty,
}

/// The whole search space.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    /// Dimensions in declaration order (a conditional param after its parent).
    pub dims: Vec<Dimension>,
    /// Per dimension, when it exists (`None`: in every trial).
    pub conditions: Vec<Option<Condition>>,
}

/// A point of the space: one value per dimension, in order. A conditional param that does
/// not exist in the point (its branch was not chosen) holds [`Space::filler`], so every point
/// has the same length; [`Space::active`] says which values are real.
pub type Params = Vec<ParamValue>;

impl Dimension {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let bad = |reason: &str| {
            Err(SpaceError::Bounds {
                name: self.name.clone(),
                reason: reason.to_string(),
            })
        };
        match &self.dist {
            Distribution::Float { low, high, log } => {
                if !low.is_finite() || !high.is_finite() {
                    return bad("bounds must be finite");
                }
                if low >= high {
                    return bad("low must be below high");
                }
                if *log && *low <= 0.0 {
                    return bad("a log scale needs low > 0");
                }
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return bad("low must not exceed high");
                }
                if *step < 1 {
                    return bad("step must be at least 1");
                }
                if *log && *low < 1 {
                    return bad("a log scale needs low >= 1");
                }
                if *log && *step != 1 {
                    return bad("log = true needs step = 1");
                }
            }
            Distribution::Quantized { low, high, step } => {
                if !low.is_finite() || !high.is_finite() || !step.is_finite() {
                    return bad("bounds and step must be finite");
                }
                if low >= high {
                    return bad("low must be below high");
                }
                if *step <= 0.0 {
                    return bad("step must be above 0");
                }
                let r = (high - low) / step;
                if !r.is_finite() || r > MAX_FLOAT_STEPS {
                    return bad("step is too small for the range (at most 2^52 steps)");
                }
                if (r - r.round()).abs() > STEP_TOLERANCE * r.max(1.0) {
                    return bad("high - low must be a whole number of steps");
                }
            }
            Distribution::Choice(values) => {
                if values.is_empty() {
                    return Err(SpaceError::EmptyChoice {
                        name: self.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the dimension is categorical (compared by exact match in the GP).
    pub fn is_categorical(&self) -> bool {
        matches!(self.dist, Distribution::Choice(_))
    }

    /// Number of categories (0 for numeric dimensions).
    pub fn categories(&self) -> usize {
        match &self.dist {
            Distribution::Choice(v) => v.len(),
            _ => 0,
        }
    }

    /// Maps a unit-cube coordinate `u ∈ [0, 1]` to a value. Choices use `u` to pick an
    /// index; ints round to the nearest point of the grid.
    pub fn from_unit(&self, u: f64) -> ParamValue {
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.5
        };
        match &self.dist {
            Distribution::Float { low, high, log } => {
                let v = if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    // Not `low + u * (high - low)`: the width overflows to infinity for
                    // bounds beyond ±9e307, and every point would become `high`.
                    low * (1.0 - u) + high * u
                };
                ParamValue::Float(v.clamp(*low, *high))
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if *log {
                    // Integers are widened by half a unit so the ends get a fair share.
                    let (a, b) = ((*low as f64 - 0.5).max(0.5).ln(), (*high as f64 + 0.5).ln());
                    let v = (a + u * (b - a)).exp().round() as i64;
                    ParamValue::Int(v.clamp(*low, *high))
                } else {
                    let n = grid_steps(*low, *high, *step);
                    // `as u64` saturates, and `min` keeps u = 1 on the last point.
                    let k = ((u * (n as f64 + 1.0)).floor() as u64).min(n);
                    ParamValue::Int(grid_point(*low, *step, k))
                }
            }
            Distribution::Quantized { low, high, step } => {
                let n = float_steps(*low, *high, *step);
                let k = ((u * (n as f64 + 1.0)).floor() as u64).min(n);
                ParamValue::Float(float_grid_point(*low, *high, *step, k))
            }
            Distribution::Choice(values) => {
                let n = values.len();
                let k = ((u * n as f64).floor() as usize).min(n - 1);
                values[k].clone()
            }
        }
    }

    /// Maps a value to the unit cube (the centre of its cell for ints and choices).
    pub fn to_unit(&self, v: &ParamValue) -> f64 {
        match (&self.dist, v) {
            (Distribution::Float { low, high, log }, v) => {
                let x = v.as_f64().unwrap_or(*low);
                let u = if *log {
                    (x.ln() - low.ln()) / (high.ln() - low.ln())
                } else {
                    // Halved so that the width of ±1e308 bounds stays finite.
                    (x * 0.5 - low * 0.5) / (high * 0.5 - low * 0.5)
                };
                if u.is_finite() {
                    u.clamp(0.0, 1.0)
                } else {
                    0.5
                }
            }
            (
                Distribution::Int {
                    low,
                    high,
                    log,
                    step,
                },
                v,
            ) => {
                let x = v.as_f64().unwrap_or(*low as f64);
                if *log {
                    let (a, b) = ((*low as f64 - 0.5).max(0.5).ln(), (*high as f64 + 0.5).ln());
                    ((x.ln() - a) / (b - a)).clamp(0.0, 1.0)
                } else {
                    let n = grid_steps(*low, *high, *step) as f64;
                    let k = ((x - *low as f64) / *step as f64).round();
                    ((k + 0.5) / (n + 1.0)).clamp(0.0, 1.0)
                }
            }
            (Distribution::Quantized { low, high, step }, v) => {
                let x = v.as_f64().unwrap_or(*low);
                let n = float_steps(*low, *high, *step) as f64;
                let k = ((x - low) / step).round();
                if k.is_finite() {
                    ((k + 0.5) / (n + 1.0)).clamp(0.0, 1.0)
                } else {
                    0.5
                }
            }
            (Distribution::Choice(values), v) => {
                let k = values.iter().position(|c| c == v).unwrap_or(0);
                (k as f64 + 0.5) / values.len() as f64
            }
        }
    }

    /// The category index of a value (choices only).
    pub fn index_of(&self, v: &ParamValue) -> Option<usize> {
        match &self.dist {
            Distribution::Choice(values) => values.iter().position(|c| c == v),
            _ => None,
        }
    }

    /// Whether a value belongs to the distribution.
    pub fn contains(&self, v: &ParamValue) -> bool {
        match (&self.dist, v) {
            (Distribution::Float { low, high, .. }, ParamValue::Float(x)) => x >= low && x <= high,
            (
                Distribution::Int {
                    low, high, step, ..
                },
                ParamValue::Int(x),
            ) => {
                x >= low
                    && x <= high
                    && (i128::from(*x) - i128::from(*low)) % i128::from(*step) == 0
            }
            (Distribution::Quantized { low, high, step }, ParamValue::Float(x)) => {
                let k = ((x - low) / step).round();
                // Within rounding of a grid point: Optuna computes the point its own way.
                x >= low
                    && x <= high
                    && (x - (k * step + low)).abs() <= STEP_TOLERANCE * step.max(x.abs())
            }
            (Distribution::Choice(values), v) => values.contains(v),
            _ => false,
        }
    }

    /// The nearest value of the distribution (a float of a `step` grid snaps to the grid;
    /// other values are returned as they are).
    pub fn snap(&self, v: ParamValue) -> ParamValue {
        match (&self.dist, &v) {
            (Distribution::Quantized { low, high, step }, ParamValue::Float(x))
                if !self.contains(&v) =>
            {
                let n = float_steps(*low, *high, *step);
                let k = ((x - low) / step).round().max(0.0);
                ParamValue::Float(float_grid_point(*low, *high, *step, (k as u64).min(n)))
            }
            _ => v,
        }
    }

    /// Draws a value uniformly (in log space for log scales).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> ParamValue {
        match &self.dist {
            Distribution::Choice(values) => values[rng.random_range(0..values.len())].clone(),
            Distribution::Int {
                low,
                high,
                log: false,
                step,
            } => {
                let k = rng.random_range(0..=grid_steps(*low, *high, *step));
                ParamValue::Int(grid_point(*low, *step, k))
            }
            _ => self.from_unit(rng.random::<f64>()),
        }
    }
}

/// Most steps of a float grid: beyond 2^52 neighbouring points are no longer distinct.
const MAX_FLOAT_STEPS: f64 = 4_503_599_627_370_496.0;
/// Relative slack of float grid arithmetic (`(0.3 - 0) / 0.1` is 2.9999999999999996).
const STEP_TOLERANCE: f64 = 1e-9;

/// Number of steps of a float grid (validated: `high − low` is a whole number of steps).
fn float_steps(low: f64, high: f64, step: f64) -> u64 {
    let r = ((high - low) / step).round();
    if r.is_finite() && r > 0.0 {
        r.min(MAX_FLOAT_STEPS) as u64
    } else {
        0
    }
}

/// Point `k` of a float grid, computed as Optuna does (`k * step + low`), within bounds.
fn float_grid_point(low: f64, high: f64, step: f64, k: u64) -> f64 {
    (k as f64 * step + low).clamp(low, high)
}

/// Number of steps from `low` to the last grid point not above `high` (the grid has one
/// point more). In i128: `high - low` overflows i64 for bounds of opposite sign.
fn grid_steps(low: i64, high: i64, step: i64) -> u64 {
    let n = (i128::from(high) - i128::from(low)).max(0) / i128::from(step.max(1));
    // At most 2^64 - 1 (low = i64::MIN, high = i64::MAX, step = 1).
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `low + k * step`, for `k <= grid_steps(low, high, step)`: at most `high`, so it fits.
fn grid_point(low: i64, step: i64, k: u64) -> i64 {
    let v = i128::from(low) + i128::from(k) * i128::from(step.max(1));
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl Space {
    /// Builds and validates a space in which every param exists in every trial.
    pub fn new(dims: Vec<Dimension>) -> Result<Space, SpaceError> {
        let n = dims.len();
        Space::conditional(dims, vec![None; n])
    }

    /// Builds and validates a space with conditional params: `conditions[i]` says when
    /// `dims[i]` exists (its parent must come before it and be a `choice`).
    pub fn conditional(
        dims: Vec<Dimension>,
        conditions: Vec<Option<Condition>>,
    ) -> Result<Space, SpaceError> {
        if dims.is_empty() {
            return Err(SpaceError::Empty);
        }
        for d in &dims {
            d.validate()?;
        }
        for (i, c) in conditions.iter().enumerate() {
            let Some(c) = c else { continue };
            let ok = c.parent < i
                && dims
                    .get(c.parent)
                    .is_some_and(|p| c.values.iter().all(|v| *v < p.categories()));
            if !ok || conditions.len() != dims.len() {
                return Err(SpaceError::BadCondition {
                    name: dims.get(i).map_or(String::new(), |d| d.name.clone()),
                });
            }
        }
        Ok(Space { dims, conditions })
    }

    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    /// Whether there are no dimensions (never true for a validated space).
    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// Whether some param exists only in some trials.
    pub fn is_conditional(&self) -> bool {
        self.conditions.iter().any(Option::is_some)
    }

    /// Which params exist in a point: those without a condition, and those whose parent
    /// exists and takes one of their values.
    pub fn active(&self, p: &Params) -> Vec<bool> {
        self.active_by(|i| p.get(i).and_then(|v| self.dims[i].index_of(v)))
    }

    /// [`Space::active`] from a lookup of each choice's value index (`None`: absent).
    pub fn active_by(&self, index: impl Fn(usize) -> Option<usize>) -> Vec<bool> {
        let mut active: Vec<bool> = Vec::with_capacity(self.dims.len());
        for c in &self.conditions {
            let on = match c {
                None => true,
                Some(c) => {
                    active.get(c.parent).copied().unwrap_or(false)
                        && index(c.parent).is_some_and(|k| c.values.contains(&k))
                }
            };
            active.push(on);
        }
        active
    }

    /// The value an absent param holds in a point: the middle of its range (for the GP
    /// and the genetic operators, an absent param is a constant).
    pub fn filler(&self, i: usize) -> ParamValue {
        self.dims[i].from_unit(0.5)
    }

    /// The point as the study records it: floats of a `step` grid snapped to the grid, and
    /// absent params set to their [`Space::filler`], so two suggestions that differ only in
    /// params that do not exist are equal.
    pub fn canonical(&self, p: Params) -> Params {
        let snapped: Params = self.dims.iter().zip(p).map(|(d, v)| d.snap(v)).collect();
        if !self.is_conditional() {
            return snapped;
        }
        let active = self.active(&snapped);
        snapped
            .into_iter()
            .enumerate()
            .map(|(i, v)| if active[i] { v } else { self.filler(i) })
            .collect()
    }

    /// Draws a point.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Params {
        self.canonical(self.dims.iter().map(|d| d.sample(rng)).collect())
    }

    /// Decodes a unit-cube point.
    pub fn from_unit(&self, u: &[f64]) -> Params {
        self.canonical(
            self.dims
                .iter()
                .zip(u)
                .map(|(d, x)| d.from_unit(*x))
                .collect(),
        )
    }

    /// Encodes a point into the unit cube.
    pub fn to_unit(&self, p: &Params) -> Vec<f64> {
        self.dims.iter().zip(p).map(|(d, v)| d.to_unit(v)).collect()
    }

    /// Value of a named param in a point (`None` when it does not exist there).
    pub fn get<'a>(&self, p: &'a Params, name: &str) -> Option<&'a ParamValue> {
        let i = self.dims.iter().position(|d| d.name == name)?;
        if self.conditions[i].is_some() && !self.active(p)[i] {
            return None;
        }
        p.get(i)
    }

    /// The params that exist in a point, with their dimensions, in order.
    pub fn present<'a>(&'a self, p: &'a Params) -> Vec<(&'a Dimension, &'a ParamValue)> {
        let active = self.active(p);
        self.dims
            .iter()
            .zip(p)
            .enumerate()
            .filter(|(i, _)| active[*i])
            .map(|(_, x)| x)
            .collect()
    }
}
