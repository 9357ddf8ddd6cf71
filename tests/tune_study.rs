//! The study runner: determinism across `jobs`, failures, pruning, journal resume after a
//! crash, several workers on one journal, settings mismatch.

use std::f64::consts::PI;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ammc::tune::{
    Direction, Distribution, MedianPruner, ParamSpec, ParamValue, PruneDecision, PrunerConfig,
    SearchSpace, StrategyConfig, Study, StudyConfig, StudyOutcome, TrialParams, TrialReporter,
    TrialState, TuneError, load_study,
};
use miette::Diagnostic;

fn branin(p: &TrialParams) -> f64 {
    let (x, y) = (p.float("x").unwrap(), p.float("y").unwrap());
    let b = 5.1 / (4.0 * PI * PI);
    (y - b * x * x + 5.0 / PI * x - 6.0).powi(2) + 10.0 * (1.0 - 1.0 / (8.0 * PI)) * x.cos() + 10.0
}

fn space() -> SearchSpace {
    SearchSpace::new(vec![
        ParamSpec::new("x", Distribution::uniform(-5.0, 10.0)),
        ParamSpec::new("y", Distribution::uniform(0.0, 15.0)),
    ])
    .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("tune_study")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir.join("study.journal")
}

/// `(slot, params, state, value)` per slot, for comparing runs.
fn summary(o: &StudyOutcome) -> Vec<(usize, String, TrialState, Option<u64>)> {
    o.by_slot()
        .iter()
        .map(|t| {
            (
                t.slot.unwrap(),
                t.params.to_string(),
                t.state,
                t.value.map(f64::to_bits),
            )
        })
        .collect()
}

fn branin_objective(p: &TrialParams, _: &mut TrialReporter<'_>) -> Result<f64, String> {
    Ok(branin(p))
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    for strategy in [
        StrategyConfig::random(10),
        StrategyConfig::bayes(14, Some(6)),
        StrategyConfig::genetic(5, 3),
    ] {
        let run = |jobs| {
            let mut c = StudyConfig::new("det", space(), strategy.clone(), Direction::Minimize);
            c.seed = 42;
            c.jobs = jobs;
            c.batch = Some(4);
            // A varying sleep makes trials finish out of order when run in parallel.
            Study::new(c)
                .unwrap()
                .optimize(|p, _| {
                    let x = p.float("x").unwrap();
                    std::thread::sleep(Duration::from_micros(((x + 5.0) * 200.0) as u64));
                    Ok(branin(p))
                })
                .unwrap()
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(summary(&one), summary(&three), "{strategy:?}");
        assert_eq!(one.trials.len(), strategy.trials());
        assert_eq!(one.evaluated_here, strategy.trials());
        assert!(one.in_state(TrialState::Complete).count() == strategy.trials());
    }
}

#[test]
fn failures_are_recorded_and_the_study_goes_on() {
    let c = StudyConfig::new(
        "fail",
        space(),
        StrategyConfig::random(12),
        Direction::Minimize,
    );
    let out = Study::new(c)
        .unwrap()
        .optimize(|p, r| match r.slot() % 4 {
            0 => Err(format!("diverged at x={}", p.float("x").unwrap())),
            1 => panic!("boom in slot {}", r.slot()),
            2 => Ok(f64::NAN),
            _ => Ok(branin(p)),
        })
        .unwrap();
    assert_eq!(out.trials.len(), 12);
    assert_eq!(out.in_state(TrialState::Complete).count(), 3);
    assert_eq!(out.in_state(TrialState::Fail).count(), 9);
    let reasons: Vec<&str> = out
        .by_slot()
        .iter()
        .take(3)
        .map(|t| t.fail_reason.as_deref().unwrap())
        .collect();
    assert!(reasons[0].starts_with("diverged at x="), "{reasons:?}");
    assert!(
        reasons[1].contains("panicked: boom in slot 1"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("non-finite"), "{reasons:?}");
    let best = out.best().unwrap();
    assert_eq!(best.slot.map(|s| s % 4), Some(3));
}

/// A learning-curve objective: loss decays towards `branin / 10` over 10 steps.
fn curve(p: &TrialParams, r: &mut TrialReporter<'_>) -> Result<f64, String> {
    let target = branin(p) / 10.0;
    let mut loss = 0.0;
    for step in 0..10u64 {
        loss = target + 30.0 / (step + 1) as f64;
        if r.report(step, loss) == PruneDecision::Prune {
            return Ok(loss);
        }
    }
    Ok(loss)
}

#[test]
fn median_pruning_stops_bad_trials_deterministically() {
    let run = |jobs| {
        let mut c = StudyConfig::new(
            "prune",
            space(),
            StrategyConfig::random(24),
            Direction::Minimize,
        );
        c.seed = 3;
        c.jobs = jobs;
        c.batch = Some(4);
        c.pruner = PrunerConfig::Median(MedianPruner {
            warmup_trials: 4,
            warmup_steps: 2,
        });
        Study::new(c).unwrap().optimize(curve).unwrap()
    };
    let out = run(2);
    let pruned: Vec<_> = out.in_state(TrialState::Pruned).collect();
    assert!(!pruned.is_empty(), "some trials should be pruned");
    assert!(out.in_state(TrialState::Complete).count() >= 4);
    // The first batch has no completed reference trials: never pruned.
    assert!(pruned.iter().all(|t| t.slot.unwrap() >= 4));
    for t in &pruned {
        // Stopped right at or after the warm-up, never before; value = last intermediate.
        let (last_step, last) = *t.intermediate.last().unwrap();
        assert!(last_step >= 2);
        assert_eq!(t.value, Some(last));
        assert!(t.intermediate.len() < 10);
    }
    // A pruned trial's final loss would have been worse than the best completed one.
    let best = out.best().unwrap().value.unwrap();
    for t in &pruned {
        assert!(branin(&t.params) / 10.0 + 3.0 > best);
    }
    assert_eq!(summary(&out), summary(&run(1)));
}

#[test]
fn study_writes_a_journal_and_reloads_it() {
    let path = scratch("reload");
    let mut c = StudyConfig::new(
        "reload",
        space(),
        StrategyConfig::random(6),
        Direction::Maximize,
    );
    c.journal = Some(path.clone());
    let out = Study::new(c)
        .unwrap()
        .optimize(|p, r| {
            r.set_user_attr(
                "run_dir",
                serde_json::json!(format!("runs/t{}", r.trial_number())),
            );
            Ok(-branin(p))
        })
        .unwrap();
    let loaded = load_study(&path, "reload").unwrap();
    assert_eq!(summary(&loaded), summary(&out));
    // Floats survive the journal bit for bit (value recomputed from the reloaded params).
    for t in &loaded.trials {
        assert_eq!(
            t.value.map(f64::to_bits),
            Some((-branin(&t.params)).to_bits())
        );
    }
    assert_eq!(loaded.direction, Direction::Maximize);
    assert_eq!(loaded.best().unwrap().number, out.best().unwrap().number);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"op_code\":0,\"worker_id\":"));
    assert!(text.contains("\"user_attr\":{\"run_dir\":\"runs/t5\"}"));
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    let e = load_study(&path, "nope").unwrap_err();
    assert_eq!(
        e.code().map(|c| c.to_string()).as_deref(),
        Some("amm::tune::study_not_found")
    );
}

fn crash_config(path: &std::path::Path) -> StudyConfig {
    let mut c = StudyConfig::new(
        "crash",
        space(),
        StrategyConfig::bayes(12, Some(5)),
        Direction::Minimize,
    );
    c.seed = 17;
    c.batch = Some(4);
    c.journal = Some(path.to_path_buf());
    c
}

#[test]
fn resume_after_a_crash_reruns_only_what_is_missing() {
    // Reference: an uninterrupted run.
    let full_path = scratch("crash_full");
    let full = Study::new(crash_config(&full_path))
        .unwrap()
        .optimize(branin_objective)
        .unwrap();
    assert_eq!(full.in_state(TrialState::Complete).count(), 12);

    // Crash: keep the journal up to slot 7's claim (slots 0..=6 finished, slot 7 RUNNING),
    // age slot 7's start time and add an old heartbeat, then leave half a line, as if the
    // writer died in the middle of a write.
    let text = fs::read_to_string(&full_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let create7 = lines
        .iter()
        .position(|l| l.contains("\"op_code\":4") && l.contains("\"ammc:slot\":7"))
        .unwrap();
    let mut cut: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i > create7 && !l.contains("\"op_code\":5") {
            break;
        }
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        if i == create7 {
            v["datetime_start"] = "2001-01-01T00:00:00.000000+00:00".into();
        }
        cut.push(serde_json::to_string(&v).unwrap());
    }
    let trial7 = cut.iter().filter(|l| l.contains("\"op_code\":4")).count() - 1;
    cut.push(format!(
        "{{\"op_code\":9,\"worker_id\":\"dead-worker\",\"trial_id\":{trial7},\"system_attr\":{{\"ammc:heartbeat\":\"2001-01-01T00:00:05.000000+00:00\"}}}}"
    ));
    let crash_path = scratch("crash_resume");
    let mut body = cut.join("\n");
    body.push('\n');
    body.push_str(&lines[create7 + 8][..40]);
    fs::write(&crash_path, body).unwrap();

    let calls = AtomicUsize::new(0);
    let resumed = Study::new(crash_config(&crash_path))
        .unwrap()
        .optimize(|p, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(branin(p))
        })
        .unwrap();
    // Slots 0..=6 were done: only 7..=11 ran again (7 as a retry).
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(resumed.in_state(TrialState::Complete).count(), 12);
    let failed: Vec<_> = resumed.in_state(TrialState::Fail).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].stale);
    assert_eq!(failed[0].slot, Some(7));
    let retry = resumed
        .trials
        .iter()
        .find(|t| t.retry_of == Some(failed[0].number))
        .unwrap();
    assert_eq!(retry.slot, Some(7));
    assert_eq!(retry.state, TrialState::Complete);
    // Same configurations and values as the uninterrupted run.
    assert_eq!(summary(&resumed), summary(&full));
    // The half-written line was cut before appending: every line parses.
    let repaired = fs::read_to_string(&crash_path).unwrap();
    assert!(repaired.ends_with('\n'));
    assert!(
        repaired
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    // Running again finds nothing to do.
    let again = Study::new(crash_config(&crash_path))
        .unwrap()
        .optimize(|_, _| -> Result<f64, String> { panic!("must not run") })
        .unwrap();
    assert_eq!(again.evaluated_here, 0);
}

#[test]
fn several_workers_share_one_journal() {
    let single = {
        let mut c = crash_config(&scratch("share_single"));
        c.name = "shared".into();
        Study::new(c).unwrap().optimize(branin_objective).unwrap()
    };
    let path = scratch("share");
    let worker = || {
        let mut c = crash_config(&path);
        c.name = "shared".into();
        c.poll_interval = Duration::from_millis(5);
        Study::new(c)
            .unwrap()
            .optimize(|p, _| {
                std::thread::sleep(Duration::from_millis(3));
                Ok(branin(p))
            })
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(worker);
        let b = s.spawn(worker);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.evaluated_here + b.evaluated_here, 12);
    let fin = load_study(&path, "shared").unwrap();
    assert_eq!(fin.trials.len(), 12, "each slot ran exactly once");
    assert_eq!(summary(&fin), summary(&single));
    assert!(!path.with_extension("journal.lock").exists());
}

#[test]
fn resuming_with_other_settings_is_refused() {
    let path = scratch("mismatch");
    let mut c = StudyConfig::new("m", space(), StrategyConfig::random(3), Direction::Minimize);
    c.journal = Some(path.clone());
    Study::new(c.clone())
        .unwrap()
        .optimize(branin_objective)
        .unwrap();
    c.seed = 1;
    let e = Study::new(c.clone())
        .unwrap()
        .optimize(branin_objective)
        .unwrap_err();
    assert!(matches!(e, TuneError::StudyMismatch { .. }));
    assert_eq!(
        e.code().map(|c| c.to_string()).as_deref(),
        Some("amm::tune::study_mismatch")
    );
    c.seed = 0;
    c.direction = Direction::Maximize;
    assert!(Study::new(c).unwrap().optimize(branin_objective).is_err());
}

#[test]
fn bad_runner_settings_are_errors() {
    let mut c = StudyConfig::new("z", space(), StrategyConfig::random(3), Direction::Minimize);
    c.jobs = 0;
    assert!(matches!(Study::new(c.clone()), Err(TuneError::ZeroJobs)));
    c.jobs = 1;
    c.heartbeat.grace = c.heartbeat.interval;
    let e = Study::new(c).err().unwrap();
    assert_eq!(
        e.code().map(|c| c.to_string()).as_deref(),
        Some("amm::tune::setting_out_of_range")
    );
}

#[test]
fn choice_values_round_trip_through_the_journal() {
    let path = scratch("choices");
    let space = SearchSpace::new(vec![
        ParamSpec::new(
            "c",
            Distribution::choice(vec![
                ParamValue::Int(8),
                ParamValue::Str("é\"q".into()),
                ParamValue::Bool(true),
                ParamValue::Float(2.0),
            ]),
        ),
        ParamSpec::new("n", Distribution::int_with(1, 9, false, 2)),
        ParamSpec::new("lr", Distribution::log_uniform(1e-5, 1e-1)),
    ])
    .unwrap();
    let mut c = StudyConfig::new(
        "choices",
        space,
        StrategyConfig::random(16),
        Direction::Minimize,
    );
    c.journal = Some(path.clone());
    let out = Study::new(c)
        .unwrap()
        .optimize(|p, _| Ok(p.int("n").unwrap() as f64 + p.float("lr").unwrap()))
        .unwrap();
    let loaded = load_study(&path, "choices").unwrap();
    assert_eq!(summary(&loaded), summary(&out));
    let kinds: std::collections::BTreeSet<String> = loaded
        .trials
        .iter()
        .map(|t| t.params.get("c").unwrap().to_amm_literal())
        .collect();
    assert!(kinds.len() >= 3, "{kinds:?}");
    let text = fs::read_to_string(&path).unwrap();
    // Python's json.dumps escapes non-ASCII; so do we.
    assert!(text.contains("\\\\u00e9"));
}
