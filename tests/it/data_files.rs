//! File loaders on files written here: round trips, gzip, and every corruption ending in a
//! located error, never a panic.

use std::path::{Path, PathBuf};

use ammc::data::files::{csv, idx, npy};
use ammc::data::{DataError, Labels};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-data-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn idx_bytes(kind: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn npy_bytes(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn csv_round_trip_and_errors() {
    let p = tmp("a.csv");
    std::fs::write(&p, "x,y,label\n1,2,0\n3.5,-1,1\n0,0,2\n").unwrap();
    let d = csv(&p, "label").unwrap();
    assert_eq!(d.sample_shape, vec![2]);
    assert_eq!(d.features, vec![1.0, 2.0, 3.5, -1.0, 0.0, 0.0]);
    assert_eq!(
        d.labels,
        Labels::Classes {
            ids: vec![0, 1, 2],
            classes: 3
        }
    );
    // Non-integral targets are real values (regression).
    let r = csv(&p, "x").unwrap();
    assert_eq!(
        r.labels,
        Labels::Values {
            values: vec![1.0, 3.5, 0.0],
            width: 1
        }
    );
    std::fs::write(&p, "x,y\n1,0.5\n2,1.5\n").unwrap();
    assert!(matches!(
        csv(&p, "y").unwrap().labels,
        Labels::Values { width: 1, .. }
    ));
    let err = csv(&p, "z").unwrap_err();
    assert!(
        err.to_string()
            .contains("no column named `z`; the columns are x, y"),
        "{err}"
    );
    std::fs::write(&p, "x,y\n1,2\n3,abc\n").unwrap();
    assert!(matches!(
        csv(&p, "y").unwrap_err(),
        DataError::Parse {
            line: 3,
            column: 2,
            ..
        }
    ));
    std::fs::write(&p, "x,y\n1,2\n3\n").unwrap();
    assert!(matches!(
        csv(&p, "y").unwrap_err(),
        DataError::Parse { line: 3, .. }
    ));
    std::fs::write(&p, "").unwrap();
    assert!(csv(&p, "y").is_err());
    assert!(matches!(
        csv(Path::new("/no/such/file.csv"), "y").unwrap_err(),
        DataError::Io { .. }
    ));
}

#[test]
fn idx_plain_gzip_and_every_truncation() {
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| i as u8).collect();
    let images = idx_bytes(0x08, &[3, 4, 5], &pixels);
    let labels = idx_bytes(0x08, &[3], &[7, 1, 4]);
    let (pi, pl) = (tmp("img.idx"), tmp("lab.idx"));
    std::fs::write(&pi, &images).unwrap();
    std::fs::write(&pl, &labels).unwrap();
    let d = idx(&pi, &pl).unwrap();
    assert_eq!(d.sample_shape, vec![1, 4, 5]);
    assert_eq!(d.features[59], 59.0);
    assert_eq!(
        d.labels,
        Labels::Classes {
            ids: vec![7, 1, 4],
            classes: 8
        }
    );
    std::fs::write(&pi, gzip(&images)).unwrap();
    assert_eq!(idx(&pi, &pl).unwrap(), d);
    // f32 big-endian images.
    let floats: Vec<u8> = (0..6)
        .flat_map(|i| (i as f32 * 0.5).to_be_bytes())
        .collect();
    std::fs::write(&pi, idx_bytes(0x0D, &[3, 1, 2], &floats)).unwrap();
    assert_eq!(
        idx(&pi, &pl).unwrap().features,
        vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    );
    for cut in 0..images.len() {
        std::fs::write(&pi, &images[..cut]).unwrap();
        assert!(idx(&pi, &pl).is_err(), "truncated at {cut}");
    }
    let gz = gzip(&images);
    for cut in 0..gz.len() {
        std::fs::write(&pi, &gz[..cut]).unwrap();
        assert!(idx(&pi, &pl).is_err(), "gzip truncated at {cut}");
    }
    std::fs::write(&pi, &images).unwrap();
    std::fs::write(&pl, idx_bytes(0x08, &[2], &[1, 2])).unwrap();
    assert!(
        idx(&pi, &pl)
            .unwrap_err()
            .to_string()
            .contains("2 labels for 3 images")
    );
    let mut bad = images.clone();
    bad[2] = 0x42;
    std::fs::write(&pi, &bad).unwrap();
    assert!(
        idx(&pi, &pl)
            .unwrap_err()
            .to_string()
            .contains("unknown IDX data type 0x42")
    );
    // A header claiming a gigantic array must not allocate it.
    std::fs::write(
        &pi,
        idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]),
    )
    .unwrap();
    assert!(idx(&pi, &pl).is_err());
}

#[test]
fn npy_dtypes_orders_and_truncation() {
    let (px, py) = (tmp("x.npy"), tmp("y.npy"));
    let xs: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&px, npy_bytes("<f4", &[3, 2], false, &xs)).unwrap();
    std::fs::write(&py, npy_bytes("|u1", &[3], false, &[0, 1, 1])).unwrap();
    let d = npy(&px, &py).unwrap();
    assert_eq!(d.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(d.sample_shape, vec![2]);
    assert_eq!(
        d.labels,
        Labels::Classes {
            ids: vec![0, 1, 1],
            classes: 2
        }
    );
    // The same matrix stored column-major, big-endian f8.
    let col: Vec<u8> = [1.0f64, 3.0, 5.0, 2.0, 4.0, 6.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    std::fs::write(&px, npy_bytes(">f8", &[3, 2], true, &col)).unwrap();
    assert_eq!(npy(&px, &py).unwrap().features, d.features);
    // Real-valued 2-D targets.
    let ys: Vec<u8> = [0.5f64, 1.5, 2.5, 3.5, 4.5, 5.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&py, npy_bytes("<f8", &[3, 2], false, &ys)).unwrap();
    assert!(matches!(
        npy(&px, &py).unwrap().labels,
        Labels::Values { width: 2, .. }
    ));
    let good = npy_bytes("<f4", &[3, 2], false, &xs);
    for cut in 0..good.len() {
        std::fs::write(&px, &good[..cut]).unwrap();
        assert!(npy(&px, &py).is_err(), "truncated at {cut}");
    }
    std::fs::write(&px, npy_bytes("<c8", &[3, 2], false, &[0; 48])).unwrap();
    assert!(
        npy(&px, &py)
            .unwrap_err()
            .to_string()
            .contains("unsupported dtype")
    );
    std::fs::write(&px, npy_bytes("<f4", &[2, 2], false, &xs[..16])).unwrap();
    assert!(
        npy(&px, &py)
            .unwrap_err()
            .to_string()
            .contains("do not match")
    );
}

#[test]
fn describe_reads_only_headers_of_feature_files() {
    use ammc::data::{DataSpec, LabelKind, describe};
    use ammc::resolve::Value;
    let dir = tmp("describe");
    std::fs::create_dir_all(&dir).unwrap();
    let pixels = vec![0u8; 10 * 28 * 28];
    std::fs::write(
        dir.join("img.gz"),
        gzip(&idx_bytes(0x08, &[10, 28, 28], &pixels)),
    )
    .unwrap();
    std::fs::write(
        dir.join("lab"),
        idx_bytes(0x08, &[10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    )
    .unwrap();
    let spec = DataSpec {
        name: "m".into(),
        loader: "idx".into(),
        args: [
            ("images".to_string(), Value::Str("img.gz".into())),
            ("labels".to_string(), Value::Str("lab".into())),
        ]
        .into_iter()
        .collect(),
    };
    let d = describe(&spec, &dir).unwrap();
    assert_eq!(d.sample_shape, vec![1, 28, 28]);
    assert_eq!(d.labels, LabelKind::Classes(10));
    // Only the header is read: a file truncated after its header still describes…
    std::fs::write(
        dir.join("img.gz"),
        gzip(&idx_bytes(0x08, &[10, 28, 28], &pixels[..5])),
    )
    .unwrap();
    assert_eq!(describe(&spec, &dir).unwrap().sample_shape, vec![1, 28, 28]);
    // …and loading it is the error.
    assert!(ammc::data::load(&spec, &dir).is_err());
}
