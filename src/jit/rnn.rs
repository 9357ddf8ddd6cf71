//! Generated cell kernels of the recurrent layers: one time step of a GRU or LSTM for all
//! rows of a batch, from the step's input projection `gi = x·W_ihᵀ + b_ih` and hidden
//! projection `gh = h·W_hhᵀ + b_hh` (both `[rows, G·H]`, computed by matrix products
//! outside). The kernel applies the gates elementwise (f32x4 with a scalar tail) and writes
//! the new state and the values the backward pass through time needs, in the layout of the
//! reference op (`runtime::reference::rnn`): GRU r, z, n, `W_hn h + b_hn`; LSTM i, f, g, o, c.
//!
//! The operations are the reference's in the same order; σ and tanh use the inline
//! polynomials of `jit::math` (σ by the two overflow-free branches of the sigmoid kernel),
//! so results agree with the reference to a few ulp, not bit for bit.

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC};
use cranelift::frontend::FunctionBuilder;

use super::codegen::{MAX_ELEMS, buf_flags, counted_loop, f32x4_with_tail, offset};
use super::error::JitError;
use super::math;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};
use crate::check::RnnCell;

/// One step of a recurrent cell over `rows` rows of `hidden` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RnnCellSpec {
    /// GRU or LSTM.
    pub cell: RnnCell,
    /// Rows (batch).
    pub rows: usize,
    /// Hidden units H.
    pub hidden: usize,
}

impl RnnCellSpec {
    /// Elements of `gi` and `gh`: rows·G·H.
    pub fn gates_len(&self) -> usize {
        self.rows * self.cell.gates() * self.hidden
    }
    /// Elements of the state `h`: rows·H.
    pub fn state_len(&self) -> usize {
        self.rows * self.hidden
    }
    /// Elements of the saved values of one step: rows·S.
    pub fn saved_len(&self) -> usize {
        self.rows * self.cell.trace_width(self.hidden)
    }
    /// Elements of the previous-step input: `h` [rows, H] for a GRU, the previous step's
    /// saved values [rows, S] (whose last H columns are the cell state c) for an LSTM.
    pub fn prev_len(&self) -> usize {
        match self.cell {
            RnnCell::Gru => self.state_len(),
            RnnCell::Lstm => self.saved_len(),
        }
    }
}

/// A compiled cell step.
#[derive(Clone, Debug)]
pub struct RnnCellKernel {
    spec: RnnCellSpec,
    kernel: CompiledKernel,
}

impl RnnCellKernel {
    /// Generates and compiles `spec`.
    pub fn compile(jit: &mut JitModule, spec: RnnCellSpec) -> Result<Self, JitError> {
        let name = format!(
            "{}_cell_{}x{}",
            match spec.cell {
                RnnCell::Gru => "gru",
                RnnCell::Lstm => "lstm",
            },
            spec.rows,
            spec.hidden
        );
        let fits = spec
            .rows
            .checked_mul(spec.hidden)
            .and_then(|v| v.checked_mul(5))
            .is_some_and(|v| v > 0 && v < MAX_ELEMS);
        if !fits {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: format!("rows·5·hidden must be in 1..{MAX_ELEMS}"),
            });
        }
        let params = vec![
            ParamSpec::read("gi", spec.gates_len()),
            ParamSpec::read("gh", spec.gates_len()),
            ParamSpec::read("prev", spec.prev_len()),
            ParamSpec::write("h", spec.state_len()),
            ParamSpec::write("saved", spec.saved_len()),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit(b, &spec, p))?;
        Ok(Self { spec, kernel })
    }

    /// The spec this kernel was generated for.
    pub fn spec(&self) -> &RnnCellSpec {
        &self.spec
    }

    /// Runs one step: `gi`, `gh` [rows, G·H], `prev` (see [`RnnCellSpec::prev_len`]; zeros
    /// at the first step) → the new state `h` [rows, H] and `saved` [rows, S].
    pub fn run(
        &self,
        gi: &[f32],
        gh: &[f32],
        prev: &[f32],
        h: &mut [f32],
        saved: &mut [f32],
    ) -> Result<(), JitError> {
        let (hs, ss) = (h, saved);
        let mut args = [
            KernelArg::Read(gi),
            KernelArg::Read(gh),
            KernelArg::Read(prev),
            KernelArg::Write(hs),
            KernelArg::Write(ss),
        ];
        self.kernel.call(&mut args)
    }
}

/// σ(x) as the sigmoid kernel computes it: `e = exp(−|x|)`, then `1/(1+e)` for x ≥ 0 and
/// `e/(1+e)` otherwise.
fn sigmoid(b: &mut FunctionBuilder<'_>, x: ir::Value, ty: ir::Type) -> ir::Value {
    let ax = b.ins().fabs(x);
    let nx = b.ins().fneg(ax);
    let e = math::exp(b, nx);
    let one = math::k(b, ty, 1.0);
    let d = b.ins().fadd(one, e);
    let zero = math::k(b, ty, 0.0);
    let ge = b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
    let num = math::pick(b, ge, one, e);
    b.ins().fdiv(num, d)
}

fn emit(b: &mut FunctionBuilder<'_>, spec: &RnnCellSpec, p: &[ir::Value]) -> Result<(), JitError> {
    let h = spec.hidden as i64;
    let g = spec.cell.gates() as i64;
    let s = spec.cell.trace_width(spec.hidden) as i64;
    let prev_stride = match spec.cell {
        RnnCell::Gru => h,
        RnnCell::Lstm => s,
    };
    let fl = buf_flags();
    counted_loop(b, spec.rows, |b, r| {
        let gi = offset(b, p[0], r, g * h * F32_BYTES);
        let gh = offset(b, p[1], r, g * h * F32_BYTES);
        let prev = offset(b, p[2], r, prev_stride * F32_BYTES);
        let out = offset(b, p[3], r, h * F32_BYTES);
        let saved = offset(b, p[4], r, s * F32_BYTES);
        f32x4_with_tail(b, spec.hidden, |b, at, ty| {
            let gate = |b: &mut FunctionBuilder<'_>, base: ir::Value, k: i64| {
                let a = at(b, base);
                b.ins().load(ty, fl, a, (k * h * F32_BYTES) as i32)
            };
            let put = |b: &mut FunctionBuilder<'_>, base: ir::Value, k: i64, v: ir::Value| {
                let a = at(b, base);
                b.ins().store(fl, v, a, (k * h * F32_BYTES) as i32);
            };
            let one = math::k(b, ty, 1.0);
            match spec.cell {
                RnnCell::Gru => {
                    let (ir_, iz, in_) = (gate(b, gi, 0), gate(b, gi, 1), gate(b, gi, 2));
                    let (hr, hz, hn) = (gate(b, gh, 0), gate(b, gh, 1), gate(b, gh, 2));
                    let hp = gate(b, prev, 0);
                    let ar = b.ins().fadd(ir_, hr);
                    let rr = sigmoid(b, ar, ty);
                    let az = b.ins().fadd(iz, hz);
                    let z = sigmoid(b, az, ty);
                    let rh = b.ins().fmul(rr, hn);
                    let an = b.ins().fadd(in_, rh);
                    let n = math::tanh(b, an);
                    let omz = b.ins().fsub(one, z);
                    let a = b.ins().fmul(omz, n);
                    let c = b.ins().fmul(z, hp);
                    let hnew = b.ins().fadd(a, c);
                    put(b, out, 0, hnew);
                    for (k, v) in [rr, z, n, hn].into_iter().enumerate() {
                        put(b, saved, k as i64, v);
                    }
                }
                RnnCell::Lstm => {
                    let pre = |b: &mut FunctionBuilder<'_>, k: i64| {
                        let x = gate(b, gi, k);
                        let y = gate(b, gh, k);
                        b.ins().fadd(x, y)
                    };
                    let (p0, p1, p2, p3) = (pre(b, 0), pre(b, 1), pre(b, 2), pre(b, 3));
                    let i = sigmoid(b, p0, ty);
                    let f = sigmoid(b, p1, ty);
                    let gg = math::tanh(b, p2);
                    let o = sigmoid(b, p3, ty);
                    let cp = gate(b, prev, 4);
                    let fc = b.ins().fmul(f, cp);
                    let ig = b.ins().fmul(i, gg);
                    let c = b.ins().fadd(fc, ig);
                    let tc = math::tanh(b, c);
                    let hnew = b.ins().fmul(o, tc);
                    put(b, out, 0, hnew);
                    for (k, v) in [i, f, gg, o, c].into_iter().enumerate() {
                        put(b, saved, k as i64, v);
                    }
                }
            }
        })?;
        Ok(())
    })
}
