//! 2-D max pooling (NCHW) with PyTorch's argmax routing for the backward pass.

use ndarray::{Array4, ArrayView4};

use super::check::same_shape;
use super::error::OpError;
use super::geometry::Hw;
use super::pool2d::{Pool2dSpec, axis_window, pool2d_output_hw_for};
use super::real::Real;

const OP: &str = "maxpool2d";

/// What a max-pooling forward returns: the pooled values and, for each, where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPool2dOutput<T> {
    /// Pooled values, `[N, C, H', W']`.
    pub y: Array4<T>,
    /// Flat index `ih * W + iw` into the input plane `[H, W]` of each output's source
    /// (PyTorch's `return_indices` convention). The backward pass routes gradients here.
    pub argmax: Array4<usize>,
}

/// Forward pass: `y[n,c,oh,ow] = max` of `x[n,c,·,·]` over the window, padding acting as `-inf`.
///
/// Ties: the *first* maximum in row-major window order wins (scan rows top to bottom, each
/// left to right, replace only on strictly greater). A NaN always replaces the current best,
/// so NaN propagates and the *last* NaN in scan order is recorded; if every value is `-inf`
/// the first in-bounds position is recorded. All of this matches PyTorch's CPU kernel
/// (checked against torch 2.15).
pub fn maxpool2d_forward<T: Real>(
    x: ArrayView4<T>,
    spec: &Pool2dSpec,
) -> Result<MaxPool2dOutput<T>, OpError> {
    let (n, c, h, w) = x.dim();
    let out = pool2d_output_hw_for(OP, Hw::new(h, w), spec)?;
    let mut y = Array4::zeros((n, c, out.h, out.w));
    let mut argmax = Array4::zeros((n, c, out.h, out.w));
    for ni in 0..n {
        for ci in 0..c {
            for oh in 0..out.h {
                let rows = axis_window(oh, spec.kernel.h, spec.stride.h, spec.padding.h, h);
                for ow in 0..out.w {
                    let cols = axis_window(ow, spec.kernel.w, spec.stride.w, spec.padding.w, w);
                    let mut best = T::neg_infinity();
                    let mut best_at = rows.start * w + cols.start;
                    for ih in rows.start..rows.end {
                        for iw in cols.start..cols.end {
                            let v = x[[ni, ci, ih, iw]];
                            // Exactly PyTorch's CPU rule: strictly greater, or NaN.
                            if v > best || v.is_nan() {
                                best = v;
                                best_at = ih * w + iw;
                            }
                        }
                    }
                    y[[ni, ci, oh, ow]] = best;
                    argmax[[ni, ci, oh, ow]] = best_at;
                }
            }
        }
    }
    Ok(MaxPool2dOutput { y, argmax })
}

/// Backward pass: `dx[n,c,argmax[n,c,oh,ow]] += dy[n,c,oh,ow]`; every other input gets 0.
/// `input` is the forward input's `H x W`.
pub fn maxpool2d_backward<T: Real>(
    dy: ArrayView4<T>,
    argmax: ArrayView4<usize>,
    input: Hw,
) -> Result<Array4<T>, OpError> {
    same_shape(OP, "argmax", argmax.shape(), dy.shape())?;
    let (n, c, oh, ow) = dy.dim();
    let mut dx = Array4::zeros((n, c, input.h, input.w));
    for ni in 0..n {
        for ci in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let at = argmax[[ni, ci, i, j]];
                    if at >= input.area() {
                        return Err(OpError::Shape {
                            op: OP,
                            what: "argmax",
                            got: vec![at],
                            expected: format!("indices below H*W = {}", input.area()),
                        });
                    }
                    dx[[ni, ci, at / input.w, at % input.w]] += dy[[ni, ci, i, j]];
                }
            }
        }
    }
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::avgpool2d::{
        AvgPoolDivisor, avgpool2d_backward, avgpool2d_forward,
    };
    use crate::runtime::reference::pool2d::pool2d_output_hw;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix4;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn forward_picks_window_maxima() {
        let x = Array4::from_shape_vec((1, 1, 4, 4), (0..16).map(|v| v as f64).collect()).unwrap();
        let out = maxpool2d_forward(x.view(), &Pool2dSpec::new(2)).unwrap();
        assert_eq!(
            out.y.into_raw_vec_and_offset().0,
            vec![5.0, 7.0, 13.0, 15.0]
        );
        assert_eq!(out.argmax.into_raw_vec_and_offset().0, vec![5, 7, 13, 15]);
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_nan_propagates() {
        let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, 3.0, 3.0, 3.0]).unwrap();
        let out = maxpool2d_forward(x.view(), &Pool2dSpec::new(2)).unwrap();
        assert_eq!(out.argmax[[0, 0, 0, 0]], 1);
        let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, f64::NAN, 5.0, f64::NAN]).unwrap();
        let out = maxpool2d_forward(x.view(), &Pool2dSpec::new(2)).unwrap();
        assert!(out.y[[0, 0, 0, 0]].is_nan());
        // torch.nn.functional.max_pool2d(..., return_indices=True) gives index 3 here.
        assert_eq!(out.argmax[[0, 0, 0, 0]], 3);
    }

    #[test]
    fn padding_acts_as_negative_infinity() {
        let spec = Pool2dSpec::new(3).with_stride(1).with_padding(1);
        let x = Array4::from_elem((1, 1, 3, 3), -2.0f64);
        let out = maxpool2d_forward(x.view(), &spec).unwrap();
        assert!(out.y.iter().all(|&v| v == -2.0));
        // All -inf: the first in-bounds position of each window (values from torch 2.15).
        let x = Array4::from_elem((1, 1, 3, 3), f64::NEG_INFINITY);
        let out = maxpool2d_forward(x.view(), &spec).unwrap();
        assert_eq!(
            out.argmax.into_raw_vec_and_offset().0,
            vec![0, 0, 1, 0, 0, 1, 3, 3, 4]
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Random values are distinct almost surely, so there are no ties to make the max kinked.
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
            (1, 1, 5, 5, Pool2dSpec::new(3).with_stride(1)),
        ];
        for (seed, (n, c, h, w, spec)) in specs.into_iter().enumerate() {
            let x = random_array::<Ix4>(&[n, c, h, w], seed as u64);
            let out = pool2d_output_hw(Hw::new(h, w), &spec).unwrap();
            let dy = random_array::<Ix4>(&[n, c, out.h, out.w], seed as u64 + 9);
            let fwd = maxpool2d_forward(x.view(), &spec).unwrap();
            let dx = maxpool2d_backward(dy.view(), fwd.argmax.view(), Hw::new(h, w)).unwrap();
            let num = numeric_grad(&x, |x| {
                (maxpool2d_forward(x.view(), &spec).unwrap().y * &dy).sum()
            });
            assert_grad_close(&dx, &num, "maxpool dx");
        }
    }

    #[test]
    fn random_geometries_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        for i in 0..20u64 {
            let k = Hw::new(rng.random_range(1..=4), rng.random_range(1..=4));
            let spec = Pool2dSpec {
                kernel: k,
                stride: Hw::new(rng.random_range(1..=3), rng.random_range(1..=3)),
                padding: Hw::new(rng.random_range(0..=k.h / 2), rng.random_range(0..=k.w / 2)),
            };
            let input = Hw::new(k.h + rng.random_range(0..=4), k.w + rng.random_range(0..=4));
            let shape = [
                rng.random_range(1..=2),
                rng.random_range(1..=3),
                input.h,
                input.w,
            ];
            let out = pool2d_output_hw(input, &spec).unwrap();
            let x = random_array::<Ix4>(&shape, 500 + i);
            let dy = random_array::<Ix4>(&[shape[0], shape[1], out.h, out.w], 600 + i);
            let fwd = maxpool2d_forward(x.view(), &spec).unwrap();
            let dx = maxpool2d_backward(dy.view(), fwd.argmax.view(), input).unwrap();
            let num = numeric_grad(&x, |x| {
                (maxpool2d_forward(x.view(), &spec).unwrap().y * &dy).sum()
            });
            assert_grad_close(
                &dx,
                &num,
                &format!("maxpool case {i}: {spec:?} on {input:?}"),
            );
            for divisor in [
                AvgPoolDivisor::IncludePadding,
                AvgPoolDivisor::ExcludePadding,
            ] {
                let dx = avgpool2d_backward(dy.view(), input, &spec, divisor).unwrap();
                let num = numeric_grad(&x, |x| {
                    (avgpool2d_forward(x.view(), &spec, divisor).unwrap() * &dy).sum()
                });
                assert_grad_close(
                    &dx,
                    &num,
                    &format!("avgpool case {i}: {spec:?} {divisor:?}"),
                );
            }
        }
    }

    #[test]
    fn bad_argmax_is_an_error() {
        let dy = Array4::<f32>::ones((1, 1, 1, 1));
        let argmax = Array4::from_elem((1, 1, 1, 1), 4usize);
        assert!(maxpool2d_backward(dy.view(), argmax.view(), Hw::new(2, 2)).is_err());
        let argmax = Array4::from_elem((1, 1, 1, 2), 0usize);
        assert!(maxpool2d_backward(dy.view(), argmax.view(), Hw::new(2, 2)).is_err());
    }
}
