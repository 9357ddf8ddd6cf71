//! Writes a 2-D f64 array as a NumPy `.npy` file (format version 1.0), so `np.load` reads a
//! Q-table directly, and reads such a table back (`init_from`, `ammc eval`).

/// `.npy` v1.0 bytes of a C-order little-endian f64 array of shape `[rows, cols]`.
/// `data.len()` must be `rows * cols` (the caller's table always is).
pub fn f64_2d(data: &[f64], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = header("<f8", rows, cols, data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `.npy` v1.0 bytes of a C-order little-endian f32 array of shape `[rows, cols]`.
pub fn f32_2d(data: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = header("<f4", rows, cols, data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `.npy` v1.0 bytes of a C-order little-endian f32 array of any shape (`data.len()` is the
/// product of `shape`).
pub fn f32_nd(data: &[f32], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header_text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    let mut out = finish_header(&mut header_text, data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `.npy` v1.0 bytes of a C-order little-endian i64 vector.
pub fn i64_1d(data: &[i64]) -> Vec<u8> {
    let mut header_text = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        data.len()
    );
    let mut out = finish_header(&mut header_text, data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Reads a 2-D float64 (or float32) C-order little-endian `.npy` array (version 1 or 2,
/// as NumPy writes it): `(values, [rows, cols])`. A 1-D array is read as one row.
pub fn read_f64_2d(bytes: &[u8]) -> Result<(Vec<f64>, [usize; 2]), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no NumPy magic)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or("the .npy header has no dtype")?;
    let width = match descr {
        "<f8" => 8,
        "<f4" => 4,
        other => {
            return Err(format!(
                "dtype `{other}`, expected float64 (`<f8`) or float32"
            ));
        }
    };
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or("the .npy header has no shape")?;
    let dims: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("bad dimension `{d}`"))
        })
        .collect::<Result<_, _>>()?;
    let shape = match dims.as_slice() {
        [c] => [1, *c],
        [r, c] => [*r, *c],
        _ => {
            return Err(format!(
                "a {}-D array, expected 2-D [states, actions]",
                dims.len()
            ));
        }
    };
    let n = shape[0]
        .checked_mul(shape[1])
        .ok_or("the shape overflows")?;
    let data = &bytes[start + hlen..];
    if data.len() != n * width {
        return Err(format!(
            "{} data bytes for shape [{}, {}] (expected {})",
            data.len(),
            shape[0],
            shape[1],
            n * width
        ));
    }
    let values = if width == 8 {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    } else {
        data.chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    };
    Ok((values, shape))
}

fn header(descr: &str, rows: usize, cols: usize, data_bytes: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    finish_header(&mut header, data_bytes)
}

fn finish_header(header: &mut String, data_bytes: usize) -> Vec<u8> {
    // Magic (6) + version (2) + header length (2) + header, padded with spaces and ended
    // with a newline so the data starts at a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data_bytes);
    out.extend_from_slice(b"\x93NUMPY");
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_data_follows() {
        let bytes = f64_2d(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)"), "{header}");
        assert!(header.ends_with('\n'));
        let last = &bytes[bytes.len() - 8..];
        assert_eq!(f64::from_le_bytes(last.try_into().unwrap()), 6.0);
        assert_eq!(bytes.len(), 10 + hlen + 48);
    }

    #[test]
    fn reads_back_what_it_writes_and_rejects_other_arrays() {
        let q = [1.5, -2.0, 3.25, 0.0, 5.0, 6.0];
        assert_eq!(
            read_f64_2d(&f64_2d(&q, 3, 2)).unwrap(),
            (q.to_vec(), [3, 2])
        );
        let (v, shape) = read_f64_2d(&f32_2d(&[1.0, 2.0], 1, 2)).unwrap();
        assert_eq!((v, shape), (vec![1.0, 2.0], [1, 2]));
        assert!(read_f64_2d(&i64_1d(&[1, 2])).unwrap_err().contains("<i8"));
        assert!(
            read_f64_2d(&f32_nd(&[0.0; 8], &[2, 2, 2]))
                .unwrap_err()
                .contains("3-D")
        );
        assert!(read_f64_2d(b"not numpy").is_err());
        let mut cut = f64_2d(&q, 3, 2);
        cut.pop();
        assert!(read_f64_2d(&cut).unwrap_err().contains("data bytes"));
    }
}
