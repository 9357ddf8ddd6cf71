//! The Q-network of a `dqn` agent: its `network` model instantiated on the environment's
//! observation `[N, obs]`, whose output must be `[N, actions]`. A mismatch is an
//! `amm::shape::q_output` error at the network's last layer naming the environment; a
//! layer that cannot take the observation reports its own shape error with the agent as
//! the instantiation site; a `dqn` on an environment with discrete states is
//! `amm::rl::dqn_discrete` (see `docs/language.md` for why it is rejected rather than
//! one-hot encoded).

use std::collections::{BTreeMap, HashMap};

use super::shape::Shape;
use super::spec::{self, Loss, Optimizer, Schedule, TrainSpec};
use super::{Env, ModelSummary, ShapeChecker, Site, Walk};
use crate::diag::Diag;
use crate::resolve::schema::{self, Family};
use crate::resolve::value::eval;
use crate::resolve::{DefId, Value};
use crate::rl::env::ControlKind;
use crate::rl::env::acrobot::Dynamics;
use crate::syntax::ast::{ExprKind, ItemKind};

/// Mini-batch size of a `dqn` agent without `batch`.
pub const DEFAULT_BATCH: usize = 32;
/// Gradient-norm clip of a `dqn` agent without `clip_norm` (Stable-Baselines3's 10).
pub const DEFAULT_CLIP_NORM: f32 = 10.0;

/// Observation length and action count of a continuous environment builtin.
fn control_kind(name: &str) -> Option<ControlKind> {
    match name {
        "cartpole" => Some(ControlKind::CartPole),
        "mountain_car" => Some(ControlKind::MountainCar),
        "acrobot" => Some(ControlKind::Acrobot(Dynamics::Book)),
        _ => None,
    }
}

impl ShapeChecker<'_> {
    /// Instantiates the Q-network of agent `id` when it is a `dqn`; `None` for other agents
    /// and after an error (reported).
    pub(super) fn q_network(&mut self, id: DefId) -> Option<ModelSummary> {
        let def = self.program.def(id);
        let ItemKind::Agent(a) = &def.item.kind else {
            return None;
        };
        if a.algo.dotted() != "dqn" {
            return None;
        }
        let env = Env {
            module: def.module,
            locals: HashMap::new(),
            program: self.program,
        };
        // The environment: `env = <env block>` or the first positional argument.
        let env_arg = a
            .algo
            .arg_list()
            .iter()
            .enumerate()
            .find(|(i, arg)| arg.name.as_ref().map_or(*i == 0, |n| n.name == "env"))
            .map(|(_, arg)| &arg.value)?;
        let ExprKind::Call(env_ref) = &env_arg.kind else {
            return None;
        };
        let env_id = self.program.lookup(def.module, &env_ref.dotted())?;
        let env_def = self.program.def(env_id);
        let ItemKind::Env(e) = &env_def.item.kind else {
            return None;
        };
        let ExprKind::Call(env_call) = &e.value.kind else {
            return None;
        };
        let env_kind = env_call.dotted();
        let Some(kind) = control_kind(&env_kind) else {
            self.err(
                Diag::new(
                    "amm::rl::dqn_discrete",
                    format!(
                        "`dqn` needs a continuous observation, but `{}` is `{env_kind}`, whose states are numbered",
                        env_def.name
                    ),
                )
                .primary(env_arg.span, "an environment with discrete states")
                .help("a tabular agent (q_learning, sarsa, expected_sarsa, double_q) learns a table for it exactly; dqn is for cartpole, mountain_car and acrobot"),
            );
            return None;
        };
        let get = |k: &str| a.fields.iter().find(|f| f.key.name == k);
        let Some(net_field) = get("network") else {
            self.err(
                Diag::new("amm::agent::network", "a `dqn` agent needs `network = <a model>`")
                    .primary(a.name.span, "no Q-network")
                    .help(format!(
                        "declare a model whose input is `{}`'s observation [N, {}] and whose output is one value per action [N, {}], and name it here",
                        env_def.name,
                        kind.obs_dim(),
                        kind.n_actions()
                    )),
            );
            return None;
        };
        let ExprKind::Call(net_call) = &net_field.value.kind else {
            return None;
        };
        let model_name = net_call.dotted();
        let model_id = self.program.lookup(def.module, &model_name)?;
        let mdef = self.program.def(model_id);
        let ItemKind::Model(m) = &mdef.item.kind else {
            return None;
        };
        let input = Shape(vec![kind.obs_dim()]);
        let site = Site {
            span: net_field.span,
            text: format!(
                "model `{model_name}` is the Q-network of agent `{}` on env `{}` ({env_kind}: observation {input}, {} actions) here",
                def.name,
                env_def.name,
                kind.n_actions()
            ),
        };
        let mut walk = Walk {
            layers: Vec::new(),
            counters: HashMap::new(),
            frozen: false,
            depth: 0,
            init: None,
            input: input.clone(),
        };
        let mut shape = input.clone();
        let instances = super::stage_instances(&m.stages);
        for (stage, instance) in m.stages.iter().zip(&instances) {
            let net = self.program.lookup(mdef.module, &stage.dotted())?;
            walk.counters.clear();
            walk.frozen = super::stage_frozen(stage);
            walk.init = super::stage_init(stage);
            let menv = Env {
                module: mdef.module,
                locals: HashMap::new(),
                program: self.program,
            };
            shape = self.net(net, stage, &menv, shape, instance, &mut walk, &site)?;
        }
        let want = Shape(vec![kind.n_actions()]);
        if shape != want {
            let at = walk.layers.last().map_or(m.name.span, |l| l.span);
            self.err(
                Diag::new(
                    "amm::shape::q_output",
                    format!(
                        "the Q-network `{model_name}` outputs {shape}, but env `{}` ({env_kind}) has {} actions: it must output [N, {}]",
                        env_def.name,
                        kind.n_actions(),
                        kind.n_actions()
                    ),
                )
                .primary(at, format!("outputs {shape}"))
                .secondary(site.span, site.text.clone())
                .help(format!(
                    "end the network with dense({}) and no activation: one Q-value per action",
                    kind.n_actions()
                )),
            );
            return None;
        }
        let batch = match get("batch") {
            Some(f) => match self.int(&f.value, &env) {
                Some(b) if b >= 1 => b as usize,
                _ => return None,
            },
            None => DEFAULT_BATCH,
        };
        let optimizer = match get("optimizer").map(|f| &f.value.kind) {
            Some(ExprKind::Call(c)) => {
                let name = c.dotted();
                let args =
                    self.call_args(c, schema::builtin(Family::Optimizer, &name)?.args, &env)?;
                let f = |k: &str, d: f64| args.get(k).and_then(Value::as_f64).unwrap_or(d) as f32;
                match name.as_str() {
                    "sgd" => Optimizer::Sgd {
                        lr: f("lr", 0.01),
                        momentum: f("momentum", 0.0),
                        nesterov: matches!(args.get("nesterov"), Some(Value::Bool(true))),
                        weight_decay: f("weight_decay", 0.0),
                    },
                    other => Optimizer::Adam {
                        lr: f("lr", 1e-3),
                        beta1: f("beta1", 0.9),
                        beta2: f("beta2", 0.999),
                        eps: f("eps", 1e-8),
                        weight_decay: f("weight_decay", if other == "adamw" { 0.01 } else { 0.0 }),
                        decoupled: other == "adamw",
                    },
                }
            }
            _ => Optimizer::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                decoupled: false,
            },
        };
        let optimizer_slots = match optimizer {
            Optimizer::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Optimizer::Adam { .. } => 2,
        };
        let clip_norm = match get("clip_norm") {
            Some(f) => match eval(&f.value, &|n| env.lookup(n))
                .ok()
                .and_then(|v| v.as_f64())
            {
                Some(c) if c > 0.0 => Some(c as f32),
                _ => None,
            },
            None => Some(DEFAULT_CLIP_NORM),
        };
        let seed = get("seed")
            .and_then(|f| self.int(&f.value, &env))
            .map_or(0, |s| s.max(0) as u64);
        let spec = TrainSpec {
            // The network trains on batches drawn from the replay buffer of this env.
            data: crate::data::DataSpec {
                name: env_def.name.clone(),
                loader: format!("replay buffer of {env_kind}"),
                args: BTreeMap::new(),
            },
            // The TD loss (Huber or MSE) is applied through the target values given to
            // this MSE kernel: see `rl::dqn`.
            loss: Loss::Mse,
            optimizer,
            schedule: Schedule::Constant { warmup: 0 },
            epochs: 1,
            batch,
            metrics: Vec::new(),
            clip_norm,
            seed,
            early_stop: None::<spec::EarlyStopping>,
            // An agent has no `init` field; stages may set their own.
            init: spec::InitScheme::default(),
            tree: None,
        };
        Some(ModelSummary {
            train: def.name.clone(),
            model: model_name,
            input,
            layers: walk.layers,
            batch,
            optimizer_slots,
            spec,
            pretrained: Vec::new(),
            warnings: Vec::new(),
        })
    }
}
