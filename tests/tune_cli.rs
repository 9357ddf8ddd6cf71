//! `ammc run` on tune blocks: formula objectives, train targets with failing configurations,
//! report files, and the unavailable agent target.

use std::path::PathBuf;
use std::process::Command;

use ammc::syntax::ast::ItemKind;
use ammc::tune::Formula;

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-tune-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ammc(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
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
    assert_eq!(checked, 3);
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
    assert!(svg.starts_with("<svg") && svg.contains("<path") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), 100);
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

#[test]
fn agent_target_is_not_available_yet() {
    let out = out_dir("agent");
    let (code, _, stderr) = ammc(&[
        "run",
        "examples/tune_agent.amm",
        "evolve",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("run = agent not available yet"), "{stderr}");
}
