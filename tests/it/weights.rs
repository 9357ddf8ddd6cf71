//! Pretrained weight files: corrupt files are diagnostics, never panics.

use ammc::check::weights::read_header;

#[test]
fn corrupt_safetensors_headers_are_errors() {
    let dir = std::env::temp_dir().join(format!("ammc-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read("examples/errors/weights/features_8ch.safetensors").unwrap();
    let h = read_header(std::path::Path::new(
        "examples/errors/weights/features_8ch.safetensors",
    ))
    .unwrap();
    assert_eq!(h["features.conv1.weight"].shape, vec![8, 1, 3, 3]);
    // Every truncation of the header region fails cleanly.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for cut in 0..(8 + header_len) {
        let p = dir.join("cut.safetensors");
        std::fs::write(&p, &good[..cut]).unwrap();
        assert!(read_header(&p).is_err(), "truncated at {cut}");
    }
    let p = dir.join("huge.safetensors");
    let mut bad = u64::MAX.to_le_bytes().to_vec();
    bad.extend_from_slice(b"{}");
    std::fs::write(&p, &bad).unwrap();
    assert!(read_header(&p).is_err());
    let p = dir.join("notjson.safetensors");
    let mut bad = 4u64.to_le_bytes().to_vec();
    bad.extend_from_slice(b"nope");
    std::fs::write(&p, &bad).unwrap();
    assert!(read_header(&p).is_err());
}
