//! Generated kernels around a convolution computed as im2col + GEMM: the unrolling
//! (`im2col`) and its adjoint (`col2im`), the per-channel bias + activation epilogue, the
//! bias gradients (per channel and per column), and the in-place ReLU mask of the backward.
//!
//! Every size is a compile-time constant; the number of samples a kernel covers is part of
//! its spec, so an executor can compile one kernel per chunk size and pass sub-slices. Each
//! kernel's doc states why its results do not depend on that chunking.

use std::ops::Range;

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::codegen::{
    UNROLL_VECTORS, buf_flags, check_len, copy, counted_loop, fill, mask_x4, offset, plane_sum,
    relu_f32, relu_x4, repeat, shuffle_x4, zero_x4,
};
use super::elementwise::emit_map;
use super::error::JitError;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};
use crate::lower::window_output_len;

/// Geometry of an im2col / col2im over a chunk of `samples` images: input `x [samples,
/// channels, height, width]`, unrolled `col [samples, rows, cols]` with `rows = channels·k·k`
/// ordered `(c, i, j)` and `cols = out_h·out_w` ordered `(oh, ow)` — the layout of the
/// reference `im2col`, so `W [O, rows] · col_s` is the convolution of sample `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Im2colSpec {
    /// Input channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// Square kernel size `k`.
    pub kernel: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Dilation (both axes).
    pub dilation: usize,
    /// Images in this chunk.
    pub samples: usize,
}

impl Im2colSpec {
    /// Output height `floor((H + 2p − d(k−1) − 1)/s) + 1`, or 0 if the window does not fit.
    pub fn out_h(&self) -> usize {
        window_output_len(
            self.height,
            self.kernel,
            self.stride,
            self.pad,
            self.dilation,
        )
        .unwrap_or(0)
    }
    /// Output width, as [`Self::out_h`].
    pub fn out_w(&self) -> usize {
        window_output_len(
            self.width,
            self.kernel,
            self.stride,
            self.pad,
            self.dilation,
        )
        .unwrap_or(0)
    }
    /// Rows of one sample's unrolled matrix, `C·k·k`.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    /// Columns of one sample's unrolled matrix, `out_h·out_w`.
    pub fn cols(&self) -> usize {
        self.out_h() * self.out_w()
    }
    /// Elements of `x` (and of `dx`).
    pub fn x_len(&self) -> usize {
        self.samples * self.channels * self.height * self.width
    }
    /// Elements of `col` (and of `dcol`).
    pub fn col_len(&self) -> usize {
        self.samples * self.rows() * self.cols()
    }

    fn validate(&self, kernel: &str) -> Result<(), JitError> {
        let bad = |reason: &str| {
            Err(JitError::InvalidShape {
                kernel: kernel.to_string(),
                reason: reason.to_string(),
            })
        };
        let s = self;
        if [
            s.channels, s.height, s.width, s.kernel, s.stride, s.dilation, s.samples,
        ]
        .contains(&0)
        {
            return bad(
                "channels, height, width, kernel, stride, dilation and samples must be ≥ 1",
            );
        }
        if s.out_h() == 0 || s.out_w() == 0 {
            return bad("the dilated kernel does not fit in the padded input");
        }
        let x = s
            .samples
            .checked_mul(s.channels)
            .and_then(|v| v.checked_mul(s.height))
            .and_then(|v| v.checked_mul(s.width));
        check_len(kernel, "x", x)?;
        let col = s
            .kernel
            .checked_mul(s.kernel)
            .and_then(|v| v.checked_mul(s.channels))
            .and_then(|v| v.checked_mul(s.samples))
            .and_then(|v| v.checked_mul(s.out_h()))
            .and_then(|v| v.checked_mul(s.out_w()));
        check_len(kernel, "col", col)?;
        Ok(())
    }

    fn name(&self, kind: &str) -> String {
        let s = self;
        format!(
            "{kind}_{}x{}x{}x{}_k{}s{}p{}d{}",
            s.samples, s.channels, s.height, s.width, s.kernel, s.stride, s.pad, s.dilation
        )
    }

    /// Per kernel tap along one axis: the output positions whose tap lands inside the input
    /// (a contiguous range, possibly empty) and the tap's offset `t·dilation − pad`.
    fn taps(&self, out: usize, len: usize) -> Vec<Tap> {
        (0..self.kernel)
            .map(|t| {
                let shift = (t * self.dilation) as i64 - self.pad as i64;
                Tap {
                    valid: valid_outputs(out, self.stride, shift, len),
                    shift,
                }
            })
            .collect()
    }
}

/// One kernel tap along an axis (see [`Im2colSpec::taps`]).
struct Tap {
    /// Output positions reading inside the input.
    valid: Range<usize>,
    /// Input index of output 0 at this tap (`t·d − p`, may be negative).
    shift: i64,
}

/// The output positions `o < out` with `o·stride + shift` in `0..len` (contiguous).
fn valid_outputs(out: usize, stride: usize, shift: i64, len: usize) -> Range<usize> {
    let inside = |o: usize| (0..len as i64).contains(&((o * stride) as i64 + shift));
    match (0..out).find(|&o| inside(o)) {
        None => 0..0,
        Some(lo) => lo..(lo..out).find(|&o| !inside(o)).unwrap_or(out),
    }
}

/// A compiled im2col: `x [samples, C, H, W] → col [samples, C·k·k, OH·OW]`, zeros where a
/// window reads padding. Each `col` element is a copy of one input element (or 0), so the
/// result is bit-identical to the reference and to any chunking over samples.
///
/// Code: per (sample, channel) plane a runtime loop; the k·k taps are unrolled with their
/// valid output ranges computed at compile time, so padding costs only the zero fills of
/// the rows/columns outside those ranges and the copy loops have no bounds tests. Stride 1
/// copies with f32x4 loads/stores; stride 2 loads two vectors and picks the even lanes
/// (`shufps`); larger strides copy element by element.
#[derive(Clone, Debug)]
pub struct Im2colKernel {
    spec: Im2colSpec,
    kernel: CompiledKernel,
}

impl Im2colKernel {
    /// Generates and compiles the unrolling for `spec`.
    pub fn compile(jit: &mut JitModule, spec: Im2colSpec) -> Result<Self, JitError> {
        let name = spec.name("im2col");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("x", spec.x_len()),
            ParamSpec::write("col", spec.col_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit_im2col(b, &spec, p[0], p[1]))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &Im2colSpec {
        &self.spec
    }

    /// Unrolls `x` (`spec.x_len()` elements) into `col` (`spec.col_len()`, overwritten).
    pub fn run(&self, x: &[f32], col: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(x), KernelArg::Write(col)])
    }
}

fn emit_im2col(
    b: &mut FunctionBuilder<'_>,
    s: &Im2colSpec,
    x: ir::Value,
    col: ir::Value,
) -> Result<(), JitError> {
    let (oh, ow) = (s.out_h(), s.out_w());
    let (rows_t, cols_t) = (s.taps(oh, s.height), s.taps(ow, s.width));
    let cols = oh * ow;
    let plane_in = (s.height * s.width) as i64 * F32_BYTES;
    let plane_out = (s.kernel * s.kernel * cols) as i64 * F32_BYTES;
    counted_loop(b, s.samples * s.channels, |b, q| {
        let xp = offset(b, x, q, plane_in);
        let cp = offset(b, col, q, plane_out);
        for (i, ti) in rows_t.iter().enumerate() {
            for (j, tj) in cols_t.iter().enumerate() {
                let row0 = (i * s.kernel + j) * cols;
                let (rv, cv) = (&ti.valid, &tj.valid);
                if rv.is_empty() || cv.is_empty() {
                    fill(b, cp, row0, cols, 0.0)?;
                    continue;
                }
                fill(b, cp, row0, rv.start * ow, 0.0)?;
                fill(b, cp, row0 + rv.end * ow, (oh - rv.end) * ow, 0.0)?;
                // First valid output row: its input row and its column segment.
                let x_row0 = (rv.start * s.stride) as i64 + ti.shift;
                repeat(b, rv.len(), 1, |b, r| {
                    let (cseg, coff) = r.addr(
                        b,
                        cp,
                        ow as i64 * F32_BYTES,
                        (row0 + rv.start * ow) as i64 * F32_BYTES,
                    );
                    let (xrow, xoff) = r.addr(
                        b,
                        xp,
                        (s.stride * s.width) as i64 * F32_BYTES,
                        x_row0 * s.width as i64 * F32_BYTES,
                    );
                    let c0 = (i64::from(coff) / F32_BYTES) as usize;
                    let x0 = i64::from(xoff) / F32_BYTES;
                    fill(b, cseg, c0, cv.start, 0.0)?;
                    fill(b, cseg, c0 + cv.end, ow - cv.end, 0.0)?;
                    // Input index of the first valid output column.
                    let first = (cv.start * s.stride) as i64 + tj.shift;
                    gather_row(b, s, cseg, c0 + cv.start, xrow, x0 + first, cv.len())
                })?;
            }
        }
        Ok(())
    })
}

/// `dst[dst0 + t] = src[src0 + t·stride]` for `t in 0..n`, where `src` is one input row
/// and `src0 + (n−1)·stride` its last element read (`< width` from `src0`'s row start).
fn gather_row(
    b: &mut FunctionBuilder<'_>,
    s: &Im2colSpec,
    dst: ir::Value,
    dst0: usize,
    src: ir::Value,
    src0: i64,
    n: usize,
) -> Result<(), JitError> {
    let fl = buf_flags();
    if s.stride == 1 {
        return copy(b, dst, dst0, src, src0 as usize, n);
    }
    let mut done = 0;
    if s.stride == 2 {
        // A group of 4 reads src[e..e+8): safe while that stays inside the row (the row
        // index of src0 is `src0 mod width`, but only the in-row position matters).
        let row_pos = src0.rem_euclid(s.width as i64);
        let safe = (0..n / 4)
            .take_while(|&g| row_pos + (8 * g) as i64 + 8 <= s.width as i64)
            .count();
        repeat(b, safe, UNROLL_VECTORS, |b, g| {
            let (sp, so) = g.addr(b, src, 32, src0 * F32_BYTES);
            let v0 = b.ins().load(types::F32X4, fl, sp, so);
            let v1 = b.ins().load(types::F32X4, fl, sp, so + 16);
            let even = shuffle_x4(b, v0, v1, [0, 2, 4, 6]);
            let (dp, dof) = g.addr(b, dst, 16, dst0 as i64 * F32_BYTES);
            b.ins().store(fl, even, dp, dof);
            Ok(())
        })?;
        done = safe * 4;
    }
    let stride_bytes = s.stride as i64 * F32_BYTES;
    let (src1, dst1) = (src0 + (done as i64) * s.stride as i64, dst0 + done);
    repeat(b, n - done, 4 * UNROLL_VECTORS, |b, t| {
        let (sp, so) = t.addr(b, src, stride_bytes, src1 * F32_BYTES);
        let v = b.ins().load(types::F32, fl, sp, so);
        let (dp, dof) = t.addr(b, dst, F32_BYTES, dst1 as i64 * F32_BYTES);
        b.ins().store(fl, v, dp, dof);
        Ok(())
    })
}

/// A compiled col2im (the adjoint of [`Im2colKernel`], same spec): `dcol [samples, C·k·k,
/// OH·OW] → dx [samples, C, H, W]`, overwriting `dx` with the sum of every contribution;
/// contributions from padding positions are dropped.
///
/// Each input pixel starts at 0 and receives its contributions in the reference's order
/// (tap `i`, tap `j`, `oh`, `ow`), so `dx` is bit-identical to the reference `col2im` and
/// independent of chunking over samples (samples never share a pixel). Stride 1 adds
/// f32x4 at a time (the lanes are distinct pixels), other strides element by element.
#[derive(Clone, Debug)]
pub struct Col2imKernel {
    spec: Im2colSpec,
    kernel: CompiledKernel,
}

impl Col2imKernel {
    /// Generates and compiles the fold for `spec`.
    pub fn compile(jit: &mut JitModule, spec: Im2colSpec) -> Result<Self, JitError> {
        let name = spec.name("col2im");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("dcol", spec.col_len()),
            ParamSpec::write("dx", spec.x_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit_col2im(b, &spec, p[0], p[1]))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &Im2colSpec {
        &self.spec
    }

    /// Folds `dcol` (`spec.col_len()`) into `dx` (`spec.x_len()`, overwritten).
    pub fn run(&self, dcol: &[f32], dx: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(dcol), KernelArg::Write(dx)])
    }
}

fn emit_col2im(
    b: &mut FunctionBuilder<'_>,
    s: &Im2colSpec,
    dcol: ir::Value,
    dx: ir::Value,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let (oh, ow) = (s.out_h(), s.out_w());
    let (rows_t, cols_t) = (s.taps(oh, s.height), s.taps(ow, s.width));
    let cols = oh * ow;
    let plane_in = s.height * s.width;
    let plane_out = (s.kernel * s.kernel * cols) as i64 * F32_BYTES;
    counted_loop(b, s.samples * s.channels, |b, q| {
        let xp = offset(b, dx, q, plane_in as i64 * F32_BYTES);
        let cp = offset(b, dcol, q, plane_out);
        fill(b, xp, 0, plane_in, 0.0)?;
        for (i, ti) in rows_t.iter().enumerate() {
            for (j, tj) in cols_t.iter().enumerate() {
                let (rv, cv) = (&ti.valid, &tj.valid);
                if rv.is_empty() || cv.is_empty() {
                    continue;
                }
                let row0 = (i * s.kernel + j) * cols;
                let x_row0 = (rv.start * s.stride) as i64 + ti.shift;
                repeat(b, rv.len(), 1, |b, r| {
                    let (cseg, coff) = r.addr(
                        b,
                        cp,
                        ow as i64 * F32_BYTES,
                        (row0 + rv.start * ow + cv.start) as i64 * F32_BYTES,
                    );
                    let first = (cv.start * s.stride) as i64 + tj.shift;
                    let (xrow, xoff) = r.addr(
                        b,
                        xp,
                        (s.stride * s.width) as i64 * F32_BYTES,
                        (x_row0 * s.width as i64 + first) * F32_BYTES,
                    );
                    let n = cv.len();
                    let (vectors, step) = if s.stride == 1 { (n / 4, 4) } else { (0, 1) };
                    repeat(b, vectors, UNROLL_VECTORS, |b, g| {
                        let (cptr, co) = g.addr(b, cseg, 16, i64::from(coff));
                        let (xptr, xo) = g.addr(b, xrow, 16, i64::from(xoff));
                        let d = b.ins().load(types::F32X4, fl, cptr, co);
                        let acc = b.ins().load(types::F32X4, fl, xptr, xo);
                        let sum = b.ins().fadd(acc, d);
                        b.ins().store(fl, sum, xptr, xo);
                        Ok(())
                    })?;
                    let done = vectors * step;
                    let stride_bytes = s.stride as i64 * F32_BYTES;
                    repeat(b, n - done, 4 * UNROLL_VECTORS, |b, t| {
                        let (cptr, co) = t.addr(
                            b,
                            cseg,
                            F32_BYTES,
                            i64::from(coff) + done as i64 * F32_BYTES,
                        );
                        let (xptr, xo) = t.addr(
                            b,
                            xrow,
                            stride_bytes,
                            i64::from(xoff) + done as i64 * stride_bytes,
                        );
                        let d = b.ins().load(types::F32, fl, cptr, co);
                        let acc = b.ins().load(types::F32, fl, xptr, xo);
                        let sum = b.ins().fadd(acc, d);
                        b.ins().store(fl, sum, xptr, xo);
                        Ok(())
                    })
                })?;
            }
        }
        Ok(())
    })
}

/// The conv epilogue `y[s, c, p] = act(y[s, c, p] + bias[c])` in place, over `y [samples,
/// channels, plane]`; `relu` applies `x > 0 ? x : 0` (NaN → 0, like the reference ReLU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelBiasActSpec {
    /// Samples in this chunk.
    pub samples: usize,
    /// Channels (bias length).
    pub channels: usize,
    /// Elements per channel plane (`OH·OW`).
    pub plane: usize,
    /// Apply ReLU after the bias.
    pub relu: bool,
}

/// A compiled [`ChannelBiasActSpec`]. One add (and select) per element, so the result is
/// bit-identical to the reference `conv2d_forward` bias add (+ `relu_forward`) and
/// independent of chunking. f32x4 over each plane, scalar tail.
#[derive(Clone, Debug)]
pub struct ChannelBiasActKernel {
    spec: ChannelBiasActSpec,
    kernel: CompiledKernel,
}

impl ChannelBiasActKernel {
    /// Generates and compiles the epilogue.
    pub fn compile(jit: &mut JitModule, spec: ChannelBiasActSpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!(
            "channel_bias{}_{}x{}x{}",
            if s.relu { "_relu" } else { "" },
            s.samples,
            s.channels,
            s.plane
        );
        check_len(&name, "bias", Some(s.channels))?;
        let total = s
            .samples
            .checked_mul(s.channels)
            .and_then(|v| v.checked_mul(s.plane));
        let total = check_len(&name, "y", total)?;
        let params = vec![
            ParamSpec::read("bias", s.channels),
            ParamSpec::write("y", total),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            counted_loop(b, s.samples, |b, n| {
                let sample = offset(b, p[1], n, (s.channels * s.plane) as i64 * F32_BYTES);
                counted_loop(b, s.channels, |b, c| {
                    let bp = offset(b, p[0], c, F32_BYTES);
                    let bias = b.ins().load(types::F32, fl, bp, 0);
                    let bias4 = b.ins().splat(types::F32X4, bias);
                    let plane = offset(b, sample, c, s.plane as i64 * F32_BYTES);
                    emit_map(b, s.plane, &[plane], plane, |b, v, w| {
                        let sum = b.ins().fadd(v[0], if w == 4 { bias4 } else { bias });
                        match (s.relu, w) {
                            (false, _) => sum,
                            (true, 4) => relu_x4(b, sum),
                            (true, _) => relu_f32(b, sum),
                        }
                    })
                })
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &ChannelBiasActSpec {
        &self.spec
    }

    /// Applies the epilogue to `y` in place.
    pub fn run(&self, bias: &[f32], y: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(bias), KernelArg::Write(y)])
    }
}

/// The conv bias gradient `db[c] (+)= Σ_{s, h, w} dy[s, c, h, w]` over `dy [samples,
/// channels, height, width]`; overwrites `db` unless `accumulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelSumSpec {
    /// Samples in this chunk.
    pub samples: usize,
    /// Channels (length of `db`).
    pub channels: usize,
    /// Plane height (`OH`); with `width`, it fixes the summation order.
    pub height: usize,
    /// Plane width (`OW`).
    pub width: usize,
    /// Add to the existing `db` instead of starting from 0.
    pub accumulate: bool,
}

/// A compiled [`ChannelSumSpec`].
///
/// Order: each sample's plane is reduced exactly like the reference's
/// `dy.sum_axis(3).sum_axis(2)` (ndarray's eight-way unrolled fold per row, then over the
/// row sums, see `codegen::plane_sum`), and the per-sample sums are added to `db[c]` one
/// sample after the other starting from 0 — which is what `sum_axis(0)` does. So the result
/// is bit-identical to `conv2d_backward`'s `db`, and a chunked run (first chunk without,
/// later chunks with `accumulate`, in sample order) gives the same bits as one kernel.
#[derive(Clone, Debug)]
pub struct ChannelSumKernel {
    spec: ChannelSumSpec,
    kernel: CompiledKernel,
}

impl ChannelSumKernel {
    /// Generates and compiles the reduction.
    pub fn compile(jit: &mut JitModule, spec: ChannelSumSpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!(
            "channel_sum{}_{}x{}x{}x{}",
            if s.accumulate { "_acc" } else { "" },
            s.samples,
            s.channels,
            s.height,
            s.width
        );
        check_len(&name, "db", Some(s.channels))?;
        check_len(&name, "plane", s.height.checked_mul(s.width))?;
        let total = s
            .samples
            .checked_mul(s.channels)
            .and_then(|v| v.checked_mul(s.height))
            .and_then(|v| v.checked_mul(s.width));
        let total = check_len(&name, "dy", total)?;
        let params = vec![
            ParamSpec::read("dy", total),
            ParamSpec::write("db", s.channels),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            if !s.accumulate {
                fill(b, p[1], 0, s.channels, 0.0)?;
            }
            let plane = (s.height * s.width) as i64 * F32_BYTES;
            counted_loop(b, s.samples, |b, n| {
                let sample = offset(b, p[0], n, s.channels as i64 * plane);
                counted_loop(b, s.channels, |b, c| {
                    let base = offset(b, sample, c, plane);
                    let sum = plane_sum(b, base, s.height, s.width)?;
                    let dbp = offset(b, p[1], c, F32_BYTES);
                    let old = b.ins().load(types::F32, fl, dbp, 0);
                    let new = b.ins().fadd(old, sum);
                    b.ins().store(fl, new, dbp, 0);
                    Ok(())
                })
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &ChannelSumSpec {
        &self.spec
    }

    /// Reduces `dy` into `db`.
    pub fn run(&self, dy: &[f32], db: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(dy), KernelArg::Write(db)])
    }
}

/// The fused ReLU backward in place: `dy[i] = y[i] > 0 ? dy[i] : 0` with `y` the ReLU
/// output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReluMaskSpec {
    /// Elements.
    pub len: usize,
}

/// A compiled [`ReluMaskSpec`]: one select per element (bit-identical to the reference
/// `relu_backward` taking the mask from the output, chunk-independent); f32x4, scalar tail.
#[derive(Clone, Debug)]
pub struct ReluMaskKernel {
    spec: ReluMaskSpec,
    kernel: CompiledKernel,
}

impl ReluMaskKernel {
    /// Generates and compiles the mask.
    pub fn compile(jit: &mut JitModule, spec: ReluMaskSpec) -> Result<Self, JitError> {
        let name = format!("relu_mask_{}", spec.len);
        let len = check_len(&name, "y", Some(spec.len))?;
        let params = vec![ParamSpec::read("y", len), ParamSpec::write("dy", len)];
        let kernel = jit.compile(&name, params, |b, p| {
            emit_map(b, len, &[p[0], p[1]], p[1], |b, v, w| {
                if w == 4 {
                    let zero = zero_x4(b);
                    let m = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
                    let m = mask_x4(b, m);
                    b.ins().bitselect(m, v[1], zero)
                } else {
                    let zero = b.ins().f32const(0.0);
                    let gt = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
                    b.ins().select(gt, v[1], zero)
                }
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &ReluMaskSpec {
        &self.spec
    }

    /// Masks `dy` in place by `y > 0`.
    pub fn run(&self, y: &[f32], dy: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(y), KernelArg::Write(dy)])
    }
}

/// The dense bias gradient `db[j] (+)= Σ_i dy[i, j]` over `dy [rows, cols]`; overwrites `db`
/// unless `accumulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnSumSpec {
    /// Rows in this chunk.
    pub rows: usize,
    /// Columns (length of `db`).
    pub cols: usize,
    /// Add to the existing `db` instead of starting from 0.
    pub accumulate: bool,
}

/// A compiled [`ColumnSumSpec`].
///
/// Each `db[j]` is `((start + dy[0, j]) + dy[1, j]) + …` in row order, `start` being 0 or
/// the old `db[j]` — the order of the reference's `dy.sum_axis(0)`, so the result is
/// bit-identical to `dense_backward`'s `db`, and chunks over rows run in order (the first
/// without, later ones with `accumulate`) give the same bits as one kernel. Code: blocks
/// of 16 columns in four f32x4 accumulators walking down the rows, then the remaining
/// vectors, then scalar columns.
#[derive(Clone, Debug)]
pub struct ColumnSumKernel {
    spec: ColumnSumSpec,
    kernel: CompiledKernel,
}

impl ColumnSumKernel {
    /// Generates and compiles the reduction.
    pub fn compile(jit: &mut JitModule, spec: ColumnSumSpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!(
            "column_sum{}_{}x{}",
            if s.accumulate { "_acc" } else { "" },
            s.rows,
            s.cols
        );
        check_len(&name, "db", Some(s.cols))?;
        let total = check_len(&name, "dy", s.rows.checked_mul(s.cols))?;
        let params = vec![ParamSpec::read("dy", total), ParamSpec::write("db", s.cols)];
        let kernel = jit.compile(&name, params, |b, p| emit_column_sum(b, &s, p[0], p[1]))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &ColumnSumSpec {
        &self.spec
    }

    /// Reduces `dy` into `db`.
    pub fn run(&self, dy: &[f32], db: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(dy), KernelArg::Write(db)])
    }
}

/// Vectors per column block of the column sum.
const COLUMN_BLOCK: usize = 4;

fn emit_column_sum(
    b: &mut FunctionBuilder<'_>,
    s: &ColumnSumSpec,
    dy: ir::Value,
    db: ir::Value,
) -> Result<(), JitError> {
    let row_bytes = s.cols as i64 * F32_BYTES;
    let vectors = s.cols / 4;
    let blocks = vectors / COLUMN_BLOCK;
    let rest = vectors % COLUMN_BLOCK;
    let tail = s.cols % 4;
    // Full blocks of COLUMN_BLOCK vectors: a runtime loop over blocks.
    repeat(b, blocks, 1, |b, blk| {
        let (dyb, dyo) = blk.addr(b, dy, (COLUMN_BLOCK * 16) as i64, 0);
        let (dbb, dbo) = blk.addr(b, db, (COLUMN_BLOCK * 16) as i64, 0);
        column_group(
            b,
            s,
            types::F32X4,
            COLUMN_BLOCK,
            dyb,
            dyo,
            dbb,
            dbo,
            row_bytes,
        )
    })?;
    let first = (blocks * COLUMN_BLOCK * 16) as i32;
    column_group(b, s, types::F32X4, rest, dy, first, db, first, row_bytes)?;
    let first = first + (rest * 16) as i32;
    column_group(b, s, types::F32, tail, dy, first, db, first, row_bytes)
}

/// Sums `count` accumulators of type `ty` (f32x4 or f32) side by side, starting at byte
/// `dy_off`/`db_off`, down all rows.
#[allow(clippy::too_many_arguments)]
fn column_group(
    b: &mut FunctionBuilder<'_>,
    s: &ColumnSumSpec,
    ty: ir::Type,
    count: usize,
    dy: ir::Value,
    dy_off: i32,
    db: ir::Value,
    db_off: i32,
    row_bytes: i64,
) -> Result<(), JitError> {
    if count == 0 {
        return Ok(());
    }
    let fl = buf_flags();
    let width = ty.bytes() as i32;
    let accs: Vec<_> = (0..count)
        .map(|k| {
            let v = b.declare_var(ty);
            let init = if s.accumulate {
                b.ins().load(ty, fl, db, db_off + k as i32 * width)
            } else if ty == types::F32 {
                b.ins().f32const(0.0)
            } else {
                zero_x4(b)
            };
            b.def_var(v, init);
            v
        })
        .collect();
    counted_loop(b, s.rows, |b, r| {
        let row = offset(b, dy, r, row_bytes);
        for (k, &acc) in accs.iter().enumerate() {
            let v = b.ins().load(ty, fl, row, dy_off + k as i32 * width);
            let cur = b.use_var(acc);
            let next = b.ins().fadd(cur, v);
            b.def_var(acc, next);
        }
        Ok(())
    })?;
    for (k, &acc) in accs.iter().enumerate() {
        let v = b.use_var(acc);
        b.ins().store(fl, v, db, db_off + k as i32 * width);
    }
    Ok(())
}
