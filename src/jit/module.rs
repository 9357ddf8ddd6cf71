//! The owner of the Cranelift JIT module: compiles generated functions and hands back
//! [`CompiledKernel`]s, callable handles that check every buffer before entering machine code.
//!
//! Every generated function has one ABI: `extern "C" fn(args: *const *mut f32)`, where `args`
//! points at one base pointer per declared parameter, in declaration order. One signature
//! for all kernels keeps the call site in a single audited `unsafe` block.

use std::sync::{Arc, Mutex};

use cranelift::codegen::Context;
use cranelift::codegen::ir::{self, AbiParam, InstBuilder, MemFlagsData, UserFuncName, types};
use cranelift::codegen::settings::{self, Configurable};
use cranelift::frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use super::error::JitError;

/// How a kernel uses one of its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only read; may alias other read buffers.
    Read,
    /// Read and/or written; must not alias anything (guaranteed by `&mut`).
    Write,
}

/// One buffer parameter of a compiled kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Name used in error messages (`a`, `b`, `bias`, `c`, `scratch`).
    pub name: String,
    /// Exact number of f32 elements the generated code may touch.
    pub len: usize,
    /// Read-only or written.
    pub access: Access,
}

impl ParamSpec {
    /// A read-only parameter of `len` elements.
    pub fn read(name: &str, len: usize) -> Self {
        Self {
            name: name.to_string(),
            len,
            access: Access::Read,
        }
    }
    /// A written parameter of `len` elements.
    pub fn write(name: &str, len: usize) -> Self {
        Self {
            name: name.to_string(),
            len,
            access: Access::Write,
        }
    }
}

/// A buffer passed to [`CompiledKernel::call`].
#[derive(Debug)]
pub enum KernelArg<'a> {
    /// For an [`Access::Read`] parameter.
    Read(&'a [f32]),
    /// For an [`Access::Write`] parameter.
    Write(&'a mut [f32]),
}

impl KernelArg<'_> {
    fn len(&self) -> usize {
        match self {
            KernelArg::Read(s) => s.len(),
            KernelArg::Write(s) => s.len(),
        }
    }
    fn ptr(&mut self) -> *mut f32 {
        match self {
            KernelArg::Read(s) => s.as_ptr().cast_mut(),
            KernelArg::Write(s) => s.as_mut_ptr(),
        }
    }
}

type EntryFn = unsafe extern "C" fn(*const *mut f32);

/// Keeps the machine code alive while any kernel handle exists; frees it when the last
/// handle and the [`JitModule`] are gone.
struct Code(Mutex<Option<JITModule>>);

impl Drop for Code {
    fn drop(&mut self) {
        let module = match self.0.get_mut() {
            Ok(m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(m) = module {
            // SAFETY: `Code` is dropped only when no `CompiledKernel` (which holds an `Arc`
            // to it) remains, so no function pointer from this module can be called again.
            unsafe { m.free_memory() };
        }
    }
}

/// A compiled kernel: an entry point plus the buffer shapes it was generated for.
#[derive(Clone)]
pub struct CompiledKernel {
    name: String,
    params: Vec<ParamSpec>,
    entry: EntryFn,
    _code: Arc<Code>,
}

impl std::fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKernel")
            .field("name", &self.name)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl CompiledKernel {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters, in call order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// Runs the kernel on `args` (one per parameter, in order). Each slice must have exactly
    /// the compiled length and written parameters must be passed as [`KernelArg::Write`].
    pub fn call(&self, args: &mut [KernelArg<'_>]) -> Result<(), JitError> {
        if args.len() != self.params.len() {
            return Err(JitError::Arity {
                kernel: self.name.clone(),
                expected: self.params.len(),
                got: args.len(),
            });
        }
        for (p, a) in self.params.iter().zip(args.iter()) {
            if a.len() != p.len {
                return Err(JitError::Argument {
                    kernel: self.name.clone(),
                    param: p.name.clone(),
                    problem: format!("has {} elements, compiled for {}", a.len(), p.len),
                });
            }
            if p.access == Access::Write && matches!(a, KernelArg::Read(_)) {
                return Err(JitError::Argument {
                    kernel: self.name.clone(),
                    param: p.name.clone(),
                    problem: "is written by the kernel but was passed read-only".to_string(),
                });
            }
        }
        let ptrs: Vec<*mut f32> = args.iter_mut().map(KernelArg::ptr).collect();
        // SAFETY: the generated code (a) accesses parameter `i` only at element offsets in
        // `0..params[i].len` — the generators compute every address from the same static
        // shapes that produced `params`, and the tests exercise every shape class —, (b)
        // writes only `Access::Write` parameters, and (c) has no other side effect. The loop
        // above checked that every slice has exactly that length and that every written
        // parameter comes from a `&mut [f32]`, which Rust guarantees aliases nothing else;
        // read parameters may alias each other, which is harmless for reads. `ptrs` lives
        // across the call, and `_code` keeps the machine code mapped.
        unsafe { (self.entry)(ptrs.as_ptr()) };
        Ok(())
    }
}

/// Cranelift's optimisation level for generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No mid-end (`opt_level = "none"`): instructions are lowered in the order the
    /// generators emit them. The default, because the generators already emit scheduled,
    /// simplified code, and the egraph pass of `speed` places pure instructions at their
    /// last use: in the GEMM loop it sinks every FMA to the loop's back edge after all the
    /// loads, which spills the accumulators (measured 2–3× slower, see docs/jit.md).
    #[default]
    None,
    /// `opt_level = "speed"` (egraph rewrites, GVN, LICM).
    Speed,
}

/// Settings of a [`JitModule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JitOptions {
    /// Cranelift optimisation level.
    pub opt_level: OptLevel,
    /// Keep the Cranelift IR text of every compiled function (for `ammc emit clif`).
    pub capture_ir: bool,
}

/// The Cranelift IR of one compiled function, as `ammc emit clif` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelIr {
    /// The function's symbol (`amm_<kernel>_<n>`).
    pub symbol: String,
    /// Cranelift's textual IR before code generation.
    pub text: String,
}

/// The Cranelift JIT for the host ISA; the verifier runs in debug builds.
pub struct JitModule {
    code: Arc<Code>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    pointer: ir::Type,
    frontend: cranelift::codegen::isa::TargetFrontendConfig,
    next_id: u64,
    capture_ir: bool,
    ir: Vec<KernelIr>,
}

impl std::fmt::Debug for JitModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitModule")
            .field("functions", &self.next_id)
            .finish_non_exhaustive()
    }
}

/// Code-generation settings error → [`JitError::Codegen`].
fn codegen_err(kernel: &str, e: impl std::fmt::Display) -> JitError {
    JitError::Codegen {
        kernel: kernel.to_string(),
        message: e.to_string(),
    }
}

impl JitModule {
    /// A JIT for the host CPU (its SIMD extensions, e.g. FMA, detected by `cranelift_native`)
    /// with the default [`JitOptions`].
    pub fn new() -> Result<Self, JitError> {
        Self::with_options(JitOptions::default())
    }

    /// A JIT for the host CPU with explicit options.
    pub fn with_options(options: JitOptions) -> Result<Self, JitError> {
        let opt = match options.opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
        };
        let mut flags = settings::builder();
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        for (k, v) in [
            ("opt_level", opt),
            ("enable_verifier", verify),
            // Code lives anywhere in the address space: no short-range relocations.
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
        ] {
            flags.set(k, v).map_err(|e| codegen_err("<settings>", e))?;
        }
        let isa_builder =
            cranelift_native::builder().map_err(|e| JitError::UnsupportedHost(e.to_string()))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| codegen_err("<isa>", e))?;
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ctx = module.make_context();
        let pointer = module.target_config().pointer_type();
        if pointer != types::I64 {
            // The generators compute addresses in i64.
            return Err(JitError::UnsupportedHost(format!(
                "{}-bit pointers (the JIT needs 64-bit)",
                pointer.bits()
            )));
        }
        let frontend = module.target_config();
        Ok(Self {
            code: Arc::new(Code(Mutex::new(Some(module)))),
            ctx,
            fctx: FunctionBuilderContext::new(),
            pointer,
            frontend,
            next_id: 0,
            capture_ir: options.capture_ir,
            ir: Vec::new(),
        })
    }

    /// The IR of every function compiled so far (empty unless [`JitOptions::capture_ir`]).
    pub fn ir(&self) -> &[KernelIr] {
        &self.ir
    }

    /// Number of functions compiled so far.
    pub fn compiled_count(&self) -> u64 {
        self.next_id
    }

    /// Compiles one kernel. `body` emits the function body given one base-pointer value per
    /// parameter (the return is added here); it must keep every access inside the declared
    /// lengths and write only [`Access::Write`] parameters (see [`CompiledKernel::call`]).
    pub(crate) fn compile(
        &mut self,
        name: &str,
        params: Vec<ParamSpec>,
        body: impl FnOnce(&mut FunctionBuilder<'_>, &[ir::Value]) -> Result<(), JitError>,
    ) -> Result<CompiledKernel, JitError> {
        let mut guard = self.code.0.lock().map_err(|_| JitError::Module {
            kernel: name.to_string(),
            message: "the module lock was poisoned by an earlier panic".to_string(),
        })?;
        let module = guard.as_mut().ok_or_else(|| JitError::Module {
            kernel: name.to_string(),
            message: "the module was already released".to_string(),
        })?;
        module.clear_context(&mut self.ctx);
        let mut sig = module.make_signature();
        sig.params.push(AbiParam::new(self.pointer));
        self.ctx.func.signature = sig.clone();
        let symbol = format!("amm_{}_{}", name, self.next_id);
        self.ctx.func.name = UserFuncName::testcase(&symbol);
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let args = b.block_params(entry)[0];
            // The argument array is ours (built in `call`): aligned and non-trapping.
            let flags = MemFlagsData::trusted().with_readonly();
            let bases: Vec<ir::Value> = (0..params.len())
                .map(|i| {
                    b.ins().load(
                        self.pointer,
                        flags,
                        args,
                        (i * self.pointer.bytes() as usize) as i32,
                    )
                })
                .collect();
            body(&mut b, &bases)?;
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(self.frontend);
        }
        if self.capture_ir {
            self.ir.push(KernelIr {
                symbol: symbol.clone(),
                text: self.ctx.func.display().to_string(),
            });
        }
        let id = module
            .declare_function(&symbol, Linkage::Local, &sig)
            .map_err(|e| JitError::Module {
                kernel: name.to_string(),
                message: e.to_string(),
            })?;
        // `AMM_JIT_DISASM=1` prints each kernel's machine code (for tuning the generators).
        let disasm = std::env::var_os("AMM_JIT_DISASM").is_some();
        self.ctx.set_disasm(disasm);
        module
            .define_function(id, &mut self.ctx)
            .map_err(|e| codegen_err(name, format!("{e:?}")))?;
        if disasm && let Some(code) = self.ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            eprintln!("; {symbol}\n{code}");
        }
        module.clear_context(&mut self.ctx);
        module
            .finalize_definitions()
            .map_err(|e| JitError::Module {
                kernel: name.to_string(),
                message: e.to_string(),
            })?;
        let ptr = module.get_finalized_function(id);
        drop(guard);
        self.next_id += 1;
        // SAFETY: `ptr` is the finalized code of a function whose signature we built above:
        // one pointer-sized parameter, no results, the host's default calling convention,
        // which is the C convention `EntryFn` names.
        let entry: EntryFn = unsafe { std::mem::transmute::<*const u8, EntryFn>(ptr) };
        Ok(CompiledKernel {
            name: name.to_string(),
            params,
            entry,
            _code: Arc::clone(&self.code),
        })
    }
}

/// Byte size of an f32.
pub(crate) const F32_BYTES: i64 = 4;
