//! Execution of kernel plans: the backends (`reference` interpreter; the JIT next) behind the
//! [`backend::Backend`] trait, and the training loop on top of it.

pub mod backend;
pub mod compiled;
pub mod infer;
pub mod program;
pub mod reference;
pub mod train;
