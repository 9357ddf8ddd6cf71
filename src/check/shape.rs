//! Shapes as types. Every tensor in a model has the shape `[N, d1, d2, …]`: the batch symbol
//! `N` followed by constant per-sample dims. Only the per-sample part varies between layers,
//! so a [`Shape`] stores it and prints the `N` in front.

use std::fmt;

/// Per-sample dims of a tensor whose leading dim is the batch `N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Number of per-sample dims (the rank without `N`).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Elements per sample.
    pub fn elements(&self) -> usize {
        // Saturating: absurd shapes must reach the memory check, not overflow.
        self.0.iter().fold(1usize, |a, d| a.saturating_mul(*d))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[N")?;
        for d in &self.0 {
            write!(f, ", {d}")?;
        }
        f.write_str("]")
    }
}

/// Output size of a convolution or pooling window along one axis:
/// `floor((size + 2·pad − dilation·(kernel − 1) − 1) / stride) + 1`, or `None` when the
/// window does not fit even once.
pub fn window_out(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = size.checked_add(pad.checked_mul(2)?)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_formula() {
        assert_eq!(window_out(8, 3, 1, 1, 1), Some(8));
        assert_eq!(window_out(28, 5, 1, 0, 1), Some(24));
        assert_eq!(window_out(24, 2, 2, 0, 1), Some(12));
        assert_eq!(window_out(7, 2, 2, 0, 1), Some(3));
        assert_eq!(window_out(2, 3, 1, 0, 1), None);
        assert_eq!(window_out(5, 3, 1, 0, 2), Some(1));
        assert_eq!(window_out(4, 3, 1, 0, 2), None);
        assert_eq!(format!("{}", Shape(vec![1, 8, 8])), "[N, 1, 8, 8]");
    }
}
