//! Throughput of tabular training: environment steps per second on one core.
//!
//! Run with `cargo bench --bench rl_throughput`. Prints numbers, asserts nothing.
//! Optional arguments: total steps per measurement (default 50,000,000) and a word that
//! selects only the measurements whose name contains it (e.g. `q_learning`).

use std::time::Instant;

use ammc::rl::*;

fn measure(filter: &Option<String>, name: &str, env: &EnvConfig, agent: &AgentConfig) {
    if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
        return;
    }
    // Warm-up run (page faults, caches, CPU frequency).
    let warm = AgentConfig {
        budget: Budget::Steps(1_000_000),
        ..agent.clone()
    };
    train(env, &warm, &mut |_| {}).unwrap();
    let mut best = 0.0f64;
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = train(env, agent, &mut |_| {}).unwrap();
        let secs = t.elapsed().as_secs_f64();
        best = best.max(r.total_steps as f64 / secs);
        last = Some(r);
    }
    let r = last.unwrap();
    println!(
        "{name:<44} {:>7.1} M steps/s  ({} steps, {} episodes)",
        best / 1e6,
        r.total_steps,
        r.episode_returns.len()
    );
}

fn main() {
    let steps: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000_000);
    let filter = std::env::args()
        .skip(1)
        .find(|a| a.parse::<u64>().is_err() && !a.starts_with('-'));
    let base = AgentConfig {
        alpha: 0.05,
        gamma: 0.99,
        epsilon: EpsilonSchedule::Linear {
            from: 1.0,
            to: 0.05,
            steps: steps / 5,
        },
        budget: Budget::Steps(steps),
        eval_episodes: 0,
        window: u64::MAX,
        ..Default::default()
    };
    let lake = EnvConfig::FrozenLake(FrozenLakeConfig::default());
    println!("tabular training throughput, one core, best of 3 runs of {steps} steps");
    measure(
        &filter,
        "q_learning  frozen_lake 4x4 slippery",
        &lake,
        &base,
    );
    for (name, alg) in [
        ("sarsa       frozen_lake 4x4 slippery", Algorithm::Sarsa),
        (
            "exp_sarsa   frozen_lake 4x4 slippery",
            Algorithm::ExpectedSarsa,
        ),
        ("double_q    frozen_lake 4x4 slippery", Algorithm::DoubleQ),
    ] {
        measure(
            &filter,
            name,
            &lake,
            &AgentConfig {
                algorithm: alg,
                ..base.clone()
            },
        );
    }
    let taxi = EnvConfig::Taxi(TaxiConfig::default());
    measure(&filter, "q_learning  taxi", &taxi, &base);
    let cartpole = EnvConfig::CartPole(CartPoleConfig::default());
    measure(
        &filter,
        "q_learning  cartpole (default bins)",
        &cartpole,
        &base,
    );
}
