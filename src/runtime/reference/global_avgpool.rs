//! Global average pooling: `[N, C, H, W] -> [N, C]`, the mean over each channel's plane.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Axis};

use super::check::non_empty;
use super::error::OpError;
use super::geometry::Hw;
use super::real::Real;

const OP: &str = "global_avgpool";

/// Forward pass: `y[n, c] = mean_{h,w} x[n, c, h, w]`.
pub fn global_avgpool_forward<T: Real>(x: ArrayView4<T>) -> Result<Array2<T>, OpError> {
    let (_, _, h, w) = x.dim();
    non_empty(OP, "input plane (H*W)", h * w)?;
    let scale = T::of_f64(1.0 / (h * w) as f64);
    Ok(x.sum_axis(Axis(3)).sum_axis(Axis(2)) * scale)
}

/// Backward pass: `dx[n, c, h, w] = dy[n, c] / (H*W)`; `input` is the forward input's `H x W`.
pub fn global_avgpool_backward<T: Real>(
    dy: ArrayView2<T>,
    input: Hw,
) -> Result<Array4<T>, OpError> {
    non_empty(OP, "input plane (H*W)", input.area())?;
    let (n, c) = dy.dim();
    let scale = T::of_f64(1.0 / input.area() as f64);
    Ok(Array4::from_shape_fn(
        (n, c, input.h, input.w),
        |(ni, ci, _, _)| dy[[ni, ci]] * scale,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::{Ix2, Ix4};

    #[test]
    fn forward_is_plane_mean() {
        let x =
            Array4::from_shape_vec((1, 2, 1, 3), vec![1.0f64, 2.0, 3.0, -1.0, 0.0, 4.0]).unwrap();
        let y = global_avgpool_forward(x.view()).unwrap();
        assert_eq!(y, ndarray::array![[2.0, 1.0]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = random_array::<Ix4>(&[3, 2, 5, 3], 4);
        let dy = random_array::<Ix2>(&[3, 2], 5);
        let dx = global_avgpool_backward(dy.view(), Hw::new(5, 3)).unwrap();
        let num = numeric_grad(&x, |x| {
            (global_avgpool_forward(x.view()).unwrap() * &dy).sum()
        });
        assert_grad_close(&dx, &num, "global avgpool dx");
    }

    #[test]
    fn empty_plane_is_an_error() {
        let x = Array4::<f32>::zeros((1, 1, 0, 3));
        assert!(matches!(
            global_avgpool_forward(x.view()),
            Err(OpError::Empty { .. })
        ));
    }
}
