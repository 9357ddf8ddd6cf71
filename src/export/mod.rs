//! Exporting trained models to other runtimes.

pub mod onnx;
