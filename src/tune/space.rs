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
    /// `choice(v, …)`.
    Choice(Vec<ParamValue>),
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
    /// Dimensions in declaration order.
    pub dims: Vec<Dimension>,
}

/// A point of the space: one value per dimension, in order.
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
            (Distribution::Choice(values), v) => values.contains(v),
            _ => false,
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
    /// Builds and validates a space.
    pub fn new(dims: Vec<Dimension>) -> Result<Space, SpaceError> {
        if dims.is_empty() {
            return Err(SpaceError::Empty);
        }
        for d in &dims {
            d.validate()?;
        }
        Ok(Space { dims })
    }

    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    /// Whether there are no dimensions (never true for a validated space).
    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// Draws a point.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Params {
        self.dims.iter().map(|d| d.sample(rng)).collect()
    }

    /// Decodes a unit-cube point.
    pub fn from_unit(&self, u: &[f64]) -> Params {
        self.dims
            .iter()
            .zip(u)
            .map(|(d, x)| d.from_unit(*x))
            .collect()
    }

    /// Encodes a point into the unit cube.
    pub fn to_unit(&self, p: &Params) -> Vec<f64> {
        self.dims.iter().zip(p).map(|(d, v)| d.to_unit(v)).collect()
    }

    /// Value of a named param in a point.
    pub fn get<'a>(&self, p: &'a Params, name: &str) -> Option<&'a ParamValue> {
        self.dims
            .iter()
            .position(|d| d.name == name)
            .and_then(|i| p.get(i))
    }
}
