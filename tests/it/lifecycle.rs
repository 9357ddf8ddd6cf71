//! The life of a run, through the real binary: output that streams into a pipe, SIGINT
//! that leaves a resumable run (exit 130), SIGKILL at random points followed by `--resume`
//! ending byte-identical to an uninterrupted run on 1 and 2 threads, run directories that
//! always hold one complete run, train blocks that reuse or rerun the blocks they take
//! weights from, and early stopping that keeps the best weights.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A small program whose run takes long enough to interrupt: a wide MLP on the digits.
const PROGRAM: &str = r#"
use std.heads.{classifier}
param epochs: int = 14
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")
backbone f { flatten dense(256) relu dropout(0.2) dense(128) relu }
model net = f -> classifier(classes = 10)
train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = adam(lr = 1e-3)
    schedule = cosine(warmup = 20)
    epochs = epochs
    batch = 16
}
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-life-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_program(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("prog.amm");
    std::fs::write(&p, text).unwrap();
    p
}

fn ammc(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ammc"));
    c.args(args).arg("--color").arg("never");
    c
}

fn run(file: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = ammc(&["run"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn spawn(file: &Path, out: &Path, extra: &[&str]) -> Child {
    ammc(&["run"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Reads `--json` events until one of kind `event` with `epoch == epoch` arrives.
fn wait_for_epoch(lines: &mut impl Iterator<Item = String>, epoch: u64) {
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "epoch" && v["epoch"] == epoch {
            return;
        }
    }
    panic!("the run ended before epoch {epoch}");
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `<out>/fit` is absent or one complete run: a parseable summary whose status is known,
/// a model, and exactly as many metric lines as the summary says epochs completed.
fn assert_complete_or_absent(run_dir: &Path) {
    if !run_dir.exists() {
        return;
    }
    let summary: serde_json::Value = serde_json::from_slice(&read(&run_dir.join("summary.json")))
        .expect("a committed run has a complete summary");
    let status = summary["status"].as_str().unwrap();
    assert!(status == "completed" || status == "interrupted", "{status}");
    ammc::data::safetensors::deserialize(&read(&run_dir.join("model.safetensors")))
        .expect("complete weights");
    let metrics = String::from_utf8(read(&run_dir.join("metrics.jsonl"))).unwrap();
    assert_eq!(
        metrics.lines().count() as u64,
        summary["epochs_completed"].as_u64().unwrap(),
        "metrics.jsonl and summary.json disagree"
    );
    for l in metrics.lines() {
        serde_json::from_str::<serde_json::Value>(l).expect("complete JSON lines");
    }
}

#[test]
fn epoch_lines_stream_into_a_pipe_as_they_happen() {
    let dir = scratch("pipe");
    let file = write_program(&dir, PROGRAM);
    let mut child = spawn(&file, &dir.join("runs"), &["--threads", "1"]);
    let stdout = child.stdout.take().unwrap();
    let t0 = Instant::now();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("epoch") {
            seen.push((t0.elapsed(), line));
            if seen.len() == 1 {
                // The first epoch line arrived while the run goes on.
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "the run had already ended"
                );
            }
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(seen.len(), 14);
    let spread = seen[13].0 - seen[0].0;
    assert!(
        spread > Duration::from_millis(100),
        "all epoch lines arrived together ({spread:?}): output is buffered"
    );
}

#[test]
fn json_mode_prints_one_event_per_line() {
    let dir = scratch("json");
    let file = write_program(&dir, PROGRAM);
    let (code, stdout, stderr) = run(&file, &dir.join("runs"), &["--json", "--set", "epochs=2"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "train_start");
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2);
    assert!(
        kinds.contains(&"final") && kinds.last() == Some(&"wrote"),
        "{kinds:?}"
    );
    let test = events
        .iter()
        .find(|e| e["event"] == "final" && e["split"] == "test")
        .unwrap();
    assert!(test["metrics"]["accuracy"].as_f64().unwrap() > 0.5);
}

#[test]
fn sigint_saves_a_resumable_run_and_resume_matches_an_uninterrupted_one() {
    let dir = scratch("sigint");
    let file = write_program(&dir, PROGRAM);
    let reference = dir.join("reference");
    let (code, _, stderr) = run(&file, &reference, &["--quiet", "--threads", "1"]);
    assert_eq!(code, 0, "{stderr}");

    let out = dir.join("runs");
    let mut child = spawn(
        &file,
        &out,
        &["--json", "--threads", "1", "--checkpoint-every", "1000"],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    wait_for_epoch(&mut lines, 3);
    signal(&child, "-INT");
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("\"interrupted\"")),
        "{rest:?}"
    );
    let run_dir = out.join("fit");
    assert_complete_or_absent(&run_dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&run_dir.join("summary.json"))).unwrap();
    assert_eq!(summary["status"], "interrupted");
    let done = summary["epochs_completed"].as_u64().unwrap();
    assert!((3..14).contains(&done), "{done}");
    assert!(run_dir.join("checkpoint.safetensors").is_file());

    let (code, stdout, stderr) = run(&file, &out, &["--resume", "--threads", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("resumed"), "{stdout}");
    for f in ["model.safetensors", "metrics.jsonl"] {
        assert!(
            read(&run_dir.join(f)) == read(&reference.join("fit").join(f)),
            "{f} differs from the uninterrupted run"
        );
    }
    assert!(!run_dir.join("checkpoint.safetensors").exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&run_dir.join("summary.json"))).unwrap();
    assert_eq!(summary["status"], "completed");
}

/// SIGKILL at pseudo-random moments, each followed by `--resume`, on 1 and 2 threads.
#[test]
fn sigkill_then_resume_is_byte_identical_on_one_and_two_threads() {
    let dir = scratch("sigkill");
    let file = write_program(&dir, PROGRAM);
    let reference = dir.join("reference");
    let (code, _, stderr) = run(&file, &reference, &["--quiet", "--threads", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let want_model = read(&reference.join("fit/model.safetensors"));
    let want_metrics = read(&reference.join("fit/metrics.jsonl"));
    // A small xorshift: the kill points differ between kills but not between test runs.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for threads in ["1", "2"] {
        let out = dir.join(format!("runs{threads}"));
        let mut kills = 0;
        for attempt in 0..3 {
            let extra: Vec<&str> = if attempt == 0 {
                vec!["--quiet", "--threads", threads, "--checkpoint-every", "0"]
            } else {
                vec![
                    "--quiet",
                    "--threads",
                    threads,
                    "--checkpoint-every",
                    "0",
                    "--resume",
                ]
            };
            let mut child = spawn(&file, &out, &extra);
            let mut lines = BufReader::new(child.stdout.take().unwrap())
                .lines()
                .map(|l| l.unwrap());
            // Wait for the run to be under way, then kill after a varying pause.
            let _ = lines.next();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            std::thread::sleep(Duration::from_millis(50 + x % 400));
            let _ = child.kill();
            let _ = child.wait();
            kills += 1;
            assert_complete_or_absent(&out.join("fit"));
        }
        let (code, stdout, stderr) = run(&file, &out, &["--resume", "--threads", threads]);
        assert_eq!(code, 0, "{stderr}");
        assert!(kills == 3, "{stdout}");
        assert!(
            read(&out.join("fit/model.safetensors")) == want_model,
            "weights differ after {kills} kills on {threads} thread(s)"
        );
        assert!(
            read(&out.join("fit/metrics.jsonl")) == want_metrics,
            "metrics differ after {kills} kills on {threads} thread(s)"
        );
    }
}

#[test]
fn a_killed_rerun_leaves_the_previous_run_intact() {
    let dir = scratch("rerun");
    let file = write_program(&dir, PROGRAM);
    let out = dir.join("runs");
    let (code, _, stderr) = run(&file, &out, &["--quiet", "--set", "epochs=2"]);
    assert_eq!(code, 0, "{stderr}");
    let before = read(&out.join("fit/summary.json"));
    // Killed after its second epoch of 14: mid-run whatever the machine's speed.
    let mut child = spawn(&file, &out, &["--json", "--checkpoint-every", "0"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    wait_for_epoch(&mut lines, 2);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(read(&out.join("fit/summary.json")), before);
    assert_complete_or_absent(&out.join("fit"));
}

#[test]
fn an_unwritable_out_dir_fails_before_training() {
    let dir = scratch("unwritable");
    let file = write_program(&dir, PROGRAM);
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let t0 = Instant::now();
    let (code, stdout, stderr) = run(&file, &blocker.join("runs"), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(
        !stdout.contains("epoch"),
        "trained before failing: {stdout}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
}

const PIPELINE: &str = r#"
use std.heads.{classifier}
param pre_epochs: int = 3
data low = builtin.digits(classes = [0, 1, 2, 3, 4], split = [0.8, 0.2], normalize = "scale")
data high = builtin.digits(classes = [5, 6, 7, 8, 9], split = [0.8, 0.2], normalize = "scale")
backbone features { flatten dense(32) relu }
model pre = features -> classifier(classes = 5)
model tuned = features(weights = pretrain, frozen = true) -> classifier(classes = 5)
train pretrain { model = pre data = low loss = cross_entropy optimizer = adam epochs = pre_epochs }
train finetune { model = tuned data = high loss = cross_entropy optimizer = adam epochs = 2 }
"#;

#[test]
fn a_block_runs_the_blocks_it_takes_weights_from_when_missing_or_stale() {
    let dir = scratch("pipeline");
    let file = write_program(&dir, PIPELINE);
    let out = dir.join("elsewhere");
    let (code, stdout, stderr) = run(&file, &out, &["finetune", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("train pretrain"), "{stdout}");
    assert!(stdout.contains("train finetune"), "{stdout}");
    let pre = read(&out.join("pretrain/model.safetensors"));
    // The frozen backbone of finetune is exactly pretrain's.
    let tensors = |b: &[u8]| ammc::data::safetensors::deserialize(b).unwrap();
    let fine = tensors(&read(&out.join("finetune/model.safetensors")));
    for t in tensors(&pre)
        .iter()
        .filter(|t| t.name.starts_with("features."))
    {
        let f = fine.iter().find(|f| f.name == t.name).unwrap();
        assert_eq!(f.data, t.data, "{} changed", t.name);
    }

    let (code, stdout, stderr) = run(&file, &out, &["finetune", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("pretrain: up to date"), "{stdout}");
    assert!(!stdout.contains("train pretrain"), "{stdout}");

    // A changed definition of pretrain makes it stale.
    let (code, stdout, stderr) = run(
        &file,
        &out,
        &["finetune", "--quiet", "--set", "pre_epochs=4"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("train pretrain"), "{stdout}");
    // So does an edit of the file.
    write_program(
        &dir,
        &PIPELINE.replace("dense(32)", "dense(32) relu dense(32)"),
    );
    let (code, stdout, stderr) = run(&file, &out, &["finetune", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("train pretrain"), "{stdout}");
    // --force reruns an up-to-date dependency.
    let (code, stdout, _) = run(&file, &out, &["finetune", "--quiet", "--force"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("train pretrain"), "{stdout}");
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let out = scratch("early");
    let (code, stdout, stderr) = run(Path::new("examples/early_stopping.amm"), &out, &["--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&out.join("fit/summary.json"))).unwrap();
    let es = &summary["settings"]["early_stop"];
    let stopped_at = summary["epochs_completed"].as_u64().unwrap();
    let best_epoch = es["best_epoch"].as_u64().unwrap();
    assert_eq!(es["stopped"], true, "{stdout}");
    assert!(
        stopped_at < 200 && best_epoch + 8 == stopped_at,
        "{summary}"
    );
    // The model is the best epoch's weights, and its validation loss is the best one.
    assert_eq!(
        read(&out.join("fit/model.safetensors")),
        read(&out.join("fit/best.safetensors"))
    );
    let metrics = String::from_utf8(read(&out.join("fit/metrics.jsonl"))).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let best_val = lines[best_epoch as usize - 1]["val"]["loss"]
        .as_f64()
        .unwrap();
    let final_val = summary["metrics"]["val"]["loss"].as_f64().unwrap();
    assert!(
        (best_val - final_val).abs() < 1e-6,
        "{best_val} vs {final_val}"
    );
    // The plateau schedule lowered the rate at least once.
    let lrs: Vec<f64> = lines.iter().map(|l| l["lr"].as_f64().unwrap()).collect();
    assert!(lrs.last().unwrap() < &lrs[0], "{lrs:?}");
    let rounded: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "epoch {} train_loss {:.6} val_loss {:.6} lr {:.6e}",
                l["epoch"],
                l["train_loss"].as_f64().unwrap(),
                l["val"]["loss"].as_f64().unwrap(),
                l["lr"].as_f64().unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!(format!(
        "{}\nstopped after epoch {stopped_at}, best epoch {best_epoch}",
        rounded.join("\n")
    ));
}

#[test]
fn integer_targets_train_as_regression() {
    let out = scratch("intreg");
    let (code, stdout, stderr) = run(
        Path::new("examples/integer_targets.amm"),
        &out,
        &["--quiet"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("mae") && !stdout.contains("accuracy"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&out.join("fit/summary.json"))).unwrap();
    let test_mae = summary["metrics"]["test"]["mae"].as_f64().unwrap();
    // Predicting the mean of 0..512 totals is off by far more.
    assert!(test_mae < 25.0, "{test_mae}");
}

#[test]
fn resume_refuses_a_checkpoint_of_a_changed_block() {
    let dir = scratch("stale-checkpoint");
    let file = write_program(&dir, PROGRAM);
    let out = dir.join("runs");
    let mut child = spawn(
        &file,
        &out,
        &["--json", "--threads", "1", "--checkpoint-every", "1000"],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    wait_for_epoch(&mut lines, 2);
    signal(&child, "-INT");
    let _: Vec<String> = lines.collect();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    // The learning rate changed since the checkpoint: continuing would mix two runs.
    let changed = PROGRAM.replace("lr = 1e-3", "lr = 2e-3");
    write_program(&dir, &changed);
    let (code, _, stderr) = run(&file, &out, &["--resume"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::run::resume"), "{stderr}");
    assert!(stderr.contains("without `--resume`"), "{stderr}");
    // The interrupted run is still there, untouched.
    assert_complete_or_absent(&out.join("fit"));
}
