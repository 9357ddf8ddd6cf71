//! An `agent` block as a run: train it (stopping at the next episode on an interrupt),
//! evaluate the greedy policy, and commit `<out>/<agent>/` as one set: `returns.jsonl`
//! (one line per training episode), `qtable.npy`, `returns.svg` (mean return and success
//! per window) and `summary.json` (the run record). Reports through [`Event`]s: window rows
//! as soon as each window of episodes is complete, whatever stdout is.

use std::fmt::Write as _;

use crate::resolve::{DefId, Program};
use crate::rl::agent::{Budget, EpisodeRecord};
use crate::rl::env::BuiltEnv;
use crate::rl::render::{WindowRow, policy_map, window_size, windows};
use crate::rl::{npy, program};
use crate::run::record::{RunStatus, unix_now};
use crate::run::{Event, RunContext, RunDir, RunFailure};

/// A finished agent run.
#[derive(Debug)]
pub struct AgentOutcome {
    /// The committed run directory.
    pub dir: std::path::PathBuf,
    /// The greedy evaluation.
    pub eval: crate::rl::agent::EvalSummary,
}

/// Runs one agent block; see the module documentation.
pub fn run_agent(
    program: &Program,
    sources: &crate::source::SourceMap,
    id: DefId,
    ctx: &mut RunContext,
) -> Result<AgentOutcome, RunFailure> {
    let started = unix_now();
    let setup = program::agent(program, id).map_err(|d| RunFailure::Diags(vec![d]))?;
    if let Some(plan) = &setup.plan {
        return crate::rl::plan::block::run_planner(&setup, plan, ctx);
    }
    let cfg = &setup.config;
    let block = setup.name.clone();
    let mut dir =
        RunDir::open(&ctx.out_dir, &block).map_err(|e| RunFailure::io(&ctx.out_dir, &e))?;
    dir.reset()
        .map_err(|e| RunFailure::io(dir.stage_dir(), &e))?;
    let table = match setup.env.build() {
        Ok(BuiltEnv::Tabular(t)) => Some(t),
        Ok(BuiltEnv::Control(_)) => None,
        Err(e) => return Err(RunFailure::Io(e.to_string())),
    };
    let (total, unit) = match cfg.budget {
        Budget::Episodes(n) => (n, "episodes"),
        Budget::Steps(n) => (n, "steps"),
    };
    let shape = match (&table, crate::rl::bins_for(&setup.env, cfg).ok().flatten()) {
        _ if setup.dqn.is_some() => setup.env.spec.control().map_or(String::new(), |k| {
            format!(
                "observation [N, {}] × {} actions",
                k.obs_dim(),
                k.n_actions()
            )
        }),
        (Some(t), _) => format!("{} states × {} actions", t.n_states, t.n_actions),
        (None, Some(b)) => format!(
            "bins {b:?} = {} states × {} actions",
            b.iter().map(|&n| n as u64).product::<u64>(),
            setup.env.spec.control().map_or(0, |k| k.n_actions())
        ),
        (None, None) => String::new(),
    };
    ctx.events.emit(Event::AgentStart {
        block: block.clone(),
        algorithm: if setup.dqn.is_some() {
            "dqn".to_string()
        } else {
            cfg.algorithm.name().to_string()
        },
        env: setup.env_name.clone(),
        env_kind: setup.env.kind().to_string(),
        shape,
        budget: format!("{total} {unit}"),
        alpha: cfg.alpha,
        gamma: cfg.gamma,
        seed: cfg.seed,
    });
    // Windows stream as they fill when their size is known before training (an episode
    // budget or an explicit `window`); a step budget without one shows them at the end.
    let live_window = match (cfg.window, cfg.budget) {
        (Some(w), _) => Some(w.max(1)),
        (None, Budget::Episodes(n)) => Some(window_size(None, n)),
        (None, Budget::Steps(_)) => None,
    };
    let steps_budget = matches!(cfg.budget, Budget::Steps(_));
    let mut pending: Vec<EpisodeRecord> = Vec::new();
    let mut steps_done = 0u64;
    let mut recent = 0.0;
    let events = &mut *ctx.events;
    let interrupt = ctx.interrupt.clone();
    let mut progress = |r: &EpisodeRecord| {
        recent = 0.99 * recent + 0.01 * r.ret;
        steps_done += u64::from(r.steps);
        // Progress is cheap to send but costly to draw: every 64 episodes.
        if r.episode.is_multiple_of(64) {
            events.emit(Event::AgentProgress {
                block: block.clone(),
                done: if steps_budget { steps_done } else { r.episode },
                total,
                unit: unit.to_string(),
                epsilon: r.epsilon,
                recent_return: recent,
            });
        }
        if let Some(w) = live_window {
            pending.push(*r);
            if pending.len() as u64 == w {
                for row in windows(&pending, w) {
                    events.emit(window_event(&block, row));
                }
                pending.clear();
            }
        }
    };
    let at_agent = |e: &crate::rl::RlError| {
        RunFailure::Diags(vec![program::to_diag(
            e,
            program
                .def(id)
                .item
                .name()
                .map_or(program.def(id).item.span, |n| n.span),
            "in this agent",
        )])
    };
    let (result, network) = match &setup.dqn {
        Some(dqn) => {
            let nets = crate::check::q_networks(program, sources).map_err(RunFailure::Diags)?;
            let net = nets.into_iter().find(|n| n.train == block).ok_or_else(|| {
                RunFailure::Io(format!("agent `{block}`: its Q-network did not check"))
            })?;
            let r = crate::rl::dqn::run_until(
                &setup.env,
                cfg,
                dqn,
                &net,
                ctx.backend,
                &mut progress,
                &|| interrupt.requested(),
            )
            .map_err(|e| at_agent(&e))?;
            (
                crate::rl::RunResult {
                    learned: r.learned,
                    eval: r.eval,
                    train_seconds: r.train_seconds,
                },
                Some(r.tensors),
            )
        }
        None => (
            crate::rl::run_until(&setup.env, cfg, &mut progress, &|| interrupt.requested())
                .map_err(|e| at_agent(&e))?,
            None,
        ),
    };
    let learned = &result.learned;
    let interrupted = ctx.interrupt.requested();
    let size = live_window.unwrap_or_else(|| window_size(cfg.window, learned.episodes));
    let rows = windows(&learned.records, size);
    // The last, shorter window (or every window when none streamed).
    let streamed = if live_window.is_some() {
        learned.records.len() as u64 / size
    } else {
        0
    };
    for row in rows.iter().skip(streamed as usize) {
        ctx.events.emit(window_event(&block, *row));
    }
    let e = &result.eval;
    ctx.events.emit(Event::Evaluation {
        block: block.clone(),
        episodes: e.episodes,
        mean_return: e.mean_return,
        std_return: e.std_return,
        success_rate: e.success_rate,
        mean_steps: e.mean_steps,
    });
    // The learned policy's exact value, from the model (tabular environments only).
    let exact = table.as_ref().filter(|_| setup.dqn.is_none()).map(|t| {
        crate::rl::plan::evaluate_exact(
            t,
            &crate::rl::plan::greedy_policy(&learned.q, learned.n_actions),
        )
    });
    if let Some(x) = &exact {
        ctx.events.emit(Event::Line {
            block: block.clone(),
            text: format!(
                "exact (from the model, {} steps): mean return {:.4}, success {:.4}, mean steps {:.2}",
                x.horizon, x.mean_return, x.success_rate, x.mean_steps
            ),
        });
    }
    if let Some(layout) = table.as_ref().and_then(|t| t.layout.as_ref()) {
        ctx.events.emit(Event::Policy {
            block: block.clone(),
            map: policy_map(layout, &learned.q, learned.n_actions),
        });
    }
    let steps_per_sec = learned.steps as f64 / result.train_seconds.max(1e-9);
    ctx.events.emit(Event::AgentThroughput {
        block: block.clone(),
        episodes: learned.episodes,
        steps: learned.steps,
        seconds: result.train_seconds,
        steps_per_sec,
    });

    let io = |e: std::io::Error| RunFailure::io(&ctx.out_dir, &e);
    // One line per training episode; no timings, so reruns are byte-identical.
    let mut lines = String::with_capacity(learned.records.len() * 64);
    for r in &learned.records {
        let _ = writeln!(
            lines,
            "{}",
            serde_json::json!({
                "episode": r.episode,
                "return": r.ret,
                "steps": r.steps,
                "success": r.success,
                "epsilon": r.epsilon,
            })
        );
    }
    dir.write("returns.jsonl", lines.as_bytes()).map_err(io)?;
    let table_file = match &network {
        Some(tensors) => {
            let meta = std::collections::BTreeMap::from([
                ("agent".to_string(), setup.name.clone()),
                ("env".to_string(), setup.env.kind().to_string()),
            ]);
            dir.write(
                "qnetwork.safetensors",
                &crate::data::safetensors::serialize(tensors, &meta),
            )
            .map_err(io)?;
            "qnetwork.safetensors"
        }
        None => {
            dir.write(
                "qtable.npy",
                &npy::f64_2d(&learned.q, learned.n_states, learned.n_actions),
            )
            .map_err(io)?;
            "qtable.npy"
        }
    };
    dir.write(
        "returns.svg",
        returns_svg(&block, &rows)
            .map_err(RunFailure::Io)?
            .as_bytes(),
    )
    .map_err(io)?;
    let set: serde_json::Map<String, serde_json::Value> = ctx
        .overrides
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let summary = serde_json::json!({
        "status": if interrupted { RunStatus::Interrupted } else { RunStatus::Completed },
        "kind": "agent",
        "agent": setup.name,
        "algorithm": if setup.dqn.is_some() { "dqn" } else { cfg.algorithm.name() },
        "env": setup.env_name,
        "env_kind": setup.env.kind(),
        "states": learned.n_states,
        "actions": learned.n_actions,
        "alpha": cfg.alpha,
        "gamma": cfg.gamma,
        "seed": cfg.seed,
        "budget": format!("{total} {unit}"),
        "episodes": learned.episodes,
        "steps": learned.steps,
        "windows": rows,
        "eval": e,
        "exact": exact,
        "set": set,
        "ammc_version": env!("CARGO_PKG_VERSION"),
        "train_seconds": result.train_seconds,
        "steps_per_sec": steps_per_sec,
        "started_unix": started,
        "wall_seconds": unix_now() - started,
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    dir.write("summary.json", text.as_bytes()).map_err(io)?;
    let final_dir = dir.commit().map_err(io)?;
    ctx.events.emit(Event::Wrote {
        block: block.clone(),
        dir: final_dir.display().to_string(),
        files: [table_file, "returns.jsonl", "returns.svg", "summary.json"]
            .map(String::from)
            .to_vec(),
    });
    if interrupted {
        ctx.events.emit(Event::Interrupted {
            block: block.clone(),
            at: crate::run::events::Position {
                epoch: learned.episodes as usize,
                batch: 0,
            },
            resume: "agent runs start over when run again".to_string(),
        });
        return Err(RunFailure::Interrupted);
    }
    Ok(AgentOutcome {
        dir: final_dir,
        eval: result.eval,
    })
}

fn window_event(block: &str, row: WindowRow) -> Event {
    Event::Window {
        block: block.to_string(),
        first: row.first,
        last: row.last,
        mean_return: row.mean_return,
        success_rate: row.success_rate,
    }
}

/// `returns.svg`: mean return and success rate per window of training episodes.
fn returns_svg(name: &str, rows: &[WindowRow]) -> Result<String, String> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let series = |n: &str, f: &dyn Fn(&WindowRow) -> f64| Series {
        name: n.to_string(),
        points: rows.iter().map(|r| (r.last as f64, f(r))).collect(),
        mark: Mark::Line,
    };
    svg(
        &format!("agent {name}"),
        &[
            Panel {
                title: "return (training, per window)".into(),
                x_label: "episode".into(),
                y_label: "mean return".into(),
                series: vec![series("mean return", &|r| r.mean_return)],
                marker: None,
            },
            Panel {
                title: "success rate (training, per window)".into(),
                x_label: "episode".into(),
                y_label: "success rate".into(),
                series: vec![series("success", &|r| r.success_rate)],
                marker: None,
            },
        ],
    )
}
