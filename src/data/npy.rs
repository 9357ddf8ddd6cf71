//! NumPy `.npy` files: reading (features + labels) and writing 2-D `f32`/`f64` arrays.
//!
//! Format: the magic `\x93NUMPY`, a major and minor version byte, the header length
//! (`u16` little-endian for version 1, `u32` for versions 2 and 3), then the header — a Python
//! dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` (latin-1
//! for versions 1/2, UTF-8 for 3) — then the raw elements. Supported element types: `f4 f8 i1
//! i2 i4 i8 u1 u2 u4 u8 b1` (bool), little- or big-endian, C or Fortran order. The element
//! count from the header is checked against the file length before anything is allocated.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn, ShapeBuilder};

use super::atomic::write_atomic;
use super::dataset::Dataset;
use super::element::Element;
use super::error::{DataError, SourceName};
use super::idx::default_sample_shape;
use super::labels::{LabelOptions, RawLabels, build_labels};
use super::source::{Cursor, SourceBytes, hex_prefix, read_source};

/// The NPY magic string.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

const SUPPORTED: &str =
    "supported dtypes: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 (bool), little- or big-endian";

/// The kind of a NPY element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyKind {
    /// IEEE float (`f`).
    Float,
    /// Signed integer (`i`).
    Int,
    /// Unsigned integer (`u`).
    Uint,
    /// Boolean (`b`, one byte, nonzero = true).
    Bool,
}

/// A NPY element type: kind, byte size and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyDtype {
    /// Float, signed, unsigned or bool.
    pub kind: NpyKind,
    /// Bytes per element.
    pub size: usize,
    /// True for big-endian (`>`); one-byte types are order-free.
    pub big_endian: bool,
}

impl NpyDtype {
    /// Parses a `descr` string such as `<f4`, `>i8`, `|u1`, `|b1`, `=f8`.
    pub fn parse(descr: &str) -> Option<Self> {
        let (big_endian, rest) = match descr.as_bytes().first()? {
            b'<' => (false, &descr[1..]),
            b'>' => (true, &descr[1..]),
            b'|' => (false, &descr[1..]),
            b'=' => (cfg!(target_endian = "big"), &descr[1..]),
            _ => (cfg!(target_endian = "big"), descr),
        };
        let (kind, size) = match rest {
            "f4" => (NpyKind::Float, 4),
            "f8" => (NpyKind::Float, 8),
            "i1" => (NpyKind::Int, 1),
            "i2" => (NpyKind::Int, 2),
            "i4" => (NpyKind::Int, 4),
            "i8" => (NpyKind::Int, 8),
            "u1" => (NpyKind::Uint, 1),
            "u2" => (NpyKind::Uint, 2),
            "u4" => (NpyKind::Uint, 4),
            "u8" => (NpyKind::Uint, 8),
            "b1" | "?" => (NpyKind::Bool, 1),
            _ => return None,
        };
        Some(NpyDtype {
            kind,
            size,
            big_endian,
        })
    }

    /// True for integer and bool types.
    pub fn is_integer(self) -> bool {
        !matches!(self.kind, NpyKind::Float)
    }
}

/// A decoded NPY array: shape and elements in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    /// Element type stored in the file.
    pub dtype: NpyDtype,
    /// The array's shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements in C order (Fortran-order files are transposed on reading).
    pub data: Vec<T>,
}

/// Where to find a NPY feature/label pair and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpySource {
    /// Features: an array whose first axis is the sample axis.
    pub features: PathBuf,
    /// Labels: shape `(n,)` or `(n, k)`.
    pub labels: PathBuf,
    /// How to interpret the labels.
    pub label_options: LabelOptions,
    /// Overrides the sample shape (must hold the same number of values).
    pub sample_shape: Option<Vec<usize>>,
}

/// A parsed header.
struct Header {
    dtype: NpyDtype,
    fortran: bool,
    shape: Vec<usize>,
}

/// Decodes NPY bytes into elements of type `T`.
pub fn parse<T: Element>(name: &SourceName, bytes: &[u8]) -> Result<NpyArray<T>, DataError> {
    let mut cur = Cursor::new(name, bytes);
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(DataError::BadMagic {
            file: name.clone(),
            expected: "93 4e 55 4d 50 59 (\\x93NUMPY)".into(),
            found: hex_prefix(bytes, 6),
        });
    }
    cur.take(MAGIC.len(), "NPY magic")?;
    let [major, minor] = cur.take_array::<2>("NPY version")?;
    let header_len = match major {
        1 => u16::from_le_bytes(cur.take_array::<2>("NPY header length")?) as usize,
        2 | 3 => u32::from_le_bytes(cur.take_array::<4>("NPY header length")?) as usize,
        _ => {
            return Err(DataError::BadHeader {
                file: name.clone(),
                offset: 6,
                reason: format!("unsupported NPY version {major}.{minor} (1.0, 2.0 and 3.0 are)"),
            });
        }
    };
    let header_offset = cur.offset();
    let header_bytes = cur.take(header_len, "NPY header")?;
    let text: String = if major == 3 {
        std::str::from_utf8(header_bytes)
            .map_err(|e| DataError::BadHeader {
                file: name.clone(),
                offset: (header_offset + e.valid_up_to()) as u64,
                reason: "header is not valid UTF-8".into(),
            })?
            .to_string()
    } else {
        // Versions 1 and 2 use latin-1: every byte is one code point.
        header_bytes.iter().map(|&b| b as char).collect()
    };
    let header = parse_header(name, header_offset, &text)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    let byte_len = count.and_then(|c| c.checked_mul(header.dtype.size));
    let (Some(count), Some(byte_len)) = (count, byte_len) else {
        return Err(DataError::BadHeader {
            file: name.clone(),
            offset: header_offset as u64,
            reason: format!("shape {:?} overflows", header.shape),
        });
    };
    // Bound every allocation by the file length: the data must be present before we decode.
    let data = cur.take(byte_len, &format!("NPY data for shape {:?}", header.shape))?;
    cur.expect_end()?;
    let mut values = decode::<T>(header.dtype, data, count);
    if header.fortran && header.shape.len() > 1 {
        let arr = ArrayD::from_shape_vec(IxDyn(&header.shape).f(), values).map_err(|e| {
            DataError::BadHeader {
                file: name.clone(),
                offset: header_offset as u64,
                reason: e.to_string(),
            }
        })?;
        values = arr.as_standard_layout().iter().copied().collect();
    }
    Ok(NpyArray {
        dtype: header.dtype,
        shape: header.shape,
        data: values,
    })
}

fn decode<T: Element>(dtype: NpyDtype, data: &[u8], count: usize) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(count);
    let be = dtype.big_endian;
    macro_rules! ints {
        ($t:ty, $n:expr, $conv:ident, $wide:ty) => {
            out.extend(data.chunks_exact($n).map(|c| {
                let mut b = [0u8; $n];
                b.copy_from_slice(c);
                let v = if be {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                };
                T::$conv(v as $wide)
            }))
        };
    }
    match (dtype.kind, dtype.size) {
        (NpyKind::Float, 4) => out.extend(data.chunks_exact(4).map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            T::from_f32(if be {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            })
        })),
        (NpyKind::Float, _) => ints!(f64, 8, from_f64, f64),
        (NpyKind::Int, 1) => ints!(i8, 1, from_i64, i64),
        (NpyKind::Int, 2) => ints!(i16, 2, from_i64, i64),
        (NpyKind::Int, 4) => ints!(i32, 4, from_i64, i64),
        (NpyKind::Int, _) => ints!(i64, 8, from_i64, i64),
        (NpyKind::Uint, 1) => ints!(u8, 1, from_u64, u64),
        (NpyKind::Uint, 2) => ints!(u16, 2, from_u64, u64),
        (NpyKind::Uint, 4) => ints!(u32, 4, from_u64, u64),
        (NpyKind::Uint, _) => ints!(u64, 8, from_u64, u64),
        (NpyKind::Bool, _) => out.extend(data.iter().map(|&b| T::from_u64((b != 0) as u64))),
    }
    out
}

/// A Python literal, as far as NPY headers use them.
#[derive(Debug, Clone, PartialEq)]
enum PyValue {
    Str(String),
    Bool(bool),
    Int(u64),
    None,
    Seq(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
}

/// Recursive-descent parser for the Python literal subset used in NPY headers.
struct PyParser<'a> {
    chars: Vec<(usize, char)>,
    pos: usize,
    text: &'a str,
}

/// Deepest nesting accepted; corrupt headers like `((((((...` must not overflow the stack.
const MAX_DEPTH: usize = 16;

impl<'a> PyParser<'a> {
    fn new(text: &'a str) -> Self {
        PyParser {
            chars: text.char_indices().collect(),
            pos: 0,
            text,
        }
    }

    /// Byte offset (within the header text) of the current position.
    fn byte_pos(&self) -> usize {
        self.chars
            .get(self.pos)
            .map(|&(i, _)| i)
            .unwrap_or(self.text.len())
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, (usize, String)> {
        if depth > MAX_DEPTH {
            return Err((self.byte_pos(), "nesting too deep".into()));
        }
        self.skip_ws();
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => return Err((self.byte_pos(), "unterminated string".into())),
                        Some(c) if c == q => {
                            self.pos += 1;
                            return Ok(PyValue::Str(s));
                        }
                        Some('\\') => {
                            self.pos += 1;
                            if let Some(c) = self.peek() {
                                s.push(c);
                                self.pos += 1;
                            }
                        }
                        Some(c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            Some(open @ ('(' | '[')) => {
                self.pos += 1;
                let close = if open == '(' { ')' } else { ']' };
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        return Ok(PyValue::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    if !self.eat(',') {
                        if self.eat(close) {
                            return Ok(PyValue::Seq(items));
                        }
                        return Err((self.byte_pos(), format!("expected `,` or `{close}`")));
                    }
                }
            }
            Some('{') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat('}') {
                        return Ok(PyValue::Dict(items));
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(':') {
                        return Err((self.byte_pos(), "expected `:`".into()));
                    }
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    if !self.eat(',') {
                        if self.eat('}') {
                            return Ok(PyValue::Dict(items));
                        }
                        return Err((self.byte_pos(), "expected `,` or `}`".into()));
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect();
                // Python 2 wrote longs as `3L`.
                if self.peek() == Some('L') {
                    self.pos += 1;
                }
                digits
                    .parse::<u64>()
                    .map(PyValue::Int)
                    .map_err(|_| (self.byte_pos(), format!("integer `{digits}` too large")))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric()) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect();
                match word.as_str() {
                    "True" => Ok(PyValue::Bool(true)),
                    "False" => Ok(PyValue::Bool(false)),
                    "None" => Ok(PyValue::None),
                    _ => Err((self.byte_pos(), format!("unexpected `{word}`"))),
                }
            }
            Some(c) => Err((self.byte_pos(), format!("unexpected `{c}`"))),
            None => Err((self.byte_pos(), "unexpected end of header".into())),
        }
    }
}

fn parse_header(name: &SourceName, offset: usize, text: &str) -> Result<Header, DataError> {
    let bad = |at: usize, reason: String| DataError::BadHeader {
        file: name.clone(),
        offset: (offset + at) as u64,
        reason,
    };
    let mut p = PyParser::new(text);
    let dict = p.value(0).map_err(|(at, r)| bad(at, r))?;
    p.skip_ws();
    if p.peek().is_some() {
        return Err(bad(
            p.byte_pos(),
            "unexpected text after the header dict".into(),
        ));
    }
    let PyValue::Dict(items) = dict else {
        return Err(bad(0, "header is not a dict".into()));
    };
    let get = |key: &str| {
        items
            .iter()
            .find(|(k, _)| matches!(k, PyValue::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let descr = match get("descr") {
        Some(PyValue::Str(s)) => s.clone(),
        Some(other) => {
            return Err(DataError::UnsupportedDtype {
                file: name.clone(),
                offset: offset as u64,
                dtype: format!("structured dtype {other:?}"),
                supported: SUPPORTED.into(),
            });
        }
        None => return Err(bad(0, "missing key 'descr'".into())),
    };
    let dtype = NpyDtype::parse(&descr).ok_or_else(|| DataError::UnsupportedDtype {
        file: name.clone(),
        offset: (offset + text.find(&descr).unwrap_or(0)) as u64,
        dtype: format!("'{descr}'"),
        supported: SUPPORTED.into(),
    })?;
    let fortran = match get("fortran_order") {
        Some(PyValue::Bool(b)) => *b,
        Some(_) => return Err(bad(0, "'fortran_order' is not True/False".into())),
        None => return Err(bad(0, "missing key 'fortran_order'".into())),
    };
    let shape = match get("shape") {
        Some(PyValue::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                PyValue::Int(v) => usize::try_from(*v).ok(),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| bad(0, format!("'shape' is not a tuple of integers: {dims:?}")))?,
        Some(_) => return Err(bad(0, "'shape' is not a tuple".into())),
        None => return Err(bad(0, "missing key 'shape'".into())),
    };
    Ok(Header {
        dtype,
        fortran,
        shape,
    })
}

/// Reads a `.npy` file (gunzipped if compressed) as `f32` elements.
pub fn read_f32(path: &Path) -> Result<NpyArray<f32>, DataError> {
    let src = read_source(path)?;
    parse(&src.name, &src.bytes)
}

/// Reads a `.npy` file (gunzipped if compressed) as `f64` elements.
pub fn read_f64(path: &Path) -> Result<NpyArray<f64>, DataError> {
    let src = read_source(path)?;
    parse(&src.name, &src.bytes)
}

/// Loads a dataset from a features `.npy` and a labels `.npy`.
pub fn load(source: &NpySource) -> Result<Dataset, DataError> {
    let features = read_source(&source.features)?;
    let labels = read_source(&source.labels)?;
    from_sources(&features, &labels, source)
}

/// Builds a dataset from already-read feature and label bytes (`source` gives the options and
/// the paths used in errors).
pub fn from_sources(
    features: &SourceBytes,
    labels: &SourceBytes,
    source: &NpySource,
) -> Result<Dataset, DataError> {
    let feat = parse::<f32>(&features.name, &features.bytes)?;
    if feat.shape.is_empty() {
        return Err(DataError::Shape {
            context: features.name.to_string(),
            reason: "features are a scalar; need at least one axis (samples)".into(),
        });
    }
    let lab = parse::<f64>(&labels.name, &labels.bytes)?;
    if lab.shape.is_empty() || lab.shape.len() > 2 {
        return Err(DataError::Shape {
            context: labels.name.to_string(),
            reason: format!(
                "labels must have shape (n,) or (n, k), found {:?}",
                lab.shape
            ),
        });
    }
    let n = feat.shape[0];
    if lab.shape[0] != n {
        return Err(DataError::CountMismatch {
            features: source.features.clone(),
            n_features: n,
            labels: source.labels.clone(),
            n_labels: lab.shape[0],
        });
    }
    let per_sample: usize = feat.shape[1..].iter().product();
    let width = lab.shape.get(1).copied().unwrap_or(1);
    let data_offset = labels.bytes.len() - lab.data.len() * lab.dtype.size;
    let elem = lab.dtype.size;
    let raw = RawLabels {
        values: lab.data,
        width,
        integer_typed: lab.dtype.is_integer(),
        file: &labels.name,
    };
    let labels = build_labels(raw, &source.label_options, &|i| {
        format!("label {i} (byte {})", data_offset + i * elem)
    })?;
    let features =
        Array2::from_shape_vec((n, per_sample), feat.data).map_err(|e| DataError::Shape {
            context: features.name.to_string(),
            reason: e.to_string(),
        })?;
    let ds = Dataset::new(features, default_sample_shape(&feat.shape[1..]), labels)?;
    match &source.sample_shape {
        Some(s) if s.as_slice() != ds.sample_shape() => ds.reshape_samples(s.clone()),
        _ => Ok(ds),
    }
}

/// An element type that [`write()`] can store: `f32` (`<f4`) or `f64` (`<f8`).
pub trait NpyWritable: Copy {
    /// The NPY `descr` string.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn push_le(self, out: &mut Vec<u8>);
}

impl NpyWritable for f32 {
    const DESCR: &'static str = "<f4";
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyWritable for f64 {
    const DESCR: &'static str = "<f8";
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Encodes a 2-D array as NPY bytes (C order, little-endian, version 1.0 — or 2.0 if the
/// header would not fit a `u16`, which cannot happen for 2-D shapes but is handled).
pub fn to_bytes<T: NpyWritable>(array: ArrayView2<'_, T>) -> Vec<u8> {
    let (rows, cols) = array.dim();
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}",
        T::DESCR
    );
    // numpy pads the header with spaces and a final newline so the data starts on a
    // 64-byte boundary (the total of magic, version, length field and header).
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(unpadded + pad + rows * cols * size_of::<T>());
    out.extend_from_slice(MAGIC);
    if header_len <= u16::MAX as usize {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    // Logical (row-major) iteration order, whatever the array's memory layout.
    for &v in array.iter() {
        v.push_le(&mut out);
    }
    out
}

/// Writes a 2-D `f32` or `f64` array to `path` as a `.npy` file that `numpy.load` reads,
/// atomically (see [`write_atomic`]).
pub fn write<T: NpyWritable>(path: &Path, array: ArrayView2<'_, T>) -> Result<(), DataError> {
    write_atomic(path, &to_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SourceName {
        SourceName::plain("t.npy")
    }

    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8], major: u8) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn write_then_read_round_trip() {
        let a = Array2::from_shape_fn((3, 5), |(i, j)| i as f32 * 10.0 + j as f32 - 0.5);
        let bytes = to_bytes(a.view());
        // Header + data start on a 64-byte boundary, like numpy's own files.
        assert_eq!((bytes.len() - 15 * 4) % 64, 0);
        let back = parse::<f32>(&name(), &bytes).unwrap();
        assert_eq!(back.shape, vec![3, 5]);
        assert_eq!(back.data, a.iter().copied().collect::<Vec<_>>());
        let b = Array2::from_shape_fn((2, 2), |(i, j)| (i as f64).powi(3) + j as f64 / 3.0);
        let back = parse::<f64>(&name(), &to_bytes(b.t())).unwrap();
        assert_eq!(back.data, b.t().iter().copied().collect::<Vec<_>>());
    }

    #[test]
    fn dtypes_endianness_order_versions() {
        let be: Vec<u8> = [1i16, -2, 3, -4, 5, -6]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        for major in [1, 2, 3] {
            let a = parse::<f64>(&name(), &npy(">i2", false, "(2, 3)", &be, major)).unwrap();
            assert_eq!(a.data, vec![1., -2., 3., -4., 5., -6.]);
        }
        // Fortran order: memory holds columns; the result must be row-major.
        let f: Vec<u8> = [1u32, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse::<f32>(&name(), &npy("<u4", true, "(2, 3)", &f, 1)).unwrap();
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
        let b = parse::<f32>(&name(), &npy("|b1", false, "(3,)", &[0, 1, 7], 1)).unwrap();
        assert_eq!(b.data, vec![0., 1., 1.]);
        let u = parse::<f64>(&name(), &npy("|u1", false, "(2,)", &[255, 0], 1)).unwrap();
        assert_eq!(u.data, vec![255., 0.]);
        let i1 = parse::<f64>(&name(), &npy("|i1", false, "(2,)", &[255, 1], 1)).unwrap();
        assert_eq!(i1.data, vec![-1., 1.]);
        let f8 = parse::<f64>(
            &name(),
            &npy(">f8", false, "(1,)", &2.5f64.to_be_bytes(), 1),
        )
        .unwrap();
        assert_eq!(f8.data, vec![2.5]);
    }

    #[test]
    fn header_errors_have_codes() {
        let data = [0u8; 8];
        let e = parse::<f32>(&name(), &npy("<f2", false, "(4,)", &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::dtype");
        let e = parse::<f32>(&name(), &npy("<c8", false, "(1,)", &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::dtype");
        let e = parse::<f32>(&name(), &npy("<f4", false, "(1,)", &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::trailing_data");
        let e = parse::<f32>(&name(), &npy("<f4", false, "(2, 'x')", &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_header");
        let e = parse::<f32>(&name(), &npy("<f4", false, "(2,", &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_header");
        let e = parse::<f32>(&name(), &npy("<f4", false, "(2,)", &data, 9)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_header");
        let e = parse::<f32>(&name(), b"PK\x03\x04zipfile").unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_magic");
        let deep = format!("{}{}", "(".repeat(200), ")".repeat(200));
        let e = parse::<f32>(&name(), &npy("<f4", false, &deep, &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_header");
        let huge = "(18446744073709551615, 18446744073709551615)";
        let e = parse::<f32>(&name(), &npy("<f4", false, huge, &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::bad_header");
        let big = "(100000, 100000)";
        let e = parse::<f32>(&name(), &npy("<f4", false, big, &data, 1)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated");
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let a = Array2::from_shape_fn((2, 3), |(i, j)| (i + j) as f64);
        let bytes = to_bytes(a.view());
        for len in 0..bytes.len() {
            let e = parse::<f32>(&name(), &bytes[..len]).unwrap_err();
            assert_eq!(e.code_str(), "amm::data::truncated", "len {len}: {e}");
        }
    }
}
