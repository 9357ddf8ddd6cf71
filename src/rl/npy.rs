//! Writes a 2-D f64 array as a NumPy `.npy` file (format version 1.0), so `np.load` reads a
//! Q-table directly.

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
}
