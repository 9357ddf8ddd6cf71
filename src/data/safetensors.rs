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

/// Parses a safetensors file with F32 tensors.
pub fn deserialize(bytes: &[u8]) -> Result<Vec<Tensor>, String> {
    let len = bytes
        .get(..8)
        .ok_or("shorter than the 8-byte header length")?;
    let n = u64::from_le_bytes(len.try_into().map_err(|_| "bad header length")?) as usize;
    let header = bytes
        .get(8..8usize.checked_add(n).ok_or("header length overflows")?)
        .ok_or("header runs past the end of the file")?;
    let data = &bytes[8 + n..];
    let json: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = json.as_object().ok_or("header is not a JSON object")?;
    let mut out = Vec::new();
    for (name, v) in obj {
        if name == "__metadata__" {
            continue;
        }
        let dtype = v.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        if dtype != "F32" {
            return Err(format!("tensor `{name}` is {dtype}, only F32 is supported"));
        }
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or(format!("tensor `{name}` has no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or(format!("tensor `{name}` has a bad shape"))?;
        let offs: Vec<usize> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .ok_or(format!("tensor `{name}` has no offsets"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or(format!("tensor `{name}` has bad offsets"))?;
        let [start, end] = offs[..] else {
            return Err(format!("tensor `{name}` needs two offsets"));
        };
        let count = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .ok_or(format!("tensor `{name}` is too large"))?;
        if end < start || end - start != count * 4 || end > data.len() {
            return Err(format!(
                "tensor `{name}`: offsets {start}..{end} do not fit its shape or the file"
            ));
        }
        let values = data[start..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(Tensor {
            name: name.clone(),
            shape,
            data: values,
        });
    }
    Ok(out)
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
    }
}
