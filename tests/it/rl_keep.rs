//! Agents you can keep: `ammc eval` on an agent's saved table or network reproduces the
//! run's own evaluation, `init_from` continues training from it (and names both shapes
//! when they differ), `returns.jsonl` stays bounded, `returns.svg` draws the learning
//! curve, and `tune` searches `dqn` settings.

use std::path::{Path, PathBuf};

use crate::support::ammc;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ammc-keep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn run(file: &Path, block: &str, out: &Path) {
    let (code, stdout, stderr) = ammc(&[
        "run",
        file.to_str().unwrap(),
        block,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

fn eval_json(file: &Path, block: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["eval", file.to_str().unwrap(), block, "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = ammc(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const CLIFF: &str = "env cliff = cliff_walking(max_steps = 200)\n\
agent q = q_learning(env = cliff) {\n    alpha = 0.5\n    epsilon = 0.1\n    episodes = EPISODES\n    eval_episodes = 7\n    seed = 3\nINIT}\n";

/// The cliff agent; `greedy`: acting greedily with a tiny step size.
fn cliff(dir: &Path, name: &str, episodes: u32, greedy: bool, init: &str) -> PathBuf {
    let f = dir.join(name);
    let mut text = CLIFF
        .replace("EPISODES", &episodes.to_string())
        .replace("INIT", init);
    if greedy {
        text = text
            .replace("alpha = 0.5", "alpha = 0.01")
            .replace("epsilon = 0.1", "epsilon = 0.0");
    }
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn tabular_agent_is_evaluated_and_continued_from_its_table() {
    let d = temp_dir("tabular");
    let out = d.join("runs");
    let first = cliff(&d, "first.amm", 300, false, "");
    run(&first, "q", &out);
    let summary = json(&out.join("q/summary.json"));
    let out_s = out.to_str().unwrap();
    // The saved table evaluated from the command line gives the run's own evaluation.
    let e = eval_json(&first, "q", &["--out", out_s]);
    assert_eq!(e["eval"], summary["eval"], "{e}");
    assert_eq!(e["episodes"].as_array().unwrap().len(), 7);
    assert_eq!(e["eval"]["mean_return"], -13.0);
    assert_eq!(e["min_steps"], 13);
    // A run directory as --weights, other episodes and seed.
    let e = eval_json(
        &first,
        "q",
        &[
            "--weights",
            out.join("q").to_str().unwrap(),
            "--episodes",
            "3",
            "--seed",
            "9",
        ],
    );
    assert_eq!(e["eval"]["episodes"], 3);
    assert_eq!(e["seed"], 9);
    let (code, text, stderr) = ammc(&["eval", first.to_str().unwrap(), "q", "--out", out_s]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("return   -13.000 ± 0.000"), "{text}");
    assert!(text.contains("success  100.0%"), "{text}");
    assert!(
        text.contains("length   mean 13.0, min 13, max 13"),
        "{text}"
    );

    // One greedy episode from scratch does not reach the goal; from the table it does.
    let scratch = cliff(&d, "scratch.amm", 1, true, "");
    let cont = cliff(
        &d,
        "cont.amm",
        1,
        true,
        "    init_from = \"runs/q/qtable.npy\"\n",
    );
    let (out2, out3) = (d.join("scratch"), d.join("cont"));
    run(&scratch, "q", &out2);
    run(&cont, "q", &out3);
    let s2 = json(&out2.join("q/summary.json"));
    let s3 = json(&out3.join("q/summary.json"));
    assert!(s2["eval"]["success_rate"].as_f64().unwrap() < 1.0, "{s2}");
    assert_eq!(s3["eval"]["mean_return"], -13.0, "{s3}");
    assert!(s3["init_from"].as_str().unwrap().ends_with("qtable.npy"));

    // A table of another environment: both shapes named, at the field.
    let lake = d.join("lake.amm");
    std::fs::write(
        &lake,
        "env lake = frozen_lake()\nagent q = q_learning(env = lake) {\n    episodes = 5\n    init_from = \"runs/q/qtable.npy\"\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = ammc(&[
        "run",
        lake.to_str().unwrap(),
        "--out",
        d.join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::agent::saved_shape"), "{stderr}");
    assert!(
        stderr.contains("[48, 4]") && stderr.contains("[16, 4]"),
        "{stderr}"
    );
    assert!(stderr.contains("init_from"), "{stderr}");
    // ... and `ammc eval` of that table on the lake agent.
    let (code, _, stderr) = ammc(&[
        "eval",
        lake.to_str().unwrap(),
        "q",
        "--weights",
        out.join("q/qtable.npy").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("[48, 4]") && stderr.contains("[16, 4]"),
        "{stderr}"
    );
    // No saved run: a diagnostic, not a panic.
    let (code, _, stderr) = ammc(&[
        "eval",
        first.to_str().unwrap(),
        "q",
        "--out",
        d.join("none").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::agent::saved"), "{stderr}");
    let _ = std::fs::remove_dir_all(&d);
}

const DQN: &str = "env pole = cartpole()\nbackbone mlp {\n    dense(WIDTH) relu\n}\nhead q {\n    dense(2)\n}\nmodel qnet = mlp -> q\nagent a = dqn(env = pole) {\n    network = qnet\n    steps = STEPS\n    learning_starts = 300\n    train_freq = 4\n    target_update = 100\n    batch = 16\n    eval_episodes = 4\n    seed = 1\nEXTRA}\n";

fn dqn(dir: &Path, name: &str, width: u32, steps: u32, extra: &str) -> PathBuf {
    let f = dir.join(name);
    let text = DQN
        .replace("WIDTH", &width.to_string())
        .replace("STEPS", &steps.to_string())
        .replace("EXTRA", extra);
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn dqn_agent_is_saved_reloaded_and_evaluated_from_the_command_line() {
    let d = temp_dir("dqn");
    let out = d.join("runs");
    let first = dqn(&d, "first.amm", 32, 2000, "");
    run(&first, "a", &out);
    let summary = json(&out.join("a/summary.json"));
    let e = eval_json(&first, "a", &["--out", out.to_str().unwrap()]);
    assert_eq!(e["eval"], summary["eval"], "{e}");
    assert_eq!(e["algorithm"], "dqn");
    // dqn summaries carry dqn settings, not tabular ones.
    assert!(
        summary.get("alpha").is_none() && summary.get("states").is_none(),
        "{summary}"
    );
    assert_eq!(summary["dqn"]["batch"], 16);
    assert_eq!(summary["network"], "qnet");
    assert!(summary["gradient_steps"].as_u64().unwrap() > 300);

    // Checkpoints evaluate without disturbing training: the same episodes, and the kept
    // network is the one the run saves and evaluates.
    let ck = dqn(
        &d,
        "ck.amm",
        32,
        2000,
        "    checkpoint_every = 500\n    checkpoint_episodes = 3\n",
    );
    run(&ck, "a", &d.join("ck"));
    assert_eq!(
        std::fs::read(out.join("a/returns.jsonl")).unwrap(),
        std::fs::read(d.join("ck/a/returns.jsonl")).unwrap()
    );
    let s = json(&d.join("ck/a/summary.json"));
    assert_eq!(s["checkpoint"]["evaluations"], 4, "{s}");
    assert_eq!(s["checkpoint"]["step"].as_u64().unwrap() % 500, 0, "{s}");
    let e = eval_json(&ck, "a", &["--out", d.join("ck").to_str().unwrap()]);
    assert_eq!(e["eval"], s["eval"]);

    // Continuing without learning (steps < learning_starts) saves the loaded network as is.
    let cont = dqn(
        &d,
        "cont.amm",
        32,
        10,
        "    init_from = \"runs/a/qnetwork.safetensors\"\n",
    );
    run(&cont, "a", &d.join("cont"));
    assert_eq!(
        std::fs::read(out.join("a/qnetwork.safetensors")).unwrap(),
        std::fs::read(d.join("cont/a/qnetwork.safetensors")).unwrap()
    );
    let e2 = eval_json(&cont, "a", &["--out", d.join("cont").to_str().unwrap()]);
    assert_eq!(e2["eval"], summary["eval"]);

    // A network of another width: the tensor and both shapes are named.
    let wide = dqn(
        &d,
        "wide.amm",
        64,
        10,
        "    init_from = \"runs/a/qnetwork.safetensors\"\n",
    );
    let (code, _, stderr) = ammc(&[
        "run",
        wide.to_str().unwrap(),
        "--out",
        d.join("w").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::agent::saved_shape"), "{stderr}");
    assert!(
        stderr.contains("mlp.dense1.weight")
            && stderr.contains("[32, 4]")
            && stderr.contains("[64, 4]"),
        "{stderr}"
    );
    // A network trained on another environment.
    let car = d.join("car.amm");
    std::fs::write(
        &car,
        std::fs::read_to_string(&first)
            .unwrap()
            .replace("cartpole()", "acrobot()")
            .replace("dense(2)", "dense(3)"),
    )
    .unwrap();
    let (code, _, stderr) = ammc(&[
        "eval",
        car.to_str().unwrap(),
        "a",
        "--weights",
        out.join("a").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("`cartpole`") && stderr.contains("`acrobot`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn returns_jsonl_is_bounded_and_windows_cover_every_episode() {
    let d = temp_dir("bounded");
    let f = d.join("long.amm");
    std::fs::write(
        &f,
        "env lake = frozen_lake(slippery = false)\n\
         agent a = q_learning(env = lake) { episodes = 150000 eval_episodes = 10 }\n\
         agent b = q_learning(env = lake) { steps = 300000 log_episodes = 50 eval_episodes = 10 }\n",
    )
    .unwrap();
    let out = d.join("runs");
    let (code, _, stderr) = ammc(&[
        "run",
        f.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // The default cap: 100,000 lines of 150,000 episodes; ten windows of all of them.
    let lines = std::fs::read_to_string(out.join("a/returns.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 100_000);
    let s = json(&out.join("a/summary.json"));
    assert_eq!(s["episodes_logged"], 100_000);
    let w = s["windows"].as_array().unwrap();
    assert_eq!(w.len(), 10);
    assert_eq!(w[9]["last"], 150_000);
    // A step budget with a small cap: 50 lines, 10-20 equal windows reaching the last episode.
    let lines = std::fs::read_to_string(out.join("b/returns.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 50);
    let s = json(&out.join("b/summary.json"));
    let w = s["windows"].as_array().unwrap();
    assert!((10..=20).contains(&w.len()), "{}", w.len());
    assert_eq!(w[0]["first"], 1);
    assert_eq!(w.last().unwrap()["last"], s["episodes"]);
    assert!(s["episodes"].as_u64().unwrap() > 30_000);
    // The learning curve: per-episode returns and their moving average; the lake's
    // success rate is drawn, being more than its return.
    let svg = std::fs::read_to_string(out.join("a/returns.svg")).unwrap();
    assert!(
        svg.contains("moving average") && svg.contains("success rate"),
        "no curve"
    );
    assert!(svg.len() < 2_000_000, "{}", svg.len());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tune_searches_dqn_settings() {
    let d = temp_dir("tune");
    let f = d.join("tune.amm");
    std::fs::write(
        &f,
        "param lr = 1e-3\nparam every: int = 100\nenv pole = cartpole()\nbackbone mlp {\n    dense(16) relu\n}\nhead q {\n    dense(2)\n}\nmodel qnet = mlp -> q\n\
         agent a = dqn(env = pole) {\n    network = qnet\n    optimizer = adam(lr = lr)\n    target_update = every\n    steps = 600\n    learning_starts = 100\n    batch = 8\n    eval_episodes = 2\n}\n\
         tune search {\n    run = a\n    space {\n        lr ~ log_uniform(1e-4, 1e-2)\n        every ~ choice(50, 200)\n    }\n    strategy = random(trials = 3)\n    objective = maximize(eval.mean_return)\n}\n",
    )
    .unwrap();
    let out = d.join("runs");
    let (code, stdout, stderr) = ammc(&[
        "run",
        f.to_str().unwrap(),
        "search",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" COMPLETE "))
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    let best = json(&out.join("search/best.json"));
    let v = best["best"]["value"].as_f64().unwrap();
    assert!((8.0..=500.0).contains(&v), "{best}");
    assert!(best["best"]["params"]["lr"].as_f64().is_some(), "{best}");
    let _ = std::fs::remove_dir_all(&d);
}
