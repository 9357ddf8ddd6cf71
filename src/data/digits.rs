//! The built-in `digits` dataset, embedded in the binary.
//!
//! 1,797 handwritten digits as 8×8 images with pixels 0..16 (UCI "Optical Recognition of
//! Handwritten Digits", E. Alpaydin and C. Kaynak, 1998; CC BY 4.0 — attribution in
//! `data/digits/README.md`, which is shipped and embedded alongside). Each CSV row (no header) is
//! 64 pixels, row-major, then the label 0..9. Samples have shape `[1, 8, 8]` (CHW).
//!
//! The bytes are checked against the sha256 recorded in the embedded README at every load, so a
//! corrupted binary or a data file edited without updating its README is reported as an
//! [`DataError::Checksum`] rather than silently training on different data.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::csv::{Columns, parse_table, table_to_dataset};
use super::dataset::Dataset;
use super::error::DataError;
use super::labels::{LabelKind, LabelOptions};
use super::source::decode_bytes;

/// The compressed CSV, embedded at compile time.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");

/// The dataset's README (attribution, format and checksum), embedded at compile time.
pub const DIGITS_README: &str = include_str!("../../data/digits/README.md");

/// File name whose checksum line the README carries.
const FILE_NAME: &str = "digits.csv.gz";

/// Number of samples in the dataset.
pub const DIGITS_SAMPLES: usize = 1797;

/// Finds the `<64 hex digits>  digits.csv.gz` line in a README (sha256sum format).
pub fn recorded_sha256(readme: &str) -> Option<String> {
    readme.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let hash = parts.next()?;
        let file = parts.next()?;
        let ok = file == FILE_NAME
            && parts.next().is_none()
            && hash.len() == 64
            && hash.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| hash.to_ascii_lowercase())
    })
}

/// Checks `bytes` against the sha256 recorded in `readme`.
pub fn verify(bytes: &[u8], readme: &str) -> Result<(), DataError> {
    let expected = recorded_sha256(readme).ok_or_else(|| DataError::Checksum {
        name: "builtin.digits".into(),
        expected: "(no checksum line for digits.csv.gz in the README)".into(),
        actual: hex(&Sha256::digest(bytes)),
    })?;
    let actual = hex(&Sha256::digest(bytes));
    if actual != expected {
        return Err(DataError::Checksum {
            name: "builtin.digits".into(),
            expected,
            actual,
        });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses digits CSV bytes (gzip or plain) that have already been verified.
pub fn parse(bytes: &[u8]) -> Result<Dataset, DataError> {
    let source = decode_bytes(Path::new("<builtin digits>"), bytes.to_vec())?;
    let table = parse_table(
        &source,
        Columns::ByIndex {
            label: 64,
            ncols: 65,
        },
    )?;
    let options = LabelOptions {
        kind: LabelKind::Classes,
        num_classes: Some(10),
    };
    table_to_dataset(&source.name, table, &options, Some(vec![1, 8, 8]))
}

/// Loads the built-in digits dataset (`builtin.digits`): 1,797 samples of shape `[1, 8, 8]`,
/// pixels 0..16 (unnormalised), 10 classes.
pub fn load() -> Result<Dataset, DataError> {
    verify(DIGITS_CSV_GZ, DIGITS_README)?;
    parse(DIGITS_CSV_GZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_checksum_line_is_found() {
        let h = recorded_sha256(DIGITS_README).unwrap();
        assert_eq!(h.len(), 64);
        assert!(recorded_sha256("no checksum here").is_none());
    }

    #[test]
    fn tampered_bytes_fail_verification() {
        let mut bytes = DIGITS_CSV_GZ.to_vec();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        let e = verify(&bytes, DIGITS_README).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::checksum");
        let e = verify(DIGITS_CSV_GZ, "README without hash").unwrap_err();
        assert_eq!(e.code_str(), "amm::data::checksum");
        assert!(verify(DIGITS_CSV_GZ, DIGITS_README).is_ok());
    }
}
