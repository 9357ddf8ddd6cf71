//! Hostile inputs to the evaluator, the checker and the tuner (issue 15): search spaces at
//! the edges of i64 and f64, constant arithmetic at the edges, pooling padding, deep chains of
//! networks, huge budgets, stuck journal locks; and tuning correctness (issue 13): categorical
//! resume, failed trials in Bayesian search, derived params in formula objectives.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::ammc;
use ammc::front::front_end;
use ammc::resolve::Value;
use ammc::tune::journal::{Journal, JournalError};
use ammc::tune::*;
use rand::SeedableRng;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-harden-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Diagnostic codes of `check` on a source text (empty when it passes).
fn check_codes(src: &str) -> Vec<String> {
    let fe = front_end("t.amm", src.as_bytes(), None, &[]);
    match fe.program {
        Err(d) => d.iter().map(|d| d.code.to_string()).collect(),
        Ok(p) => match ammc::check::check(&p, &fe.sources) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.code.to_string()).collect(),
        },
    }
}

/// The value of root param `name`.
fn param(src: &str, name: &str) -> Result<Value, Vec<String>> {
    let fe = front_end("t.amm", src.as_bytes(), None, &[]);
    let p = fe
        .program
        .map_err(|d| d.iter().map(|d| d.code.to_string()).collect::<Vec<_>>())?;
    let id = p.lookup(ammc::resolve::ModuleId(0), name).unwrap();
    Ok(p.param(id).unwrap().clone())
}

fn dim(dist: Distribution) -> Dimension {
    Dimension {
        name: "x".into(),
        dist,
    }
}

fn cfg(space: Space, strategy: Strategy, journal: Option<PathBuf>) -> StudyConfig {
    StudyConfig {
        name: "s".into(),
        space,
        strategy,
        direction: Direction::Minimize,
        seed: 3,
        jobs: 1,
        journal,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(5),
        redis: None,
        prune: None,
    }
}

// ---------------------------------------------------------------- search spaces

#[test]
fn spaces_sample_inside_their_bounds_at_any_magnitude() {
    let dists = [
        Distribution::Int {
            low: -9_000_000_000_000_000_000,
            high: 9_000_000_000_000_000_000,
            log: false,
            step: 1,
        },
        Distribution::Int {
            low: i64::MIN,
            high: i64::MAX,
            log: false,
            step: 1,
        },
        Distribution::Int {
            low: 0,
            high: i64::MAX,
            log: false,
            step: 1,
        },
        Distribution::Int {
            low: 1,
            high: i64::MAX,
            log: true,
            step: 1,
        },
        Distribution::Int {
            low: i64::MIN,
            high: i64::MAX,
            log: false,
            step: i64::MAX,
        },
        Distribution::Float {
            low: -1e308,
            high: 1e308,
            log: false,
        },
        Distribution::Float {
            low: -f64::MAX,
            high: f64::MAX,
            log: false,
        },
        Distribution::Float {
            low: 5e-324,
            high: f64::MAX,
            log: true,
        },
    ];
    for dist in dists {
        let d = dim(dist.clone());
        d.validate().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut seen = Vec::new();
        for _ in 0..200 {
            let v = d.sample(&mut rng);
            assert!(d.contains(&v), "{dist:?}: sampled {v:?}");
            seen.push(v);
        }
        seen.dedup();
        assert!(
            seen.len() > 100,
            "{dist:?}: only {} distinct samples",
            seen.len()
        );
        for u in [0.0, 1e-9, 0.25, 0.5, 0.75, 1.0 - 1e-12, 1.0] {
            let v = d.from_unit(u);
            assert!(d.contains(&v), "{dist:?}: from_unit({u}) = {v:?}");
            let back = d.to_unit(&v);
            assert!((0.0..=1.0).contains(&back), "{dist:?}: to_unit = {back}");
        }
        if let Distribution::Int { low, high, log, .. } = dist {
            assert_eq!(d.from_unit(0.0), ParamValue::Int(low));
            if high == i64::MAX && low >= 0 && !log {
                assert_eq!(d.from_unit(1.0), ParamValue::Int(high), "{dist:?}");
            }
        }
    }
}

#[test]
fn every_strategy_suggests_inside_huge_spaces() {
    let space = Space::new(vec![
        dim(Distribution::Int {
            low: 0,
            high: i64::MAX,
            log: false,
            step: 1,
        }),
        Dimension {
            name: "y".into(),
            dist: Distribution::Float {
                low: -1e308,
                high: 1e308,
                log: false,
            },
        },
    ])
    .unwrap();
    for strategy in [
        Strategy::Random { trials: 12 },
        Strategy::Genetic {
            population: 4,
            generations: 3,
        },
        Strategy::Bayes {
            trials: 10,
            init: 3,
            batch: 1,
        },
    ] {
        // Maximise x: Bayesian search then pushes against the upper bound, where a wrapped
        // grid index used to suggest i64::MIN.
        let objective = |p: &Params| -> Result<f64, String> {
            Ok(-(p[0].as_f64().unwrap() / 1e18) + p[1].as_f64().unwrap() / 1e308)
        };
        let r = run_study(
            &cfg(space.clone(), strategy.clone(), None),
            &objective,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.complete(), strategy.trials());
        let mut ys = Vec::new();
        for t in &r.trials {
            for (d, v) in space.dims.iter().zip(&t.params) {
                assert!(d.contains(v), "{strategy:?}: {} = {v:?}", d.name);
            }
            ys.push(t.params[1].as_f64().unwrap().to_bits());
        }
        ys.sort_unstable();
        ys.dedup();
        assert!(ys.len() > 2, "{strategy:?}: y takes {} values", ys.len());
    }
}

#[test]
fn check_rejects_spaces_the_tuner_cannot_sample() {
    let tune = |space: &str, ty: &str| {
        format!(
            "param x{ty} = 1\ntune t {{\n    space {{ x ~ {space} }}\n    strategy = random(trials = 2)\n    objective = minimize(x)\n}}\n"
        )
    };
    for (space, ty) in [
        ("uniform(1, 1)", ": float"),
        ("uniform(2.0, 1.0)", ": float"),
        ("log_uniform(0.0, 1.0)", ": float"),
        ("log_uniform(-1.0, 1.0)", ": float"),
        ("int(5, 1)", ": int"),
        ("int(0, 10, step = 0)", ": int"),
        ("int(0, 10, log = true)", ": int"),
        ("int(1, 10, log = true, step = 2)", ": int"),
        ("int(1, 1e30)", ": int"),
        ("int(0.5, 3)", ": int"),
        ("int(-1e19, 0)", ": int"),
    ] {
        let codes = check_codes(&tune(space, ty));
        assert!(
            codes
                .iter()
                .any(|c| c == "amm::tune::bounds" || c == "amm::value::type"),
            "{space}: {codes:?}"
        );
    }
    for (space, ty) in [
        ("uniform(-1e308, 1e308)", ": float"),
        ("int(-9000000000000000000, 9000000000000000000)", ": int"),
        ("int(0, 9223372036854775807)", ": int"),
        ("int(-9223372036854775808, 9223372036854775807)", ": int"),
        ("int(1, 10, log = true)", ": int"),
        ("int(3, 3)", ": int"),
    ] {
        assert_eq!(
            check_codes(&tune(space, ty)),
            Vec::<String>::new(),
            "{space}"
        );
    }
}

// ---------------------------------------------------------------- constant arithmetic

#[test]
fn constant_arithmetic_at_the_edges() {
    let v = |expr: &str| param(&format!("param x = {expr}\n"), "x");
    assert_eq!(v("1 ^ 9223372036854775807"), Ok(Value::Int(1)));
    assert_eq!(v("(-1) ^ 9223372036854775807"), Ok(Value::Int(-1)));
    assert_eq!(v("(-1) ^ 9223372036854775806"), Ok(Value::Int(1)));
    assert_eq!(v("0 ^ 9223372036854775807"), Ok(Value::Int(0)));
    assert_eq!(v("0 ^ 0"), Ok(Value::Int(1)));
    assert_eq!(v("2 ^ 62"), Ok(Value::Int(1 << 62)));
    assert_eq!(v("-9223372036854775808"), Ok(Value::Int(i64::MIN)));
    assert_eq!(v("-9_223_372_036_854_775_808"), Ok(Value::Int(i64::MIN)));
    assert_eq!(v("-9223372036854775807 - 1"), Ok(Value::Int(i64::MIN)));
    assert_eq!(v("2 ^ -1"), Ok(Value::Float(0.5)));
    let err = |expr: &str, code: &str| {
        let got = v(expr);
        assert!(
            got.as_ref().is_err_and(|c| c.iter().any(|c| c == code)),
            "{expr}: {got:?}, expected {code}"
        );
    };
    err("0 ^ -1", "amm::value::not_finite");
    err("0.0 ^ -1", "amm::value::not_finite");
    err("(-8.0) ^ 0.5", "amm::value::not_finite");
    err("10.0 ^ 400", "amm::value::not_finite");
    err("2 ^ 63", "amm::value::overflow");
    err("2 ^ 9223372036854775807", "amm::value::overflow");
    err("-(-9223372036854775808)", "amm::value::overflow");
    err("--9223372036854775808", "amm::value::overflow");
    err("9223372036854775808", "amm::parse::number");
    // A power binds tighter than the sign: this is -(2^63 ^ 1), and 2^63 is no i64.
    err("-9223372036854775808 ^ 1", "amm::parse::number");
    err("1 / 0", "amm::value::div_zero");
    err("1.0 % 0.0", "amm::value::div_zero");
    err("-9223372036854775808 / -1", "amm::value::overflow");
}

#[test]
fn the_smallest_int_prints_and_reads_back() {
    use ammc::source::FileId;
    use ammc::syntax::{parse_file, pretty};
    let src = "param a = -9223372036854775808\nparam b = (-9223372036854775808) ^ 2 + a\n";
    let ast = parse_file(FileId(0), src).unwrap();
    let text = pretty::file(&ast);
    assert!(text.contains("(-9223372036854775808) ^ 2"), "{text}");
    let again = pretty::file(&parse_file(FileId(0), &text).unwrap());
    assert_eq!(text, again);
}

#[test]
fn a_learning_rate_of_infinity_stops_at_check() {
    let src = "data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0)\n\
        head h {\n    flatten\n    dense(10)\n}\nmodel net = h\n\
        train fit {\n    model = net\n    data = digits\n    loss = cross_entropy\n    \
        optimizer = sgd(lr = 0 ^ -1)\n    epochs = 1\n    batch = 32\n}\n";
    assert_eq!(check_codes(src), ["amm::value::not_finite"]);
}

// ---------------------------------------------------------------- layers

fn cnn(layers: &str) -> String {
    format!(
        "data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0)\n\
         backbone f {{\n{layers}\n    flatten\n}}\n\
         head h {{\n    dense(10)\n}}\nmodel net = f -> h\n\
         train fit {{\n    model = net\n    data = digits\n    loss = cross_entropy\n    \
         optimizer = adam(lr = 0.01)\n    epochs = 1\n    batch = 64\n}}\n"
    )
}

#[test]
fn pooling_padding_is_at_most_half_the_kernel() {
    for bad in [
        "maxpool(2, pad = 2)",
        "avgpool(2, pad = 2)",
        "maxpool(3, stride = 1, pad = 2)",
        "maxpool(1, pad = 1)",
    ] {
        assert_eq!(
            check_codes(&cnn(&format!("    {bad}"))),
            ["amm::shape::argument"],
            "{bad}"
        );
    }
    for ok in [
        "maxpool(2, pad = 1)",
        "avgpool(3, stride = 1, pad = 1)",
        "maxpool(5, stride = 2, pad = 2)",
    ] {
        assert_eq!(
            check_codes(&cnn(&format!("    {ok}"))),
            Vec::<String>::new(),
            "{ok}"
        );
    }
}

#[test]
fn pooling_at_the_padding_limit_trains_on_both_backends() {
    let d = dir("pool-limit");
    let file = d.join("pool.amm");
    std::fs::write(
        &file,
        cnn("    conv(2, kernel = 3, pad = 1)\n    maxpool(2, pad = 1)\n    avgpool(3, stride = 2, pad = 1)"),
    )
    .unwrap();
    for backend in ["jit", "reference"] {
        let out = d.join(backend);
        let (code, stdout, stderr) = ammc(&[
            "run",
            file.to_str().unwrap(),
            "--backend",
            backend,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{backend}: {stdout}\n{stderr}");
        assert!(!stderr.contains("amm::internal"), "{stderr}");
    }
}

/// `b{n-1}` uses `b{n-2}` … uses `b0`.
fn chain(n: usize) -> String {
    let mut s = String::from(
        "data digits = builtin.digits(split = [0.7, 0.15, 0.15], seed = 0)\nbackbone b0 {\n    flatten\n}\n",
    );
    for i in 1..n {
        s += &format!("backbone b{i} {{\n    b{}\n}}\n", i - 1);
    }
    s += &format!(
        "head h {{\n    dense(10)\n}}\nmodel net = b{} -> h\n\
         train fit {{\n    model = net\n    data = digits\n    loss = cross_entropy\n    \
         optimizer = adam(lr = 0.01)\n    epochs = 1\n    batch = 32\n}}\n",
        n - 1
    );
    s
}

#[test]
fn long_chains_of_networks_are_bounded_on_small_stacks() {
    let deep = chain(5000);
    let limit = chain(ammc::check::MAX_NET_DEPTH);
    let over = chain(ammc::check::MAX_NET_DEPTH + 1);
    let t = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || (check_codes(&deep), check_codes(&limit), check_codes(&over)))
        .unwrap();
    let (deep, limit, over) = t.join().unwrap();
    assert_eq!(deep, ["amm::shape::depth"]);
    assert_eq!(limit, Vec::<String>::new());
    assert_eq!(over, ["amm::shape::depth"]);
}

#[test]
fn long_chains_of_networks_on_the_main_thread() {
    let d = dir("chain");
    let file = d.join("chain.amm");
    std::fs::write(&file, chain(5000)).unwrap();
    let start = std::time::Instant::now();
    let (code, stdout, stderr) = ammc(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("amm::shape::depth"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_long_cycle_of_networks_is_reported_in_linear_time() {
    let mut src = String::new();
    let n = 3000;
    for i in 0..n {
        src += &format!("backbone b{i} {{\n    b{}\n}}\n", (i + 1) % n);
    }
    let codes = check_codes(&src);
    assert!(!codes.is_empty() && codes.len() <= 4, "{}", codes.len());
    assert!(codes.iter().all(|c| c == "amm::name::recursive_net"));
}

// ---------------------------------------------------------------- budgets

#[test]
fn budgets_are_bounded_at_check() {
    let tune = |strategy: &str| {
        format!(
            "param x = 1.0\ntune t {{\n    space {{ x ~ uniform(0, 1) }}\n    strategy = {strategy}\n    objective = minimize(x)\n}}\n"
        )
    };
    for s in [
        "bayes(trials = 10 ^ 9)",
        "random(trials = 10 ^ 9)",
        "genetic(population = 10 ^ 9)",
        "genetic(2 ^ 32, 2 ^ 32)",
        "genetic(9223372036854775807, 9223372036854775807)",
        "genetic(1001, 1000)",
    ] {
        assert_eq!(check_codes(&tune(s)), ["amm::tune::budget"], "{s}");
    }
    // One thread per job: a million would fail to spawn.
    assert_eq!(
        check_codes(&tune("random(trials = 5)\n    jobs = 1000000")),
        ["amm::value::range"]
    );
    for s in [
        "random(trials = 1000000)",
        "genetic(1000, 1000)",
        "bayes(5)",
    ] {
        assert_eq!(check_codes(&tune(s)), Vec::<String>::new(), "{s}");
    }
}

#[test]
fn huge_budgets_fail_before_allocating() {
    let d = dir("budget");
    let file = d.join("b.amm");
    std::fs::write(
        &file,
        "param x = 1.0\ntune t {\n    space { x ~ uniform(0, 1) }\n    strategy = genetic(2 ^ 32, 2 ^ 32)\n    objective = minimize(x)\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = ammc(&["run", file.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::tune::budget"), "{stderr}");
    // Batches are produced lazily: the first of an enormous budget costs nothing.
    let first = Strategy::Random { trials: usize::MAX }.batches().next();
    assert_eq!(first, Some(0..8));
    let g = Strategy::Genetic {
        population: 1 << 40,
        generations: 1 << 40,
    };
    assert_eq!(g.trials(), usize::MAX);
    assert_eq!(g.batches().nth(1), Some((1 << 40)..(2 << 40)));
}

// ---------------------------------------------------------------- journal

#[test]
fn a_stale_lock_that_cannot_be_removed_is_an_error_naming_it() {
    let d = dir("stuck-lock");
    let path = d.join("study.journal");
    let lock = d.join("study.journal.lock");
    // A directory cannot be removed with remove_file; make it look abandoned long ago.
    std::fs::create_dir(&lock).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let j = Journal::new(&path);
    std::thread::spawn(move || {
        let _ = tx.send(j.append(&[serde_json::json!({"op_code": 0})]));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("append spins on a lock it cannot remove");
    match got {
        Err(e @ JournalError::StaleLock { .. }) => {
            let help = miette::Diagnostic::help(&e).unwrap().to_string();
            assert!(help.contains(lock.to_str().unwrap()), "{help}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn append_cuts_a_torn_tail_longer_than_a_block() {
    let d = dir("torn");
    let path = d.join("study.journal");
    let j = Journal::new(&path);
    j.append(&[serde_json::json!({"op_code": 0, "study_name": "a", "directions": [1]})])
        .unwrap();
    let good = std::fs::read(&path).unwrap();
    // A crash mid-write: 10 kB of a line without its newline.
    let mut torn = good.clone();
    torn.extend(std::iter::repeat_n(b'x', 10_000));
    std::fs::write(&path, &torn).unwrap();
    j.append(&[serde_json::json!({"op_code": 0, "study_name": "b", "directions": [2]})])
        .unwrap();
    let r = j.replay().unwrap();
    let names: Vec<&str> = r.studies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    // A file that is one torn line is emptied.
    std::fs::write(&path, vec![b'y'; 5000]).unwrap();
    j.append(&[serde_json::json!({"op_code": 0, "study_name": "c", "directions": [1]})])
        .unwrap();
    assert_eq!(j.replay().unwrap().studies.len(), 1);
}

// ---------------------------------------------------------------- issue 13

#[test]
fn float_choices_resume_from_their_index() {
    let d = dir("choice-resume");
    let path = d.join("study.journal");
    let space = Space::new(vec![dim(Distribution::Choice(vec![
        ParamValue::Float(10.0),
        ParamValue::Float(20.0),
        ParamValue::Float(30.0),
    ]))])
    .unwrap();
    let objective = |p: &Params| -> Result<f64, String> { Ok(p[0].as_f64().unwrap()) };
    let c = cfg(space, Strategy::Random { trials: 10 }, Some(path.clone()));
    let first = run_study(&c, &objective, &mut |_| {}).unwrap();
    // Optuna's internal representation of a categorical value is its index.
    let replay = Journal::new(&path).replay().unwrap();
    for (t, rec) in first.trials.iter().zip(&replay.trials) {
        let idx = [10.0, 20.0, 30.0]
            .iter()
            .position(|v| Some(*v) == t.params[0].as_f64())
            .unwrap();
        assert_eq!(rec.params["x"], idx as f64);
    }
    let again = run_study(&c, &objective, &mut |_| {}).unwrap();
    assert!(again.trials.iter().all(|t| t.resumed));
    let params = |r: &StudyResult| {
        r.trials
            .iter()
            .map(|t| t.params.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(params(&first), params(&again));
}

#[test]
fn ints_beyond_two_to_the_53_resume_exactly() {
    let d = dir("int-resume");
    let path = d.join("study.journal");
    let space = Space::new(vec![dim(Distribution::Int {
        low: i64::MAX - 1000,
        high: i64::MAX,
        log: false,
        step: 1,
    })])
    .unwrap();
    let objective = |_: &Params| -> Result<f64, String> { Ok(1.0) };
    let c = cfg(space, Strategy::Random { trials: 8 }, Some(path));
    let first = run_study(&c, &objective, &mut |_| {}).unwrap();
    let again = run_study(&c, &objective, &mut |_| {}).unwrap();
    assert!(again.trials.iter().all(|t| t.resumed));
    let params = |r: &StudyResult| {
        r.trials
            .iter()
            .map(|t| t.params.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(params(&first), params(&again));
}

#[test]
fn bayes_does_not_propose_failed_points_again() {
    let space = Space::new(vec![dim(Distribution::Float {
        low: 0.0,
        high: 1.0,
        log: false,
    })])
    .unwrap();
    // The minimum is at the edge of a region where trials fail.
    let objective = |p: &Params| -> Result<f64, String> {
        let x = p[0].as_f64().unwrap();
        if x < 0.3 {
            Err("diverged".into())
        } else {
            Ok(x)
        }
    };
    let r = run_study(
        &cfg(
            space,
            Strategy::Bayes {
                trials: 25,
                init: 4,
                batch: 1,
            },
            None,
        ),
        &objective,
        &mut |_| {},
    )
    .unwrap();
    let failed: Vec<f64> = r
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Fail)
        .map(|t| t.params[0].as_f64().unwrap())
        .collect();
    let mut repeats = 0;
    for (i, a) in failed.iter().enumerate() {
        if failed[..i].iter().any(|b| (a - b).abs() < 1e-3) {
            repeats += 1;
        }
    }
    assert!(repeats <= 1, "failed points proposed again: {failed:?}");
    assert!(
        failed.len() < 12,
        "{} of 25 trials failed: {failed:?}",
        failed.len()
    );
    let best = r.best_trial().unwrap().value.unwrap();
    assert!(best < 0.35, "best {best}");
}

#[test]
fn derived_params_follow_the_searched_ones() {
    let d = dir("derived");
    let file = d.join("derived.amm");
    std::fs::write(
        &file,
        "param x = 0.0\nparam y = (x - 3) ^ 2\nparam k: int = 2\nparam z = y * k\n\
         tune t {\n    space { x ~ uniform(0, 6) }\n    strategy = random(trials = 8)\n    objective = minimize(z)\n}\n",
    )
    .unwrap();
    let (code, stdout, stderr) =
        ammc(&["run", file.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("t/best.json")).unwrap()).unwrap();
    let x = best["best"]["params"]["x"].as_f64().unwrap();
    let value = best["best"]["value"].as_f64().unwrap();
    assert!((value - 2.0 * (x - 3.0).powi(2)).abs() < 1e-9, "{best}");
    assert!(value < 18.0, "{best}");
    // A `--set` on a derived param keeps it fixed.
    let out = d.join("set");
    let (code, _, stderr) = ammc(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "y=1.5",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("t/best.json")).unwrap()).unwrap();
    assert_eq!(best["best"]["value"].as_f64(), Some(3.0), "{best}");
}

#[test]
fn runtime_rules_of_layers_and_optimizers_are_checked() {
    for (layers, optimizer) in [
        (
            "    conv(2, kernel = 3) batchnorm(eps = -1.0)",
            "adam(lr = 0.01)",
        ),
        (
            "    conv(2, kernel = 3) batchnorm(eps = 0.0)",
            "adam(lr = 0.01)",
        ),
        (
            "    conv(2, kernel = 3) batchnorm(eps = 1e-300)",
            "adam(lr = 0.01)",
        ),
        (
            "    conv(2, kernel = 3) batchnorm(momentum = 2.0)",
            "adam(lr = 0.01)",
        ),
        (
            "    conv(2, kernel = 3) leaky_relu(slope = 1e300)",
            "adam(lr = 0.01)",
        ),
        ("    conv(2, kernel = 3)", "sgd(lr = 1e300)"),
        (
            "    conv(2, kernel = 3)",
            "adam(lr = 0.01, weight_decay = 1e39)",
        ),
        (
            "    conv(2, kernel = 3)",
            "adam(lr = 0.01, beta1 = 0.99999999999)",
        ),
        (
            "    conv(2, kernel = 3)",
            "adamw(lr = 0.01, beta2 = 0.99999999999)",
        ),
    ] {
        let src = cnn(layers).replace("adam(lr = 0.01)", optimizer);
        let codes = check_codes(&src);
        assert!(
            codes == ["amm::shape::argument"] || codes == ["amm::value::range"],
            "{layers} {optimizer}: {codes:?}"
        );
    }
}
