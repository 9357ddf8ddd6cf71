//! Errors raised while JIT-compiling or invoking generated kernels.

use std::fmt;

/// Which operand of a GEMM call an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmOperand {
    /// The left factor `A`.
    A,
    /// The right factor `B`.
    B,
    /// The bias row vector added by the epilogue.
    Bias,
    /// The output (and, when accumulating, input) matrix `C`.
    C,
}

impl fmt::Display for GemmOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            GemmOperand::A => "A",
            GemmOperand::B => "B",
            GemmOperand::Bias => "bias",
            GemmOperand::C => "C",
        };
        f.write_str(name)
    }
}

/// Everything that can go wrong when building or calling a JIT kernel.
///
/// Cranelift's own error types are flattened to strings so that this enum is
/// `Send + Sync + 'static` and cheap to move across threads.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JitError {
    /// Cranelift has no backend for the machine we are running on.
    #[error("the host machine is not supported by the Cranelift JIT: {reason}")]
    #[diagnostic(
        code(amm::jit::unsupported_host),
        help("run on x86-64 or aarch64, or use the interpreter/host-BLAS path")
    )]
    UnsupportedHost {
        /// Cranelift's explanation.
        reason: String,
    },

    /// A Cranelift setting was rejected (a bug in ammc, not in the user's program).
    #[error("Cranelift rejected setting `{name}`: {message}")]
    #[diagnostic(
        code(amm::jit::setting),
        help("this is an internal error in ammc's JIT setup; please report it")
    )]
    Setting {
        /// Setting name.
        name: String,
        /// Cranelift's message.
        message: String,
    },

    /// Cranelift failed to compile or link a generated function.
    #[error("Cranelift failed to compile `{function}`: {message}")]
    #[diagnostic(
        code(amm::jit::codegen),
        help(
            "this is an internal error in ammc's code generator; please report it with the shape that triggered it"
        )
    )]
    Codegen {
        /// Name of the generated function.
        function: String,
        /// Cranelift's message (verifier or backend error).
        message: String,
    },

    /// The requested kernel shape cannot be compiled.
    #[error("cannot compile GEMM {m}x{k}x{n}: {reason}")]
    #[diagnostic(
        code(amm::jit::invalid_shape),
        help("every dimension must be at least 1 and each operand must be smaller than 2 GiB")
    )]
    InvalidShape {
        /// Rows of op(A) and C.
        m: usize,
        /// Shared (reduction) dimension.
        k: usize,
        /// Columns of op(B) and C.
        n: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A slice passed to a compiled kernel does not match the compiled shape.
    #[error(
        "operand {operand} of kernel `{kernel}` has {actual} elements, but the kernel was compiled for {expected}"
    )]
    #[diagnostic(
        code(amm::jit::length_mismatch),
        help(
            "compiled kernels are shape-specialised: pass buffers of exactly the compiled size or compile a new kernel"
        )
    )]
    LengthMismatch {
        /// Name of the kernel.
        kernel: String,
        /// Which operand was wrong.
        operand: GemmOperand,
        /// Element count the kernel was compiled for.
        expected: usize,
        /// Element count actually passed.
        actual: usize,
    },

    /// A bias was passed to a kernel compiled without one, or vice versa.
    #[error("kernel `{kernel}` was compiled {} a bias epilogue, but the call {}", if *.compiled_with_bias { "with" } else { "without" }, if *.compiled_with_bias { "passed no bias" } else { "passed one" })]
    #[diagnostic(
        code(amm::jit::bias_mismatch),
        help("pass `bias: Some(..)` exactly when the kernel's spec has `bias: true`")
    )]
    BiasMismatch {
        /// Name of the kernel.
        kernel: String,
        /// Whether the kernel expects a bias.
        compiled_with_bias: bool,
    },
}

impl JitError {
    /// Wraps a Cranelift error raised while compiling `function`.
    pub(crate) fn codegen(function: &str, err: impl fmt::Display) -> Self {
        JitError::Codegen {
            function: function.to_owned(),
            message: err.to_string(),
        }
    }
}
