//! Studies in Redis (Optuna's `JournalRedisBackend` layout). Needs a server: CI starts one
//! and sets `AMMC_TEST_REDIS=redis://127.0.0.1:PORT`; without it the tests that need one
//! print that they are skipped. The errors for a bad or unreachable `--storage` always run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ammc::tune::redis_store::RedisTarget;
use ammc::tune::*;

fn server() -> Option<String> {
    match std::env::var("AMMC_TEST_REDIS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped: no Redis server (set AMMC_TEST_REDIS=redis://127.0.0.1:PORT; .ci/run starts one)"
            );
            None
        }
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(strategy: Strategy, redis: Option<RedisTarget>) -> StudyConfig {
    StudyConfig {
        name: "s".into(),
        space: Space::new(vec![
            Dimension {
                name: "x".into(),
                dist: Distribution::Float {
                    low: -5.0,
                    high: 10.0,
                    log: false,
                },
            },
            Dimension {
                name: "y".into(),
                dist: Distribution::Float {
                    low: 0.0,
                    high: 15.0,
                    log: false,
                },
            },
        ])
        .unwrap(),
        strategy,
        direction: Direction::Minimize,
        seed: 9,
        jobs: 2,
        journal: None,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(5),
        redis,
        prune: None,
    }
}

fn obj(p: &Params) -> Result<f64, String> {
    Ok(branin(p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
}

fn ammc(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// A study in Redis resumes like a journal file, and holds the same trials as one in memory.
#[test]
fn redis_study_runs_and_resumes() {
    let Some(url) = server() else { return };
    let target = RedisTarget {
        url,
        prefix: format!("ammc-test-{}-resume", std::process::id()),
    };
    let first = run_study(
        &cfg(Strategy::Random { trials: 12 }, Some(target.clone())),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(first.complete(), 12);
    let more = run_study(
        &cfg(Strategy::Random { trials: 20 }, Some(target)),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(more.complete(), 20);
    assert_eq!(more.trials.iter().filter(|t| t.resumed).count(), 12);
    let memory = run_study(
        &cfg(Strategy::Random { trials: 20 }, None),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    let key = |r: &StudyResult| -> Vec<(Option<usize>, Params, Option<u64>)> {
        r.trials
            .iter()
            .map(|t| (t.slot, t.params.clone(), t.value.map(f64::to_bits)))
            .collect()
    };
    assert_eq!(key(&more), key(&memory));
}

/// Three `ammc run --storage redis://…` workers share one study: each slot once, exactly the
/// budget, the same trials as one process.
#[test]
fn three_workers_on_redis() {
    let Some(url) = server() else { return };
    let d = dir("three");
    let name = format!("search_{}", std::process::id());
    let src = format!(
        "param x = 0.0\nparam y = 0.0\ntune {name} {{\n    space {{\n        x ~ uniform(-5, 10)\n        y ~ uniform(0, 15)\n    }}\n    strategy = random(trials = 30)\n    objective = minimize((x - 1) ^ 2 + (y - 2) ^ 2)\n}}\n"
    );
    let file = d.join("t.amm");
    std::fs::write(&file, src).unwrap();
    let file = file.to_str().unwrap().to_string();
    let (code, single) = ammc(&[
        "run",
        &file,
        &name,
        "--quiet",
        "--out",
        d.join("single").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{single}");
    let workers: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_ammc"))
                .args(["run", &file, &name, "--quiet", "--storage", &url, "--out"])
                .arg(d.join("shared"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        let o = w.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let best = |p: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let shared = best(d.join(format!("shared/{name}/best.json")));
    let alone = best(d.join(format!("single/{name}/best.json")));
    assert_eq!(shared["trials"], 30, "{shared}");
    assert_eq!(shared["complete"], 30);
    assert_eq!(shared["best"]["value"], alone["best"]["value"]);
    assert_eq!(shared["best"]["params"], alone["best"]["params"]);
}

/// `--storage` accepts only Redis URLs, and an unreachable server is a clear error.
#[test]
fn bad_or_unreachable_storage_is_an_error() {
    let (code, text) = ammc(&[
        "run",
        "examples/tune_quickstart.amm",
        "--storage",
        "postgres://x",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("only redis://"), "{text}");
    let d = dir("unreachable");
    let (code, text) = ammc(&[
        "run",
        "examples/branin.amm",
        "random_search",
        "--storage",
        "redis://127.0.0.1:1",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("study storage redis://127.0.0.1:1"), "{text}");
}

fn tune_source(name: &str, storage: &str) -> String {
    format!(
        "param x = 0.0\ntune {name} {{\n    space {{\n        x ~ uniform(-1, 1)\n    }}\n    strategy = random(trials = 4)\n    objective = minimize(x ^ 2)\n    {storage}\n}}\n"
    )
}

/// `storage = redis(url, prefix)` in a tune block is checked like any builtin call; a URL
/// that is not Redis's is an error at its span.
#[test]
fn storage_field_is_checked() {
    let d = dir("field");
    let write = |n: &str, storage: &str| {
        let f = d.join(format!("{n}.amm"));
        std::fs::write(&f, tune_source("t", storage)).unwrap();
        f.to_str().unwrap().to_string()
    };
    let ok = write(
        "ok",
        r#"storage = redis("redis://127.0.0.1:6379", prefix = "team")"#,
    );
    assert_eq!(ammc(&["check", &ok]).0, 0);
    let (code, text) = ammc(&["check", &write("typo", r#"storage = rediss("redis://x")"#)]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("did you mean `redis`"), "{text}");
    let (code, text) = ammc(&["check", &write("num", "storage = redis(url = 3)")]);
    assert_eq!(code, 1, "{text}");
    let bad = write("http", r#"storage = redis("http://127.0.0.1:6379")"#);
    let out = d.join("o");
    // Caught by `check` already, and so by `run` before anything runs.
    for args in [
        vec!["check", &bad],
        vec!["run", &bad, "--out", out.to_str().unwrap()],
    ] {
        let (code, text) = ammc(&args);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("amm::tune::storage") && text.contains("is not a Redis URL"),
            "{text}"
        );
    }
}

/// The block's storage is used (and resumed from) when no `--storage` is given.
#[test]
fn storage_field_puts_the_study_in_redis() {
    let Some(url) = server() else { return };
    let d = dir("field-run");
    let f = d.join("t.amm");
    let storage = format!(
        r#"storage = redis("{url}", prefix = "ammc-field-{}")"#,
        std::process::id()
    );
    std::fs::write(&f, tune_source("t", &storage)).unwrap();
    let f = f.to_str().unwrap();
    let (code, text) = ammc(&["run", f, "--out", d.join("a").to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("storage {url}")), "{text}");
    assert!(!d.join("a/t/study.journal").exists());
    // Another output directory, the same study: read back from Redis.
    let (code, text) = ammc(&["run", f, "--out", d.join("b").to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("resumed: 4 trials"), "{text}");
}
