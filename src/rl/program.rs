//! From a resolved [`Program`] to runs: evaluates the arguments of `env` blocks into an
//! [`EnvSpec`] and the fields of `agent` blocks into an [`AgentConfig`], and reports every
//! problem as a [`Diag`] located at the argument or field at fault. [`check`] runs this
//! for every env and agent so `ammc check` finds bad maps, ranges and bins before a run.

use std::collections::HashMap;

use crate::diag::Diag;
use crate::resolve::schema::{self, Default, Family};
use crate::resolve::value::eval;
use crate::resolve::{DefId, DefKind, ModuleId, Program, Value};
use crate::rl::agent::{AgentConfig, Algorithm, Budget, Epsilon, Unit, default_epsilon};
use crate::rl::dqn::{DqnConfig, TdLoss};
use crate::rl::env::acrobot::Dynamics;
use crate::rl::env::{EnvDecl, EnvSpec, GridSpec, LakeMap};
use crate::rl::error::RlError;
use crate::rl::plan::PlanMethod;
use crate::source::Span;
use crate::syntax::ast::{Call, Expr, ExprKind, ItemKind};

/// An agent block ready to run.
#[derive(Clone, Debug)]
pub struct AgentSetup {
    /// The agent's name.
    pub name: String,
    /// The env block's name.
    pub env_name: String,
    /// The environment.
    pub env: EnvDecl,
    /// The agent's settings. A `dqn` agent's `algorithm` is Q-learning (DQN is Q-learning
    /// with a network); its other settings are in `dqn`.
    pub config: AgentConfig,
    /// The settings of a `dqn` agent.
    pub dqn: Option<DqnConfig>,
    /// The settings of a planning agent (`value_iteration`, `policy_iteration`, `mcts`).
    pub plan: Option<crate::rl::plan::PlanSetup>,
    /// Where `init_from` is written (errors reading the file point there).
    pub init_span: Option<Span>,
}

/// Converts an [`RlError`] to a diagnostic at `span`.
pub fn to_diag(e: &RlError, span: Span, label: &str) -> Diag {
    use miette::Diagnostic;
    let code = match e {
        RlError::MapName { .. } => "amm::rl::map_name",
        RlError::MapEmpty
        | RlError::MapRagged { .. }
        | RlError::MapCell { .. }
        | RlError::MapMissing { .. }
        | RlError::MapStarts { .. }
        | RlError::MapTooLarge { .. } => "amm::rl::map",
        RlError::Argument { .. } => "amm::rl::argument",
        RlError::Bins { .. } => "amm::rl::bins",
        RlError::NotDiscrete { .. } => "amm::rl::not_discrete",
        RlError::State { .. } => "amm::rl::state",
        RlError::NotContinuous { .. } => "amm::rl::dqn_discrete",
        RlError::Backend { .. } => "amm::rl::backend",
        RlError::Saved { .. } => "amm::agent::saved",
        RlError::SavedShape { .. } => "amm::agent::saved_shape",
    };
    let mut d = Diag::new(code, e.to_string()).primary(span, label);
    if let Some(h) = e.help() {
        d = d.help(h.to_string());
    }
    d
}

/// Evaluated arguments of a builtin call, with the span of each (the call's span for
/// defaults).
struct Args {
    values: HashMap<&'static str, (Value, Span)>,
}

impl Args {
    fn get(&self, name: &str) -> Option<&(Value, Span)> {
        self.values.get(name)
    }

    fn span(&self, name: &str, fallback: Span) -> Span {
        self.get(name).map_or(fallback, |(_, s)| *s)
    }

    fn f64(&self, name: &str) -> Result<Option<f64>, Diag> {
        match self.get(name) {
            None => Ok(None),
            Some((v, span)) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| kind(*span, "a number", v)),
        }
    }

    fn count(&self, name: &str) -> Result<Option<u64>, Diag> {
        match self.get(name) {
            None => Ok(None),
            Some((v, span)) => match v.as_i64() {
                Some(i) if i >= 0 => Ok(Some(i as u64)),
                Some(i) => Err(to_diag(
                    &RlError::Argument {
                        name: name.to_string(),
                        value: i.to_string(),
                        expected: "of at least 0".to_string(),
                    },
                    *span,
                    "negative",
                )),
                None => Err(kind(*span, "an int", v)),
            },
        }
    }
}

fn kind(span: Span, want: &str, got: &Value) -> Diag {
    Diag::new(
        "amm::value::type",
        format!("expected {want}, got {}", got.ty().noun()),
    )
    .primary(span, format!("this is {}", got.ty().noun()))
}

fn lookup_in(program: &Program, module: ModuleId) -> impl Fn(&str) -> Option<Value> + '_ {
    move |name: &str| {
        let d = program.lookup(module, name)?;
        program.param(d).cloned()
    }
}

/// Evaluates a builtin call's arguments (positional ones named by the schema), filling
/// in the schema's defaults. Arguments of kind `Ref` (an agent's `env`) are skipped.
fn call_args(
    program: &Program,
    module: ModuleId,
    family: Family,
    call: &Call,
) -> Result<(&'static str, Args), Diag> {
    let name = call.dotted();
    let spec = schema::builtin(family, &name).ok_or_else(|| {
        Diag::new(
            "amm::name::unknown_builtin",
            format!("unknown {} `{name}`", family.noun()),
        )
        .primary(call.path_span(), "not known")
    })?;
    let lookup = lookup_in(program, module);
    let mut values = HashMap::new();
    for (i, a) in call.arg_list().iter().enumerate() {
        let arg = match &a.name {
            Some(n) => spec.args.iter().find(|s| s.name == n.name),
            None => spec.args.get(i),
        };
        let Some(arg) = arg else { continue };
        if matches!(arg.kind, schema::Kind::Ref(_)) {
            continue;
        }
        let v = eval(&a.value, &lookup)?;
        values.insert(arg.name, (v, a.value.span));
    }
    for arg in spec.args {
        if values.contains_key(arg.name) {
            continue;
        }
        let v = match arg.default {
            Default::Int(i) => Value::Int(i),
            Default::Float(f) => Value::Float(f),
            Default::Bool(b) => Value::Bool(b),
            Default::Str(s) => Value::Str(s.to_string()),
            Default::Required | Default::Optional => continue,
        };
        values.insert(arg.name, (v, call.span));
    }
    Ok((spec.name, Args { values }))
}

fn env_call(expr: &Expr) -> Option<&Call> {
    match &expr.kind {
        ExprKind::Call(c) => Some(c),
        _ => None,
    }
}

/// Reads a `max_steps` argument: a whole number that fits a `u32`.
fn max_steps_arg(args: &Args, fallback: Span) -> Result<Option<u32>, Diag> {
    let Some(n) = args.count("max_steps")? else {
        return Ok(None);
    };
    u32::try_from(n).map(Some).map_err(|_| {
        to_diag(
            &RlError::Argument {
                name: "max_steps".into(),
                value: n.to_string(),
                expected: format!("of at most {}", u32::MAX),
            },
            args.span("max_steps", fallback),
            "too large",
        )
    })
}

/// The environment declared by `env` block `id`.
pub fn env_spec(program: &Program, id: DefId) -> Result<EnvDecl, Diag> {
    let def = program.def(id);
    let ItemKind::Env(e) = &def.item.kind else {
        return Err(
            Diag::new("amm::name::kind", format!("`{}` is not an env", def.name))
                .primary(def.item.span, "here"),
        );
    };
    let call = env_call(&e.value).ok_or_else(|| {
        Diag::new("amm::value::kind", "expected an environment").primary(e.value.span, "here")
    })?;
    let (name, args) = call_args(program, def.module, Family::Env, call)?;
    let span = call.span;
    let string = |n: &str| -> Result<String, Diag> {
        match args.get(n) {
            Some((Value::Str(s), _)) => Ok(s.clone()),
            Some((v, s)) => Err(kind(*s, "a string", v)),
            None => Err(
                Diag::new("amm::arg::missing", format!("`{name}` needs `{n}`"))
                    .primary(span, "missing"),
            ),
        }
    };
    let spec = match name {
        "frozen_lake" => {
            let map_text = string("map")?;
            let map = LakeMap::parse(&map_text)
                .map_err(|err| to_diag(&err, args.span("map", span), "this map"))?;
            let slippery = match args.get("slippery") {
                Some((Value::Bool(b), _)) => *b,
                Some((v, s)) => return Err(kind(*s, "a bool", v)),
                None => true,
            };
            EnvSpec::FrozenLake { map, slippery }
        }
        "cliff_walking" => EnvSpec::CliffWalking,
        "taxi" => EnvSpec::Taxi,
        "cartpole" => EnvSpec::CartPole,
        "mountain_car" => EnvSpec::MountainCar,
        "acrobot" => EnvSpec::Acrobot(match args.get("nips") {
            Some((Value::Bool(true), _)) => Dynamics::Nips,
            Some((Value::Bool(false), _)) | None => Dynamics::Book,
            Some((v, s)) => return Err(kind(*s, "a bool", v)),
        }),
        "grid" => {
            let f = |n: &str, d: f64| args.f64(n).map(|v| v.unwrap_or(d));
            let max_steps = max_steps_arg(&args, span)?.unwrap_or(100);
            EnvSpec::Grid(GridSpec {
                map: string("map")?,
                step_reward: f("step_reward", 0.0)?,
                goal_reward: f("goal_reward", 1.0)?,
                hole_reward: f("hole_reward", 0.0)?,
                slip: f("slip", 0.0)?,
                max_steps,
            })
        }
        other => {
            return Err(Diag::new(
                "amm::name::unknown_env",
                format!("unknown environment `{other}`"),
            )
            .primary(call.path_span(), "not an environment"));
        }
    };
    // A grid carries its limit in its spec (its own default is 100).
    let max_steps = if matches!(spec, EnvSpec::Grid(_)) {
        None
    } else {
        max_steps_arg(&args, span)?
    };
    let decl = EnvDecl { spec, max_steps };
    // Build once so map and range errors point at the argument responsible.
    if let Err(err) = decl.build() {
        let map_span = args.span("map", span);
        let map_text = match args.get("map") {
            Some((Value::Str(t), _)) => t.as_str(),
            _ => "",
        };
        let (at, label) = match &err {
            RlError::Argument { name, .. } => (args.span(name, span), "here"),
            RlError::MapRagged { row, .. } => row_span(map_text, map_span, *row, None)
                .map_or((map_span, "in this map"), |s| (s, "this row")),
            RlError::MapCell { row, col, .. } => row_span(map_text, map_span, *row, Some(*col))
                .map_or((map_span, "in this map"), |s| (s, "this cell")),
            _ => (map_span, "in this map"),
        };
        return Err(to_diag(&err, at, label));
    }
    Ok(decl)
}

/// The source span of a map's `row` (1-based, counting non-blank lines), or of the cell
/// at `col` in it. Only when the literal's text maps byte for byte onto the source (a
/// triple-quoted string, or a plain one without escapes); `None` otherwise.
fn row_span(text: &str, literal: Span, row: usize, col: Option<usize>) -> Option<Span> {
    let open = if literal.len() == text.len() + 6 {
        3
    } else if literal.len() == text.len() + 2 {
        1
    } else {
        return None;
    };
    let mut offset = 0;
    let mut seen = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if line.trim().is_empty() {
            continue;
        }
        seen += 1;
        if seen != row {
            continue;
        }
        let base = literal.start + open + start;
        return match col {
            Some(c) => {
                let (i, ch) = line
                    .char_indices()
                    .filter(|(_, c)| !c.is_whitespace())
                    .nth(c - 1)?;
                Some(Span::new(literal.file, base + i, base + i + ch.len_utf8()))
            }
            None => {
                let lead = line.len() - line.trim_start().len();
                Some(Span::new(
                    literal.file,
                    base + lead,
                    base + line.trim_end().len(),
                ))
            }
        };
    }
    None
}

/// The agent block `id` with its environment.
pub fn agent(program: &Program, id: DefId) -> Result<AgentSetup, Diag> {
    let def = program.def(id);
    let ItemKind::Agent(a) = &def.item.kind else {
        return Err(
            Diag::new("amm::name::kind", format!("`{}` is not an agent", def.name))
                .primary(def.item.span, "here"),
        );
    };
    let algo_name = a.algo.dotted();
    let is_dqn = algo_name == "dqn";
    let is_plan = crate::rl::plan::PlanMethodKind::from_name(&algo_name).is_some();
    let algorithm = (if is_dqn || is_plan {
        Some(Algorithm::QLearning)
    } else {
        Algorithm::from_name(&algo_name)
    })
    .ok_or_else(|| {
        Diag::new(
            "amm::name::unknown_agent",
            format!("unknown agent algorithm `{algo_name}`"),
        )
        .primary(a.algo.path_span(), "not an agent algorithm")
    })?;
    // The env argument: named `env = …` or the first positional.
    let env_expr = a
        .algo
        .arg_list()
        .iter()
        .enumerate()
        .find(|(i, arg)| arg.name.as_ref().map_or(*i == 0, |n| n.name == "env"))
        .map(|(_, arg)| &arg.value);
    let env_ref = env_expr.and_then(env_call).filter(|c| c.path.len() == 1);
    let env_id = env_ref
        .and_then(|c| program.lookup(def.module, &c.path[0].name))
        .filter(|d| program.def(*d).kind == DefKind::Env)
        .ok_or_else(|| {
            Diag::new(
                "amm::arg::missing",
                format!("`{algo_name}` needs `env = <an env block>`"),
            )
            .primary(a.algo.span, "no environment")
        })?;
    let env = env_spec(program, env_id)?;
    let lookup = lookup_in(program, def.module);
    let mut fields: HashMap<&str, (Value, Span)> = HashMap::new();
    let mut epsilon_expr = None;
    for f in &a.fields {
        if f.key.name == "epsilon" {
            epsilon_expr = Some(&f.value);
            continue;
        }
        // A model name and a builtin call: read by the shape checker (`check::qnet`).
        // `rollout` names an agent block or a path: read below (`rollout_source`).
        if f.key.name == "network" || f.key.name == "optimizer" || f.key.name == "rollout" {
            continue;
        }
        let v = eval(&f.value, &lookup)?;
        fields.insert(f.key.name.as_str(), (v, f.value.span));
    }
    let args = Args {
        values: fields
            .into_iter()
            .filter_map(|(k, v)| {
                schema::AGENT_FIELDS
                    .iter()
                    .find(|s| s.name == k)
                    .map(|s| (s.name, v))
            })
            .collect(),
    };
    let block = a.name.span;
    let mut cfg = AgentConfig::new(algorithm);
    if let Some(v) = args.f64("alpha")? {
        cfg.alpha = v;
    }
    if let Some(v) = args.f64("gamma")? {
        cfg.gamma = v;
    }
    if let Some(n) = args.count("episodes")? {
        cfg.budget = Budget::Episodes(n);
    }
    if let Some(n) = args.count("steps")? {
        cfg.budget = Budget::Steps(n);
    }
    if let Some(n) = args.count("eval_episodes")? {
        cfg.eval_episodes = n;
    }
    cfg.window = args.count("window")?;
    if let Some(n) = args.count("seed")? {
        cfg.seed = n;
    }
    if let Some(n) = args.count("log_episodes")? {
        cfg.log_episodes = n;
    }
    let init_span = match args.get("init_from") {
        None => None,
        Some((Value::Str(p), span)) => {
            cfg.init_from = Some(program.root_dir.join(p));
            Some(*span)
        }
        Some((v, span)) => return Err(kind(*span, "a path string", v)),
    };
    if let Some(v) = args.f64("init")? {
        // Reported as a range error (not `amm::rl::argument`), so `ammc check` shows it.
        if !v.is_finite() || v.abs() > 1e15 {
            return Err(Diag::new(
                "amm::value::range",
                format!("`init` must be at most 1e15 in size, got {v:e}"),
            )
            .primary(args.span("init", block), "every Q-table entry starts here")
            .help("an optimistic start only needs to exceed the best return, e.g. `init = 1.0` on FrozenLake"));
        }
        if let Some(span) = init_span {
            return Err(Diag::new(
                "amm::agent::init_twice",
                "`init` and `init_from` both set the table the agent starts from",
            )
            .primary(args.span("init", block), "every entry starts here")
            .secondary(span, "and the saved table starts here")
            .help("keep one: `init_from` continues from a saved table, `init` starts every entry at one value"));
        }
        cfg.q_init = v;
    }
    cfg.epsilon = match epsilon_expr {
        None => default_epsilon(cfg.budget),
        Some(e) => epsilon(program, def.module, e)?,
    };
    if let Some((v, span)) = args.get("bins") {
        cfg.bins = Some(bins(v, *span)?);
    }
    if let Err(err) = crate::rl::validate(&env, &cfg) {
        let at = match &err {
            RlError::Argument { name, .. } => match name.as_str() {
                "steps" if cfg.budget == Budget::Steps(0) => args.span("steps", block),
                "epsilon" | "from" | "to" | "decay" | "steps" => {
                    epsilon_expr.map_or(block, |e| e.span)
                }
                n => args.span(n, block),
            },
            RlError::Bins { .. } => args.span("bins", block),
            _ => block,
        };
        return Err(to_diag(&err, at, "here"));
    }
    let plan = if let Some(method) = crate::rl::plan::PlanMethodKind::from_name(&algo_name) {
        if let Some(f) = a.fields.iter().find(|f| {
            LEARNING_ONLY.contains(&f.key.name.as_str()) || DQN_ONLY.contains(&f.key.name.as_str())
        }) {
            return Err(Diag::new(
                "amm::agent::plan_field",
                format!(
                    "`{}` is a setting of learning agents, not of `{algo_name}`",
                    f.key.name
                ),
            )
            .primary(f.key.span, "not used when planning")
            .help(format!(
                "remove it: `{algo_name}` plans with the environment's model; its settings are {}",
                method.fields().join(", ")
            )));
        }
        let mut setup = plan_setup(&args, method, &env, a, block)?;
        setup.rollout = rollout_source(program, def.module, id, a, method, &env)?;
        if let Some(n) = args.count("rollout_depth")? {
            let PlanMethod::Mcts(m) = &mut setup.method else {
                return Err(Diag::new(
                    "amm::agent::plan_field",
                    format!("`rollout_depth` is a setting of mcts, not of `{algo_name}`"),
                )
                .primary(args.span("rollout_depth", block), "here")
                .help("remove it"));
            };
            if setup.rollout.is_none() {
                return Err(Diag::new(
                    "amm::agent::rollout_depth",
                    "`rollout_depth` cuts greedy rollouts short, but this agent rolls out at random",
                )
                .primary(args.span("rollout_depth", block), "needs `rollout = <agent or table>`")
                .help("add `rollout = <an agent block or a qtable.npy>` (its values finish the cut rollouts), or remove `rollout_depth`"));
            }
            if n > 1_000_000 {
                return Err(to_diag(
                    &RlError::Argument {
                        name: "rollout_depth".into(),
                        value: n.to_string(),
                        expected: "between 0 and 1,000,000".into(),
                    },
                    args.span("rollout_depth", block),
                    "here",
                ));
            }
            m.rollout_steps = Some(n as u32);
        }
        if let Some(n) = args.count("prior_visits")? {
            let PlanMethod::Mcts(m) = &mut setup.method else {
                return Err(Diag::new(
                    "amm::agent::plan_field",
                    format!("`prior_visits` is a setting of mcts, not of `{algo_name}`"),
                )
                .primary(args.span("prior_visits", block), "here")
                .help("remove it"));
            };
            if setup.rollout.is_none() {
                return Err(Diag::new(
                    "amm::agent::rollout_depth",
                    "`prior_visits` weighs a rollout table's values, but this agent has none",
                )
                .primary(
                    args.span("prior_visits", block),
                    "needs `rollout = <agent or table>`",
                )
                .help(
                    "add `rollout = <an agent block or a qtable.npy>`, or remove `prior_visits`",
                ));
            }
            if n > 1_000_000 {
                return Err(to_diag(
                    &RlError::Argument {
                        name: "prior_visits".into(),
                        value: n.to_string(),
                        expected: "between 0 and 1,000,000".into(),
                    },
                    args.span("prior_visits", block),
                    "here",
                ));
            }
            m.prior_visits = n as u32;
        }
        Some(setup)
    } else {
        if let Some(f) = a
            .fields
            .iter()
            .find(|f| PLAN_ONLY.contains(&f.key.name.as_str()))
        {
            return Err(Diag::new(
                "amm::agent::plan_field",
                format!(
                    "`{}` is a setting of planning agents, not of `{algo_name}`",
                    f.key.name
                ),
            )
            .primary(
                f.key.span,
                "only for value_iteration, policy_iteration or mcts",
            )
            .help("remove it, or make the agent a planner"));
        }
        None
    };
    let dqn = if is_dqn {
        if let Some(f) = a
            .fields
            .iter()
            .find(|f| ["alpha", "bins", "init"].contains(&f.key.name.as_str()))
        {
            return Err(Diag::new(
                "amm::agent::dqn_field",
                format!(
                    "`{}` is a setting of tabular agents, not of dqn",
                    f.key.name
                ),
            )
            .primary(f.key.span, "not used by dqn")
            .help("remove it: dqn learns with its optimizer's `lr` from the raw observation"));
        }
        Some(dqn_config(&args, a, block)?)
    } else {
        if let Some(f) = a
            .fields
            .iter()
            .find(|f| DQN_ONLY.contains(&f.key.name.as_str()))
        {
            return Err(Diag::new(
                "amm::agent::dqn_field",
                format!(
                    "`{}` is a setting of dqn agents, not of `{algo_name}`",
                    f.key.name
                ),
            )
            .primary(f.key.span, "only for dqn")
            .help("remove it, or make the agent a dqn"));
        }
        None
    };
    Ok(AgentSetup {
        name: def.name.clone(),
        env_name: program.def(env_id).name.clone(),
        env,
        config: cfg,
        dqn,
        plan,
        init_span,
    })
}

/// Fields only learning agents take (planners have no exploration or budget).
const LEARNING_ONLY: [&str; 9] = [
    "alpha",
    "init",
    "epsilon",
    "episodes",
    "steps",
    "bins",
    "window",
    "init_from",
    "log_episodes",
];

/// Fields only planning agents take.
const PLAN_ONLY: [&str; 11] = [
    "prior_visits",
    "backup",
    "rollout",
    "rollout_depth",
    "tolerance",
    "max_iterations",
    "horizon",
    "simulations",
    "exploration",
    "depth",
    "trees",
];

/// The settings of a planning agent, each checked against its range.
fn plan_setup(
    args: &Args,
    method: crate::rl::plan::PlanMethodKind,
    env: &EnvDecl,
    a: &crate::syntax::ast::AgentDecl,
    block: Span,
) -> Result<crate::rl::plan::PlanSetup, Diag> {
    use crate::rl::plan::{
        Backup, MctsConfig, PlanMethod, PlanMethodKind, PlanSetup, Rollout, SolveConfig,
    };
    let bad = |name: &str, value: String, expected: &str, label: &str| {
        to_diag(
            &RlError::Argument {
                name: name.to_string(),
                value,
                expected: expected.to_string(),
            },
            args.span(name, block),
            label,
        )
    };
    let gamma = args.f64("gamma")?.unwrap_or(0.99);
    // A planner of the wrong kind for the environment: value and policy iteration read the
    // transition table, which only tabular environments have.
    if method != PlanMethodKind::Mcts && env.spec.control().is_some() {
        return Err(Diag::new(
            "amm::agent::no_model",
            format!(
                "`{}` needs the transition table of a tabular environment, but `{}` is simulated step by step",
                method.name(),
                env.kind()
            ),
        )
        .primary(a.algo.span, "no table to plan on")
        .help("use `mcts`, which plans by simulating the environment, or a tabular environment"));
    }
    let tolerance = args.f64("tolerance")?.unwrap_or(1e-10);
    if !(tolerance > 0.0 && tolerance.is_finite()) {
        return Err(bad(
            "tolerance",
            tolerance.to_string(),
            "greater than 0",
            "here",
        ));
    }
    let max_iterations = args.count("max_iterations")?.unwrap_or(100_000);
    if !(1..=10_000_000).contains(&max_iterations) {
        return Err(bad(
            "max_iterations",
            max_iterations.to_string(),
            "between 1 and 10,000,000",
            "here",
        ));
    }
    let horizon = match args.count("horizon")? {
        Some(h) if h == 0 || h > 1_000_000 => {
            return Err(bad(
                "horizon",
                h.to_string(),
                "between 1 and 1,000,000",
                "here",
            ));
        }
        Some(_) if method != PlanMethodKind::ValueIteration => {
            return Err(Diag::new(
                "amm::agent::plan_field",
                format!(
                    "`horizon` is a setting of value_iteration, not of `{}`",
                    method.name()
                ),
            )
            .primary(args.span("horizon", block), "here")
            .help("finite-horizon values come from value_iteration; remove `horizon` here"));
        }
        h => h.map(|h| h as u32),
    };
    let solve = SolveConfig {
        gamma,
        tolerance,
        max_iterations,
        horizon,
    };
    let method = match method {
        PlanMethodKind::ValueIteration => PlanMethod::ValueIteration,
        PlanMethodKind::PolicyIteration => PlanMethod::PolicyIteration,
        PlanMethodKind::Mcts => {
            let simulations = args.count("simulations")?.unwrap_or(100);
            if !(1..=10_000_000).contains(&simulations) {
                return Err(bad(
                    "simulations",
                    simulations.to_string(),
                    "between 1 and 10,000,000",
                    if simulations == 0 {
                        "no simulations: nothing to choose an action from"
                    } else {
                        "too many"
                    },
                ));
            }
            let exploration = args.f64("exploration")?.unwrap_or(1.0);
            if !(0.0..=100.0).contains(&exploration) {
                return Err(bad(
                    "exploration",
                    exploration.to_string(),
                    "between 0 and 100 (values are normalised to [0, 1]; 1 is a good start)",
                    "here",
                ));
            }
            let depth = args.count("depth")?.unwrap_or(100);
            if !(1..=1_000_000).contains(&depth) {
                return Err(bad(
                    "depth",
                    depth.to_string(),
                    "between 1 and 1,000,000",
                    "here",
                ));
            }
            let trees = args.count("trees")?.unwrap_or(1);
            if !(1..=256).contains(&trees) {
                return Err(bad("trees", trees.to_string(), "between 1 and 256", "here"));
            }
            let backup = match args.get("backup") {
                None => Backup::Mean,
                Some((Value::Str(b), _)) if b == "mean" => Backup::Mean,
                Some((Value::Str(b), _)) if b == "bellman" => Backup::Bellman,
                Some((v, span)) => {
                    return Err(Diag::new(
                        "amm::agent::backup",
                        format!("`backup` is \"mean\" or \"bellman\", not {v}"),
                    )
                    .primary(*span, "not a backup")
                    .help("\"mean\" averages the returns through an action (classic UCT); \"bellman\" values it from the outcomes seen"));
                }
            };
            PlanMethod::Mcts(MctsConfig {
                simulations: simulations as u32,
                exploration,
                depth: depth as u32,
                gamma,
                rollout: Rollout::Random,
                rollout_steps: None,
                trees: trees as u32,
                backup,
                prior_visits: 10,
            })
        }
    };
    Ok(PlanSetup {
        method,
        solve,
        rollout: None,
    })
}

/// An MCTS agent's `rollout = …`: an agent block of the file with a table (a tabular
/// learner or a table planner, not the agent itself), or a path (a param holding one, or a
/// string), relative to the root file.
fn rollout_source(
    program: &Program,
    module: ModuleId,
    me: DefId,
    a: &crate::syntax::ast::AgentDecl,
    method: crate::rl::plan::PlanMethodKind,
    env: &EnvDecl,
) -> Result<Option<crate::rl::plan::RolloutTable>, Diag> {
    use crate::rl::plan::{PlanMethodKind, RolloutTable, TableSource};
    let Some(f) = a.fields.iter().find(|f| f.key.name == "rollout") else {
        return Ok(None);
    };
    let span = f.value.span;
    if method != PlanMethodKind::Mcts {
        return Err(Diag::new(
            "amm::agent::plan_field",
            format!("`rollout` is a setting of mcts, not of `{}`", method.name()),
        )
        .primary(f.key.span, "here")
        .help(format!(
            "remove it: `{}` solves the model exactly and does not simulate",
            method.name()
        )));
    }
    if env.spec.control().is_some() {
        return Err(Diag::new(
            "amm::agent::rollout_table",
            format!(
                "greedy rollouts on a table need a tabular environment, but `{}` has continuous observations",
                env.kind()
            ),
        )
        .primary(span, "a table has a row per state")
        .help("remove `rollout`: on this environment MCTS finishes its simulations with random actions"));
    }
    if let ExprKind::Call(c) = &f.value.kind
        && c.path.len() == 1
        && c.args.is_none()
        && let Some(id) = program.lookup(module, &c.path[0].name)
        && program.def(id).kind == DefKind::Agent
    {
        let name = &c.path[0].name;
        if id == me {
            return Err(Diag::new(
                "amm::agent::rollout_table",
                format!("agent `{name}` cannot roll out with its own table: it has none"),
            )
            .primary(span, "this agent")
            .help(
                "name a learning agent or a value_iteration / policy_iteration agent of this file",
            ));
        }
        if let ItemKind::Agent(other) = &program.def(id).item.kind {
            let algo = other.algo.dotted();
            if algo == "mcts" || algo == "dqn" {
                return Err(Diag::new(
                    "amm::agent::rollout_table",
                    format!("agent `{name}` ({algo}) keeps no table"),
                )
                .primary(span, "no qtable.npy")
                .help("name a tabular learning agent (q_learning, sarsa, …) or a value_iteration / policy_iteration agent"));
            }
        }
        return Ok(Some(RolloutTable {
            source: TableSource::Agent(name.clone()),
            span,
        }));
    }
    let lookup = lookup_in(program, module);
    match eval(&f.value, &lookup)? {
        Value::Str(p) => Ok(Some(RolloutTable {
            source: TableSource::File(program.root_dir.join(p)),
            span,
        })),
        v => Err(kind(span, "an agent block or a .npy path", &v)),
    }
}

/// Fields only a `dqn` agent takes.
const DQN_ONLY: [&str; 14] = [
    "network",
    "optimizer",
    "loss",
    "batch",
    "buffer",
    "learning_starts",
    "train_freq",
    "gradient_steps",
    "target_update",
    "tau",
    "double",
    "clip_norm",
    "checkpoint_every",
    "checkpoint_episodes",
];

fn dqn_config(
    args: &Args,
    a: &crate::syntax::ast::AgentDecl,
    block: Span,
) -> Result<DqnConfig, Diag> {
    let network = a
        .fields
        .iter()
        .find(|f| f.key.name == "network")
        .and_then(|f| env_call(&f.value))
        .map(|c| c.dotted())
        .ok_or_else(|| {
            Diag::new(
                "amm::agent::network",
                "a `dqn` agent needs `network = <a model>`",
            )
            .primary(block, "no Q-network")
            .help("name a model whose output has one value per action")
        })?;
    let loss = match args.get("loss") {
        None => TdLoss::Huber,
        Some((Value::Str(s), span)) => match s.as_str() {
            "huber" => TdLoss::Huber,
            "mse" => TdLoss::Mse,
            other => {
                return Err(
                    Diag::new("amm::agent::loss", format!("unknown TD loss `{other}`"))
                        .primary(*span, "not a TD loss")
                        .help("use \"huber\" (smooth L1, the default) or \"mse\""),
                );
            }
        },
        Some((v, span)) => return Err(kind(*span, "a string", v)),
    };
    let count = |n: &str, d: u64| args.count(n).map(|v| v.unwrap_or(d));
    let tau = args.f64("tau")?.unwrap_or(1.0);
    let double = match args.get("double") {
        None => false,
        Some((Value::Bool(b), _)) => *b,
        Some((v, span)) => return Err(kind(*span, "a bool", v)),
    };
    let cfg = DqnConfig {
        network,
        loss,
        batch: count("batch", 32)?.max(1) as usize,
        buffer: count("buffer", 100_000)?.max(1) as usize,
        learning_starts: count("learning_starts", 1000)?,
        train_freq: count("train_freq", 4)?.max(1),
        gradient_steps: count("gradient_steps", 1)?,
        target_update: count("target_update", 1000)?.max(1),
        tau: if tau > 0.0 && tau <= 1.0 { tau } else { 1.0 },
        double,
        checkpoint_every: count("checkpoint_every", 0)?,
        checkpoint_episodes: count("checkpoint_episodes", 10)?.max(1),
    };
    // The replay buffer is allocated up front: bound it by memory.
    if cfg.buffer > 50_000_000 || cfg.batch > 1_000_000 {
        let (name, v) = if cfg.buffer > 50_000_000 {
            ("buffer", cfg.buffer)
        } else {
            ("batch", cfg.batch)
        };
        return Err(to_diag(
            &RlError::Argument {
                name: name.into(),
                value: v.to_string(),
                expected: "of at most 50,000,000 (buffer) or 1,000,000 (batch)".into(),
            },
            args.span(name, block),
            "too large",
        ));
    }
    Ok(cfg)
}

fn epsilon(program: &Program, module: ModuleId, e: &Expr) -> Result<Epsilon, Diag> {
    if let ExprKind::Call(c) = &e.kind
        && c.args.is_some()
    {
        let (name, args) = call_args(program, module, Family::Epsilon, c)?;
        let num = |n: &str| -> Result<f64, Diag> {
            args.f64(n)?.ok_or_else(|| {
                Diag::new("amm::arg::missing", format!("`{name}` needs `{n}`"))
                    .primary(c.span, "missing")
            })
        };
        return Ok(match name {
            "constant" => Epsilon::Constant(num("value")?),
            "linear" => Epsilon::Linear {
                from: num("from")?,
                to: num("to")?,
                over: args.count("steps")?.ok_or_else(|| {
                    Diag::new("amm::arg::missing", "`linear` needs `steps`")
                        .primary(c.span, "missing")
                })?,
                unit: Unit::Steps,
            },
            _ => Epsilon::Exponential {
                from: num("from")?,
                to: num("to")?,
                decay: num("decay")?,
            },
        });
    }
    let v = eval(e, &lookup_in(program, module))?;
    v.as_f64()
        .map(Epsilon::Constant)
        .ok_or_else(|| kind(e.span, "a number or an epsilon schedule", &v))
}

fn bins(v: &Value, span: Span) -> Result<Vec<u32>, Diag> {
    let bad = |message: String| {
        to_diag(
            &RlError::Bins {
                message,
                help: "bins are whole numbers ≥ 1, one per observation dimension".to_string(),
            },
            span,
            "here",
        )
    };
    let Value::List(items) = v else {
        return Err(kind(span, "a list of bin counts", v));
    };
    items
        .iter()
        .map(|it| match it {
            Value::Int(i) if (1..=i64::from(u32::MAX)).contains(i) => Ok(*i as u32),
            other => Err(bad(format!("`{other}` is not a bin count"))),
        })
        .collect()
}

/// Checks every env and agent of the root module; returns every problem found.
pub fn check(program: &Program) -> Vec<Diag> {
    let mut diags = Vec::new();
    let Some(root) = program.modules.first() else {
        return diags;
    };
    let mut bad_envs = Vec::new();
    for &id in &root.own {
        if program.def(id).kind == DefKind::Env
            && let Err(d) = env_spec(program, id)
        {
            diags.push(d);
            bad_envs.push(id);
        }
    }
    for &id in &root.own {
        if program.def(id).kind != DefKind::Agent {
            continue;
        }
        if let Err(d) = agent(program, id) {
            // An env error was reported at the env already.
            let env_failed = bad_envs.iter().any(|e| {
                let span = match &program.def(*e).item.kind {
                    ItemKind::Env(env) => env.value.span,
                    _ => program.def(*e).item.span,
                };
                d.primary_span().is_some_and(|s| {
                    s.file == span.file && s.start >= span.start && s.end <= span.end
                })
            });
            if !env_failed {
                diags.push(d);
            }
        }
    }
    diags
}
