//! Planning agents: value-iteration sweeps per second, policy-iteration time, and MCTS
//! simulated steps per second, with the quality each reaches. Prints numbers; asserts
//! nothing. Run: `cargo bench --bench plan` (`-- quick` skips the 10-seed CartPole runs).

use std::time::Instant;

use ammc::front::front_end;
use ammc::rl::env::BuiltEnv;
use ammc::rl::plan::block::{evaluate_table, run_mcts};
use ammc::rl::plan::{PlanMethod, SolveConfig, policy_iteration, value_iteration};
use ammc::rl::program::{AgentSetup, agent};

fn setup(src: &str) -> AgentSetup {
    let fe = front_end("bench.amm", src.as_bytes(), None, &[]);
    let program = fe.program.expect("benchmark program resolves");
    let id = program.modules[0].scope["a"];
    agent(&program, id).expect("benchmark agent checks")
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    println!(
        "table planners (gamma 1 for value iteration, 0.99 for policy iteration; tolerance 1e-10)"
    );
    println!(
        "{:<34} {:>8} {:>12} {:>12} {:>12} {:>10}",
        "environment", "sweeps", "sweeps/s", "exact return", "exact succ", "PI ms"
    );
    for env in [
        "frozen_lake(map = \"4x4\")",
        "frozen_lake(map = \"8x8\")",
        "cliff_walking()",
        "taxi()",
    ] {
        let s = setup(&format!(
            "env e = {env}\nagent a = value_iteration(env = e)\n"
        ));
        let BuiltEnv::Tabular(t) = s.env.build().expect("tabular") else {
            continue;
        };
        let mut cfg = SolveConfig {
            gamma: 1.0,
            tolerance: 1e-10,
            max_iterations: 1_000_000,
            horizon: None,
        };
        let start = Instant::now();
        let mut reps = 0u32;
        let mut solved = value_iteration(&t, &cfg);
        while start.elapsed().as_secs_f64() < 0.5 {
            solved = value_iteration(&t, &cfg);
            reps += 1;
        }
        let per = start.elapsed().as_secs_f64() / f64::from(reps.max(1));
        let (_, exact) = evaluate_table(&t, &solved, 1, 0);
        cfg.gamma = 0.99;
        let start = Instant::now();
        let _ = policy_iteration(&t, &cfg);
        let pi_ms = start.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<34} {:>8} {:>12.0} {:>12.4} {:>12.4} {:>10.2}",
            env,
            solved.iterations,
            solved.iterations as f64 / per,
            exact.mean_return,
            exact.success_rate,
            pi_ms
        );
    }
    println!();
    println!("mcts (one tree; seeds are evaluation episodes)");
    let cases: &[(&str, &str, u64)] = &[
        (
            "cartpole()",
            "simulations = 200 depth = 200 gamma = 1.0",
            if quick { 2 } else { 10 },
        ),
        (
            "frozen_lake(map = \"4x4\")",
            "simulations = 2000 depth = 100 gamma = 1.0",
            if quick { 20 } else { 200 },
        ),
        ("taxi()", "simulations = 500 depth = 50 gamma = 1.0", 20),
    ];
    for (env, fields, episodes) in cases {
        let s = setup(&format!(
            "env e = {env}\nagent a = mcts(env = e) {{ {fields} }}\n"
        ));
        let Some(PlanMethod::Mcts(m)) = s.plan.as_ref().map(|p| p.method.clone()) else {
            continue;
        };
        let built = s.env.build().expect("env builds");
        let start = Instant::now();
        let eps = run_mcts(&built, &m, *episodes, 0);
        let secs = start.elapsed().as_secs_f64();
        let sims: u64 = eps.iter().map(|e| e.sim_steps).sum();
        let steps: u64 = eps.iter().map(|e| u64::from(e.steps)).sum();
        let succ = eps.iter().filter(|e| e.success).count();
        let mean = eps.iter().map(|e| e.ret).sum::<f64>() / eps.len().max(1) as f64;
        println!(
            "{env} [{fields}]: {succ}/{} successes, mean return {mean:.3}, {:.2}M simulated steps/s, {:.2} ms per decision, {secs:.1}s",
            eps.len(),
            sims as f64 / secs / 1e6,
            1e3 * secs / steps.max(1) as f64
        );
    }
}
