//! Generated Adam / AdamW update over one parameter tensor, bit-identical to
//! `runtime::reference::{adam_step, adamw_step}` in f32 (same operations in the same order,
//! no FMA contraction; per-step scalars computed on the host in f64 exactly as there).

use cranelift::codegen::ir::{self, InstBuilder, types};
use cranelift::frontend::FunctionBuilder;

use super::codegen::{ElementAddress, buf_flags, f32x4_with_tail};
use super::error::JitError;
use super::module::{CompiledKernel, JitModule, KernelArg, ParamSpec};

/// An Adam update to generate (hyper-parameters as in `lower::Update::Adam`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamSpec {
    /// Elements of the parameter.
    pub len: usize,
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f32,
    /// AdamW.
    pub decoupled: bool,
}

/// A compiled Adam update.
#[derive(Clone, Debug)]
pub struct AdamKernel {
    spec: AdamSpec,
    kernel: CompiledKernel,
}

/// Per-step scalars passed at run time: `[step_size, sqrt(1 - β2^t), 1 - lr·wd]`.
const HYPER: usize = 3;

impl AdamKernel {
    /// Generates and compiles the update.
    pub fn compile(jit: &mut JitModule, spec: AdamSpec) -> Result<Self, JitError> {
        let name = format!("adam{}_{}", if spec.decoupled { "w" } else { "" }, spec.len);
        if spec.len == 0 || spec.len >= 1 << 29 {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: "length must be in 1..2^29".to_string(),
            });
        }
        let finite = [spec.beta1, spec.beta2, spec.eps, spec.weight_decay];
        if finite.iter().any(|x| !x.is_finite() || *x < 0.0)
            || spec.beta1 >= 1.0
            || spec.beta2 >= 1.0
        {
            return Err(JitError::InvalidShape {
                kernel: name,
                reason: "betas must be in [0, 1), eps and weight decay finite and ≥ 0".to_string(),
            });
        }
        let n = spec.len;
        let params = vec![
            ParamSpec::write("param", n),
            ParamSpec::read("grad", n),
            ParamSpec::write("m", n),
            ParamSpec::write("v", n),
            ParamSpec::read("hyper", HYPER),
        ];
        let kernel = jit.compile(&name, params, |b, p| emit(b, &spec, p))?;
        Ok(Self { spec, kernel })
    }

    /// The spec.
    pub fn spec(&self) -> &AdamSpec {
        &self.spec
    }

    /// One step with learning rate `lr`; `step` counts from 1 (as in the executor).
    pub fn run(
        &self,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        lr: f32,
        step: u64,
    ) -> Result<(), JitError> {
        let (lr, t) = (f64::from(lr), step.max(1) as f64);
        let (b1, b2) = (f64::from(self.spec.beta1), f64::from(self.spec.beta2));
        let hyper = [
            (lr / (1.0 - b1.powf(t))) as f32,
            ((1.0 - b2.powf(t)).sqrt()) as f32,
            (1.0 - lr * f64::from(self.spec.weight_decay)) as f32,
        ];
        self.kernel.call(&mut [
            KernelArg::Write(param),
            KernelArg::Read(grad),
            KernelArg::Write(m),
            KernelArg::Write(v),
            KernelArg::Read(&hyper),
        ])
    }
}

fn emit(b: &mut FunctionBuilder<'_>, spec: &AdamSpec, p: &[ir::Value]) -> Result<(), JitError> {
    let f = buf_flags();
    // Constants exactly as the reference derives them (f64 arithmetic, rounded to f32).
    let (b1, b2) = (f64::from(spec.beta1), f64::from(spec.beta2));
    let consts = [
        spec.beta1,
        spec.beta2,
        (1.0 - b1) as f32,
        (1.0 - b2) as f32,
        spec.eps,
        spec.weight_decay,
    ];
    let hyper: Vec<ir::Value> = (0..HYPER)
        .map(|i| b.ins().load(types::F32, f, p[4], (i * 4) as i32))
        .collect();
    let body = |b: &mut FunctionBuilder<'_>, at: ElementAddress<'_>, ty: ir::Type| {
        let scalar = |b: &mut FunctionBuilder<'_>, x: ir::Value| {
            if ty == types::F32 {
                x
            } else {
                b.ins().splat(ty, x)
            }
        };
        let k: Vec<ir::Value> = consts
            .iter()
            .map(|c| {
                let s = b.ins().f32const(*c);
                scalar(b, s)
            })
            .collect();
        let h: Vec<ir::Value> = hyper.iter().map(|x| scalar(b, *x)).collect();
        let [b1, b2, one_b1, one_b2, eps, wd] = [k[0], k[1], k[2], k[3], k[4], k[5]];
        let (step_size, bc2_sqrt, shrink) = (h[0], h[1], h[2]);
        let pp = at(b, p[0]);
        let gp = at(b, p[1]);
        let mp = at(b, p[2]);
        let vp = at(b, p[3]);
        let mut param = b.ins().load(ty, f, pp, 0);
        let mut g = b.ins().load(ty, f, gp, 0);
        if spec.decoupled {
            param = b.ins().fmul(param, shrink);
        } else {
            let d = b.ins().fmul(wd, param);
            g = b.ins().fadd(g, d);
        }
        let m_old = b.ins().load(ty, f, mp, 0);
        let v_old = b.ins().load(ty, f, vp, 0);
        let t1 = b.ins().fmul(b1, m_old);
        let t2 = b.ins().fmul(one_b1, g);
        let m = b.ins().fadd(t1, t2);
        let t3 = b.ins().fmul(b2, v_old);
        let t4 = b.ins().fmul(one_b2, g);
        let t4 = b.ins().fmul(t4, g);
        let v = b.ins().fadd(t3, t4);
        b.ins().store(f, m, mp, 0);
        b.ins().store(f, v, vp, 0);
        let sq = b.ins().sqrt(v);
        let denom = b.ins().fdiv(sq, bc2_sqrt);
        let denom = b.ins().fadd(denom, eps);
        let upd = b.ins().fmul(step_size, m);
        let upd = b.ins().fdiv(upd, denom);
        let param = b.ins().fsub(param, upd);
        b.ins().store(f, param, pp, 0);
    };
    let n = spec.len;
    f32x4_with_tail(b, n, body)
}
