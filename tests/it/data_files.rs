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

// ---------------------------------------------------------------------------------------
// Hostile inputs (issue 15): each of these panicked, hung, aborted or was accepted before.

/// Runs the real binary in `dir`, killed after 20 s (a hang is a failure, not a stuck
/// suite). `limit_kb` runs it under `ulimit -v`.
pub(crate) fn ammc_in(dir: &Path, args: &[&str], limit_kb: Option<u64>) -> (i32, String) {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_ammc");
    let mut cmd = match limit_kb {
        Some(kb) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {kb} && exec \"$0\" \"$@\""))
                .arg(bin)
                .args(args);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(args);
            c
        }
    };
    let mut child = cmd
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "300")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("ammc {args:?} did not finish in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A program training a small MLP on `data` (a loader call).
fn program(data: &str) -> String {
    format!(
        "data d = {data}\nbackbone b {{ flatten dense(4) }}\nmodel m = b\n\
         train t {{ model = m data = d loss = cross_entropy optimizer = adam epochs = 1 }}\n"
    )
}

pub(crate) fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", p.display());
}

#[test]
fn npy_hostile_headers_are_errors() {
    let (px, py) = (tmp("h.npy"), tmp("hy.npy"));
    std::fs::write(&py, npy_bytes("|u1", &[2], false, &[0, 1])).unwrap();
    let raw = |header: &str, data: &[u8]| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    };
    let cases = [
        (
            "{'descr': '', 'fortran_order': False, 'shape': (2, 2), }",
            "dtype",
        ),
        (
            "{'descr': '<', 'fortran_order': False, 'shape': (2, 2), }",
            "dtype",
        ),
        (
            "{'descr': 'é4', 'fortran_order': False, 'shape': (2, 2), }",
            "dtype",
        ),
        (
            "{'descr': '<fé', 'fortran_order': False, 'shape': (2, 2), }",
            "dtype",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': )2, 2(, }",
            "shape",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }",
            "shape",
        ),
        (
            "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
            "twice",
        ),
        // 2^61 × 5 × 8 bytes wraps to 160 in 64 bits.
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 5), }",
            "overflows",
        ),
    ];
    for (header, want) in cases {
        std::fs::write(&px, raw(header, &[0u8; 160])).unwrap();
        let e = npy(&px, &py).unwrap_err().to_string();
        assert!(e.contains(want), "{header}: {e}");
        let e = ammc::data::files::npy_sample_shape(&px)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{header}: {e}");
    }
    // The `)`-before-`(` header used to panic inside `ammc check` itself.
    let dir = scratch_dir("npy-check");
    std::fs::write(
        dir.join("x.npy"),
        raw(
            "{'descr': '<f4', 'fortran_order': False, 'shape': )2, 2(, }",
            &[0u8; 16],
        ),
    )
    .unwrap();
    std::fs::write(dir.join("y.npy"), npy_bytes("|u1", &[2], false, &[0, 1])).unwrap();
    std::fs::write(
        dir.join("p.amm"),
        program("npy(features = \"x.npy\", labels = \"y.npy\")"),
    )
    .unwrap();
    let (code, err) = ammc_in(&dir, &["check", "p.amm"], None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("amm::data::corrupt") && err.contains("shape"),
        "{err}"
    );
}

#[test]
fn zero_sized_samples_fail_check_at_the_data_declaration() {
    let dir = scratch_dir("zero");
    std::fs::write(dir.join("img.idx"), idx_bytes(0x08, &[3, 0, 5], &[])).unwrap();
    std::fs::write(dir.join("lab.idx"), idx_bytes(0x08, &[3], &[0, 1, 1])).unwrap();
    std::fs::write(dir.join("only.csv"), "label\n0\n1\n").unwrap();
    std::fs::write(dir.join("x.npy"), npy_bytes("<f4", &[2, 0], false, &[])).unwrap();
    std::fs::write(dir.join("y.npy"), npy_bytes("|u1", &[2], false, &[0, 1])).unwrap();
    for data in [
        "idx(images = \"img.idx\", labels = \"lab.idx\")",
        "csv(path = \"only.csv\", label = \"label\")",
        "npy(features = \"x.npy\", labels = \"y.npy\")",
    ] {
        std::fs::write(dir.join("p.amm"), program(data)).unwrap();
        let (code, err) = ammc_in(&dir, &["check", "p.amm"], None);
        assert_eq!(code, 1, "{data}: {err}");
        assert!(err.contains("amm::data::empty_sample"), "{data}: {err}");
        // The label points at the loader call on line 1.
        assert!(err.contains("p.amm:1:"), "{data}: {err}");
        assert!(!err.contains("amm::internal"), "{data}: {err}");
    }
}

#[test]
fn fifos_devices_and_directories_are_refused_without_blocking() {
    let dir = scratch_dir("fifo");
    mkfifo(&dir.join("pipe"));
    std::fs::write(dir.join("lab.idx"), idx_bytes(0x08, &[3], &[0, 1, 1])).unwrap();
    let sources = [
        ("csv(path = \"pipe\", label = \"y\")", "a FIFO"),
        ("idx(images = \"pipe\", labels = \"lab.idx\")", "a FIFO"),
        (
            "idx(images = \"/dev/zero\", labels = \"lab.idx\")",
            "a device",
        ),
        ("csv(path = \"/dev/zero\", label = \"y\")", "a device"),
        ("npy(features = \".\", labels = \"lab.idx\")", "a directory"),
    ];
    for (data, kind) in sources {
        std::fs::write(dir.join("p.amm"), program(data)).unwrap();
        let (code, err) = ammc_in(&dir, &["check", "p.amm"], None);
        assert_eq!(code, 1, "{data}: {err}");
        assert!(
            err.contains("amm::data::not_a_file") && err.contains(kind),
            "{data}: {err}"
        );
    }
    // The program itself, and an imported module.
    for path in ["pipe", "/dev/zero", "."] {
        let (code, err) = ammc_in(&dir, &["check", path], None);
        assert_eq!(code, 2, "{path}: {err}");
        assert!(err.contains("amm::io::not_a_file"), "{path}: {err}");
    }
    mkfifo(&dir.join("lib.amm"));
    std::fs::write(dir.join("main.amm"), "use lib.{x}\n").unwrap();
    let (code, err) = ammc_in(&dir, &["check", "main.amm"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::io::not_a_file"), "{err}");
    // Loaders called directly.
    assert!(matches!(
        csv(Path::new("/dev/zero"), "y"),
        Err(DataError::NotAFile { .. })
    ));
    assert!(matches!(
        idx(&dir.join("pipe"), &dir.join("lab.idx")),
        Err(DataError::NotAFile { .. })
    ));
}

#[test]
fn oversized_sources_are_refused_before_reading() {
    let dir = scratch_dir("big-source");
    let line = "param p = 1 // padding padding padding padding padding padding\n";
    let big = line.repeat(ammc::front::MAX_SOURCE_BYTES / line.len() + 1);
    std::fs::write(dir.join("big.amm"), &big).unwrap();
    let start = std::time::Instant::now();
    let (code, err) = ammc_in(&dir, &["check", "big.amm"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("amm::io::too_large"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // As an import too.
    std::fs::rename(dir.join("big.amm"), dir.join("lib.amm")).unwrap();
    std::fs::write(dir.join("main.amm"), "use lib.{p}\n").unwrap();
    let (code, err) = ammc_in(&dir, &["check", "main.amm"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::io::too_large"), "{err}");
}

#[test]
fn gzip_bombs_are_refused_before_inflating() {
    let dir = scratch_dir("bomb");
    // A header claiming 2^32 × 65535 bytes with a few bytes of data: refused for its claim,
    // not read until the stream ends.
    let claim = gzip(&idx_bytes(0x08, &[u32::MAX, 65_535, 1], &[0; 64]));
    std::fs::write(dir.join("img.gz"), &claim).unwrap();
    std::fs::write(dir.join("lab.idx"), idx_bytes(0x08, &[3], &[0, 1, 1])).unwrap();
    let e = idx(&dir.join("img.gz"), &dir.join("lab.idx")).unwrap_err();
    assert!(matches!(e, DataError::TooLarge { .. }), "{e}");
    let e = ammc::data::files::idx_sample_shape(&dir.join("img.gz")).unwrap_err();
    assert!(matches!(e, DataError::TooLarge { .. }), "{e}");
    // A stream far longer than its header: the rest is never inflated.
    let mut long = idx_bytes(0x08, &[3, 2, 2], &[0; 12]);
    long.extend(std::iter::repeat_n(0u8, 64 << 20));
    std::fs::write(dir.join("long.gz"), gzip(&long)).unwrap();
    let e = idx(&dir.join("long.gz"), &dir.join("lab.idx")).unwrap_err();
    assert!(e.to_string().contains("continues after byte 28"), "{e}");
    // A 2 GiB dataset under a 3 GiB address-space limit: `check` refuses it from the header
    // alone, naming the limit, instead of aborting in `run`.
    let two_gib = gzip(&idx_bytes(0x08, &[32_768, 256, 256], &[0; 1024]));
    std::fs::write(dir.join("img.gz"), &two_gib).unwrap();
    let labels = vec![0u8; 32_768];
    std::fs::write(dir.join("lab.idx"), idx_bytes(0x08, &[32_768], &labels)).unwrap();
    std::fs::write(
        dir.join("p.amm"),
        program("idx(images = \"img.gz\", labels = \"lab.idx\")"),
    )
    .unwrap();
    let (code, err) = ammc_in(&dir, &["check", "p.amm"], Some(3 << 20));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("amm::data::too_large") && err.contains("ulimit -v"),
        "{err}"
    );
}

#[test]
fn the_memory_check_uses_the_process_limit() {
    let dir = scratch_dir("rlimit");
    // About 4.4 GiB of training memory (295M parameters with Adam): fits the machine, not a
    // 3 GiB address space.
    std::fs::write(
        dir.join("p.amm"),
        "data d = synthetic(shape = [3, 256, 256], classes = 10, n = 100)\n\
         backbone b { flatten dense(1500) dense(10) }\nmodel m = b\n\
         train t { model = m data = d loss = cross_entropy optimizer = adam batch = 8 }\n",
    )
    .unwrap();
    let need = 4u64 << 30;
    if ammc::check::memory_limit() < need + (1 << 30) {
        return; // a small machine: the physical check already refuses it
    }
    let (code, err) = ammc_in(&dir, &["check", "p.amm"], None);
    assert_eq!(code, 0, "{err}");
    let (code, err) = ammc_in(&dir, &["check", "p.amm"], Some(3 << 20));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("amm::shape::memory") && err.contains("ulimit -v"),
        "{err}"
    );
}

#[test]
fn non_finite_and_out_of_range_values_are_located() {
    let (pi, pl) = (tmp("nan.idx"), tmp("nanl.idx"));
    let mut floats: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_be_bytes()).collect();
    floats[16..20].copy_from_slice(&f32::NAN.to_be_bytes());
    std::fs::write(&pi, idx_bytes(0x0D, &[3, 1, 2], &floats)).unwrap();
    std::fs::write(&pl, idx_bytes(0x08, &[3], &[0, 1, 1])).unwrap();
    let e = idx(&pi, &pl).unwrap_err();
    assert!(matches!(e, DataError::NotFinite { .. }), "{e}");
    assert!(e.to_string().contains("element 4 (byte offset 32)"), "{e}");
    floats[16..20].copy_from_slice(&f32::INFINITY.to_be_bytes());
    std::fs::write(&pi, idx_bytes(0x0D, &[3, 1, 2], &floats)).unwrap();
    assert!(matches!(idx(&pi, &pl), Err(DataError::NotFinite { .. })));
    // f64 values beyond f32 (features and labels).
    let (px, py) = (tmp("big.npy"), tmp("bigy.npy"));
    let xs: Vec<u8> = [1.0f64, 1e39, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&px, npy_bytes("<f8", &[2, 2], false, &xs)).unwrap();
    std::fs::write(&py, npy_bytes("|u1", &[2], false, &[0, 1])).unwrap();
    let e = npy(&px, &py).unwrap_err();
    assert!(matches!(e, DataError::OutOfRange { .. }), "{e}");
    assert!(
        e.to_string().contains("element 1") && e.to_string().contains("1e39"),
        "{e}"
    );
    let ys: Vec<u8> = [0.5f64, f64::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&px, npy_bytes("<f8", &[2, 2], false, &[0u8; 32])).unwrap();
    std::fs::write(&py, npy_bytes("<f8", &[2], false, &ys)).unwrap();
    assert!(matches!(npy(&px, &py), Err(DataError::NotFinite { .. })));
    let p = tmp("big.csv");
    std::fs::write(&p, "x,y\n1,0\n1e39,1\n").unwrap();
    let e = csv(&p, "y").unwrap_err();
    assert!(matches!(e, DataError::OutOfRange { .. }), "{e}");
    assert!(e.to_string().contains("line 3, column 1"), "{e}");
    std::fs::write(&p, "x,y\n1,0\n2,nan\n").unwrap();
    assert!(matches!(csv(&p, "y"), Err(DataError::NotFinite { .. })));
}

#[test]
fn csv_bom_and_duplicate_columns() {
    let p = tmp("bom.csv");
    std::fs::write(&p, "\u{feff}x,label\n1,0\n2,1\n").unwrap();
    assert_eq!(csv(&p, "x").unwrap().features, vec![0.0, 1.0]);
    for text in ["x,x,label\n1,2,0\n", "x,label,label\n1,0,0\n"] {
        std::fs::write(&p, text).unwrap();
        let e = csv(&p, "label").unwrap_err();
        assert!(
            matches!(e, DataError::Parse { line: 1, .. }) && e.to_string().contains("repeats"),
            "{text}: {e}"
        );
    }
}

#[test]
fn data_error_codes_match_their_diagnostics() {
    let errors = [
        csv(Path::new("/dev/zero"), "y").unwrap_err(),
        csv(Path::new("/no/such.csv"), "y").unwrap_err(),
    ];
    for e in errors {
        let code = miette::Diagnostic::code(&e).unwrap().to_string();
        assert_eq!(code, e.code());
        assert!(miette::Diagnostic::help(&e).is_some(), "{e}");
    }
}

#[test]
fn check_compares_label_and_sample_counts() {
    let dir = scratch_dir("counts");
    std::fs::write(dir.join("img.idx"), idx_bytes(0x08, &[3, 2, 2], &[0; 12])).unwrap();
    std::fs::write(dir.join("lab.idx"), idx_bytes(0x08, &[2], &[0, 1])).unwrap();
    std::fs::write(
        dir.join("x.npy"),
        npy_bytes("<f4", &[3, 2], false, &[0; 24]),
    )
    .unwrap();
    std::fs::write(dir.join("y.npy"), npy_bytes("|u1", &[2], false, &[0, 1])).unwrap();
    for data in [
        "idx(images = \"img.idx\", labels = \"lab.idx\")",
        "npy(features = \"x.npy\", labels = \"y.npy\")",
    ] {
        std::fs::write(dir.join("p.amm"), program(data)).unwrap();
        let (code, err) = ammc_in(&dir, &["check", "p.amm"], None);
        assert_eq!(code, 1, "{data}: {err}");
        assert!(err.contains("2 labels for 3 samples"), "{data}: {err}");
    }
}
