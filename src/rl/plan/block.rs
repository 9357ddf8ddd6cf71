//! A planning agent block as a run. Table planners (`value_iteration`,
//! `policy_iteration`) solve the environment's model, then report the greedy policy's
//! exact value (from the model) next to its sampled evaluation, and commit `values.npy`,
//! `qtable.npy`, `plan.svg` (the solver's convergence) and `summary.json`. `mcts` plans
//! at every step of its evaluation episodes and commits `returns.svg` (return per episode)
//! and `summary.json`.

use std::time::Instant;

use super::mcts::{self, ControlSim, TableSim};
use super::{PlanMethod, PlanSetup, Solved, evaluate_exact, greedy_policy};
use crate::rl::EVAL_SEED_SALT;
use crate::rl::agent::{EvalSummary, evaluate};
use crate::rl::block::AgentOutcome;
use crate::rl::env::{BuiltEnv, ControlEnv, ControlKind, Success, TabularEnv};
use crate::rl::episodic::TabularRunner;
use crate::rl::npy;
use crate::rl::program::AgentSetup;
use crate::rl::render::policy_map;
use crate::rl::rng::Rng;
use crate::run::record::{RunStatus, unix_now};
use crate::run::{Event, RunContext, RunDir, RunFailure};

/// Runs a planning agent; see the module documentation.
pub fn run_planner(
    setup: &AgentSetup,
    plan: &PlanSetup,
    ctx: &mut RunContext,
) -> Result<AgentOutcome, RunFailure> {
    let started = unix_now();
    let block = setup.name.clone();
    let mut dir =
        RunDir::open(&ctx.out_dir, &block).map_err(|e| RunFailure::io(&ctx.out_dir, &e))?;
    dir.reset()
        .map_err(|e| RunFailure::io(dir.stage_dir(), &e))?;
    let out_dir = ctx.out_dir.clone();
    let io = |e: std::io::Error| RunFailure::io(&out_dir, &e);
    let built = setup
        .env
        .build()
        .map_err(|e| RunFailure::Io(e.to_string()))?;
    let cfg = &setup.config;
    let interrupt = ctx.interrupt.clone();
    let stop = move || interrupt.requested();
    let algorithm = match &plan.method {
        PlanMethod::ValueIteration => "value_iteration",
        PlanMethod::PolicyIteration => "policy_iteration",
        PlanMethod::Mcts(_) => "mcts",
    };
    let mut summary = serde_json::json!({
        "kind": "agent",
        "agent": setup.name,
        "algorithm": algorithm,
        "env": setup.env_name,
        "env_kind": setup.env.kind(),
        "gamma": plan.solve.gamma,
        "seed": cfg.seed,
        "ammc_version": env!("CARGO_PKG_VERSION"),
        "started_unix": started,
    });
    let mut files = Vec::new();
    let eval = match (&plan.method, &built) {
        (PlanMethod::ValueIteration | PlanMethod::PolicyIteration, BuiltEnv::Tabular(t)) => {
            ctx.events.emit(Event::Line {
                block: block.clone(),
                text: format!(
                    "agent {block}: {algorithm} on `{}` ({}, {} states × {} actions), gamma {}{}",
                    setup.env_name,
                    setup.env.kind(),
                    t.n_states,
                    t.n_actions,
                    plan.solve.gamma,
                    plan.solve
                        .horizon
                        .map_or(String::new(), |h| format!(", horizon {h}"))
                ),
            });
            let start = Instant::now();
            let solved = if plan.method == PlanMethod::ValueIteration {
                super::value_iteration_until(t, &plan.solve, &stop)
            } else {
                super::policy_iteration_until(t, &plan.solve, &stop)
            };
            let plan_seconds = start.elapsed().as_secs_f64();
            let (eval, exact) = evaluate_table(t, &solved, cfg.eval_episodes, cfg.seed);
            emit_eval(ctx, &block, &eval);
            ctx.events.emit(Event::Line {
                block: block.clone(),
                text: format!(
                    "exact (from the model, {} steps): mean return {:.4}, success {:.4}, mean steps {:.2}; {} {} in {:.3}s{}",
                    exact.horizon,
                    exact.mean_return,
                    exact.success_rate,
                    exact.mean_steps,
                    solved.iterations,
                    if plan.method == PlanMethod::ValueIteration { "sweeps" } else { "improvements" },
                    plan_seconds,
                    if solved.converged { "" } else { " (not converged: raise max_iterations)" }
                ),
            });
            if let Some(layout) = &t.layout {
                ctx.events.emit(Event::Policy {
                    block: block.clone(),
                    map: policy_map(layout, &solved.q, t.n_actions),
                });
            }
            dir.write("values.npy", &npy::f64_2d(&solved.v, t.n_states, 1))
                .map_err(io)?;
            dir.write(
                "qtable.npy",
                &npy::f64_2d(&solved.q, t.n_states, t.n_actions),
            )
            .map_err(io)?;
            dir.write(
                "plan.svg",
                plan_svg(&block, algorithm, &solved)
                    .map_err(RunFailure::Io)?
                    .as_bytes(),
            )
            .map_err(io)?;
            files.extend(["values.npy", "qtable.npy", "plan.svg"]);
            summary["states"] = t.n_states.into();
            summary["actions"] = t.n_actions.into();
            summary["iterations"] = solved.iterations.into();
            summary["converged"] = solved.converged.into();
            summary["tolerance"] = plan.solve.tolerance.into();
            summary["horizon"] = serde_json::json!(plan.solve.horizon);
            summary["plan_seconds"] = plan_seconds.into();
            summary["exact"] = serde_json::json!(exact);
            summary["start_value"] = t
                .initial
                .iter()
                .zip(&solved.v)
                .map(|(p, v)| p * v)
                .sum::<f64>()
                .into();
            eval
        }
        (PlanMethod::Mcts(m), _) => {
            let mut m = m.clone();
            let rollout = match (&plan.rollout, &built) {
                (Some(r), BuiltEnv::Tabular(t)) => {
                    let (q, from) = rollout_table(t, r, m.gamma, &ctx.out_dir, setup)?;
                    m.rollout = mcts::Rollout::Greedy(q);
                    summary["rollout"] = from.display().to_string().into();
                    format!("greedy on {}", from.display())
                }
                _ => "random".to_string(),
            };
            ctx.events.emit(Event::Line {
                block: block.clone(),
                text: format!(
                    "agent {block}: mcts on `{}` ({}), {} simulations per step × {} tree(s), depth {}, exploration {}, gamma {}, rollouts {rollout}",
                    setup.env_name,
                    setup.env.kind(),
                    m.simulations,
                    m.trees,
                    m.depth,
                    m.exploration,
                    m.gamma
                ),
            });
            let start = Instant::now();
            let episodes = run_mcts_until(&built, &m, cfg.eval_episodes, cfg.seed, &stop);
            let seconds = start.elapsed().as_secs_f64();
            let eval = summarise(&episodes);
            emit_eval(ctx, &block, &eval);
            let sims: u64 = episodes.iter().map(|e| e.sim_steps).sum();
            let real: u64 = episodes.iter().map(|e| u64::from(e.steps)).sum();
            ctx.events.emit(Event::Line {
                block: block.clone(),
                text: format!(
                    "{real} real steps in {seconds:.2}s: {:.0} simulated steps/s, {:.1} ms per decision",
                    sims as f64 / seconds.max(1e-9),
                    1e3 * seconds / (real.max(1) as f64)
                ),
            });
            dir.write(
                "returns.svg",
                mcts_svg(&block, &episodes)
                    .map_err(RunFailure::Io)?
                    .as_bytes(),
            )
            .map_err(io)?;
            files.push("returns.svg");
            summary["simulations"] = m.simulations.into();
            summary["exploration"] = m.exploration.into();
            summary["depth"] = m.depth.into();
            summary["trees"] = m.trees.into();
            summary["episodes"] = serde_json::json!(episodes
                .iter()
                .map(|e| serde_json::json!({"return": e.ret, "steps": e.steps, "success": e.success}))
                .collect::<Vec<_>>());
            summary["plan_seconds"] = seconds.into();
            summary["simulated_steps"] = sims.into();
            eval
        }
        (_, BuiltEnv::Control(_)) => {
            return Err(RunFailure::Io(format!(
                "agent `{block}`: {algorithm} needs a tabular environment"
            )));
        }
    };
    let interrupted = ctx.interrupt.requested();
    summary["status"] = serde_json::json!(if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    });
    summary["wall_seconds"] = (unix_now() - started).into();
    summary["eval"] = serde_json::json!(eval);
    files.push("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(|e| RunFailure::Io(e.to_string()))?;
    dir.write("summary.json", text.as_bytes()).map_err(io)?;
    let final_dir = dir.commit().map_err(io)?;
    ctx.events.emit(Event::Wrote {
        block: block.clone(),
        dir: final_dir.display().to_string(),
        files: files.into_iter().map(String::from).collect(),
    });
    if interrupted {
        ctx.events.emit(Event::Interrupted {
            block,
            at: crate::run::events::Position {
                epoch: eval.episodes as usize,
                batch: 0,
            },
            resume: "planning runs start over when run again".to_string(),
        });
        return Err(RunFailure::Interrupted);
    }
    Ok(AgentOutcome {
        dir: final_dir,
        eval,
    })
}

/// The table an MCTS agent's rollouts act greedily on, and the file it came from: an agent
/// block's `qtable.npy` in the output directory, or a file (a value table is turned into
/// action values through the model, with the agent's discount).
fn rollout_table(
    t: &TabularEnv,
    r: &super::RolloutTable,
    gamma: f64,
    out_dir: &std::path::Path,
    setup: &AgentSetup,
) -> Result<(Vec<f64>, std::path::PathBuf), RunFailure> {
    use crate::diag::Diag;
    use crate::rl::saved::{SavedTable, read_any_table};
    let path = match &r.source {
        super::TableSource::Agent(name) => {
            let path = out_dir.join(name).join(crate::rl::saved::QTABLE);
            if !path.is_file() {
                return Err(RunFailure::Diags(vec![
                    Diag::new(
                        "amm::agent::rollout_missing",
                        format!(
                            "agent `{name}` has no table in `{}` to roll out with",
                            out_dir.display()
                        ),
                    )
                    .primary(r.span, "its run is needed first")
                    .help(format!(
                        "run it first (`ammc run FILE {name}`, with the same --out), or run the whole file: its blocks run in order"
                    )),
                ]));
            }
            path
        }
        super::TableSource::File(p) => p.clone(),
    };
    let table = read_any_table(
        &path,
        &format!("agent `{}`", setup.name),
        &setup.env_name,
        t.n_states,
        t.n_actions,
        true,
    )
    .map_err(|e| RunFailure::Diags(vec![crate::rl::program::to_diag(&e, r.span, "this table")]))?;
    let q = match table {
        SavedTable::Actions(q) => q,
        SavedTable::States(v) => super::q_of(t, &v, gamma),
    };
    Ok((q, path))
}

fn emit_eval(ctx: &mut RunContext, block: &str, e: &EvalSummary) {
    ctx.events.emit(Event::Evaluation {
        block: block.to_string(),
        episodes: e.episodes,
        mean_return: e.mean_return,
        std_return: e.std_return,
        success_rate: e.success_rate,
        mean_steps: e.mean_steps,
    });
}

/// The sampled greedy evaluation of a solved table (as for learned tables) and its exact
/// value.
pub fn evaluate_table(
    t: &TabularEnv,
    solved: &Solved,
    episodes: u64,
    seed: u64,
) -> (EvalSummary, super::ExactEval) {
    let mut runner = TabularRunner::new(t);
    let mut rng = Rng::seed_from_u64(seed ^ EVAL_SEED_SALT);
    let eval = evaluate(&mut runner, &solved.q, episodes, &mut rng);
    let exact = evaluate_exact(t, &greedy_policy(&solved.q, t.n_actions));
    (eval, exact)
}

/// One MCTS evaluation episode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct McEpisode {
    /// Undiscounted return.
    pub ret: f64,
    /// Real steps.
    pub steps: u32,
    /// A success by the environment's rule.
    pub success: bool,
    /// Simulator steps the searches took.
    pub sim_steps: u64,
}

/// Plays `episodes` episodes choosing every action by MCTS.
pub fn run_mcts(env: &BuiltEnv, m: &mcts::MctsConfig, episodes: u64, seed: u64) -> Vec<McEpisode> {
    run_mcts_until(env, m, episodes, seed, &|| false)
}

/// [`run_mcts`], stopping before the next real step once `stop` is true (an interrupt):
/// the episodes finished so far are returned; the cut one is dropped.
pub fn run_mcts_until(
    env: &BuiltEnv,
    m: &mcts::MctsConfig,
    episodes: u64,
    seed: u64,
    stop: &dyn Fn() -> bool,
) -> Vec<McEpisode> {
    let mut out = Vec::with_capacity(episodes.min(1 << 20) as usize);
    let mut rng = Rng::seed_from_u64(seed ^ EVAL_SEED_SALT);
    // Search streams: one per (episode, step), derived from the seed.
    let stream = |ep: u64, t: u32| {
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
            ^ ep.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(t).wrapping_mul(0xBF58_476D_1CE4_E5B9)
    };
    match env {
        BuiltEnv::Tabular(t) => {
            let table = t.compile();
            let sim = TableSim(&table, t.n_actions);
            let limit = t
                .max_steps
                .unwrap_or(crate::rl::agent::eval::UNLIMITED_EVAL_CAP);
            let by_state = |s: &u32| Some(*s as usize);
            for ep in 0..episodes {
                let mut s = table.reset(&mut rng);
                let mut e = McEpisode {
                    ret: 0.0,
                    steps: 0,
                    success: false,
                    sim_steps: 0,
                };
                loop {
                    if stop() {
                        return out;
                    }
                    let left = limit.saturating_sub(e.steps);
                    let (a, spent) = mcts::act(&sim, &s, m, left, &by_state, stream(ep, e.steps));
                    e.sim_steps += spent;
                    let o = table.step(s, a, &mut rng);
                    e.steps += 1;
                    e.ret += o.reward;
                    s = o.next;
                    let truncated = !o.terminated && e.steps >= limit;
                    if o.terminated || truncated {
                        e.success = match &t.success {
                            Success::Goal(g) => {
                                o.terminated && g.get(o.next as usize).copied().unwrap_or(false)
                            }
                            Success::Terminated => o.terminated,
                            Success::Truncated => truncated && t.max_steps.is_some(),
                        };
                        break;
                    }
                }
                out.push(e);
            }
        }
        BuiltEnv::Control(spec) => {
            let sim = ControlSim(spec.kind.n_actions());
            let none = |_: &ControlEnv| None;
            for ep in 0..episodes {
                let mut env = ControlEnv::new(spec.kind);
                env.reset(&mut rng);
                let mut e = McEpisode {
                    ret: 0.0,
                    steps: 0,
                    success: false,
                    sim_steps: 0,
                };
                loop {
                    if stop() {
                        return out;
                    }
                    // Not capped at the time limit: on these environments every step
                    // alive is worth the same, so a cap would make falling on the last
                    // step look as good as outlasting the limit.
                    let (a, spent) = mcts::act(&sim, &env, m, u32::MAX, &none, stream(ep, e.steps));
                    e.sim_steps += spent;
                    let st = env.step(a);
                    e.steps += 1;
                    e.ret += st.reward;
                    let truncated = !st.terminated && e.steps >= spec.max_steps;
                    if st.terminated || truncated {
                        e.success = match spec.kind {
                            ControlKind::CartPole => truncated,
                            _ => st.terminated,
                        };
                        break;
                    }
                }
                out.push(e);
            }
        }
    }
    out
}

fn summarise(episodes: &[McEpisode]) -> EvalSummary {
    let n = episodes.len().max(1) as f64;
    let mean = episodes.iter().map(|e| e.ret).sum::<f64>() / n;
    let var = episodes.iter().map(|e| (e.ret - mean).powi(2)).sum::<f64>() / n;
    EvalSummary {
        episodes: episodes.len() as u64,
        mean_return: mean,
        std_return: var.sqrt(),
        success_rate: episodes.iter().filter(|e| e.success).count() as f64 / n,
        mean_steps: episodes.iter().map(|e| f64::from(e.steps)).sum::<f64>() / n,
    }
}

/// `plan.svg`: how far the table moved per sweep (log scale) and the start state's value.
fn plan_svg(name: &str, algorithm: &str, solved: &Solved) -> Result<String, String> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let residuals: Vec<(f64, f64)> = solved
        .residuals
        .iter()
        .enumerate()
        .filter(|(_, r)| **r > 0.0)
        .map(|(i, r)| ((i + 1) as f64, r.log10()))
        .collect();
    svg(
        &format!("agent {name} ({algorithm})"),
        &[Panel {
            title: if algorithm == "value_iteration" {
                "largest value change per sweep".into()
            } else {
                "largest value change per evaluation sweep".into()
            },
            x_label: "sweep".into(),
            y_label: "log10 max |ΔV|".into(),
            series: vec![Series {
                name: "residual".into(),
                points: residuals,
                mark: Mark::Line,
            }],
            marker: None,
        }],
    )
}

/// `returns.svg` of an MCTS run: the return of each evaluation episode.
fn mcts_svg(name: &str, episodes: &[McEpisode]) -> Result<String, String> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let points: Vec<(f64, f64)> = episodes
        .iter()
        .enumerate()
        .map(|(i, e)| ((i + 1) as f64, e.ret))
        .collect();
    let mut mean = Vec::with_capacity(points.len());
    let mut sum = 0.0;
    for (i, (_, r)) in points.iter().enumerate() {
        sum += r;
        mean.push(((i + 1) as f64, sum / (i + 1) as f64));
    }
    svg(
        &format!("agent {name} (mcts)"),
        &[Panel {
            title: "return per evaluation episode".into(),
            x_label: "episode".into(),
            y_label: "return".into(),
            series: vec![
                Series {
                    name: "return".into(),
                    points,
                    mark: Mark::Dots,
                },
                Series {
                    name: "running mean".into(),
                    points: mean,
                    mark: Mark::Line,
                },
            ],
            marker: None,
        }],
    )
}
