//! Exporting trained models to other runtimes.

pub mod feature_maps;
pub mod onnx;
