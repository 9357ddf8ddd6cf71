//! Generated f32x4 elementwise kernels: ReLU forward, the ReLU backward mask (from the
//! forward output, as the fused dense/conv backward applies it) and the bias + ReLU epilogue.

use cranelift::codegen::ir::{self, InstBuilder, MemFlagsData, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::codegen::{buf_flags, counted_loop, offset, relu_f32, relu_x4, zero_x4};
use super::error::JitError;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};

/// An elementwise kernel to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementwiseSpec {
    /// `y = x > 0 ? x : 0` over `len` elements. Buffers: `x` (read), `y` (write).
    Relu {
        /// Elements.
        len: usize,
    },
    /// `dx = y > 0 ? dy : 0` with `y` the ReLU output. Buffers: `y`, `dy` (read), `dx`
    /// (write).
    ReluBackward {
        /// Elements.
        len: usize,
    },
    /// In place `y[r, c] = act(y[r, c] + bias[c])`, ReLU when `relu`. Buffers: `bias`
    /// (read, `cols`), `y` (write, `rows·cols`).
    BiasAct {
        /// Rows.
        rows: usize,
        /// Columns (bias length).
        cols: usize,
        /// Apply ReLU after the bias.
        relu: bool,
    },
}

/// Largest element count (byte offsets must fit Cranelift's 32-bit immediates).
const MAX_ELEMS: usize = 1 << 29;

/// A compiled elementwise kernel.
#[derive(Clone, Debug)]
pub struct ElementwiseKernel {
    spec: ElementwiseSpec,
    kernel: CompiledKernel,
}

impl ElementwiseKernel {
    /// Generates and compiles `spec`.
    pub fn compile(jit: &mut JitModule, spec: ElementwiseSpec) -> Result<Self, JitError> {
        let (name, params, total) = match spec {
            ElementwiseSpec::Relu { len } => (
                format!("relu_{len}"),
                vec![ParamSpec::read("x", len), ParamSpec::write("y", len)],
                Some(len),
            ),
            ElementwiseSpec::ReluBackward { len } => (
                format!("relu_backward_{len}"),
                vec![
                    ParamSpec::read("y", len),
                    ParamSpec::read("dy", len),
                    ParamSpec::write("dx", len),
                ],
                Some(len),
            ),
            ElementwiseSpec::BiasAct { rows, cols, relu } => (
                format!("bias{}_{rows}x{cols}", if relu { "_relu" } else { "" }),
                vec![
                    ParamSpec::read("bias", cols),
                    ParamSpec::write("y", rows.saturating_mul(cols)),
                ],
                rows.checked_mul(cols),
            ),
        };
        match total {
            Some(t) if t > 0 && t < MAX_ELEMS => {}
            _ => {
                return Err(JitError::InvalidShape {
                    kernel: name,
                    reason: format!("element count must be in 1..{MAX_ELEMS}"),
                });
            }
        }
        let kernel = jit.compile(&name, params, |b, p| match spec {
            ElementwiseSpec::Relu { len } => emit_map(b, len, &[p[0]], p[1], |b, v, w| {
                if w == 4 {
                    relu_x4(b, v[0])
                } else {
                    relu_f32(b, v[0])
                }
            }),
            ElementwiseSpec::ReluBackward { len } => {
                emit_map(b, len, &[p[0], p[1]], p[2], |b, v, w| {
                    if w == 4 {
                        let zero = zero_x4(b);
                        let m = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
                        let m = b.ins().bitcast(
                            types::F32X4,
                            MemFlagsData::new().with_endianness(ir::Endianness::Little),
                            m,
                        );
                        b.ins().bitselect(m, v[1], zero)
                    } else {
                        let zero = b.ins().f32const(0.0);
                        let gt = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
                        b.ins().select(gt, v[1], zero)
                    }
                })
            }
            ElementwiseSpec::BiasAct { rows, cols, relu } => counted_loop(b, rows, |b, r| {
                let row = offset(b, p[1], r, (cols as i64) * F32_BYTES);
                emit_map(b, cols, &[row, p[0]], row, |b, v, w| {
                    let s = b.ins().fadd(v[0], v[1]);
                    match (relu, w) {
                        (false, _) => s,
                        (true, 4) => relu_x4(b, s),
                        (true, _) => relu_f32(b, s),
                    }
                })
            }),
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec this kernel was generated for.
    pub fn spec(&self) -> &ElementwiseSpec {
        &self.spec
    }

    /// Runs the kernel: `inputs` are the read buffers and `output` the written one, in the
    /// order documented on [`ElementwiseSpec`].
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<(), JitError> {
        let mut args: Vec<KernelArg<'_>> = inputs.iter().map(|s| KernelArg::Read(s)).collect();
        args.push(KernelArg::Write(output));
        self.kernel.call(&mut args)
    }
}

/// `out[i] = f(in_0[i], in_1[i], …)` for `i in 0..len`: f32x4 body, scalar tail. `f`
/// receives the loaded values and the width (4 or 1). `out` may be one of the inputs (the
/// element is loaded before it is stored).
pub(crate) fn emit_map(
    b: &mut FunctionBuilder<'_>,
    len: usize,
    inputs: &[ir::Value],
    out: ir::Value,
    f: impl Fn(&mut FunctionBuilder<'_>, &[ir::Value], usize) -> ir::Value,
) -> Result<(), JitError> {
    let fl = buf_flags();
    counted_loop(b, len / 4, |b, i| {
        let vals: Vec<ir::Value> = inputs
            .iter()
            .map(|&base| {
                let p = offset(b, base, i, 4 * F32_BYTES);
                b.ins().load(types::F32X4, fl, p, 0)
            })
            .collect();
        let r = f(b, &vals, 4);
        let o = offset(b, out, i, 4 * F32_BYTES);
        b.ins().store(fl, r, o, 0);
        Ok(())
    })?;
    for t in (len / 4) * 4..len {
        let off = (t as i64 * F32_BYTES) as i32;
        let vals: Vec<ir::Value> = inputs
            .iter()
            .map(|&base| b.ins().load(types::F32, fl, base, off))
            .collect();
        let r = f(b, &vals, 1);
        b.ins().store(fl, r, out, off);
    }
    Ok(())
}
