//! The shipped dataset: UCI optical recognition of handwritten digits (8x8, 1,797 images,
//! 10 classes; E. Alpaydin and C. Kaynak, CC BY 4.0), embedded in the binary.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::{DataError, Dataset, Labels};

static DIGITS_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");
const SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";
const NAME: &str = "builtin.digits (data/digits/digits.csv.gz)";

/// Decodes the embedded file: 65 integers a row, 64 pixels in 0..16 then the label.
pub fn load() -> Result<Dataset, DataError> {
    let found = format!("{:x}", Sha256::digest(DIGITS_GZ));
    if found != SHA256 {
        return Err(DataError::Checksum {
            found,
            expected: SHA256.to_string(),
        });
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| DataError::Corrupt {
            file: NAME.into(),
            message: e.to_string(),
        })?;
    parse(&text, NAME)
}

fn parse(text: &str, file: &str) -> Result<Dataset, DataError> {
    let mut features = Vec::with_capacity(1797 * 64);
    let mut ids = Vec::with_capacity(1797);
    for (ln, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(DataError::Parse {
                file: file.into(),
                line: ln + 1,
                column: fields.len().min(65),
                message: format!("expected 65 fields, found {}", fields.len()),
            });
        }
        for (col, f) in fields.iter().enumerate() {
            let v: u32 = f.trim().parse().map_err(|_| DataError::Parse {
                file: file.into(),
                line: ln + 1,
                column: col + 1,
                message: format!("`{f}` is not an integer"),
            })?;
            let limit = if col == 64 { 9 } else { 16 };
            if v > limit {
                return Err(DataError::Parse {
                    file: file.into(),
                    line: ln + 1,
                    column: col + 1,
                    message: format!("{v} is out of range 0..={limit}"),
                });
            }
            if col == 64 {
                ids.push(v);
            } else {
                features.push(v as f32);
            }
        }
    }
    Ok(Dataset {
        features,
        sample_shape: vec![1, 8, 8],
        labels: Labels::Classes { ids, classes: 10 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_1797_images_of_ten_classes() {
        let d = load().unwrap();
        assert_eq!(d.len(), 1797);
        let Labels::Classes { ids, classes } = &d.labels else {
            panic!()
        };
        assert_eq!(*classes, 10);
        let mut counts = [0usize; 10];
        ids.iter().for_each(|c| counts[*c as usize] += 1);
        // The UCI test-set copy: between 174 and 183 images per digit.
        assert!(counts.iter().all(|c| (174..=183).contains(c)), "{counts:?}");
        assert_eq!(d.features.iter().copied().fold(0f32, f32::max), 16.0);
    }

    #[test]
    fn malformed_rows_are_located() {
        let err = parse("1,2,3\n", "t.csv").unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 1, .. }));
        let row = format!("{}x,3\n", "0,".repeat(63));
        let err = parse(&row, "t.csv").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Parse {
                    line: 1,
                    column: 64,
                    ..
                }
            ),
            "{err}"
        );
    }
}
