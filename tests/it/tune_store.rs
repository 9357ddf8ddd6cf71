//! Studies shared by many workers (issue 13): journals Optuna's workers appended to, several
//! `ammc run` processes on one journal (each slot once, the budget across workers, a killed
//! worker's trial retried), and the remaining tuning bugs: genetic duplicates, failure text,
//! the expression limit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ammc::tune::journal::{Journal, Replay};
use ammc::tune::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn float(name: &str, low: f64, high: f64) -> Dimension {
    Dimension {
        name: name.into(),
        dist: Distribution::Float {
            low,
            high,
            log: false,
        },
    }
}

fn branin_space() -> Space {
    Space::new(vec![float("x", -5.0, 10.0), float("y", 0.0, 15.0)]).unwrap()
}

fn branin_obj(p: &Params) -> Result<f64, String> {
    Ok(branin(p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
}

fn cfg(strategy: Strategy, journal: Option<PathBuf>) -> StudyConfig {
    StudyConfig {
        name: "s".into(),
        space: branin_space(),
        strategy,
        direction: Direction::Minimize,
        seed: 5,
        jobs: 1,
        journal,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(5),
        redis: None,
        prune: None,
    }
}

/// The operations an Optuna 4/5 worker (`study.optimize`) writes for one trial, exactly as
/// `JournalStorage` does: an empty CREATE_TRIAL, one SET_TRIAL_PARAM (op 5) per suggested
/// param with the distribution as `distribution_to_json` prints it, a user attribute (op 8),
/// then SET_TRIAL_STATE_VALUES.
fn optuna_trial(trial_id: usize, x: f64, y: f64, value: f64) -> Vec<serde_json::Value> {
    let dist = |low: f64, high: f64| {
        format!(
            r#"{{"name": "FloatDistribution", "attributes": {{"step": null, "low": {low:?}, "high": {high:?}, "log": false}}}}"#
        )
    };
    let w = "7b8f3a2e-1c4d-4e5f-9a0b-123456789abc-140230";
    vec![
        serde_json::json!({"op_code": 4, "worker_id": w, "study_id": 0, "datetime_start": "2026-12-03T10:00:00.000000+00:00"}),
        serde_json::json!({"op_code": 5, "worker_id": w, "trial_id": trial_id, "param_name": "x", "param_value_internal": x, "distribution": dist(-5.0, 10.0)}),
        serde_json::json!({"op_code": 5, "worker_id": w, "trial_id": trial_id, "param_name": "y", "param_value_internal": y, "distribution": dist(0.0, 15.0)}),
        serde_json::json!({"op_code": 8, "worker_id": w, "trial_id": trial_id, "user_attr": {"note": "python"}}),
        serde_json::json!({"op_code": 6, "worker_id": w, "trial_id": trial_id, "state": 1, "values": [value], "datetime_complete": "2026-12-03T10:00:01.000000+00:00"}),
    ]
}

/// Bug 5: a journal that Optuna's own workers appended to (op 5 params, attributes) resumes;
/// their trials count against the budget and are part of the result.
#[test]
fn journal_extended_by_optuna_workers_resumes() {
    let d = dir("optuna-ops");
    let path = d.join("study.journal");
    run_study(
        &cfg(Strategy::Random { trials: 4 }, Some(path.clone())),
        &branin_obj,
        &mut |_| {},
    )
    .unwrap();
    // Two trials by a Python worker, one with the best value anyone can reach.
    let mut ops = optuna_trial(4, std::f64::consts::PI, 2.275, 0.397887);
    ops.extend(optuna_trial(5, 1.0, 1.0, branin(1.0, 1.0)));
    // A study attribute (op 3) Optuna writes for its own bookkeeping.
    ops.push(
        serde_json::json!({"op_code": 3, "worker_id": "w", "study_id": 0, "system_attr": {"k": 1}}),
    );
    Journal::new(&path).append(&ops).unwrap();
    let r = run_study(
        &cfg(Strategy::Random { trials: 10 }, Some(path.clone())),
        &branin_obj,
        &mut |_| {},
    )
    .unwrap();
    // The budget of 10 counts the two Python trials: 4 + 2 + 4 new ones.
    assert_eq!(r.trials.len(), 10);
    assert_eq!(r.complete(), 10);
    let foreign: Vec<&Trial> = r.trials.iter().filter(|t| t.slot.is_none()).collect();
    assert_eq!(foreign.len(), 2);
    assert_eq!(foreign[0].number, 4);
    assert_eq!(
        foreign[0].params,
        vec![
            ParamValue::Float(std::f64::consts::PI),
            ParamValue::Float(2.275)
        ]
    );
    assert_eq!(r.best_trial().unwrap().number, 4);
    // The ammc slots 4..6 ran after them, with the numbers after theirs.
    let slots: Vec<Option<usize>> = r.trials.iter().map(|t| t.slot).collect();
    assert_eq!(
        slots,
        [0, 1, 2, 3]
            .map(Some)
            .into_iter()
            .chain([None, None])
            .chain([4, 5, 6, 7].map(Some))
            .collect::<Vec<_>>()
    );
    // A Python trial over another space is named in the error.
    let mut other = optuna_trial(10, 0.5, 0.5, 1.0);
    other[1]["distribution"] = serde_json::json!(
        r#"{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.0, "high": 1.0, "log": false}}"#
    );
    Journal::new(&path).append(&other).unwrap();
    let err = run_study(
        &cfg(Strategy::Random { trials: 12 }, Some(path)),
        &branin_obj,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("trial 10 has `x`"), "{err}");
}

/// Bug 5, the rest of Optuna's replay: a deleted study's name can be used again, and its
/// trials are not the new study's.
#[test]
fn deleted_study_is_not_resumed() {
    let d = dir("deleted");
    let path = d.join("study.journal");
    run_study(
        &cfg(Strategy::Random { trials: 3 }, Some(path.clone())),
        &branin_obj,
        &mut |_| {},
    )
    .unwrap();
    Journal::new(&path)
        .append(&[serde_json::json!({"op_code": 1, "study_id": 0})])
        .unwrap();
    let r = run_study(
        &cfg(Strategy::Random { trials: 2 }, Some(path.clone())),
        &branin_obj,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.trials.len(), 2);
    assert!(r.trials.iter().all(|t| !t.resumed));
    let replay: Replay = Journal::new(&path).replay().unwrap();
    assert_eq!(replay.studies.len(), 2);
    assert!(replay.studies[0].deleted && !replay.studies[1].deleted);
    assert_eq!(replay.trials.iter().filter(|t| t.study_id == 1).count(), 2);
}

/// Bug 6: genetic search never evaluates a point it has already evaluated (on a space of
/// 21 × 21 ints, where copies of elites were common).
#[test]
fn genetic_does_not_repeat_points() {
    let int = |name: &str| Dimension {
        name: name.into(),
        dist: Distribution::Int {
            low: 0,
            high: 20,
            log: false,
            step: 1,
        },
    };
    let mut c = cfg(
        Strategy::Genetic {
            population: 10,
            generations: 20,
        },
        None,
    );
    c.space = Space::new(vec![int("a"), int("b")]).unwrap();
    let obj = |p: &Params| -> Result<f64, String> {
        let (a, b) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        Ok((a - 13.0).powi(2) + (b - 4.0).powi(2))
    };
    let r = run_study(&c, &obj, &mut |_| {}).unwrap();
    assert_eq!(r.trials.len(), 200);
    let mut seen = std::collections::BTreeSet::new();
    for t in &r.trials {
        let key = format!("{:?}", t.params);
        assert!(
            seen.insert(key),
            "trial {} repeats {:?}",
            t.number,
            t.params
        );
    }
    // Still a search: it finds the optimum.
    assert_eq!(r.best_trial().unwrap().value, Some(0.0));
}

/// Bug 7: a failed train trial says why in words (not a Debug dump), in its event and in the
/// trial table.
#[test]
fn failure_reasons_are_diagnostic_text() {
    use ammc::runtime::train::{Divergence, TrainError};
    let e = TrainError::Diverged(Divergence {
        epoch: 2,
        step: 3,
        loss: f32::INFINITY,
        first_bad: Some("dense1".into()),
        in_weights: false,
    });
    assert_eq!(
        e.to_string(),
        "the loss became inf at epoch 2, step 3 (first non-finite values in `dense1`)"
    );
    let space = branin_space();
    let c = cfg(Strategy::Random { trials: 3 }, None);
    let obj = |p: &Params| -> Result<f64, String> {
        if p[0].as_f64().unwrap() > 0.0 {
            Err("training failed: the loss became NaN at epoch 1, step 4".into())
        } else {
            Ok(1.0)
        }
    };
    let r = run_study(&c, &obj, &mut |_| {}).unwrap();
    let table = ammc::tune::report::table(&space, &r);
    let header = table.lines().next().unwrap();
    assert!(header.ends_with("error"), "{table}");
    let failed = r
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Fail)
        .count();
    assert!(failed > 0, "{table}");
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("FAIL") && l.ends_with("the loss became NaN at epoch 1, step 4"))
            .count(),
        failed,
        "{table}"
    );
    // Without failures there is no error column.
    let ok = run_study(&c, &|_: &Params| Ok(1.0), &mut |_| {}).unwrap();
    let t = ammc::tune::report::table(&space, &ok);
    assert!(
        t.lines().next().unwrap().trim_end().ends_with("seconds"),
        "{t}"
    );
}

/// A train objective that diverges shows the reason text through the real binary.
#[test]
fn diverging_train_trial_shows_the_reason() {
    let d = dir("diverge");
    let file = d.join("t.amm");
    std::fs::write(
        &file,
        r#"
use std.heads.{classifier}
param lr = 1.0
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")
backbone mlp {
    flatten
    dense(32) relu
}
model net = mlp -> classifier(classes = 10)
train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = adam(lr = lr)
    epochs = 2
    batch = 32
}
tune search {
    run = fit
    space {
        lr ~ log_uniform(1e29, 1e30)
    }
    strategy = random(trials = 1)
    objective = maximize(val.accuracy)
}
"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args(["run", file.to_str().unwrap(), "search", "--out"])
        .arg(d.join("out"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("training failed: the "), "{text}");
    assert!(
        !text.contains("Divergence {") && !text.contains("Diverged("),
        "{text}"
    );
}

/// Bug 8: the operator limit is per bracket level, as the reference now says: 101 operators
/// at one level are refused with a message saying so; the same count split by brackets is
/// fine.
#[test]
fn operator_limit_is_per_bracket_level() {
    let sum = |n: usize| vec!["1"; n + 1].join(" + ");
    let codes = |src: &str| -> Vec<String> {
        let fe = ammc::front::front_end("t.amm", src.as_bytes(), None, &[]);
        match fe.program {
            Ok(_) => Vec::new(),
            Err(d) => d
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect(),
        }
    };
    let flat = codes(&format!("param p = {}\n", sum(101)));
    assert_eq!(flat.len(), 1, "{flat:?}");
    assert!(
        flat[0].starts_with("amm::parse::too_long")
            && flat[0].contains("101 operators at one bracket level"),
        "{flat:?}"
    );
    assert!(codes(&format!("param p = {}\n", sum(100))).is_empty());
    let split = format!("param p = {} + ({})\n", sum(60), sum(60));
    assert!(codes(&split).is_empty());
}

// ---- many processes on one journal ----

const BRANIN_TUNE: &str = r#"
param x = 0.0
param y = 0.0

tune search {
    space {
        x ~ uniform(-5, 10)
        y ~ uniform(0, 15)
    }
    strategy = random(trials = 40)
    objective = minimize((y - 5.1 / (4 * pi ^ 2) * x ^ 2 + 5 / pi * x - 6) ^ 2 + 10 * (1 - 1 / (8 * pi)) * cos(x) + 10)
    seed = 3
}
"#;

fn worker(file: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args(["run", file.to_str().unwrap(), "search", "--quiet", "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(c: Child) -> String {
    let o = c.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    text
}

/// `(slot, exact value)` of every COMPLETE trial, by slot.
fn complete_slots(replay: &Replay) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = replay
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| {
            (
                t.system_attrs["ammc:slot"].as_u64().unwrap(),
                t.system_attrs["ammc:value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Three `ammc run` processes on one journal: each slot runs once, the study stops at its
/// budget, and the trials are those of a single process (values bit for bit).
#[test]
fn three_workers_share_one_study() {
    let d = dir("three");
    let file = d.join("b.amm");
    std::fs::write(&file, BRANIN_TUNE).unwrap();
    let single = finish(worker(&file, &d.join("single")));
    let workers: Vec<Child> = (0..3).map(|_| worker(&file, &d.join("shared"))).collect();
    let outputs: Vec<String> = workers.into_iter().map(finish).collect();
    let replay = Journal::new(&d.join("shared/search/study.journal"))
        .replay()
        .unwrap();
    assert_eq!(replay.studies.len(), 1);
    assert_eq!(replay.trials.len(), 40, "{outputs:?}");
    let reference = Journal::new(&d.join("single/search/study.journal"))
        .replay()
        .unwrap();
    assert_eq!(complete_slots(&replay), complete_slots(&reference));
    let slots: std::collections::BTreeSet<u64> =
        complete_slots(&replay).iter().map(|(s, _)| *s).collect();
    assert_eq!(slots.len(), 40);
    // Every worker reports the whole study's best, the same as the single process.
    let best = |text: &str| {
        text.lines()
            .find(|l| l.contains("best trial"))
            .map(|l| l.split("value").nth(1).unwrap().trim().to_string())
    };
    for o in &outputs {
        assert_eq!(best(o), best(&single), "{o}");
    }
}

/// A train study whose trials take a while, for killing a worker mid-trial.
const SLOW_TUNE: &str = r#"
use std.heads.{classifier}
param lr = 1e-2
data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")
backbone mlp {
    flatten
    dense(64) relu
}
model net = mlp -> classifier(classes = 10)
train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = adam(lr = lr)
    epochs = 15
    batch = 32
}
tune search {
    run = fit
    space {
        lr ~ log_uniform(1e-4, 1e-1)
    }
    strategy = random(trials = 6)
    objective = maximize(val.accuracy)
}
"#;

/// SIGKILL one of three workers while it evaluates a trial: another worker sees at once that
/// its process is gone, fails the trial and runs the slot again; the study still ends with
/// exactly its budget of COMPLETE trials, one per slot.
#[test]
fn killed_worker_trial_is_retried_by_another() {
    kill_one_of_three(None);
}

/// The same on Redis (skipped without a server, see `tune_redis.rs`).
#[test]
fn killed_worker_trial_is_retried_by_another_on_redis() {
    match std::env::var("AMMC_TEST_REDIS") {
        Ok(url) if !url.is_empty() => kill_one_of_three(Some(&url)),
        _ => eprintln!("skipped: no Redis server (set AMMC_TEST_REDIS)"),
    }
}

fn kill_one_of_three(redis: Option<&str>) {
    let d = dir(if redis.is_some() { "kill3r" } else { "kill3" });
    let file = d.join("slow.amm");
    // A study name of its own, so that reruns on one Redis server do not meet.
    let name = format!("search{}", std::process::id());
    std::fs::write(
        &file,
        SLOW_TUNE.replace("tune search", &format!("tune {name}")),
    )
    .unwrap();
    let out = d.join("out");
    let journal = out.join(format!("{name}/study.journal"));
    let read = || -> Option<Replay> {
        match redis {
            Some(url) => {
                ammc::tune::redis_store::RedisJournal::open(&ammc::tune::redis_store::RedisTarget {
                    url: url.to_string(),
                    prefix: String::new(),
                })
                .ok()?
                .replay()
                .ok()
                .map(|mut r| {
                    // Only this study's trials.
                    let id = r.studies.iter().position(|s| s.name == name);
                    r.trials.retain(|t| Some(t.study_id) == id);
                    r
                })
            }
            None => Journal::new(&journal).replay().ok(),
        }
    };
    let spawn = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ammc"));
        c.args(["run", file.to_str().unwrap(), &name, "--quiet", "--out"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = redis {
            c.args(["--storage", url]);
        }
        c.spawn().unwrap()
    };
    let mut victim = spawn();
    let prefix = format!("ammc-{}@", victim.id());
    // Wait until the victim holds a RUNNING trial, then start the others and kill it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let running_of_victim = |r: &Replay| {
        r.trials.iter().any(|t| {
            t.state == TrialState::Running
                && t.worker_id
                    .as_deref()
                    .is_some_and(|w| w.starts_with(&prefix))
        })
    };
    loop {
        if let Some(r) = read()
            && running_of_victim(&r)
        {
            break;
        }
        assert!(
            victim.try_wait().unwrap().is_none(),
            "the victim ended early"
        );
        assert!(Instant::now() < deadline, "no trial started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let others: Vec<Child> = (0..2).map(|_| spawn()).collect();
    std::thread::sleep(Duration::from_millis(50));
    // Freeze the victim, and kill it only while it holds a RUNNING trial (between two
    // claims it holds none).
    let victim_pid = victim.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &victim_pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    loop {
        signal("-STOP");
        if read().is_some_and(|r| running_of_victim(&r)) {
            break;
        }
        signal("-CONT");
        assert!(
            victim.try_wait().unwrap().is_none(),
            "the victim ended early"
        );
        assert!(Instant::now() < deadline, "the victim never ran a trial");
        std::thread::sleep(Duration::from_millis(2));
    }
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    for o in others {
        finish(o);
    }
    let r = read().unwrap();
    let killed: Vec<_> = r
        .trials
        .iter()
        .filter(|t| {
            t.worker_id
                .as_deref()
                .is_some_and(|w| w.starts_with(&prefix))
        })
        .filter(|t| t.state == TrialState::Fail)
        .collect();
    assert_eq!(killed.len(), 1, "{:?}", r.trials);
    assert_eq!(killed[0].system_attrs["ammc:stale"], true);
    let slot = killed[0].system_attrs["ammc:slot"].as_u64().unwrap();
    let complete = complete_slots(&r);
    assert_eq!(complete.len(), 6, "{complete:?}");
    assert!(complete.iter().any(|(s, _)| *s == slot));
    let distinct: std::collections::BTreeSet<u64> = complete.iter().map(|(s, _)| *s).collect();
    assert_eq!(distinct.len(), 6);
}
