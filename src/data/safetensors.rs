//! The safetensors format (what PyTorch and Hugging Face users read): an 8-byte
//! little-endian header length, a JSON header mapping names to dtype, shape and byte
//! offsets, then the raw little-endian data. Written by hand: the format is 30 lines and
//! we only need F32.

use std::collections::BTreeMap;

/// One named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Name (`features.conv1.weight`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Serialises tensors (in the given order) with optional string metadata.
pub fn serialize(tensors: &[Tensor], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0usize;
    for t in tensors {
        let len = t.data.len() * 4;
        header.insert(t.name.clone(), serde_json::json!({ "dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + len] }));
        offset += len;
    }
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    // Pad the header with spaces to 8-byte alignment, as the reference implementation does.
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for t in tensors {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Why a safetensors file cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub enum SafetensorsError {
    /// The layout is wrong: lengths, JSON, names, dtypes or offsets.
    Corrupt(String),
    /// A tensor holds NaN or an infinity.
    NotFinite {
        /// Tensor name.
        tensor: String,
        /// Row-major index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
}

impl std::fmt::Display for SafetensorsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SafetensorsError::Corrupt(m) => write!(f, "{m}"),
            SafetensorsError::NotFinite {
                tensor,
                index,
                value,
            } => write!(f, "tensor `{tensor}` has {value} at index {index}"),
        }
    }
}

impl From<String> for SafetensorsError {
    fn from(m: String) -> Self {
        SafetensorsError::Corrupt(m)
    }
}

impl From<&str> for SafetensorsError {
    fn from(m: &str) -> Self {
        SafetensorsError::Corrupt(m.to_string())
    }
}

/// One tensor entry of a validated header.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Name.
    pub name: String,
    /// Element type as written (`F32`, `F16`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte range in the data section.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// A validated header: entries in file order, and where the data section starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The tensors.
    pub entries: Vec<Entry>,
    /// Offset of the data section in the file.
    pub data_start: usize,
}

/// Bytes per element of the dtypes the format defines.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// The header's top-level object with its keys in file order, duplicates kept (a
/// `serde_json::Map` would keep only the last of two equal names).
struct RawEntries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for RawEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a JSON object of tensors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<RawEntries, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, serde_json::Value>()? {
                    out.push(kv);
                }
                Ok(RawEntries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parses and validates the header of a whole file: a known dtype and a shape for every
/// tensor, unique names, and byte ranges that match the shapes and tile the data section
/// exactly (no overlap, no gap, no trailing bytes), as the reference implementation requires.
pub fn parse_header(bytes: &[u8]) -> Result<Header, SafetensorsError> {
    let len = bytes
        .get(..8)
        .ok_or("shorter than the 8-byte header length")?;
    let n = u64::from_le_bytes(len.try_into().map_err(|_| "bad header length")?);
    let avail = bytes.len() as u64 - 8;
    if n > avail {
        return Err(format!(
            "the header length {n} (bytes 0..8) is more than the {avail} bytes after it"
        )
        .into());
    }
    let data_start = 8 + n as usize;
    let data_len = bytes.len() - data_start;
    let RawEntries(raw) = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| format!("header is not a JSON object: {e}"))?;
    let mut entries: Vec<Entry> = Vec::new();
    for (name, v) in raw {
        if name == "__metadata__" {
            if !v.is_object() {
                return Err("`__metadata__` is not a JSON object".into());
            }
            continue;
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(format!("tensor `{name}` appears twice in the header").into());
        }
        let dtype = v
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or(format!("tensor `{name}` has no dtype"))?;
        let size =
            dtype_size(dtype).ok_or(format!("tensor `{name}` has unknown dtype {dtype:?}"))?;
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<_>>()
            })
            .ok_or(format!("tensor `{name}` has no valid shape"))?;
        let offs: Vec<usize> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<_>>()
            })
            .ok_or(format!("tensor `{name}` has no valid data_offsets"))?;
        let [start, end] = offs[..] else {
            return Err(format!("tensor `{name}` needs two data_offsets").into());
        };
        let bytes_needed = shape
            .iter()
            .try_fold(size, |a, d| a.checked_mul(*d))
            .ok_or(format!("tensor `{name}` of shape {shape:?} is too large"))?;
        if end < start || end - start != bytes_needed {
            return Err(format!(
                "tensor `{name}`: data_offsets {start}..{end} do not hold {shape:?} {dtype} ({bytes_needed} bytes)"
            )
            .into());
        }
        if end > data_len {
            return Err(format!(
                "tensor `{name}`: data_offsets {start}..{end} run past the {data_len} bytes of data"
            )
            .into());
        }
        entries.push(Entry {
            name,
            dtype: dtype.to_string(),
            shape,
            start,
            end,
        });
    }
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (e.start, e.end));
    let mut covered = 0usize;
    let mut last: Option<&Entry> = None;
    for e in order {
        if e.start < covered {
            let other = last.map_or(String::new(), |l| {
                format!(" and `{}` ({}..{})", l.name, l.start, l.end)
            });
            return Err(format!(
                "tensor `{}` ({}..{}){other} overlap",
                e.name, e.start, e.end
            )
            .into());
        }
        if e.start > covered {
            return Err(format!(
                "data bytes {covered}..{} belong to no tensor (before `{}`)",
                e.start, e.name
            )
            .into());
        }
        covered = e.end;
        last = Some(e);
    }
    if covered != data_len {
        return Err(format!(
            "{} trailing bytes after the last tensor (data bytes {covered}..{data_len})",
            data_len - covered
        )
        .into());
    }
    Ok(Header {
        entries,
        data_start,
    })
}

/// The values of an F32 entry of a validated header, refusing NaN and infinities.
pub fn f32_values(bytes: &[u8], header: &Header, e: &Entry) -> Result<Vec<f32>, SafetensorsError> {
    if e.dtype != "F32" {
        return Err(format!("tensor `{}` is {}, only F32 is supported", e.name, e.dtype).into());
    }
    let data = bytes
        .get(header.data_start + e.start..header.data_start + e.end)
        .ok_or(format!("tensor `{}` runs past the end of the file", e.name))?;
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some((index, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SafetensorsError::NotFinite {
            tensor: e.name.clone(),
            index,
            value: *value,
        });
    }
    Ok(values)
}

/// Parses a safetensors file of F32 tensors (header validated, every value finite).
pub fn deserialize(bytes: &[u8]) -> Result<Vec<Tensor>, SafetensorsError> {
    let header = parse_header(bytes)?;
    header
        .entries
        .iter()
        .map(|e| {
            Ok(Tensor {
                name: e.name.clone(),
                shape: e.shape.clone(),
                data: f32_values(bytes, &header, e)?,
            })
        })
        .collect()
}

/// The `__metadata__` strings of a safetensors file.
pub fn metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or("it is shorter than a safetensors header")?;
    let header = usize::try_from(len)
        .ok()
        .and_then(|n| bytes.get(8..8usize.checked_add(n)?))
        .ok_or("its header runs past the end of the file")?;
    let json: serde_json::Value =
        serde_json::from_slice(header).map_err(|_| "its header is not JSON")?;
    Ok(json
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let ts = vec![
            Tensor {
                name: "a.weight".into(),
                shape: vec![2, 3],
                data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
            Tensor {
                name: "a.bias".into(),
                shape: vec![2],
                data: vec![-1.0, 0.5],
            },
        ];
        let bytes = serialize(
            &ts,
            &BTreeMap::from([("format".to_string(), "pt".to_string())]),
        );
        let mut back = deserialize(&bytes).unwrap();
        back.sort_by(|a, b| b.name.cmp(&a.name));
        assert_eq!(back, ts);
        for cut in 0..bytes.len() {
            assert!(deserialize(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // One byte more is trailing data.
        let mut long = bytes.clone();
        long.push(0);
        assert!(deserialize(&long).is_err());
    }

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn layout_errors() {
        let data = [0u8; 8];
        let ok = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            &data,
        );
        assert_eq!(deserialize(&ok).unwrap().len(), 2);
        let cases = [
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                "overlap",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                "twice",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                "trailing",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                "no tensor",
            ),
            (
                r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#,
                "unknown dtype",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#,
                "too large",
            ),
        ];
        for (h, want) in cases {
            let e = deserialize(&file(h, &data)).unwrap_err().to_string();
            assert!(e.contains(want), "{h}: {e}");
        }
        let nan = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0, 0, 0, 0, 0, 0, 0xc0, 0x7f],
        );
        assert!(matches!(
            deserialize(&nan),
            Err(SafetensorsError::NotFinite { index: 1, .. })
        ));
    }
}
