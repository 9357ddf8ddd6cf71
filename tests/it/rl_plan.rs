//! Planning agents: value iteration and policy iteration against independent solutions of
//! the policy's Markov chain, against each other on every tabular environment, and against
//! the sampled evaluation; MCTS's determinism whatever the thread count.

use ammc::front::front_end;
use ammc::rl::env::{BuiltEnv, TabularEnv};
use ammc::rl::plan::block::{evaluate_table, run_mcts};
use ammc::rl::plan::{
    PlanMethod, SolveConfig, evaluate_exact, greedy_policy, policy_iteration, value_iteration,
};
use ammc::rl::program::{AgentSetup, agent};

fn setup(src: &str, name: &str) -> AgentSetup {
    let fe = front_end("inline.amm", src.as_bytes(), None, &[]);
    let program = fe.program.unwrap();
    let id = program.modules[0].scope[name];
    agent(&program, id).unwrap()
}

fn table(env: &str) -> TabularEnv {
    let s = setup(
        &format!("env e = {env}\nagent a = value_iteration(env = e) {{ gamma = 1.0 }}\n"),
        "a",
    );
    match s.env.build().unwrap() {
        BuiltEnv::Tabular(t) => t,
        BuiltEnv::Control(_) => panic!("{env} is not tabular"),
    }
}

fn solve(gamma: f64) -> SolveConfig {
    SolveConfig {
        gamma,
        tolerance: 1e-13,
        max_iterations: 1_000_000,
        horizon: None,
    }
}

/// Success probability of a deterministic policy with no time limit, by solving
/// (I − P) x = b over the non-terminal states with Gaussian elimination (partial pivoting):
/// independent of the iterative code under test.
#[allow(clippy::needless_range_loop)] // textbook Gauss–Jordan, indices on purpose
fn success_by_linear_solve(t: &TabularEnv, policy: &[usize]) -> Vec<f64> {
    let n = t.n_states;
    let goal = match &t.success {
        ammc::rl::env::Success::Goal(g) => g.clone(),
        _ => panic!("goal env expected"),
    };
    let mut m = vec![vec![0.0; n + 1]; n];
    for s in 0..n {
        m[s][s] = 1.0;
        for o in &t.p[s][policy[s]] {
            if o.terminated {
                if goal[o.next] {
                    m[s][n] += o.prob;
                }
            } else {
                m[s][o.next] -= o.prob;
            }
        }
    }
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap();
        m.swap(col, piv);
        let p = m[col][col];
        assert!(p.abs() > 1e-12, "singular at {col}");
        for k in col..=n {
            m[col][k] /= p;
        }
        for r in 0..n {
            if r != col && m[r][col] != 0.0 {
                let f = m[r][col];
                for k in col..=n {
                    m[r][k] -= f * m[col][k];
                }
            }
        }
    }
    m.iter().map(|row| row[n]).collect()
}

fn argmax_policy(q: &[f64], na: usize) -> Vec<usize> {
    q.chunks(na)
        .map(|row| {
            (0..na)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap()
        })
        .collect()
}

#[test]
fn value_iteration_is_optimal_on_frozen_lake() {
    let t = table("frozen_lake(map = \"4x4\")");
    let solved = value_iteration(&t, &solve(1.0));
    assert!(solved.converged);
    let policy = argmax_policy(&solved.q, t.n_actions);
    let x = success_by_linear_solve(&t, &policy);
    // The value iteration's value is the success probability of its greedy policy …
    assert!(
        (x[0] - solved.v[0]).abs() < 1e-9,
        "{} vs {}",
        x[0],
        solved.v[0]
    );
    // … and that is the known optimum of slippery FrozenLake 4x4 without a time limit.
    assert!((x[0] - 0.823_529).abs() < 1e-5, "{}", x[0]);
    // Bellman's optimality condition holds for those values: no action anywhere does better
    // than the policy's own (so policy improvement would change nothing).
    let goal = match &t.success {
        ammc::rl::env::Success::Goal(g) => g.clone(),
        _ => unreachable!(),
    };
    for s in 0..t.n_states {
        for a in 0..t.n_actions {
            let q: f64 = t.p[s][a]
                .iter()
                .map(|o| {
                    o.prob
                        * if o.terminated {
                            f64::from(u8::from(goal[o.next]))
                        } else {
                            x[o.next]
                        }
                })
                .sum();
            assert!(q <= x[s] + 1e-9, "state {s} action {a}: {q} > {}", x[s]);
        }
    }
}

#[test]
fn exact_evaluation_matches_sampling_on_taxi() {
    let t = table("taxi()");
    let solved = value_iteration(&t, &solve(1.0));
    let (sampled, exact) = evaluate_table(&t, &solved, 10_000, 7);
    assert!((exact.success_rate - 1.0).abs() < 1e-9, "{exact:?}");
    let se = sampled.std_return / (sampled.episodes as f64).sqrt();
    assert!(
        (sampled.mean_return - exact.mean_return).abs() < 4.0 * se,
        "sampled {} ± {se}, exact {}",
        sampled.mean_return,
        exact.mean_return
    );
    // Taxi's optimum: 20 for the drop-off minus one per step, from Gymnasium's 300 starts.
    assert!(
        (exact.mean_return - 7.93).abs() < 0.01,
        "{}",
        exact.mean_return
    );
}

#[test]
fn exact_evaluation_matches_sampling_on_a_slippery_lake_with_time_limit() {
    let t = table("frozen_lake(map = \"8x8\")");
    let solved = value_iteration(&t, &solve(1.0));
    let (sampled, exact) = evaluate_table(&t, &solved, 20_000, 3);
    let p = exact.success_rate;
    let se = (p * (1.0 - p) / 20_000.0).sqrt();
    assert!(
        (sampled.success_rate - p).abs() < 4.0 * se,
        "{sampled:?} {exact:?}"
    );
    assert!(
        (sampled.mean_steps - exact.mean_steps).abs() < 2.0,
        "{sampled:?} {exact:?}"
    );
}

#[test]
fn policy_and_value_iteration_agree_on_every_tabular_environment() {
    for env in [
        "frozen_lake(map = \"4x4\")",
        "frozen_lake(map = \"4x4\", slippery = false)",
        "frozen_lake(map = \"8x8\")",
        "cliff_walking()",
        "taxi()",
        "grid(map = \"\"\"\nS..#\n.#..\n...G\n\"\"\", step_reward = -0.04, slip = 0.2)",
    ] {
        let t = table(env);
        let cfg = solve(0.99);
        let vi = value_iteration(&t, &cfg);
        let pi = policy_iteration(&t, &cfg);
        assert!(vi.converged && pi.converged, "{env}");
        for (a, b) in vi.v.iter().zip(&pi.v) {
            assert!((a - b).abs() < 1e-8, "{env}: {a} vs {b}");
        }
        let ea = evaluate_exact(&t, &greedy_policy(&vi.q, t.n_actions));
        let eb = evaluate_exact(&t, &greedy_policy(&pi.q, t.n_actions));
        assert!(
            (ea.mean_return - eb.mean_return).abs() < 1e-6,
            "{env}: {ea:?} {eb:?}"
        );
        assert!(
            (ea.success_rate - eb.success_rate).abs() < 1e-6,
            "{env}: {ea:?} {eb:?}"
        );
    }
}

#[test]
fn finite_horizon_values_are_success_within_the_horizon() {
    let t = table("frozen_lake(map = \"4x4\")");
    let mut cfg = solve(1.0);
    cfg.horizon = Some(100);
    let h = value_iteration(&t, &cfg);
    // Within 100 steps the best success probability is below the unlimited optimum …
    assert!(h.v[0] < 0.8235 && h.v[0] > 0.73, "{}", h.v[0]);
    // … and the stationary greedy policy's exact value under the 100-step limit is at most it.
    let e = evaluate_exact(&t, &greedy_policy(&h.q, t.n_actions));
    assert!(e.success_rate <= h.v[0] + 1e-12, "{e:?} {}", h.v[0]);
    assert_eq!(e.horizon, 100);
}

#[test]
fn mcts_is_deterministic_whatever_the_thread_count() {
    let s = setup(
        "env pole = cartpole(max_steps = 60)\nagent m = mcts(env = pole) { simulations = 30 depth = 20 trees = 3 seed = 5 }\n",
        "m",
    );
    let PlanMethod::Mcts(m) = &s.plan.as_ref().unwrap().method else {
        panic!()
    };
    let env = s.env.build().unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_mcts(&env, m, 3, 5))
    };
    let one = run(1);
    assert_eq!(one, run(2));
    // Planning keeps the pole up for the whole (short) episode.
    assert!(one.iter().all(|e| e.steps == 60 && e.success), "{one:?}");
}

#[test]
fn mcts_plans_on_a_tabular_environment() {
    let s = setup(
        "env lake = frozen_lake(map = \"4x4\", slippery = false)\nagent m = mcts(env = lake) { simulations = 200 depth = 20 }\n",
        "m",
    );
    let PlanMethod::Mcts(m) = &s.plan.as_ref().unwrap().method else {
        panic!()
    };
    let eps = run_mcts(&s.env.build().unwrap(), m, 5, 0);
    // A deterministic lake: the goal every time, on a short path (the shortest is 6 steps).
    assert!(eps.iter().all(|e| e.success && e.steps <= 10), "{eps:?}");
}

/// MCTS finishing its simulations greedily on a table, with Bellman backups, plays
/// FrozenLake 4x4 (slippery) as well as the best policy can within the 100-step limit:
/// the finite-horizon optimum comes from value iteration with `horizon = 100`.
#[test]
fn mcts_on_a_table_reaches_the_finite_horizon_optimum() {
    let s = setup(
        "env lake = frozen_lake(map = \"4x4\")\nagent m = mcts(env = lake) { simulations = 100 gamma = 1.0 backup = \"bellman\" }\n",
        "m",
    );
    let PlanMethod::Mcts(m) = &s.plan.as_ref().unwrap().method else {
        panic!()
    };
    let built = s.env.build().unwrap();
    let BuiltEnv::Tabular(t) = &built else {
        panic!()
    };
    let optimum = {
        let mut cfg = solve(1.0);
        cfg.horizon = Some(100);
        let h = value_iteration(t, &cfg);
        t.initial.iter().zip(&h.v).map(|(p, v)| p * v).sum::<f64>()
    };
    assert!((optimum - 0.7442).abs() < 1e-3, "{optimum}");
    let mut m = m.clone();
    m.rollout = ammc::rl::plan::Rollout::Greedy(value_iteration(t, &solve(1.0)).q);
    let eps = run_mcts(&built, &m, 1000, 0);
    let rate = eps.iter().filter(|e| e.success).count() as f64 / 1000.0;
    assert!(
        (rate - optimum).abs() <= 0.03,
        "success {rate} vs optimum {optimum}"
    );
    // Random rollouts with the same budget are far from it: the table is what helps.
    m.rollout = ammc::rl::plan::Rollout::Random;
    let eps = run_mcts(&built, &m, 200, 0);
    let random = eps.iter().filter(|e| e.success).count() as f64 / 200.0;
    assert!(random < optimum - 0.2, "random rollouts {random}");
}

/// An interrupt stops the solvers between sweeps and MCTS between real steps.
#[test]
fn planners_stop_when_asked() {
    let t = table("frozen_lake(map = \"8x8\")");
    let stop = || true;
    let vi = ammc::rl::plan::value_iteration_until(&t, &solve(1.0), &stop);
    assert_eq!((vi.iterations, vi.converged), (0, false));
    let pi = ammc::rl::plan::policy_iteration_until(&t, &solve(1.0), &stop);
    assert!(!pi.converged);
    let s = setup(
        "env lake = frozen_lake()\nagent m = mcts(env = lake) { simulations = 10 }\n",
        "m",
    );
    let PlanMethod::Mcts(m) = &s.plan.as_ref().unwrap().method else {
        panic!()
    };
    let calls = std::cell::Cell::new(0);
    let after_ten = || {
        calls.set(calls.get() + 1);
        calls.get() > 10
    };
    let eps =
        ammc::rl::plan::block::run_mcts_until(&s.env.build().unwrap(), m, 1000, 0, &after_ten);
    assert!(eps.len() < 10, "{}", eps.len());
}

const LEARN_THEN_PLAN: &str = "env lake = frozen_lake(map = \"4x4\")\n\
agent learned = q_learning(env = lake) {\n    episodes = 3000\n    eval_episodes = 10\n    INIT\n}\n\
agent planner = mcts(env = lake) {\n    simulations = 20\n    backup = \"bellman\"\n    rollout = learned\n    eval_episodes = 20\n}\n";

/// `rollout = <agent>` reads that agent's run in the same output directory (an error with
/// the fix when it has not run); `init` sets the table an agent starts from.
#[test]
fn mcts_rolls_out_on_another_agents_table_and_init_sets_the_start() {
    use crate::support::ammc;
    let dir = std::env::temp_dir().join(format!("ammc-plan-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plan.amm");
    std::fs::write(&file, LEARN_THEN_PLAN.replace("INIT", "init = 2.5")).unwrap();
    let out = dir.join("runs");
    let (f, o) = (file.to_str().unwrap(), out.to_str().unwrap());
    // Alone, the planner has no table to read.
    let (code, _, stderr) = ammc(&["run", f, "planner", "--out", o]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::agent::rollout_missing"), "{stderr}");
    assert!(stderr.contains("ammc run FILE learned"), "{stderr}");
    // The whole file runs the learner first.
    let (code, stdout, stderr) = ammc(&["run", f, "--out", o]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("rollouts greedy on"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("planner/summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["rollout"]
            .as_str()
            .unwrap()
            .ends_with("learned/qtable.npy"),
        "{summary}"
    );
    assert_eq!(summary["eval"]["episodes"], 20);
    // A search keeps nothing to evaluate: `ammc eval` says so and how to rerun it.
    let (code, _, stderr) = ammc(&["eval", f, "planner", "--out", o]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("amm::agent::no_table"), "{stderr}");
    // Entries the learner never updated (the holes' and the goal's rows) kept `init`.
    let bytes = std::fs::read(out.join("learned/qtable.npy")).unwrap();
    let data = &bytes[bytes.len() - 16 * 4 * 8..];
    let q: Vec<f64> = data
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert!(q[5 * 4..6 * 4].iter().all(|&v| v == 2.5), "{q:?}");
    assert!(q.iter().any(|&v| v != 2.5));
}
