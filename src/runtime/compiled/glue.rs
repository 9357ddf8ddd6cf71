//! The shape of a convolution as the executor sees it, and the one host loop
//! left around the generated kernels: small transposes (`[P, O]` products back to NCHW,
//! Wᵀ, dWᵀ), a single pass over a few thousand floats.

/// Window geometry of one convolution, sizes per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub pad: usize,
    /// Dilation.
    pub dilation: usize,
}

impl ConvGeom {
    /// Elements of one input sample.
    pub fn in_len(&self) -> usize {
        self.channels * self.height * self.width
    }
    /// Output positions per channel.
    pub fn plane(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Rows of the unrolled matrix (`C·k·k`).
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    /// Elements of one sample's unrolled matrix.
    pub fn col_len(&self) -> usize {
        self.col_rows() * self.plane()
    }
    /// Elements of one output sample.
    pub fn out_len(&self) -> usize {
        self.out_channels * self.plane()
    }
}

/// `out[j, i] = src[i, j]` for `src` of `rows × cols`.
pub fn transpose(src: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = src[i * cols + j];
        }
    }
}
