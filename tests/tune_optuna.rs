//! Optuna compatibility: ammc loads a journal written by Optuna 5.0, and writes one that
//! `tests/tune_optuna_check.py` loads with `optuna.storages.JournalStorage`.
//!
//! The second test always writes `target/tmp/tune_optuna_check/{study.journal,expected.json}`;
//! with `AMMC_OPTUNA_CHECK=1` it also runs the Python check (needs `python3` with optuna).

use std::f64::consts::PI;
use std::fs;
use std::path::PathBuf;

use ammc::tune::journal::{Journal, LockSettings};
use ammc::tune::report;
use ammc::tune::{
    Direction, Distribution, MedianPruner, ParamSpec, ParamValue, PruneDecision, PrunerConfig,
    SearchSpace, StrategyConfig, Study, StudyConfig, TrialState, load_study,
};

/// Written by Optuna 5.0.0 (`RandomSampler(seed=1)`, `JournalFileOpenLock`): four trials
/// over float / log float / stepped int / mixed categorical, trial 2 failed, plus a pruned
/// trial with an intermediate value. Optuna reported best trial 1, value
/// -0.033639560309781755, params {x: 0.18341090564571605, lr: 0.00038642916535526494,
/// n: 5, c: 1.5}.
const OPTUNA_JOURNAL: &str = r##"{"op_code":0,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_name":"py","directions":[2]}
{"op_code":4,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_id":0,"datetime_start":"2026-11-29T01:53:14.082421+00:00"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"param_name":"x","param_value_internal":1.2553300705386103,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": -5.0, \"high\": 10.0, \"log\": false}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"param_name":"lr","param_value_internal":0.007608481233714793,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e-05, \"high\": 0.1, \"log\": true}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"param_name":"n","param_value_internal":1.0,"distribution":"{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 2, \"low\": 1, \"high\": 9}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"param_name":"c","param_value_internal":0,"distribution":"{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [8, \"a\", true, 1.5]}}"}
{"op_code":7,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"step":0,"intermediate_value":1.2553300705386103}
{"op_code":8,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"user_attr":{"u":"hi"}}
{"op_code":6,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":0,"state":1,"values":[-1.5758535859984724],"datetime_complete":"2026-11-29T01:53:14.154315+00:00"}
{"op_code":4,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_id":0,"datetime_start":"2026-11-29T01:53:14.156201+00:00"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"param_name":"x","param_value_internal":0.18341090564571605,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": -5.0, \"high\": 10.0, \"log\": false}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"param_name":"lr","param_value_internal":0.00038642916535526494,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e-05, \"high\": 0.1, \"log\": true}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"param_name":"n","param_value_internal":5.0,"distribution":"{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 2, \"low\": 1, \"high\": 9}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"param_name":"c","param_value_internal":3,"distribution":"{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [8, \"a\", true, 1.5]}}"}
{"op_code":7,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"step":0,"intermediate_value":0.18341090564571605}
{"op_code":8,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"user_attr":{"u":"hi"}}
{"op_code":6,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":1,"state":1,"values":[-0.033639560309781755],"datetime_complete":"2026-11-29T01:53:14.218209+00:00"}
{"op_code":4,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_id":0,"datetime_start":"2026-11-29T01:53:14.230261+00:00"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"param_name":"x","param_value_internal":-4.589186102031108,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": -5.0, \"high\": 10.0, \"log\": false}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"param_name":"lr","param_value_internal":0.0048069548249615995,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e-05, \"high\": 0.1, \"log\": true}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"param_name":"n","param_value_internal":5.0,"distribution":"{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 2, \"low\": 1, \"high\": 9}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"param_name":"c","param_value_internal":3,"distribution":"{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [8, \"a\", true, 1.5]}}"}
{"op_code":7,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"step":0,"intermediate_value":-4.589186102031108}
{"op_code":8,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"user_attr":{"u":"hi"}}
{"op_code":6,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":2,"state":3,"values":null,"datetime_complete":"2026-11-29T01:53:14.270197+00:00"}
{"op_code":4,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_id":0,"datetime_start":"2026-11-29T01:53:14.278336+00:00"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"param_name":"x","param_value_internal":9.523923635790963,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": -5.0, \"high\": 10.0, \"log\": false}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"param_name":"lr","param_value_internal":0.00017934807211789802,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": 1e-05, \"high\": 0.1, \"log\": true}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"param_name":"n","param_value_internal":7.0,"distribution":"{\"name\": \"IntDistribution\", \"attributes\": {\"log\": false, \"step\": 2, \"low\": 1, \"high\": 9}}"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"param_name":"c","param_value_internal":1,"distribution":"{\"name\": \"CategoricalDistribution\", \"attributes\": {\"choices\": [8, \"a\", true, 1.5]}}"}
{"op_code":7,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"step":0,"intermediate_value":9.523923635790963}
{"op_code":8,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"user_attr":{"u":"hi"}}
{"op_code":6,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":3,"state":1,"values":[-90.70512142037775],"datetime_complete":"2026-11-29T01:53:14.326600+00:00"}
{"op_code":4,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","study_id":0,"datetime_start":"2026-11-29T01:53:14.330198+00:00"}
{"op_code":5,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":4,"param_name":"x","param_value_internal":-2.4525437065314666,"distribution":"{\"name\": \"FloatDistribution\", \"attributes\": {\"step\": null, \"low\": -5.0, \"high\": 10.0, \"log\": false}}"}
{"op_code":7,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":4,"step":1,"intermediate_value":3.5}
{"op_code":6,"worker_id":"6b17007e-d08b-4c25-b300-48cbd7a003c5-139958796823424","trial_id":4,"state":2,"values":[3.5],"datetime_complete":"2026-11-29T01:53:14.358196+00:00"}
"##;

#[test]
fn loads_a_journal_written_by_optuna() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tune_optuna_read");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("optuna.journal");
    fs::write(&path, OPTUNA_JOURNAL).unwrap();
    let study = load_study(&path, "py").unwrap();
    assert_eq!(study.direction, Direction::Maximize);
    assert_eq!(study.trials.len(), 5);
    let states: Vec<TrialState> = study.trials.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [
            TrialState::Complete,
            TrialState::Complete,
            TrialState::Fail,
            TrialState::Complete,
            TrialState::Pruned
        ]
    );
    let best = study.best().unwrap();
    assert_eq!(best.number, 1);
    assert_eq!(best.value, Some(-0.033639560309781755));
    assert_eq!(best.params.float("x"), Some(0.18341090564571605));
    assert_eq!(best.params.float("lr"), Some(0.00038642916535526494));
    assert_eq!(best.params.int("n"), Some(5));
    assert_eq!(best.params.get("c"), Some(&ParamValue::Float(1.5)));
    assert_eq!(study.trials[4].intermediate, vec![(1, 3.5)]);
    assert_eq!(study.trials[4].value, Some(3.5));
    // Our journal reader state matches line by line: nothing left unread.
    let j = Journal::open(&path, LockSettings::default()).unwrap();
    assert_eq!(j.state().trials.len(), 5);
}

fn branin(x: f64, y: f64) -> f64 {
    let b = 5.1 / (4.0 * PI * PI);
    (y - b * x * x + 5.0 / PI * x - 6.0).powi(2) + 10.0 * (1.0 - 1.0 / (8.0 * PI)) * x.cos() + 10.0
}

#[test]
fn writes_a_journal_optuna_can_load() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tune_optuna_check");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("study.journal");
    let space = SearchSpace::new(vec![
        ParamSpec::new("x", Distribution::uniform(-5.0, 10.0)),
        ParamSpec::new("y", Distribution::uniform(0.0, 15.0)),
        ParamSpec::new("lr", Distribution::log_uniform(1e-5, 1e-1)),
        ParamSpec::new("width", Distribution::int_with(8, 64, false, 8)),
        ParamSpec::new("depth", Distribution::int_with(1, 32, true, 1)),
        ParamSpec::new(
            "act",
            Distribution::choice(vec![
                ParamValue::Str("relu".into()),
                ParamValue::Str("gelu".into()),
            ]),
        ),
        ParamSpec::new(
            "mix",
            Distribution::choice(vec![
                ParamValue::Int(8),
                ParamValue::Bool(true),
                ParamValue::Float(0.5),
                ParamValue::Str("x".into()),
            ]),
        ),
    ])
    .unwrap();
    let mut c = StudyConfig::new(
        "optuna_check",
        space,
        StrategyConfig::bayes(16, Some(6)),
        Direction::Minimize,
    );
    c.seed = 5;
    c.jobs = 2;
    c.journal = Some(path.clone());
    c.pruner = PrunerConfig::Median(MedianPruner {
        warmup_trials: 3,
        warmup_steps: 1,
    });
    let out = Study::new(c)
        .unwrap()
        .optimize(|p, r| {
            if p.int("depth") == Some(32) {
                return Err("depth 32 does not fit in memory".into());
            }
            let act = if p.str("act") == Some("gelu") {
                0.0
            } else {
                0.3
            };
            let v = branin(p.float("x").unwrap(), p.float("y").unwrap())
                + act
                + (p.float("lr").unwrap().log10() + 3.0).powi(2);
            for step in 0..3u64 {
                if r.report(step, v * (3 - step) as f64) == PruneDecision::Prune {
                    return Ok(v);
                }
            }
            r.set_user_attr("width_used", serde_json::json!(p.int("width")));
            Ok(v)
        })
        .unwrap();
    assert_eq!(out.trials.len(), 16);
    let best = out.best().unwrap();
    let mut params = serde_json::Map::new();
    for (k, v) in best.params.iter() {
        params.insert(k.into(), v.to_json());
    }
    let trials: Vec<serde_json::Value> = out
        .trials
        .iter()
        .map(|t| {
            let mut p = serde_json::Map::new();
            for (k, v) in t.params.iter() {
                p.insert(k.into(), v.to_json());
            }
            serde_json::json!({
                "number": t.number,
                "state": t.state.name(),
                "value": t.value,
                "params": p,
                "intermediate": t.intermediate.iter().map(|(s, v)| serde_json::json!([s, v])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let expected = serde_json::json!({
        "study": "optuna_check",
        "direction": "minimize",
        "best_number": best.number,
        "best_value": best.value,
        "best_params": params,
        "trials": trials,
    });
    fs::write(
        dir.join("expected.json"),
        serde_json::to_string_pretty(&expected).unwrap(),
    )
    .unwrap();
    fs::write(dir.join("best.json"), report::best_json(&out).unwrap()).unwrap();
    fs::write(dir.join("trials.txt"), report::trials_table(&out)).unwrap();
    fs::write(dir.join("plot.svg"), report::plot_svg(&out)).unwrap();
    if std::env::var("AMMC_OPTUNA_CHECK").as_deref() == Ok("1") {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tune_optuna_check.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(&dir)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "tests/tune_optuna_check.py failed");
    }
}
