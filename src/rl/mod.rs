//! Reinforcement learning: Gymnasium-compatible environments ([`env`](mod@env)), tabular agents
//! ([`agent`]), and the glue from an `.amm` program's `env` and `agent` blocks to runs
//! ([`program`]).
//!
//! Determinism: a run draws every random number (start states, transitions, exploration,
//! tie-breaking) from one [`rng::Rng`] seeded with the agent's `seed`, and the greedy
//! evaluation from a second one seeded with `seed ^ EVAL_SEED_SALT`; the same seed gives
//! bit-identical tables, returns and files.

pub mod acting;
pub mod agent;
pub mod block;
pub mod curve;
pub mod dqn;
pub mod env;
pub mod episodic;
pub mod error;
pub mod npy;
pub mod plan;
pub mod program;
pub mod render;
pub mod rng;
pub mod rollout;
pub mod saved;

use std::time::Instant;

use agent::{AgentConfig, EpisodeRecord, EvalEpisode, EvalSummary, Learned, evaluate_episodes};
use env::{BuiltEnv, EnvDecl};
use episodic::{ControlRunner, Episodic, TabularRunner, default_bins};
pub use error::RlError;
use rng::Rng;

/// Mixed into the seed of the evaluation generator, so evaluation does not replay the
/// training stream.
pub const EVAL_SEED_SALT: u64 = 0x005E_ED0F_E7A1;

/// A finished run: the learned table, the training curve and the greedy evaluation.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The table and every training episode.
    pub learned: Learned,
    /// Greedy evaluation.
    pub eval: EvalSummary,
    /// Training time in seconds (not part of any deterministic output).
    pub train_seconds: f64,
}

/// Bins used for `env` (continuous environments only): the agent's, or the default.
pub fn bins_for(env: &EnvDecl, cfg: &AgentConfig) -> Result<Option<Vec<u32>>, RlError> {
    match (env.spec.control(), &cfg.bins) {
        (Some(_), Some(b)) => Ok(Some(b.clone())),
        (Some(kind), None) => Ok(Some(default_bins(kind).to_vec())),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(RlError::Bins {
            message: format!(
                "`bins` is for continuous observations, but `{}` has discrete states",
                env.kind()
            ),
            help: "remove `bins`".to_string(),
        }),
    }
}

/// Checks an agent against its environment without running it.
pub fn validate(env: &EnvDecl, cfg: &AgentConfig) -> Result<(), RlError> {
    cfg.validate()?;
    match env.build()? {
        BuiltEnv::Tabular(_) => {
            bins_for(env, cfg)?;
        }
        BuiltEnv::Control(spec) => {
            ControlRunner::new(spec, &bins_for(env, cfg)?.unwrap_or_default())?;
        }
    }
    Ok(())
}

/// Trains `cfg` on `env`, then evaluates the greedy policy. `progress` sees every
/// finished training episode.
pub fn run(
    env: &EnvDecl,
    cfg: &AgentConfig,
    progress: &mut dyn FnMut(&EpisodeRecord),
) -> Result<RunResult, RlError> {
    run_until(env, cfg, progress, &|| false)
}

/// [`run`] that asks `stop` before every training episode whether to end training there;
/// the greedy policy learned so far is evaluated.
pub fn run_until(
    env: &EnvDecl,
    cfg: &AgentConfig,
    progress: &mut dyn FnMut(&EpisodeRecord),
    stop: &dyn Fn() -> bool,
) -> Result<RunResult, RlError> {
    cfg.validate()?;
    let bins = bins_for(env, cfg)?;
    match env.build()? {
        BuiltEnv::Tabular(t) => run_on(&mut TabularRunner::new(&t), env, cfg, progress, stop),
        BuiltEnv::Control(spec) => {
            let mut runner = ControlRunner::new(spec, &bins.unwrap_or_default())?;
            run_on(&mut runner, env, cfg, progress, stop)
        }
    }
}

fn run_on<E: Episodic>(
    runner: &mut E,
    env: &EnvDecl,
    cfg: &AgentConfig,
    progress: &mut dyn FnMut(&EpisodeRecord),
    stop: &dyn Fn() -> bool,
) -> Result<RunResult, RlError> {
    let init = match &cfg.init_from {
        Some(path) => Some(saved::read_table(
            path,
            "this agent",
            env.kind(),
            runner.n_states(),
            runner.n_actions(),
        )?),
        None => None,
    };
    let mut rng = Rng::seed_from_u64(cfg.seed);
    let start = Instant::now();
    let learned = agent::learn_from(runner, cfg, init.as_deref(), &mut rng, progress, stop);
    let train_seconds = start.elapsed().as_secs_f64();
    let eval = EvalSummary::of(&greedy_episodes(
        runner,
        &learned.q,
        cfg.eval_episodes,
        cfg.seed,
    ));
    Ok(RunResult {
        learned,
        eval,
        train_seconds,
    })
}

/// The run's greedy evaluation: `episodes` episodes with the generator of `seed`.
fn greedy_episodes<E: Episodic>(
    runner: &mut E,
    q: &[f64],
    episodes: u64,
    seed: u64,
) -> Vec<EvalEpisode> {
    let mut eval_rng = Rng::seed_from_u64(seed ^ EVAL_SEED_SALT);
    evaluate_episodes(runner, q, episodes, &mut eval_rng)
}

/// Evaluates the saved table `path` of agent `agent` greedily on `env`, exactly as a run
/// with seed `seed` evaluates its table at the end.
pub fn evaluate_table(
    env: &EnvDecl,
    cfg: &AgentConfig,
    agent: &str,
    path: &std::path::Path,
    episodes: u64,
    seed: u64,
) -> Result<Vec<EvalEpisode>, RlError> {
    let bins = bins_for(env, cfg)?;
    match env.build()? {
        BuiltEnv::Tabular(t) => {
            let mut runner = TabularRunner::new(&t);
            let q = saved::read_table(
                path,
                &format!("agent `{agent}`"),
                env.kind(),
                runner.n_states(),
                runner.n_actions(),
            )?;
            Ok(greedy_episodes(&mut runner, &q, episodes, seed))
        }
        BuiltEnv::Control(spec) => {
            let mut runner = ControlRunner::new(spec, &bins.unwrap_or_default())?;
            let q = saved::read_table(
                path,
                &format!("agent `{agent}`"),
                env.kind(),
                runner.n_states(),
                runner.n_actions(),
            )?;
            Ok(greedy_episodes(&mut runner, &q, episodes, seed))
        }
    }
}
