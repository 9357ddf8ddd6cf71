//! Throughput numbers for the data layer at MNIST scale. Prints timings, asserts only
//! correctness. Ignored by default (it takes seconds); run with
//! `cargo test --release --test data_bench -- --ignored --nocapture`.

use std::io::Write;
use std::time::Instant;

use ammc::data::idx::{IdxDtype, encode};
use ammc::data::{
    BatchLoader, IdxSource, LabelOptions, Normalize, Normalizer, Stratify, digits, idx, npy, split,
    synthetic,
};

fn time<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    println!("{label:<48} {:>9.1} ms", t.elapsed().as_secs_f64() * 1e3);
    out
}

#[test]
#[ignore = "benchmark: prints timings"]
fn data_layer_throughput() {
    let n = 60_000;
    let d = time("synthetic [1,28,28] x 60,000 (10 classes)", || {
        synthetic(&[1, 28, 28], 10, n, 0).unwrap()
    });
    assert_eq!(d.len(), n);
    time("digits: verify sha256 + gunzip + parse", || {
        digits::load().unwrap()
    });

    let parts = time("stratified split [0.8, 0.2] of 60,000", || {
        split(&d, &[0.8, 0.2], 0, Stratify::Auto).unwrap()
    });
    let mut train = parts[0].clone();
    let norm = time("standardize: fit on 48,000 x 784", || {
        Normalizer::fit(Normalize::Standardize, &train)
    });
    time("standardize: apply to 48,000 x 784", || {
        norm.apply(&mut train).unwrap()
    });

    let mut loader = BatchLoader::shuffled(&train, 64, 1).unwrap();
    time("one shuffled epoch, batch 64 (gather copies)", || {
        let mut sum = 0f64;
        while let Some(b) = loader.next_batch() {
            sum += b.features[0] as f64;
        }
        sum
    });
    let mut seq = BatchLoader::sequential(&train, 64).unwrap();
    time("one sequential epoch, batch 64 (zero-copy)", || {
        let mut count = 0;
        while let Some(b) = seq.next_batch() {
            count += b.len;
        }
        assert_eq!(count, train.len());
    });

    // MNIST-shaped IDX files, plain and gzip.
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<f64> = d
        .features_slice()
        .iter()
        .map(|&v| (v.clamp(0.0, 1.5) * 170.0) as f64)
        .collect();
    let labels: Vec<f64> = d
        .labels()
        .as_classes()
        .unwrap()
        .indices
        .iter()
        .map(|&c| c as f64)
        .collect();
    let img = encode(IdxDtype::U8, &[n, 28, 28], &pixels).unwrap();
    let lab = encode(IdxDtype::U8, &[n], &labels).unwrap();
    std::fs::write(dir.path().join("img"), &img).unwrap();
    std::fs::write(dir.path().join("lab"), &lab).unwrap();
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(dir.path().join("img.gz"), gz(&img)).unwrap();
    std::fs::write(dir.path().join("lab.gz"), gz(&lab)).unwrap();
    let src = |i: &str, l: &str| IdxSource {
        images: dir.path().join(i),
        labels: dir.path().join(l),
        label_options: LabelOptions::default(),
        sample_shape: None,
    };
    let plain = time("IDX load 60,000 x 28 x 28 u8 (plain)", || {
        idx::load(&src("img", "lab")).unwrap()
    });
    let gzipped = time("IDX load 60,000 x 28 x 28 u8 (gzip)", || {
        idx::load(&src("img.gz", "lab.gz")).unwrap()
    });
    assert_eq!(plain, gzipped);

    let path = dir.path().join("x.npy");
    time("npy::write 60,000 x 784 f32 (atomic, fsync)", || {
        npy::write(&path, d.features().view()).unwrap()
    });
    let back = time("npy read 60,000 x 784 f32", || {
        npy::read_f32(&path).unwrap()
    });
    assert_eq!(back.data.as_slice(), d.features_slice());
}
