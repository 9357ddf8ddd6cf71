//! Errors of the JIT backend: code generation, module linking and argument checks.

use miette::Diagnostic;
use thiserror::Error;

/// Everything that can go wrong while compiling or calling a JIT kernel.
#[derive(Debug, Error, Diagnostic, Clone, PartialEq, Eq)]
pub enum JitError {
    /// The host CPU is not one Cranelift can generate code for.
    #[error("the host machine is not supported by the JIT: {0}")]
    #[diagnostic(
        code(amm::jit::host),
        help("run with the reference backend on this machine")
    )]
    UnsupportedHost(String),

    /// Cranelift rejected a setting, failed to verify or to compile a generated function.
    #[error("code generation failed for `{kernel}`: {message}")]
    #[diagnostic(
        code(amm::jit::codegen),
        help("this is a bug in the JIT generator; the reference backend still works")
    )]
    Codegen {
        /// Name of the kernel being compiled.
        kernel: String,
        /// Cranelift's message.
        message: String,
    },

    /// Declaring, defining or linking a function in the JIT module failed.
    #[error("JIT module error for `{kernel}`: {message}")]
    #[diagnostic(
        code(amm::jit::module),
        help("this is a bug in the JIT backend; the reference backend still works")
    )]
    Module {
        /// Name of the kernel.
        kernel: String,
        /// The module's message.
        message: String,
    },

    /// A kernel was requested with shapes it cannot be generated for.
    #[error("invalid shape for `{kernel}`: {reason}")]
    #[diagnostic(
        code(amm::jit::shape),
        help("every dimension must be at least 1 and each buffer must stay under 2^29 elements")
    )]
    InvalidShape {
        /// Kernel kind.
        kernel: String,
        /// What is wrong.
        reason: String,
    },

    /// A call passed the wrong number of buffers.
    #[error("`{kernel}` takes {expected} buffers, got {got}")]
    #[diagnostic(
        code(amm::jit::arity),
        help("pass the buffers in the order the kernel documents")
    )]
    Arity {
        /// Kernel name.
        kernel: String,
        /// Buffers the kernel was compiled for.
        expected: usize,
        /// Buffers passed.
        got: usize,
    },

    /// A buffer passed to a kernel has a length other than the compiled one, or is passed
    /// read-only where the kernel writes it.
    #[error("`{kernel}` buffer `{param}`: {problem}")]
    #[diagnostic(
        code(amm::jit::argument),
        help("kernels are specialised to static shapes; pass exactly the planned buffer")
    )]
    Argument {
        /// Kernel name.
        kernel: String,
        /// Parameter name.
        param: String,
        /// What is wrong (length or mutability).
        problem: String,
    },
}
