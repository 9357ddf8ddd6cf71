//! Simple regret on Branin (best value found minus the global minimum 0.397887), median over
//! 20 seeds, for each strategy; and the time of one Bayesian-optimisation suggestion with 100
//! finished trials. Run with `cargo bench --bench tune_regret`. Prints a table; asserts nothing.

use std::time::{Duration, Instant};

use ammc::tune::*;

fn space() -> Space {
    let f = |name: &str, low, high| Dimension {
        name: name.into(),
        dist: Distribution::Float {
            low,
            high,
            log: false,
        },
    };
    Space::new(vec![f("x", -5.0, 10.0), f("y", 0.0, 15.0)]).expect("valid space")
}

fn objective(p: &Params) -> Result<f64, String> {
    match (p[0].as_f64(), p[1].as_f64()) {
        (Some(x), Some(y)) => Ok(branin(x, y)),
        _ => Err("non-numeric params".into()),
    }
}

fn regret(strategy: &Strategy, seed: u64) -> f64 {
    let cfg = StudyConfig {
        name: "branin".into(),
        space: space(),
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
    let r = run_study(&cfg, &objective, &mut |_| {}).expect("in-memory study");
    r.best_trial()
        .and_then(|t| t.value)
        .unwrap_or(f64::INFINITY)
        - BRANIN_MIN
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.25), q(0.5), q(0.75))
}

fn main() {
    // `cargo bench --bench tune_regret -- step` times only the suggestion step.
    if !std::env::args().any(|a| a == "step") {
        regret_table();
    }
    step_time();
}

fn regret_table() {
    let seeds = 20u64;
    println!("Branin simple regret over {seeds} seeds (median, quartiles), minimum 0.397887");
    println!(
        "{:<34} {:>6} {:>11} {:>11} {:>11} {:>9}",
        "strategy", "evals", "q25", "median", "q75", "s/run"
    );
    let rows = [
        (
            "bayes(trials = 50, init = 10)",
            Strategy::Bayes {
                trials: 50,
                init: 10,
            },
        ),
        (
            "genetic(population = 10, gens = 10)",
            Strategy::Genetic {
                population: 10,
                generations: 10,
            },
        ),
        ("random(trials = 50)", Strategy::Random { trials: 50 }),
        ("random(trials = 100)", Strategy::Random { trials: 100 }),
    ];
    for (name, s) in rows {
        let start = Instant::now();
        let r: Vec<f64> = (0..seeds).map(|seed| regret(&s, seed)).collect();
        let secs = start.elapsed().as_secs_f64() / seeds as f64;
        let (a, m, b) = quantiles(r);
        println!(
            "{name:<34} {:>6} {a:>11.3e} {m:>11.3e} {b:>11.3e} {secs:>9.3}",
            s.trials()
        );
    }
}

fn step_time() {
    // Suggestion time with 100 finished trials: the history of a 100-trial study.
    let strategy = Strategy::Bayes {
        trials: 101,
        init: 10,
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
