//! Pretrained weights: a model stage with `weights = "file.safetensors"` must match the
//! file's tensors by name, dtype and shape. Checked when the file exists; a file that a
//! previous block of the same run will write is checked when it is loaded.

use std::collections::HashMap;

use crate::diag::Diag;
use crate::source::Span;

use super::LayerInfo;

/// One tensor entry of a safetensors header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Element type (`F32`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Reads only the JSON header of a safetensors file: 8-byte little-endian length, then JSON
/// mapping names to `{dtype, shape, data_offsets}`.
pub fn read_header(path: &std::path::Path) -> Result<HashMap<String, TensorEntry>, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let file_len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| "shorter than the 8-byte header length".to_string())?;
    let n = u64::from_le_bytes(len);
    if n > file_len.saturating_sub(8) || n > 100 << 20 {
        return Err(format!(
            "header length {n} exceeds the file size {file_len}"
        ));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf)
        .map_err(|e| format!("truncated header: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&buf).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = json.as_object().ok_or("header is not a JSON object")?;
    let mut out = HashMap::new();
    for (name, v) in obj {
        if name == "__metadata__" {
            continue;
        }
        let dtype = v
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or(format!("tensor `{name}` has no dtype"))?;
        let shape = v
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(format!("tensor `{name}` has no valid shape"))?;
        out.insert(
            name.clone(),
            TensorEntry {
                dtype: dtype.to_string(),
                shape,
            },
        );
    }
    Ok(out)
}

/// Compares the layers of stage `stage` with the file's tensors.
pub fn check_stage(
    path: &std::path::Path,
    path_text: &str,
    path_span: Span,
    stage: &str,
    layers: &[LayerInfo],
    diags: &mut Vec<Diag>,
) {
    if !path.exists() {
        return;
    }
    let header = match read_header(path) {
        Ok(h) => h,
        Err(e) => {
            diags.push(
                Diag::new(
                    "amm::weights::corrupt",
                    format!("`{path_text}` is not a valid safetensors file: {e}"),
                )
                .primary(path_span, "this file")
                .help(
                    "write weights with `ammc run` (model.safetensors) or safetensors' save_file",
                ),
            );
            return;
        }
    };
    let prefix = format!("{stage}.");
    for layer in layers.iter().filter(|l| l.name.starts_with(&prefix)) {
        // One report per layer: a wrong weight usually implies a wrong bias too.
        let before = diags.len();
        for (suffix, shape) in &layer.tensors {
            if diags.len() > before {
                break;
            }
            let name = format!("{}.{suffix}", layer.name);
            match header.get(&name) {
                None => {
                    let mut names: Vec<&String> = header.keys().filter(|k| k.starts_with(&prefix)).collect();
                    names.sort();
                    diags.push(
                        Diag::new("amm::weights::missing", format!("`{path_text}` has no tensor `{name}`"))
                            .primary(path_span, "loaded here")
                            .secondary(layer.span, format!("`{name}` {shape:?} is needed by this layer"))
                            .help(if names.is_empty() {
                                format!("the file has no tensors for `{stage}`; was it saved from a model with a `{stage}` stage?")
                            } else {
                                format!("the file has: {}", names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                            }),
                    );
                }
                Some(t) if t.dtype != "F32" => diags.push(
                    Diag::new("amm::weights::dtype", format!("tensor `{name}` in `{path_text}` is {}, not F32", t.dtype))
                        .primary(path_span, "loaded here")
                        .help("save the weights as float32"),
                ),
                Some(t) if &t.shape != shape => diags.push(
                    Diag::new(
                        "amm::shape::weights",
                        format!("tensor `{name}` in `{path_text}` has shape {:?}, but the layer needs {shape:?}", t.shape),
                    )
                    .primary(layer.span, format!("needs {shape:?}"))
                    .secondary(path_span, format!("file has {:?}", t.shape))
                    .help("the pretrained backbone must be instantiated with the same input shape and arguments as when it was saved"),
                ),
                Some(_) => {}
            }
        }
    }
}
