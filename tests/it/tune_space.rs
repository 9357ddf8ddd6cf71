//! Search spaces: quantised floats (`uniform(low, high, step)`), log ints and conditional
//! params (a choice's branches, `run ~ choice(…)`) through every strategy, the journal (absent
//! params as Optuna's define-by-run writes them), resume, `ammc run` and `ammc check`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::ammc;
use ammc::tune::tpe::TpeOptions;
use ammc::tune::*;

fn dim(name: &str, dist: Distribution) -> Dimension {
    Dimension {
        name: name.into(),
        dist,
    }
}

fn strategies() -> Vec<(&'static str, Strategy)> {
    vec![
        ("random", Strategy::Random { trials: 40 }),
        (
            "bayes",
            Strategy::Bayes {
                trials: 24,
                init: 8,
                batch: 1,
            },
        ),
        (
            "tpe",
            Strategy::Tpe {
                trials: 40,
                startup: 8,
                batch: 1,
                options: TpeOptions {
                    candidates: 24,
                    gamma: 0.1,
                    multivariate: true,
                },
            },
        ),
        (
            "tpe-univariate",
            Strategy::Tpe {
                trials: 40,
                startup: 8,
                batch: 2,
                options: TpeOptions {
                    candidates: 24,
                    gamma: 0.1,
                    multivariate: false,
                },
            },
        ),
        (
            "genetic",
            Strategy::Genetic {
                population: 8,
                generations: 5,
            },
        ),
    ]
}

fn config(space: Space, strategy: Strategy, journal: Option<PathBuf>) -> StudyConfig {
    StudyConfig {
        name: "space".into(),
        space,
        strategy,
        direction: Direction::Minimize,
        seed: 3,
        jobs: 2,
        journal,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(5),
        redis: None,
        prune: None,
    }
}

/// `opt ~ choice("sgd", "adam") { "sgd" { sgd_lr, momentum (step 0.05) } "adam" { adam_lr } }`,
/// `units ~ int(8, 256, log)`, `q ~ uniform(0, 1, step = 0.1)`.
fn conditional_space() -> Space {
    let dims = vec![
        dim(
            "opt",
            Distribution::Choice(vec![
                ParamValue::Str("sgd".into()),
                ParamValue::Str("adam".into()),
            ]),
        ),
        dim(
            "sgd_lr",
            Distribution::Float {
                low: 1e-3,
                high: 1e-1,
                log: true,
            },
        ),
        dim(
            "momentum",
            Distribution::Quantized {
                low: 0.5,
                high: 0.95,
                step: 0.05,
            },
        ),
        dim(
            "adam_lr",
            Distribution::Float {
                low: 1e-5,
                high: 1e-2,
                log: true,
            },
        ),
        dim(
            "units",
            Distribution::Int {
                low: 8,
                high: 256,
                log: true,
                step: 1,
            },
        ),
        dim(
            "q",
            Distribution::Quantized {
                low: 0.0,
                high: 1.0,
                step: 0.1,
            },
        ),
    ];
    let sgd = Some(Condition {
        parent: 0,
        values: vec![0],
    });
    let adam = Some(Condition {
        parent: 0,
        values: vec![1],
    });
    Space::conditional(dims, vec![None, sgd.clone(), sgd, adam, None, None]).unwrap()
}

/// Adam with lr near 1e-3 is best; sgd cannot get below 1.
fn objective(p: &Params) -> Result<f64, String> {
    let f = |i: usize| p[i].as_f64().unwrap();
    let rest = (f(4).ln() - 4.0).powi(2) * 0.1 + (f(5) - 0.3).powi(2);
    Ok(match &p[0] {
        ParamValue::Str(s) if s == "sgd" => 1.0 + (f(1).ln() + 4.0).powi(2) + rest,
        _ => (f(3).ln() + 6.9).powi(2) + rest,
    })
}

/// Whether `x` is on the grid `low + k * step` (as Optuna computes it, within rounding).
fn on_grid(x: f64, low: f64, step: f64) -> bool {
    let k = ((x - low) / step).round();
    (x - (k * step + low)).abs() < 1e-9
}

#[test]
fn every_strategy_keeps_steps_log_ints_and_branches() {
    let space = conditional_space();
    for (name, s) in strategies() {
        let r = run_study(&config(space.clone(), s, None), &objective, &mut |_| {}).unwrap();
        let mut branches = [0, 0];
        for t in &r.trials {
            let p = &t.params;
            let active = space.active(p);
            let sgd = p[0] == ParamValue::Str("sgd".into());
            branches[usize::from(!sgd)] += 1;
            // The chosen branch's params exist, the other's do not.
            assert_eq!(
                active,
                vec![true, sgd, sgd, !sgd, true, true],
                "{name}: {p:?}"
            );
            // Absent params hold the filler, so duplicates compare equal.
            for i in 0..p.len() {
                if !active[i] {
                    assert_eq!(p[i], space.filler(i), "{name}");
                }
            }
            let q = p[5].as_f64().unwrap();
            assert!(
                on_grid(q, 0.0, 0.1) && (0.0..=1.0).contains(&q),
                "{name}: q = {q}"
            );
            if sgd {
                let m = p[2].as_f64().unwrap();
                assert!(
                    on_grid(m, 0.5, 0.05) && (0.5..=0.95).contains(&m),
                    "{name}: {m}"
                );
            }
            let ParamValue::Int(u) = p[4] else {
                panic!("{name}: units {:?}", p[4])
            };
            assert!((8..=256).contains(&u), "{name}: units {u}");
            assert!(space.dims.iter().zip(p).all(|(d, v)| d.contains(v)));
        }
        assert!(branches[0] > 0 && branches[1] > 0, "{name}: {branches:?}");
    }
}

#[test]
fn model_based_strategies_learn_the_better_branch() {
    let space = conditional_space();
    for (name, s) in strategies() {
        if name == "random" {
            continue;
        }
        let n = s.trials();
        let r = run_study(&config(space.clone(), s, None), &objective, &mut |_| {}).unwrap();
        // Deterministic for the seed; measured: bayes 7 of 12, tpe 17 of 20, tpe
        // univariate 16 of 20, genetic 17 of 20 (random: about half).
        let late = &r.trials[n / 2..];
        let adam = late
            .iter()
            .filter(|t| t.params[0] == ParamValue::Str("adam".into()))
            .count();
        assert!(
            adam * 2 > late.len(),
            "{name}: adam in {adam} of the last {} trials",
            late.len()
        );
        let best = r.best_trial().unwrap();
        assert_eq!(best.params[0], ParamValue::Str("adam".into()), "{name}");
        assert!(best.value.unwrap() < 0.9, "{name}: {:?}", best.value);
    }
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-tune-space-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The CREATE_TRIAL operations of a journal.
fn created(journal: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["op_code"] == 4)
        .collect()
}

#[test]
fn journal_has_only_the_chosen_branch_and_resumes_exactly() {
    let dir = temp("journal");
    let journal = dir.join("study.journal");
    let space = conditional_space();
    let (_, tpe) = strategies().remove(2);
    let cfg = config(space.clone(), tpe.clone(), Some(journal.clone()));
    // Stop after 17 trials (a budget of 17 with the same seed: the same first trials).
    let short = match &tpe {
        Strategy::Tpe {
            startup,
            batch,
            options,
            ..
        } => Strategy::Tpe {
            trials: 17,
            startup: *startup,
            batch: *batch,
            options: options.clone(),
        },
        _ => unreachable!(),
    };
    run_study(
        &config(space.clone(), short, Some(journal.clone())),
        &objective,
        &mut |_| {},
    )
    .unwrap();
    let resumed = run_study(&cfg, &objective, &mut |_| {}).unwrap();
    let fresh = run_study(&config(space.clone(), tpe, None), &objective, &mut |_| {}).unwrap();
    let key = |r: &StudyResult| {
        let mut k: Vec<_> = r
            .trials
            .iter()
            .map(|t| (t.slot, t.params.clone(), t.value.map(f64::to_bits)))
            .collect();
        k.sort_by_key(|t| t.0);
        k
    };
    assert_eq!(key(&resumed), key(&fresh));
    let ops = created(&journal);
    assert_eq!(ops.len(), 40);
    for op in &ops {
        let params = op["params"].as_object().unwrap();
        let dists = op["distributions"].as_object().unwrap();
        let keys: Vec<&String> = params.keys().collect();
        assert_eq!(keys, dists.keys().collect::<Vec<_>>());
        let sgd = params["opt"] == 0.0;
        let want: Vec<&str> = if sgd {
            vec!["momentum", "opt", "q", "sgd_lr", "units"]
        } else {
            vec!["adam_lr", "opt", "q", "units"]
        };
        assert_eq!(keys, want);
        // The step is in Optuna's FloatDistribution.
        let q: serde_json::Value = serde_json::from_str(dists["q"].as_str().unwrap()).unwrap();
        assert_eq!(q["attributes"]["step"], 0.1);
    }
}

#[test]
fn a_param_of_the_branch_not_taken_is_a_mismatch() {
    let dir = temp("mismatch");
    let journal = dir.join("study.journal");
    let space = conditional_space();
    let cfg = config(space, Strategy::Random { trials: 4 }, Some(journal.clone()));
    run_study(&cfg, &objective, &mut |_| {}).unwrap();
    // Give an sgd trial an `adam_lr` as well: not what this space writes.
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut out = Vec::new();
    let mut changed = false;
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if !changed && v["op_code"] == 4 && v["params"]["opt"] == 0.0 {
            let d = v["distributions"]["sgd_lr"].clone();
            v["params"]["adam_lr"] = serde_json::json!(0.001);
            v["distributions"]["adam_lr"] = serde_json::json!(
                d.as_str()
                    .unwrap()
                    .replace("0.001", "1e-05")
                    .replace("0.1", "0.01")
            );
            changed = true;
        }
        out.push(v.to_string());
    }
    assert!(changed);
    std::fs::write(&journal, out.join("\n") + "\n").unwrap();
    let cfg = config(
        conditional_space(),
        Strategy::Random { trials: 6 },
        Some(journal),
    );
    let err = run_study(&cfg, &objective, &mut |_| {}).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("adam_lr"), "{text}");
}

#[test]
fn quantised_float_grid_and_bounds() {
    let d = dim(
        "q",
        Distribution::Quantized {
            low: 0.0,
            high: 0.3,
            step: 0.1,
        },
    );
    assert!(d.validate().is_ok());
    let values: Vec<f64> = (0..=20)
        .map(|k| d.from_unit(k as f64 / 20.0).as_f64().unwrap())
        .collect();
    // 3 * 0.1 + 0 is 0.30000000000000004, kept within the bounds.
    for v in [0.0, 0.1, 0.2, 0.3] {
        assert!(values.contains(&v), "{v} in {values:?}");
    }
    assert!(values.iter().all(|v| d.contains(&ParamValue::Float(*v))));
    assert!(!d.contains(&ParamValue::Float(0.15)));
    assert_eq!(d.snap(ParamValue::Float(0.16)), ParamValue::Float(0.2));
    let bad = |low: f64, high: f64, step: f64| {
        dim("q", Distribution::Quantized { low, high, step })
            .validate()
            .is_err()
    };
    assert!(bad(0.0, 1.0, 0.3));
    assert!(bad(0.0, 1.0, 0.0));
    assert!(bad(0.0, 1.0, -0.1));
    assert!(bad(1.0, 0.0, 0.1));
    assert!(bad(0.0, 1.0, 1e-300));
    assert!(!bad(0.5, 0.95, 0.05));
}

#[test]
fn run_choice_picks_the_train_block_per_trial() {
    let out = temp("optimizers");
    let (code, stdout, stderr) = ammc(&[
        "run",
        "examples/tune_optimizers.amm",
        "optimizers",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("optimizers/best.json")).unwrap())
            .unwrap();
    let b = &best["best"];
    let run = b["run"].as_str().unwrap();
    assert_eq!(b["params"]["run"], run);
    assert!(!b["set"].as_str().unwrap().contains("run="));
    // The best trial's flags reproduce it by hand.
    assert!(stdout.contains(&format!("best block: {run}")), "{stdout}");
    let ops = created(&out.join("optimizers/study.journal"));
    assert_eq!(ops.len(), 12);
    let mut seen = [false, false];
    for op in &ops {
        let p = op["params"].as_object().unwrap();
        let sgd = p["run"] == 0.0;
        seen[usize::from(!sgd)] = true;
        assert_eq!(p.contains_key("sgd_lr"), sgd);
        assert_eq!(p.contains_key("momentum"), sgd);
        assert_eq!(p.contains_key("adam_lr"), !sgd);
        let rate = p["rate"].as_f64().unwrap();
        assert!(on_grid(rate, 0.0, 0.1), "{rate}");
    }
    assert_eq!(seen, [true, true]);
    // Same command again: the study is complete and nothing changes.
    let (code, again, _) = ammc(&[
        "run",
        "examples/tune_optimizers.amm",
        "optimizers",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(again.contains("resumed: 12 trials"), "{again}");
}

#[test]
fn check_reports_the_branch_value_that_breaks_the_shapes() {
    let (code, stdout, stderr) = ammc(&["check", "examples/errors/tune_branch_shape.amm"]);
    let text = format!("{stdout}{stderr}");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("amm::shape::too_small"), "{text}");
    assert!(
        text.contains("searches `pool` = 8 (in the branch depth = \"deep\")"),
        "{text}"
    );
    // Without the breaking value the file checks.
    let dir = temp("branch-ok");
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/errors/tune_branch_shape.amm"),
    )
    .unwrap()
    .replace("choice(2, 8)", "choice(2, 4)");
    let file = dir.join("ok.amm");
    std::fs::write(&file, src).unwrap();
    let (code, stdout, stderr) = ammc(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn run_choice_picks_the_agent_algorithm_per_trial() {
    let out = temp("algorithms");
    let (code, stdout, stderr) = ammc(&[
        "run",
        "examples/tune_algorithms.amm",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let ops = created(&out.join("algorithms/study.journal"));
    assert_eq!(ops.len(), 16);
    let own = |run: f64| -> &'static [&'static str] {
        match run as usize {
            0 => &["q_alpha", "q_eps", "run"],
            1 => &["run", "sarsa_alpha", "sarsa_eps"],
            _ => &["es_alpha", "run"],
        }
    };
    let mut chosen = std::collections::BTreeSet::new();
    for op in &ops {
        let p = op["params"].as_object().unwrap();
        let run = p["run"].as_f64().unwrap();
        chosen.insert(run as usize);
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(keys, own(run), "{p:?}");
    }
    assert_eq!(chosen.len(), 3, "every algorithm was tried: {chosen:?}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("algorithms/best.json")).unwrap())
            .unwrap();
    let run = best["best"]["run"].as_str().unwrap();
    assert!(["q", "on_policy", "expected"].contains(&run), "{best}");
}
