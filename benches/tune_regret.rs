//! Simple regret (best value found minus the global minimum), median over 20 seeds, after
//! 20, 50 and 100 evaluations, for every strategy on Branin (2-d) and four standard test
//! functions of 4–6 dimensions; Optuna's TPE (and GP sampler, when torch is installed) from
//! the same run through `benches/tune_regret_optuna.py` when `import optuna` works in
//! `$AMMC_OPTUNA_PYTHON` (default `python3`); and the time of one Bayesian-optimisation
//! suggestion with 100 finished trials. Run with `cargo bench --bench tune_regret`
//! (`-- step` for the step time only, `-- branin` for Branin only, `-- seeds=N` for another
//! number of seeds than 20). Prints tables; asserts nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use ammc::tune::tpe::TpeOptions;
use ammc::tune::*;

/// A test function on a box, with its known global minimum.
struct TestFn {
    name: &'static str,
    bounds: Vec<(f64, f64)>,
    f: fn(&[f64]) -> f64,
    min: f64,
}

fn branin_v(x: &[f64]) -> f64 {
    branin(x[0], x[1])
}

const HART_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HART_P: [[f64; 6]; 4] = [
    [1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0],
    [2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0],
    [2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0],
    [4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0],
];
const HART_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];

fn hartmann6(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..4 {
        let inner: f64 = (0..6)
            .map(|j| HART_A[i][j] * (x[j] - HART_P[i][j] * 1e-4).powi(2))
            .sum();
        total += HART_ALPHA[i] * (-inner).exp();
    }
    -total
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

fn styblinski_tang(x: &[f64]) -> f64 {
    x.iter()
        .map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v)
        .sum::<f64>()
        / 2.0
}

fn ackley(x: &[f64]) -> f64 {
    use std::f64::consts::{E, PI};
    let d = x.len() as f64;
    let s1 = x.iter().map(|v| v * v).sum::<f64>() / d;
    let s2 = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / d;
    -20.0 * (-0.2 * s1.sqrt()).exp() - s2.exp() + 20.0 + E
}

fn functions() -> Vec<TestFn> {
    vec![
        TestFn {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            f: branin_v,
            min: BRANIN_MIN,
        },
        TestFn {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            f: hartmann6,
            min: -3.322_368_011_391_339,
        },
        TestFn {
            name: "rosenbrock4",
            bounds: vec![(-5.0, 10.0); 4],
            f: rosenbrock,
            min: 0.0,
        },
        TestFn {
            name: "styblinski_tang5",
            bounds: vec![(-5.0, 5.0); 5],
            f: styblinski_tang,
            min: -39.166_165_703_771_42 * 5.0,
        },
        TestFn {
            name: "ackley5",
            bounds: vec![(-32.768, 32.768); 5],
            f: ackley,
            min: 0.0,
        },
    ]
}

fn space_of(t: &TestFn) -> Space {
    let dims = t
        .bounds
        .iter()
        .enumerate()
        .map(|(i, &(low, high))| Dimension {
            name: format!("x{i}"),
            dist: Distribution::Float {
                low,
                high,
                log: false,
            },
        })
        .collect();
    Space::new(dims).expect("valid space")
}

/// Branin's space, for the step timing.
fn space() -> Space {
    space_of(&functions()[0])
}

fn objective(p: &Params) -> Result<f64, String> {
    match (p[0].as_f64(), p[1].as_f64()) {
        (Some(x), Some(y)) => Ok(branin(x, y)),
        _ => Err("non-numeric params".into()),
    }
}

/// Evaluations at which the regret is reported.
const CHECKPOINTS: [usize; 3] = [20, 50, 100];
const EVALS: usize = 100;

/// Regret after each checkpoint of one study (objective values in trial order).
fn regrets_at(values: &[f64], min: f64) -> Vec<f64> {
    CHECKPOINTS
        .iter()
        .map(|&n| {
            values
                .iter()
                .take(n)
                .copied()
                .filter(|v| v.is_finite())
                .fold(f64::INFINITY, f64::min)
                - min
        })
        .collect()
}

fn run(t: &TestFn, strategy: &Strategy, seed: u64) -> Vec<f64> {
    let cfg = StudyConfig {
        name: t.name.into(),
        space: space_of(t),
        strategy: strategy.clone(),
        direction: Direction::Minimize,
        seed,
        jobs: 1,
        journal: None,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(10),
        redis: None,
        prune: None,
    };
    let f = t.f;
    let obj = move |p: &Params| -> Result<f64, String> {
        let x: Option<Vec<f64>> = p.iter().map(ParamValue::as_f64).collect();
        x.map(|x| f(&x)).ok_or_else(|| "non-numeric params".into())
    };
    let r = run_study(&cfg, &obj, &mut |_| {}).expect("in-memory study");
    let mut trials = r.trials;
    trials.sort_by_key(|t| t.number);
    let values: Vec<f64> = trials
        .iter()
        .map(|t| t.value.unwrap_or(f64::INFINITY))
        .collect();
    regrets_at(&values, t.min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn strategies() -> Vec<(&'static str, Strategy)> {
    let tpe = |multivariate| Strategy::Tpe {
        trials: EVALS,
        startup: 10,
        batch: 1,
        options: TpeOptions {
            candidates: 24,
            gamma: 0.1,
            multivariate,
        },
    };
    vec![
        ("random", Strategy::Random { trials: EVALS }),
        (
            "bayes",
            Strategy::Bayes {
                trials: EVALS,
                init: 10,
                batch: 1,
            },
        ),
        (
            "genetic(10 x 10)",
            Strategy::Genetic {
                population: 10,
                generations: 10,
            },
        ),
        ("tpe", tpe(true)),
        ("tpe(multivariate = false)", tpe(false)),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `-- branin` runs Branin only; `-- seeds=N` sets the number of seeds (20).
    let quick = args.iter().any(|a| a == "branin");
    let seeds = args
        .iter()
        .find_map(|a| a.strip_prefix("seeds=")?.parse().ok())
        .unwrap_or(20);
    // `cargo bench --bench tune_regret -- step` times only the suggestion step.
    if !args.iter().any(|a| a == "step") {
        regret_table(seeds, quick);
    }
    step_time();
}

/// Median regrets of one sampler on one function, at each checkpoint.
struct Row {
    function: String,
    sampler: String,
    medians: Vec<f64>,
    secs_per_run: Option<f64>,
}

fn regret_table(seeds: u64, quick: bool) {
    let fns: Vec<TestFn> = functions()
        .into_iter()
        .filter(|t| !quick || t.name == "branin")
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for t in &fns {
        for (name, s) in strategies() {
            let start = Instant::now();
            let per_seed: Vec<Vec<f64>> = (0..seeds).map(|seed| run(t, &s, seed)).collect();
            let secs = start.elapsed().as_secs_f64() / seeds as f64;
            let medians = (0..CHECKPOINTS.len())
                .map(|c| median(per_seed.iter().map(|r| r[c]).collect()))
                .collect();
            eprintln!("{} {name}: {secs:.2} s/run", t.name);
            rows.push(Row {
                function: t.name.into(),
                sampler: name.into(),
                medians,
                secs_per_run: Some(secs),
            });
        }
    }
    rows.extend(optuna_rows(&fns, seeds));
    println!(
        "Median simple regret over {seeds} seeds after 20 / 50 / 100 evaluations (lower is better)"
    );
    println!("| function | sampler | 20 | 50 | 100 | s/run |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let secs = r
            .secs_per_run
            .map_or("–".to_string(), |s| format!("{s:.2}"));
        println!(
            "| {} | {} | {:.3e} | {:.3e} | {:.3e} | {secs} |",
            r.function, r.sampler, r.medians[0], r.medians[1], r.medians[2]
        );
    }
}

/// Optuna's samplers from `benches/tune_regret_optuna.py`, or none (with a message) when
/// Optuna cannot be imported.
fn optuna_rows(fns: &[TestFn], seeds: u64) -> Vec<Row> {
    let python = std::env::var("AMMC_OPTUNA_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import optuna"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "Optuna rows skipped: `{python} -c 'import optuna'` failed (set AMMC_OPTUNA_PYTHON to a Python with optuna)"
        );
        return Vec::new();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/tune_regret_optuna.py");
    let start = Instant::now();
    let out = Command::new(&python)
        .arg(script)
        .arg(seeds.to_string())
        .arg(EVALS.to_string())
        .args(fns.iter().map(|t| t.name))
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "Optuna rows skipped: the helper failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return Vec::new();
        }
        Err(e) => {
            eprintln!("Optuna rows skipped: {e}");
            return Vec::new();
        }
    };
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let mut by: std::collections::BTreeMap<(String, String), Vec<Vec<f64>>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(f), Some(s), Some(values)) = (
            v["function"].as_str(),
            v["sampler"].as_str(),
            v["values"].as_array(),
        ) else {
            continue;
        };
        let Some(t) = fns.iter().find(|t| t.name == f) else {
            continue;
        };
        let values: Vec<f64> = values
            .iter()
            .map(|x| x.as_f64().unwrap_or(f64::INFINITY))
            .collect();
        by.entry((f.to_string(), s.to_string()))
            .or_default()
            .push(regrets_at(&values, t.min));
    }
    let runs = by.values().map(Vec::len).sum::<usize>().max(1);
    let secs = start.elapsed().as_secs_f64() / runs as f64;
    let mut rows = Vec::new();
    for t in fns {
        for ((f, s), per_seed) in &by {
            if f != t.name {
                continue;
            }
            rows.push(Row {
                function: f.clone(),
                sampler: s.clone(),
                medians: (0..CHECKPOINTS.len())
                    .map(|c| median(per_seed.iter().map(|r| r[c]).collect()))
                    .collect(),
                // The helper's time is shared by every sampler: an average over all runs.
                secs_per_run: Some(secs),
            });
        }
    }
    rows
}

fn step_time() {
    // Suggestion time with 100 finished trials: the history of a 100-trial study.
    let strategy = Strategy::Bayes {
        trials: 101,
        init: 10,
        batch: 1,
    };
    let sp = space();
    let mut history = Vec::new();
    let mut state = SearchState::default();
    for batch in strategy.batches().take_while(|b| b.start < 100) {
        let ps = strategy.suggest(&sp, 0, &history, batch, &mut state);
        for p in ps {
            let loss = objective(&p).ok();
            history.push(Observation { params: p, loss });
        }
    }
    assert_eq!(history.len(), 100);
    let reps = 5;
    let start = Instant::now();
    for _ in 0..reps {
        // The state each step starts from: the one after step 99.
        let mut s = state.clone();
        std::hint::black_box(strategy.suggest(&sp, 0, &history, 100..101, &mut s));
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("bayes suggestion with 100 finished trials: {ms:.1} ms per step");
    // Where the time goes: a from-scratch hyperparameter fit, and GP predictions (the
    // acquisition search costs a few thousand of them).
    let data = gp::Data {
        x: history.iter().map(|o| sp.to_unit(&o.params)).collect(),
        y: history.iter().map(|o| o.loss.unwrap_or(f64::NAN)).collect(),
        categorical: vec![false, false],
    };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let start = Instant::now();
    let mut hyper = gp::Hyper::default_for(2);
    for _ in 0..reps {
        hyper = gp::fit_hyper(&data, &[gp::Hyper::default_for(2)], 1, 15, &mut rng)
            .expect("a valid fit");
    }
    let fit_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let warm = state.hyper().expect("a fitted step").clone();
    let start = Instant::now();
    for _ in 0..reps {
        let probes = [gp::Hyper::default_for(2), gp::Hyper::random(2, &mut rng)];
        std::hint::black_box(gp::refit_hyper(&data, &warm, &probes, 15, 1e-3));
    }
    let refit_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let model = gp::Gp::fit(data, hyper).expect("a valid GP");
    let n_pred = 3000;
    let start = Instant::now();
    let mut acc = 0.0;
    for i in 0..n_pred {
        let u = i as f64 / n_pred as f64;
        acc += model.predict(&[u, 1.0 - u]).mean;
    }
    std::hint::black_box(acc);
    let pred_us = start.elapsed().as_secs_f64() * 1e6 / n_pred as f64;
    println!(
        "  hyperparameter fit from scratch (2 starts, 15 iterations): {fit_ms:.1} ms; warm refit: {refit_ms:.1} ms; one prediction: {pred_us:.2} µs"
    );
}
