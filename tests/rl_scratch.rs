use ammc::rl::*;
use ammc::rl::env::*;
use std::time::Instant;

fn run(env: &EnvConfig, a: AgentConfig) -> TrainResult {
    let t = Instant::now();
    let r = train(env, &a, &mut |_| {}).unwrap();
    eprintln!("{:?} {:?} steps={} eval={:?} in {:.2}s", a.algorithm, a.budget, r.total_steps, r.eval, t.elapsed().as_secs_f64());
    if let Some(m) = &r.policy_map { eprintln!("{m}"); }
    r
}

#[test]
fn scratch() {
    let fl = EnvConfig::FrozenLake(FrozenLakeConfig::default());
    let table = fl.transition_table().unwrap();
    let v = ammc::rl::planning::success_probability(&table, 100);
    eprintln!("VI 4x4 slippery 100 steps: {:.6}", v[0]);
    for seed in 0..4 {
        run(&fl, AgentConfig { seed, alpha: 0.05, gamma: 0.99, epsilon: EpsilonSchedule::Linear{from:1.0, to:0.05, steps: 200_000}, budget: Budget::Steps(1_000_000), ..Default::default() });
    }
    let cw = EnvConfig::CliffWalking(CliffWalkingConfig::default());
    for alg in [Algorithm::QLearning, Algorithm::Sarsa, Algorithm::ExpectedSarsa, Algorithm::DoubleQ] {
        run(&cw, AgentConfig { algorithm: alg, alpha: 0.5, gamma: 1.0, epsilon: EpsilonSchedule::Constant(0.1), budget: Budget::Episodes(500), ..Default::default() });
    }
    let taxi = EnvConfig::Taxi(TaxiConfig::default());
    run(&taxi, AgentConfig { alpha: 0.5, gamma: 0.99, epsilon: EpsilonSchedule::Constant(0.1), budget: Budget::Episodes(3000), ..Default::default() });
    let cp = EnvConfig::CartPole(CartPoleConfig::default());
    run(&cp, AgentConfig { alpha: 0.1, gamma: 0.99, epsilon: EpsilonSchedule::Linear{from:1.0, to: 0.01, steps: 500_000}, budget: Budget::Steps(2_000_000), eval_episodes: 100, ..Default::default() });
}
