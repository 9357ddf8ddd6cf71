//! [`F32Bits`]: an `f32` setting stored by its bit pattern, so kernel specs that carry
//! hyper-parameters (slopes, label smoothing, momentum) can be `Eq + Hash` and key a cache.

/// An `f32` compared and hashed by its bits (`-0.0 != 0.0`, `NaN == NaN` of the same
/// payload): two specs are equal exactly when they generate the same code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct F32Bits(u32);

impl F32Bits {
    /// Wraps `v`.
    pub const fn new(v: f32) -> Self {
        Self(v.to_bits())
    }

    /// The wrapped value.
    pub const fn get(self) -> f32 {
        f32::from_bits(self.0)
    }
}

impl From<f32> for F32Bits {
    fn from(v: f32) -> Self {
        Self::new(v)
    }
}

impl std::fmt::Debug for F32Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.get())
    }
}
