//! Owning a Cranelift JIT module: host-ISA flags, `opt_level = speed`, function definition
//! and finalisation. Generated code lives as long as the [`JitModule`].

use cranelift::prelude::*;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::JitError;

/// A Cranelift JIT module for the host CPU.
pub struct JitModule {
    module: JITModule,
    ctx: codegen::Context,
    fctx: FunctionBuilderContext,
    next: u32,
}

impl std::fmt::Debug for JitModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitModule")
            .field("functions", &self.next)
            .finish()
    }
}

impl JitModule {
    /// A module targeting the host ISA (with its FMA and SSE4/AVX flags) at `opt_level = speed`.
    pub fn new() -> Result<Self, JitError> {
        let mut flags = settings::builder();
        let set = |b: &mut settings::Builder, k: &str, v: &str| {
            b.set(k, v)
                .map_err(|e| JitError::Setup(format!("{k}={v}: {e}")))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let isa = cranelift_native::builder()
            .map_err(|e| JitError::Setup(format!("host CPU not supported: {e}")))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| JitError::Setup(e.to_string()))?;
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ctx = module.make_context();
        Ok(JitModule {
            module,
            ctx,
            fctx: FunctionBuilderContext::new(),
            next: 0,
        })
    }

    /// Pointer type of the target.
    pub fn pointer_type(&self) -> Type {
        self.module.target_config().pointer_type()
    }

    /// Declares and defines a function taking `params` pointer arguments and returning
    /// nothing; `body` emits its code. Returns the id to look up after [`JitModule::finalize`].
    pub fn define(
        &mut self,
        name: &str,
        params: usize,
        body: impl FnOnce(&mut FunctionBuilder, &[Value], Type),
    ) -> Result<FuncId, JitError> {
        let ptr = self.pointer_type();
        let mut sig = self.module.make_signature();
        for _ in 0..params {
            sig.params.push(AbiParam::new(ptr));
        }
        let id = self
            .module
            .declare_function(&format!("{name}_{}", self.next), Linkage::Local, &sig)
            .map_err(|e| JitError::Codegen(format!("{name}: {e}")))?;
        self.next += 1;
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let args = b.block_params(entry).to_vec();
            body(&mut b, &args, ptr);
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(self.module.target_config());
        }
        let result = self.module.define_function(id, &mut self.ctx);
        let ir = if result.is_err() {
            self.ctx.func.display().to_string()
        } else {
            String::new()
        };
        self.module.clear_context(&mut self.ctx);
        result.map_err(|e| JitError::Codegen(format!("{name}: {e:?}\n{ir}")))?;
        Ok(id)
    }

    /// Makes every defined function callable.
    pub fn finalize(&mut self) -> Result<(), JitError> {
        self.module
            .finalize_definitions()
            .map_err(|e| JitError::Codegen(e.to_string()))
    }

    /// The entry address of a finalised function.
    pub fn address(&self, id: FuncId) -> *const u8 {
        self.module.get_finalized_function(id)
    }
}

/// Emits `for i in (start..end).step_by(step) { body(i) }` with a loop counter of type `ty`.
pub fn emit_loop(
    b: &mut FunctionBuilder,
    ty: Type,
    start: i64,
    end: i64,
    step: i64,
    body: &mut dyn FnMut(&mut FunctionBuilder, Value),
) {
    if start >= end {
        return;
    }
    let header = b.create_block();
    let exit = b.create_block();
    b.append_block_param(header, ty);
    let s = b.ins().iconst(ty, start);
    b.ins().jump(header, &[s.into()]);
    b.switch_to_block(header);
    let i = b.block_params(header)[0];
    body(b, i);
    let next = b.ins().iadd_imm_s(i, step);
    let more = b.ins().icmp_imm_s(IntCC::SignedLessThan, next, end);
    b.ins().brif(more, header, &[next.into()], exit, &[]);
    b.switch_to_block(exit);
}
