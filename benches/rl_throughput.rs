//! Tabular RL throughput: environment steps per second on one core, training included
//! (action choice, table sampling, TD update). Prints numbers; asserts nothing.
//! Run: `cargo bench --bench rl_throughput`.
//!
//! Two rates per case: wall clock, and on-CPU time of this thread (from
//! `/proc/thread-self/schedstat`, nanoseconds). On a shared machine the second is the
//! one-core rate; the first includes time the thread waited for a core.

use std::time::Instant;

/// Nanoseconds this thread has spent on a CPU (Linux), if available.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

use ammc::rl::agent::{AgentConfig, Algorithm, Budget, Epsilon, Unit};
use ammc::rl::env::{EnvSpec, LakeMap};
use ammc::rl::run;

fn measure(label: &str, env: &EnvSpec, algorithm: Algorithm, steps: u64) -> f64 {
    let mut cfg = AgentConfig::new(algorithm);
    cfg.budget = Budget::Steps(steps);
    cfg.epsilon = Epsilon::Linear {
        from: 1.0,
        to: 0.05,
        over: steps / 10,
        unit: Unit::Steps,
    };
    cfg.eval_episodes = 1;
    // Best of three: the machine is shared.
    let (mut best_wall, mut best_cpu) = (0.0f64, 0.0f64);
    for _ in 0..3 {
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let r = run(&env.clone().into(), &cfg, &mut |_| {}).expect("valid benchmark config");
        let wall = start.elapsed().as_secs_f64();
        let cpu1 = thread_cpu_ns();
        // Rates over the whole run (training dominates: evaluation is one episode).
        best_wall = best_wall.max(r.learned.steps as f64 / wall);
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            best_cpu = best_cpu.max(r.learned.steps as f64 / ((b - a) as f64 * 1e-9));
        }
    }
    println!(
        "{label:<40} {:>7.1} M steps/s on-CPU  {:>7.1} M steps/s wall  ({steps} steps, best of 3)",
        best_cpu / 1e6,
        best_wall / 1e6
    );
    best_cpu
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    println!("rl_throughput on {cpu}, one thread");
    let lake = EnvSpec::FrozenLake {
        map: LakeMap::Named4x4,
        slippery: true,
    };
    measure(
        "q_learning frozen_lake 4x4 slippery",
        &lake,
        Algorithm::QLearning,
        20_000_000,
    );
    measure("sarsa frozen_lake 4x4", &lake, Algorithm::Sarsa, 10_000_000);
    measure(
        "expected_sarsa frozen_lake 4x4",
        &lake,
        Algorithm::ExpectedSarsa,
        10_000_000,
    );
    measure(
        "double_q frozen_lake 4x4",
        &lake,
        Algorithm::DoubleQ,
        10_000_000,
    );
    measure(
        "q_learning taxi",
        &EnvSpec::Taxi,
        Algorithm::QLearning,
        10_000_000,
    );
    measure(
        "q_learning cliff_walking",
        &EnvSpec::CliffWalking,
        Algorithm::QLearning,
        10_000_000,
    );
    measure(
        "q_learning cartpole (default bins 1,1,6,12)",
        &EnvSpec::CartPole,
        Algorithm::QLearning,
        5_000_000,
    );
}
