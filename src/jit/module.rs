//! Owner of a Cranelift `JITModule`: compiles a batch of generated functions
//! and keeps their machine code alive for as long as any handle refers to it.
//!
//! # Safety argument
//!
//! Cranelift places finalized code in executable pages that are only released
//! by `JITModule::free_memory`. [`CompiledCode`] moves the finalized module into
//! a reference-counted [`CodeMemory`]; every [`RawEntry`] (the only way to get
//! at a function address) holds a clone of that `Arc`, and `free_memory` runs
//! in `CodeMemory::drop`, i.e. only after the last entry is gone. So an address
//! obtained from a live `RawEntry` always points at valid, immutable code.
//!
//! What this module cannot know is the *meaning* of a function's parameters.
//! Callers that transmute [`RawEntry::address`] into a typed `extern "C"`
//! function pointer must (a) use the signature they built it with (all
//! functions here take `n` pointer-sized parameters and return nothing, using
//! the host's default C calling convention) and (b) uphold whatever memory
//! contract their generated code assumes. The GEMM kernels discharge (b) by
//! checking every slice length against the compiled shape before the call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cranelift::codegen::Context;
use cranelift::codegen::ir::UserFuncName;
use cranelift::prelude::{
    AbiParam, Configurable, FunctionBuilder, FunctionBuilderContext, InstBuilder, Type, Value,
    settings,
};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::error::JitError;

/// Cranelift optimisation level for generated kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptLevel {
    /// No mid-end (e-graph) pass: instructions keep the order the generator
    /// emitted them in. Best for hand-scheduled kernels (see `docs/jit.md`:
    /// the e-graph sinks every pure `fma` to its last use and hoists all loads,
    /// which makes the register allocator spill the accumulators).
    None,
    /// Cranelift's `speed` level: GVN, LICM, algebraic rewrites.
    Speed,
}

impl OptLevel {
    fn setting(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
        }
    }
}

/// Knobs for building a [`KernelModule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitOptions {
    /// Mid-end optimisation level.
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier on every function (catches generator bugs
    /// as errors instead of miscompiles; costs some compile time).
    pub verify: bool,
    /// Use fused multiply-add where the host has it. `false` makes
    /// [`KernelModule::has_fma`] report `false`, forcing generators onto
    /// their multiply-then-add path (which is how that path is tested on
    /// FMA machines).
    pub use_fma: bool,
    /// Keep the backend's disassembly (VCode text) of each function, for
    /// inspection and documentation.
    pub keep_disassembly: bool,
}

impl Default for JitOptions {
    /// Generator-ordered code (`OptLevel::None`), verifier on in debug builds
    /// and off in release builds, FMA if available, no disassembly.
    fn default() -> Self {
        JitOptions {
            opt_level: OptLevel::None,
            verify: cfg!(debug_assertions),
            use_fma: true,
            keep_disassembly: false,
        }
    }
}

/// Index of a function defined in a [`KernelModule`], valid in the
/// [`CompiledCode`] that module finalizes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionSlot(usize);

/// Per-function facts recorded while compiling.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionInfo {
    /// Symbol name given at definition.
    pub name: String,
    /// Size of the emitted machine code in bytes.
    pub code_bytes: usize,
    /// Wall time spent in Cranelift (optimisation, lowering, register
    /// allocation, emission) for this function.
    pub compile_time: Duration,
    /// Backend disassembly, if [`JitOptions::keep_disassembly`] was set.
    pub disassembly: Option<String>,
}

struct PendingFunction {
    id: FuncId,
    info: FunctionInfo,
}

/// A Cranelift JIT module specialised for ammc kernels: host ISA flags from
/// `cranelift-native`, functions taking only pointer parameters.
pub struct KernelModule {
    module: JITModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    functions: Vec<PendingFunction>,
    options: JitOptions,
    has_fma: bool,
}

impl KernelModule {
    /// Creates an empty module targeting the host CPU (all ISA extensions
    /// that `cranelift-native` detects, e.g. AVX2 and FMA on x86-64).
    pub fn new(options: JitOptions) -> Result<Self, JitError> {
        let mut flags = settings::builder();
        let verifier = if options.verify { "true" } else { "false" };
        for (name, value) in [
            ("opt_level", options.opt_level.setting()),
            ("enable_verifier", verifier),
            // cranelift-jit requires both of these (see JITBuilder::with_flags).
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
        ] {
            flags.set(name, value).map_err(|e| JitError::Setting {
                name: name.to_owned(),
                message: e.to_string(),
            })?;
        }
        let isa_builder =
            cranelift_native::builder().map_err(|reason| JitError::UnsupportedHost {
                reason: reason.to_owned(),
            })?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| JitError::UnsupportedHost {
                reason: e.to_string(),
            })?;
        // x86-64 exposes FMA as an optional ISA flag; targets without such a
        // flag (aarch64, riscv64 with D) always have fused multiply-add.
        let has_fma = isa
            .isa_flags()
            .iter()
            .find(|flag| flag.name == "has_fma")
            .is_none_or(|flag| flag.as_bool().unwrap_or(false))
            && options.use_fma;
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ctx = module.make_context();
        Ok(KernelModule {
            module,
            ctx,
            fctx: FunctionBuilderContext::new(),
            functions: Vec::new(),
            options,
            has_fma,
        })
    }

    /// Whether the target has a native fused multiply-add. Without it
    /// Cranelift lowers vector `fma` to four libm calls, so generators should
    /// emit `fmul` + `fadd` instead.
    pub fn has_fma(&self) -> bool {
        self.has_fma
    }

    /// The integer type of a pointer on the host (I64 on 64-bit targets).
    pub fn pointer_type(&self) -> Type {
        self.module.target_config().pointer_type()
    }

    /// Defines and compiles a function `name(p0, …, p{n-1})` taking
    /// `pointer_params` pointer-sized parameters and returning nothing.
    ///
    /// `body` receives a builder positioned in the entry block, the parameter
    /// values and the pointer type; it emits the function body and leaves the
    /// builder in the block that should return. Blocks are sealed afterwards,
    /// so `body` may use `Variable`s freely across loops.
    pub fn define_function<F>(
        &mut self,
        name: &str,
        pointer_params: usize,
        body: F,
    ) -> Result<FunctionSlot, JitError>
    where
        F: FnOnce(&mut FunctionBuilder<'_>, &[Value], Type) -> Result<(), JitError>,
    {
        let ptr = self.pointer_type();
        let mut sig = self.module.make_signature();
        sig.params
            .extend(std::iter::repeat_n(AbiParam::new(ptr), pointer_params));
        let id = self
            .module
            .declare_function(name, Linkage::Local, &sig)
            .map_err(|e| JitError::codegen(name, e))?;

        self.module.clear_context(&mut self.ctx);
        self.ctx.func.signature = sig;
        self.ctx.func.name = UserFuncName::user(0, id.as_u32());
        self.ctx.set_disasm(self.options.keep_disassembly);
        {
            let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = fb.create_block();
            fb.append_block_params_for_function_params(entry);
            fb.switch_to_block(entry);
            let params = fb.block_params(entry).to_vec();
            body(&mut fb, &params, ptr)?;
            fb.ins().return_(&[]);
            fb.seal_all_blocks();
            fb.finalize(self.module.target_config());
        }

        let start = Instant::now();
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| JitError::codegen(name, e))?;
        let compile_time = start.elapsed();
        let compiled = self.ctx.compiled_code();
        let code_bytes = compiled.map_or(0, |c| c.code_buffer().len());
        let disassembly = compiled.and_then(|c| c.vcode.clone());

        let slot = FunctionSlot(self.functions.len());
        self.functions.push(PendingFunction {
            id,
            info: FunctionInfo {
                name: name.to_owned(),
                code_bytes,
                compile_time,
                disassembly,
            },
        });
        Ok(slot)
    }

    /// Links all defined functions and makes them executable.
    pub fn finalize(mut self) -> Result<CompiledCode, JitError> {
        self.module
            .finalize_definitions()
            .map_err(|e| JitError::codegen("<module>", e))?;
        let addresses: Vec<usize> = self
            .functions
            .iter()
            .map(|f| self.module.get_finalized_function(f.id) as usize)
            .collect();
        let infos = self.functions.into_iter().map(|f| f.info).collect();
        Ok(CompiledCode {
            memory: Arc::new(CodeMemory {
                module: Mutex::new(Some(self.module)),
            }),
            addresses,
            infos,
        })
    }
}

/// Finalized machine code; frees it when the last reference goes away.
pub struct CodeMemory {
    // Never touched after finalization except by `drop`; the mutex only makes
    // the owner `Sync` so entries can be shared across threads.
    module: Mutex<Option<JITModule>>,
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let module = match self.module.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(module) = module {
            // SAFETY: every RawEntry owns an Arc<CodeMemory>; we are in the
            // drop of the last one, so no entry (and no typed pointer that a
            // caller derived from one while it was alive and is still using
            // under its own `unsafe` contract) can execute this code anymore.
            unsafe { module.free_memory() };
        }
    }
}

/// The executable result of [`KernelModule::finalize`].
pub struct CompiledCode {
    memory: Arc<CodeMemory>,
    addresses: Vec<usize>,
    infos: Vec<FunctionInfo>,
}

impl CompiledCode {
    /// The entry point of the function in `slot`, or `None` if the slot came
    /// from a different module.
    pub fn entry(&self, slot: FunctionSlot) -> Option<RawEntry> {
        let address = *self.addresses.get(slot.0)?;
        Some(RawEntry {
            address,
            _memory: Arc::clone(&self.memory),
        })
    }

    /// Compile facts for the function in `slot`.
    pub fn info(&self, slot: FunctionSlot) -> Option<&FunctionInfo> {
        self.infos.get(slot.0)
    }

    /// Compile facts for every function, in definition order.
    pub fn infos(&self) -> &[FunctionInfo] {
        &self.infos
    }
}

/// An untyped entry point that keeps its code alive.
#[derive(Clone)]
pub struct RawEntry {
    address: usize,
    _memory: Arc<CodeMemory>,
}

impl RawEntry {
    /// Address of the first instruction. Valid as long as `self` (or a clone)
    /// is alive; calling it requires the signature it was defined with.
    pub fn address(&self) -> *const u8 {
        self.address as *const u8
    }
}

impl std::fmt::Debug for RawEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawEntry({:#x})", self.address)
    }
}
