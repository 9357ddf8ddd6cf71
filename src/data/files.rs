//! File loaders: CSV (label column by name), IDX (the MNIST family, plain or gzip) and NPY.
//!
//! Files are untrusted input. Only regular files are opened; headers are parsed strictly and
//! the sizes they declare are checked against the file's length (plain files) and against
//! the memory budget *before* any data is read; data is streamed (gzip inflated as it is
//! read, never past what the header declared) and converted straight to the f32 the runtime
//! trains on. Every value must be finite and fit in f32. Every failure names the file and
//! the line/column, byte offset or element index.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{DataError, Dataset, Labels};
use crate::input::{self, InputError};

/// Data is streamed in pieces of this many bytes (a multiple of every element size).
const CHUNK: usize = 1 << 16;
/// Longest `.npy` header accepted; numpy writes under 200 bytes.
const MAX_NPY_HEADER: usize = 1 << 16;

fn corrupt(path: &Path, message: String) -> DataError {
    DataError::Corrupt {
        file: path.display().to_string(),
        message,
    }
}

/// An opened data file: a stream of its (decompressed) bytes and where we are in it.
struct Input<'p> {
    path: &'p Path,
    reader: Box<dyn BufRead>,
    /// Length on disk: the length of the stream unless `gzip`.
    file_len: u64,
    gzip: bool,
    /// Bytes of the stream consumed so far.
    pos: u64,
}

impl<'p> Input<'p> {
    fn open(path: &'p Path) -> Result<Self, DataError> {
        let file = path.display().to_string();
        let (f, file_len) = input::open_regular(path).map_err(|e| match e {
            InputError::NotRegular { kind } => DataError::NotAFile { file, kind },
            InputError::Io(source) => DataError::Io { file, source },
            InputError::TooLarge { len, limit } => DataError::TooLarge {
                file,
                message: format!("{len} bytes is more than the limit of {limit}"),
            },
        })?;
        let mut raw = BufReader::new(f);
        let magic = raw.fill_buf().map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })?;
        let gzip = magic.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::new(flate2::bufread::GzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        Ok(Input {
            path,
            reader,
            file_len,
            gzip,
            pos: 0,
        })
    }

    fn stream_error(&self, e: std::io::Error) -> DataError {
        if self.gzip {
            corrupt(self.path, format!("gzip stream is damaged: {e}"))
        } else {
            DataError::Io {
                file: self.path.display().to_string(),
                source: e,
            }
        }
    }

    /// Fills `buf` completely, or says where the file ended and what was being read.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), DataError> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "the file ends at byte {} inside {what} ({} bytes expected from offset {})",
                            self.pos + got as u64,
                            buf.len(),
                            self.pos
                        ),
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.stream_error(e)),
            }
        }
        self.pos += got as u64;
        Ok(())
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, DataError> {
        let mut b = vec![0u8; n];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    /// For a plain file, the length its header implies must be the length on disk — checked
    /// before reading the data, so a lying header costs nothing.
    fn expect_len(&self, total: u64, what: impl FnOnce() -> String) -> Result<(), DataError> {
        if !self.gzip && self.file_len != total {
            return Err(corrupt(
                self.path,
                format!(
                    "{} need {total} bytes, the file has {} (truncated or wrong header)",
                    what(),
                    self.file_len
                ),
            ));
        }
        Ok(())
    }

    /// The stream must end here: a gzip stream longer than its header declares is refused
    /// without inflating the rest.
    fn expect_end(&mut self) -> Result<(), DataError> {
        let mut one = [0u8; 1];
        match self.reader.read(&mut one) {
            Ok(0) => Ok(()),
            Ok(_) => Err(corrupt(
                self.path,
                format!(
                    "the data continues after byte {}, where the header says it ends",
                    self.pos
                ),
            )),
            Err(e) => Err(self.stream_error(e)),
        }
    }

    /// Streams `count` elements into `each`, every value checked to be finite and within f32
    /// range first (a failure names the element and its byte offset).
    fn elements(
        &mut self,
        elem: Elem,
        count: usize,
        mut each: impl FnMut(f64),
    ) -> Result<(), DataError> {
        let mut buf = vec![0u8; CHUNK.min(count.saturating_mul(elem.size)).max(elem.size)];
        let mut index = 0usize;
        while index < count {
            let n = (count - index).min(CHUNK / elem.size);
            let start = self.pos;
            let piece = &mut buf[..n * elem.size];
            let what = format!("the data (element {index} of {count})");
            self.fill(piece, &what)?;
            for (k, c) in piece.chunks_exact(elem.size).enumerate() {
                let v = elem.decode(c);
                let at = || {
                    format!(
                        "element {} (byte offset {})",
                        index + k,
                        start + (k * elem.size) as u64
                    )
                };
                check_value(self.path, v, at)?;
                each(v);
            }
            index += n;
        }
        Ok(())
    }
}

/// Rejects NaN, infinities and values beyond f32 (which would become infinities).
fn check_value(path: &Path, v: f64, at: impl FnOnce() -> String) -> Result<(), DataError> {
    if !v.is_finite() {
        return Err(DataError::NotFinite {
            file: path.display().to_string(),
            at: at(),
            value: v.to_string(),
        });
    }
    if v.abs() > f64::from(f32::MAX) {
        return Err(DataError::OutOfRange {
            file: path.display().to_string(),
            at: at(),
            value: format!("{v:e}"),
        });
    }
    Ok(())
}

/// The memory a dataset of `features` values (kept as f32, and once more in the splits)
/// and `labels` values (f64 until classified) needs must fit the budget.
fn ensure_fits(path: &Path, what: &str, features: usize, labels: usize) -> Result<(), DataError> {
    let need = (features as u64)
        .saturating_mul(8)
        .saturating_add((labels as u64).saturating_mul(8));
    let budget = input::memory_budget();
    if need > budget.bytes {
        return Err(DataError::TooLarge {
            file: path.display().to_string(),
            message: format!(
                "{what} would need about {:.1} GiB in memory, more than {}",
                need as f64 / (1u64 << 30) as f64,
                budget.describe()
            ),
        });
    }
    Ok(())
}

/// How one stored element is laid out.
#[derive(Clone, Copy, Debug)]
struct Elem {
    kind: ElemKind,
    size: usize,
    big_endian: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ElemKind {
    Float,
    Int,
    Uint,
    Bool,
}

impl Elem {
    fn decode(&self, c: &[u8]) -> f64 {
        let mut w = [0u8; 8];
        if self.big_endian {
            for (k, b) in c.iter().rev().enumerate() {
                w[k] = *b;
            }
        } else {
            w[..c.len()].copy_from_slice(c);
        }
        match (self.kind, self.size) {
            (ElemKind::Float, 4) => f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]])),
            (ElemKind::Float, _) => f64::from_le_bytes(w),
            (ElemKind::Bool, _) => f64::from(u8::from(w[0] != 0)),
            (ElemKind::Uint, _) => u64::from_le_bytes(w) as f64,
            (ElemKind::Int, 1) => f64::from(w[0] as i8),
            (ElemKind::Int, 2) => f64::from(i16::from_le_bytes([w[0], w[1]])),
            (ElemKind::Int, 4) => f64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]])),
            (ElemKind::Int, _) => i64::from_le_bytes(w) as f64,
        }
    }
}

/// The product of `dims`, `None` on overflow.
fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d))
}

/// The per-sample shape of an array whose first dimension counts samples; a dataset with no
/// samples or empty samples is refused here, so `check` rejects it before anything runs.
fn samples_of(path: &Path, dims: &[usize]) -> Result<Vec<usize>, DataError> {
    let shape = match dims.len() {
        0 => {
            return Err(corrupt(
                path,
                "the array is a scalar; expected [n, …] with one row per sample".into(),
            ));
        }
        1 => vec![1],
        3 => vec![1, dims[1], dims[2]],
        _ => dims[1..].to_vec(),
    };
    if dims[0] == 0 {
        return Err(DataError::EmptySample {
            file: path.display().to_string(),
            message: format!("the array has shape {dims:?}: no samples"),
        });
    }
    if shape.contains(&0) {
        return Err(DataError::EmptySample {
            file: path.display().to_string(),
            message: format!(
                "the array has shape {dims:?}: each sample has shape {shape:?}, which holds no value"
            ),
        });
    }
    Ok(shape)
}

/// Turns raw label values into class labels when they are all small non-negative integers,
/// else into real targets of `width` per sample.
fn labels_from(values: Vec<f64>, width: usize) -> Labels {
    let integral = width == 1
        && values
            .iter()
            .all(|v| v.fract() == 0.0 && *v >= 0.0 && *v < 65_536.0);
    if integral {
        let ids: Vec<u32> = values.iter().map(|v| *v as u32).collect();
        let classes = ids.iter().copied().max().map_or(0, |m| m as usize + 1);
        Labels::Classes { ids, classes }
    } else {
        Labels::Values {
            values: values.iter().map(|v| *v as f32).collect(),
            width,
        }
    }
}

// ---------------------------------------------------------------------------------------
// CSV

/// CSV with a header row; `label` names the target column, every other column is a feature.
/// Read line by line (gzip or plain); a UTF-8 byte-order mark is skipped.
pub fn csv(path: &Path, label: &str) -> Result<Dataset, DataError> {
    let t = csv_table(path, Some(label))?;
    Ok(Dataset {
        features: t.features,
        sample_shape: vec![t.width],
        labels: labels_from(t.targets, 1),
    })
}

/// Samples without labels (the inputs of `ammc predict`): their shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
    /// Row-major values.
    pub features: Vec<f32>,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.len() / self.sample_shape.iter().product::<usize>().max(1)
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }
}

/// Unlabelled samples from a file, by its name: `.npy` (`[n, …]`), `.csv` or `.csv.gz`
/// (a header row; every column is a feature), anything else IDX (`[n, h, w]` or
/// `[n, c, h, w]`, possibly gzipped). The same checks and located errors as training data.
pub fn samples(path: &Path) -> Result<Samples, DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".npy") {
        let (shape, x) = npy_array(path, true)?;
        Ok(Samples {
            sample_shape: samples_of(path, &shape)?,
            features: x.features(path)?,
        })
    } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        let t = csv_table(path, None)?;
        Ok(Samples {
            sample_shape: vec![t.width],
            features: t.features,
        })
    } else {
        let (dims, x) = idx_array(path, true)?;
        Ok(Samples {
            sample_shape: idx_image_shape(path, &dims)?,
            features: x.features(path)?,
        })
    }
}

/// The numbers of a CSV file: features (row-major, `width` per row) and the label column.
struct CsvTable {
    features: Vec<f32>,
    targets: Vec<f64>,
    width: usize,
}

/// Reads a CSV file with a header row; `label` names the column that is not a feature.
fn csv_table(path: &Path, label: Option<&str>) -> Result<CsvTable, DataError> {
    let mut input = Input::open(path)?;
    let file = path.display().to_string();
    let budget = input::memory_budget().bytes;
    // One line is held at a time; a line longer than this cannot be a row of a dataset that
    // fits in memory.
    let max_line = (budget / 4).min(1 << 30);
    let mut line = Vec::new();
    let mut ln = 0usize;
    let mut next_line = |input: &mut Input| -> Result<Option<(usize, String)>, DataError> {
        loop {
            line.clear();
            let n = (&mut input.reader)
                .take(max_line + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| input.stream_error(e))?;
            if n == 0 {
                return Ok(None);
            }
            ln += 1;
            input.pos += n as u64;
            if n as u64 > max_line {
                return Err(DataError::TooLarge {
                    file: input.path.display().to_string(),
                    message: format!("line {ln} is longer than {max_line} bytes"),
                });
            }
            let mut text =
                String::from_utf8(std::mem::take(&mut line)).map_err(|e| DataError::Parse {
                    file: input.path.display().to_string(),
                    line: ln,
                    column: 1,
                    message: format!(
                        "not UTF-8 text (byte {} of the line)",
                        e.utf8_error().valid_up_to() + 1
                    ),
                })?;
            if ln == 1 && text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            if !text.trim().is_empty() {
                return Ok(Some((ln, text)));
            }
        }
    };
    let Some((header_line, header)) = next_line(&mut input)? else {
        return Err(corrupt(
            path,
            "the file is empty; expected a header row".into(),
        ));
    };
    let names: Vec<String> = header.split(',').map(|n| n.trim().to_string()).collect();
    for (i, n) in names.iter().enumerate() {
        if let Some(first) = names[..i].iter().position(|m| m == n) {
            return Err(DataError::Parse {
                file,
                line: header_line,
                column: i + 1,
                message: format!(
                    "column {} repeats the name `{n}` of column {}; column names must be unique",
                    i + 1,
                    first + 1
                ),
            });
        }
    }
    let label_col = match label {
        None => None,
        Some(label) => {
            Some(
                names
                    .iter()
                    .position(|n| n == label)
                    .ok_or_else(|| DataError::Parse {
                        file: file.clone(),
                        line: header_line,
                        column: 1,
                        message: format!(
                            "no column named `{label}`; the columns are {}",
                            names.join(", ")
                        ),
                    })?,
            )
        }
    };
    if let (Some(label), 1) = (label, names.len()) {
        return Err(DataError::EmptySample {
            file,
            message: format!("the only column is the label `{label}`; samples have no features"),
        });
    }
    let mut features: Vec<f32> = Vec::new();
    let mut targets: Vec<f64> = Vec::new();
    let mut rows = 0usize;
    while let Some((ln, line)) = next_line(&mut input)? {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(DataError::Parse {
                file,
                line: ln,
                column: fields.len().min(names.len()) + 1,
                message: format!(
                    "expected {} fields like the header, found {}",
                    names.len(),
                    fields.len()
                ),
            });
        }
        for (col, f) in fields.iter().enumerate() {
            let at = || format!("line {ln}, column {} (`{}`)", col + 1, names[col]);
            let v: f64 = f.parse().map_err(|_| DataError::Parse {
                file: file.clone(),
                line: ln,
                column: col + 1,
                message: format!("`{f}` in column `{}` is not a number", names[col]),
            })?;
            check_value(path, v, at)?;
            if Some(col) == label_col {
                targets.push(v);
            } else {
                features.push(v as f32);
            }
        }
        rows += 1;
        ensure_fits(path, "the rows read so far", features.len(), targets.len())?;
    }
    if rows == 0 {
        return Err(corrupt(path, "no data rows after the header".into()));
    }
    Ok(CsvTable {
        features,
        targets,
        width: names.len() - usize::from(label_col.is_some()),
    })
}

// ---------------------------------------------------------------------------------------
// IDX

/// An IDX header: element type, dimensions and where the data starts.
struct IdxHeader {
    elem: Elem,
    kind: &'static str,
    dims: Vec<usize>,
    count: usize,
}

fn idx_header(input: &mut Input) -> Result<IdxHeader, DataError> {
    let path = input.path;
    let magic = input.bytes(4, "the 4-byte IDX magic")?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(corrupt(
            path,
            format!(
                "bad magic {:02x} {:02x} at offset 0 (IDX files start with two zero bytes)",
                magic[0], magic[1]
            ),
        ));
    }
    let (kind, size, name) = match magic[2] {
        0x08 => (ElemKind::Uint, 1, "u8"),
        0x09 => (ElemKind::Int, 1, "i8"),
        0x0B => (ElemKind::Int, 2, "i16"),
        0x0C => (ElemKind::Int, 4, "i32"),
        0x0D => (ElemKind::Float, 4, "f32"),
        0x0E => (ElemKind::Float, 8, "f64"),
        other => {
            return Err(corrupt(
                path,
                format!("unknown IDX data type 0x{other:02x} at offset 2"),
            ));
        }
    };
    let ndims = magic[3] as usize;
    if ndims == 0 {
        return Err(corrupt(
            path,
            "the header declares 0 dimensions (byte 3)".into(),
        ));
    }
    let raw = input.bytes(4 * ndims, &format!("the {ndims} dimensions of the header"))?;
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = product(&dims)
        .filter(|c| c.checked_mul(size).is_some())
        .ok_or_else(|| corrupt(path, format!("dimensions {dims:?} overflow")))?;
    let total = (count as u64)
        .saturating_mul(size as u64)
        .saturating_add(4 + 4 * ndims as u64);
    input.expect_len(total, || format!("dimensions {dims:?} of {name}"))?;
    Ok(IdxHeader {
        elem: Elem {
            kind,
            size,
            big_endian: true,
        },
        kind: name,
        dims,
        count,
    })
}

fn idx_image_shape(path: &Path, dims: &[usize]) -> Result<Vec<usize>, DataError> {
    if !matches!(dims.len(), 2..=4) {
        return Err(corrupt(
            path,
            format!("images have dimensions {dims:?}; expected [n, h, w] or [n, c, h, w]"),
        ));
    }
    samples_of(path, dims)
}

/// The per-sample shape of IDX images from the header alone (for `ammc check`); the length
/// of a plain file is checked against the header too.
pub fn idx_sample_shape(images: &Path) -> Result<Vec<usize>, DataError> {
    Ok(idx_features_header(images)?.sample_shape)
}

/// What a feature file's header says: sample count and per-sample shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureHeader {
    /// Number of samples (the first dimension).
    pub samples: usize,
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
}

fn idx_features_header(images: &Path) -> Result<FeatureHeader, DataError> {
    let mut input = Input::open(images)?;
    let h = idx_header(&mut input)?;
    let sample_shape = idx_image_shape(images, &h.dims)?;
    ensure_fits(images, &format!("{:?} {}", h.dims, h.kind), h.count, 0)?;
    Ok(FeatureHeader {
        samples: h.dims[0],
        sample_shape,
    })
}

/// The number of samples labels describe.
fn label_count(labels: &Labels) -> usize {
    match labels {
        Labels::Classes { ids, .. } => ids.len(),
        Labels::Values { values, width } => values.len() / (*width).max(1),
    }
}

/// The labels must count as many samples as the feature header declares.
fn same_count(
    features: &Path,
    header: &FeatureHeader,
    labels_path: &Path,
    labels: &Labels,
) -> Result<(), DataError> {
    let n = label_count(labels);
    if n != header.samples {
        return Err(corrupt(
            labels_path,
            format!(
                "{n} labels for {} samples in {}",
                header.samples,
                features.display()
            ),
        ));
    }
    Ok(())
}

/// IDX images described from their header, with their labels read whole and counted
/// (for `ammc check`).
pub fn idx_describe(images: &Path, labels: &Path) -> Result<(FeatureHeader, Labels), DataError> {
    let header = idx_features_header(images)?;
    let l = idx_labels(labels)?;
    same_count(images, &header, labels, &l)?;
    Ok((header, l))
}

/// `.npy` features described from their header, with their labels read whole and counted
/// (for `ammc check`).
pub fn npy_describe(features: &Path, labels: &Path) -> Result<(FeatureHeader, Labels), DataError> {
    let header = npy_features_header(features)?;
    let l = npy_labels(labels)?;
    same_count(features, &header, labels, &l)?;
    Ok((header, l))
}

/// A whole array read by a loader: f32 features or f64 labels (kept exact until they are
/// classified).
enum Values {
    Features(Vec<f32>),
    Labels(Vec<f64>),
}

impl Values {
    fn features(self, path: &Path) -> Result<Vec<f32>, DataError> {
        match self {
            Values::Features(v) => Ok(v),
            Values::Labels(_) => Err(corrupt(path, "labels were read as features".into())),
        }
    }

    fn labels(self, path: &Path) -> Result<Vec<f64>, DataError> {
        match self {
            Values::Labels(v) => Ok(v),
            Values::Features(_) => Err(corrupt(path, "features were read as labels".into())),
        }
    }
}

/// An IDX file as images (`features`) or as labels (`[n]`).
fn idx_array(path: &Path, features: bool) -> Result<(Vec<usize>, Values), DataError> {
    let mut input = Input::open(path)?;
    let h = idx_header(&mut input)?;
    let what = format!("{:?} {}", h.dims, h.kind);
    let values = if features {
        idx_image_shape(path, &h.dims)?;
        ensure_fits(path, &what, h.count, 0)?;
        let mut v = Vec::new();
        input.elements(h.elem, h.count, |x| v.push(x as f32))?;
        Values::Features(v)
    } else {
        if h.dims.len() != 1 {
            return Err(corrupt(
                path,
                format!("labels have dimensions {:?}; expected [n]", h.dims),
            ));
        }
        ensure_fits(path, &what, 0, h.count)?;
        let mut v = Vec::new();
        input.elements(h.elem, h.count, |x| v.push(x))?;
        Values::Labels(v)
    };
    input.expect_end()?;
    Ok((h.dims, values))
}

/// The labels of an IDX label file (`[n]`).
pub fn idx_labels(labels: &Path) -> Result<Labels, DataError> {
    let (_, values) = idx_array(labels, false)?;
    Ok(labels_from(values.labels(labels)?, 1))
}

/// IDX images (`[n, h, w]` or `[n, c, h, w]`) with IDX labels (`[n]`).
pub fn idx(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let (dims, features) = idx_array(images, true)?;
    let sample_shape = idx_image_shape(images, &dims)?;
    let (ldims, values) = idx_array(labels, false)?;
    if ldims[0] != dims[0] {
        return Err(corrupt(
            labels,
            format!(
                "{} labels for {} images in {}",
                ldims[0],
                dims[0],
                images.display()
            ),
        ));
    }
    Ok(Dataset {
        features: features.features(images)?,
        sample_shape,
        labels: labels_from(values.labels(labels)?, 1),
    })
}

// ---------------------------------------------------------------------------------------
// NPY

/// A parsed `.npy` header.
struct NpyHeader {
    descr: String,
    elem: Elem,
    fortran: bool,
    shape: Vec<usize>,
    count: usize,
}

/// The dtype of a `descr` string: byte order, kind and size (`<f4`, `|u1`, `>i8`).
fn parse_descr(descr: &str) -> Option<Elem> {
    let b = descr.as_bytes();
    if b.len() < 3 || !descr.is_ascii() || !b[2..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size: usize = descr[2..].parse().ok()?;
    let kind = match b[1] {
        b'f' => ElemKind::Float,
        b'i' => ElemKind::Int,
        b'u' => ElemKind::Uint,
        b'b' => ElemKind::Bool,
        _ => return None,
    };
    let big_endian = match b[0] {
        b'<' | b'=' => false,
        b'>' => true,
        b'|' if size == 1 => false,
        _ => return None,
    };
    let ok = matches!(
        (kind, size),
        (ElemKind::Float, 4 | 8)
            | (ElemKind::Int | ElemKind::Uint, 1 | 2 | 4 | 8)
            | (ElemKind::Bool, 1)
    );
    ok.then_some(Elem {
        kind,
        size,
        big_endian,
    })
}

/// A cursor over the text of a `.npy` header: the repr of a Python dict with the keys
/// `descr`, `fortran_order` and `shape`.
struct DictParser<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> DictParser<'t> {
    fn ws(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.text[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expected(&self, what: &str) -> String {
        let rest: String = self.text[self.at..].chars().take(12).collect();
        format!(
            "expected {what} at character {} of the header, found {rest:?}",
            self.at
        )
    }

    fn string(&mut self) -> Result<&'t str, String> {
        self.ws();
        let quote = match self.text[self.at..].chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.expected("a quoted string")),
        };
        let start = self.at + 1;
        let len = self.text[start..]
            .find(quote)
            .ok_or_else(|| self.expected("a closing quote"))?;
        self.at = start + len + 1;
        Ok(&self.text[start..start + len])
    }

    fn word(&mut self) -> &'t str {
        self.ws();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        if !self.eat('(') {
            return Err(self.expected("`(` starting the shape"));
        }
        let mut dims = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(dims);
            }
            let w = self.word();
            let digits = w.strip_suffix('L').unwrap_or(w);
            let d = digits
                .parse::<usize>()
                .map_err(|_| format!("shape dimension `{w}` is not a non-negative integer"))?;
            dims.push(d);
            if !self.eat(',') {
                if self.eat(')') {
                    return Ok(dims);
                }
                return Err(self.expected("`,` or `)` in the shape"));
            }
        }
    }
}

/// Parses the header dict. Strict: exactly the three keys numpy writes, each once.
fn parse_npy_dict(text: &str) -> Result<(String, bool, Vec<usize>), String> {
    let mut p = DictParser { text, at: 0 };
    if !p.eat('{') {
        return Err(p.expected("`{` starting the header dict"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        if !p.eat(':') {
            return Err(p.expected("`:` after the key"));
        }
        let dup = match key {
            "descr" => descr.replace(p.string()?.to_string()).is_some(),
            "fortran_order" => {
                let v = match p.word() {
                    "True" => true,
                    "False" => false,
                    w => return Err(format!("fortran_order is `{w}`, expected True or False")),
                };
                fortran.replace(v).is_some()
            }
            "shape" => shape.replace(p.tuple()?).is_some(),
            other => return Err(format!("unexpected key {other:?} in the header")),
        };
        if dup {
            return Err(format!("key '{key}' appears twice in the header"));
        }
        if !p.eat(',') {
            if p.eat('}') {
                break;
            }
            return Err(p.expected("`,` or `}`"));
        }
    }
    if !p.text[p.at..].trim().is_empty() {
        return Err(p.expected("the end of the header"));
    }
    Ok((
        descr.ok_or("header has no 'descr'")?,
        fortran.ok_or("header has no 'fortran_order'")?,
        shape.ok_or("header has no 'shape'")?,
    ))
}

fn npy_header(input: &mut Input) -> Result<NpyHeader, DataError> {
    let path = input.path;
    let not_npy = || {
        corrupt(
            path,
            "not an .npy file (missing \\x93NUMPY magic at offset 0)".into(),
        )
    };
    let mut pre = [0u8; 8];
    input
        .fill(&mut pre, "the .npy magic")
        .map_err(|_| not_npy())?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(not_npy());
    }
    let hlen = match pre[6] {
        1 => {
            let b = input.bytes(2, "the header length")?;
            u16::from_le_bytes([b[0], b[1]]) as usize
        }
        2 | 3 => {
            let b = input.bytes(4, "the header length")?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        v => {
            return Err(corrupt(
                path,
                format!("unsupported .npy version {v} at offset 6"),
            ));
        }
    };
    let start = input.pos;
    if hlen > MAX_NPY_HEADER {
        return Err(corrupt(
            path,
            format!("header length {hlen} at offset 8 is more than {MAX_NPY_HEADER} bytes"),
        ));
    }
    if !input.gzip && start + hlen as u64 > input.file_len {
        return Err(corrupt(
            path,
            format!(
                "header of {hlen} bytes runs past the end of the file ({} bytes)",
                input.file_len
            ),
        ));
    }
    let raw = input.bytes(hlen, "the header")?;
    let text = std::str::from_utf8(&raw).map_err(|e| {
        corrupt(
            path,
            format!(
                "header is not text (byte {} at offset {})",
                raw[e.valid_up_to()],
                start + e.valid_up_to() as u64
            ),
        )
    })?;
    let (descr, fortran, shape) =
        parse_npy_dict(text).map_err(|m| corrupt(path, format!("bad header: {m}")))?;
    let elem = parse_descr(&descr).ok_or_else(|| {
        corrupt(
            path,
            format!(
                "unsupported dtype {descr:?}; use float (<f4, <f8), int, uint or bool, e.g. \
                 `x.astype(numpy.float32)`"
            ),
        )
    })?;
    let count = product(&shape)
        .filter(|c| c.checked_mul(elem.size).is_some())
        .ok_or_else(|| corrupt(path, format!("shape {shape:?} overflows")))?;
    let data = start + hlen as u64;
    input.expect_len(data.saturating_add(count as u64 * elem.size as u64), || {
        format!("shape {shape:?} of {descr} after offset {data}")
    })?;
    Ok(NpyHeader {
        descr,
        elem,
        fortran,
        shape,
        count,
    })
}

/// The per-sample shape of `.npy` features from the header alone (for `ammc check`); the
/// length of a plain file is checked against the header too.
pub fn npy_sample_shape(features: &Path) -> Result<Vec<usize>, DataError> {
    Ok(npy_features_header(features)?.sample_shape)
}

fn npy_features_header(features: &Path) -> Result<FeatureHeader, DataError> {
    let mut input = Input::open(features)?;
    let h = npy_header(&mut input)?;
    let sample_shape = samples_of(features, &h.shape)?;
    ensure_fits(
        features,
        &format!("shape {:?} of {}", h.shape, h.descr),
        h.count,
        0,
    )?;
    Ok(FeatureHeader {
        samples: h.shape[0],
        sample_shape,
    })
}

/// Column-major to row-major.
fn from_fortran<T: Copy + Default>(values: Vec<T>, shape: &[usize]) -> Vec<T> {
    let mut out = vec![T::default(); values.len()];
    let mut idx = vec![0usize; shape.len()];
    for v in values {
        let row_major = idx.iter().zip(shape).fold(0, |a, (i, d)| a * d + i);
        out[row_major] = v;
        for (k, d) in shape.iter().enumerate() {
            idx[k] += 1;
            if idx[k] < *d {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

fn npy_array(path: &Path, features: bool) -> Result<(Vec<usize>, Values), DataError> {
    let mut input = Input::open(path)?;
    let h = npy_header(&mut input)?;
    let what = format!("shape {:?} of {}", h.shape, h.descr);
    let values = if features {
        samples_of(path, &h.shape)?;
        ensure_fits(path, &what, h.count, 0)?;
        let mut v = Vec::new();
        input.elements(h.elem, h.count, |x| v.push(x as f32))?;
        Values::Features(if h.fortran {
            from_fortran(v, &h.shape)
        } else {
            v
        })
    } else {
        ensure_fits(path, &what, 0, h.count)?;
        let mut v = Vec::new();
        input.elements(h.elem, h.count, |x| v.push(x))?;
        Values::Labels(if h.fortran {
            from_fortran(v, &h.shape)
        } else {
            v
        })
    };
    input.expect_end()?;
    Ok((h.shape, values))
}

/// Label values with their width per sample; `[n]` or `[n, k]` with k ≥ 1.
fn npy_label_values(labels: &Path) -> Result<(Vec<usize>, Vec<f64>, usize), DataError> {
    let (shape, values) = npy_array(labels, false)?;
    let values = values.labels(labels)?;
    let width = match shape[..] {
        [_] => 1,
        [_, k] if k >= 1 => k,
        _ => {
            return Err(corrupt(
                labels,
                format!("labels have shape {shape:?}; expected [n] or [n, k] with k ≥ 1"),
            ));
        }
    };
    Ok((shape, values, width))
}

/// The labels of a `.npy` label file (`[n]` or `[n, k]`).
pub fn npy_labels(labels: &Path) -> Result<Labels, DataError> {
    let (_, values, width) = npy_label_values(labels)?;
    Ok(labels_from(values, width))
}

/// Features `[n, …]` and labels `[n]` (classes or values) or `[n, k]` (values) from `.npy`.
pub fn npy(features: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let (xshape, x) = npy_array(features, true)?;
    let x = x.features(features)?;
    let sample_shape = samples_of(features, &xshape)?;
    let (yshape, y, width) = npy_label_values(labels)?;
    if xshape[0] != yshape[0] {
        return Err(corrupt(
            labels,
            format!(
                "labels of shape {yshape:?} do not match features of shape {xshape:?} (same first dimension needed)"
            ),
        ));
    }
    Ok(Dataset {
        features: x,
        sample_shape,
        labels: labels_from(y, width),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers() {
        let ok = parse_npy_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  \n");
        assert_eq!(ok, Ok(("<f4".into(), false, vec![3, 4])));
        assert_eq!(
            parse_npy_dict("{'descr': '|u1', 'fortran_order': True, 'shape': (7,)}").map(|t| t.2),
            Ok(vec![7])
        );
        assert_eq!(
            parse_npy_dict("{'descr': '<f8', 'fortran_order': False, 'shape': ()}").map(|t| t.2),
            Ok(vec![])
        );
        for bad in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': )3, 4(, }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f4', 'shape': (3,)}",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk",
            "{'descr: '<f4'",
            "",
        ] {
            assert!(parse_npy_dict(bad).is_err(), "{bad}");
        }
        for bad in [
            "", "<", "<f", "<f3", "<c8", "é<f4", "|f4", "<fé", "<f+4", "xf4",
        ] {
            assert!(parse_descr(bad).is_none(), "{bad}");
        }
        assert!(parse_descr("<f4").is_some() && parse_descr(">i8").is_some());
        assert!(parse_descr("|b1").is_some() && parse_descr("=u2").is_some());
    }
}
