//! Small IR-building helpers shared by the kernel generators.

use cranelift::codegen::ir::{self, InstBuilder, MemFlagsData, condcodes::IntCC, types};
use cranelift::frontend::{FunctionBuilder, Variable};

use super::error::JitError;
use super::module::F32_BYTES;

/// Flags of loads and stores into kernel buffers: in bounds by construction (so no trap),
/// but only 4-byte aligned (slices of `f32`), hence not `aligned`.
pub(crate) fn buf_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Emits `for i in 0..n { body(i) }` as a runtime loop (straight-line when `n <= 1`).
/// `body` receives the i64 index and may emit nested control flow; every block is sealed by
/// the caller's final `seal_all_blocks`.
pub(crate) fn counted_loop(
    b: &mut FunctionBuilder<'_>,
    n: usize,
    mut body: impl FnMut(&mut FunctionBuilder<'_>, ir::Value) -> Result<(), JitError>,
) -> Result<(), JitError> {
    match n {
        0 => return Ok(()),
        1 => {
            let zero = b.ins().iconst(types::I64, 0);
            return body(b, zero);
        }
        _ => {}
    }
    let var = b.declare_var(types::I64);
    let zero = b.ins().iconst(types::I64, 0);
    b.def_var(var, zero);
    let head = b.create_block();
    let exit = b.create_block();
    b.ins().jump(head, &[]);
    b.switch_to_block(head);
    let i = b.use_var(var);
    body(b, i)?;
    let next = b.ins().iadd_imm_s(i, 1);
    b.def_var(var, next);
    let more = b.ins().icmp_imm_u(IntCC::UnsignedLessThan, next, n as i64);
    b.ins().brif(more, head, &[], exit, &[]);
    b.switch_to_block(exit);
    Ok(())
}

/// `base + index * stride_bytes`.
pub(crate) fn offset(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    index: ir::Value,
    stride_bytes: i64,
) -> ir::Value {
    let scaled = b.ins().imul_imm_s(index, stride_bytes);
    b.ins().iadd(base, scaled)
}

/// An f32x4 of zeros.
pub(crate) fn zero_x4(b: &mut FunctionBuilder<'_>) -> ir::Value {
    splat_x4(b, 0.0)
}

/// `x > 0 ? x : 0` lane-wise (NaN → 0, like the reference ReLU).
pub(crate) fn relu_x4(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let zero = zero_x4(b);
    let mask = b.ins().fcmp(ir::condcodes::FloatCC::GreaterThan, x, zero);
    let mask = b.ins().bitcast(
        types::F32X4,
        MemFlagsData::new().with_endianness(ir::Endianness::Little),
        mask,
    );
    b.ins().bitselect(mask, x, zero)
}

/// Scalar `x > 0 ? x : 0`.
pub(crate) fn relu_f32(b: &mut FunctionBuilder<'_>, x: ir::Value) -> ir::Value {
    let zero = b.ins().f32const(0.0);
    let gt = b.ins().fcmp(ir::condcodes::FloatCC::GreaterThan, x, zero);
    b.ins().select(gt, x, zero)
}

/// One repetition of a body emitted by [`repeat`]: a compile-time index (unrolled code) or
/// the counter of a runtime loop.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Idx {
    /// Unrolled: the index is a constant.
    Const(usize),
    /// Runtime loop: the i64 counter.
    Dyn(ir::Value),
}

impl Idx {
    /// The address `base + idx·stride_bytes + extra_bytes` as a pointer and an immediate
    /// offset (folded into the load/store when the index is a constant).
    pub(crate) fn addr(
        self,
        b: &mut FunctionBuilder<'_>,
        base: ir::Value,
        stride_bytes: i64,
        extra_bytes: i64,
    ) -> (ir::Value, i32) {
        match self {
            Idx::Const(k) => (base, imm(k as i64 * stride_bytes + extra_bytes)),
            Idx::Dyn(i) => (offset(b, base, i, stride_bytes), imm(extra_bytes)),
        }
    }
}

/// A byte offset as a load/store immediate. Every kernel bounds its buffers below 2^29
/// elements, so in-bounds offsets always fit.
pub(crate) fn imm(bytes: i64) -> i32 {
    debug_assert!(i32::try_from(bytes).is_ok(), "offset {bytes} exceeds i32");
    bytes as i32
}

/// Emits `body(idx)` for `idx in 0..n`: unrolled when `n <= unroll_max` (constant offsets,
/// no loop overhead), else as a runtime loop.
pub(crate) fn repeat(
    b: &mut FunctionBuilder<'_>,
    n: usize,
    unroll_max: usize,
    mut body: impl FnMut(&mut FunctionBuilder<'_>, Idx) -> Result<(), JitError>,
) -> Result<(), JitError> {
    if n <= unroll_max {
        for k in 0..n {
            body(b, Idx::Const(k))?;
        }
        Ok(())
    } else {
        counted_loop(b, n, |b, i| body(b, Idx::Dyn(i)))
    }
}

/// Vector iterations unrolled before a loop is emitted instead.
pub(crate) const UNROLL_VECTORS: usize = 8;

/// Stores `value` into the `len` elements starting at `base + start·4` (f32x4 body, scalar
/// tail).
pub(crate) fn fill(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    start: usize,
    len: usize,
    value: f32,
) -> Result<(), JitError> {
    if len == 0 {
        return Ok(());
    }
    let s = b.ins().f32const(value);
    fill_with(b, base, start, len, s)
}

/// Stores the scalar f32 value `s` into the `len` elements starting at `base + start·4`.
pub(crate) fn fill_with(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    start: usize,
    len: usize,
    s: ir::Value,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let v = b.ins().splat(types::F32X4, s);
    let first = start as i64 * F32_BYTES;
    repeat(b, len / 4, UNROLL_VECTORS, |b, i| {
        let (p, o) = i.addr(b, base, 16, first);
        b.ins().store(fl, v, p, o);
        Ok(())
    })?;
    for t in (len / 4) * 4..len {
        b.ins()
            .store(fl, s, base, imm(first + t as i64 * F32_BYTES));
    }
    Ok(())
}

/// `dst[dst_start + t] = src[src_start + t]` for `t in 0..len` (f32x4 body, scalar tail).
pub(crate) fn copy(
    b: &mut FunctionBuilder<'_>,
    dst: ir::Value,
    dst_start: usize,
    src: ir::Value,
    src_start: usize,
    len: usize,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let (d0, s0) = (dst_start as i64 * F32_BYTES, src_start as i64 * F32_BYTES);
    repeat(b, len / 4, UNROLL_VECTORS, |b, i| {
        let (sp, so) = i.addr(b, src, 16, s0);
        let v = b.ins().load(types::F32X4, fl, sp, so);
        let (dp, dof) = i.addr(b, dst, 16, d0);
        b.ins().store(fl, v, dp, dof);
        Ok(())
    })?;
    for t in (len / 4) * 4..len {
        let o = t as i64 * F32_BYTES;
        let v = b.ins().load(types::F32, fl, src, imm(s0 + o));
        b.ins().store(fl, v, dst, imm(d0 + o));
    }
    Ok(())
}

/// An f32x4 constant.
pub(crate) fn const_x4(b: &mut FunctionBuilder<'_>, lanes: [f32; 4]) -> ir::Value {
    let bytes: Vec<u8> = lanes.iter().flat_map(|v| v.to_le_bytes()).collect();
    let c = b.func.dfg.constants.insert(bytes.into());
    b.ins().vconst(types::F32X4, c)
}

/// A splatted f32x4 constant: a constant-pool load (one instruction), cheaper inside loops
/// than materialising the scalar and broadcasting it (three).
pub(crate) fn splat_x4(b: &mut FunctionBuilder<'_>, v: f32) -> ir::Value {
    const_x4(b, [v; 4])
}

/// A lane-wise comparison mask (i32x4 of all-ones/zeros) as an f32x4, for `bitselect`.
pub(crate) fn mask_x4(b: &mut FunctionBuilder<'_>, mask: ir::Value) -> ir::Value {
    b.ins().bitcast(
        types::F32X4,
        MemFlagsData::new().with_endianness(ir::Endianness::Little),
        mask,
    )
}

/// `[x|y][lanes[0]], …`: picks four 32-bit lanes from the concatenation `x ++ y` (indices
/// 0–3 from `x`, 4–7 from `y`). Patterns of two lanes from each operand lower to one
/// `shufps` on x64.
pub(crate) fn shuffle_x4(
    b: &mut FunctionBuilder<'_>,
    x: ir::Value,
    y: ir::Value,
    lanes: [u8; 4],
) -> ir::Value {
    let le = MemFlagsData::new().with_endianness(ir::Endianness::Little);
    let bytes: Vec<u8> = lanes
        .iter()
        .flat_map(|&l| (0..4).map(move |k| l * 4 + k))
        .collect();
    let mask = b.func.dfg.immediates.push(bytes.into());
    let xb = b.ins().bitcast(types::I8X16, le, x);
    let yb = b.ins().bitcast(types::I8X16, le, y);
    let s = b.ins().shuffle(xb, yb, mask);
    b.ins().bitcast(types::F32X4, le, s)
}

/// Checks that a buffer of `len` elements (computed with checked arithmetic, `None` on
/// overflow) is non-empty and under the JIT's size limit.
pub(crate) fn check_len(kernel: &str, what: &str, len: Option<usize>) -> Result<usize, JitError> {
    match len {
        Some(n) if n > 0 && n < MAX_ELEMS => Ok(n),
        _ => Err(JitError::InvalidShape {
            kernel: kernel.to_string(),
            reason: format!("`{what}` must have between 1 and 2^29 - 1 elements"),
        }),
    }
}

/// Largest element count of any kernel buffer: byte offsets must fit Cranelift's 32-bit
/// immediates.
pub(crate) const MAX_ELEMS: usize = 1 << 29;

/// The sum of the `len` contiguous f32 at `base + start·4` in exactly the order of
/// ndarray's `unrolled_fold` (what `ArrayBase::sum` and `sum_axis` over a contiguous lane
/// use): eight partial sums `p0..p7` over groups of eight (two f32x4 accumulators here),
/// then `acc = 0 + (p0+p4) + (p1+p5) + (p2+p6) + (p3+p7)`, then the tail one by one. The
/// reference ops reduce with that order, so the JIT's sums are bit-identical to theirs.
pub(crate) fn unrolled_fold_sum(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    start: i64,
    len: usize,
) -> Result<ir::Value, JitError> {
    let fl = buf_flags();
    let mut acc = b.ins().f32const(0.0);
    if len >= 8 {
        let zero = zero_x4(b);
        let lo = b.declare_var(types::F32X4);
        let hi = b.declare_var(types::F32X4);
        b.def_var(lo, zero);
        b.def_var(hi, zero);
        repeat(b, len / 8, 4, |b, g| {
            let (p, o) = g.addr(b, base, 32, start * F32_BYTES);
            let a = b.ins().load(types::F32X4, fl, p, o);
            let c = b.ins().load(types::F32X4, fl, p, o + 16);
            let (l, h) = (b.use_var(lo), b.use_var(hi));
            let l = b.ins().fadd(l, a);
            let h = b.ins().fadd(h, c);
            b.def_var(lo, l);
            b.def_var(hi, h);
            Ok(())
        })?;
        let (l, h) = (b.use_var(lo), b.use_var(hi));
        let pairs = b.ins().fadd(l, h);
        for lane in 0..4u8 {
            let v = b.ins().extractlane(pairs, lane);
            acc = b.ins().fadd(acc, v);
        }
    }
    // (For len < 8 the reference adds four `0 + 0` first; the accumulator stays +0.)
    for t in (len / 8) * 8..len {
        let v = b
            .ins()
            .load(types::F32, fl, base, imm((start + t as i64) * F32_BYTES));
        acc = b.ins().fadd(acc, v);
    }
    Ok(acc)
}

/// The sum of an `[height, width]` plane at `base` as the reference computes
/// `x.sum_axis(W).sum_axis(H)`: each row reduced with [`unrolled_fold_sum`], then the row
/// sums reduced in the same unrolled-fold order.
pub(crate) fn plane_sum(
    b: &mut FunctionBuilder<'_>,
    base: ir::Value,
    height: usize,
    width: usize,
) -> Result<ir::Value, JitError> {
    let row_bytes = (width as i64) * F32_BYTES;
    let mut acc = b.ins().f32const(0.0);
    if height >= 8 {
        let zero = b.ins().f32const(0.0);
        let parts: Vec<Variable> = (0..8)
            .map(|_| {
                let v = b.declare_var(types::F32);
                b.def_var(v, zero);
                v
            })
            .collect();
        repeat(b, height / 8, 1, |b, g| {
            for (k, &part) in parts.iter().enumerate() {
                let (p, o) = g.addr(b, base, 8 * row_bytes, k as i64 * row_bytes);
                let r = unrolled_fold_sum(b, p, i64::from(o) / F32_BYTES, width)?;
                let cur = b.use_var(part);
                let next = b.ins().fadd(cur, r);
                b.def_var(part, next);
            }
            Ok(())
        })?;
        for k in 0..4 {
            let (x, y) = (b.use_var(parts[k]), b.use_var(parts[k + 4]));
            let s = b.ins().fadd(x, y);
            acc = b.ins().fadd(acc, s);
        }
    }
    for h in (height / 8) * 8..height {
        let r = unrolled_fold_sum(b, base, h as i64 * width as i64, width)?;
        acc = b.ins().fadd(acc, r);
    }
    Ok(acc)
}

/// The address of an element given a buffer's base pointer.
pub(crate) type ElementAddress<'a> = &'a dyn Fn(&mut FunctionBuilder<'_>, ir::Value) -> ir::Value;

/// Runs `body` over `n` consecutive f32 elements: a runtime loop of f32x4 steps, then a
/// straight-line scalar tail. `body` gets the address function of the current element(s)
/// and the lane type (`F32X4` or `F32`), so one description serves both paths.
pub(crate) fn f32x4_with_tail(
    b: &mut FunctionBuilder<'_>,
    n: usize,
    body: impl Fn(&mut FunctionBuilder<'_>, ElementAddress<'_>, ir::Type),
) -> Result<(), JitError> {
    counted_loop(b, n / 4, |b, i| {
        body(
            b,
            &|b, base| offset(b, base, i, 4 * F32_BYTES),
            types::F32X4,
        );
        Ok(())
    })?;
    for t in (n / 4) * 4..n {
        body(
            b,
            &|b, base| b.ins().iadd_imm_s(base, t as i64 * F32_BYTES),
            types::F32,
        );
    }
    Ok(())
}
