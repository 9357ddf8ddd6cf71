//! ammc: a compiler and runtime for `.amm` machine-learning pipeline files.
pub mod data;
