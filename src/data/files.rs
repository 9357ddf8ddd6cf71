//! File loaders: CSV (label column by name), IDX (the MNIST family, plain or gzip) and NPY.
//! Every failure names the file and the line/column or byte offset; sizes in headers are
//! checked against the file length before anything is allocated.

use std::io::Read;
use std::path::Path;

use super::{DataError, Dataset, Labels};

fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        file: path.display().to_string(),
        source,
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                file: path.display().to_string(),
                message: format!("gzip stream is damaged: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// The first `n` bytes of a file (decompressed when gzip), or fewer if it is shorter.
fn read_prefix(path: &Path, n: usize) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        file: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let got = f.read(&mut magic).map_err(io)?;
    let f = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::with_capacity(n);
    if got == 2 && magic == [0x1f, 0x8b] {
        flate2::read::GzDecoder::new(f)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("gzip stream is damaged: {e}")))?;
    } else {
        f.take(n as u64).read_to_end(&mut out).map_err(io)?;
    }
    Ok(out)
}

/// The per-sample shape of IDX images from the header alone (for `ammc check`).
pub fn idx_sample_shape(images: &Path) -> Result<Vec<usize>, DataError> {
    let head = read_prefix(images, 4)?;
    if head.len() < 4 || head[0] != 0 || head[1] != 0 {
        return Err(corrupt(
            images,
            "not an IDX file (bad magic at offset 0)".into(),
        ));
    }
    let ndims = head[3] as usize;
    let head = read_prefix(images, 4 + 4 * ndims)?;
    if head.len() < 4 + 4 * ndims {
        return Err(corrupt(
            images,
            format!(
                "header declares {ndims} dimensions but the file ends at byte {}",
                head.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            u32::from_be_bytes([
                head[4 + 4 * i],
                head[5 + 4 * i],
                head[6 + 4 * i],
                head[7 + 4 * i],
            ]) as usize
        })
        .collect();
    match dims.len() {
        3 => Ok(vec![1, dims[1], dims[2]]),
        4 => Ok(dims[1..].to_vec()),
        2 => Ok(vec![dims[1]]),
        _ => Err(corrupt(
            images,
            format!("images have dimensions {dims:?}; expected [n, h, w] or [n, c, h, w]"),
        )),
    }
}

/// The per-sample shape of `.npy` features from the header alone (for `ammc check`).
pub fn npy_sample_shape(features: &Path) -> Result<Vec<usize>, DataError> {
    let head = read_prefix(features, 12)?;
    if head.len() < 10 || &head[..6] != b"\x93NUMPY" {
        return Err(corrupt(
            features,
            "not an .npy file (missing \\x93NUMPY magic at offset 0)".into(),
        ));
    }
    let (hlen, start) = match head[6] {
        1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
        2 | 3 if head.len() >= 12 => (
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
            12,
        ),
        v => {
            return Err(corrupt(
                features,
                format!("unsupported .npy version {v} at offset 6"),
            ));
        }
    };
    let head = read_prefix(features, start + hlen.min(1 << 20))?;
    let text = String::from_utf8_lossy(&head[start.min(head.len())..]);
    let shape = text
        .find("'shape'")
        .and_then(|i| {
            text[i..]
                .find('(')
                .zip(text[i..].find(')'))
                .map(|(a, b)| &text[i + a + 1..i + b])
        })
        .ok_or_else(|| corrupt(features, "header has no 'shape'".into()))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(features, format!("bad shape ({shape})")))?;
    Ok(match dims.len() {
        0 | 1 => vec![1],
        3 => vec![1, dims[1], dims[2]],
        _ => dims[1..].to_vec(),
    })
}

fn corrupt(path: &Path, message: String) -> DataError {
    DataError::Corrupt {
        file: path.display().to_string(),
        message,
    }
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

/// CSV with a header row; `label` names the target column, every other column is a feature.
pub fn csv(path: &Path, label: &str) -> Result<Dataset, DataError> {
    let bytes = read(path)?;
    let file = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        corrupt(
            path,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(corrupt(
            path,
            "the file is empty; expected a header row".into(),
        ));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let Some(label_col) = names.iter().position(|n| *n == label) else {
        return Err(DataError::Parse {
            file,
            line: 1,
            column: 1,
            message: format!(
                "no column named `{label}`; the columns are {}",
                names.join(", ")
            ),
        });
    };
    let mut features = Vec::new();
    let mut targets = Vec::new();
    for (ln, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(DataError::Parse {
                file,
                line: ln + 1,
                column: fields.len().min(names.len()) + 1,
                message: format!(
                    "expected {} fields like the header, found {}",
                    names.len(),
                    fields.len()
                ),
            });
        }
        for (col, f) in fields.iter().enumerate() {
            let v: f64 = f
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| DataError::Parse {
                    file: file.clone(),
                    line: ln + 1,
                    column: col + 1,
                    message: format!("`{f}` in column `{}` is not a finite number", names[col]),
                })?;
            if col == label_col {
                targets.push(v);
            } else {
                features.push(v as f32);
            }
        }
    }
    if targets.is_empty() {
        return Err(corrupt(path, "no data rows after the header".into()));
    }
    Ok(Dataset {
        features,
        sample_shape: vec![names.len() - 1],
        labels: labels_from(targets, 1),
    })
}

/// An IDX array: dims and values as f64.
struct Idx {
    dims: Vec<usize>,
    values: Vec<f64>,
}

fn idx_array(path: &Path) -> Result<Idx, DataError> {
    let b = read(path)?;
    if b.len() < 4 {
        return Err(corrupt(
            path,
            format!(
                "{} bytes is too short for an IDX header (4 bytes of magic)",
                b.len()
            ),
        ));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(corrupt(
            path,
            format!(
                "bad magic {:02x} {:02x} at offset 0 (IDX files start with two zero bytes)",
                b[0], b[1]
            ),
        ));
    }
    let (size, kind) = match b[2] {
        0x08 => (1, "u8"),
        0x09 => (1, "i8"),
        0x0B => (2, "i16"),
        0x0C => (4, "i32"),
        0x0D => (4, "f32"),
        0x0E => (8, "f64"),
        other => {
            return Err(corrupt(
                path,
                format!("unknown IDX data type 0x{other:02x} at offset 2"),
            ));
        }
    };
    let ndims = b[3] as usize;
    let header = 4 + 4 * ndims;
    if ndims == 0 || b.len() < header {
        return Err(corrupt(
            path,
            format!(
                "header declares {ndims} dimensions but the file has {} bytes",
                b.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| corrupt(path, format!("dimensions {dims:?} overflow")))?;
    let expected = count
        .checked_mul(size)
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| corrupt(path, format!("dimensions {dims:?} overflow")))?;
    if b.len() != expected {
        return Err(corrupt(
            path,
            format!(
                "dimensions {dims:?} of {kind} need {expected} bytes, the file has {} (truncated or wrong header)",
                b.len()
            ),
        ));
    }
    let data = &b[header..];
    let values = match b[2] {
        0x08 => data.iter().map(|v| f64::from(*v)).collect(),
        0x09 => data.iter().map(|v| f64::from(*v as i8)).collect(),
        0x0B => data
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_be_bytes([c[0], c[1]])))
            .collect(),
        0x0C => data
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        0x0D => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    };
    Ok(Idx { dims, values })
}

/// The labels of an IDX label file (`[n]`).
pub fn idx_labels(labels: &Path) -> Result<Labels, DataError> {
    let lb = idx_array(labels)?;
    if lb.dims.len() != 1 {
        return Err(corrupt(
            labels,
            format!("labels have dimensions {:?}; expected [n]", lb.dims),
        ));
    }
    Ok(labels_from(lb.values, 1))
}

/// The labels of a `.npy` label file (`[n]` or `[n, k]`).
pub fn npy_labels(labels: &Path) -> Result<Labels, DataError> {
    let y = npy_array(labels)?;
    let width = y.shape.get(1).copied().unwrap_or(1);
    Ok(labels_from(y.values, width))
}

/// IDX images (`[n, h, w]` or `[n, c, h, w]`) with IDX labels (`[n]`).
pub fn idx(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let im = idx_array(images)?;
    let lb = idx_array(labels)?;
    let sample_shape = match im.dims.len() {
        3 => vec![1, im.dims[1], im.dims[2]],
        4 => im.dims[1..].to_vec(),
        2 => vec![im.dims[1]],
        _ => {
            return Err(corrupt(
                images,
                format!(
                    "images have dimensions {:?}; expected [n, h, w] or [n, c, h, w]",
                    im.dims
                ),
            ));
        }
    };
    if lb.dims.len() != 1 {
        return Err(corrupt(
            labels,
            format!("labels have dimensions {:?}; expected [n]", lb.dims),
        ));
    }
    if lb.dims[0] != im.dims[0] {
        return Err(corrupt(
            labels,
            format!(
                "{} labels for {} images in {}",
                lb.dims[0],
                im.dims[0],
                images.display()
            ),
        ));
    }
    Ok(Dataset {
        features: im.values.iter().map(|v| *v as f32).collect(),
        sample_shape,
        labels: labels_from(lb.values, 1),
    })
}

/// A parsed `.npy` array.
struct Npy {
    shape: Vec<usize>,
    values: Vec<f64>,
}

fn npy_array(path: &Path) -> Result<Npy, DataError> {
    let b = read(path)?;
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(corrupt(
            path,
            "not an .npy file (missing \\x93NUMPY magic at offset 0)".into(),
        ));
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => {
            return Err(corrupt(
                path,
                format!("unsupported .npy version {v} at offset 6"),
            ));
        }
    };
    let header = b.get(start..start + hlen).ok_or_else(|| {
        corrupt(
            path,
            format!(
                "header of {hlen} bytes runs past the end of the file ({} bytes)",
                b.len()
            ),
        )
    })?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))?;
        let rest = header[at + key.len() + 2..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')')? + 1
        } else {
            rest.find([',', '}'])?
        };
        Some(rest[..end].trim().trim_matches('\'').to_string())
    };
    let descr = field("descr").ok_or_else(|| corrupt(path, "header has no 'descr'".into()))?;
    let fortran = field("fortran_order").is_some_and(|v| v == "True");
    let shape_text = field("shape").ok_or_else(|| corrupt(path, "header has no 'shape'".into()))?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(path, format!("bad shape {shape_text}")))?;
    let (endian, code) = descr.split_at(1);
    let big = endian == ">";
    let size: usize = code[1..]
        .parse()
        .map_err(|_| corrupt(path, format!("unsupported dtype {descr}")))?;
    let kind = &code[..1];
    if !matches!(
        (kind, size),
        ("f", 4 | 8) | ("i", 1 | 2 | 4 | 8) | ("u", 1 | 2 | 4 | 8) | ("b", 1)
    ) {
        return Err(corrupt(
            path,
            format!("unsupported dtype {descr}; use float, int, uint or bool"),
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| corrupt(path, "shape overflows".into()))?;
    let data = &b[start + hlen..];
    if data.len() != count * size {
        return Err(corrupt(
            path,
            format!(
                "shape {shape:?} of {descr} needs {} data bytes after offset {}, the file has {}",
                count * size,
                start + hlen,
                data.len()
            ),
        ));
    }
    let word = |c: &[u8]| -> [u8; 8] {
        let mut w = [0u8; 8];
        if big {
            w[8 - c.len()..].copy_from_slice(c);
            w.reverse();
        } else {
            w[..c.len()].copy_from_slice(c);
        }
        w
    };
    let mut values: Vec<f64> = data
        .chunks_exact(size)
        .map(|c| {
            let w = word(c);
            match (kind, size) {
                ("f", 4) => f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]])),
                ("f", _) => f64::from_le_bytes(w),
                ("u", _) | ("b", _) => u64::from_le_bytes(w) as f64,
                (_, 1) => f64::from(w[0] as i8),
                (_, 2) => f64::from(i16::from_le_bytes([w[0], w[1]])),
                (_, 4) => f64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]])),
                _ => i64::from_le_bytes(w) as f64,
            }
        })
        .collect();
    if fortran && shape.len() > 1 {
        // Column-major on disk: reorder to row-major.
        let mut out = vec![0f64; values.len()];
        let mut idx = vec![0usize; shape.len()];
        for v in &values {
            let row_major = idx.iter().zip(&shape).fold(0, |a, (i, d)| a * d + i);
            out[row_major] = *v;
            for (k, d) in shape.iter().enumerate() {
                idx[k] += 1;
                if idx[k] < *d {
                    break;
                }
                idx[k] = 0;
            }
        }
        values = out;
    }
    Ok(Npy { shape, values })
}

/// Features `[n, …]` and labels `[n]` (classes or values) or `[n, k]` (values) from `.npy`.
pub fn npy(features: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let x = npy_array(features)?;
    let y = npy_array(labels)?;
    if x.shape.is_empty() || y.shape.is_empty() || x.shape[0] != y.shape[0] {
        return Err(corrupt(
            labels,
            format!(
                "labels of shape {:?} do not match features of shape {:?} (same first dimension needed)",
                y.shape, x.shape
            ),
        ));
    }
    if x.values.iter().any(|v| !v.is_finite()) {
        return Err(corrupt(
            features,
            "features contain NaN or infinite values".into(),
        ));
    }
    let sample_shape = match x.shape.len() {
        1 => vec![1],
        3 => vec![1, x.shape[1], x.shape[2]],
        _ => x.shape[1..].to_vec(),
    };
    let width = y.shape.get(1).copied().unwrap_or(1);
    Ok(Dataset {
        features: x.values.iter().map(|v| *v as f32).collect(),
        sample_shape,
        labels: labels_from(y.values, width),
    })
}
