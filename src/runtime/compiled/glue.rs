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

/// The output columns `lo..hi` whose tap `t` falls inside an input axis of `len` (every
/// other column reads padding), and the input index of column `lo`.
fn valid_span(g: &ConvGeom, t: usize, len: usize, outs: usize) -> (usize, usize, usize) {
    let mut lo = 0;
    while lo < outs && g.source(lo, t, len).is_none() {
        lo += 1;
    }
    let mut hi = lo;
    while hi < outs && g.source(hi, t, len).is_some() {
        hi += 1;
    }
    let first = g.source(lo, t, len).unwrap_or(0);
    (lo, hi, first)
}

/// Unrolls one sample `[C, H, W]` into `[C·k·k, OH·OW]` (the reference layout). Each row
/// segment is a contiguous copy (stride 1) or a strided gather between zero borders.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (k, plane, hw) = (g.kernel, g.plane(), g.height * g.width);
    for c in 0..g.channels {
        let img = &x[c * hw..(c + 1) * hw];
        for i in 0..k {
            for j in 0..k {
                let row = (c * k + i) * k + j;
                let dst = &mut col[row * plane..(row + 1) * plane];
                let (lo, hi, first) = valid_span(g, j, g.width, g.out_w);
                for oh in 0..g.out_h {
                    let out = &mut dst[oh * g.out_w..(oh + 1) * g.out_w];
                    let Some(ih) = g.source(oh, i, g.height) else {
                        out.fill(0.0);
                        continue;
                    };
                    let src = &img[ih * g.width..(ih + 1) * g.width];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    if g.stride == 1 {
                        out[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                    } else {
                        for (n, o) in out[lo..hi].iter_mut().enumerate() {
                            *o = src[first + n * g.stride];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `[C·k·k, OH·OW]` back into `[C, H, W]`, summing overlapping windows (overwrites).
/// Contributions are added in (c, i, j, oh, ow) order.
pub fn col2im(g: &ConvGeom, col: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    let (k, plane, hw) = (g.kernel, g.plane(), g.height * g.width);
    for c in 0..g.channels {
        let img = &mut dx[c * hw..(c + 1) * hw];
        for i in 0..k {
            for j in 0..k {
                let row = (c * k + i) * k + j;
                let src = &col[row * plane..(row + 1) * plane];
                let (lo, hi, first) = valid_span(g, j, g.width, g.out_w);
                for oh in 0..g.out_h {
                    let Some(ih) = g.source(oh, i, g.height) else {
                        continue;
                    };
                    let line = &mut img[ih * g.width..(ih + 1) * g.width];
                    let seg = &src[oh * g.out_w + lo..oh * g.out_w + hi];
                    if g.stride == 1 {
                        for (d, v) in line[first..first + seg.len()].iter_mut().zip(seg) {
                            *d += v;
                        }
                    } else {
                        for (n, v) in seg.iter().enumerate() {
                            line[first + n * g.stride] += v;
                        }
                    }
                }
            }
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

/// Geometry of a max pooling over one plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Square window.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding (never selected: windows are clipped to the input).
    pub pad: usize,
}

impl PoolGeom {
    /// In-bounds input range of output coordinate `o` along an axis of `len`.
    fn window(&self, o: usize, len: usize) -> std::ops::Range<usize> {
        let start = (o * self.stride).saturating_sub(self.pad);
        let end = (o * self.stride + self.kernel)
            .saturating_sub(self.pad)
            .min(len);
        start..end.max(start)
    }
}

/// Max pooling of one plane: the maximum and its plane-local flat index (as f32), with the
/// reference's (PyTorch's) rules: first maximum wins ties, NaN propagates.
///
/// A whole output row is updated per window tap (rows top to bottom, taps left to right —
/// each window still sees its elements in row-major order), so the inner loop runs over
/// independent outputs instead of one serial compare chain per window.
pub fn maxpool_plane(g: &PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [f32]) {
    for oh in 0..g.out_h {
        let best = &mut y[oh * g.out_w..(oh + 1) * g.out_w];
        let at = &mut argmax[oh * g.out_w..(oh + 1) * g.out_w];
        let rows = g.window(oh, g.height);
        for (ow, (b, a)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
            *b = f32::NEG_INFINITY;
            *a = (rows.start * g.width + g.window(ow, g.width).start) as f32;
        }
        for ih in rows {
            let line = &x[ih * g.width..(ih + 1) * g.width];
            for kj in 0..g.kernel {
                for (ow, (b, a)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
                    let Some(iw) = (ow * g.stride + kj)
                        .checked_sub(g.pad)
                        .filter(|&i| i < g.width)
                    else {
                        continue;
                    };
                    let v = line[iw];
                    // Bitwise select: on random data the comparison is unpredictable, and
                    // the compiler turns `if` selects into branches that mispredict.
                    let mask = 0u32.wrapping_sub(u32::from(v > *b || v.is_nan()));
                    let idx = (ih * g.width + iw) as f32;
                    *b = f32::from_bits((v.to_bits() & mask) | (b.to_bits() & !mask));
                    *a = f32::from_bits((idx.to_bits() & mask) | (a.to_bits() & !mask));
                }
            }
        }
    }
}

/// Backward of [`maxpool_plane`]: `dx` zeroed, then each `dy` added at its argmax.
pub fn maxpool_backward_plane(dy: &[f32], argmax: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (d, a) in dy.iter().zip(argmax) {
        // Indices were written by `maxpool_plane` for this plane, so they are in bounds;
        // `get_mut` keeps a corrupted value from panicking.
        if let Some(slot) = dx.get_mut(*a as usize) {
            *slot += d;
        }
    }
}
