//! Small IR-building helpers shared by the kernel generators.

use cranelift::codegen::ir::{self, InstBuilder, MemFlagsData, condcodes::IntCC, types};
use cranelift::frontend::FunctionBuilder;

use super::error::JitError;

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
    let z = b.ins().f32const(0.0);
    b.ins().splat(types::F32X4, z)
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
