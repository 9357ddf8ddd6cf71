//! An `agent` block as a run: train it (stopping at the next episode on an interrupt),
//! evaluate the greedy policy, and commit `<out>/<agent>/` as one set: `returns.jsonl`
//! (one line per training episode for the first `log_episodes`), `qtable.npy` or
//! `qnetwork.safetensors`, `returns.svg` (the learning curve) and `summary.json` (the run
//! record, with the window rows of every episode). Reports through [`Event`]s: window rows
//! as soon as each window of episodes is complete, whatever stdout is. Memory stays
//! bounded however long the run: see [`crate::rl::curve`].

use std::fmt::Write as _;

use crate::resolve::{DefId, Program};
use crate::rl::agent::{Budget, EpisodeRecord};
use crate::rl::curve::{Curve, CurvePoint};
use crate::rl::env::BuiltEnv;
use crate::rl::render::{WindowRow, policy_map, window_size};
use crate::rl::{npy, program, saved};
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
        alpha: setup.dqn.is_none().then_some(cfg.alpha),
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
    let mut curve = Curve::new(live_window);
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
        if let Some(row) = curve.push(r) {
            events.emit(window_event(&block, row));
        }
    };
    let init_span = setup.init_span;
    let at_agent = |e: &crate::rl::RlError| {
        let name_span = program
            .def(id)
            .item
            .name()
            .map_or(program.def(id).item.span, |n| n.span);
        let (span, label) = match (e, init_span) {
            (crate::rl::RlError::Saved { .. } | crate::rl::RlError::SavedShape { .. }, Some(s)) => {
                (s, "this file")
            }
            _ => (name_span, "in this agent"),
        };
        RunFailure::Diags(vec![program::to_diag(e, span, label)])
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
                Some((r.tensors, r.gradient_steps, r.checkpoint)),
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
    let rows = curve.rows(&learned.records);
    // Windows of a size known in advance streamed as they filled: what is left is the
    // last, shorter one (or every window when none streamed).
    let streamed = live_window.map_or(0, |w| learned.episodes / w);
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
    // One line per kept training episode; no timings, so reruns are byte-identical.
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
        Some((tensors, _, _)) => {
            let meta = saved::network_metadata(&setup.name, setup.env.kind());
            dir.write(
                saved::QNETWORK,
                &crate::data::safetensors::serialize(tensors, &meta),
            )
            .map_err(io)?;
            saved::QNETWORK
        }
        None => {
            dir.write(
                saved::QTABLE,
                &npy::f64_2d(&learned.q, learned.n_states, learned.n_actions),
            )
            .map_err(io)?;
            saved::QTABLE
        }
    };
    // Success is drawn where it is not a function of the return: the discrete
    // environments (reaching a goal); CartPole's is "return 500", MountainCar's and
    // Acrobot's "return above the time limit's".
    let show_success = table.is_some();
    dir.write(
        "returns.svg",
        returns_svg(
            &format!("agent {block} on {} ({})", setup.env_name, setup.env.kind()),
            &curve.points(),
            show_success.then_some(rows.as_slice()),
        )
        .map_err(RunFailure::Io)?
        .as_bytes(),
    )
    .map_err(io)?;
    let set: serde_json::Map<String, serde_json::Value> = ctx
        .overrides
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut summary = serde_json::json!({
        "status": if interrupted { RunStatus::Interrupted } else { RunStatus::Completed },
        "kind": "agent",
        "agent": setup.name,
        "algorithm": if setup.dqn.is_some() { "dqn" } else { cfg.algorithm.name() },
        "env": setup.env_name,
        "env_kind": setup.env.kind(),
        "actions": learned.n_actions,
        "gamma": cfg.gamma,
        "seed": cfg.seed,
        "budget": format!("{total} {unit}"),
        "episodes": learned.episodes,
        "steps": learned.steps,
        "episodes_logged": learned.records.len(),
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
    if let Some(init) = &cfg.init_from {
        summary["init_from"] = init.display().to_string().into();
    }
    match (&setup.dqn, &network) {
        (Some(d), Some((_, grad_steps, checkpoint))) => {
            summary["network"] = d.network.clone().into();
            summary["observation"] = setup.env.spec.control().map_or(0, |k| k.obs_dim()).into();
            summary["dqn"] = serde_json::json!({
                "loss": match d.loss {
                    crate::rl::dqn::TdLoss::Huber => "huber",
                    crate::rl::dqn::TdLoss::Mse => "mse",
                },
                "batch": d.batch,
                "buffer": d.buffer,
                "learning_starts": d.learning_starts,
                "train_freq": d.train_freq,
                "gradient_steps": d.gradient_steps,
                "target_update": d.target_update,
                "tau": d.tau,
                "double": d.double,
                "checkpoint_every": d.checkpoint_every,
                "checkpoint_episodes": d.checkpoint_episodes,
            });
            if let Some(c) = checkpoint {
                summary["checkpoint"] = serde_json::json!(c);
            }
            summary["gradient_steps"] = (*grad_steps).into();
        }
        _ => {
            summary["states"] = learned.n_states.into();
            summary["alpha"] = cfg.alpha.into();
        }
    }
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

/// `returns.svg`: the return of every training episode (a thin line; beyond
/// [`crate::rl::curve::PLOT_POINTS`] episodes, means of equal runs of episodes) with its
/// moving average (thick), and the success rate per window when `success` is given.
fn returns_svg(
    title: &str,
    points: &[CurvePoint],
    success: Option<&[WindowRow]>,
) -> Result<String, String> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let episodes: u64 = points.iter().map(|p| p.episodes).sum();
    // A trailing mean over a twentieth of the run (at least 1 episode).
    let span = (episodes / 20).max(1);
    let per_point = points.first().map_or(1, |p| p.episodes.max(1));
    let k = (span / per_point).max(1) as usize;
    let mut moving = Vec::with_capacity(points.len());
    let (mut sum, mut n) = (0.0, 0u64);
    for (i, p) in points.iter().enumerate() {
        sum += p.mean_return * p.episodes as f64;
        n += p.episodes;
        if i >= k {
            let old = &points[i - k];
            sum -= old.mean_return * old.episodes as f64;
            n -= old.episodes;
        }
        moving.push((p.last as f64, sum / n.max(1) as f64));
    }
    let each = if per_point == 1 {
        "return per episode".to_string()
    } else {
        format!("mean return per {per_point} episodes")
    };
    let mut panels = vec![Panel {
        title: "training return".into(),
        x_label: "episode".into(),
        y_label: "return".into(),
        series: vec![
            Series {
                name: each,
                points: points
                    .iter()
                    .map(|p| (p.last as f64, p.mean_return))
                    .collect(),
                mark: Mark::Thin,
            },
            Series {
                name: format!("moving average ({} episodes)", k as u64 * per_point),
                points: moving,
                mark: Mark::Line,
            },
        ],
        marker: None,
    }];
    if let Some(rows) = success {
        panels.push(Panel {
            title: "success rate (training, per window)".into(),
            x_label: "episode".into(),
            y_label: "success rate".into(),
            series: vec![Series {
                name: "success".into(),
                points: rows
                    .iter()
                    .map(|r| (r.last as f64, r.success_rate))
                    .collect(),
                mark: Mark::Line,
            }],
            marker: None,
        });
    }
    svg(title, &panels)
}
