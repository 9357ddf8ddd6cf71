//! 2-D average pooling (NCHW), PyTorch semantics with `ceil_mode=False`.

use ndarray::{Array4, ArrayView4};

use super::check::same_shape;
use super::error::OpError;
use super::geometry::Hw;
use super::pool2d::{Pool2dSpec, axis_window, pool2d_output_hw_for};
use super::real::Real;

const OP: &str = "avgpool2d";

/// What an average-pooling window divides by when it overlaps the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AvgPoolDivisor {
    /// Divide by the full kernel area `kh*kw`, padding counted as zeros
    /// (PyTorch's default `count_include_pad=True`).
    #[default]
    IncludePadding,
    /// Divide by the number of real (non-padding) input elements in the window
    /// (PyTorch's `count_include_pad=False`).
    ExcludePadding,
}

/// Visits every (output position, clipped input window, divisor) of the pooling geometry.
fn for_each_window(
    input: Hw,
    out: Hw,
    spec: &Pool2dSpec,
    divisor: AvgPoolDivisor,
    mut visit: impl FnMut(usize, usize, std::ops::Range<usize>, std::ops::Range<usize>, usize),
) {
    for oh in 0..out.h {
        let rows = axis_window(oh, spec.kernel.h, spec.stride.h, spec.padding.h, input.h);
        for ow in 0..out.w {
            let cols = axis_window(ow, spec.kernel.w, spec.stride.w, spec.padding.w, input.w);
            let count = match divisor {
                // With ceil_mode=False a window never extends past the padded input, so the
                // padded window is always the full kernel.
                AvgPoolDivisor::IncludePadding => spec.kernel.area(),
                AvgPoolDivisor::ExcludePadding => (rows.end - rows.start) * (cols.end - cols.start),
            };
            visit(oh, ow, rows.start..rows.end, cols.start..cols.end, count);
        }
    }
}

/// Forward pass: `y[n,c,oh,ow] = (sum of x[n,c,·,·] over the window) / divisor`.
pub fn avgpool2d_forward<T: Real>(
    x: ArrayView4<T>,
    spec: &Pool2dSpec,
    divisor: AvgPoolDivisor,
) -> Result<Array4<T>, OpError> {
    let (n, c, h, w) = x.dim();
    let input = Hw::new(h, w);
    let out = pool2d_output_hw_for(OP, input, spec)?;
    let mut y = Array4::zeros((n, c, out.h, out.w));
    for ni in 0..n {
        for ci in 0..c {
            for_each_window(input, out, spec, divisor, |oh, ow, rows, cols, count| {
                let mut sum = T::zero();
                for ih in rows {
                    for iw in cols.clone() {
                        sum += x[[ni, ci, ih, iw]];
                    }
                }
                y[[ni, ci, oh, ow]] = sum / T::of_f64(count as f64);
            });
        }
    }
    Ok(y)
}

/// Backward pass: each `dy[n,c,oh,ow] / divisor` is added to every real input in its window.
/// `input` is the forward input's `H x W`.
pub fn avgpool2d_backward<T: Real>(
    dy: ArrayView4<T>,
    input: Hw,
    spec: &Pool2dSpec,
    divisor: AvgPoolDivisor,
) -> Result<Array4<T>, OpError> {
    let (n, c, oh, ow) = dy.dim();
    let out = pool2d_output_hw_for(OP, input, spec)?;
    same_shape(OP, "upstream gradient", &[oh, ow], &[out.h, out.w])?;
    let mut dx = Array4::zeros((n, c, input.h, input.w));
    for ni in 0..n {
        for ci in 0..c {
            for_each_window(input, out, spec, divisor, |oh, ow, rows, cols, count| {
                let share = dy[[ni, ci, oh, ow]] / T::of_f64(count as f64);
                for ih in rows {
                    for iw in cols.clone() {
                        dx[[ni, ci, ih, iw]] += share;
                    }
                }
            });
        }
    }
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::pool2d::pool2d_output_hw;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix4;

    #[test]
    fn divisor_modes_differ_only_at_padding() {
        let x = Array4::from_elem((1, 1, 2, 2), 1.0f64);
        let spec = Pool2dSpec::new(2).with_stride(1).with_padding(1);
        let inc = avgpool2d_forward(x.view(), &spec, AvgPoolDivisor::IncludePadding).unwrap();
        let exc = avgpool2d_forward(x.view(), &spec, AvgPoolDivisor::ExcludePadding).unwrap();
        // 3x3 outputs; corners see 1 real element, edges 2, the centre 4 (of 4).
        assert_eq!(
            inc.into_raw_vec_and_offset().0,
            vec![0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]
        );
        assert!(exc.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let specs = [
            (2, 3, 6, 7, Pool2dSpec::new(2)),
            (
                1,
                2,
                7,
                7,
                Pool2dSpec::new(3).with_stride(2).with_padding(1),
            ),
            (
                2,
                1,
                5,
                8,
                Pool2dSpec {
                    kernel: Hw::new(2, 3),
                    stride: Hw::new(1, 2),
                    padding: Hw::new(1, 1),
                },
            ),
        ];
        for (seed, (n, c, h, w, spec)) in specs.into_iter().enumerate() {
            for divisor in [
                AvgPoolDivisor::IncludePadding,
                AvgPoolDivisor::ExcludePadding,
            ] {
                let x = random_array::<Ix4>(&[n, c, h, w], seed as u64);
                let out = pool2d_output_hw(Hw::new(h, w), &spec).unwrap();
                let dy = random_array::<Ix4>(&[n, c, out.h, out.w], seed as u64 + 9);
                let dx = avgpool2d_backward(dy.view(), Hw::new(h, w), &spec, divisor).unwrap();
                let num = numeric_grad(&x, |x| {
                    (avgpool2d_forward(x.view(), &spec, divisor).unwrap() * &dy).sum()
                });
                assert_grad_close(&dx, &num, "avgpool dx");
            }
        }
    }

    #[test]
    fn wrong_upstream_shape_is_an_error() {
        let dy = Array4::<f32>::zeros((1, 1, 3, 3));
        assert!(
            avgpool2d_backward(
                dy.view(),
                Hw::new(4, 4),
                &Pool2dSpec::new(2),
                AvgPoolDivisor::default()
            )
            .is_err()
        );
    }
}
