//! Tabular agents (q_learning, sarsa, expected_sarsa, double_q): training, greedy evaluation
//! and rollouts.

pub mod config;
pub mod eval;
mod learner;
pub mod policy;
pub mod progress;
pub mod result;
pub mod schedule;

pub use config::{AgentConfig, Algorithm, Budget};
pub use eval::{EvalSummary, Rollout};
pub use progress::{Progress, WindowStats};
pub use result::TrainResult;
pub use schedule::EpsilonSchedule;

use ndarray::Array2;

use crate::rl::env::{
    BinSpec, CARTPOLE_DEFAULT_BINS, DiscretisedCartPole, EnvConfig, EnvModel, GridLayout, StepEnv,
    TabularEnv,
};
use crate::rl::error::RlError;
use crate::rl::render::render_policy;
use crate::rl::rng::{EVAL_STREAM, RlRng};
use learner::{DOUBLE_Q, EXPECTED_SARSA, Q_LEARNING, SARSA, TrainLog, train_loop};

/// An environment prepared for a tabular agent.
enum Prepared {
    Tabular(TabularEnv, Option<GridLayout>),
    CartPole(DiscretisedCartPole),
}

/// Builds `env` and applies the agent's discretisation.
fn prepare(env: &EnvConfig, bins: Option<&[BinSpec]>) -> Result<Prepared, RlError> {
    match env.build()? {
        EnvModel::Tabular(model) => {
            if bins.is_some() {
                return Err(RlError::BinsOnDiscrete {
                    env: env.kind().to_string(),
                });
            }
            let stepper = TabularEnv::new(&model);
            Ok(Prepared::Tabular(stepper, model.layout))
        }
        EnvModel::CartPole(c) => Ok(Prepared::CartPole(DiscretisedCartPole::new(
            bins.unwrap_or(&CARTPOLE_DEFAULT_BINS),
            c.max_steps,
        )?)),
    }
}

/// Trains an agent on an environment, then evaluates the greedy policy.
///
/// `progress` is called after every `agent.window` episodes and once at the end (see
/// [`Progress`]). Same configuration → bit-identical result.
pub fn train(
    env: &EnvConfig,
    agent: &AgentConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainResult, RlError> {
    agent.validate()?;
    match prepare(env, agent.bins.as_deref())? {
        Prepared::Tabular(mut e, layout) => {
            let mut result = run(&mut e, agent, progress);
            if let Some(layout) = layout {
                result.policy_map = Some(render_policy(&layout, &result.q)?);
            }
            Ok(result)
        }
        Prepared::CartPole(mut e) => Ok(run(&mut e, agent, progress)),
    }
}

/// Training, conversion to the result struct and evaluation for one environment type.
fn run<E: StepEnv>(
    env: &mut E,
    agent: &AgentConfig,
    progress: &mut dyn FnMut(Progress),
) -> TrainResult {
    let log: TrainLog = match agent.algorithm {
        Algorithm::QLearning => train_loop::<E, Q_LEARNING>(env, agent, progress),
        Algorithm::Sarsa => train_loop::<E, SARSA>(env, agent, progress),
        Algorithm::ExpectedSarsa => train_loop::<E, EXPECTED_SARSA>(env, agent, progress),
        Algorithm::DoubleQ => train_loop::<E, DOUBLE_Q>(env, agent, progress),
    };
    let eval = (agent.eval_episodes > 0).then(|| {
        let mut rng = RlRng::new(agent.seed, EVAL_STREAM);
        eval::evaluate(
            env,
            &log.q,
            agent.eval_episodes,
            &mut rng,
            agent.eval_step_limit,
        )
    });
    let (ns, na) = (env.num_states(), env.num_actions());
    // The log's table has exactly ns * na entries by construction.
    let q = Array2::from_shape_vec((ns, na), log.q).unwrap_or_else(|_| Array2::zeros((ns, na)));
    TrainResult {
        episode_returns: log.returns,
        episode_lengths: log.lengths,
        episode_success: log.success,
        total_steps: log.total_steps,
        q,
        eval,
        policy_map: None,
    }
}

/// Checks that `q` fits `env` and returns it as a row-major slice-able vector.
fn q_for<E: StepEnv>(env: &E, q: &Array2<f64>) -> Result<Vec<f64>, RlError> {
    let (rows, cols) = q.dim();
    if rows != env.num_states() || cols != env.num_actions() {
        return Err(RlError::ShapeMismatch {
            rows,
            cols,
            states: env.num_states(),
            actions: env.num_actions(),
        });
    }
    Ok(q.iter().copied().collect())
}

/// Greedy evaluation of an existing Q-table over `agent.eval_episodes` episodes (at least 1),
/// using `agent.seed` (evaluation stream), `agent.bins` and `agent.eval_step_limit`. Gives the
/// same numbers as the `eval` of the [`train`] run that produced `q`.
pub fn evaluate(
    env: &EnvConfig,
    agent: &AgentConfig,
    q: &Array2<f64>,
) -> Result<EvalSummary, RlError> {
    agent.validate()?;
    let episodes = agent.eval_episodes.max(1);
    let mut rng = RlRng::new(agent.seed, EVAL_STREAM);
    let limit = agent.eval_step_limit;
    Ok(match prepare(env, agent.bins.as_deref())? {
        Prepared::Tabular(mut e, _) => {
            let q = q_for(&e, q)?;
            eval::evaluate(&mut e, &q, episodes, &mut rng, limit)
        }
        Prepared::CartPole(mut e) => {
            let q = q_for(&e, q)?;
            eval::evaluate(&mut e, &q, episodes, &mut rng, limit)
        }
    })
}

/// One greedy episode of `q` (the first evaluation episode), step by step.
pub fn greedy_rollout(
    env: &EnvConfig,
    agent: &AgentConfig,
    q: &Array2<f64>,
) -> Result<Rollout, RlError> {
    agent.validate()?;
    let mut rng = RlRng::new(agent.seed, EVAL_STREAM);
    let limit = agent.eval_step_limit;
    Ok(match prepare(env, agent.bins.as_deref())? {
        Prepared::Tabular(mut e, _) => {
            let q = q_for(&e, q)?;
            eval::rollout(&mut e, &q, &mut rng, limit)
        }
        Prepared::CartPole(mut e) => {
            let q = q_for(&e, q)?;
            eval::rollout(&mut e, &q, &mut rng, limit)
        }
    })
}
