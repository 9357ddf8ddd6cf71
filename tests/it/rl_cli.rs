//! `ammc run` on agent blocks, `ammc inspect`, and the RL checks of `ammc check`.

use std::path::{Path, PathBuf};

use crate::support::ammc;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-rl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn run_cliff_prints_report_and_writes_files_deterministically() {
    let d = temp_dir("cliff");
    let out1 = d.join("a");
    let out2 = d.join("b");
    let (code, stdout, stderr) = ammc(&[
        "run",
        "examples/cliff.amm",
        "q",
        "--out",
        out1.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("q_learning on `cliff`"), "{stdout}");
    assert!(stdout.contains("mean return"), "{stdout}");
    assert!(
        stdout.contains("return -13.0000 ± 0.0000, success rate 1.0000"),
        "{stdout}"
    );
    // The policy map keeps S, G and the cliff, and the path along the edge is arrows.
    assert!(stdout.contains("S C C C C C C C C C C G"), "{stdout}");
    assert!(stdout.contains("→ → → → → → → → → → → ↓"), "{stdout}");
    // Ten windows of 50 episodes.
    assert!(stdout.contains("451-500"), "{stdout}");
    let dir = out1.join("q");
    let lines = String::from_utf8(read(&dir.join("returns.jsonl"))).unwrap();
    assert_eq!(lines.lines().count(), 500);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["episode"], 1);
    assert!(first["return"].as_f64().unwrap() <= -13.0);
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(summary["eval"]["mean_return"], -13.0);
    assert_eq!(summary["states"], 48);
    assert_eq!(summary["windows"].as_array().unwrap().len(), 10);
    let npy = read(&dir.join("qtable.npy"));
    assert_eq!(&npy[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!(npy.len(), 10 + hlen + 48 * 4 * 8);

    let (code, _, stderr) = ammc(&[
        "run",
        "examples/cliff.amm",
        "q",
        "--quiet",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for f in ["returns.jsonl", "qtable.npy"] {
        assert_eq!(
            read(&dir.join(f)),
            read(&out2.join("q").join(f)),
            "{f} differs"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn run_all_blocks_of_a_file_and_window_option() {
    let d = temp_dir("all");
    let src = d.join("two.amm");
    std::fs::write(
        &src,
        "env lake = frozen_lake(slippery = false)\n\
         agent a = q_learning(env = lake) { episodes = 300 window = 100 eval_episodes = 20 }\n\
         agent b = sarsa(env = lake) { steps = 2000 eval_episodes = 20 }\n",
    )
    .unwrap();
    let out = d.join("runs");
    let (code, stdout, stderr) =
        ammc(&["run", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("201-300"), "{stdout}");
    assert!(stdout.contains("agent b: sarsa"), "{stdout}");
    assert!(out.join("a/summary.json").exists() && out.join("b/qtable.npy").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn inspect_prints_gymnasium_p_layout() {
    let (code, stdout, stderr) = ammc(&["inspect", "examples/taxi.amm", "city", "--transitions"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 500);
    assert_eq!(v["0"].as_object().unwrap().len(), 6);
    let (code, stdout, _) = ammc(&["inspect", "examples/maze.amm", "maze"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("24 states, 4 actions, time limit 100"),
        "{stdout}"
    );
}

#[test]
fn inspect_errors_exit_2() {
    let (code, _, stderr) = ammc(&["inspect", "examples/cartpole.amm", "pole", "--transitions"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("continuous observation"), "{stderr}");
    let (code, _, stderr) = ammc(&["inspect", "examples/cliff.amm", "clif"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `cliff`"), "{stderr}");
}

#[test]
fn check_and_run_report_bad_maps() {
    let d = temp_dir("bad");
    let src = d.join("bad.amm");
    std::fs::write(
        &src,
        "env maze = grid(map = \"\"\"\n    S . #\n    . G\n\"\"\")\nagent a = q_learning(env = maze) {}\n",
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let (code, _, stderr) = ammc(&[cmd, src.to_str().unwrap()]);
        assert_eq!(code, 1, "{cmd}: {stderr}");
        assert!(stderr.contains("amm::rl::map"), "{stderr}");
        assert!(
            stderr.contains("map row 2 has 2 cells but row 1 has 3"),
            "{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_rl_example_runs() {
    let d = temp_dir("examples");
    for (file, agents) in [
        ("frozen_lake", &["learner"][..]),
        ("frozen_lake_8x8", &["learner"]),
        ("cliff", &["q", "careful"]),
        ("taxi", &["driver"]),
        ("maze", &["walker"]),
        ("cartpole", &["balancer"]),
    ] {
        let out = d.join(file);
        let path = format!("examples/{file}.amm");
        let (code, stdout, stderr) =
            ammc(&["run", &path, "--quiet", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(
            stdout.contains("greedy evaluation over"),
            "{file}: {stdout}"
        );
        for a in agents {
            for f in ["returns.jsonl", "qtable.npy", "returns.svg", "summary.json"] {
                assert!(out.join(a).join(f).exists(), "{file}: {a}/{f} missing");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn inspect_rollout_prints_the_trajectory_and_reports_bad_files() {
    let d = temp_dir("rollout");
    let amm = d.join("env.amm");
    std::fs::write(
        &amm,
        "env pole = cartpole(max_steps = 3)\nenv lake = frozen_lake()\n",
    )
    .unwrap();
    let acts = d.join("a.json");
    let s0 = d.join("s0.json");
    std::fs::write(&acts, "[1, 1, 0, 0, 1]").unwrap();
    std::fs::write(&s0, "[0.01, -0.02, 0.03, 0.04]").unwrap();
    let (a, s) = (acts.to_str().unwrap(), s0.to_str().unwrap());
    let (code, stdout, stderr) = ammc(&[
        "inspect",
        amm.to_str().unwrap(),
        "pole",
        "--rollout",
        a,
        "--state",
        s,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v["initial_state"],
        serde_json::json!([0.01, -0.02, 0.03, 0.04])
    );
    let steps = v["steps"].as_array().unwrap();
    // The user's limit of 3 truncates the rollout (Gymnasium's TimeLimit semantics).
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2]["truncated"], true);
    assert_eq!(steps[0]["truncated"], false);
    // The first step is Gymnasium's Euler update from s0 with force +10.
    let mut c = ammc::rl::env::cartpole::CartPole {
        state: [0.01, -0.02, 0.03, 0.04],
    };
    c.step(1);
    let obs: Vec<f64> = steps[0]["observation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(obs, c.state.to_vec());
    // Seeded resets: the same seed gives the same start, another seed another.
    let start = |seed: &str| {
        let (code, out, err) = ammc(&[
            "inspect",
            amm.to_str().unwrap(),
            "pole",
            "--rollout",
            a,
            "--seed",
            seed,
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["initial_state"].clone()
    };
    assert_eq!(start("5"), start("5"));
    assert_ne!(start("5"), start("6"));
    // Bad inputs are located diagnostics with a help, exit 1.
    let bad = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (
            bad("a1.json", "[0, 2]"),
            None,
            "pole",
            "amm::rl::rollout_action",
        ),
        (
            bad("a2.json", "{\"a\": 1}"),
            None,
            "pole",
            "amm::rl::rollout_file",
        ),
        (
            bad("a3.json", "[0, 1"),
            None,
            "pole",
            "amm::rl::rollout_file",
        ),
        (
            acts.clone(),
            Some(bad("s1.json", "[0.1, 0.2]")),
            "pole",
            "amm::rl::state",
        ),
        (
            acts.clone(),
            Some(bad("s2.json", "[0.1, 0.2, \"x\", 0.0]")),
            "pole",
            "amm::rl::state",
        ),
        (acts.clone(), None, "lake", "amm::rl::rollout_discrete"),
        (
            d.join("missing.json"),
            None,
            "pole",
            "amm::rl::rollout_file",
        ),
    ];
    for (actions, state, env, code_want) in cases {
        let mut args = vec![
            "inspect",
            amm.to_str().unwrap(),
            env,
            "--rollout",
            actions.to_str().unwrap(),
        ];
        if let Some(s) = &state {
            args.extend(["--state", s.to_str().unwrap()]);
        }
        let (code, _, stderr) = ammc(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(code_want), "{args:?}: {stderr}");
        assert!(stderr.contains("help:"), "{args:?}: {stderr}");
    }
}
