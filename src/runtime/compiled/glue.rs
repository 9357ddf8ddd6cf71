//! Host loops for the cheap data-movement pieces around the generated GEMMs of a
//! convolution (unrolling windows, folding them back, per-channel bias and sums). Each is
//! a single pass over memory, a few percent of a convolution's time.

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

    /// Input coordinate seen by output coordinate `o` at tap `t` along an axis of `len`.
    fn source(&self, o: usize, t: usize, len: usize) -> Option<usize> {
        (o * self.stride + t * self.dilation)
            .checked_sub(self.pad)
            .filter(|&i| i < len)
    }
}

/// Unrolls one sample `[C, H, W]` into `[C·k·k, OH·OW]` (the reference layout).
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (k, plane) = (g.kernel, g.plane());
    for c in 0..g.channels {
        let img = &x[c * g.height * g.width..(c + 1) * g.height * g.width];
        for i in 0..k {
            for j in 0..k {
                let row = (c * k + i) * k + j;
                let dst = &mut col[row * plane..(row + 1) * plane];
                for oh in 0..g.out_h {
                    let out = &mut dst[oh * g.out_w..(oh + 1) * g.out_w];
                    match g.source(oh, i, g.height) {
                        None => out.fill(0.0),
                        Some(ih) => {
                            let src = &img[ih * g.width..(ih + 1) * g.width];
                            for (ow, o) in out.iter_mut().enumerate() {
                                *o = g.source(ow, j, g.width).map_or(0.0, |iw| src[iw]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Folds `[C·k·k, OH·OW]` back into `[C, H, W]`, summing overlapping windows (overwrites).
pub fn col2im(g: &ConvGeom, col: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    let (k, plane) = (g.kernel, g.plane());
    for c in 0..g.channels {
        let img = &mut dx[c * g.height * g.width..(c + 1) * g.height * g.width];
        for i in 0..k {
            for j in 0..k {
                let row = (c * k + i) * k + j;
                let src = &col[row * plane..(row + 1) * plane];
                for oh in 0..g.out_h {
                    let Some(ih) = g.source(oh, i, g.height) else {
                        continue;
                    };
                    let line = &mut img[ih * g.width..(ih + 1) * g.width];
                    for ow in 0..g.out_w {
                        if let Some(iw) = g.source(ow, j, g.width) {
                            line[iw] += src[oh * g.out_w + ow];
                        }
                    }
                }
            }
        }
    }
}

/// In place `y[c, p] = act(y[c, p] + bias[c])` for one sample; ReLU maps NaN to 0 like the
/// reference.
pub fn channel_bias_act(y: &mut [f32], bias: Option<&[f32]>, plane: usize, relu: bool) {
    for (c, row) in y.chunks_exact_mut(plane).enumerate() {
        let b = bias.map_or(0.0, |b| b[c]);
        for v in row {
            let s = *v + b;
            *v = if relu {
                if s > 0.0 { s } else { 0.0 }
            } else {
                s
            };
        }
    }
}

/// `g = y > 0 ? dy : 0` elementwise (the ReLU derivative taken from the output).
pub fn relu_mask(y: &[f32], dy: &[f32], g: &mut [f32]) {
    for ((g, y), d) in g.iter_mut().zip(y).zip(dy) {
        *g = if *y > 0.0 { *d } else { 0.0 };
    }
}

/// `sums[c] += Σ_p g[c, p]` for one sample (in order).
pub fn channel_sums(g: &[f32], plane: usize, sums: &mut [f32]) {
    for (c, row) in g.chunks_exact(plane).enumerate() {
        let mut s = 0.0f32;
        for v in row {
            s += v;
        }
        sums[c] += s;
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
