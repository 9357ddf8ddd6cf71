//! Fused softmax + cross-entropy over integer labels with label smoothing (PyTorch semantics).

use ndarray::{Array2, ArrayView2};

use super::check::{in_range, non_empty};
use super::error::OpError;
use super::real::Real;

const OP: &str = "cross_entropy";

/// What the fused forward returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropyOutput<T> {
    /// Mean loss over the batch.
    pub loss: T,
    /// Row-wise softmax of the logits, `[N, C]`; the backward pass needs it.
    pub probs: Array2<T>,
}

fn check_inputs(
    rows: usize,
    classes: usize,
    labels: &[usize],
    label_smoothing: f64,
) -> Result<(), OpError> {
    in_range(
        OP,
        "label_smoothing",
        label_smoothing,
        0.0,
        1.0,
        true,
        "must be in [0, 1]",
    )?;
    non_empty(OP, "batch", rows)?;
    non_empty(OP, "class axis", classes)?;
    if labels.len() != rows {
        return Err(OpError::Shape {
            op: OP,
            what: "labels",
            got: vec![labels.len()],
            expected: format!("one label per logit row ({rows})"),
        });
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(OpError::Label {
            op: OP,
            row,
            label,
            classes,
        });
    }
    Ok(())
}

/// Smoothed target `t[c] = (1 - eps) * [c == label] + eps / C`.
fn target<T: Real>(c: usize, label: usize, classes: usize, eps: f64) -> T {
    let hot = if c == label { 1.0 - eps } else { 0.0 };
    T::of_f64(hot + eps / classes as f64)
}

/// Forward: `loss = -(1/N) sum_n sum_c t[n,c] * log_softmax(z)[n,c]` with the smoothed target
/// `t = (1 - eps) onehot(label) + eps / C`. `log_softmax` is computed stably as
/// `z - max(z) - ln sum exp(z - max(z))`.
///
/// `logits` is `[N, C]`, `labels` has `N` entries in `0..C`, `label_smoothing` (`eps`) in `[0, 1]`.
pub fn softmax_cross_entropy_forward<T: Real>(
    logits: ArrayView2<T>,
    labels: &[usize],
    label_smoothing: f64,
) -> Result<CrossEntropyOutput<T>, OpError> {
    let (rows, classes) = logits.dim();
    check_inputs(rows, classes, labels, label_smoothing)?;
    let mut probs = Array2::zeros((rows, classes));
    let mut total = T::zero();
    for (n, z) in logits.rows().into_iter().enumerate() {
        let m = z.fold(T::neg_infinity(), |a, &b| a.max(b));
        let log_sum = z.mapv(|v| (v - m).exp()).sum().ln();
        for (c, &v) in z.iter().enumerate() {
            let log_p = v - m - log_sum;
            probs[[n, c]] = log_p.exp();
            total -= target::<T>(c, labels[n], classes, label_smoothing) * log_p;
        }
    }
    Ok(CrossEntropyOutput {
        loss: total / T::of_f64(rows as f64),
        probs,
    })
}

/// Backward: `dz = upstream * (probs - t) / N` (`upstream` is `dL/dloss`, 1 at the top).
pub fn softmax_cross_entropy_backward<T: Real>(
    probs: ArrayView2<T>,
    labels: &[usize],
    label_smoothing: f64,
    upstream: T,
) -> Result<Array2<T>, OpError> {
    let (rows, classes) = probs.dim();
    check_inputs(rows, classes, labels, label_smoothing)?;
    let scale = upstream / T::of_f64(rows as f64);
    Ok(Array2::from_shape_fn((rows, classes), |(n, c)| {
        (probs[[n, c]] - target::<T>(c, labels[n], classes, label_smoothing)) * scale
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::reference::testutil::{assert_grad_close, numeric_grad, random_array};
    use ndarray::Ix2;

    #[test]
    fn matches_pytorch_values() {
        // torch.nn.functional.cross_entropy(z, y, label_smoothing=eps) in float64, torch 2.15.
        let z = ndarray::array![[1.0f64, 2.0, 0.5], [-1.0, 0.0, 3.0]];
        let labels = [1, 0];
        let plain = softmax_cross_entropy_forward(z.view(), &labels, 0.0)
            .unwrap()
            .loss;
        let smooth = softmax_cross_entropy_forward(z.view(), &labels, 0.1)
            .unwrap()
            .loss;
        assert!((plain - 2.265126343932687).abs() < 1e-14, "{plain}");
        assert!((smooth - 2.2234596772660207).abs() < 1e-14, "{smooth}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (seed, (n, c, eps)) in [
            (1u64, (4, 5, 0.0)),
            (2, (3, 7, 0.1)),
            (3, (1, 2, 0.3)),
            (4, (5, 1, 0.2)),
        ] {
            let z = random_array::<Ix2>(&[n, c], seed) * 4.0;
            let labels: Vec<usize> = (0..n).map(|i| (i * 3 + seed as usize) % c).collect();
            let out = softmax_cross_entropy_forward(z.view(), &labels, eps).unwrap();
            let g = softmax_cross_entropy_backward(out.probs.view(), &labels, eps, 1.7).unwrap();
            let num = numeric_grad(&z, |z| {
                1.7 * softmax_cross_entropy_forward(z.view(), &labels, eps)
                    .unwrap()
                    .loss
            });
            assert_grad_close(&g, &num, "cross_entropy dz");
        }
    }

    #[test]
    fn huge_logits_stay_finite() {
        let z = ndarray::array![[1e4f32, -1e4, 0.0]];
        let out = softmax_cross_entropy_forward(z.view(), &[1], 0.0).unwrap();
        assert!((out.loss - 2e4).abs() < 1.0, "{}", out.loss);
    }

    #[test]
    fn bad_labels_and_shapes_are_errors() {
        let z = Array2::<f32>::zeros((2, 3));
        assert!(matches!(
            softmax_cross_entropy_forward(z.view(), &[0, 3], 0.0),
            Err(OpError::Label {
                row: 1,
                label: 3,
                classes: 3,
                ..
            })
        ));
        assert!(matches!(
            softmax_cross_entropy_forward(z.view(), &[0], 0.0),
            Err(OpError::Shape { .. })
        ));
        assert!(softmax_cross_entropy_forward(z.view(), &[0, 1], 1.5).is_err());
        let empty = Array2::<f32>::zeros((0, 3));
        assert!(matches!(
            softmax_cross_entropy_forward(empty.view(), &[], 0.0),
            Err(OpError::Empty { .. })
        ));
    }
}
