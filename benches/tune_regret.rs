//! Simple-regret benchmark of the tuning strategies on Branin (and Hartmann-6), plus the
//! per-suggestion overhead of `bayes`. Run with `cargo bench --bench tune_regret`.
//! Prints a table; asserts nothing.

use std::f64::consts::PI;
use std::time::Instant;

use ammc::tune::{
    Direction, Distribution, Optimizer, Outcome, ParamSpec, SearchSpace, StrategyConfig,
};

const BRANIN_MIN: f64 = 0.397_887_357_729_738;
const HARTMANN6_MIN: f64 = -3.322_368_011_415_51;

fn branin(x: f64, y: f64) -> f64 {
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

fn hartmann6(x: &[f64]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    -(0..4)
        .map(|i| {
            let s: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

struct Problem {
    name: &'static str,
    space: SearchSpace,
    f: fn(&ammc::tune::TrialParams) -> f64,
    min: f64,
}

fn branin_problem() -> Problem {
    let space = SearchSpace::new(vec![
        ParamSpec::new("x", Distribution::uniform(-5.0, 10.0)),
        ParamSpec::new("y", Distribution::uniform(0.0, 15.0)),
    ])
    .expect("valid space");
    Problem {
        name: "branin",
        space,
        f: |p| branin(p.float("x").unwrap_or(0.0), p.float("y").unwrap_or(0.0)),
        min: BRANIN_MIN,
    }
}

fn hartmann_problem() -> Problem {
    let space = SearchSpace::new(
        (0..6)
            .map(|i| ParamSpec::new(format!("x{i}"), Distribution::uniform(0.0, 1.0)))
            .collect(),
    )
    .expect("valid space");
    Problem {
        name: "hartmann6",
        space,
        f: |p| {
            let x: Vec<f64> = (0..6)
                .map(|i| p.float(&format!("x{i}")).unwrap_or(0.0))
                .collect();
            hartmann6(&x)
        },
        min: HARTMANN6_MIN,
    }
}

/// CPU time of the current thread in seconds (Linux `schedstat`), so the overhead numbers
/// are not inflated when other processes compete for the cores.
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Timing of the suggestion calls of one run.
#[derive(Default)]
struct AskTiming {
    wall_total: f64,
    wall_last: f64,
    cpu_total: f64,
    cpu_last: f64,
}

/// Runs one optimisation; returns the simple regret and the timing of `ask`.
fn run(p: &Problem, strategy: &StrategyConfig, batch: usize, seed: u64) -> (f64, AskTiming) {
    let mut opt =
        Optimizer::new(p.space.clone(), strategy, Direction::Minimize, seed).expect("valid");
    let mut best = f64::INFINITY;
    let mut timing = AskTiming::default();
    while opt.remaining() > 0 {
        let t = Instant::now();
        let c = thread_cpu();
        let batch_s = opt.ask(batch);
        timing.wall_last = t.elapsed().as_secs_f64();
        timing.wall_total += timing.wall_last;
        if let (Some(a), Some(b)) = (c, thread_cpu()) {
            timing.cpu_last = b - a;
            timing.cpu_total += b - a;
        }
        for s in batch_s {
            let v = (p.f)(&s.params);
            best = best.min(v);
            opt.tell(s.slot, Outcome::Complete(v))
                .expect("pending slot");
        }
    }
    (best - p.min, timing)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() {
    let seeds: Vec<u64> = (0..20).collect();
    let quick = std::env::args().any(|a| a == "--quick");
    let branin_p = branin_problem();
    let hartmann = hartmann_problem();
    let mut cases: Vec<(&Problem, &str, StrategyConfig, usize, &str)> = vec![
        (
            &branin_p,
            "bayes",
            StrategyConfig::bayes(50, None),
            1,
            "<= 1e-4",
        ),
        (
            &branin_p,
            "bayes batch=4",
            StrategyConfig::bayes(50, None),
            4,
            "",
        ),
        (
            &branin_p,
            "genetic 10x10",
            StrategyConfig::genetic(10, 10),
            10,
            "<= 0.1",
        ),
        (&branin_p, "random", StrategyConfig::random(50), 8, ""),
        (&branin_p, "random", StrategyConfig::random(100), 8, ""),
    ];
    if !quick {
        cases.push((&hartmann, "bayes", StrategyConfig::bayes(100, None), 1, ""));
        cases.push((
            &hartmann,
            "genetic 20x10",
            StrategyConfig::genetic(20, 10),
            20,
            "",
        ));
        cases.push((&hartmann, "random", StrategyConfig::random(100), 8, ""));
    }
    println!(
        "{:<10} {:<15} {:>6} {:>14} {:>14} {:>14} {:>12}",
        "problem", "strategy", "evals", "median regret", "best", "worst", "target"
    );
    for (p, label, strategy, batch, target) in &cases {
        let mut regrets: Vec<f64> = seeds
            .iter()
            .map(|&s| run(p, strategy, *batch, s).0)
            .collect();
        let lo = regrets.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = regrets.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<10} {:<15} {:>6} {:>14.3e} {:>14.3e} {:>14.3e} {:>12}",
            p.name,
            label,
            strategy.trials(),
            median(&mut regrets),
            lo,
            hi,
            target
        );
    }
    // Expected simple regret of uniform random search on Branin, by Monte Carlo with a
    // fixed generator independent of the strategies (a reference for the random rows).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let draws = 200_000;
    let vals: Vec<f64> = (0..draws)
        .map(|_| branin(-5.0 + 15.0 * uniform(), 15.0 * uniform()) - BRANIN_MIN)
        .collect();
    for n in [50usize, 100] {
        // P(min of n draws > r) = (1 - F(r))^n; median where that equals 1/2.
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        let q = 1.0 - 0.5f64.powf(1.0 / n as f64);
        let med = sorted[(q * draws as f64) as usize];
        // The 20-seed medians above are noisy; the random strategy over 400 seeds should
        // sit close to the expectation.
        let mut many: Vec<f64> = (0..400)
            .map(|s| run(&branin_p, &StrategyConfig::random(n), 8, 1000 + s).0)
            .collect();
        println!(
            "random({n}) on branin: median regret over 400 seeds {:.3e}; uniform-sampling expectation {med:.3e}",
            median(&mut many)
        );
    }
    // Suggestion overhead of bayes at 100 trials (one suggestion per ask).
    let runs: Vec<AskTiming> = (0..3)
        .map(|seed| run(&branin_p, &StrategyConfig::bayes(100, None), 1, seed).1)
        .collect();
    let avg =
        |f: &dyn Fn(&AskTiming) -> f64| 1e3 * runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    println!(
        "bayes overhead (branin, 100 trials, batch 1, target <= 50 ms): wall mean {:.1} ms/step, \
         wall at step 100 {:.1} ms; thread CPU mean {:.1} ms/step, at step 100 {:.1} ms",
        avg(&|t| t.wall_total / 100.0),
        avg(&|t| t.wall_last),
        avg(&|t| t.cpu_total / 100.0),
        avg(&|t| t.cpu_last),
    );
}
