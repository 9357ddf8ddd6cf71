//! Exploration schedules: how epsilon changes over a run.

/// What a linear schedule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Environment steps (`linear(…, steps = n)`).
    Steps,
    /// Episodes (the default schedule when the budget is in episodes).
    Episodes,
}

/// An epsilon schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Epsilon {
    /// `epsilon = 0.1` or `constant(value = 0.1)`.
    Constant(f64),
    /// From `from` to `to` linearly over `over` units, then `to`.
    Linear {
        /// Start.
        from: f64,
        /// End.
        to: f64,
        /// Length of the decay.
        over: u64,
        /// What `over` counts.
        unit: Unit,
    },
    /// `from · decay^episode`, never below `to`.
    Exponential {
        /// Start.
        from: f64,
        /// Floor.
        to: f64,
        /// Factor per episode.
        decay: f64,
    },
}

impl Epsilon {
    /// Epsilon after `steps` environment steps and `episodes` finished episodes.
    #[inline]
    pub fn at(&self, steps: u64, episodes: u64) -> f64 {
        match *self {
            Epsilon::Constant(e) => e,
            Epsilon::Linear {
                from,
                to,
                over,
                unit,
            } => {
                let t = match unit {
                    Unit::Steps => steps,
                    Unit::Episodes => episodes,
                };
                if t >= over {
                    to
                } else {
                    from + (to - from) * (t as f64 / over as f64)
                }
            }
            Epsilon::Exponential { from, to, decay } => {
                (from * decay.powf(episodes as f64)).max(to)
            }
        }
    }

    /// Whether the value changes within an episode (then it is recomputed every step).
    pub fn per_step(&self) -> bool {
        matches!(
            self,
            Epsilon::Linear {
                unit: Unit::Steps,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let lin = Epsilon::Linear {
            from: 1.0,
            to: 0.1,
            over: 10,
            unit: Unit::Steps,
        };
        assert_eq!(lin.at(0, 0), 1.0);
        assert!((lin.at(5, 99) - 0.55).abs() < 1e-12);
        assert_eq!(lin.at(10, 0), 0.1);
        assert_eq!(lin.at(1000, 0), 0.1);
        let exp = Epsilon::Exponential {
            from: 1.0,
            to: 0.05,
            decay: 0.5,
        };
        assert_eq!(exp.at(123, 2), 0.25);
        assert_eq!(exp.at(0, 10), 0.05);
    }
}
