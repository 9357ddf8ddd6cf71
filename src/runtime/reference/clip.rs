//! Gradient clipping by the global L2 norm over a set of gradients
//! (PyTorch's `clip_grad_norm_` with `norm_type = 2`).

use super::error::OpError;
use super::real::Real;

const OP: &str = "clip_grad_norm";

/// Scales every gradient in `grads` by `max_norm / (norm + 1e-6)` if that factor is below 1,
/// where `norm = sqrt(sum over all gradients and elements of g^2)` (accumulated in `f64`).
/// Returns the pre-clip `norm`.
///
/// Unlike PyTorch (which would silently turn the gradients into NaN), a non-finite norm is an
/// [`OpError::NonFinite`] and the gradients are left untouched.
pub fn clip_grad_norm<T: Real>(grads: &mut [&mut [T]], max_norm: f64) -> Result<f64, OpError> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(OpError::HyperParameter {
            op: OP,
            name: "max_norm",
            value: max_norm.to_string(),
            reason: "must be positive and finite",
        });
    }
    let sum_sq: f64 = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&v| {
            let v = v.as_f64();
            v * v
        })
        .sum();
    let norm = sum_sq.sqrt();
    if !norm.is_finite() {
        return Err(OpError::NonFinite {
            op: OP,
            what: "global gradient norm",
            value: norm,
        });
    }
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::of_f64(coef);
        for g in grads.iter_mut() {
            for v in g.iter_mut() {
                *v *= c;
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_only_when_above_max() {
        let mut a = vec![3.0f64];
        let mut b = vec![0.0f64, 4.0];
        let norm = clip_grad_norm(&mut [&mut a, &mut b], 1.0).unwrap();
        assert_eq!(norm, 5.0);
        let coef = 1.0 / (5.0 + 1e-6);
        assert_eq!(a, vec![3.0 * coef]);
        assert_eq!(b, vec![0.0, 4.0 * coef]);
        let mut c = vec![0.3f64, 0.4];
        let norm = clip_grad_norm(&mut [&mut c], 1.0).unwrap();
        assert!((norm - 0.5).abs() < 1e-15);
        assert_eq!(c, vec![0.3, 0.4]);
    }

    #[test]
    fn non_finite_and_bad_max_are_errors() {
        let mut a = vec![f32::NAN, 1.0];
        assert!(matches!(
            clip_grad_norm(&mut [&mut a], 1.0),
            Err(OpError::NonFinite { .. })
        ));
        assert!(a[1] == 1.0);
        let mut b = vec![1.0f32];
        assert!(clip_grad_norm(&mut [&mut b], 0.0).is_err());
        assert!(clip_grad_norm(&mut [&mut b], f64::NAN).is_err());
    }
}
