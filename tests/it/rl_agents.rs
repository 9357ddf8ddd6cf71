//! Tabular agents on the shipped examples: the learned greedy policies reach the expected
//! success rates and returns, and every run is deterministic in its seed.

use ammc::front::front_end;
use ammc::rl::agent::{AgentConfig, Algorithm, Budget, Epsilon};
use ammc::rl::program::{AgentSetup, agent};
use ammc::rl::{RunResult, run};

/// The agent `name` of an example file.
fn setup(file: &str, name: &str) -> AgentSetup {
    let path = format!("examples/{file}.amm");
    let bytes = std::fs::read(&path).unwrap();
    let fe = front_end(&path, &bytes, Some(std::path::Path::new(&path)), &[]);
    let program = fe.program.unwrap();
    let id = program.modules[0].scope[name];
    agent(&program, id).unwrap()
}

/// The agent `name` of a program given as text.
fn setup_src(src: &str, name: &str) -> AgentSetup {
    let fe = front_end("inline.amm", src.as_bytes(), None, &[]);
    let program = fe.program.unwrap();
    let id = program.modules[0].scope[name];
    agent(&program, id).unwrap()
}

fn train(s: &AgentSetup) -> RunResult {
    run(&s.env, &s.config, &mut |_| {}).unwrap()
}

#[test]
fn frozen_lake_example_reaches_70_percent() {
    let s = setup("frozen_lake", "learner");
    assert_eq!(s.config.eval_episodes, 1000);
    let r = train(&s);
    assert_eq!(r.eval.episodes, 1000);
    assert!(r.eval.success_rate >= 0.70, "{:?}", r.eval);
    // Return equals success on FrozenLake (reward 1 only at G).
    assert_eq!(r.eval.mean_return, r.eval.success_rate);
    assert_eq!(r.learned.records.len(), 20_000);
}

#[test]
fn cliff_q_learning_takes_the_edge_sarsa_the_safe_path() {
    let q = train(&setup("cliff", "q"));
    assert_eq!(q.eval.mean_return, -13.0, "{:?}", q.eval);
    assert_eq!(q.eval.std_return, 0.0);
    assert_eq!(q.eval.success_rate, 1.0);
    // SARSA's greedy policy with the example's settings on seeds 1..=3: the longer path
    // away from the edge. (With constant α = 0.5 the values stay noisy; on some seeds
    // the greedy policy still has a loop in a rarely visited state after 500 episodes.)
    let mut careful = setup("cliff", "careful");
    for seed in 1..=3 {
        careful.config.seed = seed;
        careful.config.eval_episodes = 10;
        let s = train(&careful);
        assert_eq!(s.eval.success_rate, 1.0, "seed {seed}: {:?}", s.eval);
        assert!(
            s.eval.mean_return < -13.0 && s.eval.mean_return >= -19.0,
            "seed {seed}: {:?}",
            s.eval
        );
    }
}

/// Issue 14: CliffWalking has no time limit, so SARSA's early episodes may run for up to
/// the 100,000-step safety cut, and on several seeds the greedy policy ends with a loop.
/// A user-set limit (`cliff_walking(max_steps = 100)`) ends those episodes early; with
/// examples/cliff.amm's settings the greedy policy then reaches the goal on at least 9 of
/// 10 seeds (measured: 9; without the limit 6).
#[test]
fn cliff_sarsa_with_a_step_limit_reaches_the_goal_for_9_of_10_seeds() {
    let example = std::fs::read_to_string("examples/cliff.amm").unwrap();
    let careful = &example[example.find("agent careful").unwrap()..];
    let src = format!("env cliff = cliff_walking(max_steps = 100)\n{careful}");
    let mut s = setup_src(&src, "careful");
    assert_eq!(s.env.max_steps, Some(100));
    assert_eq!(s.env.build().unwrap().max_steps(), s.env.max_steps);
    let mut reached = 0;
    for seed in 1..=10 {
        s.config.seed = seed;
        s.config.eval_episodes = 10;
        let r = train(&s);
        // Every training episode respects the limit.
        assert!(r.learned.records.iter().all(|e| e.steps <= 100));
        if r.eval.success_rate == 1.0 {
            reached += 1;
        }
    }
    assert!(reached >= 9, "{reached} of 10 seeds reach the goal");
    // Without the limit the same settings do not (the report).
    let mut unlimited = setup_src(
        &format!("env cliff = cliff_walking()\n{careful}"),
        "careful",
    );
    assert_eq!(unlimited.env.max_steps, None);
    let mut failed = 0;
    for seed in 1..=10 {
        unlimited.config.seed = seed;
        unlimited.config.eval_episodes = 10;
        if train(&unlimited).eval.success_rate < 1.0 {
            failed += 1;
        }
    }
    assert!(failed > 10 - reached, "unlimited: {failed} of 10 fail");
}

#[test]
fn taxi_double_q_mean_return_at_least_7() {
    let r = train(&setup("taxi", "driver"));
    assert!(r.eval.mean_return >= 7.0, "{:?}", r.eval);
    assert_eq!(r.eval.success_rate, 1.0);
}

#[test]
fn maze_and_8x8_learn() {
    let r = train(&setup("maze", "walker"));
    assert!(r.eval.success_rate >= 0.9, "{:?}", r.eval);
    let mut lake = setup("frozen_lake_8x8", "learner");
    // Half the example's budget keeps the debug test fast and is still enough.
    lake.config.budget = Budget::Episodes(20_000);
    let r = train(&lake);
    assert!(r.eval.success_rate >= 0.6, "{:?}", r.eval);
}

#[test]
fn cartpole_learns_beyond_random() {
    let mut s = setup("cartpole", "balancer");
    s.config.eval_episodes = 100;
    let r = train(&s);
    // A random policy lasts about 22 steps on average; this seed balances ~480 of 500.
    assert!(r.eval.mean_return > 300.0, "{:?}", r.eval);
    assert_eq!(r.learned.n_states, 96);
}

#[test]
fn every_env_and_algorithm_is_deterministic() {
    let cases = [
        ("frozen_lake", "learner"),
        ("frozen_lake_8x8", "learner"),
        ("cliff", "q"),
        ("cliff", "careful"),
        ("taxi", "driver"),
        ("maze", "walker"),
        ("cartpole", "balancer"),
    ];
    for (file, name) in cases {
        for algorithm in [
            Algorithm::QLearning,
            Algorithm::Sarsa,
            Algorithm::ExpectedSarsa,
            Algorithm::DoubleQ,
        ] {
            let mut s = setup(file, name);
            s.config.algorithm = algorithm;
            s.config.budget = Budget::Episodes(300);
            s.config.eval_episodes = 50;
            let a = train(&s);
            let b = train(&s);
            assert_eq!(a.learned, b.learned, "{file} {algorithm:?}");
            assert_eq!(a.eval, b.eval, "{file} {algorithm:?}");
            // (300 episodes rarely reach the 8x8 lake's goal: its table may stay zero.)
            if file != "frozen_lake_8x8" {
                assert!(
                    a.learned.q.iter().any(|&v| v != 0.0),
                    "{file} {algorithm:?}"
                );
            }
            s.config.seed += 1;
            let c = train(&s);
            assert_ne!(
                a.learned.records, c.learned.records,
                "{file} {algorithm:?}: seed ignored"
            );
        }
    }
}

#[test]
fn steps_budget_and_schedules() {
    let mut s = setup("frozen_lake", "learner");
    s.config.budget = Budget::Steps(5_000);
    s.config.eval_episodes = 10;
    let r = train(&s);
    assert_eq!(r.learned.steps, 5_000);
    let recorded: u64 = r.learned.records.iter().map(|e| e.steps as u64).sum();
    assert!(recorded <= 5_000 && recorded > 4_800, "{recorded}");
    // Recorded epsilon follows the linear schedule (100,000 steps from 1.0 to 0.05).
    let last = r.learned.records.last().unwrap();
    assert!(
        last.epsilon < 1.0 && last.epsilon > 0.94,
        "{}",
        last.epsilon
    );
    // Exponential decays per episode.
    s.config.budget = Budget::Episodes(11);
    s.config.epsilon = Epsilon::Exponential {
        from: 1.0,
        to: 0.01,
        decay: 0.5,
    };
    let r = train(&s);
    assert_eq!(r.learned.records[10].epsilon, 0.01);
    assert_eq!(r.learned.records[3].epsilon, 0.125);
}

#[test]
fn progress_sees_every_episode_and_defaults_apply() {
    let mut s = setup("frozen_lake", "learner");
    s.config = AgentConfig::new(Algorithm::ExpectedSarsa);
    assert_eq!(s.config.budget, Budget::Episodes(10_000));
    s.config.eval_episodes = 10;
    let mut seen = 0;
    let r = run(&s.env, &s.config, &mut |e| {
        seen += 1;
        assert_eq!(e.episode, seen);
    })
    .unwrap();
    assert_eq!(seen, 10_000);
    assert_eq!(r.learned.episodes, 10_000);
    // Default schedule: linear over half the episodes, in episodes.
    assert_eq!(r.learned.records[0].epsilon, 1.0);
    assert_eq!(r.learned.records[9_999].epsilon, 0.05);
}
