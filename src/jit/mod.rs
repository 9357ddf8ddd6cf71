//! Cranelift JIT backend: shape-specialised single-precision kernels.
//!
//! * [`module`]: owner of a Cranelift JIT module and of the executable code.
//! * [`gemm`]: `C = act([C +] op(A)·op(B) [+ bias])` kernels for fixed shapes.
//! * [`host_sgemm`]: the same contract on top of `matrixmultiply::sgemm`, for
//!   large products where an AVX2/AVX-512 BLAS-style kernel wins.

pub mod error;
pub mod gemm;
mod gemm_codegen;
pub mod gemm_plan;
pub mod host_sgemm;
pub mod module;

pub use error::{GemmOperand, JitError};
pub use gemm::{
    Activation, GemmArgs, GemmKernel, GemmSpec, GemmWorkspace, Transpose, compile_gemms,
};
pub use gemm_plan::GemmTuning;
pub use module::{
    CompiledCode, FunctionInfo, FunctionSlot, JitOptions, KernelModule, OptLevel, RawEntry,
};
