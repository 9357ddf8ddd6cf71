//! RL environments: transition tables against known optima and Gymnasium's dynamics,
//! proper distributions, and bad maps found by `ammc check`'s RL pass.

use ammc::front::front_end;
use ammc::resolve::Program;
use ammc::rl::env::cartpole::CartPole;
use ammc::rl::env::{EnvSpec, GridSpec, LakeMap, TabularEnv};
use ammc::rl::program;

fn table(spec: EnvSpec) -> TabularEnv {
    spec.table().unwrap()
}

fn all_tables() -> Vec<(String, TabularEnv)> {
    let mut out = vec![];
    for (map, name) in [(LakeMap::Named4x4, "4x4"), (LakeMap::Named8x8, "8x8")] {
        for slippery in [true, false] {
            out.push((
                format!("frozen_lake {name} slippery={slippery}"),
                table(EnvSpec::FrozenLake {
                    map: map.clone(),
                    slippery,
                }),
            ));
        }
    }
    out.push(("cliff".into(), table(EnvSpec::CliffWalking)));
    out.push(("taxi".into(), table(EnvSpec::Taxi)));
    out.push((
        "grid".into(),
        table(EnvSpec::Grid(GridSpec {
            map: "S . . #\n. # H G\n".into(),
            step_reward: -0.01,
            goal_reward: 1.0,
            hole_reward: -1.0,
            slip: 0.2,
            max_steps: 50,
        })),
    ));
    out
}

/// Finite-horizon value iteration: the probability of reaching G within `horizon` steps
/// under the optimal policy (reward 1 only on entering G, terminal states absorb).
fn success_within(env: &TabularEnv, horizon: usize) -> Vec<f64> {
    let mut v = vec![0.0; env.n_states];
    for _ in 0..horizon {
        let next: Vec<f64> = (0..env.n_states)
            .map(|s| {
                env.p[s]
                    .iter()
                    .map(|outcomes| {
                        outcomes
                            .iter()
                            .map(|t| {
                                t.prob * (t.reward + if t.terminated { 0.0 } else { v[t.next] })
                            })
                            .sum::<f64>()
                    })
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect();
        v = next;
    }
    v
}

#[test]
fn frozen_lake_4x4_optimal_success_within_100_steps_is_0_7442() {
    let env = table(EnvSpec::FrozenLake {
        map: LakeMap::Named4x4,
        slippery: true,
    });
    assert_eq!(env.max_steps, Some(100));
    let v = success_within(&env, 100);
    assert_eq!(format!("{:.4}", v[0]), "0.7442", "{}", v[0]);
    // Without slipping the goal is 6 steps away: certain within 6, impossible within 5.
    let det = table(EnvSpec::FrozenLake {
        map: LakeMap::Named4x4,
        slippery: false,
    });
    assert_eq!(success_within(&det, 6)[0], 1.0);
    assert_eq!(success_within(&det, 5)[0], 0.0);
}

#[test]
fn frozen_lake_8x8_optimum_matches_gymnasiums_note() {
    // Gymnasium registers FrozenLake8x8-v1 with "optimum = 0.91" (time limit 200).
    let env = table(EnvSpec::FrozenLake {
        map: LakeMap::Named8x8,
        slippery: true,
    });
    let v = success_within(&env, 200);
    assert!((v[0] - 0.91).abs() < 0.01, "{}", v[0]);
}

#[test]
fn transition_tables_are_proper_distributions() {
    for (name, env) in all_tables() {
        assert_eq!(env.p.len(), env.n_states, "{name}");
        for (s, actions) in env.p.iter().enumerate() {
            assert_eq!(actions.len(), env.n_actions, "{name} state {s}");
            for (a, outcomes) in actions.iter().enumerate() {
                assert!(!outcomes.is_empty(), "{name} {s} {a}");
                let sum: f64 = outcomes.iter().map(|t| t.prob).sum();
                assert!((sum - 1.0).abs() < 1e-12, "{name} {s} {a}: {sum}");
                for t in outcomes {
                    assert!(t.prob > 0.0 && t.next < env.n_states && t.reward.is_finite());
                }
            }
        }
        let init: f64 = env.initial.iter().sum();
        assert!((init - 1.0).abs() < 1e-12, "{name}: initial sums to {init}");
    }
}

#[test]
fn cliff_walking_semantics() {
    let env = table(EnvSpec::CliffWalking);
    assert_eq!((env.n_states, env.n_actions, env.max_steps), (48, 4, None));
    // From the start, right (1) steps into the cliff: -100, back to start, not terminal.
    let t = env.p[36][1][0];
    assert_eq!((t.next, t.reward, t.terminated), (36, -100.0, false));
    // Down (2) from (2, 11) reaches the goal: -1, terminal.
    let t = env.p[35][2][0];
    assert_eq!((t.next, t.reward, t.terminated), (47, -1.0, true));
    // The optimal path along the cliff edge is 13 steps.
    assert_eq!(env.initial[36], 1.0);
}

#[test]
fn taxi_semantics_and_initial_distribution() {
    use ammc::rl::env::taxi::encode;
    let env = table(EnvSpec::Taxi);
    assert_eq!(
        (env.n_states, env.n_actions, env.max_steps),
        (500, 6, Some(200))
    );
    let starts: Vec<usize> = (0..500).filter(|&s| env.initial[s] > 0.0).collect();
    assert_eq!(starts.len(), 300);
    for &s in &starts {
        let (pass, dest) = ((s / 4) % 5, s % 4);
        assert!(pass < 4 && pass != dest);
        assert!((env.initial[s] - 1.0 / 300.0).abs() < 1e-15);
    }
    // Delivering at the destination: +20, terminal.
    let s = encode(4, 3, 4, 3);
    let t = env.p[s][5][0];
    assert_eq!(
        (t.reward, t.terminated, t.next),
        (20.0, true, encode(4, 3, 3, 3))
    );
    // Illegal pickup: -10. Wall east of (0, 1): moving east stays.
    assert_eq!(env.p[encode(2, 2, 0, 1)][4][0].reward, -10.0);
    assert_eq!(env.p[encode(0, 1, 0, 1)][2][0].next, encode(0, 1, 0, 1));
    assert_eq!(env.p[encode(0, 2, 0, 1)][2][0].next, encode(0, 3, 0, 1));
}

#[test]
fn grid_slip_walls_and_rewards() {
    let env = table(EnvSpec::Grid(GridSpec {
        map: "\n    S . #\n    H . G\n".into(),
        step_reward: -0.5,
        goal_reward: 2.0,
        hole_reward: -3.0,
        slip: 0.2,
        max_steps: 7,
    }));
    assert_eq!((env.n_states, env.max_steps), (6, Some(7)));
    // Right from (0, 1) hits the wall: stay with 0.8; slips go down (to 4) / up (stay),
    // listed perpendicular-left (down), intended, perpendicular-right (up).
    let right = &env.p[1][2];
    assert_eq!(right.len(), 3);
    assert_eq!(
        right.iter().map(|t| (t.prob, t.next)).collect::<Vec<_>>(),
        vec![(0.1, 4), (0.8, 1), (0.1, 1)]
    );
    assert!(right.iter().all(|t| t.reward == -0.5 && !t.terminated));
    // Down from the start falls in the hole.
    let down = env.p[0][1].iter().find(|t| t.prob == 0.8).unwrap();
    assert_eq!((down.next, down.reward, down.terminated), (3, -3.0, true));
    // Right from (1, 1) reaches the goal.
    let goal = env.p[4][2].iter().find(|t| t.prob == 0.8).unwrap();
    assert_eq!((goal.next, goal.reward, goal.terminated), (5, 2.0, true));
}

#[test]
fn cartpole_matches_gymnasium_trajectory() {
    // Gymnasium 1.4 CartPole-v1 from state [0.01, -0.02, 0.03, 0.04] after these actions.
    let mut c = CartPole {
        state: [0.01, -0.02, 0.03, 0.04],
    };
    let actions = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0];
    for a in actions {
        assert!(!c.step(a));
    }
    let want = [
        0.06327285310613813,
        0.3663783612320193,
        -0.02195390887598386,
        -0.46018269577700904,
    ];
    for (got, want) in c.state.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{:?} vs {want:?}", c.state);
    }
    // Always pushing right from θ = 0.05 terminates on step 11 in Gymnasium.
    let mut c = CartPole {
        state: [0.0, 0.0, 0.05, 0.0],
    };
    let steps = (1..=500).find(|_| c.step(1)).unwrap();
    assert_eq!(steps, 11);
}

#[test]
fn transitions_json_is_gymnasium_layout() {
    let env = table(EnvSpec::FrozenLake {
        map: LakeMap::Named4x4,
        slippery: true,
    });
    let v: serde_json::Value = serde_json::from_str(&env.transitions_json()).unwrap();
    let first = &v["0"]["0"];
    assert_eq!(first.as_array().unwrap().len(), 3);
    assert_eq!(first[1][0].as_f64(), Some(1.0 / 3.0));
    assert_eq!(first[0][0].as_f64(), Some(0.33333333333333337));
    assert_eq!(
        v["14"]["2"][1],
        serde_json::json!([1.0 / 3.0, 15, 1.0, true])
    );
    assert_eq!(v.as_object().unwrap().len(), 16);
}

fn rl_check(src: &str) -> Vec<(String, String)> {
    let fe = front_end("t.amm", src.as_bytes(), None, &[]);
    let program: Program = match fe.program {
        Ok(p) => p,
        Err(d) => panic!(
            "front end: {:?}",
            d.iter().map(|d| d.code).collect::<Vec<_>>()
        ),
    };
    program::check(&program)
        .into_iter()
        .map(|d| {
            let span = d.primary_span().unwrap();
            (d.code.to_string(), src[span.start..span.end].to_string())
        })
        .collect()
}

#[test]
fn bad_maps_and_settings_are_located_diagnostics() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "env e = frozen_lake(map = \"5x5\")",
            "amm::rl::map_name",
            "\"5x5\"",
        ),
        (
            "env e = grid(map = \"\"\"\n  . . G\n\"\"\")",
            "amm::rl::map",
            "\"\"\"\n  . . G\n\"\"\"",
        ),
        ("env e = grid(map = \"S . .\")", "amm::rl::map", "\"S . .\""),
        (
            "env e = grid(map = \"\"\"\n  S . .\n  . G\n\"\"\")",
            "amm::rl::map",
            ". G",
        ),
        ("env e = grid(map = \"S x G\")", "amm::rl::map", "x"),
        (
            "env e = frozen_lake(map = \"SFF\\nFG\")",
            "amm::rl::map",
            "\"SFF\\nFG\"",
        ),
        (
            "env e = grid(map = \"S . G\", slip = 1.5)",
            "amm::rl::argument",
            "1.5",
        ),
        (
            "env e = frozen_lake()\nagent a = q_learning(env = e) { alpha = 0.0 }",
            "amm::rl::argument",
            "0.0",
        ),
        (
            "env e = frozen_lake()\nagent a = q_learning(env = e) { bins = [2, 2] }",
            "amm::rl::bins",
            "[2, 2]",
        ),
        (
            "env e = cartpole()\nagent a = q_learning(env = e) { bins = [2, 2, 2] }",
            "amm::rl::bins",
            "[2, 2, 2]",
        ),
        (
            "env e = cartpole()\nagent a = q_learning(env = e) { bins = [1, 0, 2, 2] }",
            "amm::rl::bins",
            "[1, 0, 2, 2]",
        ),
        (
            "env e = taxi()\nagent a = sarsa(env = e) { epsilon = linear(from = 2.0, steps = 10) }",
            "amm::rl::argument",
            "linear(from = 2.0, steps = 10)",
        ),
    ];
    for (src, code, at) in cases {
        let got = rl_check(src);
        assert_eq!(got, vec![(code.to_string(), at.to_string())], "{src}");
    }
    // A bad env is reported once, not again at each agent using it.
    let got = rl_check("env e = frozen_lake(map = \"9x9\")\nagent a = sarsa(env = e) {}\n");
    assert_eq!(got.len(), 1, "{got:?}");
    // Valid programs pass, including params in arguments.
    let ok = "param s = 0.1\nenv e = grid(map = \"S . G\", slip = s)\nagent a = q_learning(env = e) { epsilon = s }\nagent c = double_q(env = e) { epsilon = constant(value = 0.2) steps = 10 }\nagent d = expected_sarsa(e) { epsilon = exponential(decay = 0.99) }\nenv p = cartpole()\nagent b = sarsa(env = p) { bins = [1, 1, 6, 12] }";
    assert_eq!(rl_check(ok), vec![]);
}

#[test]
fn every_rl_example_checks_clean() {
    for name in [
        "frozen_lake",
        "frozen_lake_8x8",
        "cliff",
        "taxi",
        "maze",
        "cartpole",
    ] {
        let path = format!("examples/{name}.amm");
        let src = std::fs::read_to_string(&path).unwrap();
        assert_eq!(rl_check(&src), vec![], "{path}");
    }
}

#[test]
fn every_environment_takes_a_max_steps_override() {
    // Gymnasium's limits by default (cliff_walking has none), the user's when given.
    let cases = [
        ("frozen_lake()", Some(100)),
        ("frozen_lake(map = \"8x8\")", Some(200)),
        ("cliff_walking()", None),
        ("taxi()", Some(200)),
        ("cartpole()", Some(500)),
        ("mountain_car()", Some(200)),
        ("acrobot()", Some(500)),
        ("acrobot(nips = true)", Some(500)),
        ("grid(map = \"S . G\")", Some(100)),
    ];
    for (call, default) in cases {
        let built = |src: &str| {
            let fe = front_end("t.amm", src.as_bytes(), None, &[]);
            let program = fe.program.unwrap();
            let id = program.modules[0].scope["e"];
            program::env_spec(&program, id).unwrap().build().unwrap()
        };
        assert_eq!(
            built(&format!("env e = {call}\n")).max_steps(),
            default,
            "{call}"
        );
        let with = if call.ends_with("()") {
            call.replace("()", "(max_steps = 37)")
        } else {
            call.replace(')', ", max_steps = 37)")
        };
        assert_eq!(
            built(&format!("env e = {with}\n")).max_steps(),
            Some(37),
            "{with}"
        );
        // Zero is a range error of the checker, located at the value.
        let zero = with.replace("37", "0");
        let src = format!("env e = {zero}\n");
        let fe = front_end("t.amm", src.as_bytes(), None, &[]);
        let diags = ammc::check::check(&fe.program.unwrap(), &fe.sources).unwrap_err();
        assert_eq!(diags.len(), 1, "{zero}");
        assert_eq!(diags[0].code, "amm::value::range", "{zero}");
        let span = diags[0].primary_span().unwrap();
        assert_eq!(&src[span.start..span.end], "0", "{zero}");
    }
    // A non-integer is rejected by the resolver's kind check.
    let fe = front_end("t.amm", b"env e = taxi(max_steps = 2.5)\n", None, &[]);
    assert!(fe.program.is_err());
}
