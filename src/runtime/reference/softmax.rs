//! Softmax over the last axis, numerically stable (max subtracted before `exp`).

use ndarray::{Array, ArrayView, Axis, Dimension, Zip};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;

const OP: &str = "softmax";

fn last_axis(op: &'static str, shape: &[usize]) -> Result<Axis, OpError> {
    match shape.len() {
        0 => Err(OpError::Shape {
            op,
            what: "input",
            got: Vec::new(),
            expected: "at least one axis".into(),
        }),
        n => Ok(Axis(n - 1)),
    }
}

/// `y[..., i] = exp(x[..., i] - m) / sum_j exp(x[..., j] - m)` with `m = max_j x[..., j]`.
pub fn softmax_forward<T: Real, D: Dimension>(x: ArrayView<T, D>) -> Result<Array<T, D>, OpError> {
    let axis = last_axis(OP, x.shape())?;
    let mut y = x.to_owned();
    for mut lane in y.lanes_mut(axis) {
        let m = lane.fold(T::neg_infinity(), |a, &b| a.max(b));
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
    Ok(y)
}

/// `dx = y * (dy - sum_j dy[..., j] * y[..., j])` with `y` the forward output.
pub fn softmax_backward<T: Real, D: Dimension>(
    dy: ArrayView<T, D>,
    y: ArrayView<T, D>,
) -> Result<Array<T, D>, OpError> {
    same_shape(OP, "upstream gradient", dy.shape(), y.shape())?;
    let axis = last_axis(OP, y.shape())?;
    let mut dx = Array::zeros(y.raw_dim());
    Zip::from(dx.lanes_mut(axis))
        .and(dy.lanes(axis))
        .and(y.lanes(axis))
        .for_each(|mut d, g, s| {
            let dot = (&g * &s).sum();
            Zip::from(&mut d)
                .and(&g)
                .and(&s)
                .for_each(|d, &g, &s| *d = s * (g - dot));
        });
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix3;

    #[test]
    fn forward_is_stable_and_normalised() {
        let x = ndarray::array![[1000.0f64, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]];
        let y = softmax_forward(x.view()).unwrap();
        // torch.softmax of [1000, 1001, 1002] in float64, torch 2.15.
        let e = [0.09003057317038045, 0.2447284710547976, 0.6652409557748218];
        for (a, b) in y.row(0).iter().zip(e) {
            assert!((a - b).abs() < 1e-15);
        }
        assert_eq!(y[[1, 2]], 1.0);
        for row in y.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = random_array::<Ix3>(&[2, 3, 5], 8) * 3.0;
        let dy = random_array::<Ix3>(&[2, 3, 5], 9);
        let y = softmax_forward(x.view()).unwrap();
        let g = softmax_backward(dy.view(), y.view()).unwrap();
        let num = numeric_grad(&x, |x| (softmax_forward(x.view()).unwrap() * &dy).sum());
        assert_grad_close(&g, &num, "softmax");
    }

    #[test]
    fn scalar_input_is_an_error() {
        let x = ndarray::arr0(1.0f32);
        assert!(softmax_forward(x.view()).is_err());
    }
}
