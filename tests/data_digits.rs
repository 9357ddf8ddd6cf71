//! The embedded digits dataset.

use std::io::Read;

use ammc::data::digits::{DIGITS_CSV_GZ, DIGITS_README, DIGITS_SAMPLES, load, recorded_sha256};
use ammc::data::{DataSpec, Labels, Normalize, Source, prepare};

/// Counts per class, independently computed from the shipped file (`zcat | awk`).
const COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

#[test]
fn loads_1797_samples_with_file_class_counts_and_pixel_range() {
    let d = load().unwrap();
    assert_eq!(d.len(), DIGITS_SAMPLES);
    assert_eq!(d.len(), 1797);
    assert_eq!(d.sample_shape(), &[1, 8, 8]);
    assert_eq!(d.features().dim(), (1797, 64));
    let Labels::Classes(c) = d.labels() else {
        panic!("digits must have class labels");
    };
    assert_eq!(c.num_classes, 10);
    assert_eq!(c.counts(), COUNTS.to_vec());
    let px = d.features_slice();
    assert!(
        px.iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
    );
    assert_eq!(px.iter().cloned().fold(f32::MIN, f32::max), 16.0);
    assert_eq!(px.iter().map(|&v| v as u64).sum::<u64>(), 561_718);
    // First and last rows as in the file.
    assert_eq!(px[..64].iter().sum::<f32>(), 294.0);
    assert_eq!(c.indices[0], 0);
    assert_eq!(px[1796 * 64..].iter().sum::<f32>(), 392.0);
    assert_eq!(c.indices[1796], 8);
}

#[test]
fn counts_match_an_independent_parse_of_the_embedded_bytes() {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .unwrap();
    let mut counts = [0usize; 10];
    for line in text.lines() {
        let label: usize = line.rsplit(',').next().unwrap().trim().parse().unwrap();
        counts[label] += 1;
    }
    assert_eq!(counts, COUNTS);
}

#[test]
fn readme_keeps_attribution_and_checksum() {
    assert!(DIGITS_README.contains("CC BY 4.0"));
    assert!(DIGITS_README.contains("Alpaydin"));
    assert_eq!(
        recorded_sha256(DIGITS_README).unwrap(),
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
    );
}

#[test]
fn digits_pipeline_scales_to_unit_range() {
    let mut spec = DataSpec::new(Source::BuiltinDigits);
    spec.split = vec![0.7, 0.15, 0.15];
    let p = prepare(&spec, std::path::Path::new(".")).unwrap();
    assert_eq!(p.train.len(), 1258);
    assert_eq!(p.val.as_ref().unwrap().len(), 270);
    assert_eq!(p.test.as_ref().unwrap().len(), 269);
    let max = p
        .train
        .features_slice()
        .iter()
        .cloned()
        .fold(f32::MIN, f32::max);
    assert_eq!(max, 1.0);
    assert_eq!(spec.normalize, Normalize::Scale);
}
