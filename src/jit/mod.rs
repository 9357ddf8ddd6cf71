//! The Cranelift JIT: shape-specialised kernels compiled at run time for the host CPU.
//! `module` owns Cranelift's JIT module; `gemm` generates the matrix-product kernel that
//! dense and (via im2col) conv layers use.

pub mod gemm;
pub mod module;

use miette::Diagnostic;
use thiserror::Error;

/// Why a kernel could not be compiled or run.
#[derive(Debug, Error, Diagnostic)]
pub enum JitError {
    /// The host or the code generator's settings were refused.
    #[error("cannot set up the JIT: {0}")]
    #[diagnostic(code(amm::jit::setup), help("use --backend reference"))]
    Setup(String),
    /// Cranelift rejected generated code (a bug in ammc).
    #[error("code generation failed: {0}")]
    #[diagnostic(
        code(amm::jit::codegen),
        help("this is a bug in ammc; please report it with the file")
    )]
    Codegen(String),
    /// A kernel was called with buffers of the wrong size.
    #[error("{0}")]
    #[diagnostic(code(amm::jit::shape))]
    Shape(String),
}
