//! The `ammc` binary: exit codes 0 (ok), 1 (diagnostics), 2 (usage, I/O, unavailable).

use std::process::Command;

use crate::support::ammc;

#[test]
fn check_valid_examples_exits_0() {
    let mut files: Vec<String> = std::fs::read_dir("examples")
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".amm"))
        .collect();
    files.sort();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let (code, _, err) = ammc(&args);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn every_error_example_exits_1_with_a_code_and_excerpt() {
    for e in std::fs::read_dir("examples/errors").unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "amm") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let mut args = vec![
            "check".to_string(),
            "--color".into(),
            "never".into(),
            p.display().to_string(),
        ];
        for l in text.lines().take_while(|l| l.starts_with("//")) {
            if let Some(kv) = l.strip_prefix("// set: ") {
                args.push("--set".into());
                args.push(kv.trim().to_string());
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = ammc(&args);
        assert_eq!(code, 1, "{}: {err}", p.display());
        assert!(err.contains("amm::"), "{}: {err}", p.display());
        assert!(
            err.contains("╭─["),
            "no source excerpt for {}: {err}",
            p.display()
        );
    }
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(ammc(&["check", "does/not/exist.amm"]).0, 2);
    assert_eq!(ammc(&["frobnicate"]).0, 2);
    assert_eq!(ammc(&["check"]).0, 2);
    assert_eq!(ammc(&["run", "examples/quickstart.amm", "nope"]).0, 2);
    assert_eq!(
        ammc(&["check", "examples/quickstart.amm", "--set", "novalue"]).0,
        2
    );
}

#[test]
fn set_overrides_are_checked() {
    let (code, out, _) = ammc(&[
        "check",
        "--print",
        "examples/quickstart.amm",
        "--set",
        "lr=0.01",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("param lr: float = 0.01  (default 0.001)"),
        "{out}"
    );
    let (code, _, err) = ammc(&["check", "examples/quickstart.amm", "--set", "lr=\"fast\""]);
    assert_eq!(code, 1);
    assert!(err.contains("amm::set::type"), "{err}");
    let (code, _, err) = ammc(&["check", "examples/quickstart.amm", "--set", "lrr=0.1"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `lr`"), "{err}");
}

#[test]
fn invalid_utf8_file_is_a_diagnostic() {
    let dir = std::env::temp_dir().join(format!("ammc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.amm");
    std::fs::write(&f, b"param x = \xff\xfe 1\n").unwrap();
    let (code, _, err) = ammc(&["check", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("amm::io::utf8"), "{err}");
}

#[test]
fn backends_and_threads_are_selectable_and_recorded() {
    let dir = std::env::temp_dir().join(format!("ammc-cli-backend-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let mut accuracy = Vec::new();
    for args in [
        &["--backend", "reference"][..],
        &["--backend", "jit", "--threads", "1"][..],
        &["--threads", "2", "--gemm", "cranelift"][..],
    ] {
        let mut all = vec!["run", "examples/quickstart.amm", "--quiet", "--out", out];
        all.extend_from_slice(args);
        let (code, stdout, err) = ammc(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("fit/summary.json")).unwrap())
                .unwrap();
        let want = if args[1] == "reference" {
            "reference"
        } else {
            "jit"
        };
        assert_eq!(summary["backend"], want, "{stdout}");
        accuracy.push(summary["metrics"]["test"]["accuracy"].as_f64().unwrap());
    }
    // Different backends, same training run up to rounding: the test accuracy (on 270
    // samples) agrees within a couple of samples.
    for a in &accuracy {
        assert!((a - accuracy[0]).abs() <= 0.01, "{accuracy:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, err) = ammc(&["run", "examples/quickstart.amm", "--threads", "0"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = ammc(&["run", "examples/quickstart.amm", "--backend", "gpu"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn emit_clif_prints_every_generated_kernel() {
    let (code, out, err) = ammc(&["emit", "clif", "examples/lenet5.amm"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    assert!(header.starts_with("; train fit: batch 64, "), "{header}");
    let functions = out.matches("\nfunction %amm_").count();
    let declared: usize = header
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(functions, declared, "{header}");
    // The GEMMs are vectorised with fused multiply-adds, the convolution unrolled.
    assert!(
        out.contains("fma.f32x4") || out.contains(" fma "),
        "no fma in the IR"
    );
    assert!(out.contains("function %amm_im2col_"));
    assert!(out.contains("function %amm_maxpool_"));
    assert!(
        !out.contains("run by the reference ops"),
        "LeNet is fully generated"
    );
    let (code, _, err) = ammc(&["emit", "clif", "examples/lenet5.amm", "nope"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = ammc(&["emit", "clif", "examples/missing.amm"]);
    assert_eq!(code, 2);
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `ammc run … | head -1`: the reader goes away before the run prints its results.
    let dir = std::env::temp_dir().join(format!("ammc-cli-pipe-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args([
            "run",
            "examples/quickstart.amm",
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--set` takes effect where its param is declared: params computed from it follow.
#[test]
fn set_values_flow_into_derived_params() {
    let dir = std::env::temp_dir().join(format!("ammc-set-derived-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.amm");
    std::fs::write(
        &file,
        "param width: int = 4\nparam wide: int = width * 2\n\
         data d = builtin.digits()\nbackbone f { flatten dense(wide) relu dense(10) }\n\
         model m = f\ntrain t { model = m data = d loss = cross_entropy optimizer = adam }\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, out, err) = ammc(&["check", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[N, 8]"), "{out}");
    let (code, out, err) = ammc(&["check", path, "--set", "width=16"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[N, 32]") && !out.contains("[N, 8]"), "{out}");
    // Setting the derived param itself still wins over its formula.
    let (code, out, err) = ammc(&["check", path, "--set", "width=16", "--set", "wide=5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[N, 5]"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
