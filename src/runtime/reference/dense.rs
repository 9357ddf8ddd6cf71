//! Fully connected layer: `y = x W^T + b` with `W` stored `[out, in]` (PyTorch layout).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;

const OP: &str = "dense";

/// Gradients of a dense layer with respect to its input and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrads<T> {
    /// `dL/dx`, shape `[N, in]`.
    pub dx: Array2<T>,
    /// `dL/dW`, shape `[out, in]`.
    pub dw: Array2<T>,
    /// `dL/db`, shape `[out]` (meaningful only if the layer has a bias).
    pub db: Array1<T>,
}

fn check_x_w<T>(x: &ArrayView2<T>, w: &ArrayView2<T>) -> Result<(), OpError> {
    if x.ncols() != w.ncols() {
        return Err(OpError::Shape {
            op: OP,
            what: "input",
            got: x.shape().to_vec(),
            expected: format!(
                "[N, {}] to match weight [out, in] = {:?}",
                w.ncols(),
                w.shape()
            ),
        });
    }
    Ok(())
}

/// Forward pass: `y[n, o] = sum_i x[n, i] * w[o, i] + b[o]`.
///
/// `x` is `[N, in]`, `w` is `[out, in]`, `b` (optional) is `[out]`; returns `[N, out]`.
pub fn dense_forward<T: Real>(
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    b: Option<ArrayView1<T>>,
) -> Result<Array2<T>, OpError> {
    check_x_w(&x, &w)?;
    let mut y = x.dot(&w.t());
    if let Some(b) = b {
        same_shape(OP, "bias", b.shape(), &[w.nrows()])?;
        y += &b;
    }
    Ok(y)
}

/// Backward pass given the upstream gradient `dy` (`[N, out]`) and the forward's `x` and `w`:
/// `dx = dy W`, `dW = dy^T x`, `db = sum_n dy[n, :]`.
pub fn dense_backward<T: Real>(
    dy: ArrayView2<T>,
    x: ArrayView2<T>,
    w: ArrayView2<T>,
) -> Result<DenseGrads<T>, OpError> {
    check_x_w(&x, &w)?;
    same_shape(OP, "upstream gradient", dy.shape(), &[x.nrows(), w.nrows()])?;
    Ok(DenseGrads {
        dx: dy.dot(&w),
        dw: dy.t().dot(&x),
        db: dy.sum_axis(Axis(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::{Ix1, Ix2};

    #[test]
    fn forward_matches_hand_computed() {
        let x = ndarray::array![[1.0f64, 2.0], [3.0, -1.0]];
        let w = ndarray::array![[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]];
        let b = ndarray::array![0.1, 0.2, 0.3];
        let y = dense_forward(x.view(), w.view(), Some(b.view())).unwrap();
        let expected = ndarray::array![[1.1, 4.7, 1.3], [3.1, -0.3, -3.7]];
        for (a, e) in y.iter().zip(expected.iter()) {
            assert!((a - e).abs() < 1e-12, "{y:?}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (seed, (n, fin, fout)) in [(1u64, (3, 5, 4)), (2, (1, 1, 1)), (3, (7, 2, 9))] {
            let x = random_array::<Ix2>(&[n, fin], seed);
            let w = random_array::<Ix2>(&[fout, fin], seed + 100);
            let b = random_array::<Ix1>(&[fout], seed + 200);
            let dy = random_array::<Ix2>(&[n, fout], seed + 300);
            let loss = |x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>| {
                (dense_forward(x.view(), w.view(), Some(b.view())).unwrap() * &dy).sum()
            };
            let g = dense_backward(dy.view(), x.view(), w.view()).unwrap();
            assert_grad_close(&g.dx, &numeric_grad(&x, |x| loss(x, &w, &b)), "dx");
            assert_grad_close(&g.dw, &numeric_grad(&w, |w| loss(&x, w, &b)), "dw");
            assert_grad_close(&g.db, &numeric_grad(&b, |b| loss(&x, &w, b)), "db");
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let x = Array2::<f32>::zeros((2, 3));
        let w = Array2::<f32>::zeros((4, 5));
        assert!(matches!(
            dense_forward(x.view(), w.view(), None),
            Err(OpError::Shape { .. })
        ));
        let w = Array2::<f32>::zeros((4, 3));
        let b = Array1::<f32>::zeros(3);
        assert!(matches!(
            dense_forward(x.view(), w.view(), Some(b.view())),
            Err(OpError::Shape { what: "bias", .. })
        ));
        let dy = Array2::<f32>::zeros((2, 3));
        assert!(dense_backward(dy.view(), x.view(), w.view()).is_err());
    }
}
