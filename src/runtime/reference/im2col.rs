//! `im2col` / `col2im`: unrolling convolution windows into matrix columns and back.
//!
//! For one image `[C, H, W]`, column `oh * W' + ow` of the unrolled matrix holds the input
//! window that output pixel `(oh, ow)` sees, with rows ordered `(c, i, j)` — the same order as
//! an OIHW weight tensor flattened to `[O, C*kh*kw]`. A convolution is then one matrix
//! product, and its input gradient is the transposed product folded back by `col2im`.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

use super::conv2d::Conv2dSpec;
use super::geometry::Hw;
use super::real::Real;

/// Input coordinate seen by output coordinate `o` at kernel tap `k` along one axis,
/// or `None` when it falls in the zero padding.
fn source_index(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    let padded = o * stride + k * dilation;
    let idx = padded.checked_sub(pad)?;
    (idx < len).then_some(idx)
}

/// Unrolls one image `[C, H, W]` into `[C*kh*kw, H'*W']` (zero where the window hits padding).
///
/// `out` must be the output size from [`super::conv2d::conv2d_output_hw`] for these arguments.
pub fn im2col<T: Real>(image: ArrayView3<T>, kernel: Hw, spec: &Conv2dSpec, out: Hw) -> Array2<T> {
    let (channels, h, w) = image.dim();
    let mut cols = Array2::zeros((channels * kernel.area(), out.area()));
    for c in 0..channels {
        for i in 0..kernel.h {
            for j in 0..kernel.w {
                let row = (c * kernel.h + i) * kernel.w + j;
                for oh in 0..out.h {
                    let Some(ih) =
                        source_index(oh, i, spec.stride.h, spec.dilation.h, spec.padding.h, h)
                    else {
                        continue;
                    };
                    for ow in 0..out.w {
                        if let Some(iw) =
                            source_index(ow, j, spec.stride.w, spec.dilation.w, spec.padding.w, w)
                        {
                            cols[[row, oh * out.w + ow]] = image[[c, ih, iw]];
                        }
                    }
                }
            }
        }
    }
    cols
}

/// The adjoint of [`im2col`]: sums each column entry back into the input pixel it came from,
/// giving `[C, H, W]` (`input` is `H x W`). Entries that came from padding are dropped.
pub fn col2im<T: Real>(
    cols: ArrayView2<T>,
    channels: usize,
    input: Hw,
    kernel: Hw,
    spec: &Conv2dSpec,
    out: Hw,
) -> Array3<T> {
    let mut image = Array3::zeros((channels, input.h, input.w));
    for c in 0..channels {
        for i in 0..kernel.h {
            for j in 0..kernel.w {
                let row = (c * kernel.h + i) * kernel.w + j;
                for oh in 0..out.h {
                    let Some(ih) = source_index(
                        oh,
                        i,
                        spec.stride.h,
                        spec.dilation.h,
                        spec.padding.h,
                        input.h,
                    ) else {
                        continue;
                    };
                    for ow in 0..out.w {
                        if let Some(iw) = source_index(
                            ow,
                            j,
                            spec.stride.w,
                            spec.dilation.w,
                            spec.padding.w,
                            input.w,
                        ) {
                            image[[c, ih, iw]] += cols[[row, oh * out.w + ow]];
                        }
                    }
                }
            }
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::conv2d::conv2d_output_hw;
    use crate::runtime::reference::testutil::random_array;
    use ndarray::{Ix2, Ix3};

    #[test]
    fn im2col_places_window_values() {
        // 1 channel 3x3 image 0..9, kernel 2x2, stride 1, no padding: 4 windows.
        let image = Array3::from_shape_fn((1, 3, 3), |(_, r, c)| (r * 3 + c) as f64);
        let spec = Conv2dSpec::default();
        let out = conv2d_output_hw(Hw::new(3, 3), Hw::square(2), &spec).unwrap();
        let cols = im2col(image.view(), Hw::square(2), &spec, out);
        let expected = ndarray::array![
            [0.0, 1.0, 3.0, 4.0],
            [1.0, 2.0, 4.0, 5.0],
            [3.0, 4.0, 6.0, 7.0],
            [4.0, 5.0, 7.0, 8.0]
        ];
        assert_eq!(cols, expected);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for random x, y: the defining property of the adjoint,
        // which is what makes the conv input gradient correct.
        let spec = Conv2dSpec {
            stride: Hw::new(2, 1),
            padding: Hw::new(1, 2),
            dilation: Hw::new(1, 2),
        };
        let input = Hw::new(5, 6);
        let kernel = Hw::new(3, 2);
        let out = conv2d_output_hw(input, kernel, &spec).unwrap();
        let x = random_array::<Ix3>(&[2, input.h, input.w], 1);
        let y = random_array::<Ix2>(&[2 * kernel.area(), out.area()], 2);
        let lhs = (im2col(x.view(), kernel, &spec, out) * &y).sum();
        let rhs = (&x * &col2im(y.view(), 2, input, kernel, &spec, out)).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
    }
}
