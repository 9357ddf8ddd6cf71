//! Shape-specialised single-precision GEMM kernels compiled with Cranelift.
//!
//! A [`GemmKernel`] computes, for row-major matrices,
//!
//! ```text
//! C = act( [C +] op(A) · op(B) [+ bias] )
//! ```
//!
//! where `op(A)` is `M×K`, `op(B)` is `K×N`, `C` is `M×N`, `op` is either the
//! identity or the transpose (chosen at compile time), the optional `C +`
//! accumulates into the existing contents of `C`, `bias` is a length-`N` row
//! vector added to every row, and `act` is the identity or ReLU. The three
//! products a dense layer needs in training are all covered:
//!
//! | product                      | `trans_a` | `trans_b` |
//! |------------------------------|-----------|-----------|
//! | forward `Y = X·Wᵀ (+ b)`     | `No`      | `Yes`     |
//! | input grad `dX = dY·W`       | `No`      | `No`      |
//! | weight grad `dW = dYᵀ·X`     | `Yes`     | `No`      |
//!
//! # Safety argument for [`GemmKernel::run`]
//!
//! The generated code takes five raw pointers (A, B, bias, C, scratch). By
//! construction of the generator it reads exactly the element ranges
//! `A[0, M·K)`, `B[0, K·N)`, `bias[0, N)` (only if compiled with a bias),
//! reads and writes `C[0, M·N)` and `scratch[0, workspace_floats)`; every
//! loop bound and offset is a compile-time constant derived from the spec
//! (the tests check this with guard elements around every buffer). `run`
//! checks every slice's length against the compiled shape and returns
//! [`JitError::LengthMismatch`] otherwise, so all accesses are in bounds.
//! `A`, `B` and `bias` arrive as shared borrows and `C` and the workspace as
//! exclusive borrows, so the written buffers alias nothing else. The code is
//! kept alive by the `RawEntry` the kernel owns, and holds no mutable state,
//! so one kernel may run on several threads at once (each with its own
//! workspace).

use std::fmt;

use super::error::{GemmOperand, JitError};
use super::gemm_codegen::emit_gemm;
use super::gemm_plan::{GemmPlan, GemmTuning};
use super::module::{FunctionInfo, JitOptions, KernelModule, RawEntry};

/// Whether an operand is used as stored or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// Use the matrix as stored (row-major).
    No,
    /// Use the transpose of the stored row-major matrix.
    Yes,
}

/// Elementwise activation applied by the epilogue after the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// No activation.
    Identity,
    /// `relu(x) = if x > 0 { x } else { 0 }` (so NaN maps to 0; this is the
    /// single `maxps` instruction on x86-64).
    Relu,
}

/// The compile-time description of one GEMM kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GemmSpec {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(A)` = rows of `op(B)` (the reduction length).
    pub k: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// `No`: A is stored `M×K`; `Yes`: A is stored `K×M`.
    pub trans_a: Transpose,
    /// `No`: B is stored `K×N`; `Yes`: B is stored `N×K`.
    pub trans_b: Transpose,
    /// Add the product to the existing contents of `C` instead of
    /// overwriting them.
    pub accumulate: bool,
    /// Add a length-`N` bias row to every row of the result.
    pub bias: bool,
    /// Activation applied last.
    pub activation: Activation,
}

impl GemmSpec {
    /// Plain `C = A·B` with `A: M×K`, `B: K×N`.
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        GemmSpec {
            m,
            k,
            n,
            trans_a: Transpose::No,
            trans_b: Transpose::No,
            accumulate: false,
            bias: false,
            activation: Activation::Identity,
        }
    }

    /// Same spec with the given operand transposes.
    pub fn with_transpose(mut self, trans_a: Transpose, trans_b: Transpose) -> Self {
        self.trans_a = trans_a;
        self.trans_b = trans_b;
        self
    }

    /// Same spec, accumulating into `C` if `accumulate`.
    pub fn with_accumulate(mut self, accumulate: bool) -> Self {
        self.accumulate = accumulate;
        self
    }

    /// Same spec with the given epilogue (bias row and activation).
    pub fn with_epilogue(mut self, bias: bool, activation: Activation) -> Self {
        self.bias = bias;
        self.activation = activation;
        self
    }

    /// Element count of the stored A.
    pub fn a_len(&self) -> usize {
        self.m * self.k
    }

    /// Element count of the stored B.
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }

    /// Element count of C.
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }

    /// Floating-point operations of the product (2·M·N·K).
    pub fn flops(&self) -> u64 {
        2 * self.m as u64 * self.n as u64 * self.k as u64
    }

    /// A symbol-safe name such as `gemm_nt_64x400x120_bias_relu`.
    pub fn name(&self) -> String {
        let t = |t: Transpose| if t == Transpose::Yes { 't' } else { 'n' };
        let mut name = format!(
            "gemm_{}{}_{}x{}x{}",
            t(self.trans_a),
            t(self.trans_b),
            self.m,
            self.k,
            self.n
        );
        if self.accumulate {
            name.push_str("_acc");
        }
        if self.bias {
            name.push_str("_bias");
        }
        if self.activation == Activation::Relu {
            name.push_str("_relu");
        }
        name
    }

    /// Rejects shapes the generator cannot handle: empty dimensions, or
    /// operands of 2 GiB or more (byte offsets must fit the 32-bit
    /// immediates of Cranelift loads and stores).
    pub(crate) fn validate(&self) -> Result<(), JitError> {
        let bad = |reason: &str| JitError::InvalidShape {
            m: self.m,
            k: self.k,
            n: self.n,
            reason: reason.to_owned(),
        };
        if self.m == 0 || self.k == 0 || self.n == 0 {
            return Err(bad("every dimension must be at least 1"));
        }
        let limit = (i32::MAX as usize) / 4;
        for (x, y) in [(self.m, self.k), (self.k, self.n), (self.m, self.n)] {
            match x.checked_mul(y) {
                Some(len) if len <= limit => {}
                _ => return Err(bad("an operand has 2 GiB or more of data")),
            }
        }
        Ok(())
    }
}

impl fmt::Display for GemmSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The operands of one kernel call.
#[derive(Debug)]
pub struct GemmArgs<'a> {
    /// A, stored `M×K` (or `K×M` if `trans_a`), row-major.
    pub a: &'a [f32],
    /// B, stored `K×N` (or `N×K` if `trans_b`), row-major.
    pub b: &'a [f32],
    /// Bias row of length `N`; `Some` exactly when the spec has `bias`.
    pub bias: Option<&'a [f32]>,
    /// C, `M×N` row-major; read first if the spec accumulates.
    pub c: &'a mut [f32],
}

/// One 64-byte-aligned cache line of scratch floats.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([f32; 16]);

/// Reusable, cache-line-aligned scratch memory for packing operands.
///
/// Kernels grow it on demand; reuse one per thread to avoid allocating on
/// every call.
#[derive(Default)]
pub struct GemmWorkspace {
    lines: Vec<CacheLine>,
}

impl GemmWorkspace {
    /// An empty workspace.
    pub fn new() -> Self {
        GemmWorkspace::default()
    }

    /// Current capacity in floats.
    pub fn capacity_floats(&self) -> usize {
        self.lines.len() * 16
    }

    /// Grows to at least `floats` and returns the base pointer.
    fn prepare(&mut self, floats: usize) -> *mut f32 {
        let lines = floats.div_ceil(16);
        if self.lines.len() < lines {
            self.lines.resize(lines, CacheLine([0.0; 16]));
        }
        self.lines.as_mut_ptr().cast::<f32>()
    }
}

impl fmt::Debug for GemmWorkspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GemmWorkspace({} floats)", self.capacity_floats())
    }
}

/// Machine signature of a generated GEMM: `(A, B, bias, C, scratch)`.
type GemmFn = unsafe extern "C" fn(*const f32, *const f32, *const f32, *mut f32, *mut f32);

/// A compiled, shape-specialised GEMM; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct GemmKernel {
    spec: GemmSpec,
    func: GemmFn,
    _entry: RawEntry,
    workspace_floats: usize,
    info: FunctionInfo,
}

impl fmt::Debug for GemmKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GemmKernel")
            .field("spec", &self.spec)
            .field("workspace_floats", &self.workspace_floats)
            .field("code_bytes", &self.info.code_bytes)
            .finish()
    }
}

impl GemmKernel {
    /// Compiles one kernel with default tuning and options.
    pub fn compile(spec: GemmSpec) -> Result<Self, JitError> {
        let mut kernels = compile_gemms(&[spec], GemmTuning::default(), JitOptions::default())?;
        kernels
            .pop()
            .ok_or_else(|| JitError::codegen(&spec.name(), "no kernel produced"))
    }

    /// The spec this kernel was compiled for.
    pub fn spec(&self) -> &GemmSpec {
        &self.spec
    }

    /// Scratch floats a call needs (the workspace grows to this on first use).
    pub fn workspace_floats(&self) -> usize {
        self.workspace_floats
    }

    /// Code size, compile time and (if requested) disassembly.
    pub fn info(&self) -> &FunctionInfo {
        &self.info
    }

    /// Runs the kernel after checking every operand against the compiled shape.
    pub fn run(&self, workspace: &mut GemmWorkspace, args: GemmArgs<'_>) -> Result<(), JitError> {
        check_args(&self.spec, &args)?;
        let bias_ptr = args.bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
        let scratch = workspace.prepare(self.workspace_floats);
        // SAFETY: see the module documentation. All lengths were checked
        // above, the scratch buffer holds at least `workspace_floats` floats,
        // the null bias pointer is never dereferenced by a kernel compiled
        // without a bias, and `func` has exactly the signature it was
        // generated with (five pointer parameters, no return value, the
        // host's C calling convention).
        unsafe {
            (self.func)(
                args.a.as_ptr(),
                args.b.as_ptr(),
                bias_ptr,
                args.c.as_mut_ptr(),
                scratch,
            );
        }
        Ok(())
    }
}

/// Checks every operand of `args` against `spec` (exact lengths, bias present
/// exactly when the spec has one).
pub(crate) fn check_args(spec: &GemmSpec, args: &GemmArgs<'_>) -> Result<(), JitError> {
    let check = |operand: GemmOperand, expected: usize, actual: usize| {
        if expected == actual {
            Ok(())
        } else {
            Err(JitError::LengthMismatch {
                kernel: spec.name(),
                operand,
                expected,
                actual,
            })
        }
    };
    check(GemmOperand::A, spec.a_len(), args.a.len())?;
    check(GemmOperand::B, spec.b_len(), args.b.len())?;
    check(GemmOperand::C, spec.c_len(), args.c.len())?;
    match (spec.bias, args.bias) {
        (true, Some(bias)) => check(GemmOperand::Bias, spec.n, bias.len()),
        (false, None) => Ok(()),
        (compiled_with_bias, _) => Err(JitError::BiasMismatch {
            kernel: spec.name(),
            compiled_with_bias,
        }),
    }
}

/// Compiles several kernels into one code module (one Cranelift session,
/// one set of executable pages).
pub fn compile_gemms(
    specs: &[GemmSpec],
    tuning: GemmTuning,
    options: JitOptions,
) -> Result<Vec<GemmKernel>, JitError> {
    let mut module = KernelModule::new(options)?;
    let mut pending = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        spec.validate()?;
        let plan = GemmPlan::new(spec, &tuning)?;
        let name = format!("{}_{index}", spec.name());
        let has_fma = module.has_fma();
        let slot = module.define_function(&name, 5, |fb, params, ptr| {
            emit_gemm(fb, params, ptr, spec, &plan, has_fma);
            Ok(())
        })?;
        pending.push((*spec, plan.packed_b_floats, slot, name));
    }
    let code = module.finalize()?;
    pending
        .into_iter()
        .map(|(spec, workspace_floats, slot, name)| {
            let missing = || JitError::codegen(&name, "function missing after finalization");
            let entry = code.entry(slot).ok_or_else(missing)?;
            let info = code.info(slot).ok_or_else(missing)?.clone();
            // SAFETY: the function in `slot` was defined by `define_function`
            // with five pointer parameters and no results in the host's
            // default calling convention, which is `extern "C"`'s. The entry
            // keeps the code alive for as long as the kernel exists.
            let func = unsafe { std::mem::transmute::<*const u8, GemmFn>(entry.address()) };
            Ok(GemmKernel {
                spec,
                func,
                _entry: entry,
                workspace_floats,
                info,
            })
        })
        .collect()
}
