//! The Cranelift JIT backend: kernels specialised to the plan's static shapes, compiled to
//! host machine code and checked against the reference executor.

pub mod adam;
pub mod batchnorm;
pub mod bits;
mod codegen;
pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod error;
mod gelu;
pub mod gemm;
pub mod loss;
mod math;
pub mod module;
pub mod pool;
pub mod rnn;
pub mod sgd;

pub use bits::F32Bits;
pub use error::JitError;
pub use module::{
    Access, CompiledKernel, JitModule, JitOptions, KernelArg, KernelIr, OptLevel, ParamSpec,
};
