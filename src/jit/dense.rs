//! The matrix products of a dense layer (`lower::Kernel::Dense` / `DenseBackward`) as
//! [`GemmSpec`]s: which variant, which sizes, which fused epilogue.

use super::gemm::{GemmOp, GemmSpec};

/// Shape of a dense layer at one batch size: `x [batch, inputs]`, `W [outputs, inputs]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DenseShape {
    /// Rows of the batch.
    pub batch: usize,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

/// The three products of one dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DenseGemms {
    /// `y = act(x·Wᵀ + b)`: NT, M = batch, K = inputs, N = outputs.
    pub forward: GemmSpec,
    /// `dx = dy·W`: NN, M = batch, K = outputs, N = inputs.
    pub input_grad: GemmSpec,
    /// `dW = dyᵀ·x`: TN, M = outputs, K = batch, N = inputs.
    pub weight_grad: GemmSpec,
}

impl DenseShape {
    /// The products for this layer; `bias` and `relu` fuse into the forward epilogue
    /// (the bias gradient is a column sum of `dy`, not a product).
    pub fn gemms(&self, bias: bool, relu: bool) -> DenseGemms {
        let plain = |m, k, n, op| GemmSpec {
            m,
            n,
            k,
            op,
            bias: false,
            relu: false,
            accumulate: false,
        };
        DenseGemms {
            forward: GemmSpec {
                bias,
                relu,
                ..plain(self.batch, self.inputs, self.outputs, GemmOp::Nt)
            },
            input_grad: plain(self.batch, self.outputs, self.inputs, GemmOp::Nn),
            weight_grad: plain(self.outputs, self.batch, self.inputs, GemmOp::Tn),
        }
    }
}
