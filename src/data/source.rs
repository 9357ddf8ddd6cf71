//! Reading a data file into memory, transparently gunzipping it, plus a bounds-checked byte
//! cursor for the binary parsers.
//!
//! Compression is detected by the gzip magic bytes `1f 8b`, not by the file extension, so a
//! misnamed file still loads. The decompressed stream is read incrementally (the buffer grows
//! with the data actually present), so a corrupt size field can never make us allocate an absurd
//! buffer up front.

use std::io::Read;
use std::path::Path;

use super::error::{DataError, SourceName};

/// The bytes of a file (decompressed if it was gzip) and how to name it in errors.
#[derive(Debug, Clone)]
pub struct SourceBytes {
    /// How the file is named in error messages.
    pub name: SourceName,
    /// The (decompressed) contents.
    pub bytes: Vec<u8>,
}

/// True when `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Reads `path` fully, gunzipping it when it starts with the gzip magic.
pub fn read_source(path: &Path) -> Result<SourceBytes, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::from_io(path, e))?;
    decode_bytes(path, raw)
}

/// Gunzips `raw` when it starts with the gzip magic; `path` only names it in errors.
pub fn decode_bytes(path: &Path, raw: Vec<u8>) -> Result<SourceBytes, DataError> {
    if !is_gzip(&raw) {
        return Ok(SourceBytes {
            name: SourceName::plain(path),
            bytes: raw,
        });
    }
    // Multi-member gzip files (concatenated streams) are valid gzip; read them all.
    let mut decoder = flate2::read::MultiGzDecoder::new(raw.as_slice());
    // A reasonable initial guess (typical ratios for image data) bounded by a small multiple
    // of the compressed size; the Vec grows as needed.
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    decoder
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(SourceBytes {
        name: SourceName {
            path: path.to_path_buf(),
            gunzipped: true,
        },
        bytes: out,
    })
}

/// A forward-only reader over a byte slice whose every read is bounds-checked and reports a
/// [`DataError::Truncated`] naming what was being read.
#[derive(Debug)]
pub struct Cursor<'a> {
    name: &'a SourceName,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(name: &'a SourceName, bytes: &'a [u8]) -> Self {
        Cursor {
            name,
            bytes,
            pos: 0,
        }
    }

    /// Current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The file name used in errors.
    pub fn name(&self) -> &'a SourceName {
        self.name
    }

    /// Consumes `n` bytes, or fails with a truncation error describing `what`.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DataError> {
        if n > self.remaining() {
            return Err(DataError::Truncated {
                file: self.name.clone(),
                offset: self.pos as u64,
                what: what.to_string(),
                needed: n as u64,
                available: self.remaining() as u64,
            });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// Consumes `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DataError> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Fails with [`DataError::TrailingData`] unless every byte was consumed.
    pub fn expect_end(&self) -> Result<(), DataError> {
        if self.remaining() != 0 {
            return Err(DataError::TrailingData {
                file: self.name.clone(),
                offset: self.pos as u64,
                extra: self.remaining() as u64,
            });
        }
        Ok(())
    }
}

/// Hex dump of up to `max` leading bytes, for bad-magic messages.
pub fn hex_prefix(bytes: &[u8], max: usize) -> String {
    if bytes.is_empty() {
        return "an empty file".to_string();
    }
    bytes
        .iter()
        .take(max)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_by_magic_not_extension() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello world").unwrap();
        let gz = enc.finish().unwrap();
        let decoded = decode_bytes(Path::new("x.bin"), gz).unwrap();
        assert_eq!(decoded.bytes, b"hello world");
        assert!(decoded.name.gunzipped);
        let plain = decode_bytes(Path::new("x.gz"), b"plain".to_vec()).unwrap();
        assert_eq!(plain.bytes, b"plain");
        assert!(!plain.name.gunzipped);
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[7u8; 1000]).unwrap();
        let gz = enc.finish().unwrap();
        for len in 2..gz.len() {
            let err = decode_bytes(Path::new("x.gz"), gz[..len].to_vec()).unwrap_err();
            assert_eq!(err.code_str(), "amm::data::gzip", "len {len}");
        }
    }

    #[test]
    fn cursor_reports_truncation_with_offset() {
        let name = SourceName::plain("f");
        let data = [1u8, 2, 3];
        let mut c = Cursor::new(&name, &data);
        assert_eq!(c.take(2, "a").unwrap(), &[1, 2]);
        match c.take(4, "rest") {
            Err(DataError::Truncated {
                offset,
                needed,
                available,
                ..
            }) => {
                assert_eq!((offset, needed, available), (2, 4, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.expect_end().is_err());
        c.take(1, "b").unwrap();
        assert!(c.expect_end().is_ok());
    }
}
