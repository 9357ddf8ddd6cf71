//! ammc: a compiler and runtime for `.amm` machine-learning pipeline files.

pub mod check;
pub mod cli;
pub mod data;
pub mod diag;
pub mod export;
pub mod front;
pub mod ide;
pub mod input;
pub mod jit;
pub mod lower;
pub mod lsp;
pub mod pipeline;
pub mod resolve;
pub mod rl;
pub mod run;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod trees;
pub mod tune;
