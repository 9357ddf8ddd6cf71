//! Training-loop behaviour: budgets, progress reports, configuration errors.

use ammc::rl::*;
use miette::Diagnostic;

fn lake() -> EnvConfig {
    EnvConfig::FrozenLake(FrozenLakeConfig::default())
}

#[test]
fn episode_budget_and_progress_windows() {
    let cfg = AgentConfig {
        budget: Budget::Episodes(1_030),
        window: 100,
        eval_episodes: 0,
        ..Default::default()
    };
    let mut reports = Vec::new();
    let r = train(&lake(), &cfg, &mut |p| reports.push(p)).unwrap();
    assert_eq!(r.episode_returns.len(), 1_030);
    assert_eq!(r.episode_lengths.len(), 1_030);
    assert_eq!(r.eval, None);
    assert_eq!(
        r.total_steps,
        r.episode_lengths.iter().map(|&l| l as u64).sum::<u64>()
    );
    // 10 full windows and a final partial one.
    assert_eq!(reports.len(), 11);
    assert_eq!(reports[10].window.episodes, 30);
    assert_eq!(reports[10].fraction, 1.0);
    assert!((reports[4].fraction - 500.0 / 1030.0).abs() < 1e-12);
    for (i, p) in reports.iter().enumerate() {
        let first = p.window.first_episode as usize;
        assert_eq!(first, i * 100);
        let n = p.window.episodes as usize;
        let slice = &r.episode_returns[first..first + n];
        let mean = slice.iter().sum::<f64>() / n as f64;
        assert!((p.window.mean_return - mean).abs() < 1e-12);
        let succ = r.episode_success[first..first + n]
            .iter()
            .filter(|&&s| s)
            .count();
        assert!((p.window.success_rate - succ as f64 / n as f64).abs() < 1e-12);
        // FrozenLake pays 1 exactly on success.
        assert_eq!(p.window.mean_return, p.window.success_rate);
    }
    // Episode lengths respect the 100-step limit.
    assert!(r.episode_lengths.iter().all(|&l| (1..=100).contains(&l)));
}

#[test]
fn step_budget_is_exact() {
    let cfg = AgentConfig {
        budget: Budget::Steps(12_345),
        eval_episodes: 10,
        ..Default::default()
    };
    let r = train(&lake(), &cfg, &mut |_| {}).unwrap();
    assert_eq!(r.total_steps, 12_345);
    let recorded: u64 = r.episode_lengths.iter().map(|&l| l as u64).sum();
    assert!(recorded <= 12_345 && recorded > 12_245);
}

#[test]
fn epsilon_schedule_reported_in_progress() {
    let cfg = AgentConfig {
        epsilon: EpsilonSchedule::Linear {
            from: 1.0,
            to: 0.0,
            steps: 1_000,
        },
        budget: Budget::Episodes(400),
        window: 100,
        eval_episodes: 0,
        ..Default::default()
    };
    let mut eps = Vec::new();
    train(&lake(), &cfg, &mut |p| eps.push((p.steps, p.epsilon))).unwrap();
    for (steps, e) in eps {
        let expected = (1.0 - steps as f64 / 1_000.0).max(0.0);
        assert!((e - expected).abs() < 1e-12);
    }
}

#[test]
fn cliff_walking_without_limit_still_evaluates() {
    // A Q-table that walks into the left wall forever: evaluation must stop at
    // eval_step_limit.
    let env = EnvConfig::CliffWalking(CliffWalkingConfig::default());
    let mut q = ndarray::Array2::zeros((48, 4));
    q.column_mut(3).fill(1.0);
    let cfg = AgentConfig {
        eval_episodes: 3,
        eval_step_limit: 50,
        ..Default::default()
    };
    let e = evaluate(&env, &cfg, &q).unwrap();
    assert_eq!(
        (e.mean_return, e.success_rate, e.mean_length),
        (-50.0, 0.0, 50.0)
    );
    let policy = policy_arrows(&env, &q).unwrap();
    assert!(policy.starts_with("← ←"));
    assert!(policy.ends_with("S C C C C C C C C C C G"), "{policy}");
}

fn code(e: &RlError) -> String {
    e.code().map(|c| c.to_string()).unwrap_or_default()
}

#[test]
fn configuration_errors_have_codes_and_help() {
    let fl = |map: &str| {
        EnvConfig::FrozenLake(FrozenLakeConfig {
            map: map.into(),
            ..Default::default()
        })
    };
    let grid = |map: &str, slip: f64| {
        EnvConfig::Grid(GridConfig {
            map: map.into(),
            slip,
            ..Default::default()
        })
    };
    let cases: Vec<(Result<_, RlError>, &str)> = vec![
        (fl("16x16").build(), "amm::rl::unknown_map"),
        (fl("SFF\nFFF").build(), "amm::rl::missing_goal"),
        (grid(". . G", 0.0).build(), "amm::rl::missing_start"),
        (grid("S . .\n. G", 0.0).build(), "amm::rl::ragged_map"),
        (grid("S x G", 0.0).build(), "amm::rl::bad_map_char"),
        (grid("", 0.0).build(), "amm::rl::empty_map"),
        (grid("S G", 1.5).build(), "amm::rl::bad_probability"),
    ];
    for (result, expected) in cases {
        let err = result.unwrap_err();
        assert_eq!(code(&err), expected, "{err}");
        assert!(err.help().is_some(), "{expected} has no help");
    }
    let cartpole = EnvConfig::CartPole(CartPoleConfig::default());
    assert_eq!(
        code(&cartpole.transitions_json().unwrap_err()),
        "amm::rl::not_discrete"
    );
    let with_bins = AgentConfig {
        bins: Some(vec![BinSpec {
            count: 2,
            low: 0.0,
            high: 1.0,
        }]),
        ..Default::default()
    };
    assert_eq!(
        code(&train(&lake(), &with_bins, &mut |_| {}).unwrap_err()),
        "amm::rl::bins_on_discrete"
    );
    assert_eq!(
        code(&train(&cartpole, &with_bins, &mut |_| {}).unwrap_err()),
        "amm::rl::bad_bins"
    );
    let bad_alpha = AgentConfig {
        alpha: 1.5,
        ..Default::default()
    };
    assert_eq!(
        code(&train(&lake(), &bad_alpha, &mut |_| {}).unwrap_err()),
        "amm::rl::bad_argument"
    );
    let wrong_q = ndarray::Array2::zeros((3, 4));
    assert_eq!(
        code(&evaluate(&lake(), &AgentConfig::default(), &wrong_q).unwrap_err()),
        "amm::rl::shape_mismatch"
    );
}

#[test]
fn error_messages_render() {
    let err = EnvConfig::FrozenLake(FrozenLakeConfig {
        map: "5x5".into(),
        ..Default::default()
    })
    .build()
    .unwrap_err();
    assert_eq!(err.to_string(), "unknown map name `5x5`");
    let help = err.help().unwrap().to_string();
    assert!(help.contains("\"4x4\", \"8x8\""), "{help}");
}
