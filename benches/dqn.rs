//! DQN throughput with the RL-Zoo CartPole-v1 recipe (`examples/dqn_cartpole.amm`: 50k
//! steps, MLP 256-256, batch 64, Adam 2.3e-3, train_freq 256, gradient_steps 128, target
//! update 10, a checkpoint every 2500 steps keeping the best network) on one JIT thread,
//! over five seeds: wall time, environment steps per second, time per gradient step, time
//! per greedy action (the one-row acting forward), and the greedy evaluation. Then the same
//! network on MountainCar-v0 and Acrobot-v1 for 20k steps. Prints numbers; asserts nothing.
//! Run: `cargo bench --bench dqn` (AMM_DQN_SEEDS=n for fewer seeds).

use ammc::front::front_end;
use ammc::rl::dqn::{DqnResult, run_until};
use ammc::rl::program::agent;
use ammc::runtime::backend::BackendKind;

fn run(src: &str) -> DqnResult {
    let fe = front_end("bench.amm", src.as_bytes(), None, &[]);
    let program = fe.program.expect("the benchmark program resolves");
    let nets = ammc::check::q_networks(&program, &fe.sources).expect("the network checks");
    let id = program.modules[0].scope["learner"];
    let setup = agent(&program, id).expect("the agent checks");
    let backend = BackendKind::Jit {
        threads: 1,
        gemm: Default::default(),
    };
    run_until(
        &setup.env,
        &setup.config,
        setup.dqn.as_ref().expect("a dqn agent"),
        &nets[0],
        backend,
        &mut |_| {},
        &|| false,
    )
    .expect("the run succeeds")
}

fn report(label: &str, wall: f64, r: &DqnResult) {
    println!(
        "{label:32} {wall:6.1} s  {:7.0} steps/s  {:6.3} ms/gradient step ({} steps)  {:5.1} µs/action  greedy return {:7.1} ± {:.1}{}",
        r.learned.steps as f64 / wall,
        1e3 * r.learning_seconds / r.gradient_steps.max(1) as f64,
        r.gradient_steps,
        1e6 * r.acting_seconds / r.greedy_actions.max(1) as f64,
        r.eval.mean_return,
        r.eval.std_return,
        r.checkpoint.map_or(String::new(), |c| format!(
            "  (kept the network of step {}: {:.1} over the checkpoint episodes, {} checkpoints)",
            c.step, c.mean_return, c.evaluations
        )),
    );
}

fn main() {
    let example =
        std::fs::read_to_string("examples/dqn_cartpole.amm").expect("run from the crate root");
    let seeds: u64 = std::env::var("AMM_DQN_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("dqn, RL-Zoo CartPole-v1 recipe, one JIT thread");
    let mut solved = 0;
    for seed in 0..seeds {
        let src = example.replace("seed = 2\n", &format!("seed = {seed}\n"));
        let start = std::time::Instant::now();
        let r = run(&src);
        let wall = start.elapsed().as_secs_f64();
        report(&format!("cartpole seed {seed}"), wall, &r);
        solved += usize::from(r.eval.mean_return >= 475.0);
    }
    println!("solved (greedy mean ≥ 475 over 20 episodes): {solved} of {seeds} seeds");
    acting(&example);
    for (env, actions) in [("mountain_car()", 3), ("acrobot()", 3)] {
        let src = example
            .replace("cartpole()", env)
            .replace("dense(2)", &format!("dense({actions})"))
            .replace("steps = 50000", "steps = 20000")
            .replace("eval_episodes = 20", "eval_episodes = 5");
        let start = std::time::Instant::now();
        let r = run(&src);
        report(env, start.elapsed().as_secs_f64(), &r);
    }
}

/// The one-observation forward alone, 200,000 times: the acting chain against a one-row
/// forward of the plan (what acting cost before `rl::acting`).
fn acting(src: &str) {
    let fe = front_end("bench.amm", src.as_bytes(), None, &[]);
    let program = fe.program.expect("the benchmark program resolves");
    let nets = ammc::check::q_networks(&program, &fe.sources).expect("the network checks");
    let plan = ammc::lower::lower(&nets[0], 64);
    let backend = BackendKind::Jit {
        threads: 1,
        gemm: Default::default(),
    };
    let mut net = backend
        .instantiate(&plan, 0)
        .expect("the network instantiates");
    let mut chain = ammc::rl::acting::DenseChain::of(&plan).expect("a dense/ReLU chain");
    let n = 200_000;
    let mut obs = [0.01f32, -0.02, 0.03, 0.04];
    let mut sink = 0.0f32;
    let start = std::time::Instant::now();
    for i in 0..n {
        obs[0] = i as f32 * 1e-6;
        sink += chain.q_values(&*net, &obs)[0];
    }
    let chain_us = 1e6 * start.elapsed().as_secs_f64() / n as f64;
    let zeros = [0.0f32; 2];
    let start = std::time::Instant::now();
    for i in 0..n / 10 {
        obs[0] = i as f32 * 1e-6;
        net.load_batch(&obs, &zeros, 1).expect("one row loads");
        net.forward(false).expect("the forward runs");
        sink += net.data(plan.output)[0];
    }
    let plan_us = 1e6 * start.elapsed().as_secs_f64() / (n / 10) as f64;
    println!(
        "acting forward (4-256-256-2, one observation): {chain_us:.2} µs (rl::acting chain), {plan_us:.2} µs (one-row plan forward on the JIT)  [{sink:.1}]"
    );
}
