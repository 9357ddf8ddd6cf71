//! Deep Q-learning (Mnih et al. 2015) with Stable-Baselines3's loop: a `dqn` agent's
//! Q-network is a model of the language, lowered to a [`Plan`] once and executed by the
//! training backend (the JIT by default) — the batched forward/backward of learning run on
//! the compiled plan (the JIT compiles each row count once), and so does the one-row forward
//! of acting unless the network is a dense/ReLU chain (see below). Replay buffer, a target network updated every `target_update` environment steps
//! (copied, or Polyak-averaged with `tau` < 1), optional Double DQN targets, Huber or MSE
//! TD loss, gradient-norm clipping, `learning_starts` random steps, `train_freq` and
//! `gradient_steps`, and the agent's epsilon schedule.
//!
//! The TD loss goes through the plan's MSE kernel: the target given for the taken action
//! is q − A·δ (MSE) or q − (A/2)·clip(δ, −1, 1) (Huber), δ = q − y, and the other
//! actions' targets equal their outputs. The MSE kernel's gradient 2(q − t)/(B·A) is then
//! exactly SB3's: 2δ/B for `F.mse_loss`, clip(δ)/B for `F.smooth_l1_loss`.
//!
//! Acting: a network that is a chain of dense layers with ReLU acts through
//! [`crate::rl::acting::DenseChain`] (≈ 10× faster than a one-row plan forward); any other
//! network acts through the plan.
//!
//! Determinism: every random draw (resets, exploration, replay samples) comes from one
//! [`Rng`] seeded with the agent's seed; the JIT's results do not depend on the thread
//! count, so a seed gives bit-identical weights and returns.

use std::time::Instant;

use crate::check::ModelSummary;
use crate::data::safetensors::Tensor;
use crate::lower::{BufferId, Plan};
use crate::rl::agent::{AgentConfig, Budget, EpisodeRecord, EvalEpisode, EvalSummary, Learned};
use crate::rl::env::{BuiltEnv, ControlEnv, ControlKind, ControlSpec, EnvDecl};
use crate::rl::error::RlError;
use crate::rl::rng::Rng;
use crate::rl::saved::Expected;
use crate::runtime::backend::{Backend, BackendKind};

/// The TD loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdLoss {
    /// Smooth L1 (δ = 1), SB3's default.
    Huber,
    /// Squared error.
    Mse,
}

/// The settings of a `dqn` agent beyond those it shares with tabular agents.
#[derive(Clone, Debug, PartialEq)]
pub struct DqnConfig {
    /// The `network` model's name.
    pub network: String,
    /// TD loss.
    pub loss: TdLoss,
    /// Mini-batch size.
    pub batch: usize,
    /// Replay capacity (transitions).
    pub buffer: usize,
    /// Steps of uniformly random actions before learning starts.
    pub learning_starts: u64,
    /// Environment steps between learning phases.
    pub train_freq: u64,
    /// Gradient steps per learning phase.
    pub gradient_steps: u64,
    /// Environment steps between target-network updates.
    pub target_update: u64,
    /// Target update weight: 1 copies, less averages (Polyak).
    pub tau: f64,
    /// Double DQN: the online network picks the next action, the target network values it.
    pub double: bool,
    /// Environment steps between greedy evaluations of the network being trained (0:
    /// none); the best one is kept, saved and evaluated at the end (SB3's EvalCallback).
    pub checkpoint_every: u64,
    /// Greedy episodes of each of those evaluations.
    pub checkpoint_episodes: u64,
}

/// The network a run kept: the one whose greedy evaluation during training was best.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Checkpoint {
    /// Environment steps trained when it was evaluated.
    pub step: u64,
    /// Its mean greedy return over `checkpoint_episodes` episodes.
    pub mean_return: f64,
    /// Evaluations made during the run.
    pub evaluations: u64,
}

/// Mixed into the seed of the checkpoint evaluations' generator: every checkpoint is
/// evaluated from the same start states, and neither training nor the final evaluation
/// sees these draws.
pub const CHECKPOINT_SEED_SALT: u64 = 0x00C4_EC4B_0157;

/// What a DQN run produced.
#[derive(Debug)]
pub struct DqnResult {
    /// Every training episode (no Q-table: `q` is empty).
    pub learned: Learned,
    /// Greedy evaluation.
    pub eval: EvalSummary,
    /// Training seconds (not part of any deterministic output).
    pub train_seconds: f64,
    /// Gradient steps taken.
    pub gradient_steps: u64,
    /// Seconds spent in gradient steps (sampling, target forward, forward/backward/update).
    pub learning_seconds: f64,
    /// Network forwards made to choose training actions.
    pub greedy_actions: u64,
    /// Seconds spent in them.
    pub acting_seconds: f64,
    /// The online network's tensors (safetensors order): the best checkpoint's when
    /// `checkpoint_every` is set.
    pub tensors: Vec<Tensor>,
    /// The checkpoint kept, when `checkpoint_every` is set.
    pub checkpoint: Option<Checkpoint>,
}

fn backend_err(e: impl std::fmt::Display) -> RlError {
    RlError::Backend {
        message: e.to_string(),
    }
}

/// The replay buffer: a ring of the last `capacity` transitions.
struct Replay {
    obs_dim: usize,
    capacity: usize,
    len: usize,
    next: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<u32>,
    rewards: Vec<f32>,
    dones: Vec<bool>,
}

impl Replay {
    fn new(capacity: usize, obs_dim: usize) -> Replay {
        Replay {
            obs_dim,
            capacity,
            len: 0,
            next: 0,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            actions: vec![0; capacity],
            rewards: vec![0.0; capacity],
            dones: vec![false; capacity],
        }
    }

    fn push(&mut self, obs: &[f32], action: u32, reward: f32, next_obs: &[f32], done: bool) {
        let (i, d) = (self.next, self.obs_dim);
        self.obs[i * d..(i + 1) * d].copy_from_slice(obs);
        self.next_obs[i * d..(i + 1) * d].copy_from_slice(next_obs);
        self.actions[i] = action;
        self.rewards[i] = reward;
        self.dones[i] = done;
        self.next = (i + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }
}

/// The online and target networks on one plan.
struct Networks<'p> {
    plan: &'p Plan,
    online: Box<dyn Backend + 'p>,
    target: Box<dyn Backend + 'p>,
    n_actions: usize,
    zeros: Vec<f32>,
    /// Persistent tensors copied to the target network.
    synced: Vec<BufferId>,
    /// The acting forward of a dense/ReLU network (`None`: act through the plan).
    chain: Option<crate::rl::acting::DenseChain>,
}

impl<'p> Networks<'p> {
    /// Online and target networks of `plan`, initialised alike from `seed`.
    fn new(
        plan: &'p Plan,
        backend: BackendKind,
        seed: u64,
        n_actions: usize,
        batch: usize,
    ) -> Result<Networks<'p>, RlError> {
        let online = backend.instantiate(plan, seed).map_err(backend_err)?;
        let target = backend.instantiate(plan, seed).map_err(backend_err)?;
        let synced: Vec<BufferId> = plan
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| crate::runtime::train::is_model_tensor(b))
            .map(|(i, _)| BufferId(i as u32))
            .collect();
        Ok(Networks {
            plan,
            online,
            target,
            n_actions,
            zeros: vec![0.0; batch.max(1) * n_actions],
            synced,
            chain: crate::rl::acting::DenseChain::of(plan),
        })
    }

    /// The model tensors, in safetensors order.
    fn expected(&self) -> Vec<Expected> {
        self.synced
            .iter()
            .map(|&id| {
                let b = self.plan.buffer(id);
                Expected {
                    name: b.name.clone(),
                    shape: b.shape.clone(),
                }
            })
            .collect()
    }

    /// Sets both networks' tensors (in [`Networks::expected`] order).
    fn load(&mut self, values: &[Vec<f32>]) {
        for (&id, v) in self.synced.iter().zip(values) {
            self.online.data_mut(id).copy_from_slice(v);
            self.target.data_mut(id).copy_from_slice(v);
        }
        self.weights_changed();
    }

    /// The online network's weights changed (learning, a load, a restore).
    fn weights_changed(&mut self) {
        if let Some(c) = &mut self.chain {
            c.stale();
        }
    }

    fn q_values(
        net: &mut Box<dyn Backend + 'p>,
        plan: &Plan,
        obs: &[f32],
        rows: usize,
        zeros: &[f32],
        n_actions: usize,
    ) -> Result<Vec<f32>, RlError> {
        net.load_batch(obs, &zeros[..rows * n_actions], rows)
            .map_err(backend_err)?;
        net.forward(false).map_err(backend_err)?;
        Ok(net.data(plan.output)[..rows * n_actions].to_vec())
    }

    fn greedy(&mut self, obs: &[f32]) -> Result<u32, RlError> {
        if let Some(chain) = &mut self.chain {
            return Ok(argmax(chain.q_values(&*self.online, obs)));
        }
        let q = Self::q_values(
            &mut self.online,
            self.plan,
            obs,
            1,
            &self.zeros,
            self.n_actions,
        )?;
        Ok(argmax(&q))
    }

    fn update_target(&mut self, tau: f32) {
        for &id in &self.synced {
            let src = self.online.data(id).to_vec();
            let dst = self.target.data_mut(id);
            if tau >= 1.0 {
                dst.copy_from_slice(&src);
            } else {
                for (d, s) in dst.iter_mut().zip(&src) {
                    *d = tau * s + (1.0 - tau) * *d;
                }
            }
        }
    }
}

/// The best network seen by the checkpoint evaluations.
#[derive(Default)]
struct Best {
    values: Vec<Vec<f32>>,
    checkpoint: Option<Checkpoint>,
    evaluations: u64,
}

impl Best {
    /// Evaluates the online network; keeps it when it is at least as good as the best so
    /// far (a later network that matches the best has trained longer).
    fn consider(
        &mut self,
        nets: &mut Networks<'_>,
        spec: ControlSpec,
        dqn: &DqnConfig,
        seed: u64,
        step: u64,
    ) -> Result<(), RlError> {
        let score = EvalSummary::of(&evaluate(
            nets,
            spec,
            dqn.checkpoint_episodes.max(1),
            seed ^ CHECKPOINT_SEED_SALT,
        )?)
        .mean_return;
        self.evaluations += 1;
        if self.checkpoint.is_none_or(|c| score >= c.mean_return) {
            self.values = nets
                .synced
                .iter()
                .map(|&id| nets.online.data(id).to_vec())
                .collect();
            self.checkpoint = Some(Checkpoint {
                step,
                mean_return: score,
                evaluations: 0,
            });
        }
        Ok(())
    }

    /// Puts the kept network into the online one; returns the checkpoint.
    fn restore(self, nets: &mut Networks<'_>) -> Option<Checkpoint> {
        let mut c = self.checkpoint?;
        for (&id, v) in nets.synced.iter().zip(&self.values) {
            nets.online.data_mut(id).copy_from_slice(v);
        }
        nets.weights_changed();
        c.evaluations = self.evaluations;
        Some(c)
    }
}

/// The first index of the largest value (NaN never wins).
fn argmax(q: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in q.iter().enumerate().skip(1) {
        if v > q[best] {
            best = i;
        }
    }
    best as u32
}

fn observe(sim: &ControlEnv, obs64: &mut [f64], out: &mut [f32]) {
    sim.observe(obs64);
    for (o, v) in out.iter_mut().zip(obs64.iter()) {
        *o = *v as f32;
    }
}

fn success(kind: ControlKind, terminated: bool, truncated: bool) -> bool {
    match kind {
        ControlKind::CartPole => truncated,
        _ => terminated,
    }
}

/// Trains a `dqn` agent, then evaluates its greedy policy; `stop` is asked before every
/// episode whether to end training there.
#[allow(clippy::too_many_arguments)]
pub fn run_until(
    env: &EnvDecl,
    cfg: &AgentConfig,
    dqn: &DqnConfig,
    network: &ModelSummary,
    backend: BackendKind,
    progress: &mut dyn FnMut(&EpisodeRecord),
    stop: &dyn Fn() -> bool,
) -> Result<DqnResult, RlError> {
    cfg.validate()?;
    let spec: ControlSpec = match env.build()? {
        BuiltEnv::Control(c) => c,
        BuiltEnv::Tabular(_) => {
            return Err(RlError::NotContinuous {
                env: env.kind().to_string(),
            });
        }
    };
    let (obs_dim, n_actions) = (spec.kind.obs_dim(), spec.kind.n_actions());
    let plan = crate::lower::lower(network, dqn.batch);
    let mut nets = Networks::new(&plan, backend, cfg.seed, n_actions, dqn.batch)?;
    if let Some(path) = &cfg.init_from {
        let values = read_network(&nets, path, "this agent", env.kind(), &dqn.network)?;
        nets.load(&values);
    }
    let lr = match network.spec.optimizer {
        crate::check::spec::Optimizer::Sgd { lr, .. }
        | crate::check::spec::Optimizer::Adam { lr, .. } => lr,
    };
    let mut rng = Rng::seed_from_u64(cfg.seed);
    let mut replay = Replay::new(dqn.buffer.max(1), obs_dim);
    let mut sim = ControlEnv::new(spec.kind);
    let (mut obs64, mut obs, mut next) = (
        vec![0.0; obs_dim],
        vec![0.0f32; obs_dim],
        vec![0.0f32; obs_dim],
    );
    let (max_episodes, max_steps) = match cfg.budget {
        Budget::Episodes(n) => (n, u64::MAX),
        Budget::Steps(n) => (u64::MAX, n),
    };
    let b = dqn.batch;
    let mut batch_obs = vec![0.0f32; b * obs_dim];
    let mut batch_next = vec![0.0f32; b * obs_dim];
    let mut picks = vec![0usize; b];
    let gamma = cfg.gamma as f32;
    let start = Instant::now();
    let mut best = Best::default();
    let mut records = Vec::new();
    let (mut total, mut episode, mut grad_steps) = (0u64, 0u64, 0u64);
    // Timings for the benchmark (not part of any deterministic output).
    let (mut acting, mut learning, mut greedy_actions) = (0.0f64, 0.0f64, 0u64);
    'episodes: while episode < max_episodes {
        if stop() {
            break;
        }
        sim.reset(&mut rng);
        observe(&sim, &mut obs64, &mut obs);
        let start_eps = cfg.epsilon.at(total, episode);
        let (mut ret, mut len) = (0.0, 0u32);
        loop {
            if total >= max_steps {
                break 'episodes;
            }
            let eps = cfg.epsilon.at(total, episode);
            let action = if total < dqn.learning_starts || rng.unit() < eps {
                rng.below(n_actions as u32)
            } else {
                let t0 = Instant::now();
                let a = nets.greedy(&obs)?;
                acting += t0.elapsed().as_secs_f64();
                greedy_actions += 1;
                a
            };
            let st = sim.step(action);
            observe(&sim, &mut obs64, &mut next);
            total += 1;
            len += 1;
            ret += st.reward;
            let truncated = !st.terminated && len >= spec.max_steps;
            // A truncated transition still bootstraps (SB3's handle_timeout_termination).
            replay.push(&obs, action, st.reward as f32, &next, st.terminated);
            obs.copy_from_slice(&next);
            if total > dqn.learning_starts
                && total.is_multiple_of(dqn.train_freq)
                && replay.len >= b
            {
                let t0 = Instant::now();
                for _ in 0..dqn.gradient_steps {
                    for (k, p) in picks.iter_mut().enumerate() {
                        *p = rng.below(replay.len as u32) as usize;
                        let d = obs_dim;
                        batch_obs[k * d..(k + 1) * d]
                            .copy_from_slice(&replay.obs[*p * d..(*p + 1) * d]);
                        batch_next[k * d..(k + 1) * d]
                            .copy_from_slice(&replay.next_obs[*p * d..(*p + 1) * d]);
                    }
                    let q_next = Networks::q_values(
                        &mut nets.target,
                        &plan,
                        &batch_next,
                        b,
                        &nets.zeros,
                        n_actions,
                    )?;
                    let choose = if dqn.double {
                        Some(Networks::q_values(
                            &mut nets.online,
                            &plan,
                            &batch_next,
                            b,
                            &nets.zeros,
                            n_actions,
                        )?)
                    } else {
                        None
                    };
                    nets.online
                        .load_batch(&batch_obs, &nets.zeros[..b * n_actions], b)
                        .map_err(backend_err)?;
                    nets.online.forward(true).map_err(backend_err)?;
                    let mut t = nets.online.data(plan.output)[..b * n_actions].to_vec();
                    for (k, &p) in picks.iter().enumerate() {
                        let row = &q_next[k * n_actions..(k + 1) * n_actions];
                        let future = match &choose {
                            Some(q) => row[argmax(&q[k * n_actions..(k + 1) * n_actions]) as usize],
                            None => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                        };
                        let y =
                            replay.rewards[p] + if replay.dones[p] { 0.0 } else { gamma * future };
                        let i = k * n_actions + replay.actions[p] as usize;
                        let delta = t[i] - y;
                        let scaled = match dqn.loss {
                            TdLoss::Huber => delta.clamp(-1.0, 1.0) * (n_actions as f32 / 2.0),
                            TdLoss::Mse => delta * n_actions as f32,
                        };
                        t[i] -= scaled;
                    }
                    nets.online.data_mut(plan.target)[..b * n_actions].copy_from_slice(&t);
                    nets.online.loss().map_err(backend_err)?;
                    nets.online.backward().map_err(backend_err)?;
                    grad_steps += 1;
                    nets.online.update(lr, grad_steps).map_err(backend_err)?;
                }
                nets.weights_changed();
                learning += t0.elapsed().as_secs_f64();
            }
            if total.is_multiple_of(dqn.target_update) {
                nets.update_target(dqn.tau as f32);
            }
            if dqn.checkpoint_every > 0 && total.is_multiple_of(dqn.checkpoint_every) {
                best.consider(&mut nets, spec, dqn, cfg.seed, total)?;
            }
            if st.terminated || truncated {
                episode += 1;
                let r = EpisodeRecord {
                    episode,
                    ret,
                    steps: len,
                    success: success(spec.kind, st.terminated, truncated),
                    epsilon: start_eps,
                };
                progress(&r);
                if (records.len() as u64) < cfg.log_episodes {
                    records.push(r);
                }
                break;
            }
        }
    }
    if dqn.checkpoint_every > 0 && !total.is_multiple_of(dqn.checkpoint_every) {
        best.consider(&mut nets, spec, dqn, cfg.seed, total)?;
    }
    let checkpoint = best.restore(&mut nets);
    let train_seconds = start.elapsed().as_secs_f64();
    let eval = EvalSummary::of(&evaluate(
        &mut nets,
        spec,
        cfg.eval_episodes,
        cfg.seed ^ crate::rl::EVAL_SEED_SALT,
    )?);
    let tensors = nets
        .synced
        .iter()
        .map(|&id| {
            let buf = plan.buffer(id);
            Tensor {
                name: buf.name.clone(),
                shape: buf.shape.clone(),
                data: nets.online.data(id).to_vec(),
            }
        })
        .collect();
    Ok(DqnResult {
        learned: Learned {
            q: Vec::new(),
            n_states: 0,
            n_actions,
            episodes: episode,
            steps: total,
            records,
        },
        eval,
        train_seconds,
        gradient_steps: grad_steps,
        learning_seconds: learning,
        greedy_actions,
        acting_seconds: acting,
        tensors,
        checkpoint,
    })
}

/// Reads the saved network `path` for `nets` (checking environment, names and shapes).
fn read_network(
    nets: &Networks<'_>,
    path: &std::path::Path,
    agent: &str,
    env: &str,
    network: &str,
) -> Result<Vec<Vec<f32>>, RlError> {
    crate::rl::saved::read_network(path, agent, env, network, &nets.expected())
}

/// Evaluates the saved Q-network `path` of agent `agent` greedily, exactly as a run with
/// seed `seed` evaluates its network at the end.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_saved(
    env: &EnvDecl,
    dqn: &DqnConfig,
    network: &ModelSummary,
    backend: BackendKind,
    agent: &str,
    path: &std::path::Path,
    episodes: u64,
    seed: u64,
) -> Result<Vec<EvalEpisode>, RlError> {
    let spec: ControlSpec = match env.build()? {
        BuiltEnv::Control(c) => c,
        BuiltEnv::Tabular(_) => {
            return Err(RlError::NotContinuous {
                env: env.kind().to_string(),
            });
        }
    };
    let plan = crate::lower::lower(network, dqn.batch);
    let mut nets = Networks::new(&plan, backend, seed, spec.kind.n_actions(), dqn.batch)?;
    let values = read_network(
        &nets,
        path,
        &format!("agent `{agent}`"),
        env.kind(),
        &dqn.network,
    )?;
    nets.load(&values);
    evaluate(&mut nets, spec, episodes, seed ^ crate::rl::EVAL_SEED_SALT)
}

/// Greedy episodes with the online network.
fn evaluate(
    nets: &mut Networks<'_>,
    spec: ControlSpec,
    episodes: u64,
    seed: u64,
) -> Result<Vec<EvalEpisode>, RlError> {
    let mut rng = Rng::seed_from_u64(seed);
    let mut sim = ControlEnv::new(spec.kind);
    let dim = spec.kind.obs_dim();
    let (mut obs64, mut obs) = (vec![0.0; dim], vec![0.0f32; dim]);
    let mut out = Vec::with_capacity(episodes.min(1 << 20) as usize);
    for _ in 0..episodes {
        sim.reset(&mut rng);
        observe(&sim, &mut obs64, &mut obs);
        let (mut ret, mut len) = (0.0, 0u32);
        loop {
            let st = sim.step(nets.greedy(&obs)?);
            observe(&sim, &mut obs64, &mut obs);
            len += 1;
            ret += st.reward;
            let truncated = !st.terminated && len >= spec.max_steps;
            if st.terminated || truncated {
                out.push(EvalEpisode {
                    ret,
                    steps: len,
                    success: success(spec.kind, st.terminated, truncated),
                });
                break;
            }
        }
    }
    Ok(out)
}
