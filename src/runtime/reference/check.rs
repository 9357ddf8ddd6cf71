//! Shape checks shared by the ops, turning mismatches into [`OpError::Shape`].

use super::error::OpError;

/// Requires `got` to equal `expected` exactly.
pub(crate) fn same_shape(
    op: &'static str,
    what: &'static str,
    got: &[usize],
    expected: &[usize],
) -> Result<(), OpError> {
    if got != expected {
        return Err(OpError::Shape {
            op,
            what,
            got: got.to_vec(),
            expected: format!("{expected:?}"),
        });
    }
    Ok(())
}

/// Requires a non-empty input (at least one element).
pub(crate) fn non_empty(op: &'static str, what: &'static str, len: usize) -> Result<(), OpError> {
    if len == 0 {
        return Err(OpError::Empty { op, what });
    }
    Ok(())
}

/// Requires `value` to be finite and in `[lo, hi)` (or `[lo, hi]` when `hi_inclusive`).
pub(crate) fn in_range(
    op: &'static str,
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    hi_inclusive: bool,
    reason: &'static str,
) -> Result<(), OpError> {
    let ok = value.is_finite()
        && value >= lo
        && if hi_inclusive {
            value <= hi
        } else {
            value < hi
        };
    if !ok {
        return Err(OpError::HyperParameter {
            op,
            name,
            value: value.to_string(),
            reason,
        });
    }
    Ok(())
}
