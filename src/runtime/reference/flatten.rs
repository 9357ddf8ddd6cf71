//! Flatten: `[N, d1, d2, ...] -> [N, d1*d2*...]` in row-major (C) order, like `torch.flatten(x, 1)`.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, IxDyn};

use super::check::same_shape;
use super::error::OpError;
use super::real::Real;

const OP: &str = "flatten";

/// Forward pass: keeps axis 0 and merges the rest in row-major order.
pub fn flatten_forward<T: Real>(x: ArrayViewD<T>) -> Result<Array2<T>, OpError> {
    if x.ndim() < 1 {
        return Err(OpError::Shape {
            op: OP,
            what: "input",
            got: x.shape().to_vec(),
            expected: "at least one (batch) axis".into(),
        });
    }
    let n = x.shape()[0];
    let rest: usize = x.shape()[1..].iter().product();
    // `to_shape` with the default row-major order copies only if `x` is not contiguous.
    let flat = x.to_shape((n, rest)).map_err(|_| OpError::Shape {
        op: OP,
        what: "input",
        got: x.shape().to_vec(),
        expected: "a reshapeable array".into(),
    })?;
    Ok(flat.into_owned())
}

/// Backward pass: reshapes `dy` (`[N, prod]`) back to the forward input's shape.
pub fn flatten_backward<T: Real>(
    dy: ArrayView2<T>,
    input_shape: &[usize],
) -> Result<ArrayD<T>, OpError> {
    let n = input_shape.first().copied().unwrap_or(0);
    let rest: usize = input_shape.iter().skip(1).product();
    same_shape(OP, "upstream gradient", dy.shape(), &[n, rest])?;
    let back = dy
        .to_shape(IxDyn(input_shape))
        .map_err(|_| OpError::Shape {
            op: OP,
            what: "upstream gradient",
            got: dy.shape().to_vec(),
            expected: format!("reshapeable to {input_shape:?}"),
        })?;
    Ok(back.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_round_trips_in_row_major_order() {
        let x =
            ndarray::Array::from_shape_vec(IxDyn(&[2, 2, 1, 3]), (0..12).map(f64::from).collect())
                .unwrap();
        let y = flatten_forward(x.view()).unwrap();
        assert_eq!(y.shape(), &[2, 6]);
        assert_eq!(y.row(1).to_vec(), vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        let back = flatten_backward(y.view(), &[2, 2, 1, 3]).unwrap();
        assert_eq!(back, x);
        // A transposed (non-contiguous) view still flattens in logical row-major order.
        let t = ndarray::array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        let t = t.t();
        assert_eq!(
            flatten_forward(t.view()).unwrap(),
            ndarray::array![[1.0, 3.0], [2.0, 4.0]]
        );
    }

    #[test]
    fn wrong_gradient_shape_is_an_error() {
        let dy = Array2::<f32>::zeros((2, 5));
        assert!(flatten_backward(dy.view(), &[2, 2, 3]).is_err());
    }
}
