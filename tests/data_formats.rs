//! CSV / IDX / NPY round trips through real files, and every corrupt-file case.

use std::io::Write;
use std::path::{Path, PathBuf};

use ammc::data::idx::{IdxDtype, encode};
use ammc::data::{
    CsvSource, DataError, DataSpec, IdxSource, LabelKind, LabelOptions, Labels, NpySource, Source,
    csv, idx, npy, prepare,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A `.npy` with an arbitrary descr, written by hand (numpy's layout).
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn i64_labels(values: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<i8", &format!("({},)", values.len()), &data)
}

/// 6 images of 3×4 pixels (value = 10·sample + pixel) and labels 0..2.
fn idx_pair() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<f64> = (0..6 * 12)
        .map(|i| ((i / 12) * 10 + i % 12) as f64)
        .collect();
    let images = encode(IdxDtype::U8, &[6, 3, 4], &pixels).unwrap();
    let labels = encode(IdxDtype::U8, &[6], &[0., 1., 2., 0., 1., 2.]).unwrap();
    (images, labels)
}

fn idx_source(images: PathBuf, labels: PathBuf) -> IdxSource {
    IdxSource {
        images,
        labels,
        label_options: LabelOptions::default(),
        sample_shape: None,
    }
}

fn npy_source(features: PathBuf, labels: PathBuf) -> NpySource {
    NpySource {
        features,
        labels,
        label_options: LabelOptions::default(),
        sample_shape: None,
    }
}

fn code(r: Result<ammc::data::Dataset, DataError>) -> String {
    r.unwrap_err().code_str()
}

#[test]
fn csv_round_trip_plain_and_gz_through_prepare() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x0,x1,label,x2\n");
    for i in 0..30i32 {
        text.push_str(&format!("{},{},{},{}\n", i, i as f32 * 0.5, i % 3, -i));
    }
    write(dir.path(), "t.csv", text.as_bytes());
    write(dir.path(), "t.csv.gz", &gz(text.as_bytes()));
    for name in ["t.csv", "t.csv.gz"] {
        let src = CsvSource {
            path: name.into(),
            label: "label".into(),
            features: None,
            label_options: LabelOptions::default(),
            sample_shape: None,
        };
        let d = ammc::data::load_source(&Source::Csv(src.clone()), dir.path()).unwrap();
        assert_eq!(d.len(), 30);
        assert_eq!(d.sample_shape(), &[3]);
        assert_eq!(&d.features_slice()[3 * 5..3 * 6], &[5.0, 2.5, -5.0]);
        assert_eq!(d.num_classes(), Some(3));
        let mut spec = DataSpec::new(Source::Csv(CsvSource {
            features: Some(vec!["x2".into(), "x0".into()]),
            ..src
        }));
        spec.normalize = ammc::data::Normalize::None;
        let p = prepare(&spec, dir.path()).unwrap();
        assert_eq!(p.train.len() + p.val.as_ref().unwrap().len(), 30);
        for row in p.train.features().rows() {
            assert_eq!(row[0], -row[1]);
        }
    }
}

#[test]
fn idx_round_trip_plain_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = idx_pair();
    let plain = idx_source(
        write(dir.path(), "img-idx3-ubyte", &images),
        write(dir.path(), "lab-idx1-ubyte", &labels),
    );
    let gzipped = idx_source(
        write(dir.path(), "img-idx3-ubyte.gz", &gz(&images)),
        write(dir.path(), "lab-idx1-ubyte.gz", &gz(&labels)),
    );
    let a = idx::load(&plain).unwrap();
    let b = idx::load(&gzipped).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.sample_shape(), &[1, 3, 4]);
    assert_eq!(a.len(), 6);
    assert_eq!(a.features()[[4, 7]], 47.0);
    assert_eq!(
        a.labels().as_classes().unwrap().indices,
        vec![0, 1, 2, 0, 1, 2]
    );
    // Other dtypes and ranks: i32 2-D features, f64 labels as targets, i16 4-D features.
    let feats: Vec<f64> = (0..8).map(|i| i as f64 - 4.0).collect();
    let s = idx_source(
        write(
            dir.path(),
            "f2",
            &encode(IdxDtype::I32, &[4, 2], &feats).unwrap(),
        ),
        write(
            dir.path(),
            "l2",
            &encode(IdxDtype::F64, &[4], &[0.5, 1.5, -2.0, 3.25]).unwrap(),
        ),
    );
    let d = idx::load(&s).unwrap();
    assert_eq!(d.sample_shape(), &[2]);
    assert_eq!(d.features_slice(), &[-4., -3., -2., -1., 0., 1., 2., 3.]);
    let Labels::Targets(t) = d.labels() else {
        panic!("fractional labels are targets");
    };
    assert_eq!(t.column(0).to_vec(), vec![0.5, 1.5, -2.0, 3.25]);
    let s4 = idx_source(
        write(
            dir.path(),
            "f4",
            &encode(IdxDtype::I16, &[2, 2, 1, 2], &feats).unwrap(),
        ),
        write(
            dir.path(),
            "l4",
            &encode(IdxDtype::I8, &[2], &[1., 0.]).unwrap(),
        ),
    );
    assert_eq!(idx::load(&s4).unwrap().sample_shape(), &[2, 1, 2]);
}

#[test]
fn npy_round_trip_with_our_writer() {
    let dir = tempfile::tempdir().unwrap();
    let feats = Array2::from_shape_fn((5, 3), |(i, j)| i as f32 + j as f32 / 10.0);
    let fp = dir.path().join("x.npy");
    npy::write(&fp, feats.view()).unwrap();
    let lp = write(dir.path(), "y.npy", &i64_labels(&[3, 0, 1, 2, 3]));
    let d = npy::load(&npy_source(fp.clone(), lp)).unwrap();
    assert_eq!(d.features(), &feats);
    assert_eq!(d.num_classes(), Some(4));
    let f64s = Array2::from_shape_fn((2, 2), |(i, j)| (i * 2 + j) as f64 / 3.0);
    let p64 = dir.path().join("q.npy");
    npy::write(&p64, f64s.view()).unwrap();
    let back = npy::read_f64(&p64).unwrap();
    assert_eq!(back.shape, vec![2, 2]);
    assert_eq!(back.data, f64s.iter().copied().collect::<Vec<_>>());
    // Sample-shape override: 3 values per sample as [3, 1].
    let mut s = npy_source(fp, dir.path().join("y.npy"));
    s.sample_shape = Some(vec![3, 1]);
    assert_eq!(npy::load(&s).unwrap().sample_shape(), &[3, 1]);
    s.sample_shape = Some(vec![2, 2]);
    assert_eq!(code(npy::load(&s)), "amm::data::shape");
}

#[test]
fn corrupt_idx_files_have_specific_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = idx_pair();
    let lab = write(dir.path(), "lab", &labels);
    let load_img =
        |bytes: &[u8]| idx::load(&idx_source(write(dir.path(), "img", bytes), lab.clone()));

    let truncated = load_img(&images[..images.len() - 1]).unwrap_err();
    assert_eq!(truncated.code_str(), "amm::data::truncated");
    let msg = truncated.to_string();
    assert!(
        msg.contains("img") && msg.contains("bytes 16..88") && msg.contains("ends at byte 87"),
        "{msg}"
    );

    let mut bad_magic = images.clone();
    bad_magic[..2].copy_from_slice(b"PK");
    assert_eq!(code(load_img(&bad_magic)), "amm::data::bad_magic");

    let mut bad_dtype = images.clone();
    bad_dtype[2] = 0x0A;
    assert_eq!(code(load_img(&bad_dtype)), "amm::data::dtype");

    let mut one_dim = encode(IdxDtype::U8, &[6], &[0.; 6]).unwrap();
    assert_eq!(code(load_img(&one_dim)), "amm::data::bad_header");
    one_dim[3] = 0;
    assert_eq!(code(load_img(&one_dim)), "amm::data::bad_header");

    let mut long = images.clone();
    long.extend_from_slice(&[0; 12]);
    assert_eq!(code(load_img(&long)), "amm::data::trailing_data");

    // Count mismatch: 5 labels for 6 images.
    let five = write(
        dir.path(),
        "five",
        &encode(IdxDtype::U8, &[5], &[0.; 5]).unwrap(),
    );
    let img = write(dir.path(), "img6", &images);
    let e = idx::load(&idx_source(img.clone(), five)).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::count_mismatch");
    assert!(e.to_string().contains("6 samples") && e.to_string().contains("5 labels"));

    // Label out of range: 12 with 10 classes; negative i8 label.
    let bad = encode(IdxDtype::U8, &[6], &[0., 1., 12., 0., 1., 2.]).unwrap();
    let mut s = idx_source(img.clone(), write(dir.path(), "bad", &bad));
    s.label_options.num_classes = Some(10);
    let e = idx::load(&s).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::label_range");
    assert!(e.to_string().contains("label 2 (byte 10)"), "{e}");
    let neg = encode(IdxDtype::I8, &[6], &[0., 1., -1., 0., 1., 2.]).unwrap();
    let e = idx::load(&idx_source(img.clone(), write(dir.path(), "neg", &neg))).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::label_range");

    // Missing file.
    let e = idx::load(&idx_source(dir.path().join("nope.gz"), lab.clone())).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::not_found");
    assert!(e.to_string().contains("nope.gz"));

    // Corrupt gzip.
    let mut broken = gz(&images);
    let mid = broken.len() / 2;
    broken.truncate(mid);
    assert_eq!(code(load_img(&broken)), "amm::data::gzip");
}

#[test]
fn corrupt_npy_files_have_specific_codes() {
    let dir = tempfile::tempdir().unwrap();
    let feats = Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f32);
    let fp = dir.path().join("x.npy");
    npy::write(&fp, feats.view()).unwrap();
    let good = std::fs::read(&fp).unwrap();
    let lp = write(dir.path(), "y.npy", &i64_labels(&[0, 1, 0, 1]));
    let load_x =
        |bytes: &[u8]| npy::load(&npy_source(write(dir.path(), "bad.npy", bytes), lp.clone()));

    assert_eq!(
        code(load_x(&good[..good.len() - 3])),
        "amm::data::truncated"
    );
    let mut magic = good.clone();
    magic[1] = b'X';
    assert_eq!(code(load_x(&magic)), "amm::data::bad_magic");
    let replace = |from: &[u8], to: &[u8]| {
        let at = good.windows(from.len()).position(|w| w == from).unwrap();
        let mut b = good.clone();
        b[at..at + to.len()].copy_from_slice(to);
        b
    };
    assert_eq!(
        code(load_x(&replace(b"'shape'", b"'shapx'"))),
        "amm::data::bad_header"
    );
    assert_eq!(
        code(load_x(&replace(b"False", b"Fals?"))),
        "amm::data::bad_header"
    );
    assert_eq!(code(load_x(&replace(b"<f4", b"<c8"))), "amm::data::dtype");

    let three = write(dir.path(), "y3.npy", &i64_labels(&[0, 1, 0]));
    let e = npy::load(&npy_source(fp.clone(), three)).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::count_mismatch");

    let neg = write(dir.path(), "yn.npy", &i64_labels(&[0, 1, -3, 1]));
    let e = npy::load(&npy_source(fp.clone(), neg)).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::label_range");
    assert!(e.to_string().contains("label 2"), "{e}");

    let mut s = npy_source(fp.clone(), lp.clone());
    s.label_options = LabelOptions {
        kind: LabelKind::Classes,
        num_classes: Some(1),
    };
    assert_eq!(code(npy::load(&s)), "amm::data::label_range");

    let e = npy::load(&npy_source(dir.path().join("missing.npy"), lp.clone())).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::not_found");
}

/// Property: cutting a valid small file at every length gives a truncation error (plain) or a
/// gzip error (compressed) — never a panic, never success.
#[test]
fn truncating_any_file_at_any_length_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = idx_pair();
    let img_path = write(dir.path(), "img", &images);
    let lab_path = write(dir.path(), "lab", &labels);
    for len in 0..images.len() {
        let cut = write(dir.path(), "cut", &images[..len]);
        let e = idx::load(&idx_source(cut, lab_path.clone())).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated", "images cut at {len}");
    }
    for len in 0..labels.len() {
        let cut = write(dir.path(), "cut", &labels[..len]);
        let e = idx::load(&idx_source(img_path.clone(), cut)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated", "labels cut at {len}");
    }
    let gz_images = gz(&images);
    for len in 0..gz_images.len() {
        let cut = write(dir.path(), "cut.gz", &gz_images[..len]);
        let e = idx::load(&idx_source(cut, lab_path.clone())).unwrap_err();
        let c = e.code_str();
        assert!(
            c == "amm::data::gzip" || c == "amm::data::truncated",
            "gz cut at {len}: {c}"
        );
    }
    let feats = Array2::from_shape_fn((3, 2), |(i, j)| (i * j) as f32);
    let npy_x = npy::to_bytes(feats.view());
    let npy_y = i64_labels(&[0, 1, 2]);
    let xp = write(dir.path(), "x.npy", &npy_x);
    let yp = write(dir.path(), "y.npy", &npy_y);
    for len in 0..npy_x.len() {
        let cut = write(dir.path(), "cut.npy", &npy_x[..len]);
        let e = npy::load(&npy_source(cut, yp.clone())).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated", "npy x cut at {len}");
    }
    for len in 0..npy_y.len() {
        let cut = write(dir.path(), "cut.npy", &npy_y[..len]);
        let e = npy::load(&npy_source(xp.clone(), cut)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::truncated", "npy y cut at {len}");
    }
}

/// CSV truncated anywhere: a clean row boundary gives a shorter valid file, anything else an
/// error; never a panic.
#[test]
fn truncated_csv_never_panics() {
    let text = "a,b,\"quoted, name\",y\n1,2.5,3,0\n-4,5e1,\"6\",1\n7,8,9,2\n";
    for len in 0..=text.len() {
        let src = ammc::data::source::SourceBytes {
            name: ammc::data::SourceName::plain("t.csv"),
            bytes: text.as_bytes()[..len].to_vec(),
        };
        let spec = CsvSource {
            path: "t.csv".into(),
            label: "y".into(),
            features: None,
            label_options: LabelOptions::default(),
            sample_shape: None,
        };
        match csv::from_source(&src, &spec) {
            Ok(d) => assert!(d.len() <= 3),
            Err(e) => assert!(e.code_str().starts_with("amm::data::"), "{e}"),
        }
    }
}

/// Random byte corruption of valid files: any outcome but a panic (and a bounded allocation:
/// the corrupt headers below would otherwise ask for terabytes).
#[test]
fn random_corruption_never_panics() {
    let (images, labels) = idx_pair();
    let feats = Array2::from_shape_fn((3, 2), |(i, j)| (i * j) as f32);
    let npy_x = npy::to_bytes(feats.view());
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let name = ammc::data::SourceName::plain("fuzz");
    for _ in 0..2000 {
        for base in [&images, &labels, &npy_x] {
            let mut b = base.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            let _ = idx::parse::<f32>(&name, &b);
            let _ = npy::parse::<f32>(&name, &b);
            let _ = ammc::data::safetensors::from_bytes(&name, &b);
        }
        // Whole-pair loading with one corrupted side (labels or features).
        let sb = |bytes: Vec<u8>| ammc::data::source::SourceBytes {
            name: name.clone(),
            bytes,
        };
        let mut corrupt = |base: &[u8]| {
            let mut b = base.to_vec();
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
            b
        };
        let idx_spec = idx_source("i".into(), "l".into());
        let _ = idx::from_sources(&sb(corrupt(&images)), &sb(labels.clone()), &idx_spec);
        let _ = idx::from_sources(&sb(images.clone()), &sb(corrupt(&labels)), &idx_spec);
        let npy_y = i64_labels(&[0, 1, 2]);
        let npy_spec = npy_source("x".into(), "y".into());
        let _ = npy::from_sources(&sb(corrupt(&npy_x)), &sb(npy_y.clone()), &npy_spec);
        let _ = npy::from_sources(&sb(npy_x.clone()), &sb(corrupt(&npy_y)), &npy_spec);
    }
}
