//! Generated pooling kernels over `planes` independent `[height, width]` planes (a chunk of
//! samples × channels of an NCHW tensor): max pooling with argmax, average pooling
//! (padding counted, the reference's `IncludePadding`), global average pooling, and their
//! backward passes.
//!
//! Planes never interact, so every kernel gives the same bits whatever the chunking over
//! samples. Forward windows follow the reference exactly (PyTorch's `ceil_mode = False`
//! geometry, taps scanned row by row, left to right).
//!
//! Code shape of the windowed forwards: output rows whose window lies fully inside the
//! input run in a runtime loop, the few border rows are emitted one by one with their
//! clipped window fixed at compile time. Within a row, interior outputs are computed four
//! at a time (f32x4, one lane per output; stride 2 gathers with two loads and a `shufps`),
//! the rest one at a time with clipped windows. No bounds test runs per element.

use std::ops::Range;

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::codegen::{
    Idx, UNROLL_VECTORS, buf_flags, check_len, const_x4, counted_loop, fill, fill_with, imm,
    mask_x4, offset, plane_sum, repeat, shuffle_x4, splat_x4, zero_x4,
};
use super::error::JitError;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};
use crate::lower::window_output_len;

/// Geometry of a max or average pooling over `planes` planes `[height, width]` with a
/// square window (dilation 1; `pad ≤ kernel / 2` as PyTorch requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolSpec {
    /// Independent planes in this chunk (samples × channels).
    pub planes: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Window size.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Implicit padding on every side.
    pub pad: usize,
}

impl PoolSpec {
    /// Output height `floor((H + 2p − k)/s) + 1` (0 if the window does not fit).
    pub fn out_h(&self) -> usize {
        window_output_len(self.height, self.kernel, self.stride, self.pad, 1).unwrap_or(0)
    }
    /// Output width, as [`Self::out_h`].
    pub fn out_w(&self) -> usize {
        window_output_len(self.width, self.kernel, self.stride, self.pad, 1).unwrap_or(0)
    }
    /// Elements of `x` and `dx`.
    pub fn x_len(&self) -> usize {
        self.planes * self.height * self.width
    }
    /// Elements of `y`, `dy` and `argmax`.
    pub fn y_len(&self) -> usize {
        self.planes * self.out_h() * self.out_w()
    }

    fn name(&self, kind: &str) -> String {
        let s = self;
        format!(
            "{kind}_{}x{}x{}_k{}s{}p{}",
            s.planes, s.height, s.width, s.kernel, s.stride, s.pad
        )
    }

    fn validate(&self, name: &str) -> Result<(), JitError> {
        let s = self;
        let bad = |reason: &str| {
            Err(JitError::InvalidShape {
                kernel: name.to_string(),
                reason: reason.to_string(),
            })
        };
        if [s.planes, s.height, s.width, s.kernel, s.stride].contains(&0) {
            return bad("planes, height, width, kernel and stride must be ≥ 1");
        }
        if 2 * s.pad > s.kernel {
            return bad("padding must be at most half the kernel size");
        }
        if s.out_h() == 0 || s.out_w() == 0 {
            return bad("the window does not fit in the padded input");
        }
        // Argmax indices are stored as f32: every plane index must be exact.
        if s.height.checked_mul(s.width).is_none_or(|a| a >= 1 << 24) {
            return bad("a plane must have fewer than 2^24 elements");
        }
        check_len(name, "x", s.planes.checked_mul(s.height * s.width))?;
        Ok(())
    }

    fn rows(&self) -> Axis {
        Axis::new(
            self.out_h(),
            self.kernel,
            self.stride,
            self.pad,
            self.height,
        )
    }
    fn cols(&self) -> Axis {
        Axis::new(self.out_w(), self.kernel, self.stride, self.pad, self.width)
    }
}

/// The window geometry along one axis.
#[derive(Clone, Debug)]
struct Axis {
    out: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    len: usize,
    /// Outputs whose window lies fully inside the input.
    interior: Range<usize>,
}

impl Axis {
    fn new(out: usize, kernel: usize, stride: usize, pad: usize, len: usize) -> Self {
        let inside = |o: usize| o * stride >= pad && o * stride - pad + kernel <= len;
        let interior = match (0..out).find(|&o| inside(o)) {
            None => out..out,
            Some(lo) => lo..(lo..out).find(|&o| !inside(o)).unwrap_or(out),
        };
        Self {
            out,
            kernel,
            stride,
            pad,
            len,
            interior,
        }
    }

    /// The clipped input range of output `o` (the reference's `axis_window`).
    fn window(&self, o: usize) -> Range<usize> {
        let start = o * self.stride;
        start.saturating_sub(self.pad)..(start + self.kernel).saturating_sub(self.pad).min(self.len)
    }

    /// First input index of interior output `o` (unclipped).
    fn first(&self, o: usize) -> i64 {
        (o * self.stride) as i64 - self.pad as i64
    }

    /// Outputs outside the interior.
    fn border(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.interior.start).chain(self.interior.end..self.out)
    }
}

/// What a windowed forward computes per output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reduce {
    /// Maximum with its plane index.
    Max,
    /// Sum divided by `kernel²`.
    Avg,
}

/// One output row of a windowed forward: where its (clipped) window rows start.
struct RowCtx {
    /// `x` plane pointer plus `x_off` bytes: the first window row.
    x: ir::Value,
    x_off: i64,
    /// `first window row · width` as an f32 (the argmax base).
    row_index: ir::Value,
    /// Window rows inside the input.
    nrows: usize,
    /// Output row pointer (`y`, and `argmax` for max) plus `out_off` bytes.
    y: ir::Value,
    argmax: Option<ir::Value>,
    out_off: i64,
}

/// Buffers of a windowed forward.
struct FwdPtrs {
    x: ir::Value,
    y: ir::Value,
    argmax: Option<ir::Value>,
}

fn emit_forward(
    b: &mut FunctionBuilder<'_>,
    s: &PoolSpec,
    mode: Reduce,
    p: &FwdPtrs,
) -> Result<(), JitError> {
    let (rows, cols) = (s.rows(), s.cols());
    let in_plane = (s.height * s.width) as i64 * F32_BYTES;
    let out_plane = (rows.out * cols.out) as i64 * F32_BYTES;
    let w = s.width as i64;
    let out_row = cols.out as i64 * F32_BYTES;
    counted_loop(b, s.planes, |b, q| {
        let xp = offset(b, p.x, q, in_plane);
        let yp = offset(b, p.y, q, out_plane);
        let ap = p.argmax.map(|a| offset(b, a, q, out_plane));
        // Interior rows: a runtime loop; the window starts at row `first(oh)`.
        let int = rows.interior.clone();
        repeat(b, int.len(), 1, |b, r| {
            let first = rows.first(int.start);
            let row_step = (s.stride as i64) * w * F32_BYTES;
            let (x, x_off) = r.addr(b, xp, row_step, first * w * F32_BYTES);
            let (y, out_off) = r.addr(b, yp, out_row, int.start as i64 * out_row);
            let argmax = ap.map(|a| r.addr(b, a, out_row, int.start as i64 * out_row).0);
            let row_index = index_f32(b, r, s.stride as i64 * w, first * w);
            let ctx = RowCtx {
                x,
                x_off: i64::from(x_off),
                row_index,
                nrows: s.kernel,
                y,
                argmax,
                out_off: i64::from(out_off),
            };
            emit_row(b, s, mode, &cols, &ctx)
        })?;
        for oh in rows.border() {
            let win = rows.window(oh);
            let row_index = b.ins().f32const((win.start as i64 * w) as f32);
            let ctx = RowCtx {
                x: xp,
                x_off: win.start as i64 * w * F32_BYTES,
                row_index,
                nrows: win.len(),
                y: yp,
                argmax: ap,
                out_off: oh as i64 * out_row,
            };
            emit_row(b, s, mode, &cols, &ctx)?;
        }
        Ok(())
    })
}

/// `(idx · step + base)` as an f32 (exact: plane indices stay below 2^24).
fn index_f32(b: &mut FunctionBuilder<'_>, idx: Idx, step: i64, base: i64) -> ir::Value {
    match idx {
        Idx::Const(k) => b.ins().f32const((k as i64 * step + base) as f32),
        Idx::Dyn(i) => {
            let v = b.ins().imul_imm_s(i, step);
            let v = b.ins().iadd_imm_s(v, base);
            b.ins().fcvt_from_sint(types::F32, v)
        }
    }
}

fn emit_row(
    b: &mut FunctionBuilder<'_>,
    s: &PoolSpec,
    mode: Reduce,
    cols: &Axis,
    ctx: &RowCtx,
) -> Result<(), JitError> {
    let int = cols.interior.clone();
    let groups = int.len() / 4;
    // Stride 2 loads 8 consecutive elements per tap: only while they stay inside the row.
    let safe = if s.stride == 2 {
        (0..groups)
            .take_while(|&g| {
                let lane0 = cols.first(int.start + 4 * g);
                lane0 + (s.kernel as i64 - 1) + 8 <= s.width as i64
            })
            .count()
    } else {
        groups
    };
    repeat(b, safe, UNROLL_VECTORS, |b, g| {
        emit_group(b, s, mode, cols, ctx, g, int.start, true)
    })?;
    repeat(b, groups - safe, UNROLL_VECTORS, |b, g| {
        emit_group(b, s, mode, cols, ctx, g, int.start + 4 * safe, false)
    })?;
    let singles = (int.start + 4 * groups..int.end).chain(cols.border());
    for ow in singles {
        emit_single(b, s, mode, ctx, cols.window(ow), ow)?;
    }
    Ok(())
}

/// Four interior outputs `first + 4g .. first + 4g + 4` of one row, one per lane.
#[allow(clippy::too_many_arguments)]
fn emit_group(
    b: &mut FunctionBuilder<'_>,
    s: &PoolSpec,
    mode: Reduce,
    cols: &Axis,
    ctx: &RowCtx,
    g: Idx,
    first: usize,
    pair_loads: bool,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let st = s.stride as i64;
    let w = s.width as i64;
    // Input column of lane 0's first tap, and the byte offset of that element in row 0.
    let col0 = cols.first(first);
    let (xg, xg_off) = g.addr(b, ctx.x, 4 * st * F32_BYTES, ctx.x_off + col0 * F32_BYTES);
    let (yg, yg_off) = g.addr(b, ctx.y, 16, ctx.out_off + first as i64 * F32_BYTES);
    let lanes = [0.0, st as f32, (2 * st) as f32, (3 * st) as f32];
    // argmax of lane l at tap (r, c): row_index + col0 + 4g·s + l·s + r·W + c.
    let base_index = match mode {
        Reduce::Max => {
            let gcol = index_f32(b, g, 4 * st, col0);
            let base = b.ins().fadd(ctx.row_index, gcol);
            let base = b.ins().splat(types::F32X4, base);
            let lanes = const_x4(b, lanes);
            Some(b.ins().fadd(base, lanes))
        }
        Reduce::Avg => None,
    };
    let mut acc = match mode {
        Reduce::Max => splat_x4(b, f32::NEG_INFINITY),
        Reduce::Avg => zero_x4(b),
    };
    let mut at = base_index;
    for r in 0..ctx.nrows as i64 {
        for c in 0..s.kernel as i64 {
            let off = i64::from(xg_off) + (r * w + c) * F32_BYTES;
            let v = gather4(b, xg, off, s.stride, pair_loads);
            match mode {
                Reduce::Avg => acc = b.ins().fadd(acc, v),
                Reduce::Max => {
                    // The reference's rule: replace on strictly greater, or on NaN.
                    let gt = b.ins().fcmp(FloatCC::GreaterThan, v, acc);
                    let nan = b.ins().fcmp(FloatCC::Unordered, v, v);
                    let m = b.ins().bor(gt, nan);
                    let m = mask_x4(b, m);
                    acc = b.ins().bitselect(m, v, acc);
                    if let (Some(cur), Some(base)) = (at, base_index) {
                        let tap = splat_x4(b, (r * w + c) as f32);
                        let idx = b.ins().fadd(base, tap);
                        at = Some(b.ins().bitselect(m, idx, cur));
                    }
                }
            }
        }
    }
    if mode == Reduce::Avg {
        let count = splat_x4(b, (s.kernel * s.kernel) as f32);
        acc = b.ins().fdiv(acc, count);
    }
    b.ins().store(fl, acc, yg, yg_off);
    if let (Some(a), Some(at)) = (ctx.argmax, at) {
        let (ag, ag_off) = g.addr(b, a, 16, ctx.out_off + first as i64 * F32_BYTES);
        b.ins().store(fl, at, ag, ag_off);
    }
    Ok(())
}

/// Lanes `ptr[off + l·stride]` (bytes `off`), `l = 0..4`. `pair_loads` (stride 2 only)
/// allows reading the 8 elements from `off`.
fn gather4(
    b: &mut FunctionBuilder<'_>,
    ptr: ir::Value,
    off: i64,
    stride: usize,
    pair_loads: bool,
) -> ir::Value {
    let fl = buf_flags();
    if stride == 1 {
        return b.ins().load(types::F32X4, fl, ptr, imm(off));
    }
    if stride == 2 && pair_loads {
        let v0 = b.ins().load(types::F32X4, fl, ptr, imm(off));
        let v1 = b.ins().load(types::F32X4, fl, ptr, imm(off + 16));
        return shuffle_x4(b, v0, v1, [0, 2, 4, 6]);
    }
    let first = b.ins().load(types::F32, fl, ptr, imm(off));
    let mut v = b.ins().splat(types::F32X4, first);
    for l in 1..4u8 {
        let e = b.ins().load(
            types::F32,
            fl,
            ptr,
            imm(off + i64::from(l) * stride as i64 * F32_BYTES),
        );
        v = b.ins().insertlane(v, e, l);
    }
    v
}

/// One output `ow` of a row with its clipped column window `win`.
fn emit_single(
    b: &mut FunctionBuilder<'_>,
    s: &PoolSpec,
    mode: Reduce,
    ctx: &RowCtx,
    win: Range<usize>,
    ow: usize,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let w = s.width as i64;
    let mut acc = match mode {
        Reduce::Max => b.ins().f32const(f32::NEG_INFINITY),
        Reduce::Avg => b.ins().f32const(0.0),
    };
    let index = |b: &mut FunctionBuilder<'_>, r: i64, c: usize| {
        let k = b.ins().f32const((r * w + c as i64) as f32);
        b.ins().fadd(ctx.row_index, k)
    };
    // The first in-bounds position when no value beats -inf.
    let mut at = index(b, 0, win.start);
    for r in 0..ctx.nrows as i64 {
        for c in win.clone() {
            let off = ctx.x_off + (r * w + c as i64) * F32_BYTES;
            let v = b.ins().load(types::F32, fl, ctx.x, imm(off));
            match mode {
                Reduce::Avg => acc = b.ins().fadd(acc, v),
                Reduce::Max => {
                    let gt = b.ins().fcmp(FloatCC::GreaterThan, v, acc);
                    let nan = b.ins().fcmp(FloatCC::Unordered, v, v);
                    let m = b.ins().bor(gt, nan);
                    acc = b.ins().select(m, v, acc);
                    let idx = index(b, r, c);
                    at = b.ins().select(m, idx, at);
                }
            }
        }
    }
    if mode == Reduce::Avg {
        let count = b.ins().f32const((s.kernel * s.kernel) as f32);
        acc = b.ins().fdiv(acc, count);
    }
    let out = ctx.out_off + ow as i64 * F32_BYTES;
    b.ins().store(fl, acc, ctx.y, imm(out));
    if let Some(a) = ctx.argmax {
        b.ins().store(fl, at, a, imm(out));
    }
    Ok(())
}

/// A compiled max-pooling forward: `x [planes, H, W] → y, argmax [planes, OH, OW]`.
///
/// `y` is the window maximum with padding acting as −∞; `argmax` the plane-local flat index
/// `ih·W + iw` of the winner, stored as f32 (exact below 2^24). Exactly the reference's
/// rule: taps scanned row by row, a value replaces the best when strictly greater or NaN
/// (so the first maximum wins ties and the last NaN wins), and an all −∞ window records its
/// first in-bounds position. Bit-identical to `maxpool2d_forward`; chunk-independent.
#[derive(Clone, Debug)]
pub struct MaxPoolKernel {
    spec: PoolSpec,
    kernel: CompiledKernel,
}

impl MaxPoolKernel {
    /// Generates and compiles the forward.
    pub fn compile(jit: &mut JitModule, spec: PoolSpec) -> Result<Self, JitError> {
        let name = spec.name("maxpool");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("x", spec.x_len()),
            ParamSpec::write("y", spec.y_len()),
            ParamSpec::write("argmax", spec.y_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let ptrs = FwdPtrs {
                x: p[0],
                y: p[1],
                argmax: Some(p[2]),
            };
            emit_forward(b, &spec, Reduce::Max, &ptrs)
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// Pools `x` into `y` and `argmax` (both overwritten).
    pub fn run(&self, x: &[f32], y: &mut [f32], argmax: &mut [f32]) -> Result<(), JitError> {
        self.kernel.call(&mut [
            KernelArg::Read(x),
            KernelArg::Write(y),
            KernelArg::Write(argmax),
        ])
    }
}

/// A compiled max-pooling backward: `dx` zeroed, then `dx[plane][argmax] += dy` for every
/// output in order — the reference's `maxpool2d_backward`, bit for bit; chunk-independent.
/// Scalar (a scatter). Indices are converted with saturation and clamped into the plane,
/// so a corrupt `argmax` can never address memory outside `dx` (the reference reports it
/// as an error instead; indices written by [`MaxPoolKernel`] are always in range).
#[derive(Clone, Debug)]
pub struct MaxPoolBackwardKernel {
    spec: PoolSpec,
    kernel: CompiledKernel,
}

impl MaxPoolBackwardKernel {
    /// Generates and compiles the backward.
    pub fn compile(jit: &mut JitModule, spec: PoolSpec) -> Result<Self, JitError> {
        let name = spec.name("maxpool_backward");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("dy", spec.y_len()),
            ParamSpec::read("argmax", spec.y_len()),
            ParamSpec::write("dx", spec.x_len()),
        ];
        let s = spec;
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            let plane = s.height * s.width;
            let outs = s.out_h() * s.out_w();
            counted_loop(b, s.planes, |b, q| {
                let dxp = offset(b, p[2], q, plane as i64 * F32_BYTES);
                let dyp = offset(b, p[0], q, outs as i64 * F32_BYTES);
                let ap = offset(b, p[1], q, outs as i64 * F32_BYTES);
                fill(b, dxp, 0, plane, 0.0)?;
                counted_loop(b, outs, |b, o| {
                    let g = offset(b, dyp, o, F32_BYTES);
                    let g = b.ins().load(types::F32, fl, g, 0);
                    let a = offset(b, ap, o, F32_BYTES);
                    let a = b.ins().load(types::F32, fl, a, 0);
                    let i = b.ins().fcvt_to_uint_sat(types::I64, a);
                    let last = b.ins().iconst(types::I64, plane as i64 - 1);
                    let i = b.ins().umin(i, last);
                    let d = offset(b, dxp, i, F32_BYTES);
                    let old = b.ins().load(types::F32, fl, d, 0);
                    let new = b.ins().fadd(old, g);
                    b.ins().store(fl, new, d, 0);
                    Ok(())
                })
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// Routes `dy` to `dx` (overwritten) through `argmax`.
    pub fn run(&self, dy: &[f32], argmax: &[f32], dx: &mut [f32]) -> Result<(), JitError> {
        self.kernel.call(&mut [
            KernelArg::Read(dy),
            KernelArg::Read(argmax),
            KernelArg::Write(dx),
        ])
    }
}

/// A compiled average-pooling forward: `y = (Σ window, padding as 0) / kernel²` (PyTorch's
/// `count_include_pad = True`, the reference's `IncludePadding`). The sum starts at 0 and
/// adds the in-bounds taps row by row, then one division — the reference's operations, so
/// bit-identical to `avgpool2d_forward`; chunk-independent.
#[derive(Clone, Debug)]
pub struct AvgPoolKernel {
    spec: PoolSpec,
    kernel: CompiledKernel,
}

impl AvgPoolKernel {
    /// Generates and compiles the forward.
    pub fn compile(jit: &mut JitModule, spec: PoolSpec) -> Result<Self, JitError> {
        let name = spec.name("avgpool");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("x", spec.x_len()),
            ParamSpec::write("y", spec.y_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let ptrs = FwdPtrs {
                x: p[0],
                y: p[1],
                argmax: None,
            };
            emit_forward(b, &spec, Reduce::Avg, &ptrs)
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// Pools `x` into `y` (overwritten).
    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(x), KernelArg::Write(y)])
    }
}

/// A compiled average-pooling backward: `dx` zeroed, then for every output in row-major
/// order `share = dy / kernel²` is added to each in-bounds pixel of its window — the
/// reference's loop, so every pixel receives its contributions in the same order and the
/// result is bit-identical to `avgpool2d_backward`; chunk-independent. Scalar (windows may
/// overlap); interior rows and columns run in loops without bounds tests.
#[derive(Clone, Debug)]
pub struct AvgPoolBackwardKernel {
    spec: PoolSpec,
    kernel: CompiledKernel,
}

impl AvgPoolBackwardKernel {
    /// Generates and compiles the backward.
    pub fn compile(jit: &mut JitModule, spec: PoolSpec) -> Result<Self, JitError> {
        let name = spec.name("avgpool_backward");
        spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("dy", spec.y_len()),
            ParamSpec::write("dx", spec.x_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            emit_avg_backward(b, &spec, p[0], p[1])
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// Spreads `dy` over `dx` (overwritten).
    pub fn run(&self, dy: &[f32], dx: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(dy), KernelArg::Write(dx)])
    }
}

fn emit_avg_backward(
    b: &mut FunctionBuilder<'_>,
    s: &PoolSpec,
    dy: ir::Value,
    dx: ir::Value,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let (rows, cols) = (s.rows(), s.cols());
    let plane = s.height * s.width;
    let w = s.width as i64;
    let st = s.stride as i64;
    let out_row = cols.out as i64 * F32_BYTES;
    let count = (s.kernel * s.kernel) as f32;
    // Rows in order: interior rows form one runtime loop, so emit maximal runs of
    // consecutive row classes in output order.
    counted_loop(b, s.planes, |b, q| {
        let dxp = offset(b, dx, q, plane as i64 * F32_BYTES);
        let dyp = offset(b, dy, q, (rows.out * cols.out) as i64 * F32_BYTES);
        fill(b, dxp, 0, plane, 0.0)?;
        // One output row: window rows from (x, x_off) for `nrows` rows.
        let row = |b: &mut FunctionBuilder<'_>,
                   x: ir::Value,
                   x_off: i64,
                   nrows: usize,
                   y: ir::Value,
                   y_off: i64|
         -> Result<(), JitError> {
            let spread = |b: &mut FunctionBuilder<'_>,
                          xo: ir::Value,
                          xo_off: i64,
                          cwin: Range<i64>,
                          yo: ir::Value,
                          yo_off: i64| {
                let g = b.ins().load(types::F32, fl, yo, imm(yo_off));
                let c = b.ins().f32const(count);
                let share = b.ins().fdiv(g, c);
                for r in 0..nrows as i64 {
                    for col in cwin.clone() {
                        let o = imm(xo_off + (r * w + col) * F32_BYTES);
                        let old = b.ins().load(types::F32, fl, xo, o);
                        let new = b.ins().fadd(old, share);
                        b.ins().store(fl, new, xo, o);
                    }
                }
            };
            // Output columns in order: left border, interior loop, right border.
            for ow in 0..cols.interior.start {
                let win = cols.window(ow);
                spread(
                    b,
                    x,
                    x_off,
                    win.start as i64..win.end as i64,
                    y,
                    y_off + ow as i64 * F32_BYTES,
                );
            }
            let int = cols.interior.clone();
            repeat(b, int.len(), 1, |b, c| {
                let first = cols.first(int.start);
                let (xo, xo_off) = c.addr(b, x, st * F32_BYTES, x_off + first * F32_BYTES);
                let (yo, yo_off) = c.addr(b, y, F32_BYTES, y_off + int.start as i64 * F32_BYTES);
                spread(
                    b,
                    xo,
                    i64::from(xo_off),
                    0..s.kernel as i64,
                    yo,
                    i64::from(yo_off),
                );
                Ok(())
            })?;
            for ow in int.end..cols.out {
                let win = cols.window(ow);
                spread(
                    b,
                    x,
                    x_off,
                    win.start as i64..win.end as i64,
                    y,
                    y_off + ow as i64 * F32_BYTES,
                );
            }
            Ok(())
        };
        for oh in 0..rows.interior.start {
            let win = rows.window(oh);
            row(
                b,
                dxp,
                win.start as i64 * w * F32_BYTES,
                win.len(),
                dyp,
                oh as i64 * out_row,
            )?;
        }
        let int = rows.interior.clone();
        repeat(b, int.len(), 1, |b, r| {
            let first = rows.first(int.start);
            let (x, x_off) = r.addr(b, dxp, st * w * F32_BYTES, first * w * F32_BYTES);
            let (y, y_off) = r.addr(b, dyp, out_row, int.start as i64 * out_row);
            row(b, x, i64::from(x_off), s.kernel, y, i64::from(y_off))
        })?;
        for oh in int.end..rows.out {
            let win = rows.window(oh);
            row(
                b,
                dxp,
                win.start as i64 * w * F32_BYTES,
                win.len(),
                dyp,
                oh as i64 * out_row,
            )?;
        }
        Ok(())
    })
}

/// Global average pooling over `planes` planes `[height, width]`: forward `y[q] = mean of
/// plane q`, backward `dx[q, ·] = dy[q] / (H·W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalPoolSpec {
    /// Planes in this chunk (samples × channels).
    pub planes: usize,
    /// Plane height.
    pub height: usize,
    /// Plane width.
    pub width: usize,
}

impl GlobalPoolSpec {
    fn name(&self, kind: &str) -> String {
        format!("{kind}_{}x{}x{}", self.planes, self.height, self.width)
    }

    fn validate(&self, name: &str) -> Result<(usize, usize), JitError> {
        let plane = check_len(name, "plane", self.height.checked_mul(self.width))?;
        let total = check_len(name, "x", self.planes.checked_mul(plane))?;
        check_len(name, "y", Some(self.planes))?;
        Ok((plane, total))
    }

    /// `1 / (H·W)` rounded to f32, as the reference computes it (in f64, then rounded).
    fn scale(&self) -> f32 {
        (1.0 / (self.height * self.width) as f64) as f32
    }
}

/// A compiled global average pooling forward. Each plane is summed in the order of the
/// reference's `x.sum_axis(3).sum_axis(2)` (ndarray's eight-way unrolled fold per row, then
/// over the row sums) and multiplied by the f32 `1/(H·W)` — bit-identical to
/// `global_avgpool_forward`; chunk-independent.
#[derive(Clone, Debug)]
pub struct GlobalAvgPoolKernel {
    spec: GlobalPoolSpec,
    kernel: CompiledKernel,
}

impl GlobalAvgPoolKernel {
    /// Generates and compiles the forward.
    pub fn compile(jit: &mut JitModule, spec: GlobalPoolSpec) -> Result<Self, JitError> {
        let name = spec.name("global_avgpool");
        let (plane, total) = spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("x", total),
            ParamSpec::write("y", spec.planes),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            counted_loop(b, spec.planes, |b, q| {
                let xp = offset(b, p[0], q, plane as i64 * F32_BYTES);
                let sum = plane_sum(b, xp, spec.height, spec.width)?;
                let scale = b.ins().f32const(spec.scale());
                let mean = b.ins().fmul(sum, scale);
                let yp = offset(b, p[1], q, F32_BYTES);
                b.ins().store(fl, mean, yp, 0);
                Ok(())
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &GlobalPoolSpec {
        &self.spec
    }

    /// Averages each plane of `x` into `y` (overwritten).
    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(x), KernelArg::Write(y)])
    }
}

/// A compiled global average pooling backward: `dx[q, ·] = dy[q] · (f32 1/(H·W))` — one
/// multiplication per plane, broadcast with f32x4 stores. Bit-identical to
/// `global_avgpool_backward`; chunk-independent.
#[derive(Clone, Debug)]
pub struct GlobalAvgPoolBackwardKernel {
    spec: GlobalPoolSpec,
    kernel: CompiledKernel,
}

impl GlobalAvgPoolBackwardKernel {
    /// Generates and compiles the backward.
    pub fn compile(jit: &mut JitModule, spec: GlobalPoolSpec) -> Result<Self, JitError> {
        let name = spec.name("global_avgpool_backward");
        let (plane, total) = spec.validate(&name)?;
        let params = vec![
            ParamSpec::read("dy", spec.planes),
            ParamSpec::write("dx", total),
        ];
        let kernel = jit.compile(&name, params, |b, p| {
            let fl = buf_flags();
            counted_loop(b, spec.planes, |b, q| {
                let g = offset(b, p[0], q, F32_BYTES);
                let g = b.ins().load(types::F32, fl, g, 0);
                let scale = b.ins().f32const(spec.scale());
                let v = b.ins().fmul(g, scale);
                let xp = offset(b, p[1], q, plane as i64 * F32_BYTES);
                fill_with(b, xp, 0, plane, v)
            })
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &GlobalPoolSpec {
        &self.spec
    }

    /// Spreads `dy` over `dx` (overwritten).
    pub fn run(&self, dy: &[f32], dx: &mut [f32]) -> Result<(), JitError> {
        self.kernel
            .call(&mut [KernelArg::Read(dy), KernelArg::Write(dx)])
    }
}
