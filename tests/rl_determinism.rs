//! Same seed → bit-identical results, for every environment and every algorithm.

use ammc::rl::*;

fn envs() -> Vec<EnvConfig> {
    vec![
        EnvConfig::FrozenLake(FrozenLakeConfig::default()),
        EnvConfig::FrozenLake(FrozenLakeConfig {
            map: "8x8".into(),
            ..Default::default()
        }),
        EnvConfig::CliffWalking(CliffWalkingConfig::default()),
        EnvConfig::CliffWalking(CliffWalkingConfig {
            slippery: true,
            max_steps: Some(200),
        }),
        EnvConfig::Taxi(TaxiConfig::default()),
        EnvConfig::CartPole(CartPoleConfig::default()),
        EnvConfig::Grid(GridConfig {
            map: "S . . H\n. # . .\n. . . G".into(),
            step_reward: -0.01,
            hole_reward: -1.0,
            slip: 0.2,
            ..Default::default()
        }),
    ]
}

fn agent(algorithm: Algorithm, seed: u64) -> AgentConfig {
    AgentConfig {
        algorithm,
        seed,
        epsilon: EpsilonSchedule::Exponential {
            from: 1.0,
            to: 0.05,
            decay: 1e-4,
        },
        budget: Budget::Steps(20_000),
        eval_episodes: 50,
        window: 10,
        ..Default::default()
    }
}

/// Everything a run produces, with floats as bit patterns.
fn fingerprint(r: &TrainResult, progress: &[Progress]) -> Vec<u64> {
    let mut out: Vec<u64> = r.q.iter().map(|x| x.to_bits()).collect();
    out.extend(r.episode_returns.iter().map(|x| x.to_bits()));
    out.extend(r.episode_lengths.iter().map(|&x| x as u64));
    out.extend(r.episode_success.iter().map(|&x| x as u64));
    out.push(r.total_steps);
    if let Some(e) = r.eval {
        out.extend([
            e.mean_return.to_bits(),
            e.std_return.to_bits(),
            e.success_rate.to_bits(),
        ]);
    }
    for p in progress {
        out.extend([p.episodes, p.steps, p.window.mean_return.to_bits()]);
    }
    out
}

fn run(env: &EnvConfig, cfg: &AgentConfig) -> Vec<u64> {
    let mut reports = Vec::new();
    let r = train(env, cfg, &mut |p| reports.push(p)).unwrap();
    fingerprint(&r, &reports)
}

#[test]
fn same_seed_same_result_every_env_and_algorithm() {
    for env in envs() {
        for alg in [
            Algorithm::QLearning,
            Algorithm::Sarsa,
            Algorithm::ExpectedSarsa,
            Algorithm::DoubleQ,
        ] {
            let a = run(&env, &agent(alg, 11));
            let b = run(&env, &agent(alg, 11));
            assert!(a == b, "{} / {alg:?} not deterministic", env.kind());
            let c = run(&env, &agent(alg, 12));
            assert!(a != c, "{} / {alg:?}: seed has no effect", env.kind());
        }
    }
}

#[test]
fn evaluation_is_reproducible_from_the_q_table() {
    for env in envs() {
        let cfg = agent(Algorithm::QLearning, 3);
        let r = train(&env, &cfg, &mut |_| {}).unwrap();
        let again = evaluate(&env, &cfg, &r.q).unwrap();
        assert_eq!(Some(again), r.eval, "{}", env.kind());
    }
}
