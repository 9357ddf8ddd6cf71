//! Pretrained weight files: corrupt files are diagnostics, never panics.

use ammc::check::weights::read_header;

#[test]
fn corrupt_safetensors_headers_are_errors() {
    let dir = std::env::temp_dir().join(format!("ammc-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read("examples/errors/weights/features_8ch.safetensors").unwrap();
    // The shipped file tiles its data exactly, so it passes the full validation.
    assert!(ammc::data::safetensors::deserialize(&good).is_ok());
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

/// A safetensors file from a raw JSON header and data section.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `ammc check` of a digits MLP whose stage `features` (flatten, dense(4)) loads `weights`.
fn check_with_weights(dir: &std::path::Path, weights: &str) -> (i32, String) {
    std::fs::write(
        dir.join("p.amm"),
        format!(
            "data d = builtin.digits(classes = [0, 1, 2, 3])\nbackbone features {{ flatten dense(4) }}\n\
             model m = features(weights = \"{weights}\")\n\
             train t {{ model = m data = d loss = cross_entropy optimizer = adam epochs = 1 }}\n"
        ),
    )
    .unwrap();
    crate::data_files::ammc_in(dir, &["check", "p.amm"], None)
}

#[test]
fn check_validates_the_whole_weights_file() {
    let dir = std::env::temp_dir().join(format!("ammc-weights-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let w = r#""features.dense1.weight":{"dtype":"F32","shape":[4,64],"data_offsets":[0,1024]}"#;
    let ok_data = f32s(&[0.01; 260]);
    let cases: Vec<(&str, Vec<u8>, i32, &[&str])> = vec![
        (
            "ok",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1024,1040]}}}}"#
                ),
                &ok_data,
            ),
            0,
            &[],
        ),
        (
            "overlap",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1008,1024]}}}}"#
                ),
                &ok_data[..1024],
            ),
            1,
            &["amm::weights::corrupt", "overlap"],
        ),
        (
            "duplicate",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1024,1040]}},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1040,1056]}}}}"#
                ),
                &f32s(&[0.01; 264]),
            ),
            1,
            &["amm::weights::corrupt", "twice"],
        ),
        (
            "trailing",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1024,1040]}}}}"#
                ),
                &f32s(&[0.01; 300]),
            ),
            1,
            &["amm::weights::corrupt", "trailing"],
        ),
        (
            "nan",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1024,1040]}}}}"#
                ),
                &f32s(&[f32::NAN; 260]),
            ),
            1,
            &["amm::weights::not_finite", "at index 0"],
        ),
        (
            "extra",
            raw_file(
                &format!(
                    r#"{{{w},"features.dense1.bias":{{"dtype":"F32","shape":[4],"data_offsets":[1024,1040]}},"features.dense9.bias":{{"dtype":"F32","shape":[1],"data_offsets":[1040,1044]}}}}"#
                ),
                &f32s(&[0.01; 261]),
            ),
            0,
            &["amm::weights::unused", "features.dense9.bias"],
        ),
    ];
    for (name, bytes, want_code, wants) in cases {
        let p = dir.join(format!("{name}.safetensors"));
        std::fs::write(&p, bytes).unwrap();
        let (code, err) = check_with_weights(&dir, p.to_str().unwrap());
        assert_eq!(code, want_code, "{name}: {err}");
        for want in wants {
            assert!(err.contains(want), "{name}: {err}");
        }
    }
    // A directory and a FIFO get a plain message (and the FIFO does not block).
    let (code, err) = check_with_weights(&dir, dir.to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("amm::weights::not_a_file") && err.contains("is a directory"),
        "{err}"
    );
    let fifo = dir.join("pipe.safetensors");
    crate::data_files::mkfifo(&fifo);
    let (code, err) = check_with_weights(&dir, fifo.to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::weights::not_a_file"), "{err}");
}

/// Tensor names and shapes of a safetensors file.
fn tensor_shapes(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<usize>> {
    read_header(path)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.shape))
        .collect()
}

/// A backbone used twice in one model has weights of its own per use (`block.…`,
/// `block_2.…`); a block reference loads each use from the same use of the producer, and a
/// file saved from one use loads into every use it fits.
#[test]
fn a_backbone_used_twice_has_weights_per_use() {
    let dir = std::env::temp_dir().join(format!("ammc-twice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let program = "data d = builtin.digits(classes = [0, 1, 2, 3])\n\
        backbone block(c: int) { conv(c, kernel = 3, pad = 1) relu }\n\
        backbone single { conv(4, kernel = 3, pad = 1) relu }\n\
        backbone out { flatten dense(4) }\n\
        model two = block(c = 4) -> block(c = 4) -> out\n\
        model again = block(c = 4, weights = pre, frozen = true) -> block(c = 4, weights = pre, frozen = true) -> out\n\
        model from_file = block(c = 4, weights = \"runs/pre/model.safetensors\") -> block(c = 4, weights = \"one.safetensors\") -> out\n\
        train pre { model = two data = d loss = cross_entropy optimizer = adam epochs = 1 }\n\
        train tuned { model = again data = d loss = cross_entropy optimizer = adam epochs = 1 }\n";
    std::fs::write(dir.join("p.amm"), program).unwrap();
    let (code, out) = crate::data_files::ammc_in(&dir, &["run", "p.amm", "tuned"], None);
    assert_eq!(code, 0, "{out}");
    let pre = tensor_shapes(&dir.join("runs/pre/model.safetensors"));
    assert_eq!(pre["block.conv1.weight"], vec![4, 1, 3, 3]);
    assert_eq!(pre["block_2.conv1.weight"], vec![4, 4, 3, 3]);
    // Both frozen uses kept the producer's values, each its own.
    let read = |p: &str| {
        ammc::data::safetensors::deserialize(&std::fs::read(dir.join(p)).unwrap()).unwrap()
    };
    let (a, b) = (
        read("runs/pre/model.safetensors"),
        read("runs/tuned/model.safetensors"),
    );
    for name in [
        "block.conv1.weight",
        "block_2.conv1.weight",
        "block_2.conv1.bias",
    ] {
        let x = a.iter().find(|t| t.name == name).unwrap();
        let y = b.iter().find(|t| t.name == name).unwrap();
        assert_eq!(x.data, y.data, "{name}");
    }
    // A file with only `block.…` tensors of the first use ([4, 1, 3, 3]) does not fit the
    // second use ([4, 4, 3, 3]): the error names the second use's layer and both shapes.
    std::fs::copy(
        dir.join("runs/pre/model.safetensors"),
        dir.join("full.safetensors"),
    )
    .unwrap();
    let one: Vec<_> = a
        .into_iter()
        .filter(|t| !t.name.starts_with("block_2."))
        .collect();
    std::fs::write(
        dir.join("one.safetensors"),
        ammc::data::safetensors::serialize(&one, &Default::default()),
    )
    .unwrap();
    std::fs::write(
        dir.join("p.amm"),
        format!("{program}train t2 {{ model = from_file data = d loss = cross_entropy optimizer = adam epochs = 1 }}\n"),
    )
    .unwrap();
    let (code, out) = crate::data_files::ammc_in(&dir, &["check", "p.amm"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("amm::shape::weights"), "{out}");
    assert!(
        out.contains("`block.conv1.weight` in `one.safetensors` has shape [4, 1, 3, 3], but the layer needs [4, 4, 3, 3]"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
