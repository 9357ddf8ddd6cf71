//! IDX files (the MNIST family: MNIST, Fashion-MNIST, KMNIST, EMNIST...).
//!
//! Layout: two zero bytes, a type code, the number of dimensions `d`, then `d` big-endian `u32`
//! dimension sizes, then the elements in row-major order, big-endian. Type codes:
//! `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64 (`0x0A` is unassigned).
//! Files may be gzip-compressed (detected by magic bytes). The header's dimensions are checked
//! against the file length *before* anything is allocated, so a corrupt header cannot cause a
//! huge allocation.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::dataset::Dataset;
use super::element::Element;
use super::error::{DataError, SourceName};
use super::labels::{LabelOptions, RawLabels, build_labels};
use super::source::{Cursor, SourceBytes, hex_prefix, read_source};

/// An IDX element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxDtype {
    /// `0x08`: unsigned byte.
    U8,
    /// `0x09`: signed byte.
    I8,
    /// `0x0B`: big-endian i16.
    I16,
    /// `0x0C`: big-endian i32.
    I32,
    /// `0x0D`: big-endian f32.
    F32,
    /// `0x0E`: big-endian f64.
    F64,
}

impl IdxDtype {
    /// The type for a header code, if assigned.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxDtype::U8,
            0x09 => IdxDtype::I8,
            0x0B => IdxDtype::I16,
            0x0C => IdxDtype::I32,
            0x0D => IdxDtype::F32,
            0x0E => IdxDtype::F64,
            _ => return None,
        })
    }

    /// The header code of this type.
    pub fn code(self) -> u8 {
        match self {
            IdxDtype::U8 => 0x08,
            IdxDtype::I8 => 0x09,
            IdxDtype::I16 => 0x0B,
            IdxDtype::I32 => 0x0C,
            IdxDtype::F32 => 0x0D,
            IdxDtype::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxDtype::U8 | IdxDtype::I8 => 1,
            IdxDtype::I16 => 2,
            IdxDtype::I32 | IdxDtype::F32 => 4,
            IdxDtype::F64 => 8,
        }
    }

    /// True for the integer types.
    pub fn is_integer(self) -> bool {
        !matches!(self, IdxDtype::F32 | IdxDtype::F64)
    }
}

/// A decoded IDX array: its dimensions and elements (row-major) converted to `T` (`f32` for
/// features, `f64` for labels; every IDX type converts to `f64` exactly).
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray<T> {
    /// Element type stored in the file.
    pub dtype: IdxDtype,
    /// Dimension sizes from the header.
    pub dims: Vec<usize>,
    /// Elements, row-major.
    pub values: Vec<T>,
}

/// Where to find an IDX image/label pair and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxSource {
    /// Images (or any features): an IDX file whose first dimension is the sample count.
    pub images: PathBuf,
    /// Labels: a 1-D IDX file (classes or one target per sample) or 2-D (`n × k` targets).
    pub labels: PathBuf,
    /// How to interpret the labels.
    pub label_options: LabelOptions,
    /// Overrides the sample shape (must hold the same number of values).
    pub sample_shape: Option<Vec<usize>>,
}

const SUPPORTED: &str = "IDX type codes: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64";

/// Decodes IDX bytes (already gunzipped).
pub fn parse<T: Element>(name: &SourceName, bytes: &[u8]) -> Result<IdxArray<T>, DataError> {
    let mut cur = Cursor::new(name, bytes);
    let head = cur.take_array::<4>("IDX magic")?;
    if head[0] != 0 || head[1] != 0 {
        return Err(DataError::BadMagic {
            file: name.clone(),
            expected: "00 00 <type> <ndims>".into(),
            found: hex_prefix(bytes, 4),
        });
    }
    let dtype = IdxDtype::from_code(head[2]).ok_or_else(|| DataError::UnsupportedDtype {
        file: name.clone(),
        offset: 2,
        dtype: format!("code 0x{:02X}", head[2]),
        supported: SUPPORTED.into(),
    })?;
    let ndims = head[3] as usize;
    if ndims == 0 {
        return Err(DataError::BadHeader {
            file: name.clone(),
            offset: 3,
            reason: "zero dimensions".into(),
        });
    }
    let dim_bytes = cur.take(4 * ndims, "IDX dimension sizes")?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let byte_len = count.and_then(|c| c.checked_mul(dtype.size()));
    let (Some(count), Some(byte_len)) = (count, byte_len) else {
        return Err(DataError::BadHeader {
            file: name.clone(),
            offset: 4,
            reason: format!("dimensions {dims:?} overflow"),
        });
    };
    // Validate against the file length before allocating anything sized by the header.
    let data = cur.take(byte_len, &format!("IDX data for dimensions {dims:?}"))?;
    cur.expect_end()?;
    let mut values: Vec<T> = Vec::with_capacity(count);
    match dtype {
        IdxDtype::U8 => values.extend(data.iter().map(|&b| T::from_u64(b as u64))),
        IdxDtype::I8 => values.extend(data.iter().map(|&b| T::from_i64(b as i8 as i64))),
        IdxDtype::I16 => values.extend(
            data.chunks_exact(2)
                .map(|c| T::from_i64(i16::from_be_bytes([c[0], c[1]]) as i64)),
        ),
        IdxDtype::I32 => values.extend(
            data.chunks_exact(4)
                .map(|c| T::from_i64(i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as i64)),
        ),
        IdxDtype::F32 => values.extend(
            data.chunks_exact(4)
                .map(|c| T::from_f32(f32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        IdxDtype::F64 => values.extend(data.chunks_exact(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            T::from_f64(f64::from_be_bytes(b))
        })),
    }
    Ok(IdxArray {
        dtype,
        dims,
        values,
    })
}

/// Encodes an IDX file (uncompressed). Values are converted to `dtype` with Rust `as` casts
/// (saturating for integers). Used to produce test files and by tools exporting data.
pub fn encode(dtype: IdxDtype, dims: &[usize], values: &[f64]) -> Result<Vec<u8>, DataError> {
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if dims.is_empty() || dims.len() > 255 || count != Some(values.len()) {
        return Err(DataError::Shape {
            context: "IDX encode".into(),
            reason: format!("dimensions {dims:?} do not hold {} values", values.len()),
        });
    }
    if dims.iter().any(|&d| d > u32::MAX as usize) {
        return Err(DataError::Shape {
            context: "IDX encode".into(),
            reason: format!("dimensions {dims:?} exceed u32"),
        });
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + values.len() * dtype.size());
    out.extend_from_slice(&[0, 0, dtype.code(), dims.len() as u8]);
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for &v in values {
        match dtype {
            IdxDtype::U8 => out.push(v as u8),
            IdxDtype::I8 => out.push(v as i8 as u8),
            IdxDtype::I16 => out.extend_from_slice(&(v as i16).to_be_bytes()),
            IdxDtype::I32 => out.extend_from_slice(&(v as i32).to_be_bytes()),
            IdxDtype::F32 => out.extend_from_slice(&(v as f32).to_be_bytes()),
            IdxDtype::F64 => out.extend_from_slice(&v.to_be_bytes()),
        }
    }
    Ok(out)
}

/// The sample shape for the non-sample dimensions of a file: `[d]` for 2-D files, `[1, h, w]`
/// (one channel, CHW) for 3-D files, the dimensions as they are for 4-D and up.
pub fn default_sample_shape(rest: &[usize]) -> Vec<usize> {
    match rest {
        [] => vec![1],
        [h, w] => vec![1, *h, *w],
        other => other.to_vec(),
    }
}

/// Loads a dataset from an IDX image file and an IDX label file.
pub fn load(source: &IdxSource) -> Result<Dataset, DataError> {
    let images = read_source(&source.images)?;
    let labels = read_source(&source.labels)?;
    from_sources(&images, &labels, source)
}

/// Builds a dataset from already-read image and label bytes (`source` gives the options and
/// the paths used in errors).
pub fn from_sources(
    images: &SourceBytes,
    labels: &SourceBytes,
    source: &IdxSource,
) -> Result<Dataset, DataError> {
    let img = parse::<f32>(&images.name, &images.bytes)?;
    if img.dims.len() < 2 {
        return Err(DataError::BadHeader {
            file: images.name.clone(),
            offset: 3,
            reason: format!(
                "an image file needs at least 2 dimensions (samples, values...), found {:?}",
                img.dims
            ),
        });
    }
    let lab = parse::<f64>(&labels.name, &labels.bytes)?;
    if lab.dims.len() > 2 {
        return Err(DataError::BadHeader {
            file: labels.name.clone(),
            offset: 3,
            reason: format!(
                "a label file needs 1 dimension (or 2 for multi-target), found {:?}",
                lab.dims
            ),
        });
    }
    let n = img.dims[0];
    if lab.dims[0] != n {
        return Err(DataError::CountMismatch {
            features: source.images.clone(),
            n_features: n,
            labels: source.labels.clone(),
            n_labels: lab.dims[0],
        });
    }
    let per_sample: usize = img.dims[1..].iter().product();
    let width = lab.dims.get(1).copied().unwrap_or(1);
    let header_len = 4 + 4 * lab.dims.len();
    let elem = lab.dtype.size();
    let raw = RawLabels {
        values: lab.values,
        width,
        integer_typed: lab.dtype.is_integer(),
        file: &labels.name,
    };
    let labels = build_labels(raw, &source.label_options, &|i| {
        format!("label {i} (byte {})", header_len + i * elem)
    })?;
    let features =
        Array2::from_shape_vec((n, per_sample), img.values).map_err(|e| DataError::Shape {
            context: images.name.to_string(),
            reason: e.to_string(),
        })?;
    let ds = Dataset::new(features, default_sample_shape(&img.dims[1..]), labels)?;
    match &source.sample_shape {
        Some(s) if s.as_slice() != ds.sample_shape() => ds.reshape_samples(s.clone()),
        _ => Ok(ds),
    }
}

/// Reads one IDX file from disk (gunzipping if needed) and decodes it.
pub fn read_file<T: Element>(path: &Path) -> Result<IdxArray<T>, DataError> {
    let src = read_source(path)?;
    parse(&src.name, &src.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SourceName {
        SourceName::plain("t.idx")
    }

    #[test]
    fn round_trip_every_dtype() {
        for dtype in [
            IdxDtype::U8,
            IdxDtype::I8,
            IdxDtype::I16,
            IdxDtype::I32,
            IdxDtype::F32,
            IdxDtype::F64,
        ] {
            let values: Vec<f64> = if dtype == IdxDtype::U8 {
                vec![0., 1., 200., 255., 7., 9.]
            } else {
                vec![0., -1., 100., -128., 7., 9.]
            };
            let bytes = encode(dtype, &[2, 3], &values).unwrap();
            let arr = parse::<f64>(&name(), &bytes).unwrap();
            assert_eq!(arr.dims, vec![2, 3]);
            assert_eq!(arr.values, values, "{dtype:?}");
            assert_eq!(arr.dtype, dtype);
        }
    }

    #[test]
    fn header_errors() {
        let good = encode(IdxDtype::U8, &[2, 2], &[1., 2., 3., 4.]).unwrap();
        let mut bad_magic = good.clone();
        bad_magic[0] = 1;
        assert_eq!(
            parse::<f32>(&name(), &bad_magic).unwrap_err().code_str(),
            "amm::data::bad_magic"
        );
        let mut bad_type = good.clone();
        bad_type[2] = 0x0A;
        assert_eq!(
            parse::<f32>(&name(), &bad_type).unwrap_err().code_str(),
            "amm::data::dtype"
        );
        let mut zero_dims = good.clone();
        zero_dims[3] = 0;
        assert_eq!(
            parse::<f32>(&name(), &zero_dims).unwrap_err().code_str(),
            "amm::data::bad_header"
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            parse::<f32>(&name(), &long).unwrap_err().code_str(),
            "amm::data::trailing_data"
        );
    }

    #[test]
    fn huge_header_dims_do_not_allocate() {
        // 4 dims of 0xFFFFFFFF: product overflows / far exceeds the file.
        let mut bytes = vec![0, 0, 0x08, 4];
        for _ in 0..4 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let e = parse::<f32>(&name(), &bytes).unwrap_err();
        assert!(
            matches!(
                e.code_str().as_str(),
                "amm::data::bad_header" | "amm::data::truncated"
            ),
            "{e}"
        );
        let mut big = vec![0, 0, 0x0E, 2];
        big.extend_from_slice(&60000u32.to_be_bytes());
        big.extend_from_slice(&60000u32.to_be_bytes());
        let e = parse::<f32>(&name(), &big).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated");
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let good = encode(IdxDtype::I16, &[3, 2], &[1., 2., 3., 4., 5., 6.]).unwrap();
        for len in 0..good.len() {
            let e = parse::<f32>(&name(), &good[..len]).unwrap_err();
            assert_eq!(e.code_str(), "amm::data::truncated", "len {len}: {e}");
        }
    }
}
