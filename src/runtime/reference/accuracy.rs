//! Classification accuracy and arg-max predictions.

use ndarray::ArrayView2;

use super::check::non_empty;
use super::error::OpError;
use super::real::Real;

const OP: &str = "accuracy";

/// Predicted class of each row: the index of its largest logit. Ties go to the *first*
/// maximum (lowest index); a NaN logit never compares greater, so it wins only if it is first
/// and every later value is NaN too.
pub fn predict_classes<T: Real>(logits: ArrayView2<T>) -> Vec<usize> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best
        })
        .collect()
}

/// Fraction of rows whose [`predict_classes`] equals the label, in `[0, 1]`.
pub fn accuracy<T: Real>(logits: ArrayView2<T>, labels: &[usize]) -> Result<f64, OpError> {
    non_empty(OP, "batch", logits.nrows())?;
    non_empty(OP, "class axis", logits.ncols())?;
    if labels.len() != logits.nrows() {
        return Err(OpError::Shape {
            op: OP,
            what: "labels",
            got: vec![labels.len()],
            expected: format!("one label per logit row ({})", logits.nrows()),
        });
    }
    let correct = predict_classes(logits)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(correct as f64 / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_correct_rows_with_first_max_ties() {
        let z = ndarray::array![
            [0.1f32, 0.9, 0.0],
            [2.0, 2.0, 1.0],
            [0.0, -1.0, 3.0],
            [5.0, 1.0, 5.0]
        ];
        assert_eq!(predict_classes(z.view()), vec![1, 0, 2, 0]);
        assert_eq!(accuracy(z.view(), &[1, 0, 1, 2]).unwrap(), 0.5);
        assert!(accuracy(z.view(), &[1]).is_err());
        let empty = ndarray::Array2::<f32>::zeros((0, 3));
        assert!(accuracy(empty.view(), &[]).is_err());
    }
}
