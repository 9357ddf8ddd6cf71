//! Journal storage and resume: a crashed study (torn journal, RUNNING trials) resumes to
//! exactly the requested number of COMPLETE trials with the suggestions of an uninterrupted run.

use std::path::PathBuf;
use std::time::Duration;

use ammc::tune::journal::Journal;
use ammc::tune::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-tune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn space() -> Space {
    Space::new(vec![
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
        Dimension {
            name: "k".into(),
            dist: Distribution::Choice(vec![ParamValue::Int(1), ParamValue::Int(2)]),
        },
    ])
    .unwrap()
}

fn obj(p: &Params) -> Result<f64, String> {
    let k = p[2].as_f64().unwrap();
    Ok(branin(p[0].as_f64().unwrap(), p[1].as_f64().unwrap()) * k)
}

fn cfg(strategy: Strategy, journal: Option<PathBuf>, grace: u64) -> StudyConfig {
    StudyConfig {
        name: "s".into(),
        space: space(),
        strategy,
        direction: Direction::Minimize,
        seed: 11,
        jobs: 2,
        journal,
        heartbeat_grace: Duration::from_secs(grace),
        heartbeat_interval: Duration::from_secs(5),
        redis: None,
        prune: None,
    }
}

fn complete_params(r: &StudyResult) -> Vec<(Option<usize>, Params, u64)> {
    let mut v: Vec<_> = r
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| (t.slot, t.params.clone(), t.value.unwrap().to_bits()))
        .collect();
    v.sort_by_key(|t| t.0);
    v
}

#[test]
fn journal_round_trip_and_rerun_is_a_no_op() {
    let d = dir("roundtrip");
    let path = d.join("study.journal");
    let strategy = Strategy::Bayes {
        trials: 14,
        init: 6,
        batch: 1,
    };
    let memory = run_study(&cfg(strategy.clone(), None, 60), &obj, &mut |_| {}).unwrap();
    let first = run_study(
        &cfg(strategy.clone(), Some(path.clone()), 60),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(complete_params(&memory), complete_params(&first));
    let replay = Journal::new(&path).replay().unwrap();
    assert_eq!(replay.studies.len(), 1);
    assert_eq!(replay.trials.len(), 14);
    assert!(
        replay
            .trials
            .iter()
            .all(|t| t.state == TrialState::Complete)
    );
    // Categorical params are stored as the index, like Optuna.
    assert!(
        replay
            .trials
            .iter()
            .all(|t| t.params["k"] == 0.0 || t.params["k"] == 1.0)
    );
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    let mut ran = 0;
    let again = run_study(&cfg(strategy, Some(path.clone()), 60), &obj, &mut |_| {
        ran += 1
    })
    .unwrap();
    assert_eq!(ran, 0, "a finished study runs nothing");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().count(),
        lines
    );
    assert_eq!(complete_params(&again), complete_params(&first));
    assert_eq!(
        again.best_trial().unwrap().value,
        first.best_trial().unwrap().value
    );
}

#[test]
fn resume_after_torn_journal() {
    for strategy in [
        Strategy::Random { trials: 20 },
        Strategy::Bayes {
            trials: 14,
            init: 6,
            batch: 1,
        },
        Strategy::Genetic {
            population: 5,
            generations: 4,
        },
    ] {
        let d = dir("torn");
        let full_path = d.join("full.journal");
        let full = run_study(
            &cfg(strategy.clone(), Some(full_path.clone()), 60),
            &obj,
            &mut |_| {},
        )
        .unwrap();
        let bytes = std::fs::read(&full_path).unwrap();
        // Crash mid-write: cut in the middle of a line, 55% into the file.
        let mut cut = bytes.len() * 55 / 100;
        if bytes[cut - 1] == b'\n' {
            cut -= 5;
        }
        let path = d.join("study.journal");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        // The crash was long ago: grace 0 means any RUNNING trial is dead.
        let resumed = run_study(
            &cfg(strategy.clone(), Some(path.clone()), 0),
            &obj,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(resumed.complete(), strategy.trials(), "{strategy:?}");
        assert!(resumed.trials.iter().any(|t| t.resumed));
        assert_eq!(
            complete_params(&resumed),
            complete_params(&full),
            "{strategy:?}"
        );
        // The journal is clean again: it replays, and has exactly `trials` COMPLETE trials.
        let replay = Journal::new(&path).replay().unwrap();
        let complete = replay
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .count();
        assert_eq!(complete, strategy.trials());
        assert!(replay.trials.iter().all(|t| t.state.is_finished()));
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Appends a RUNNING trial for `slot` started at `start`.
fn running_trial(path: &std::path::Path, slot: usize, start: &str) {
    let dists: serde_json::Map<String, serde_json::Value> = space()
        .dims
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                serde_json::json!(ammc::tune::study::optuna_distribution(&d.dist)),
            )
        })
        .collect();
    Journal::new(path)
        .append(&[serde_json::json!({
            "op_code": 4, "study_id": 0, "datetime_start": start, "state": 0,
            "value": null, "values": null, "params": {"x": 1.0, "y": 2.0, "k": 0.0},
            "distributions": dists, "user_attrs": {}, "system_attrs": {"ammc:slot": slot},
            "intermediate_values": {},
        })])
        .unwrap();
}

#[test]
fn stale_running_trial_is_failed_and_retried() {
    let d = dir("stale");
    let path = d.join("study.journal");
    let partial = Strategy::Random { trials: 8 };
    run_study(&cfg(partial, Some(path.clone()), 60), &obj, &mut |_| {}).unwrap();
    // A run that died while evaluating slot 8 long ago.
    running_trial(&path, 8, "2020-01-01T00:00:00.000000");
    let strategy = Strategy::Random { trials: 16 };
    let r = run_study(
        &cfg(strategy.clone(), Some(path.clone()), 60),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.complete(), 16);
    assert_eq!(r.trials.len(), 17);
    let stale = &r.trials[8];
    assert_eq!(stale.state, TrialState::Fail);
    assert!(stale.error.as_deref().unwrap().contains("heartbeat"));
    // Same parameters for slot 8 as an uninterrupted study.
    let fresh = run_study(&cfg(strategy, None, 60), &obj, &mut |_| {}).unwrap();
    assert_eq!(complete_params(&r), complete_params(&fresh));
    let replay = Journal::new(&path).replay().unwrap();
    assert_eq!(replay.trials[8].state, TrialState::Fail);
}

#[test]
fn live_running_trial_is_waited_for_then_retried_when_its_heartbeat_stops() {
    let d = dir("busy");
    let path = d.join("study.journal");
    run_study(
        &cfg(Strategy::Random { trials: 8 }, Some(path.clone()), 60),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    // Another worker (alive as far as anyone can tell) evaluating slot 8 right now; it never
    // beats again, so after the 2 s grace period its trial is failed and slot 8 runs here.
    let now = ammc::tune::journal::iso_time(std::time::SystemTime::now());
    running_trial(&path, 8, &now);
    let start = std::time::Instant::now();
    let r = run_study(
        &cfg(Strategy::Random { trials: 16 }, Some(path), 2),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.complete(), 16);
    assert_eq!(r.trials[8].state, TrialState::Fail);
    assert!(r.trials[8].error.as_deref().unwrap().contains("heartbeat"));
    assert_eq!(r.trials.iter().filter(|t| t.slot == Some(8)).count(), 2);
}

#[test]
fn changed_space_is_a_mismatch() {
    let d = dir("mismatch");
    let path = d.join("study.journal");
    run_study(
        &cfg(Strategy::Random { trials: 4 }, Some(path.clone()), 60),
        &obj,
        &mut |_| {},
    )
    .unwrap();
    let mut c = cfg(Strategy::Random { trials: 8 }, Some(path), 60);
    c.space.dims[0].dist = Distribution::Float {
        low: -4.0,
        high: 10.0,
        log: false,
    };
    let err = run_study(&c, &obj, &mut |_| {}).unwrap_err();
    assert!(matches!(err, StudyError::Mismatch { .. }), "{err}");
}

#[test]
fn iso_time_round_trips() {
    let t = std::time::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
    let s = ammc::tune::journal::iso_time(t);
    // What Optuna writes (`datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")`):
    // without the offset Optuna reads the time as local time.
    assert_eq!(s, "2026-11-18T11:06:40.123456+00:00");
    let back = ammc::tune::journal::parse_iso_time(&s).unwrap();
    assert!((back - 1_795_000_000.123_456).abs() < 1e-6);
    // Other offsets name the same instant; journals of older ammc versions have none (UTC).
    for other in [
        "2026-11-18T13:06:40.123456+02:00",
        "2026-11-18T05:36:40.123456-05:30",
        "2026-11-18T11:06:40.123456Z",
        "2026-11-18T11:06:40.123456",
    ] {
        let t = ammc::tune::journal::parse_iso_time(other).unwrap();
        assert!((t - 1_795_000_000.123_456).abs() < 1e-6, "{other}: {t}");
    }
}

/// A train-block study whose trials take a while (a few hundredths of a second per epoch).
const KILL_TUNE: &str = r#"
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
    epochs = 20
    batch = 32
}

tune search {
    run = fit
    space {
        lr ~ log_uniform(1e-4, 1e-1)
    }
    strategy = random(trials = 8)
    objective = maximize(val.accuracy)
    jobs = JOBS
}
"#;

/// A trial as the journal tells it: slot, final state (`None`: still RUNNING), exact value.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    slot: u64,
    state: Option<i64>,
    value: Option<String>,
    stale: bool,
}

fn recorded(journal: &std::path::Path) -> Vec<Recorded> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut trials: Vec<Recorded> = Vec::new();
    // Only whole lines: a SIGKILL may cut the last one short.
    let whole = &text[..text.rfind('\n').map_or(0, |p| p + 1)];
    for line in whole.lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = o["trial_id"].as_u64().map(|i| i as usize);
        match o["op_code"].as_i64().unwrap() {
            4 => trials.push(Recorded {
                slot: o["system_attrs"]["ammc:slot"].as_u64().unwrap(),
                state: None,
                value: None,
                stale: false,
            }),
            6 => {
                let t = &mut trials[id.unwrap()];
                t.state.get_or_insert(o["state"].as_i64().unwrap());
            }
            9 => {
                let t = &mut trials[id.unwrap()];
                if let Some(v) = o["system_attr"]["ammc:value"].as_str() {
                    t.value = Some(v.to_string());
                }
                if o["system_attr"]["ammc:stale"] == true {
                    t.stale = true;
                }
            }
            _ => {}
        }
    }
    trials
}

fn complete_by_slot(trials: &[Recorded]) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = trials
        .iter()
        .filter(|t| t.state == Some(1))
        .map(|t| (t.slot, t.value.clone().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn sigkill_mid_study_then_rerun_completes_the_same_study() {
    let d = dir("sigkill");
    let run = |jobs: usize, out: &str| {
        let file = d.join(format!("kill{jobs}.amm"));
        std::fs::write(&file, KILL_TUNE.replace("JOBS", &jobs.to_string())).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ammc"));
        cmd.args(["run", file.to_str().unwrap(), "search", "--quiet", "--out"])
            .arg(d.join(out))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    // The reference: one uninterrupted study.
    let o = run(1, "whole").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = recorded(&d.join("whole/search/study.journal"));
    assert_eq!(whole.len(), 8);
    // The same study, killed with SIGKILL once two trials have finished.
    let journal = d.join("killed/search/study.journal");
    let mut child = run(2, "killed").spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let now = recorded(&journal);
        let done = now.iter().filter(|t| t.state.is_some()).count();
        // Trials are claimed `jobs` at a time, so between two claims none is RUNNING: kill
        // while some are.
        if done >= 2 && now.iter().any(|t| t.state.is_none()) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the study ended before it could be killed"
        );
        assert!(std::time::Instant::now() < deadline, "no trial finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    let before = recorded(&journal);
    let finished_before: Vec<&Recorded> = before.iter().filter(|t| t.state.is_some()).collect();
    assert!(
        finished_before.len() < 8 && before.iter().any(|t| t.state.is_none()),
        "the kill must leave RUNNING trials: {before:?}"
    );
    // Rerun at once: the killed run's process is gone, so its RUNNING trials are stale now
    // (no waiting for the heartbeat grace period), failed, and their slots run again.
    let o = run(2, "killed").output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("resumed: "), "{stdout}");
    let after = recorded(&journal);
    // Finished trials are kept, not run again: the journal still starts with the same trials,
    // and each of their slots has exactly one trial.
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.slot, b.slot);
        if b.state.is_some() {
            assert_eq!(a, b);
        }
    }
    for t in &finished_before {
        assert_eq!(after.iter().filter(|a| a.slot == t.slot).count(), 1);
    }
    // Each trial left RUNNING is now FAIL (marked stale) and its slot COMPLETE in a new trial.
    for (i, t) in before.iter().enumerate().filter(|(_, t)| t.state.is_none()) {
        assert_eq!(after[i].state, Some(3), "{:?}", after[i]);
        assert!(after[i].stale);
        assert!(
            after[i + 1..]
                .iter()
                .any(|a| a.slot == t.slot && a.state == Some(1))
        );
    }
    // The same COMPLETE trials, bit for bit, as the uninterrupted study.
    assert_eq!(complete_by_slot(&after).len(), 8);
    assert_eq!(complete_by_slot(&after), complete_by_slot(&whole));
    let _ = std::fs::remove_dir_all(&d);
}
