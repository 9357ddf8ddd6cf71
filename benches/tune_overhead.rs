//! Per-trial overhead of a study with a journal: a random search on a free objective, so the
//! time is the study's own (suggest, journal appends, bookkeeping). Each journal append
//! reads only the file's tail, so the cost per trial stays flat as the journal grows. Run with
//! `cargo bench --bench tune_overhead`. Prints a table; asserts nothing.

use std::time::{Duration, Instant};

use ammc::tune::*;

fn main() {
    let space = Space::new(vec![Dimension {
        name: "x".into(),
        dist: Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
        },
    }])
    .expect("valid space");
    let dir = std::env::temp_dir().join(format!("ammc-tune-overhead-{}", std::process::id()));
    println!("| trials | total | per trial | journal |");
    println!("|---|---|---|---|");
    for trials in [10, 100, 1_000, 10_000] {
        let _ = std::fs::remove_dir_all(&dir);
        let journal = dir.join("study.journal");
        let cfg = StudyConfig {
            name: "overhead".into(),
            space: space.clone(),
            strategy: Strategy::Random { trials },
            direction: Direction::Minimize,
            seed: 0,
            jobs: 1,
            journal: Some(journal.clone()),
            heartbeat_grace: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(10),
            redis: None,
            prune: None,
        };
        let objective = |p: &Params| -> Result<f64, String> {
            p[0].as_f64().ok_or_else(|| "non-numeric param".to_string())
        };
        let start = Instant::now();
        let result = run_study(&cfg, &objective, &mut |_| {});
        let total = start.elapsed();
        let done = result.map_or(0, |r| r.complete());
        let bytes = std::fs::metadata(&journal).map_or(0, |m| m.len());
        println!(
            "| {trials} | {:.3} s | {:.1} µs | {:.1} MB ({done} complete) |",
            total.as_secs_f64(),
            total.as_secs_f64() * 1e6 / trials as f64,
            bytes as f64 / 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
