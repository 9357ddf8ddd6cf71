//! Pretrained weights: a model stage with `weights = "file.safetensors"` must match the
//! file's tensors by name, dtype and shape. Checked when the file exists; a file that a
//! previous block of the same run will write is checked when it is loaded.

use std::collections::HashMap;

use crate::data::safetensors::{Header, SafetensorsError, f32_values, parse_header};
use crate::diag::Diag;
use crate::input::InputError;

use super::LayerInfo;

/// One tensor entry of a safetensors header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Element type (`F32`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Why a weights file cannot be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file does not exist (a previous block of the run may write it).
    Missing,
    /// Not a regular file, too large, or an I/O error.
    Unreadable {
        /// Stable code (`amm::weights::not_a_file`, …).
        code: &'static str,
        /// What is wrong, after the path.
        message: String,
        /// The fix.
        help: &'static str,
    },
    /// The safetensors layout or values are wrong.
    Invalid(SafetensorsError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "no such file"),
            ReadError::Unreadable { message, .. } => write!(f, "{message}"),
            ReadError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

/// A weights file read whole (bounded by the memory budget) with its validated header.
pub struct WeightsFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The validated header.
    pub header: Header,
}

/// Reads and validates a safetensors file: a regular file within the memory budget whose
/// header's offsets tile the data exactly.
pub fn read_file(path: &std::path::Path) -> Result<WeightsFile, ReadError> {
    let limit = crate::input::memory_budget().bytes / 2;
    let bytes = crate::input::read_bounded(path, limit).map_err(|e| match e {
        InputError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => ReadError::Missing,
        InputError::NotRegular { kind } => ReadError::Unreadable {
            code: "amm::weights::not_a_file",
            message: format!("is {kind}, not a weights file"),
            help: "give the path of a .safetensors file, such as the model.safetensors that `ammc run` writes",
        },
        InputError::TooLarge { len, limit } => ReadError::Unreadable {
            code: "amm::weights::too_large",
            message: format!("is {len} bytes, more than the {limit} bytes of memory it may use"),
            help: "weights files hold the parameters of one model; is this the right file?",
        },
        InputError::Io(e) => ReadError::Unreadable {
            code: "amm::weights::io",
            message: format!("cannot be read: {e}"),
            help: "check the path and its permissions",
        },
    })?;
    let header = parse_header(&bytes).map_err(ReadError::Invalid)?;
    Ok(WeightsFile { bytes, header })
}

/// The tensor entries (dtype and shape by name) of a valid safetensors file.
pub fn read_header(path: &std::path::Path) -> Result<HashMap<String, TensorEntry>, String> {
    let f = read_file(path).map_err(|e| e.to_string())?;
    Ok(f.header
        .entries
        .into_iter()
        .map(|e| {
            (
                e.name,
                TensorEntry {
                    dtype: e.dtype,
                    shape: e.shape,
                },
            )
        })
        .collect())
}

/// The prefix a stage instance's tensors have in a weights file: the instance's own name
/// (`features_2`) when the file has tensors under it, else the backbone's (`features`), so
/// a backbone saved once loads into each of its uses.
pub fn file_prefix<'a>(
    stage: &'a str,
    backbone: &'a str,
    mut names: impl Iterator<Item = &'a str>,
) -> &'a str {
    let own = format!("{stage}.");
    if stage == backbone || names.any(|n| n.starts_with(&own)) {
        stage
    } else {
        backbone
    }
}

/// Compares the layers of pretrained stage `p` with the file's tensors.
pub fn check_stage(
    path: &std::path::Path,
    path_text: &str,
    p: &super::Pretrained,
    layers: &[LayerInfo],
    diags: &mut Vec<Diag>,
    warnings: &mut Vec<Diag>,
) {
    let path_span = p.span;
    let file = match read_file(path) {
        Ok(f) => f,
        // A previous block of the same run may write it; it is checked when loaded.
        Err(ReadError::Missing) => return,
        Err(ReadError::Unreadable {
            code,
            message,
            help,
        }) => {
            diags.push(
                Diag::new(code, format!("`{path_text}` {message}"))
                    .primary(path_span, "this path")
                    .help(help),
            );
            return;
        }
        Err(ReadError::Invalid(e)) => {
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
    let header: HashMap<String, TensorEntry> = file
        .header
        .entries
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                TensorEntry {
                    dtype: e.dtype.clone(),
                    shape: e.shape.clone(),
                },
            )
        })
        .collect();
    let stage = p.stage.as_str();
    let prefix = format!("{stage}.");
    let stage_in_file = file_prefix(stage, &p.backbone, header.keys().map(|k| k.as_str()));
    let file_prefix = format!("{stage_in_file}.");
    // The file's name for one of this stage's tensors.
    let in_file = |model_name: &str| match model_name.strip_prefix(&prefix) {
        Some(rest) => format!("{file_prefix}{rest}"),
        None => model_name.to_string(),
    };
    for layer in layers.iter().filter(|l| l.name.starts_with(&prefix)) {
        // One report per layer: a wrong weight usually implies a wrong bias too.
        let before = diags.len();
        for (suffix, shape) in &layer.tensors {
            if diags.len() > before {
                break;
            }
            let name = in_file(&format!("{}.{suffix}", layer.name));
            match header.get(&name) {
                None => {
                    let mut names: Vec<&String> = header.keys().filter(|k| k.starts_with(&file_prefix)).collect();
                    names.sort();
                    diags.push(
                        Diag::new("amm::weights::missing", format!("`{path_text}` has no tensor `{name}`"))
                            .primary(path_span, "loaded here")
                            .secondary(layer.span, format!("`{name}` {shape:?} is needed by this layer"))
                            .help(if names.is_empty() {
                                format!("the file has no tensors for `{stage_in_file}`; was it saved from a model with a `{stage_in_file}` stage?")
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
                Some(_) => {
                    let entry = file.header.entries.iter().find(|e| e.name == name);
                    if let Some(Err(e)) = entry.map(|e| f32_values(&file.bytes, &file.header, e)) {
                        diags.push(
                            Diag::new(
                                "amm::weights::not_finite",
                                format!("`{path_text}`: {e}"),
                            )
                            .primary(path_span, "loaded here")
                            .help("the weights come from a diverged run; train them again with a lower learning rate"),
                        );
                    }
                }
            }
        }
    }
    let used: Vec<String> = layers
        .iter()
        .flat_map(|l| {
            l.tensors
                .iter()
                .map(move |(s, _)| format!("{}.{s}", l.name))
        })
        .map(|n| in_file(&n))
        .collect();
    let extra: Vec<&str> = file
        .header
        .entries
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| n.starts_with(&file_prefix) && !used.iter().any(|u| u == n))
        // Batch-norm statistics are loaded by the runtime beside the parameters.
        .filter(|n| {
            ![".running_mean", ".running_var", ".num_batches_tracked"]
                .iter()
                .any(|s| n.ends_with(s))
        })
        .collect();
    if !extra.is_empty() {
        warnings.push(
            Diag::new(
                "amm::weights::unused",
                format!(
                    "`{path_text}` has tensors for `{stage_in_file}` that no layer uses: {}",
                    extra.join(", ")
                ),
            )
            .primary(path_span, "loaded here")
            .help("they are ignored; was the file saved from a larger backbone?")
            .warning(),
        );
    }
}
