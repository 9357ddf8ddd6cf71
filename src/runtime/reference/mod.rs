//! Reference (oracle) implementations of every tensor operation ammc's training needs.
//!
//! Plain, obviously-right ndarray code, forward and backward, generic over the float type
//! ([`Real`]: `f32` for running, `f64` for gradient checks). The JIT backend is checked
//! against these, and the interpreter's kernel plan calls them directly. Exact semantics
//! (formulas, defaults, tie rules) are in `docs/ops.md`.
//!
//! Layout: NCHW for images, `[N, F]` for dense data, weights in PyTorch layout.

pub mod accuracy;
pub mod activation;
pub mod adam;
pub mod avgpool2d;
pub mod batchnorm;
mod check;
pub mod clip;
pub mod conv2d;
pub mod cross_entropy;
pub mod dense;
pub mod dropout;
pub mod erf;
pub mod error;
pub mod exec;
pub mod flatten;
pub mod gelu;
pub mod geometry;
pub mod global_avgpool;
pub mod im2col;
pub mod init;
pub mod maxpool2d;
pub mod pool2d;
pub mod real;
pub mod regression_loss;
pub mod rnn;
pub mod schedule;
pub mod seq;
pub mod sgd;
pub mod softmax;
#[cfg(test)]
mod testutil;

pub use accuracy::{accuracy, predict_classes};
pub use activation::{
    LEAKY_RELU_DEFAULT_SLOPE, leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward,
    sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward,
};
pub use adam::{AdamConfig, AdamState, adam_step, adamw_step};
pub use avgpool2d::{AvgPoolDivisor, avgpool2d_backward, avgpool2d_forward};
pub use batchnorm::{
    BatchNormGrads, BatchNormRunning, BatchNormSaved, BatchNormSpec, BatchNormTrainOutput,
    batchnorm_backward, batchnorm_backward_eval, batchnorm_forward_eval, batchnorm_forward_train,
};
pub use clip::clip_grad_norm;
pub use conv2d::{Conv2dGrads, Conv2dSpec, conv2d_backward, conv2d_forward, conv2d_output_hw};
pub use cross_entropy::{
    CrossEntropyOutput, softmax_cross_entropy_backward, softmax_cross_entropy_forward,
};
pub use dense::{DenseGrads, dense_backward, dense_forward};
pub use dropout::{dropout_backward, dropout_forward, dropout_mask};
pub use erf::{erf, erfc};
pub use error::OpError;
pub use flatten::{flatten_backward, flatten_forward};
pub use gelu::{gelu_backward, gelu_forward};
pub use geometry::{Hw, window_output_len};
pub use global_avgpool::{global_avgpool_backward, global_avgpool_forward};
pub use im2col::{col2im, im2col};
pub use init::{
    BatchNormParams, Conv2dParams, DenseParams, init_batchnorm, init_conv2d, init_dense,
    uniform_array,
};
pub use maxpool2d::{MaxPool2dOutput, maxpool2d_backward, maxpool2d_forward};
pub use pool2d::{Pool2dSpec, pool2d_output_hw};
pub use real::Real;
pub use regression_loss::{mae_backward, mae_forward, mse_backward, mse_forward};
pub use schedule::{LrDecay, LrSchedule};
pub use sgd::{SgdConfig, SgdState, sgd_step};
pub use softmax::{softmax_backward, softmax_forward};
