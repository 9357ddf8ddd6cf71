//! `ammc run` on tune blocks: formula objectives, train targets with failing configurations,
//! report files, and agent targets.

use std::path::PathBuf;

use crate::support::ammc;
use ammc::syntax::ast::ItemKind;
use ammc::tune::Formula;

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-tune-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn branin_formula_from_the_example_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/branin.amm");
    let bytes = std::fs::read(&path).unwrap();
    let fe = ammc::front::front_end("branin.amm", &bytes, Some(&path), &[]);
    let program = fe.program.unwrap();
    let mut checked = 0;
    for def in &program.defs {
        let ItemKind::Tune(t) = &def.item.kind else {
            continue;
        };
        let obj = t.fields.iter().find(|f| f.key.name == "objective").unwrap();
        let ammc::syntax::ast::ExprKind::Call(c) = &obj.value.kind else {
            panic!("objective is a call")
        };
        let inner = &c.arg_list()[0].value;
        let var = |n: &str| match n {
            "x" => Some(0),
            "y" => Some(1),
            _ => None,
        };
        let f = Formula::from_ast(inner, &var, &|_| None).unwrap();
        let v = f.eval(&[std::f64::consts::PI, 2.275]).unwrap();
        assert!((v - 0.397887).abs() < 1e-6, "{v}");
        let far = f.eval(&[-5.0, 0.0]).unwrap();
        assert!((far - ammc::tune::branin(-5.0, 0.0)).abs() < 1e-9);
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn formula_errors_are_values() {
    use ammc::syntax::ast::{Expr, ExprKind};
    let span = ammc::source::Span::new(ammc::source::FileId(0), 0, 0);
    let e = |kind| Expr { kind, span };
    let neg = e(ExprKind::Neg(Box::new(e(ExprKind::Int(1)))));
    let f = Formula::Call(
        ammc::tune::formula::Func::Log,
        Box::new(Formula::from_ast(&neg, &|_| None, &|_| None).unwrap()),
    );
    assert!(f.eval(&[]).is_err());
    assert!(Formula::from_ast(&e(ExprKind::Str("a".into())), &|_| None, &|_| None).is_err());
}

#[test]
fn run_branin_random_writes_reports() {
    let out = out_dir("branin");
    let (code, stdout, stderr) = ammc(&[
        "run",
        "examples/branin.amm",
        "random_search",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("best params: --set x="), "{stdout}");
    assert_eq!(stdout.matches("COMPLETE").count(), 100);
    let best: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("random_search/best.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(best["complete"], 100);
    let v = best["best"]["value"].as_f64().unwrap();
    assert!((ammc::tune::BRANIN_MIN..3.0).contains(&v), "{v}");
    let svg = std::fs::read_to_string(out.join("random_search/trials.svg")).unwrap();
    assert!(
        svg.starts_with("<svg")
            && svg.contains("<circle")
            && svg.contains("<polyline")
            && svg.contains("best so far")
            && svg.contains("objective (minimised)")
            && svg.trim_end().ends_with("</svg>")
    );
    // One dot per trial, and one in the legend.
    assert_eq!(svg.matches("<circle").count(), 101);
    // Rerunning resumes the finished study: nothing new is evaluated, same best.
    let (code, stdout2, _) = ammc(&[
        "run",
        "examples/branin.amm",
        "random_search",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0);
    assert!(stdout2.contains("resumed: 100 trials"), "{stdout2}");
    let line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("best trial"))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&stdout), line(&stdout2));
    let _ = std::fs::remove_dir_all(&out);
}

const TRAIN_TUNE: &str = r#"
use std.heads.{classifier}

param lr = 1e-2
param width: int = 8

data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")

backbone mlp {
    flatten
    dense(width) relu
}

model net = mlp -> classifier(classes = 10)

train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = adam(lr = lr)
    epochs = 1
    batch = 64
}

tune search {
    run = fit
    space {
        lr ~ log_uniform(1e-3, 1e-1)
        width ~ int(0, 16, step = 8)
    }
    strategy = random(trials = 6)
    objective = maximize(val.accuracy)
    jobs = 2
    seed = 5
}
"#;

#[test]
fn train_target_with_failing_configurations() {
    let out = out_dir("train");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("t.amm");
    std::fs::write(&file, TRAIN_TUNE).unwrap();
    let (code, stdout, stderr) = ammc(&[
        "run",
        file.to_str().unwrap(),
        "search",
        "--out",
        out.join("runs").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stderr}");
    // width = 0 fails the shape checker: a FAIL trial with the diagnostic, not a crash.
    let journal = std::fs::read_to_string(out.join("runs/search/study.journal")).unwrap();
    assert!(journal.contains("amm::shape::argument"), "{journal}");
    let fails = stdout.lines().filter(|l| l.contains(" FAIL ")).count();
    let completes = stdout.lines().filter(|l| l.contains(" COMPLETE ")).count();
    assert_eq!(fails + completes, 6, "{stdout}");
    assert!(fails >= 1 && completes >= 1, "{stdout}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("runs/search/best.json")).unwrap())
            .unwrap();
    let acc = best["best"]["value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert_ne!(best["best"]["params"]["width"], 0);
    let _ = std::fs::remove_dir_all(&out);
}

/// The trial table without the seconds column (wall time differs between runs).
fn table_rows(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.contains(" COMPLETE ") || l.contains(" FAIL ") || l.contains(" PRUNED "))
        .map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            w.pop();
            w.join(" ")
        })
        .collect()
}

/// `examples/tune_agent.amm` with a smaller budget and the given `jobs`.
fn small_agent_tune(dir: &std::path::Path, jobs: usize) -> PathBuf {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tune_agent.amm"),
    )
    .unwrap();
    let text = text
        .replace("episodes = 5_000", "episodes = 1_500")
        .replace(
            "population = 8, generations = 5",
            "population = 4, generations = 3",
        )
        .replace("jobs = 2", &format!("jobs = {jobs}"));
    assert!(text.contains("generations = 3") && text.contains(&format!("jobs = {jobs}")));
    let file = dir.join(format!("agent{jobs}.amm"));
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn agent_target_runs_and_jobs_do_not_change_results() {
    let out = out_dir("agent");
    std::fs::create_dir_all(&out).unwrap();
    let mut tables = Vec::new();
    let mut bests = Vec::new();
    for jobs in [1, 2] {
        let file = small_agent_tune(&out, jobs);
        let runs = out.join(format!("runs{jobs}"));
        let (code, stdout, stderr) = ammc(&[
            "run",
            file.to_str().unwrap(),
            "evolve",
            "--out",
            runs.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("best params: --set alpha="), "{stdout}");
        let rows = table_rows(&stdout);
        assert_eq!(rows.len(), 12, "{stdout}");
        assert!(rows.iter().all(|r| r.ends_with("COMPLETE")), "{stdout}");
        let best: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(runs.join("evolve/best.json")).unwrap())
                .unwrap();
        // A success rate; on slippery 4x4 FrozenLake a tabular agent reaches well above 0.3.
        let v = best["best"]["value"].as_f64().unwrap();
        assert!((0.3..=1.0).contains(&v), "{v}");
        let alpha = best["best"]["params"]["alpha"].as_f64().unwrap();
        assert!((0.01..=0.5).contains(&alpha), "{alpha}");
        tables.push(rows);
        bests.push(best["best"].clone());
    }
    assert_eq!(tables[0], tables[1]);
    assert_eq!(bests[0], bests[1]);
    // The trials really ran the agent with their params: different params, different values.
    let values: std::collections::BTreeSet<&str> = tables[0]
        .iter()
        .map(|r| r.split_whitespace().rev().nth(1).unwrap())
        .collect();
    assert!(values.len() > 1, "{:?}", tables[0]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn agent_objective_metric_is_checked_before_the_study() {
    let out = out_dir("agent-metric");
    std::fs::create_dir_all(&out).unwrap();
    let file = small_agent_tune(&out, 1);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("maximize(eval.success)", "maximize(eval.accuracy)");
    std::fs::write(&file, text).unwrap();
    let (code, _, stderr) = ammc(&[
        "run",
        file.to_str().unwrap(),
        "evolve",
        "--out",
        out.join("runs").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::tune::metric"), "{stderr}");
    assert!(stderr.contains("eval.success"), "{stderr}");
    assert!(!out.join("runs/evolve/study.journal").exists());
    let _ = std::fs::remove_dir_all(&out);
}

const PRUNE_TUNE: &str = r#"
use std.heads.{classifier}

param lr = 1e-2

data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0, normalize = "scale")

backbone mlp {
    flatten
    dense(16) relu
}

model net = mlp -> classifier(classes = 10)

train fit {
    model = net
    data = digits
    loss = cross_entropy
    optimizer = sgd(lr = lr)
    epochs = 4
    batch = 64
}

tune search {
    run = fit
    space {
        lr ~ log_uniform(1e-5, 1.0)
    }
    strategy = random(trials = 16)
    objective = maximize(val.accuracy)
    prune = median(warmup = 1)
    jobs = 2
    seed = 3
}
"#;

#[test]
fn median_pruning_stops_bad_learning_rates() {
    let out = out_dir("prune");
    std::fs::create_dir_all(&out).unwrap();
    let mut runs = Vec::new();
    for (name, text) in [
        ("pruned", PRUNE_TUNE.to_string()),
        (
            "plain",
            PRUNE_TUNE.replace("prune = median(warmup = 1)\n", ""),
        ),
    ] {
        let file = out.join(format!("{name}.amm"));
        std::fs::write(&file, &text).unwrap();
        let dir = out.join(name);
        let (code, stdout, stderr) = ammc(&[
            "run",
            file.to_str().unwrap(),
            "search",
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let best: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("search/best.json")).unwrap())
                .unwrap();
        let journal = std::fs::read_to_string(dir.join("search/study.journal")).unwrap();
        runs.push((stdout, best, journal));
    }
    let (pruned_out, pruned_best, journal) = &runs[0];
    let (plain_out, plain_best, _) = &runs[1];
    let n_pruned = pruned_best["pruned"].as_u64().unwrap();
    assert!(n_pruned > 0, "{pruned_out}");
    assert_eq!(table_rows(pruned_out).len(), 16);
    assert_eq!(
        pruned_out
            .lines()
            .filter(|l| l.contains(" PRUNED "))
            .count() as u64,
        n_pruned
    );
    assert!(
        pruned_out.contains(&format!("{n_pruned} trial")),
        "{pruned_out}"
    );
    assert_eq!(plain_best["pruned"], 0);
    assert!(!plain_out.contains(" PRUNED "));
    // The best configuration trains to the end either way: same trial, same value.
    assert_eq!(pruned_best["best"], plain_best["best"]);
    // Optuna's records: per-epoch intermediate values (steps 0–3) and PRUNED = 2.
    let ops: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: std::collections::BTreeSet<u64> = ops
        .iter()
        .filter(|o| o["op_code"] == 7)
        .map(|o| o["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (0..4).collect());
    let pruned_states = ops
        .iter()
        .filter(|o| o["op_code"] == 6 && o["state"] == 2)
        .count() as u64;
    assert_eq!(pruned_states, n_pruned);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn run_branin_tpe_in_batches_writes_history_and_slice_plots() {
    let out = out_dir("tpe");
    let run = || {
        ammc(&[
            "run",
            "examples/branin.amm",
            "tpe_search",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
    };
    let (code, stdout, stderr) = run();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.matches("COMPLETE").count(), 60, "{stdout}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tpe_search/best.json")).unwrap())
            .unwrap();
    let v = best["best"]["value"].as_f64().unwrap();
    assert!(v - ammc::tune::BRANIN_MIN < 0.5, "{v}");
    let slice = std::fs::read_to_string(out.join("tpe_search/slice.svg")).unwrap();
    // One panel per param, a dot per trial in each and one in each legend.
    assert!(slice.starts_with("<svg") && slice.contains("\nx\n") && slice.contains("\ny\n"));
    assert_eq!(slice.matches("<circle").count(), 2 * 61);
    // Same seed, same batches: a second study in a fresh directory is identical.
    let first = std::fs::read_to_string(out.join("tpe_search/best.json")).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let (code, _, stderr) = run();
    assert_eq!(code, 0, "{stderr}");
    let again = std::fs::read_to_string(out.join("tpe_search/best.json")).unwrap();
    assert_eq!(first, again);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn plots_show_failures_log_scales_and_choices() {
    let dir = out_dir("plots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plots.amm");
    std::fs::write(
        &file,
        r#"param lr = 0.01
param act = "relu"

tune search {
    space {
        lr ~ log_uniform(1e-6, 100)
        act ~ choice("relu", "tanh")
    }
    strategy = tpe(trials = 30, startup = 8)
    objective = minimize(1000 * lr + 1 / sqrt(1 - lr))
}
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let (code, stdout, stderr) = ammc(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let history = std::fs::read_to_string(out.join("search/trials.svg")).unwrap();
    // lr > 1 fails (square root of a negative number): crosses on the bottom edge and a
    // legend entry; values from about 1 to 1e3 put the y axis on a log scale.
    assert!(history.contains("failed (no value)"), "no failures drawn");
    assert!(history.contains("\n1e1\n"), "no log ticks");
    let slice = std::fs::read_to_string(out.join("search/slice.svg")).unwrap();
    assert!(slice.contains("lr (log scale)") && slice.contains("tanh"));
    let _ = std::fs::remove_dir_all(&dir);
}
