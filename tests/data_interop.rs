//! Interop with numpy and Python safetensors, both directions, via
//! `tests/data_numpy_check.py`.
//!
//! Needs `python3` with `numpy` and `safetensors`. Without them the test reports that it is
//! skipping and passes — unless `AMMC_REQUIRE_PYTHON=1`, which turns their absence into a
//! failure (set it where the Python packages are installed, e.g. in CI).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ammc::data::safetensors::{self, TensorRef};
use ammc::data::{LabelOptions, NpySource, npy};
use ndarray::Array2;
use serde_json::{Value, json};

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn python_ready() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import numpy, safetensors"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("AMMC_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "AMMC_REQUIRE_PYTHON=1 but `{} -c 'import numpy, safetensors'` fails",
            python()
        );
        eprintln!(
            "skipping numpy/safetensors interop: python3 with numpy and safetensors not found"
        );
    }
    ok
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// Writes the Rust side's files and their expected contents.
fn write_rust_files(dir: &Path) {
    let a = Array2::from_shape_vec(
        (3, 4),
        vec![
            0.0f32,
            -1.5,
            3.25,
            1e-30,
            65504.0,
            -0.0,
            7.0,
            1.0 / 3.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            -2.0,
            0.1,
        ],
    )
    .unwrap();
    npy::write(&dir.join("rust_f32.npy"), a.view()).unwrap();
    let b = Array2::from_shape_fn((2, 5), |(i, j)| (i as f64 - 0.5) * (j as f64) / 7.0);
    npy::write(&dir.join("rust_f64.npy"), b.view()).unwrap();
    // A transposed (Fortran-layout) view must be written in logical order.
    let bt = b.t();
    npy::write(&dir.join("rust_f64_t.npy"), bt).unwrap();
    let w: Vec<f32> = (0..6).map(|i| i as f32 * 0.75 - 1.0).collect();
    let bias = vec![0.5f32, -0.125, 3.0];
    let scalar = vec![42.0f32];
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "ammc".to_string());
    meta.insert("epoch".to_string(), "7".to_string());
    safetensors::write(
        &dir.join("rust.safetensors"),
        &[
            TensorRef {
                name: "layer0.weight",
                shape: &[3, 2],
                data: &w,
            },
            TensorRef {
                name: "layer0.bias",
                shape: &[3],
                data: &bias,
            },
            TensorRef {
                name: "step",
                shape: &[],
                data: &scalar,
            },
        ],
        &meta,
    )
    .unwrap();
    let vals = |it: Vec<f64>| json!(it);
    let expected = json!({
        "npy": {
            "rust_f32.npy": {"shape": [3, 4], "dtype": "float32",
                              "values": vals(a.iter().map(|&v| v as f64).collect())},
            "rust_f64.npy": {"shape": [2, 5], "dtype": "float64",
                              "values": vals(b.iter().copied().collect())},
            "rust_f64_t.npy": {"shape": [5, 2], "dtype": "float64",
                                "values": vals(bt.iter().copied().collect())},
        },
        "safetensors": {
            "tensors": {
                "layer0.weight": {"shape": [3, 2], "values": vals(w.iter().map(|&v| v as f64).collect())},
                "layer0.bias": {"shape": [3], "values": vals(bias.iter().map(|&v| v as f64).collect())},
                "step": {"shape": [], "values": [42.0]},
            },
            "metadata": {"format": "ammc", "epoch": "7"},
        },
    });
    std::fs::write(dir.join("rust_expected.json"), expected.to_string()).unwrap();
}

#[test]
fn numpy_and_safetensors_read_ours_and_we_read_theirs() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_rust_files(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data_numpy_check.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "python check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("py_expected.json")).unwrap(),
    )
    .unwrap();
    let npys = expected["npy"].as_object().unwrap();
    assert!(npys.len() >= 20, "expected every dtype/order variant");
    for (name, exp) in npys {
        let arr = npy::read_f64(&dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(arr.shape, shape(&exp["shape"]), "{name}");
        assert_eq!(arr.data, floats(&exp["values"]), "{name}");
    }

    let pair = npy::load(&NpySource {
        features: dir.path().join("pair_x.npy"),
        labels: dir.path().join("pair_y.npy"),
        label_options: LabelOptions::default(),
        sample_shape: None,
    })
    .unwrap();
    assert_eq!(pair.sample_shape(), &[1, 4, 4]);
    let want: Vec<f32> = floats(&expected["pair"]["features"])
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_eq!(pair.features_slice(), want.as_slice());
    let labels: Vec<u32> = floats(&expected["pair"]["labels"])
        .iter()
        .map(|&v| v as u32)
        .collect();
    assert_eq!(pair.labels().as_classes().unwrap().indices, labels);

    let st = safetensors::read(&dir.path().join("py.safetensors")).unwrap();
    let exp_st = &expected["safetensors"];
    assert_eq!(st.tensors.len(), 2);
    for (name, t) in &st.tensors {
        let e = &exp_st["tensors"][name];
        assert_eq!(t.shape, shape(&e["shape"]), "{name}");
        let want: Vec<f32> = floats(&e["values"]).iter().map(|&v| v as f32).collect();
        assert_eq!(t.data, want, "{name}");
    }
    assert_eq!(st.metadata.get("by").map(String::as_str), Some("python"));
    let e = safetensors::read(&dir.path().join("py_f16.safetensors")).unwrap_err();
    assert_eq!(e.code_str(), "amm::data::safetensors_dtype");
    assert!(e.to_string().contains("F16"), "{e}");
}
