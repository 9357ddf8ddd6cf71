//! The floating-point element types the binary decoders produce.
//!
//! Features are decoded straight to `f32` (no `f64` intermediate buffer: MNIST's 47 M pixels
//! would otherwise cost an extra 376 MB); labels are decoded to `f64` so that integer class
//! indices and targets are exact before they are checked.

/// A decoded element type: `f32` or `f64`.
pub trait Element: Copy + Default + Send + Sync + 'static {
    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts from `i64` (rounding to nearest when not exactly representable).
    fn from_i64(v: i64) -> Self;
    /// Converts from `u64` (rounding to nearest when not exactly representable).
    fn from_u64(v: u64) -> Self;
    /// Converts from `f32` (exact).
    fn from_f32(v: f32) -> Self;
}

impl Element for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    fn from_u64(v: u64) -> Self {
        v as f32
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Element for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    fn from_u64(v: u64) -> Self {
        v as f64
    }
    fn from_f32(v: f32) -> Self {
        v as f64
    }
}
