//! Safetensors files of `f32` tensors: writing (atomically) and reading.
//!
//! Uses the `safetensors` crate (the format's reference implementation by its authors) for the
//! header layout and validation — offsets, overlaps, coverage of the data section, header size
//! limits — so files interoperate exactly with Python's `safetensors` and PyTorch; this module
//! adds `f32` conversion, `__metadata__` handling, atomic writes and diagnostics naming the file.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, View};

use super::atomic::write_atomic;
use super::error::{DataError, SourceName};

/// A tensor to write: a name, a shape, and `product(shape)` values in row-major order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorRef<'a> {
    /// The tensor's name (unique within a file; `__metadata__` is reserved).
    pub name: &'a str,
    /// Its shape (empty for a scalar).
    pub shape: &'a [usize],
    /// Its values, row-major.
    pub data: &'a [f32],
}

/// A tensor read back: its shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// The contents of a safetensors file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SafetensorsFile {
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// The free-form string metadata (`__metadata__`), empty if absent.
    pub metadata: BTreeMap<String, String>,
}

/// Adapter giving the crate's serializer our `f32` slices as little-endian bytes.
struct F32View<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

fn crate_error(file: &SourceName, e: SafeTensorError) -> DataError {
    DataError::Safetensors {
        file: file.clone(),
        reason: e.to_string(),
    }
}

/// Serializes tensors and metadata to safetensors bytes. Fails on a shape/data size mismatch,
/// a duplicate name or the reserved name `__metadata__`.
pub fn to_bytes(
    tensors: &[TensorRef<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, DataError> {
    let file = SourceName::plain("<safetensors output>");
    let mut seen = std::collections::BTreeSet::new();
    for t in tensors {
        let count = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if count != Some(t.data.len()) {
            return Err(DataError::Shape {
                context: format!("tensor `{}`", t.name),
                reason: format!("shape {:?} does not hold {} values", t.shape, t.data.len()),
            });
        }
        if t.name == "__metadata__" || !seen.insert(t.name) {
            return Err(DataError::Config {
                what: format!("tensor name `{}`", t.name),
                reason: "names must be unique and `__metadata__` is reserved".into(),
            });
        }
    }
    let views = tensors.iter().map(|t| {
        (
            t.name,
            F32View {
                shape: t.shape,
                data: t.data,
            },
        )
    });
    let meta: Option<HashMap<String, String>> = if metadata.is_empty() {
        None
    } else {
        Some(
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    safetensors::tensor::serialize(views, meta).map_err(|e| crate_error(&file, e))
}

/// Writes tensors and metadata to `path` atomically (see [`write_atomic`]).
pub fn write(
    path: &Path,
    tensors: &[TensorRef<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<(), DataError> {
    let bytes = to_bytes(tensors, metadata)?;
    write_atomic(path, &bytes)
}

/// Parses safetensors bytes; `file` names the source in errors. Every tensor must be `F32`.
pub fn from_bytes(file: &SourceName, bytes: &[u8]) -> Result<SafetensorsFile, DataError> {
    // The crate checks the header length against the buffer before reading it, and that the
    // tensors exactly tile the data section, so no size taken from the file is trusted blindly.
    let st = SafeTensors::deserialize(bytes).map_err(|e| crate_error(file, e))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| crate_error(file, e))?;
    let mut out = SafetensorsFile::default();
    if let Some(m) = meta.metadata() {
        out.metadata = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(DataError::SafetensorsDtype {
                file: file.clone(),
                tensor: name.to_string(),
                dtype: view.dtype().to_string(),
            });
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.tensors.insert(
            name.to_string(),
            Tensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

/// Reads a safetensors file of `f32` tensors.
pub fn read(path: &Path) -> Result<SafetensorsFile, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::from_io(path, e))?;
    from_bytes(&SourceName::plain(path), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<f32>, Vec<f32>) {
        ((0..6).map(|i| i as f32 * 0.5).collect(), vec![-1.0, 2.0])
    }

    #[test]
    fn round_trip_with_metadata() {
        let (w, b) = sample();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "ammc".to_string());
        let bytes = to_bytes(
            &[
                TensorRef {
                    name: "dense.weight",
                    shape: &[2, 3],
                    data: &w,
                },
                TensorRef {
                    name: "dense.bias",
                    shape: &[2],
                    data: &b,
                },
            ],
            &meta,
        )
        .unwrap();
        let f = from_bytes(&SourceName::plain("m"), &bytes).unwrap();
        assert_eq!(f.metadata, meta);
        assert_eq!(f.tensors["dense.weight"].shape, vec![2, 3]);
        assert_eq!(f.tensors["dense.weight"].data, w);
        assert_eq!(f.tensors["dense.bias"].data, b);
    }

    #[test]
    fn rejects_bad_input() {
        let (w, _) = sample();
        let bad_shape = to_bytes(
            &[TensorRef {
                name: "w",
                shape: &[4],
                data: &w,
            }],
            &BTreeMap::new(),
        );
        assert_eq!(bad_shape.unwrap_err().code_str(), "amm::data::shape");
        let t = TensorRef {
            name: "w",
            shape: &[6],
            data: &w,
        };
        assert_eq!(
            to_bytes(&[t, t], &BTreeMap::new()).unwrap_err().code_str(),
            "amm::data::config"
        );
    }

    #[test]
    fn wrong_dtype_and_corruption_are_errors() {
        // A valid file holding one I32 tensor.
        let header = br#"{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 8]);
        let name = SourceName::plain("m");
        assert_eq!(
            from_bytes(&name, &bytes).unwrap_err().code_str(),
            "amm::data::safetensors_dtype"
        );
        let (w, _) = sample();
        let good = to_bytes(
            &[TensorRef {
                name: "w",
                shape: &[6],
                data: &w,
            }],
            &BTreeMap::new(),
        )
        .unwrap();
        for len in 0..good.len() {
            assert_eq!(
                from_bytes(&name, &good[..len]).unwrap_err().code_str(),
                "amm::data::safetensors",
                "len {len}"
            );
        }
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            from_bytes(&name, &huge).unwrap_err().code_str(),
            "amm::data::safetensors"
        );
        let mut garbled = good.clone();
        garbled[9] = b'!';
        assert_eq!(
            from_bytes(&name, &garbled).unwrap_err().code_str(),
            "amm::data::safetensors"
        );
    }
}
