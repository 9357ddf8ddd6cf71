//! `dqn` agents: the shipped example solves CartPole-v1, runs are bit-identical for a seed
//! on any thread count, the settings change the run, and `ammc run` saves the Q-network.

use ammc::front::front_end;
use ammc::rl::dqn::{DqnResult, run_until};
use ammc::rl::program::agent;
use ammc::runtime::backend::BackendKind;

fn run_src(src: &str, name: &str, threads: usize) -> DqnResult {
    let fe = front_end("t.amm", src.as_bytes(), None, &[]);
    let program = fe.program.unwrap();
    let nets = ammc::check::q_networks(&program, &fe.sources).unwrap();
    let net = nets.iter().find(|n| n.train == name).unwrap();
    let id = program.modules[0].scope[name];
    let setup = agent(&program, id).unwrap();
    let backend = BackendKind::Jit {
        threads,
        gemm: Default::default(),
    };
    run_until(
        &setup.env,
        &setup.config,
        setup.dqn.as_ref().unwrap(),
        net,
        backend,
        &mut |_| {},
        &|| false,
    )
    .unwrap()
}

fn small(extra: &str) -> String {
    format!(
        "env pole = cartpole()\nbackbone mlp {{\n    dense(32) relu\n}}\nhead q {{\n    dense(2)\n}}\nmodel qnet = mlp -> q\nagent a = dqn(env = pole) {{\n    network = qnet\n    steps = 3000\n    learning_starts = 300\n    train_freq = 4\n    target_update = 100\n    batch = 16\n    eval_episodes = 3\n{extra}}}\n"
    )
}

fn bits(r: &DqnResult) -> Vec<u32> {
    r.tensors
        .iter()
        .flat_map(|t| t.data.iter().map(|v| v.to_bits()))
        .collect()
}

#[test]
fn dqn_cartpole_example_solves() {
    let src = std::fs::read_to_string("examples/dqn_cartpole.amm").unwrap();
    let r = run_src(&src, "learner", 2);
    assert_eq!(r.eval.episodes, 20);
    assert!(r.eval.mean_return >= 475.0, "{:?}", r.eval);
    assert_eq!(r.learned.steps, 50_000);
    // train_freq 256 × gradient_steps 128 after 1000 random steps.
    assert_eq!(
        r.gradient_steps,
        (1000..50_000u64).filter(|t| (t + 1) % 256 == 0).count() as u64 * 128
    );
}

#[test]
fn dqn_is_bit_identical_for_a_seed_on_any_thread_count() {
    let src = small("    seed = 4\n");
    let one = run_src(&src, "a", 1);
    let two = run_src(&src, "a", 2);
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(one.learned.records, two.learned.records);
    assert_eq!(one.eval, two.eval);
    assert!(one.gradient_steps > 600, "{}", one.gradient_steps);
    // Names and shapes of the saved tensors are the model's.
    let names: Vec<(&str, &[usize])> = one
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        names,
        [
            ("mlp.dense1.weight", &[32, 4][..]),
            ("mlp.dense1.bias", &[32][..]),
            ("q.dense1.weight", &[2, 32][..]),
            ("q.dense1.bias", &[2][..]),
        ]
    );
    // Another seed, and each setting, gives another run.
    let base = bits(&one);
    for extra in [
        "    seed = 5\n",
        "    seed = 4\n    loss = \"mse\"\n",
        "    seed = 4\n    tau = 0.5\n",
        "    seed = 4\n    optimizer = sgd(lr = 0.01)\n",
        "    seed = 4\n    clip_norm = 0.01\n",
        "    seed = 4\n    gradient_steps = 2\n",
    ] {
        let r = run_src(&small(extra), "a", 1);
        assert_ne!(bits(&r), base, "{extra}");
    }
    // Double DQN differs once the target network lags the online one far enough for their
    // greedy actions to disagree.
    let lag = |extra: &str| small(extra).replace("target_update = 100", "target_update = 2000");
    let plain = run_src(&lag("    seed = 4\n"), "a", 1);
    let double = run_src(&lag("    seed = 4\n    double = true\n"), "a", 1);
    assert_ne!(bits(&plain), bits(&double));
}

#[test]
fn dqn_run_saves_the_q_network() {
    let d = std::env::temp_dir().join(format!("ammc-dqn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let file = d.join("a.amm");
    std::fs::write(
        &file,
        small("    steps = 400\n").replace("    steps = 3000\n", ""),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ammc"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--out",
            d.join("runs").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(d.join("runs/a/qnetwork.safetensors")).unwrap();
    let tensors = ammc::data::safetensors::deserialize(&bytes).unwrap();
    assert_eq!(tensors.len(), 4);
    let w = tensors
        .iter()
        .find(|t| t.name == "mlp.dense1.weight")
        .unwrap();
    assert_eq!(w.shape, [32, 4]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("runs/a/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["algorithm"], "dqn");
    assert_eq!(summary["steps"], 400);
    // A dqn on a discrete env, or without a network, fails `ammc check` with its code.
    for (src, code) in [
        (
            "env e = taxi()\nbackbone m {\n    dense(6)\n}\nmodel n = m\nagent a = dqn(env = e) {\n    network = n\n}\n",
            "amm::rl::dqn_discrete",
        ),
        (
            "env e = acrobot()\nagent a = dqn(env = e) {}\n",
            "amm::agent::network",
        ),
        (
            "env e = cartpole()\nagent a = q_learning(env = e) {\n    batch = 3\n}\n",
            "amm::agent::dqn_field",
        ),
        (
            "env e = cartpole()\nbackbone m {\n    dense(2)\n}\nmodel n = m\nagent a = dqn(env = e) {\n    network = n\n    alpha = 0.5\n}\n",
            "amm::agent::dqn_field",
        ),
    ] {
        std::fs::write(&file, src).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ammc"))
            .args(["check", file.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{src}: {stderr}");
        assert!(stderr.contains(code), "{src}: {stderr}");
    }
}
