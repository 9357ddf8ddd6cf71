//! Agents you can keep: a run's `qtable.npy` (tabular agents) or `qnetwork.safetensors`
//! (`dqn`) read back, checked against the agent (environment, states × actions, tensor
//! names and shapes), to continue training from (`init_from`) or to evaluate greedily
//! (`ammc eval FILE AGENT`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::rl::error::RlError;

/// The table file of a tabular agent's run.
pub const QTABLE: &str = "qtable.npy";
/// The network file of a `dqn` agent's run.
pub const QNETWORK: &str = "qnetwork.safetensors";
/// The safetensors metadata key holding the environment kind a network was trained on.
pub const ENV_KEY: &str = "env";

fn read(path: &Path) -> Result<Vec<u8>, RlError> {
    crate::run::dir::read_run_file(path).map_err(|e| RlError::Saved {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn dims(shape: &[usize]) -> String {
    let d: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", d.join(", "))
}

/// Reads a Q-table and checks it is `[n_states, n_actions]` for agent `agent` on `env`.
pub fn read_table(
    path: &Path,
    agent: &str,
    env: &str,
    n_states: usize,
    n_actions: usize,
) -> Result<Vec<f64>, RlError> {
    match read_any_table(path, agent, env, n_states, n_actions, false)? {
        SavedTable::Actions(q) | SavedTable::States(q) => Ok(q),
    }
}

/// A saved table to act greedily on.
#[derive(Clone, Debug, PartialEq)]
pub enum SavedTable {
    /// Action values `[n_states * n_actions]` (a `qtable.npy`).
    Actions(Vec<f64>),
    /// State values `[n_states]` (a planner's `values.npy`), acted on through the model.
    States(Vec<f64>),
}

/// Reads a table and checks its shape: `[n_states, n_actions]`, or, when `values` is
/// allowed, `[n_states, 1]` (a value table). Every entry must be finite.
pub fn read_any_table(
    path: &Path,
    agent: &str,
    env: &str,
    n_states: usize,
    n_actions: usize,
    values: bool,
) -> Result<SavedTable, RlError> {
    let (q, shape) =
        crate::rl::npy::read_f64_2d(&read(path)?).map_err(|message| RlError::Saved {
            path: path.display().to_string(),
            message,
        })?;
    let is_values = values && shape == [n_states, 1] && n_actions != 1;
    if shape != [n_states, n_actions] && !is_values {
        return Err(RlError::SavedShape {
            path: path.display().to_string(),
            agent: agent.to_string(),
            what: format!(
                "the table is {} but `{env}` needs {} (states × actions){}",
                dims(&shape),
                dims(&[n_states, n_actions]),
                if values {
                    format!(" or {} (state values)", dims(&[n_states, 1]))
                } else {
                    String::new()
                }
            ),
        });
    }
    let cols = shape[1].max(1);
    if let Some(i) = q.iter().position(|v| !v.is_finite()) {
        return Err(RlError::Saved {
            path: path.display().to_string(),
            message: format!("entry [{}, {}] is {}", i / cols, i % cols, q[i]),
        });
    }
    Ok(if is_values {
        SavedTable::States(q)
    } else {
        SavedTable::Actions(q)
    })
}

/// A tensor the network needs: its name and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Name (`mlp.dense1.weight`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Reads a Q-network and returns its values in the order of `expected`, after checking
/// the environment it was trained on and every tensor's name and shape.
pub fn read_network(
    path: &Path,
    agent: &str,
    env: &str,
    network: &str,
    expected: &[Expected],
) -> Result<Vec<Vec<f32>>, RlError> {
    let bytes = read(path)?;
    let corrupt = |message: String| RlError::Saved {
        path: path.display().to_string(),
        message,
    };
    let tensors =
        crate::data::safetensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let meta: BTreeMap<String, String> =
        crate::data::safetensors::metadata(&bytes).map_err(corrupt)?;
    let shape_err = |what: String| RlError::SavedShape {
        path: path.display().to_string(),
        agent: agent.to_string(),
        what,
    };
    if let Some(saved) = meta.get(ENV_KEY)
        && saved != env
    {
        return Err(shape_err(format!(
            "it was trained on `{saved}`, the agent runs on `{env}`"
        )));
    }
    let mut out = Vec::with_capacity(expected.len());
    for e in expected {
        let Some(t) = tensors.iter().find(|t| t.name == e.name) else {
            let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
            return Err(shape_err(format!(
                "the file has no tensor `{}` (network `{network}` needs {}); it has {}",
                e.name,
                dims(&e.shape),
                names.join(", ")
            )));
        };
        if t.shape != e.shape {
            return Err(shape_err(format!(
                "tensor `{}` is {} in the file but network `{network}` needs {}",
                e.name,
                dims(&t.shape),
                dims(&e.shape)
            )));
        }
        out.push(t.data.clone());
    }
    if let Some(extra) = tensors
        .iter()
        .find(|t| !expected.iter().any(|e| e.name == t.name))
    {
        return Err(shape_err(format!(
            "the file has tensor `{}` {} that network `{network}` does not",
            extra.name,
            dims(&extra.shape)
        )));
    }
    Ok(out)
}

/// The metadata written with a Q-network.
pub fn network_metadata(agent: &str, env: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("agent".to_string(), agent.to_string()),
        (ENV_KEY.to_string(), env.to_string()),
    ])
}

/// What `ammc eval FILE AGENT` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AgentEval {
    /// The agent block.
    pub agent: String,
    /// `q_learning`, …, `dqn`.
    pub algorithm: String,
    /// The env block.
    pub env: String,
    /// Its kind (`cartpole`).
    pub env_kind: String,
    /// The file evaluated.
    pub weights: String,
    /// Seed of the evaluation (the run's evaluation used the agent's `seed`).
    pub seed: u64,
    /// Mean ± sd of the return, success rate, mean length.
    pub eval: crate::rl::agent::EvalSummary,
    /// Shortest episode.
    pub min_steps: u32,
    /// Longest episode.
    pub max_steps: u32,
    /// Every episode, in order.
    pub episodes: Vec<crate::rl::agent::EvalEpisode>,
}

/// The file a run of `agent` saved under `out` (or in the directory `weights`, or the
/// file `weights`).
pub fn weights_path(
    weights: Option<&Path>,
    out: &Path,
    agent: &str,
    dqn: bool,
) -> std::path::PathBuf {
    let file = if dqn { QNETWORK } else { QTABLE };
    match weights {
        Some(w) if w.is_dir() => w.join(file),
        Some(w) => w.to_path_buf(),
        None => out.join(agent).join(file),
    }
}

/// Evaluates agent block `id`'s saved table or network `weights` greedily for `episodes`
/// episodes (default: the agent's `eval_episodes`) with the evaluation generator of
/// `seed` (default: the agent's), so the defaults reproduce the run's own evaluation.
pub fn evaluate_agent(
    program: &crate::resolve::Program,
    sources: &crate::source::SourceMap,
    id: crate::resolve::DefId,
    weights: &Path,
    episodes: Option<u64>,
    seed: Option<u64>,
    backend: crate::runtime::backend::BackendKind,
) -> Result<AgentEval, Vec<crate::diag::Diag>> {
    let setup = crate::rl::program::agent(program, id).map_err(|d| vec![d])?;
    let cfg = &setup.config;
    let (episodes, seed) = (
        episodes.unwrap_or(cfg.eval_episodes),
        seed.unwrap_or(cfg.seed),
    );
    let def = program.def(id);
    let at = def.item.name().map_or(def.item.span, |n| n.span);
    let fail = |e: &RlError| vec![crate::rl::program::to_diag(e, at, "evaluating this agent")];
    if let Some(plan) = &setup.plan
        && matches!(plan.method, crate::rl::plan::PlanMethod::Mcts(_))
    {
        return Err(vec![
            crate::diag::Diag::new(
                "amm::agent::no_table",
                format!(
                    "agent `{}` is an mcts agent: it searches anew at every step and keeps no table to evaluate",
                    setup.name
                ),
            )
            .primary(at, "nothing saved to act on")
            .help(format!(
                "`ammc run FILE {}` plans and evaluates it again; its run's summary.json holds every episode",
                setup.name
            )),
        ]);
    }
    let runs = match &setup.dqn {
        Some(dqn) => {
            let nets = crate::check::q_networks(program, sources)?;
            let Some(net) = nets.iter().find(|n| n.train == setup.name) else {
                return Err(vec![
                    crate::diag::Diag::new(
                        "amm::agent::network",
                        format!("agent `{}` has no checked Q-network", setup.name),
                    )
                    .primary(at, "here"),
                ]);
            };
            crate::rl::dqn::evaluate_saved(
                &setup.env,
                dqn,
                net,
                backend,
                &setup.name,
                weights,
                episodes,
                seed,
            )
        }
        None => crate::rl::evaluate_table(&setup.env, cfg, &setup.name, weights, episodes, seed),
    }
    .map_err(|e| fail(&e))?;
    Ok(AgentEval {
        agent: setup.name.clone(),
        algorithm: match (&setup.dqn, &setup.plan) {
            (Some(_), _) => "dqn".to_string(),
            (None, Some(plan)) => match plan.method {
                crate::rl::plan::PlanMethod::ValueIteration => "value_iteration",
                crate::rl::plan::PlanMethod::PolicyIteration => "policy_iteration",
                crate::rl::plan::PlanMethod::Mcts(_) => "mcts",
            }
            .to_string(),
            (None, None) => cfg.algorithm.name().to_string(),
        },
        env: setup.env_name.clone(),
        env_kind: setup.env.kind().to_string(),
        weights: weights.display().to_string(),
        seed,
        eval: crate::rl::agent::EvalSummary::of(&runs),
        min_steps: runs.iter().map(|e| e.steps).min().unwrap_or(0),
        max_steps: runs.iter().map(|e| e.steps).max().unwrap_or(0),
        episodes: runs,
    })
}

/// The report as text.
pub fn render(r: &AgentEval) -> String {
    let e = &r.eval;
    format!(
        "agent {} ({}) on {} ({}), {}\ngreedy evaluation over {} episodes (seed {}):\n  return   {:.3} ± {:.3}\n  success  {:.1}%\n  length   mean {:.1}, min {}, max {}\n",
        r.agent,
        r.algorithm,
        r.env,
        r.env_kind,
        r.weights,
        e.episodes,
        r.seed,
        e.mean_return,
        e.std_return,
        e.success_rate * 100.0,
        e.mean_steps,
        r.min_steps,
        r.max_steps
    )
}
