//! Generates the ONNX protobuf types (`proto/onnx.proto`, checked in from the ONNX
//! repository) with prost. `protox` compiles the .proto in Rust, so no `protoc` binary is
//! needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["onnx.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
