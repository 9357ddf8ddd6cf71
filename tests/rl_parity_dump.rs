//! Writes our transition tables and a CartPole trajectory as JSON for
//! `tests/rl_gymnasium_parity.py`, which compares them with Gymnasium.
//!
//! `cargo test --test rl_parity_dump` writes the files (to `$AMM_RL_PARITY_DIR`, default
//! `<target>/tmp/rl_parity`) and checks them for internal consistency;
//! `cargo test --test rl_parity_dump -- --ignored` additionally runs the Python comparison
//! (needs `pip install gymnasium`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use ammc::rl::env::{CartPole, EnvModel};
use ammc::rl::rng::RlRng;
use ammc::rl::{CliffWalkingConfig, EnvConfig, FrozenLakeConfig, TaxiConfig};
use serde_json::{Value, json};

fn dump_dir() -> PathBuf {
    std::env::var_os("AMM_RL_PARITY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rl_parity"))
}

/// (file stem, Gymnasium id, Gymnasium kwargs, our config)
fn cases() -> Vec<(&'static str, &'static str, Value, EnvConfig)> {
    let fl = |map: &str, slippery: bool| {
        EnvConfig::FrozenLake(FrozenLakeConfig {
            map: map.into(),
            slippery,
            ..Default::default()
        })
    };
    vec![
        (
            "frozen_lake_4x4_slippery",
            "FrozenLake-v1",
            json!({"map_name": "4x4", "is_slippery": true}),
            fl("4x4", true),
        ),
        (
            "frozen_lake_4x4",
            "FrozenLake-v1",
            json!({"map_name": "4x4", "is_slippery": false}),
            fl("4x4", false),
        ),
        (
            "frozen_lake_8x8_slippery",
            "FrozenLake8x8-v1",
            json!({"map_name": "8x8", "is_slippery": true}),
            fl("8x8", true),
        ),
        (
            "frozen_lake_8x8",
            "FrozenLake8x8-v1",
            json!({"map_name": "8x8", "is_slippery": false}),
            fl("8x8", false),
        ),
        (
            "frozen_lake_custom_slippery",
            "FrozenLake-v1",
            json!({"desc": ["SFFH", "FHFF", "FFFG"], "is_slippery": true}),
            fl("SFFH\nFHFF\nFFFG", true),
        ),
        (
            "cliff_walking",
            "CliffWalking-v1",
            json!({}),
            EnvConfig::CliffWalking(CliffWalkingConfig::default()),
        ),
        (
            "cliff_walking_slippery",
            "CliffWalkingSlippery-v1",
            json!({}),
            EnvConfig::CliffWalking(CliffWalkingConfig {
                slippery: true,
                max_steps: None,
            }),
        ),
        (
            "taxi",
            "Taxi-v4",
            json!({}),
            EnvConfig::Taxi(TaxiConfig::default()),
        ),
    ]
}

/// One CartPole trajectory: initial state, actions, the state after each action and the
/// termination flags.
fn cartpole_trajectory(seed: u64, controller: bool) -> Value {
    let mut rng = RlRng::new(seed, 7);
    let mut cp = CartPole::default();
    let initial = cp.reset(&mut rng);
    let (mut actions, mut states, mut terminated) = (vec![], vec![], vec![]);
    for _ in 0..500 {
        let [_, _, theta, theta_dot] = cp.state;
        let action = if controller {
            // A simple balancing rule, so the trajectory runs long and errors can compound.
            usize::from(theta + 0.5 * theta_dot > 0.0)
        } else {
            rng.below(2)
        };
        let done = cp.step(action);
        actions.push(action);
        states.push(cp.state.to_vec());
        terminated.push(done);
        if done {
            break;
        }
    }
    json!({"seed": seed, "controller": controller, "initial_state": initial.to_vec(),
           "actions": actions, "states": states, "terminated": terminated})
}

/// Writes every file once per test process (tests run in parallel threads) and returns the
/// directory.
fn write_all() -> PathBuf {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    WRITTEN.get_or_init(write_files).clone()
}

fn write_files() -> PathBuf {
    let dir = dump_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut manifest = vec![];
    for (stem, gym_id, kwargs, cfg) in cases() {
        let json = cfg.transitions_json().unwrap();
        let file = format!("{stem}.json");
        std::fs::write(dir.join(&file), &json).unwrap();
        let EnvModel::Tabular(model) = cfg.build().unwrap() else {
            panic!("{stem} is discrete")
        };
        manifest.push(json!({
            "file": file, "gym_id": gym_id, "kwargs": kwargs,
            "max_steps": model.time_limit, "start_states": model.start_states,
        }));
    }
    let trajectories: Vec<Value> = (0..5)
        .map(|s| cartpole_trajectory(s, false))
        .chain((0..3).map(|s| cartpole_trajectory(100 + s, true)))
        .collect();
    std::fs::write(
        dir.join("cartpole_trajectories.json"),
        serde_json::to_string(&trajectories).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(
            &json!({"tables": manifest, "cartpole": "cartpole_trajectories.json"}),
        )
        .unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn dump_parity_files() {
    let dir = write_all();
    // The files parse back with the Gymnasium layout and consistent probabilities.
    for (stem, _, _, cfg) in cases() {
        let text = std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap();
        let p: Value = serde_json::from_str(&text).unwrap();
        let table = cfg.transition_table().unwrap();
        let states = p.as_object().unwrap();
        assert_eq!(states.len(), table.num_states(), "{stem}");
        for (s, actions) in states {
            let actions = actions.as_object().unwrap();
            assert_eq!(actions.len(), table.num_actions());
            for (a, outs) in actions {
                let outs = outs.as_array().unwrap();
                let sum: f64 = outs.iter().map(|o| o[0].as_f64().unwrap()).sum();
                assert!(
                    (sum - 1.0).abs() < 1e-12,
                    "{stem} P[{s}][{a}] sums to {sum}"
                );
                for o in outs {
                    assert!(o[1].as_u64().unwrap() < table.num_states() as u64);
                    assert!(o[3].is_boolean());
                }
            }
        }
    }
    let traj: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cartpole_trajectories.json")).unwrap(),
    )
    .unwrap();
    let long = traj
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["controller"] == true);
    for t in long {
        assert!(
            t["actions"].as_array().unwrap().len() > 100,
            "controller trajectory too short"
        );
    }
}

#[test]
#[ignore = "needs python3 with gymnasium installed (pip install gymnasium)"]
fn gymnasium_parity() {
    let dir = write_all();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rl_gymnasium_parity.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "Gymnasium parity check failed");
}
