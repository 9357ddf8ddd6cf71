//! Window geometry shared by max and average pooling.

use super::error::OpError;
use super::geometry::{Hw, require_positive, window_output_hw};

/// Kernel, stride and zero/-inf padding of a 2-D pooling window (PyTorch's `ceil_mode=False`,
/// dilation 1). The stride defaults to the kernel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dSpec {
    /// Window size.
    pub kernel: Hw,
    /// Step between windows.
    pub stride: Hw,
    /// Implicit padding on each side; must be at most half the kernel (PyTorch's rule), which
    /// guarantees every window overlaps the real input.
    pub padding: Hw,
}

impl Pool2dSpec {
    /// A square `kernel` with stride = kernel and no padding (PyTorch's defaults).
    pub const fn new(kernel: usize) -> Self {
        Self {
            kernel: Hw::square(kernel),
            stride: Hw::square(kernel),
            padding: Hw::square(0),
        }
    }

    /// The same window with a square stride.
    pub const fn with_stride(self, stride: usize) -> Self {
        Self {
            stride: Hw::square(stride),
            ..self
        }
    }

    /// The same window with square padding.
    pub const fn with_padding(self, padding: usize) -> Self {
        Self {
            padding: Hw::square(padding),
            ..self
        }
    }

    pub(crate) fn validate(&self, op: &'static str) -> Result<(), OpError> {
        require_positive(op, "kernel", self.kernel)?;
        require_positive(op, "stride", self.stride)?;
        if 2 * self.padding.h > self.kernel.h || 2 * self.padding.w > self.kernel.w {
            return Err(OpError::HyperParameter {
                op,
                name: "padding",
                value: format!("{}x{}", self.padding.h, self.padding.w),
                reason: "must be at most half the kernel size",
            });
        }
        Ok(())
    }
}

/// Output spatial size `H' = floor((H + 2p - k)/s) + 1` (same for `W'`) of a pooling window.
pub fn pool2d_output_hw(input: Hw, spec: &Pool2dSpec) -> Result<Hw, OpError> {
    pool2d_output_hw_for("pool2d", input, spec)
}

pub(crate) fn pool2d_output_hw_for(
    op: &'static str,
    input: Hw,
    spec: &Pool2dSpec,
) -> Result<Hw, OpError> {
    spec.validate(op)?;
    window_output_hw(
        op,
        input,
        spec.kernel,
        spec.stride,
        spec.padding,
        Hw::square(1),
    )
}

/// The half-open input ranges `[start, end)` along one axis that output index `o` covers,
/// clipped to the real input, plus the unclipped window length inside the padded input.
pub(crate) struct AxisWindow {
    pub start: usize,
    pub end: usize,
}

pub(crate) fn axis_window(
    o: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    len: usize,
) -> AxisWindow {
    let padded_start = o * stride;
    let start = padded_start.saturating_sub(pad);
    let end = (padded_start + kernel).saturating_sub(pad).min(len);
    AxisWindow { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_shape_formula() {
        assert_eq!(
            pool2d_output_hw(Hw::new(28, 28), &Pool2dSpec::new(2)).unwrap(),
            Hw::new(14, 14)
        );
        assert_eq!(
            pool2d_output_hw(Hw::new(7, 7), &Pool2dSpec::new(2)).unwrap(),
            Hw::new(3, 3)
        );
        assert_eq!(
            pool2d_output_hw(
                Hw::new(7, 9),
                &Pool2dSpec::new(3).with_stride(2).with_padding(1)
            )
            .unwrap(),
            Hw::new(4, 5)
        );
        assert_eq!(
            pool2d_output_hw(
                Hw::new(112, 112),
                &Pool2dSpec::new(3).with_stride(2).with_padding(1)
            )
            .unwrap(),
            Hw::new(56, 56)
        );
        assert!(matches!(
            pool2d_output_hw(Hw::new(7, 7), &Pool2dSpec::new(2).with_padding(2)),
            Err(OpError::HyperParameter {
                name: "padding",
                ..
            })
        ));
        assert!(matches!(
            pool2d_output_hw(Hw::new(1, 5), &Pool2dSpec::new(2)),
            Err(OpError::TooSmall { .. })
        ));
        assert!(pool2d_output_hw(Hw::new(4, 4), &Pool2dSpec::new(0)).is_err());
        assert!(pool2d_output_hw(Hw::new(4, 4), &Pool2dSpec::new(2).with_stride(0)).is_err());
    }
}
