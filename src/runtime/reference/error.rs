//! The error type every reference op returns on bad input.

use miette::Diagnostic;
use thiserror::Error;

/// Why a reference op refused its input. Each variant names the op so that a message
/// coming out of a deep training loop still says where it came from.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum OpError {
    /// An input array has a shape the op cannot accept (wrong rank, or not matching another input).
    #[error("{op}: {what} has shape {got:?}, expected {expected}")]
    #[diagnostic(
        code(amm::ops::shape),
        help(
            "check the layer sizes: images are NCHW, dense inputs are [N, F], weights follow PyTorch layout"
        )
    )]
    Shape {
        /// The op that rejected the input.
        op: &'static str,
        /// Which input (e.g. "weight", "upstream gradient").
        what: &'static str,
        /// The shape that was passed.
        got: Vec<usize>,
        /// A description of the accepted shape.
        expected: String,
    },
    /// A hyper-parameter is outside its valid range.
    #[error("{op}: invalid {name} = {value}: {reason}")]
    #[diagnostic(
        code(amm::ops::hyper_parameter),
        help("see docs/ops.md for the valid range of each hyper-parameter")
    )]
    HyperParameter {
        /// The op that rejected the value.
        op: &'static str,
        /// The hyper-parameter's name.
        name: &'static str,
        /// The value that was passed, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// The input is too small for the window (kernel, dilation, padding) to fit even once.
    #[error("{op}: input {height}x{width} is too small: {reason}")]
    #[diagnostic(
        code(amm::ops::too_small),
        help("use a smaller kernel or stride, more padding, or pool less before this layer")
    )]
    TooSmall {
        /// The op that rejected the input.
        op: &'static str,
        /// Input height (without padding).
        height: usize,
        /// Input width (without padding).
        width: usize,
        /// What does not fit.
        reason: String,
    },
    /// An input has no elements where the op needs at least some (e.g. a mean over nothing).
    #[error("{op}: {what} is empty")]
    #[diagnostic(
        code(amm::ops::empty),
        help("batches must contain at least one example")
    )]
    Empty {
        /// The op that rejected the input.
        op: &'static str,
        /// Which input is empty.
        what: &'static str,
    },
    /// A class label is not smaller than the number of classes.
    #[error("{op}: label {label} at row {row} is out of range for {classes} classes")]
    #[diagnostic(
        code(amm::ops::label),
        help(
            "labels must be integers in 0..classes; check the head's class count against the data"
        )
    )]
    Label {
        /// The op that rejected the label.
        op: &'static str,
        /// Batch row of the bad label.
        row: usize,
        /// The label value.
        label: usize,
        /// Number of classes (logit columns).
        classes: usize,
    },
    /// A token id is not a whole number below the embedding's vocabulary size.
    #[error("{op}: token id {value} at row {row} is not a whole number in 0..{vocab}")]
    #[diagnostic(
        code(amm::ops::token_id),
        help(
            "token ids must be integers from 0 to vocab - 1: raise `vocab` of `embedding`, or check the data (normalisation changes ids: use normalize = \"none\")"
        )
    )]
    TokenId {
        /// The op that rejected the id.
        op: &'static str,
        /// Batch row of the bad id.
        row: usize,
        /// The id as read.
        value: f64,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A value that must be finite (e.g. the global gradient norm) is NaN or infinite.
    #[error("{op}: {what} is not finite ({value})")]
    #[diagnostic(
        code(amm::ops::non_finite),
        help(
            "training diverged: lower the learning rate, or clip gradients with a smaller max norm"
        )
    )]
    NonFinite {
        /// The op that found the value.
        op: &'static str,
        /// What was not finite.
        what: &'static str,
        /// The value.
        value: f64,
    },
}
