//! Generated SGD update (momentum, dampening, Nesterov, L2 weight decay) over one parameter
//! tensor, bit-identical to `runtime::reference::sgd_step` (PyTorch's `torch.optim.SGD`):
//! the same f32 operations in the same order, no FMA contraction, hyper-parameters rounded
//! to f32 exactly as the reference rounds them.

use cranelift::codegen::ir::{self, InstBuilder, condcodes::FloatCC, types};
use cranelift::frontend::FunctionBuilder;

use super::bits::F32Bits;
use super::codegen::{ElementAddress, buf_flags, check_len, f32x4_with_tail};
use super::error::JitError;
use super::module::{CompiledKernel, JitModule, KernelArg, ParamSpec};

/// An SGD update to generate (hyper-parameters as in `lower::Update::Sgd`; PyTorch's
/// `dampening` too, 0 in plans).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SgdSpec {
    /// Elements of the parameter.
    pub len: usize,
    /// Momentum factor `μ`; 0 disables the velocity buffer.
    pub momentum: F32Bits,
    /// Dampening `τ ∈ [0, 1]` of the gradient added to the buffer.
    pub dampening: F32Bits,
    /// Nesterov momentum (needs `μ > 0` and `τ = 0`).
    pub nesterov: bool,
    /// L2 penalty `λ` added to the gradient.
    pub weight_decay: F32Bits,
}

impl SgdSpec {
    /// Whether the update keeps a velocity buffer (`μ ≠ 0`).
    pub fn has_velocity(&self) -> bool {
        self.momentum.get() != 0.0
    }
}

/// A compiled SGD update. Per element:
///
/// ```text
/// g = grad + λ·p
/// if μ ≠ 0:  v = first_step ? g : μ·v + (1−τ)·g;   g = nesterov ? g + μ·v : v
/// p = p − lr·g
/// ```
///
/// Each element depends on its own index only, so any split of the tensor gives the same
/// bits. f32x4 body, scalar tail; the first-step variant is a second loop chosen at run time.
#[derive(Clone, Debug)]
pub struct SgdKernel {
    spec: SgdSpec,
    kernel: CompiledKernel,
}

impl SgdKernel {
    /// Generates and compiles the update.
    pub fn compile(jit: &mut JitModule, spec: SgdSpec) -> Result<Self, JitError> {
        let s = spec;
        let name = format!(
            "sgd{}{}_{}",
            if s.has_velocity() { "_momentum" } else { "" },
            if s.nesterov { "_nesterov" } else { "" },
            s.len
        );
        let (mu, tau, wd) = (s.momentum.get(), s.dampening.get(), s.weight_decay.get());
        let bad = |reason: &str| JitError::InvalidShape {
            kernel: name.clone(),
            reason: reason.to_string(),
        };
        if !(mu.is_finite() && mu >= 0.0 && wd.is_finite() && wd >= 0.0) {
            return Err(bad("momentum and weight decay must be finite and ≥ 0"));
        }
        if !(0.0..=1.0).contains(&tau) {
            return Err(bad("dampening must be in [0, 1]"));
        }
        if s.nesterov && (mu <= 0.0 || tau != 0.0) {
            return Err(bad(
                "Nesterov momentum requires momentum > 0 and dampening = 0",
            ));
        }
        let n = check_len(&name, "param", Some(s.len))?;
        let mut params = vec![ParamSpec::write("param", n), ParamSpec::read("grad", n)];
        if s.has_velocity() {
            params.push(ParamSpec::write("velocity", n));
        }
        params.push(ParamSpec::read("hyper", HYPER));
        let kernel = jit.compile(&name, params, |b, p| emit(b, &s, p))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &SgdSpec {
        &self.spec
    }

    /// One step with learning rate `lr`. `velocity` must be given exactly when the spec has
    /// momentum; on the `first_step` its contents are ignored and it is set to the
    /// gradient (PyTorch starts the buffer that way).
    pub fn run(
        &self,
        param: &mut [f32],
        grad: &[f32],
        velocity: Option<&mut [f32]>,
        lr: f32,
        first_step: bool,
    ) -> Result<(), JitError> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(JitError::Argument {
                kernel: self.kernel.name().to_string(),
                param: "lr".to_string(),
                problem: format!("is {lr}; it must be finite and ≥ 0"),
            });
        }
        let hyper = [lr, if first_step { 1.0 } else { 0.0 }];
        let mut args = vec![KernelArg::Write(param), KernelArg::Read(grad)];
        match (velocity, self.spec.has_velocity()) {
            (Some(v), true) => args.push(KernelArg::Write(v)),
            (None, false) => {}
            (_, expected) => {
                return Err(JitError::Argument {
                    kernel: self.kernel.name().to_string(),
                    param: "velocity".to_string(),
                    problem: if expected {
                        "is required with momentum".to_string()
                    } else {
                        "was passed but the update has no momentum".to_string()
                    },
                });
            }
        }
        args.push(KernelArg::Read(&hyper));
        self.kernel.call(&mut args)
    }
}

/// Run-time scalars: `[lr, first_step (1.0 or 0.0)]`.
const HYPER: usize = 2;

fn emit(b: &mut FunctionBuilder<'_>, s: &SgdSpec, p: &[ir::Value]) -> Result<(), JitError> {
    let fl = buf_flags();
    let hyper = p[p.len() - 1];
    let lr = b.ins().load(types::F32, fl, hyper, 0);
    if !s.has_velocity() {
        return emit_loop(b, s, p, lr, false);
    }
    let flag = b.ins().load(types::F32, fl, hyper, 4);
    let zero = b.ins().f32const(0.0);
    let first = b.ins().fcmp(FloatCC::NotEqual, flag, zero);
    let (first_blk, later_blk, done) = (b.create_block(), b.create_block(), b.create_block());
    b.ins().brif(first, first_blk, &[], later_blk, &[]);
    b.switch_to_block(first_blk);
    emit_loop(b, s, p, lr, true)?;
    b.ins().jump(done, &[]);
    b.switch_to_block(later_blk);
    emit_loop(b, s, p, lr, false)?;
    b.ins().jump(done, &[]);
    b.switch_to_block(done);
    Ok(())
}

fn emit_loop(
    b: &mut FunctionBuilder<'_>,
    s: &SgdSpec,
    p: &[ir::Value],
    lr: ir::Value,
    first: bool,
) -> Result<(), JitError> {
    let fl = buf_flags();
    // The reference's f32 constants: of_f64(f64::from(x)) = x, keep = of_f64(1 − τ).
    let keep = (1.0 - f64::from(s.dampening.get())) as f32;
    let body = |b: &mut FunctionBuilder<'_>, at: ElementAddress<'_>, ty: ir::Type| {
        let k = |b: &mut FunctionBuilder<'_>, v: f32| {
            let c = b.ins().f32const(v);
            if ty == types::F32 {
                c
            } else {
                b.ins().splat(ty, c)
            }
        };
        let wd = k(b, s.weight_decay.get());
        let lr = if ty == types::F32 {
            lr
        } else {
            b.ins().splat(ty, lr)
        };
        let pp = at(b, p[0]);
        let gp = at(b, p[1]);
        let param = b.ins().load(ty, fl, pp, 0);
        let g = b.ins().load(ty, fl, gp, 0);
        let decay = b.ins().fmul(wd, param);
        let g = b.ins().fadd(g, decay);
        let step = if s.has_velocity() {
            let mu = k(b, s.momentum.get());
            let vp = at(b, p[2]);
            let v = if first {
                g
            } else {
                let old = b.ins().load(ty, fl, vp, 0);
                let kk = k(b, keep);
                let a = b.ins().fmul(mu, old);
                let c = b.ins().fmul(kk, g);
                b.ins().fadd(a, c)
            };
            b.ins().store(fl, v, vp, 0);
            if s.nesterov {
                let m = b.ins().fmul(mu, v);
                b.ins().fadd(g, m)
            } else {
                v
            }
        } else {
            g
        };
        let upd = b.ins().fmul(lr, step);
        let param = b.ins().fsub(param, upd);
        b.ins().store(fl, param, pp, 0);
    };
    let n = s.len;
    f32x4_with_tail(b, n, body)
}
