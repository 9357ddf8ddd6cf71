//! Reference (oracle) implementations of every tensor operation ammc's training needs.
//!
//! Plain, obviously-right ndarray code, forward and backward, generic over the float type
//! ([`Real`]: `f32` for running, `f64` for gradient checks). The JIT backend is checked
//! against these, and the interpreter's kernel plan calls them directly. Exact semantics
//! (formulas, defaults, tie rules) are in `docs/ops.md`.
//!
//! Layout: NCHW for images, `[N, F]` for dense data, weights in PyTorch layout.

pub mod check;
pub mod conv2d;
pub mod dense;
pub mod error;
pub mod geometry;
pub mod im2col;
pub mod real;
#[cfg(test)]
mod testutil;

pub use conv2d::{Conv2dGrads, Conv2dSpec, conv2d_backward, conv2d_forward, conv2d_output_hw};
pub use dense::{DenseGrads, dense_backward, dense_forward};
pub use error::OpError;
pub use geometry::{Hw, window_output_len};
pub use im2col::{col2im, im2col};
pub use real::Real;
