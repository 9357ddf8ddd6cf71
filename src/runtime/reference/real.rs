//! The float type the reference ops are generic over.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::Float;

/// A real scalar the reference ops compute in: `f32` for running, `f64` for gradient checks.
///
/// It bundles the numeric traits the ops need (`Float` for `exp`/`ln`/`sqrt`, `LinalgScalar`
/// for `ndarray`'s `dot`, `ScalarOperand` for `array * scalar`) and adds infallible
/// conversions to and from `f64`, so hyper-parameters can be given once as `f64`.
pub trait Real:
    Float
    + LinalgScalar
    + ScalarOperand
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Debug
    + Display
    + Send
    + Sync
{
    /// Converts an `f64` to this type, rounding to nearest for `f32`.
    fn of_f64(v: f64) -> Self;
    /// Converts this value to `f64` (exact for both `f32` and `f64`).
    fn as_f64(self) -> f64;
}

impl Real for f32 {
    fn of_f64(v: f64) -> Self {
        // Rounding to nearest is the intended narrowing for hyper-parameters and inits.
        v as f32
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    fn of_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
}
