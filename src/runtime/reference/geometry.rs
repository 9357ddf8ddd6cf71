//! Height/width pairs and the sliding-window output-size formula shared by conv and pools.

use super::error::OpError;

/// A height/width pair: a spatial size, kernel size, stride, padding or dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hw {
    /// Along the height (rows, axis 2 of NCHW).
    pub h: usize,
    /// Along the width (columns, axis 3 of NCHW).
    pub w: usize,
}

impl Hw {
    /// A pair with separate height and width.
    pub const fn new(h: usize, w: usize) -> Self {
        Self { h, w }
    }

    /// A pair with the same value for height and width.
    pub const fn square(v: usize) -> Self {
        Self { h: v, w: v }
    }

    /// `h * w`.
    pub const fn area(self) -> usize {
        self.h * self.w
    }
}

pub use crate::lower::window_output_len;

/// Output size of a 2-D sliding window over `input`, or [`OpError::TooSmall`] if it does not fit.
pub(crate) fn window_output_hw(
    op: &'static str,
    input: Hw,
    kernel: Hw,
    stride: Hw,
    pad: Hw,
    dilation: Hw,
) -> Result<Hw, OpError> {
    if input.h == 0 || input.w == 0 {
        return Err(OpError::Empty {
            op,
            what: "input plane (H or W is 0)",
        });
    }
    let h = window_output_len(input.h, kernel.h, stride.h, pad.h, dilation.h);
    let w = window_output_len(input.w, kernel.w, stride.w, pad.w, dilation.w);
    match (h, w) {
        (Some(h), Some(w)) => Ok(Hw::new(h, w)),
        _ => Err(OpError::TooSmall {
            op,
            height: input.h,
            width: input.w,
            reason: format!(
                "the kernel {}x{} with dilation {}x{} does not fit in the input padded by {}x{}",
                kernel.h, kernel.w, dilation.h, dilation.w, pad.h, pad.w
            ),
        }),
    }
}

/// Checks that every component of `v` is at least 1.
pub(crate) fn require_positive(op: &'static str, name: &'static str, v: Hw) -> Result<(), OpError> {
    if v.h == 0 || v.w == 0 {
        return Err(OpError::HyperParameter {
            op,
            name,
            value: format!("{}x{}", v.h, v.w),
            reason: "must be at least 1 in both directions",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_len_matches_pytorch_formula() {
        // Values of floor((H + 2p - d(k-1) - 1)/s) + 1 worked out by hand.
        assert_eq!(window_output_len(28, 3, 1, 1, 1), Some(28));
        assert_eq!(window_output_len(28, 3, 1, 0, 1), Some(26));
        assert_eq!(window_output_len(28, 2, 2, 0, 1), Some(14));
        assert_eq!(window_output_len(7, 3, 2, 1, 1), Some(4)); // (7+2-3)/2+1
        assert_eq!(window_output_len(7, 3, 2, 0, 2), Some(2)); // span 5: (7-5)/2+1
        assert_eq!(window_output_len(10, 3, 3, 2, 2), Some(4)); // (14-5)/3+1
        assert_eq!(window_output_len(5, 5, 1, 0, 1), Some(1));
        assert_eq!(window_output_len(4, 5, 1, 0, 1), None);
        assert_eq!(window_output_len(4, 3, 1, 0, 2), None); // span 5 > 4
        assert_eq!(window_output_len(1, 3, 1, 1, 1), Some(1));
        assert_eq!(window_output_len(5, 0, 1, 0, 1), None);
        assert_eq!(window_output_len(5, 3, 0, 0, 1), None);
        assert_eq!(window_output_len(5, 3, 1, usize::MAX, 1), None);
        assert_eq!(window_output_len(5, 3, 1, 0, usize::MAX), None);
    }

    #[test]
    fn too_small_is_an_error_value() {
        let err = window_output_hw(
            "conv2d",
            Hw::new(2, 2),
            Hw::square(3),
            Hw::square(1),
            Hw::square(0),
            Hw::square(1),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            OpError::TooSmall {
                height: 2,
                width: 2,
                ..
            }
        ));
    }
}
