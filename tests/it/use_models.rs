//! Using trained models: `ammc eval` reproduces `ammc run`'s test metrics, the training
//! normalisation travels in `model.safetensors`, `ammc predict` on raw inputs equals the
//! model on the pipeline's normalised test split, and the run-time errors (wrong input
//! shape, weights of another model, no trained weights).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::ammc;
use ammc::data::{Dataset, Labels};
use ammc::runtime::backend::BackendKind;
use ammc::runtime::infer::{Predictions, Predictor, read_model_file};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-use-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One training run of each example, shared by the tests: `<dir>/quickstart/fit/…` and
/// `<dir>/regression/fit/…`.
fn trained() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch("trained");
        for ex in ["quickstart", "regression"] {
            let out = d.join(ex);
            let (code, _, err) = ammc(&[
                "run",
                &format!("examples/{ex}.amm"),
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
        }
        d
    })
}

fn model_of(path: &str) -> (ammc::check::ModelSummary, ammc::data::Splits) {
    let bytes = std::fs::read(path).unwrap();
    let fe = ammc::front::front_end(path, &bytes, Some(Path::new(path)), &[]);
    let program = fe.program.unwrap_or_else(|_| panic!("{path} resolves"));
    let models = ammc::check::check(&program, &fe.sources).unwrap();
    let splits = ammc::data::load(&models[0].spec.data, Path::new("examples")).unwrap();
    (models[0].clone(), splits)
}

fn eval_json(file: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        file,
        "fit",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, err) = ammc(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&stdout).unwrap()
}

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("fit/summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn eval_reproduces_the_run_test_metrics_exactly() {
    let out = trained().join("quickstart");
    let r = eval_json("examples/quickstart.amm", &out, &[]);
    let test = &summary(&out)["metrics"]["test"];
    let c = &r["report"]["classification"];
    assert_eq!(c["accuracy"].as_f64(), test["accuracy"].as_f64());
    assert_eq!(r["report"]["loss"].as_f64(), test["loss"].as_f64());
    // Confusion rows sum to the class counts of the test split.
    let (_, splits) = model_of("examples/quickstart.amm");
    let Labels::Classes { ids, classes } = &splits.test.as_ref().unwrap().labels else {
        panic!("classes")
    };
    let confusion = c["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), *classes);
    let mut diagonal = 0;
    for (k, row) in confusion.iter().enumerate() {
        let row: Vec<u64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let count = ids.iter().filter(|i| **i as usize == k).count() as u64;
        assert_eq!(row.iter().sum::<u64>(), count, "class {k}");
        assert_eq!(c["per_class"][k]["support"].as_u64(), Some(count));
        diagonal += row[k];
    }
    assert_eq!(
        diagonal as f64 / ids.len() as f64,
        c["accuracy"].as_f64().unwrap()
    );
    // Top-1 is the accuracy and top-k never decreases.
    let top: Vec<f64> = c["top_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0], c["accuracy"].as_f64().unwrap());
    assert!(top.windows(2).all(|w| w[0] <= w[1]), "{top:?}");
    // The table form says the same.
    let (code, text, err) = ammc(&[
        "eval",
        "examples/quickstart.amm",
        "fit",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "accuracy {:.4}",
            test["accuracy"].as_f64().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("confusion matrix"), "{text}");
}

#[test]
fn regression_eval_reports_mse_mae_and_r2() {
    let out = trained().join("regression");
    let r = eval_json("examples/regression.amm", &out, &[]);
    let test = &summary(&out)["metrics"]["test"];
    let m = &r["report"]["regression"];
    assert_eq!(m["mse"].as_f64(), test["mse"].as_f64());
    assert_eq!(m["mae"].as_f64(), test["mae"].as_f64());
    // R² from the predictions on the raw test inputs, computed here.
    let (model, splits) = model_of("examples/regression.amm");
    let raw = raw_test(&model);
    let plan = ammc::lower::lower(&model, model.spec.batch);
    let file = read_model_file(&out.join("fit/model.safetensors")).unwrap();
    let mut p = Predictor::new(BackendKind::Reference, &model, &plan, &file).unwrap();
    let Predictions::Values { values, .. } = p.predict(raw.features.clone()).unwrap() else {
        panic!("values")
    };
    let Labels::Values { values: y, .. } = &splits.test.as_ref().unwrap().labels else {
        panic!("values")
    };
    let mean = y.iter().map(|v| f64::from(*v)).sum::<f64>() / y.len() as f64;
    let sse: f64 = values
        .iter()
        .zip(y)
        .map(|(p, t)| f64::from(p - t).powi(2))
        .sum();
    let sst: f64 = y.iter().map(|t| (f64::from(*t) - mean).powi(2)).sum();
    let r2 = m["r2"].as_f64().unwrap();
    assert!(
        (r2 - (1.0 - sse / sst)).abs() < 1e-6,
        "{r2} vs {}",
        1.0 - sse / sst
    );
    assert!(r2 > 0.0 && r2 <= 1.0, "{r2}");
}

/// The test split of `model`'s data without normalisation (the split does not depend on it).
fn raw_test(model: &ammc::check::ModelSummary) -> Dataset {
    let mut spec = model.spec.data.clone();
    spec.args.remove("normalize");
    let raw = ammc::data::load(&spec, Path::new("examples")).unwrap();
    assert!(raw.normalization.is_none());
    raw.test.unwrap()
}

#[test]
fn the_normalisation_travels_in_the_model_file() {
    let out = trained().join("quickstart");
    let file = read_model_file(&out.join("fit/model.safetensors")).unwrap();
    let (_, splits) = model_of("examples/quickstart.amm");
    let n = file.normalization.as_ref().expect("normalisation stored");
    assert_eq!(Some(n), splits.normalization.as_ref());
    assert_eq!(n.kind, "scale");
    assert_eq!(n.len(), 64);
    assert!(n.scale.iter().all(|s| *s == 1.0 / 16.0), "{:?}", n.scale);
    let file = read_model_file(&trained().join("regression/fit/model.safetensors")).unwrap();
    let n = file.normalization.expect("standardize stored");
    assert_eq!(n.kind, "standardize");
    assert!(n.shift.iter().any(|s| *s != 0.0));
}

#[test]
fn predict_on_raw_inputs_equals_the_model_on_the_normalised_test_split() {
    let out = trained().join("quickstart");
    let (model, splits) = model_of("examples/quickstart.amm");
    let test = splits.test.as_ref().unwrap();
    let raw = raw_test(&model);
    assert_ne!(raw.features, test.features);
    let plan = ammc::lower::lower(&model, model.spec.batch);
    let file = read_model_file(&out.join("fit/model.safetensors")).unwrap();
    let mut p = Predictor::new(BackendKind::default(), &model, &plan, &file).unwrap();
    let from_raw = p.outputs(raw.features.clone()).unwrap();
    let from_split = p.outputs_normalized(&test.features).unwrap();
    assert_eq!(from_raw.len(), test.len() * 10);
    assert!(
        from_raw
            .iter()
            .zip(&from_split)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );

    // The CLI on an NPY of the raw test samples: its classes give eval's accuracy, and its
    // NPY probabilities are the softmax of the outputs above.
    let dir = scratch("predict");
    let input = dir.join("raw.npy");
    std::fs::write(&input, npy_f32(&raw.features, &[raw.len(), 1, 8, 8])).unwrap();
    let csv = dir.join("pred.csv");
    let npy = dir.join("pred.npy");
    for o in [&csv, &npy] {
        let (code, _, err) = ammc(&[
            "predict",
            "examples/quickstart.amm",
            "fit",
            "--input",
            input.to_str().unwrap(),
            "--output",
            o.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split(',').count(), 11);
    let Labels::Classes { ids, .. } = &test.labels else {
        panic!()
    };
    let rows: Vec<Vec<f32>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), test.len());
    let correct = rows
        .iter()
        .zip(ids)
        .filter(|(r, t)| r[0] as u32 == **t)
        .count();
    let accuracy = summary(&out)["metrics"]["test"]["accuracy"]
        .as_f64()
        .unwrap();
    assert_eq!(correct as f64 / test.len() as f64, accuracy);
    let probs = std::fs::read(&npy).unwrap();
    let hlen = u16::from_le_bytes([probs[8], probs[9]]) as usize;
    let values: Vec<f32> = probs[10 + hlen..]
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), from_split.len());
    for (r, row) in rows.iter().enumerate() {
        let expect = ammc::runtime::infer::softmax(&from_split[r * 10..(r + 1) * 10]);
        assert_eq!(&row[1..], &expect[..], "CSV row {r} round-trips exactly");
        assert_eq!(&values[r * 10..(r + 1) * 10], &expect[..]);
        assert!((expect.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    // A CSV of flat rows (64 values each) is accepted too.
    let flat = dir.join("raw.csv");
    let header: Vec<String> = (0..64).map(|j| format!("x{j}")).collect();
    let mut body = header.join(",") + "\n";
    for row in raw.features.chunks(64).take(5) {
        body += &row
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",");
        body += "\n";
    }
    std::fs::write(&flat, body).unwrap();
    let (code, stdout, err) = ammc(&[
        "predict",
        "examples/quickstart.amm",
        "fit",
        "--input",
        flat.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        stdout.lines().skip(1).collect::<Vec<_>>(),
        text.lines().skip(1).take(5).collect::<Vec<_>>()
    );
}

#[test]
fn eval_on_another_data_declaration_applies_the_model_normalisation() {
    let out = trained().join("quickstart");
    let dir = scratch("other-data");
    let file = dir.join("quickstart.amm");
    let src = std::fs::read_to_string("examples/quickstart.amm").unwrap()
        + "\ndata all_digits = builtin.digits(split = [0.5, 0.5], seed = 7)\n";
    std::fs::write(&file, src).unwrap();
    let r = eval_json(file.to_str().unwrap(), &out, &["--data", "all_digits"]);
    assert_eq!(r["report"]["samples"].as_u64(), Some(1797));
    // Raw digits (0..16) score like the normalised training data only because the
    // stored scale is applied.
    let acc = r["report"]["classification"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.95, "{acc}");
    let (code, _, err) = ammc(&[
        "eval",
        file.to_str().unwrap(),
        "fit",
        "--data",
        "nope",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("amm::eval::data"), "{err}");
}

#[test]
fn predict_rejects_inputs_of_the_wrong_shape() {
    let out = trained().join("quickstart");
    let dir = scratch("shape");
    let input = dir.join("wrong.npy");
    std::fs::write(&input, npy_f32(&vec![0.5; 2 * 3 * 8 * 8], &[2, 3, 8, 8])).unwrap();
    let (code, stdout, err) = ammc(&[
        "predict",
        "examples/quickstart.amm",
        "fit",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(stdout.is_empty());
    assert!(err.contains("amm::predict::shape"), "{err}");
    assert!(
        err.contains("[N, 3, 8, 8]") && err.contains("[N, 1, 8, 8]"),
        "{err}"
    );
    assert!(err.contains("help:") && err.contains("╭─["), "{err}");
    // A CSV row of the wrong width names the flat shape.
    let csv = dir.join("wrong.csv");
    std::fs::write(&csv, "a,b,c\n1,2,3\n").unwrap();
    let (code, _, err) = ammc(&[
        "predict",
        "examples/quickstart.amm",
        "fit",
        "--input",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("[N, 3]") && err.contains("64 values"), "{err}");
    // An unreadable input is a located data error, not a panic.
    let bad = dir.join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY junk").unwrap();
    let (code, _, err) = ammc(&[
        "predict",
        "examples/quickstart.amm",
        "fit",
        "--input",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::data::"), "{err}");
}

#[test]
fn eval_with_weights_of_another_model_is_an_error() {
    let weights = trained().join("regression/fit/model.safetensors");
    let (code, _, err) = ammc(&[
        "eval",
        "examples/quickstart.amm",
        "fit",
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::weights::mismatch"), "{err}");
    assert!(err.contains("trained for `ink`"), "{err}");
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn eval_and_predict_without_trained_weights_say_how_to_get_them() {
    let dir = scratch("untrained");
    for cmd in [
        vec!["eval", "examples/quickstart.amm", "fit"],
        vec![
            "predict",
            "examples/quickstart.amm",
            "fit",
            "--input",
            "examples/data/digit_halves.csv",
        ],
    ] {
        let mut args = cmd.clone();
        args.extend(["--out", dir.to_str().unwrap()]);
        let (code, _, err) = ammc(&args);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("amm::weights::missing") || err.contains("amm::predict::shape"),
            "{err}"
        );
    }
    let (_, _, err) = ammc(&[
        "eval",
        "examples/quickstart.amm",
        "fit",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        err.contains("amm::weights::missing") && err.contains("ammc run FILE fit"),
        "{err}"
    );
    let (code, _, err) = ammc(&["eval", "examples/quickstart.amm", "fitt"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `fit`"), "{err}");
}

/// `.npy` bytes of an f32 array.
fn npy_f32(data: &[f32], shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn onnx_export_has_a_dynamic_batch_leading_normalisation_and_no_dropout() {
    use ammc::export::onnx::proto::ModelProto;
    use prost::Message;
    let out = trained().join("regression");
    let dir = scratch("onnx");
    let path = dir.join("model.onnx");
    let (code, _, err) = ammc(&[
        "export",
        "onnx",
        "examples/regression.amm",
        "fit",
        "-o",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let m = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!(m.opset_import[0].version, Some(ammc::export::onnx::OPSET));
    let g = m.graph.unwrap();
    let ops: Vec<&str> = g
        .node
        .iter()
        .map(|n| n.op_type.as_deref().unwrap())
        .collect();
    assert_eq!(&ops[..2], &["Sub", "Mul"], "{ops:?}");
    assert!(!ops.contains(&"Dropout"), "{ops:?}");
    assert_eq!(ops.iter().filter(|o| **o == "Gemm").count(), 3, "{ops:?}");
    assert!(ops.contains(&"Erf"), "gelu decomposed: {ops:?}");
    use ammc::export::onnx::proto::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) = &g.input[0].r#type.as_ref().unwrap().value else {
        panic!("tensor input")
    };
    let dims: Vec<_> = t
        .shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| d.value.clone().unwrap())
        .collect();
    assert_eq!(dims, vec![Value::DimParam("N".into()), Value::DimValue(32)]);
    // Every weight of the model file is an initializer, with its values.
    let file = read_model_file(&out.join("fit/model.safetensors")).unwrap();
    for t in &file.tensors {
        let init = g
            .initializer
            .iter()
            .find(|i| i.name.as_deref() == Some(&t.name))
            .unwrap();
        let raw = init.raw_data.as_ref().unwrap();
        let values: Vec<f32> = raw
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(values, t.data, "{}", t.name);
    }
}

#[test]
fn onnx_export_without_trained_weights_is_an_error() {
    let dir = scratch("onnx-untrained");
    let path = dir.join("model.onnx");
    let (code, _, err) = ammc(&[
        "export",
        "onnx",
        "examples/cnn.amm",
        "fit",
        "-o",
        path.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("amm::weights::missing") && err.contains("help:"),
        "{err}"
    );
    assert!(!path.exists());
}

/// A small CNN on the digits (two conv stages, one of them not fused with an activation),
/// trained for two epochs: `(source file, out dir)`.
fn trained_cnn() -> &'static (PathBuf, PathBuf) {
    static RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let d = scratch("cnn");
        let file = d.join("cnn.amm");
        std::fs::write(
            &file,
            "use std.heads.{classifier}\n\
             data digits = builtin.digits(split = [0.8, 0.2], normalize = \"scale\")\n\
             backbone features {\n    conv(6, kernel = 3, pad = 1) relu\n    maxpool(2)\n    \
             conv(5, kernel = 3)\n    flatten\n}\n\
             model net = features -> classifier(classes = 10)\n\
             train fit { model = net data = digits loss = cross_entropy optimizer = adam epochs = 2 batch = 32 }\n",
        )
        .unwrap();
        let out = d.join("runs");
        let (code, _, err) = ammc(&[
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        (file, out)
    })
}

/// 9 raw digits (0..16) from the shipped data, as an NPY file in `dir`.
fn raw_digits(dir: &Path) -> PathBuf {
    let (model, _) = model_of("examples/quickstart.amm");
    let raw = raw_test(&model);
    let input = dir.join("x.npy");
    std::fs::write(&input, npy_f32(&raw.features[..9 * 64], &[9, 1, 8, 8])).unwrap();
    input
}

#[test]
fn features_npy_has_the_checker_shape_of_each_stage_and_layer() {
    let (file, out) = trained_cnn();
    let dir = scratch("features");
    let input = raw_digits(&dir);
    let bytes = std::fs::read(file).unwrap();
    let fe = ammc::front::front_end("cnn.amm", &bytes, Some(file), &[]);
    let model = ammc::check::check(&fe.program.unwrap(), &fe.sources).unwrap()[0].clone();
    let shape_of = |layer: &str| {
        model
            .layers
            .iter()
            .find(|l| l.name == layer)
            .unwrap()
            .output
            .0
            .clone()
    };
    let run = |name: &str| {
        let path = dir.join(format!("{name}.npy"));
        let (code, _, err) = ammc(&[
            "predict",
            file.to_str().unwrap(),
            "fit",
            "--input",
            input.to_str().unwrap(),
            "--features",
            name,
            "--output",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{name}: {err}");
        ammc::data::files::samples(&path).unwrap()
    };
    // Stages end at their last layer; layers are their own outputs.
    for (name, layer) in [
        ("features", "features.flatten1"),
        ("features.relu1", "features.relu1"),
        ("features.maxpool1", "features.maxpool1"),
        ("features.conv2", "features.conv2"),
        ("classifier", "classifier.dense1"),
    ] {
        let s = run(name);
        assert_eq!(s.len(), 9, "{name}");
        assert_eq!(s.sample_shape, shape_of(layer), "{name}");
    }
    assert_eq!(shape_of("features.relu1"), [6, 8, 8]);
    // A ReLU output is never negative; a conv without activation has negative values.
    assert!(run("features.relu1").features.iter().all(|v| *v >= 0.0));
    assert!(run("features.conv2").features.iter().any(|v| *v < 0.0));
    // The classifier stage's activations are the logits: their softmax is `predict`'s.
    let logits = run("classifier").features;
    let probs_path = dir.join("p.npy");
    let (code, _, err) = ammc(&[
        "predict",
        file.to_str().unwrap(),
        "fit",
        "--input",
        input.to_str().unwrap(),
        "--output",
        probs_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let probs = ammc::data::files::samples(&probs_path).unwrap().features;
    for (row, p) in logits.chunks(10).zip(probs.chunks(10)) {
        let soft = ammc::runtime::infer::softmax(row);
        for (a, b) in soft.iter().zip(p) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
    // The flattened stage output is the last pool's maps, row-major.
    let flat = run("features").features;
    assert_eq!(flat, run("features.conv2").features);
}

#[test]
fn feature_maps_are_png_grids_that_decode() {
    let (file, out) = trained_cnn();
    let dir = scratch("maps");
    let input = raw_digits(&dir);
    let maps = dir.join("maps");
    let (code, _, err) = ammc(&[
        "predict",
        file.to_str().unwrap(),
        "fit",
        "--input",
        input.to_str().unwrap(),
        "--feature-maps",
        maps.to_str().unwrap(),
        "--output",
        dir.join("p.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // One grid per conv layer: conv1 fused with relu1 (6 maps 8×8), conv2 alone (5 maps 2×2).
    let mut names: Vec<String> = std::fs::read_dir(&maps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["features.conv2.png", "features.relu1.png"]);
    for (name, c, h) in [("features.relu1.png", 6, 8), ("features.conv2.png", 5, 2)] {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(maps.join(name)).unwrap(),
        ));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, hgt, _) = ammc::export::feature_maps::grid_size(c, h, h);
        assert_eq!(
            (info.width as usize, info.height as usize),
            (w, hgt),
            "{name}"
        );
        assert_eq!(info.color_type, png::ColorType::Rgb);
        // Not blank: the maps of a digit have more than the background and one colour.
        let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        colours.sort();
        colours.dedup();
        assert!(colours.len() > 3, "{name}: {} colours", colours.len());
    }
    // A model without conv layers has no maps to draw.
    let (code, _, err) = ammc(&[
        "predict",
        "examples/quickstart.amm",
        "fit",
        "--input",
        input.to_str().unwrap(),
        "--feature-maps",
        maps.to_str().unwrap(),
        "--out",
        trained().join("quickstart").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no conv layer"), "{err}");
}

#[test]
fn unknown_features_name_lists_the_available_ones() {
    let (file, out) = trained_cnn();
    let dir = scratch("features-unknown");
    let input = raw_digits(&dir);
    let run = |name: &str, output: &str| {
        ammc(&[
            "predict",
            file.to_str().unwrap(),
            "fit",
            "--input",
            input.to_str().unwrap(),
            "--features",
            name,
            "--output",
            dir.join(output).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let (code, _, err) = run("featurs", "f.npy");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("amm::predict::features"), "{err}");
    assert!(err.contains("did you mean `features`?"), "{err}");
    assert!(
        err.contains("features.maxpool1") && err.contains("classifier.dense1"),
        "{err}"
    );
    // A dense or conv layer fused with its activation points at the activation.
    let (code, _, err) = run("features.conv1", "f.npy");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ask for `features.relu1`"), "{err}");
    // Activations are arrays: the output must be NPY.
    let (code, _, err) = run("features", "f.csv");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--output FILE.npy"), "{err}");
    assert!(!dir.join("f.npy").exists());
}

/// Every `examples/errors/use/*.amm` is a mistake made when *using* a model: its
/// `// command:` line (with `{file}` for the file itself) is run with the real binary from
/// the crate root, must fail with exit code 1 and a located diagnostic with a help line,
/// and the rendered error is snapshotted.
#[test]
fn command_error_examples_report() {
    insta::glob!("../../examples", "errors/use/*.amm", |path| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let rel = path.strip_prefix(root).unwrap_or(path);
        let text = std::fs::read_to_string(path).unwrap();
        let command = text
            .lines()
            .find_map(|l| l.strip_prefix("// command: "))
            .unwrap_or_else(|| panic!("{} has no `// command:` line", rel.display()))
            .replace("{file}", &rel.display().to_string());
        let out = Command::new(env!("CARGO_BIN_EXE_ammc"))
            .args(command.split_whitespace())
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "80")
            .output()
            .expect("run ammc");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}:\n{stderr}");
        assert!(out.stdout.is_empty(), "{command}");
        assert!(stderr.starts_with("amm::"), "{command}:\n{stderr}");
        assert!(
            stderr.contains("╭─[") && stderr.contains("help:"),
            "{stderr}"
        );
        insta::assert_snapshot!(format!(
            "COMMAND\nammc {command}\nSOURCE\n{text}\nERROR\n{stderr}"
        ));
    });
}

#[test]
fn export_data_writes_the_normalised_splits_training_sees() {
    let dir = scratch("export-data");
    let (code, _, err) = ammc(&[
        "export",
        "data",
        "examples/cnn.amm",
        "fit",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, splits) = model_of("examples/cnn.amm");
    let named = [
        ("train", Some(&splits.train)),
        ("val", splits.val.as_ref()),
        ("test", splits.test.as_ref()),
    ];
    for (name, d) in named {
        let d = d.expect("cnn.amm has three splits");
        let x = ammc::data::files::samples(&dir.join(format!("{name}_x.npy"))).unwrap();
        assert_eq!(x.sample_shape, [1, 8, 8], "{name}");
        assert_eq!(
            x.features, d.features,
            "{name}: the same normalised values, bit for bit"
        );
        let bytes = std::fs::read(dir.join(format!("{name}_y.npy"))).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
        assert!(
            header.contains("'<i8'") && header.contains(&format!("({},)", d.len())),
            "{header}"
        );
        let labels: Vec<u32> = bytes[10 + header_len..]
            .chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32)
            .collect();
        let Labels::Classes { ids, .. } = &d.labels else {
            panic!("digits are classes")
        };
        assert_eq!(&labels, ids, "{name}");
    }
}
