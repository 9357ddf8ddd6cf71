//! Generated f32x4 elementwise kernels: activations (ReLU, leaky ReLU, sigmoid, tanh, GELU) and
//! their backward passes, the bias + ReLU epilogue, and the small vector operations of a
//! training step (add, accumulate, multiply, scale, sum of squares).
//!
//! Every output element is a fixed function of the same-index inputs, so any split of a
//! buffer into chunks gives the same bits (`SumSquares` is a reduction over a whole buffer
//! in a fixed order). All kernels but sigmoid/tanh forward and `SumSquares` perform the
//! reference's f32 operations and are bit-identical to it; sigmoid/tanh use the inline
//! `exp`/`tanh` polynomials of `jit::math` (tested ≤ 2 ulp per call), GELU the `Φ`
//! polynomial of `jit::gelu`.

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::bits::F32Bits;
use super::codegen::{
    MAX_ELEMS, buf_flags, counted_loop, mask_x4, offset, relu_f32, relu_x4, shuffle_x4, splat_x4,
};
use super::error::JitError;
use super::gelu;
use super::math;
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
    /// `y = a + b` (residual connections). Buffers: `a`, `b` (read), `y` (write).
    Add {
        /// Elements.
        len: usize,
    },
    /// `dst = dst + src` (a gradient reaching a buffer along two paths). Buffers: `src`
    /// (read), `dst` (write).
    Accumulate {
        /// Elements.
        len: usize,
    },
    /// `y = a · b` (dropout and its backward with the mask). Buffers: `a`, `b` (read), `y`
    /// (write).
    Mul {
        /// Elements.
        len: usize,
    },
    /// `x = x · s[0]` in place (gradient clipping). Buffers: `s` (read, 1 element), `x`
    /// (write).
    Scale {
        /// Elements of `x`.
        len: usize,
    },
    /// `Σ x²` accumulated in f64 (exact squares, four f64x2 partial sums over groups of
    /// eight, combined in a fixed order, then the tail in order), for the gradient-clipping
    /// norm. Buffers: `x` (read), `out` (write, 2 elements holding the f64 result's bytes;
    /// [`ElementwiseKernel::sum_squares`] returns it as an `f64`).
    SumSquares {
        /// Elements.
        len: usize,
    },
    /// `y = x > 0 ? x : slope·x`. Buffers: `x` (read), `y` (write).
    LeakyRelu {
        /// Elements.
        len: usize,
        /// Negative slope.
        slope: F32Bits,
    },
    /// `dx = x > 0 ? dy : slope·dy` from the forward input. Buffers: `x`, `dy` (read), `dx`
    /// (write).
    LeakyReluBackward {
        /// Elements.
        len: usize,
        /// Negative slope.
        slope: F32Bits,
    },
    /// `y = 1/(1 + e^−x)` for `x ≥ 0`, `e^x/(1 + e^x)` otherwise (the reference's two
    /// overflow-free branches). Buffers: `x` (read), `y` (write).
    Sigmoid {
        /// Elements.
        len: usize,
    },
    /// `dx = dy · y · (1 − y)` from the forward output. Buffers: `y`, `dy` (read), `dx`
    /// (write).
    SigmoidBackward {
        /// Elements.
        len: usize,
    },
    /// `y = tanh x`. Buffers: `x` (read), `y` (write).
    Tanh {
        /// Elements.
        len: usize,
    },
    /// `dx = dy · (1 − y²)` from the forward output. Buffers: `y`, `dy` (read), `dx`
    /// (write).
    TanhBackward {
        /// Elements.
        len: usize,
    },
    /// `y = x·Φ(x)`, the exact (erf-form) GELU (`jit::gelu` documents the method and
    /// accuracy). Buffers: `x` (read), `y` (write).
    Gelu {
        /// Elements.
        len: usize,
    },
    /// `dx = dy · (Φ(x) + x·φ(x))` from the forward input. Buffers: `x`, `dy` (read), `dx`
    /// (write).
    GeluBackward {
        /// Elements.
        len: usize,
    },
}

/// A compiled elementwise kernel.
#[derive(Clone, Debug)]
pub struct ElementwiseKernel {
    spec: ElementwiseSpec,
    kernel: CompiledKernel,
}

impl ElementwiseKernel {
    /// Generates and compiles `spec`.
    pub fn compile(jit: &mut JitModule, spec: ElementwiseSpec) -> Result<Self, JitError> {
        let (name, params, total) = signature(&spec);
        match total {
            Some(t) if t > 0 && t < MAX_ELEMS => {}
            _ => {
                return Err(JitError::InvalidShape {
                    kernel: name,
                    reason: format!("element count must be in 1..{MAX_ELEMS}"),
                });
            }
        }
        let kernel = jit.compile(&name, params, |b, p| emit(b, &spec, p))?;
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

    /// Runs a [`ElementwiseSpec::SumSquares`] kernel on `x` and returns `Σ x²`.
    pub fn sum_squares(&self, x: &[f32]) -> Result<f64, JitError> {
        if !matches!(self.spec, ElementwiseSpec::SumSquares { .. }) {
            return Err(JitError::Argument {
                kernel: self.kernel.name().to_string(),
                param: "x".to_string(),
                problem: "sum_squares needs a SumSquares kernel".to_string(),
            });
        }
        let mut out = [0.0f32; 2];
        self.run(&[x], &mut out)?;
        let lo = u64::from(out[0].to_bits());
        let hi = u64::from(out[1].to_bits());
        Ok(f64::from_bits(lo | (hi << 32)))
    }
}

/// Name, buffers and total element count (None on overflow) of a spec.
fn signature(spec: &ElementwiseSpec) -> (String, Vec<ParamSpec>, Option<usize>) {
    use ElementwiseSpec as E;
    let unary = |name: String, len: usize, i: &str, o: &str| {
        (
            name,
            vec![ParamSpec::read(i, len), ParamSpec::write(o, len)],
            Some(len),
        )
    };
    let binary = |name: String, len: usize, a: &str, b: &str, o: &str| {
        (
            name,
            vec![
                ParamSpec::read(a, len),
                ParamSpec::read(b, len),
                ParamSpec::write(o, len),
            ],
            Some(len),
        )
    };
    match *spec {
        E::Relu { len } => unary(format!("relu_{len}"), len, "x", "y"),
        E::ReluBackward { len } => binary(format!("relu_backward_{len}"), len, "y", "dy", "dx"),
        E::BiasAct { rows, cols, relu } => (
            format!("bias{}_{rows}x{cols}", if relu { "_relu" } else { "" }),
            vec![
                ParamSpec::read("bias", cols),
                ParamSpec::write("y", rows.saturating_mul(cols)),
            ],
            rows.checked_mul(cols),
        ),
        E::Add { len } => binary(format!("add_{len}"), len, "a", "b", "y"),
        E::Accumulate { len } => unary(format!("accumulate_{len}"), len, "src", "dst"),
        E::Mul { len } => binary(format!("mul_{len}"), len, "a", "b", "y"),
        E::Scale { len } => (
            format!("scale_{len}"),
            vec![ParamSpec::read("s", 1), ParamSpec::write("x", len)],
            Some(len),
        ),
        E::SumSquares { len } => (
            format!("sum_squares_{len}"),
            vec![ParamSpec::read("x", len), ParamSpec::write("out", 2)],
            Some(len),
        ),
        E::LeakyRelu { len, .. } => unary(format!("leaky_relu_{len}"), len, "x", "y"),
        E::LeakyReluBackward { len, .. } => {
            binary(format!("leaky_relu_backward_{len}"), len, "x", "dy", "dx")
        }
        E::Sigmoid { len } => unary(format!("sigmoid_{len}"), len, "x", "y"),
        E::SigmoidBackward { len } => {
            binary(format!("sigmoid_backward_{len}"), len, "y", "dy", "dx")
        }
        E::Tanh { len } => unary(format!("tanh_{len}"), len, "x", "y"),
        E::TanhBackward { len } => binary(format!("tanh_backward_{len}"), len, "y", "dy", "dx"),
        E::Gelu { len } => unary(format!("gelu_{len}"), len, "x", "y"),
        E::GeluBackward { len } => binary(format!("gelu_backward_{len}"), len, "x", "dy", "dx"),
    }
}

/// A constant of type `ty` (f32, or f32x4 from the constant pool).
fn konst(b: &mut FunctionBuilder<'_>, ty: ir::Type, v: f32) -> ir::Value {
    if ty == types::F32 {
        b.ins().f32const(v)
    } else {
        splat_x4(b, v)
    }
}

/// `cond ? yes : no` for an `fcmp` result of either width.
fn pick(b: &mut FunctionBuilder<'_>, cond: ir::Value, yes: ir::Value, no: ir::Value) -> ir::Value {
    if b.func.dfg.value_type(yes) == types::F32 {
        b.ins().select(cond, yes, no)
    } else {
        let m = mask_x4(b, cond);
        b.ins().bitselect(m, yes, no)
    }
}

fn width_type(w: usize) -> ir::Type {
    if w == 4 { types::F32X4 } else { types::F32 }
}

fn emit(
    b: &mut FunctionBuilder<'_>,
    spec: &ElementwiseSpec,
    p: &[ir::Value],
) -> Result<(), JitError> {
    use ElementwiseSpec as E;
    match *spec {
        E::Relu { len } => emit_map(b, len, &[p[0]], p[1], |b, v, w| {
            if w == 4 {
                relu_x4(b, v[0])
            } else {
                relu_f32(b, v[0])
            }
        }),
        E::ReluBackward { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, w| {
            let zero = konst(b, width_type(w), 0.0);
            let gt = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
            pick(b, gt, v[1], zero)
        }),
        E::BiasAct { rows, cols, relu } => counted_loop(b, rows, |b, r| {
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
        E::Add { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, _| {
            b.ins().fadd(v[0], v[1])
        }),
        // The reference computes `dst + src`.
        E::Accumulate { len } => emit_map(b, len, &[p[1], p[0]], p[1], |b, v, _| {
            b.ins().fadd(v[0], v[1])
        }),
        E::Mul { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, _| {
            b.ins().fmul(v[0], v[1])
        }),
        E::Scale { len } => {
            let s = b.ins().load(types::F32, buf_flags(), p[0], 0);
            let s4 = b.ins().splat(types::F32X4, s);
            emit_map(b, len, &[p[1]], p[1], |b, v, w| {
                b.ins().fmul(v[0], if w == 4 { s4 } else { s })
            })
        }
        E::SumSquares { len } => emit_sum_squares(b, len, p[0], p[1]),
        E::LeakyRelu { len, slope } => emit_map(b, len, &[p[0]], p[1], |b, v, w| {
            let ty = width_type(w);
            let (zero, s) = (konst(b, ty, 0.0), konst(b, ty, slope.get()));
            let gt = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
            let neg = b.ins().fmul(v[0], s);
            pick(b, gt, v[0], neg)
        }),
        E::LeakyReluBackward { len, slope } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, w| {
            let ty = width_type(w);
            let (zero, s) = (konst(b, ty, 0.0), konst(b, ty, slope.get()));
            let gt = b.ins().fcmp(FloatCC::GreaterThan, v[0], zero);
            let neg = b.ins().fmul(v[1], s);
            pick(b, gt, v[1], neg)
        }),
        E::Sigmoid { len } => emit_map(b, len, &[p[0]], p[1], |b, v, w| {
            let ty = width_type(w);
            let x = v[0];
            // e = exp(−|x|) ≤ 1: x ≥ 0 → 1/(1+e), else e/(1+e) (the reference's branches).
            let ax = b.ins().fabs(x);
            let nx = b.ins().fneg(ax);
            let e = math::exp(b, nx);
            // One division: the numerator is 1 or e.
            let one = konst(b, ty, 1.0);
            let d = b.ins().fadd(one, e);
            let zero = konst(b, ty, 0.0);
            let ge = b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
            let num = pick(b, ge, one, e);
            b.ins().fdiv(num, d)
        }),
        E::SigmoidBackward { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, w| {
            let one = konst(b, width_type(w), 1.0);
            let gy = b.ins().fmul(v[1], v[0]);
            let c = b.ins().fsub(one, v[0]);
            b.ins().fmul(gy, c)
        }),
        E::Tanh { len } => emit_map(b, len, &[p[0]], p[1], |b, v, _| math::tanh(b, v[0])),
        E::TanhBackward { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, w| {
            let one = konst(b, width_type(w), 1.0);
            let yy = b.ins().fmul(v[0], v[0]);
            let c = b.ins().fsub(one, yy);
            b.ins().fmul(v[1], c)
        }),
        E::Gelu { len } => emit_map(b, len, &[p[0]], p[1], |b, v, _| gelu::gelu(b, v[0])),
        // The reference rounds the derivative to f32, then multiplies by dy: same here.
        E::GeluBackward { len } => emit_map(b, len, &[p[0], p[1]], p[2], |b, v, _| {
            let d = gelu::gelu_derivative(b, v[0]);
            b.ins().fmul(v[1], d)
        }),
    }
}

/// `out[0..2] ← Σ x²` as an f64: per group of eight, lanes promoted to f64 and squared
/// into four f64x2 accumulators `a0..a3` (elements 0–1, 2–3, 4–5, 6–7 of each group);
/// then `((a0 + a1) + (a2 + a3))`, its two lanes added, and the tail added in order.
fn emit_sum_squares(
    b: &mut FunctionBuilder<'_>,
    len: usize,
    x: ir::Value,
    out: ir::Value,
) -> Result<(), JitError> {
    let fl = buf_flags();
    let z = b.ins().f64const(0.0);
    let z2 = b.ins().splat(types::F64X2, z);
    let accs: Vec<_> = (0..4)
        .map(|_| {
            let v = b.declare_var(types::F64X2);
            b.def_var(v, z2);
            v
        })
        .collect();
    counted_loop(b, len / 8, |b, i| {
        let base = offset(b, x, i, 8 * F32_BYTES);
        for half in 0..2 {
            let v = b.ins().load(types::F32X4, fl, base, half * 16);
            let high = shuffle_x4(b, v, v, [2, 3, 2, 3]);
            for (k, part) in [v, high].into_iter().enumerate() {
                let d = b.ins().fvpromote_low(part);
                let acc = accs[2 * half as usize + k];
                let cur = b.use_var(acc);
                let next = b.ins().fma(d, d, cur);
                b.def_var(acc, next);
            }
        }
        Ok(())
    })?;
    let a: Vec<ir::Value> = accs.iter().map(|&v| b.use_var(v)).collect();
    let s01 = b.ins().fadd(a[0], a[1]);
    let s23 = b.ins().fadd(a[2], a[3]);
    let s = b.ins().fadd(s01, s23);
    let l0 = b.ins().extractlane(s, 0);
    let l1 = b.ins().extractlane(s, 1);
    let mut total = b.ins().fadd(l0, l1);
    for t in (len / 8) * 8..len {
        let v = b
            .ins()
            .load(types::F32, fl, x, (t as i64 * F32_BYTES) as i32);
        let d = b.ins().fpromote(types::F64, v);
        total = b.ins().fma(d, d, total);
    }
    b.ins().store(fl, total, out, 0);
    Ok(())
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
