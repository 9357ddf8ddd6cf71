//! Training end to end with the reference backend: accuracy on the shipped digits,
//! bit-identical reruns, a snapshot of a short run, divergence diagnostics, and run outputs
//! that survive being killed.

use std::process::Command;

use ammc::front::front_end;
use ammc::runtime::train::{Progress, TrainResult, train};

fn train_file(path: &str, set: &[(&str, &str)]) -> TrainResult {
    let bytes = std::fs::read(path).unwrap();
    let set: Vec<_> = set
        .iter()
        .map(|(n, v)| ammc::resolve::Override {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    let fe = front_end(path, &bytes, None, &set);
    let program = fe.program.unwrap_or_else(|_| panic!("{path} resolves"));
    let models =
        ammc::check::check(&program, &fe.sources).unwrap_or_else(|_| panic!("{path} checks"));
    let splits = ammc::data::load(&models[0].spec.data, std::path::Path::new(".")).unwrap();
    train(&models[0], &splits, &mut |_: Progress| {}).unwrap_or_else(|e| panic!("{e:?}"))
}

fn metric(r: &TrainResult, split: &str) -> f64 {
    r.finals
        .iter()
        .find(|(s, _)| s == split)
        .and_then(|(_, m)| m.accuracy)
        .unwrap()
}

#[test]
fn quickstart_mlp_reaches_96_percent_on_digits() {
    let r = train_file("examples/quickstart.amm", &[]);
    assert!(
        metric(&r, "test") >= 0.96,
        "test accuracy {}",
        metric(&r, "test")
    );
    assert_eq!(r.epochs.len(), 30);
    assert!(r.epochs[29].train_loss < r.epochs[0].train_loss / 10.0);
}

#[test]
fn small_cnn_reaches_97_percent_on_digits() {
    let r = train_file("examples/cnn.amm", &[]);
    assert!(
        metric(&r, "test") >= 0.97,
        "test accuracy {}",
        metric(&r, "test")
    );
}

#[test]
fn reruns_are_bit_identical() {
    let a = train_file("examples/stdlib_models.amm", &[]);
    let b = train_file("examples/stdlib_models.amm", &[]);
    assert_eq!(a.epochs, b.epochs);
    assert_eq!(a.tensors, b.tensors);
    let c = train_file("examples/stdlib_models.amm", &[("hidden", "40")]);
    assert_ne!(a.epochs, c.epochs);
}

#[test]
fn short_run_metrics_snapshot() {
    let src = "use std.heads.{classifier}\n\
               data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 3, normalize = \"scale\")\n\
               backbone f { conv(4, kernel = 3, pad = 1) relu maxpool(2) flatten dense(16) relu dropout(0.2) batchnorm }\n\
               model m = f -> classifier(classes = 10)\n\
               train t { model = m data = digits loss = cross_entropy(label_smoothing = 0.1) \
               optimizer = sgd(lr = 0.05, momentum = 0.9, nesterov = true) schedule = cosine(warmup = 5) epochs = 3 batch = 64 clip_norm = 5.0 seed = 11 }\n";
    let fe = front_end("short.amm", src.as_bytes(), None, &[]);
    let program = fe.program.unwrap();
    let models = ammc::check::check(&program, &fe.sources).unwrap();
    let splits = ammc::data::load(&models[0].spec.data, std::path::Path::new(".")).unwrap();
    let r = train(&models[0], &splits, &mut |_: Progress| {}).unwrap();
    // Six significant digits: stable on this machine type, readable in review.
    let lines: Vec<String> = r
        .epochs
        .iter()
        .map(|e| {
            let v = e.val.as_ref().unwrap();
            format!(
                "epoch {} train_loss {:.6} val_loss {:.6} val_accuracy {:.6} lr {:.6e}",
                e.epoch,
                e.train_loss,
                v.loss,
                v.accuracy.unwrap(),
                e.lr
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn divergence_is_a_diagnostic_naming_the_step() {
    let dir = std::env::temp_dir().join(format!("ammc-diverge-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args([
            "run",
            "examples/quickstart.amm",
            "--quiet",
            "--color",
            "never",
            "--set",
            "lr=1e30",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("amm::train::diverged"), "{err}");
    assert!(err.contains("at epoch 1, step"), "{err}");
}

#[test]
fn killed_runs_leave_complete_files_or_none() {
    let dir = std::env::temp_dir().join(format!("ammc-kill-{}", std::process::id()));
    for delay_ms in [150u64, 400, 900] {
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ammc"))
            .args(["run", "examples/cnn.amm", "--quiet", "--out"])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let run = dir.join("fit");
        for entry in std::fs::read_dir(&run).into_iter().flatten().flatten() {
            let p = entry.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "temporary file left visible as a result: {name}"
            );
            let bytes = std::fs::read(&p).unwrap();
            match name.as_str() {
                "metrics.jsonl" => {
                    for line in String::from_utf8(bytes).unwrap().lines() {
                        serde_json::from_str::<serde_json::Value>(line)
                            .expect("complete JSON lines");
                    }
                }
                "summary.json" => {
                    serde_json::from_slice::<serde_json::Value>(&bytes).expect("complete summary");
                }
                "model.safetensors" | "best.safetensors" | "checkpoint.safetensors" => {
                    ammc::data::safetensors::deserialize(&bytes).expect("complete weights");
                }
                "curves.svg" => assert!(bytes.ends_with(b"</svg>\n") || bytes.ends_with(b"</svg>")),
                other => panic!("unexpected file {other}"),
            }
        }
    }
}
