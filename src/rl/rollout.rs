//! A trajectory of a classic-control environment from given actions, as JSON: what
//! `ammc inspect FILE ENV --rollout ACTIONS.json [--state S0.json] --seed S` prints, so
//! `tests/python/check_rollouts.py` can replay the same start and actions through
//! Gymnasium. `truncated` follows Gymnasium's `TimeLimit`: true on the step that reaches
//! the limit, whether or not that step also terminated.

use std::path::Path;

use serde::Serialize;

use crate::diag::Diag;
use crate::rl::env::{BuiltEnv, ControlEnv, EnvDecl};
use crate::rl::rng::Rng;
use crate::source::Span;

/// Largest actions or state file read (a JSON list of numbers).
const MAX_FILE: u64 = 64 << 20;

/// Why a rollout cannot be made.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutError {
    code: &'static str,
    message: String,
    help: String,
}

impl RolloutError {
    fn new(code: &'static str, message: String, help: impl Into<String>) -> RolloutError {
        RolloutError {
            code,
            message,
            help: help.into(),
        }
    }

    /// The error as a diagnostic at the env block `span`.
    pub fn to_diag(&self, span: Span) -> Diag {
        Diag::new(self.code, self.message.clone())
            .primary(span, "rolling out this environment")
            .help(self.help.clone())
    }
}

/// One step of the trajectory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RolloutStep {
    /// The action taken.
    pub action: u32,
    /// The observation after it.
    pub observation: Vec<f64>,
    /// Reward.
    pub reward: f64,
    /// Reached a terminal state.
    pub terminated: bool,
    /// Reached the time limit.
    pub truncated: bool,
}

/// A whole trajectory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rollout {
    /// The builtin's name.
    pub env: &'static str,
    /// The time limit.
    pub max_steps: u32,
    /// The physical state the episode started from.
    pub initial_state: Vec<f64>,
    /// The observation of that state.
    pub initial_observation: Vec<f64>,
    /// Every step, until the actions run out or the episode ends.
    pub steps: Vec<RolloutStep>,
}

fn read_numbers(path: &Path, what: &str) -> Result<Vec<serde_json::Value>, RolloutError> {
    let bytes = crate::input::read_bounded(path, MAX_FILE).map_err(|e| {
        RolloutError::new(
            "amm::rl::rollout_file",
            format!("the {what} file {} {e}", path.display()),
            "give the path of a JSON file",
        )
    })?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(_) => Err(RolloutError::new(
            "amm::rl::rollout_file",
            format!("the {what} file {} is not a JSON list", path.display()),
            "write a JSON list, e.g. [0, 1, 1, 0]",
        )),
        Err(e) => Err(RolloutError::new(
            "amm::rl::rollout_file",
            format!("the {what} file {} is not JSON: {e}", path.display()),
            "write a JSON list, e.g. [0, 1, 1, 0]",
        )),
    }
}

/// Runs `actions` (a JSON list of action indices) from `state` (a JSON list, the physical
/// state) or from a reset drawn with `seed`; returns the trajectory as pretty JSON.
pub fn run(
    env: &EnvDecl,
    actions: &Path,
    state: Option<&Path>,
    seed: u64,
) -> Result<String, RolloutError> {
    let spec = match env.build() {
        Ok(BuiltEnv::Control(c)) => c,
        Ok(BuiltEnv::Tabular(_)) => {
            return Err(RolloutError::new(
                "amm::rl::rollout_discrete",
                format!(
                    "`{}` has discrete states; --rollout is for continuous environments",
                    env.kind()
                ),
                "compare a discrete environment with `--transitions` (its whole table) instead",
            ));
        }
        Err(e) => {
            return Err(RolloutError::new(
                "amm::rl::env",
                e.to_string(),
                "fix the env block",
            ));
        }
    };
    let n_actions = spec.kind.n_actions();
    let actions: Vec<u32> = read_numbers(actions, "actions")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .filter(|&a| a < n_actions as u64)
                .map(|a| a as u32)
                .ok_or_else(|| {
                    RolloutError::new(
                        "amm::rl::rollout_action",
                        format!("action {i} is `{v}`, not an action of `{}`", env.kind()),
                        format!("actions are whole numbers from 0 to {}", n_actions - 1),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let mut sim = ControlEnv::new(spec.kind);
    match state {
        Some(path) => {
            let values: Vec<f64> = read_numbers(path, "state")?
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect();
            sim.set_state(&values).map_err(|e| {
                RolloutError::new(
                    "amm::rl::state",
                    format!("{}: {e}", path.display()),
                    format!(
                        "give {} finite numbers for `{}`",
                        spec.kind.state_dim(),
                        env.kind()
                    ),
                )
            })?;
        }
        None => sim.reset(&mut Rng::seed_from_u64(seed)),
    }
    let dim = spec.kind.obs_dim();
    let mut obs = vec![0.0; dim];
    sim.observe(&mut obs);
    let mut out = Rollout {
        env: env.kind(),
        max_steps: spec.max_steps,
        initial_state: sim.state().to_vec(),
        initial_observation: obs.clone(),
        steps: Vec::new(),
    };
    for (t, &a) in actions.iter().enumerate() {
        let st = sim.step(a);
        sim.observe(&mut obs);
        let truncated = t as u64 + 1 >= u64::from(spec.max_steps);
        out.steps.push(RolloutStep {
            action: a,
            observation: obs.clone(),
            reward: st.reward,
            terminated: st.terminated,
            truncated,
        });
        if st.terminated || truncated {
            break;
        }
    }
    serde_json::to_string_pretty(&out).map_err(|e| {
        RolloutError::new(
            "amm::rl::rollout_file",
            format!("cannot write the trajectory: {e}"),
            "a non-finite state cannot be written as JSON; start from finite values",
        )
    })
}
