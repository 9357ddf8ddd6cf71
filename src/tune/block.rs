//! A `tune` block as a run: build the study from the block (space, strategy, objective),
//! run it with either an objective formula or a train block re-resolved per trial with the
//! trial's params as `--set` overrides, report each trial as it finishes ([`Event::Trial`])
//! and write `<out>/<tune>/` (the journal, `best.json`, `trials.svg`, `slice.svg`). The CLI
//! only renders.

use std::path::Path;
use std::time::Duration;

use crate::check::ModelSummary;
use crate::data::atomic::write_atomic;
use crate::diag::Diag;
use crate::front::front_end;
use crate::resolve::{DefId, DefKind, ModuleId, Override, Program, Value};
use crate::runtime::backend::BackendKind;
use crate::runtime::train::{EpochRecord, SplitMetrics, train_until};
use crate::syntax::ast::{Call, Expr, ExprKind, ItemKind, SpaceEntry, TuneDecl};
use crate::tune::redis_store::RedisTarget;
use crate::tune::report;
use crate::tune::space::Condition;
use crate::tune::{
    Dimension, Direction, Distribution, Formula, MedianPruner, Monitor, Objective, ParamValue,
    Params, Space, Strategy, StudyConfig, TrialState, run_study,
};

use crate::run::{Event, RunContext, RunFailure};

/// What the objective formula's variables refer to.
#[derive(Clone, Debug)]
enum Var {
    /// The searched param with this index.
    Param(usize),
    /// A metric of the run target: split and metric name.
    Metric(String, String),
    /// A param of the file that is not searched: its default is evaluated per trial,
    /// since it may be computed from searched params (`param y = (x - 3) ^ 2`).
    Derived(String),
}

/// The file's params with a trial's values: searched params take the trial's value, params
/// given with `--set` keep it, every other param's default is evaluated again in
/// declaration order (so `param y = (x - 3) ^ 2` follows `x`).
#[derive(Clone)]
struct DerivedParams<'a> {
    program: &'a Program,
    space: &'a Space,
    set: &'a [Override],
}

impl DerivedParams<'_> {
    /// The value of root param `name` in the trial with `params`.
    fn value(&self, params: &Params, name: &str) -> Result<f64, String> {
        let program = self.program;
        let mut values: std::collections::HashMap<String, Value> = Default::default();
        for &id in &program.modules[0].own {
            let def = program.def(id);
            let ItemKind::Param(p) = &def.item.kind else {
                continue;
            };
            let current = program.param(id).cloned();
            let searched = self
                .space
                .dims
                .iter()
                .position(|d| d.name == def.name)
                // A conditional param absent from the trial keeps its default.
                .filter(|i| self.space.conditions[*i].is_none() || self.space.active(params)[*i]);
            let v = if let Some(i) = searched {
                params.get(i).map(|v| match v {
                    ParamValue::Float(f) => Value::Float(*f),
                    ParamValue::Int(i) => Value::Int(*i),
                    ParamValue::Bool(b) => Value::Bool(*b),
                    ParamValue::Str(s) => Value::Str(s.clone()),
                })
            } else if self.set.iter().any(|o| o.name == def.name) {
                current.clone()
            } else {
                let lookup = |n: &str| {
                    values.get(n).cloned().or_else(|| {
                        program
                            .lookup(ModuleId(0), n)
                            .and_then(|d| program.param(d).cloned())
                    })
                };
                let v = crate::resolve::value::eval(&p.value, &lookup)
                    .map_err(|d| format!("param `{}`: {}", def.name, d.message))?;
                // The declared type (an int default of a float param widens).
                match &current {
                    Some(c) => v.coerce(c.ty()),
                    None => Some(v),
                }
            };
            let Some(v) = v else {
                return Err(format!("param `{}` changes type in this trial", def.name));
            };
            if def.name == name {
                return v
                    .as_f64()
                    .ok_or_else(|| format!("param `{name}` is not a number"));
            }
            values.insert(def.name.clone(), v);
        }
        Err(format!("no param `{name}`"))
    }
}

fn diag(span: crate::source::Span, code: &'static str, msg: String) -> RunFailure {
    RunFailure::Diags(vec![
        Diag::new(code, msg).primary(span, "in this tune block"),
    ])
}

/// Evaluates a constant expression of the tune block against the program's params.
fn constant(program: &Program, e: &Expr) -> Result<Value, Diag> {
    let lookup = |name: &str| {
        program
            .lookup(ModuleId(0), name)
            .and_then(|d| program.param(d).cloned())
    };
    crate::resolve::value::eval(e, &lookup)
}

/// A call's arguments by the schema's positional names.
fn args<'a>(call: &'a Call, names: &[&str]) -> Vec<(String, &'a Expr)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for a in call.arg_list() {
        match &a.name {
            Some(n) => out.push((n.name.clone(), &a.value)),
            None => {
                if let Some(n) = names.get(pos) {
                    out.push((n.to_string(), &a.value));
                }
                pos += 1;
            }
        }
    }
    out
}

fn to_param_value(v: Value, want_float: bool) -> Option<ParamValue> {
    Some(match v {
        Value::Int(i) if want_float => ParamValue::Float(i as f64),
        Value::Int(i) => ParamValue::Int(i),
        Value::Float(f) => ParamValue::Float(f),
        Value::Bool(b) => ParamValue::Bool(b),
        Value::Str(s) => ParamValue::Str(s),
        Value::List(_) => return None,
    })
}

fn field<'a>(t: &'a TuneDecl, name: &str) -> Option<&'a Expr> {
    t.fields
        .iter()
        .find(|f| f.key.name == name)
        .map(|f| &f.value)
}

fn as_call(e: &Expr) -> Option<&Call> {
    match &e.kind {
        ExprKind::Call(c) => Some(c),
        _ => None,
    }
}

/// The space of a tune block, or `None` when it does not build (for `ammc check`, which
/// reports why elsewhere).
pub(crate) fn space_of(program: &Program, t: &TuneDecl) -> Option<Space> {
    build_space(program, t).ok()
}

/// The space of a tune block: its entries in order, each conditional param after the
/// choice whose branch declares it.
fn build_space(program: &Program, t: &TuneDecl) -> Result<Space, RunFailure> {
    let mut dims = Vec::new();
    let mut conditions = Vec::new();
    let entries: Vec<&SpaceEntry> = t.spaces.iter().flat_map(|s| &s.entries).collect();
    add_entries(program, &entries, None, &mut dims, &mut conditions)?;
    Space::conditional(dims, conditions).map_err(|e| {
        let span = t.spaces.first().map_or(t.name.span, |s| s.span);
        diag(span, "amm::tune::space", e.to_string())
    })
}

/// A choice value as the study records it: `run ~ choice(fit_a, fit_b)` lists block names,
/// other choices constants of the param's type.
fn choice_value(
    program: &Program,
    entry: &SpaceEntry,
    e: &Expr,
    param_is_float: bool,
) -> Result<ParamValue, RunFailure> {
    if entry.name.name == "run" {
        return match &e.kind {
            ExprKind::Call(c) if c.path.len() == 1 && c.args.is_none() => {
                Ok(ParamValue::Str(c.path[0].name.clone()))
            }
            _ => Err(diag(
                e.span,
                "amm::tune::type",
                "`run` chooses among block names".into(),
            )),
        };
    }
    let v = constant(program, e).map_err(|d| RunFailure::Diags(vec![d]))?;
    to_param_value(v, param_is_float).ok_or_else(|| {
        diag(
            e.span,
            "amm::tune::type",
            "a choice cannot be a list".into(),
        )
    })
}

/// Adds `entries` (and, depth first, their branches) to the space under `condition`.
fn add_entries(
    program: &Program,
    entries: &[&SpaceEntry],
    condition: Option<Condition>,
    dims: &mut Vec<Dimension>,
    conditions: &mut Vec<Option<Condition>>,
) -> Result<(), RunFailure> {
    for entry in entries {
        let index = dims.len();
        dims.push(Dimension {
            name: entry.name.name.clone(),
            dist: entry_dist(program, entry)?,
        });
        conditions.push(condition.clone());
        let param_is_float = program
            .lookup(ModuleId(0), &entry.name.name)
            .and_then(|d| program.param(d))
            .is_some_and(|v| matches!(v, Value::Float(_)));
        for b in &entry.branches {
            let v = choice_value(program, entry, &b.value, param_is_float)?;
            let k = dims[index].index_of(&v).ok_or_else(|| {
                diag(
                    b.value.span,
                    "amm::tune::branch",
                    format!("`{}` has no value {}", entry.name.name, v.source_text()),
                )
            })?;
            let inner: Vec<&SpaceEntry> = b.entries.iter().collect();
            let c = Condition {
                parent: index,
                values: vec![k],
            };
            add_entries(program, &inner, Some(c), dims, conditions)?;
        }
    }
    Ok(())
}

/// The distribution of one entry.
fn entry_dist(program: &Program, entry: &SpaceEntry) -> Result<Distribution, RunFailure> {
    {
        let num = |e: &Expr| -> Result<f64, RunFailure> {
            constant(program, e)
                .map_err(|d| RunFailure::Diags(vec![d]))?
                .as_f64()
                .ok_or_else(|| diag(e.span, "amm::tune::type", "expected a number".into()))
        };
        let param_is_float = program
            .lookup(ModuleId(0), &entry.name.name)
            .and_then(|d| program.param(d))
            .is_some_and(|v| matches!(v, Value::Float(_)));
        let dist_name = entry.dist.dotted();
        let a = match entry.dist.dotted().as_str() {
            "int" => args(&entry.dist, &["low", "high", "log", "step"]),
            _ => args(&entry.dist, &["low", "high", "step"]),
        };
        let get = |n: &str| a.iter().find(|(k, _)| k == n).map(|(_, e)| *e);
        let need = |n: &str| {
            get(n).ok_or_else(|| {
                diag(
                    entry.dist.span,
                    "amm::arg::missing",
                    format!("`{dist_name}` needs `{n}`"),
                )
            })
        };
        let dist = match dist_name.as_str() {
            "uniform" | "log_uniform" => match get("step") {
                Some(e) if dist_name == "uniform" => Distribution::Quantized {
                    low: num(need("low")?)?,
                    high: num(need("high")?)?,
                    step: num(e)?,
                },
                Some(e) => {
                    return Err(diag(
                        e.span,
                        "amm::tune::bounds",
                        "a log scale cannot have a step".into(),
                    ));
                }
                None => Distribution::Float {
                    low: num(need("low")?)?,
                    high: num(need("high")?)?,
                    log: dist_name == "log_uniform",
                },
            },
            "int" => {
                let log = match get("log") {
                    Some(e) => matches!(constant(program, e), Ok(Value::Bool(true))),
                    None => false,
                };
                // Exact: `as i64` would saturate 1e30 and truncate 2.5 (`check` rejects both).
                let int = |e: &Expr| -> Result<i64, RunFailure> {
                    match constant(program, e).map_err(|d| RunFailure::Diags(vec![d]))? {
                        Value::Int(i) => Ok(i),
                        Value::Float(x)
                            if x.fract() == 0.0 && x >= -(2f64.powi(63)) && x < 2f64.powi(63) =>
                        {
                            Ok(x as i64)
                        }
                        v => Err(diag(
                            e.span,
                            "amm::tune::bounds",
                            format!("{v} is not a 64-bit int"),
                        )),
                    }
                };
                let step = match get("step") {
                    Some(e) => int(e)?,
                    None => 1,
                };
                Distribution::Int {
                    low: int(need("low")?)?,
                    high: int(need("high")?)?,
                    log,
                    step,
                }
            }
            "choice" => {
                let mut values = Vec::new();
                for arg in entry.dist.arg_list() {
                    values.push(choice_value(program, entry, &arg.value, param_is_float)?);
                }
                Distribution::Choice(values)
            }
            other => {
                return Err(diag(
                    entry.dist.span,
                    "amm::tune::distribution",
                    format!("unknown distribution `{other}`"),
                ));
            }
        };
        Ok(dist)
    }
}

fn build_strategy(program: &Program, t: &TuneDecl) -> Result<Strategy, RunFailure> {
    let e = field(t, "strategy")
        .ok_or_else(|| diag(t.name.span, "amm::tune::strategy", "no `strategy`".into()))?;
    let call = as_call(e)
        .ok_or_else(|| diag(e.span, "amm::tune::strategy", "expected a strategy".into()))?;
    let name = call.dotted();
    let names: &[&str] = match name.as_str() {
        "random" => &["trials"],
        "bayes" => &["trials", "init", "batch"],
        "tpe" => &[
            "trials",
            "startup",
            "batch",
            "candidates",
            "gamma",
            "multivariate",
        ],
        _ => &["population", "generations"],
    };
    let a = args(call, names);
    let int = |n: &str, default: Option<i64>| -> Result<usize, RunFailure> {
        let v = match a.iter().find(|(k, _)| k == n) {
            Some((_, e)) => constant(program, e)
                .map_err(|d| RunFailure::Diags(vec![d]))?
                .as_i64()
                .ok_or_else(|| diag(e.span, "amm::tune::type", format!("`{n}` must be an int")))?,
            None => default.ok_or_else(|| {
                diag(
                    call.span,
                    "amm::arg::missing",
                    format!("`{name}` needs `{n}`"),
                )
            })?,
        };
        usize::try_from(v).ok().filter(|v| *v >= 1).ok_or_else(|| {
            diag(
                call.span,
                "amm::tune::budget",
                format!("`{n}` must be at least 1, got {v}"),
            )
        })
    };
    Ok(match name.as_str() {
        "random" => Strategy::Random {
            trials: int("trials", None)?,
        },
        "bayes" => Strategy::Bayes {
            trials: int("trials", None)?,
            init: int("init", Some(10))?,
            batch: int("batch", Some(1))?,
        },
        "tpe" => {
            let value = |n: &str| -> Result<Option<(Value, &Expr)>, RunFailure> {
                match a.iter().find(|(k, _)| k == n) {
                    Some((_, e)) => Ok(Some((
                        constant(program, e).map_err(|d| RunFailure::Diags(vec![d]))?,
                        *e,
                    ))),
                    None => Ok(None),
                }
            };
            // `startup = 0` is allowed (model-based from the first trial, as in Optuna).
            let startup = match value("startup")? {
                Some((v, e)) => v
                    .as_i64()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| {
                        diag(
                            e.span,
                            "amm::tune::type",
                            "`startup` must be an int of at least 0".into(),
                        )
                    })?,
                None => 10,
            };
            let gamma = match value("gamma")? {
                Some((v, e)) => v
                    .as_f64()
                    .filter(|g| *g > 0.0 && *g <= 1.0)
                    .ok_or_else(|| {
                        diag(
                            e.span,
                            "amm::tune::type",
                            "`gamma` must be a number in (0, 1]".into(),
                        )
                    })?,
                None => 0.1,
            };
            let multivariate = match value("multivariate")? {
                Some((Value::Bool(b), _)) => b,
                Some((_, e)) => {
                    return Err(diag(
                        e.span,
                        "amm::tune::type",
                        "`multivariate` must be true or false".into(),
                    ));
                }
                None => true,
            };
            Strategy::Tpe {
                trials: int("trials", None)?,
                startup,
                batch: int("batch", Some(1))?,
                options: crate::tune::tpe::TpeOptions {
                    candidates: int("candidates", Some(24))?,
                    gamma,
                    multivariate,
                },
            }
        }
        "genetic" => Strategy::Genetic {
            population: int("population", Some(10))?,
            generations: int("generations", Some(10))?,
        },
        other => {
            return Err(diag(
                call.span,
                "amm::tune::strategy",
                format!("unknown strategy `{other}`"),
            ));
        }
    })
}

/// The `prune` field: `median(warmup = 1)`.
fn build_pruner(program: &Program, t: &TuneDecl) -> Result<Option<MedianPruner>, RunFailure> {
    let Some(e) = field(t, "prune") else {
        return Ok(None);
    };
    let call = as_call(e)
        .filter(|c| c.dotted() == "median")
        .ok_or_else(|| {
            diag(
                e.span,
                "amm::tune::prune",
                "expected `median(warmup)`".into(),
            )
        })?;
    let warmup = match args(call, &["warmup"]).iter().find(|(k, _)| k == "warmup") {
        Some((_, e)) => constant(program, e)
            .map_err(|d| RunFailure::Diags(vec![d]))?
            .as_i64()
            .and_then(|w| usize::try_from(w).ok())
            .ok_or_else(|| {
                diag(
                    e.span,
                    "amm::tune::type",
                    "`warmup` must be an int of at least 0".into(),
                )
            })?,
        None => 1,
    };
    Ok(Some(MedianPruner::new(warmup)))
}

/// The block's `storage = redis(url, prefix)`, if any.
fn build_storage(program: &Program, t: &TuneDecl) -> Result<Option<RedisTarget>, RunFailure> {
    let Some(e) = field(t, "storage") else {
        return Ok(None);
    };
    let call = as_call(e)
        .filter(|c| c.dotted() == "redis")
        .ok_or_else(|| {
            diag(
                e.span,
                "amm::tune::storage",
                "expected `redis(\"redis://HOST:PORT\")`".into(),
            )
        })?;
    let given = args(call, &["url", "prefix"]);
    let text = |name: &str| -> Result<Option<(String, crate::source::Span)>, RunFailure> {
        match given.iter().find(|(k, _)| k == name) {
            Some((_, e)) => match constant(program, e).map_err(|d| RunFailure::Diags(vec![d]))? {
                crate::resolve::Value::Str(s) => Ok(Some((s, e.span))),
                _ => Err(diag(
                    e.span,
                    "amm::tune::type",
                    format!("`{name}` must be a string"),
                )),
            },
            None => Ok(None),
        }
    };
    let Some((url, span)) = text("url")? else {
        return Err(diag(
            call.span,
            "amm::tune::storage",
            "`redis` needs a `url`".into(),
        ));
    };
    if !url.starts_with("redis://") {
        return Err(RunFailure::Diags(vec![
            Diag::new("amm::tune::storage", format!("`{url}` is not a Redis URL"))
                .primary(span, "expected redis://HOST:PORT[/DB]")
                .help("write the server as `redis://127.0.0.1:6379` (a database number may follow: `/1`)"),
        ]));
    }
    let prefix = text("prefix")?.map(|(p, _)| p).unwrap_or_default();
    Ok(Some(RedisTarget { url, prefix }))
}

/// The objective: direction, formula and what its variables mean.
fn build_objective(
    program: &Program,
    t: &TuneDecl,
    space: &Space,
    has_run: bool,
) -> Result<(Direction, Formula, Vec<Var>), RunFailure> {
    let e = field(t, "objective")
        .ok_or_else(|| diag(t.name.span, "amm::tune::objective", "no `objective`".into()))?;
    let call = as_call(e).ok_or_else(|| {
        diag(
            e.span,
            "amm::tune::objective",
            "expected minimize(…) or maximize(…)".into(),
        )
    })?;
    let direction = match call.dotted().as_str() {
        "minimize" => Direction::Minimize,
        "maximize" => Direction::Maximize,
        other => {
            return Err(diag(
                call.span,
                "amm::tune::objective",
                format!("unknown objective `{other}`"),
            ));
        }
    };
    let inner = call.arg_list().first().map(|a| &a.value).ok_or_else(|| {
        diag(
            call.span,
            "amm::arg::missing",
            "the objective needs a value".into(),
        )
    })?;
    let vars = std::cell::RefCell::new(Vec::<Var>::new());
    let var = |name: &str| -> Option<usize> {
        let v = if let Some(i) = space.dims.iter().position(|d| d.name == name) {
            Var::Param(i)
        } else if program.lookup(ModuleId(0), name).is_some_and(|d| {
            program.def(d).kind == DefKind::Param
                && program.def(d).module == ModuleId(0)
                // Strings and bools stay errors of the formula, reported before any trial.
                && program.param(d).and_then(Value::as_f64).is_some()
        }) {
            Var::Derived(name.to_string())
        } else if let Some((split, metric)) = name.split_once('.') {
            if !has_run {
                return None;
            }
            Var::Metric(split.to_string(), metric.to_string())
        } else {
            return None;
        };
        let mut vs = vars.borrow_mut();
        let key = format!("{v:?}");
        if let Some(i) = vs.iter().position(|x| format!("{x:?}") == key) {
            return Some(i);
        }
        vs.push(v);
        Some(vs.len() - 1)
    };
    let konst = |name: &str| -> Option<f64> {
        program
            .lookup(ModuleId(0), name)
            .filter(|d| program.def(*d).kind == DefKind::Param)
            .and_then(|d| program.param(d))
            .and_then(Value::as_f64)
    };
    let formula = Formula::from_ast(inner, &var, &konst)
        .map_err(|e| diag(inner.span, "amm::tune::formula", e.to_string()))?;
    Ok((direction, formula, vars.into_inner()))
}

/// Objective of a tune block without `run`: the formula of the params.
struct FormulaObjective<'a> {
    formula: Formula,
    vars: Vec<Var>,
    derived: DerivedParams<'a>,
}

impl Objective for FormulaObjective<'_> {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        let values = var_values(&self.vars, params, &self.derived, &|split, name| {
            Err(format!("`{split}.{name}` needs a `run` target"))
        })?;
        self.formula.eval(&values).map_err(|e| e.to_string())
    }
}

/// The tune file re-resolved per trial with the trial's params as `--set` overrides (after
/// any given on the command line), the way a user would rerun it by hand.
struct TrialFile<'a> {
    file: &'a Path,
    bytes: Vec<u8>,
    base: Vec<Override>,
    space: &'a Space,
}

impl TrialFile<'_> {
    /// The program with the trial's params, and the shape checker's model summaries; a
    /// configuration the checker rejects is an error carrying its diagnostics.
    fn program(&self, params: &Params) -> Result<(Program, Vec<ModelSummary>), String> {
        let fe = self.front(params);
        let program = fe.program.map_err(|d| diag_text(&d))?;
        let summaries = crate::check::check(&program, &fe.sources).map_err(|d| diag_text(&d))?;
        Ok((program, summaries))
    }

    /// The Q-networks of the trial's `dqn` agents.
    fn q_networks(&self, params: &Params) -> Result<Vec<ModelSummary>, String> {
        let fe = self.front(params);
        let program = fe.program.map_err(|d| diag_text(&d))?;
        crate::check::q_networks(&program, &fe.sources).map_err(|d| diag_text(&d))
    }

    fn front(&self, params: &Params) -> crate::front::FrontEnd {
        let mut overrides = self.base.clone();
        // Only the params the trial has (a conditional param of another branch keeps its
        // default); `run` picks the block and is no param.
        for (d, v) in self.space.present(params) {
            if d.name == "run" {
                continue;
            }
            overrides.push(Override {
                name: d.name.clone(),
                value: v.source_text(),
            });
        }
        let name = self.file.display().to_string();
        front_end(&name, &self.bytes, Some(self.file), &overrides)
    }
}

/// The objective's variable values: params from the trial, metrics from `metric`.
fn var_values(
    vars: &[Var],
    params: &Params,
    derived: &DerivedParams,
    metric: &dyn Fn(&str, &str) -> Result<f64, String>,
) -> Result<Vec<f64>, String> {
    vars.iter()
        .map(|v| match v {
            // A conditional param absent from the trial: its default, like any other param.
            Var::Param(i)
                if derived.space.conditions[*i].is_some() && !derived.space.active(params)[*i] =>
            {
                derived.value(params, &derived.space.dims[*i].name)
            }
            Var::Param(i) => params
                .get(*i)
                .and_then(ParamValue::as_f64)
                .ok_or_else(|| "a non-numeric param in the objective".to_string()),
            Var::Derived(name) => derived.value(params, name),
            Var::Metric(split, name) => metric(split, name),
        })
        .collect()
}

/// A metric of a train run's final evaluation.
fn train_metric(finals: &[(String, SplitMetrics)], split: &str, name: &str) -> Result<f64, String> {
    let m = finals
        .iter()
        .find(|(s, _)| s == split)
        .map(|(_, m)| m)
        .ok_or_else(|| format!("the run reports no `{split}` split"))?;
    split_metric(m, name).ok_or_else(|| format!("the run reports no metric `{split}.{name}`"))
}

fn split_metric(m: &SplitMetrics, name: &str) -> Option<f64> {
    match name {
        "loss" => Some(m.loss),
        "accuracy" => m.accuracy,
        "mse" => m.mse,
        "mae" => m.mae,
        _ => None,
    }
}

/// Metrics a train target offers: final metrics of these splits (and per epoch on `val`).
const TRAIN_SPLITS: [&str; 2] = ["train", "val"];
/// Metric names of a train target's splits.
const TRAIN_METRICS: [&str; 4] = ["loss", "accuracy", "mse", "mae"];

/// Objective of a tune block with `run = <train block>`: re-resolve, check and train.
struct TrainObjective<'a> {
    trial: TrialFile<'a>,
    target: String,
    formula: Formula,
    vars: Vec<Var>,
    derived: DerivedParams<'a>,
    base_dir: &'a Path,
    out_dir: &'a Path,
    /// Trials run on the JIT with one thread each (`jobs` run them side by side); results
    /// do not depend on the thread count.
    backend: BackendKind,
}

fn diag_text(diags: &[Diag]) -> String {
    diags
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A monitor that records nothing and never stops a trial.
struct Unmonitored;

impl Monitor for Unmonitored {
    fn report(&mut self, _step: usize, _value: f64) -> bool {
        false
    }
}

impl TrainObjective<'_> {
    /// The objective after an epoch, from its validation metrics and mean training loss
    /// (`train.loss`); `None` when it reads a metric not measured per epoch.
    fn epoch_value(&self, params: &Params, record: &EpochRecord) -> Option<f64> {
        let values = var_values(&self.vars, params, &self.derived, &|split, name| {
            match (split, name) {
                ("train", "loss") => Some(record.train_loss),
                ("val", name) => record.val.as_ref().and_then(|m| split_metric(m, name)),
                _ => None,
            }
            .ok_or_else(String::new)
        })
        .ok()?;
        self.formula.eval(&values).ok()
    }
}

impl Objective for TrainObjective<'_> {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        self.evaluate_monitored(params, &mut Unmonitored)
    }

    fn evaluate_monitored(
        &self,
        params: &Params,
        monitor: &mut dyn Monitor,
    ) -> Result<f64, String> {
        let (_, summaries) = self.trial.program(params)?;
        let model = summaries
            .iter()
            .find(|s| s.train == self.target)
            .ok_or_else(|| format!("`train {}` cannot run in this version of ammc", self.target))?;
        let splits = crate::data::load(&model.spec.data, self.base_dir)
            .map_err(|e| format!("cannot load `{}`: {e}", model.spec.data.name))?;
        // Epoch e is Optuna step e − 1.
        let mut stop = |record: &EpochRecord| {
            self.epoch_value(params, record)
                .is_some_and(|v| monitor.report(record.epoch - 1, v))
        };
        let pretrained = crate::pipeline::weight_files(model, self.base_dir, self.out_dir);
        let result = train_until(
            self.backend,
            model,
            &splits,
            &pretrained,
            &mut |_| {},
            &mut stop,
        )
        .map_err(|e| format!("training failed: {e}"))?;
        let values = var_values(&self.vars, params, &self.derived, &|split, name| {
            train_metric(&result.finals, split, name)
        })?;
        self.formula.eval(&values).map_err(|e| e.to_string())
    }
}

/// The metrics an agent run offers a tune objective, with what they mean: the greedy
/// evaluation after training (`eval.`) and the last window of training episodes (`train.`,
/// the last row of the run's progress table).
pub const AGENT_METRICS: [(&str, &str, &str); 6] = [
    (
        "eval",
        "success",
        "fraction of greedy evaluation episodes that reach the goal",
    ),
    (
        "eval",
        "mean_return",
        "mean undiscounted return of the greedy evaluation",
    ),
    (
        "eval",
        "std_return",
        "standard deviation of the evaluation returns",
    ),
    (
        "eval",
        "mean_steps",
        "mean length of the evaluation episodes",
    ),
    (
        "train",
        "mean_return",
        "mean return over the last window of training episodes",
    ),
    (
        "train",
        "success",
        "success rate over the last window of training episodes",
    ),
];

/// A metric of a finished agent run (see [`AGENT_METRICS`]); `last` is its last window row.
fn agent_metric(
    eval: &crate::rl::agent::EvalSummary,
    last: Option<crate::rl::render::WindowRow>,
    split: &str,
    name: &str,
) -> Option<f64> {
    let e = eval;
    match (split, name) {
        ("eval", "success") => Some(e.success_rate),
        ("eval", "mean_return") => Some(e.mean_return),
        ("eval", "std_return") => Some(e.std_return),
        ("eval", "mean_steps") => Some(e.mean_steps),
        ("train", "mean_return") => last.map(|w| w.mean_return),
        ("train", "success") => last.map(|w| w.success_rate),
        _ => None,
    }
}

/// Objective of a tune block with `run = <agent block>`: re-resolve with the trial's params,
/// check, train the agent and evaluate its greedy policy.
struct AgentObjective<'a> {
    trial: TrialFile<'a>,
    target: String,
    formula: Formula,
    vars: Vec<Var>,
    derived: DerivedParams<'a>,
    /// The backend of `dqn` agents' networks (one JIT thread per trial, like train trials).
    backend: BackendKind,
}

impl Objective for AgentObjective<'_> {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        let (program, _) = self.trial.program(params)?;
        let rl = crate::rl::program::check(&program);
        if !rl.is_empty() {
            return Err(diag_text(&rl));
        }
        let id = program
            .lookup(ModuleId(0), &self.target)
            .ok_or_else(|| format!("no agent `{}`", self.target))?;
        let setup = crate::rl::program::agent(&program, id).map_err(|d| diag_text(&[d]))?;
        let cfg = &setup.config;
        // The last window of the whole run, in bounded memory (as `ammc run` reports it).
        let live = match (cfg.window, cfg.budget) {
            (Some(w), _) => Some(w),
            (None, crate::rl::agent::Budget::Episodes(n)) => {
                Some(crate::rl::render::window_size(None, n))
            }
            (None, crate::rl::agent::Budget::Steps(_)) => None,
        };
        let mut curve = crate::rl::curve::Curve::new(live);
        let mut progress = |r: &crate::rl::agent::EpisodeRecord| {
            curve.push(r);
        };
        let fail = |e: crate::rl::RlError| format!("agent `{}`: {e}", self.target);
        let (eval, kept) = match &setup.dqn {
            Some(dqn) => {
                let nets = self.trial.q_networks(params)?;
                let net = nets
                    .iter()
                    .find(|n| n.train == self.target)
                    .ok_or_else(|| format!("agent `{}` has no Q-network", self.target))?;
                let r = crate::rl::dqn::run_until(
                    &setup.env,
                    cfg,
                    dqn,
                    net,
                    self.backend,
                    &mut progress,
                    &|| false,
                )
                .map_err(fail)?;
                (r.eval, r.learned.records)
            }
            None => {
                let r = crate::rl::run(&setup.env, cfg, &mut progress).map_err(fail)?;
                (r.eval, r.learned.records)
            }
        };
        let last = curve.rows(&kept).last().copied();
        let values = var_values(&self.vars, params, &self.derived, &|split, name| {
            agent_metric(&eval, last, split, name)
                .ok_or_else(|| format!("the agent run reports no metric `{split}.{name}`"))
        })?;
        self.formula.eval(&values).map_err(|e| e.to_string())
    }
}

/// Objective of a tune block with `run ~ choice(a, b)`: each trial runs the block it chose.
struct ChoiceObjective<'a> {
    /// Index of `run` in the space.
    dim: usize,
    /// Each block's objective.
    targets: Vec<(String, Box<dyn Objective + 'a>)>,
}

impl ChoiceObjective<'_> {
    fn target(&self, params: &Params) -> Result<&dyn Objective, String> {
        let name = match params.get(self.dim) {
            Some(ParamValue::Str(s)) => s.as_str(),
            _ => return Err("the trial chose no `run` block".into()),
        };
        self.targets
            .iter()
            .find(|(t, _)| t == name)
            .map(|(_, o)| o.as_ref())
            .ok_or_else(|| format!("no block `{name}` to run"))
    }
}

impl Objective for ChoiceObjective<'_> {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        self.target(params)?.evaluate(params)
    }

    fn evaluate_monitored(
        &self,
        params: &Params,
        monitor: &mut dyn Monitor,
    ) -> Result<f64, String> {
        self.target(params)?.evaluate_monitored(params, monitor)
    }
}

/// Reports an objective metric the target can never produce before any trial runs.
fn check_metrics(
    t: &TuneDecl,
    vars: &[Var],
    target: &str,
    kind: Option<DefKind>,
) -> Result<(), RunFailure> {
    let span = field(t, "objective").map_or(t.name.span, |e| e.span);
    for v in vars {
        let Var::Metric(split, name) = v else {
            continue;
        };
        let (known, offered): (bool, Vec<String>) = if kind == Some(DefKind::Agent) {
            (
                AGENT_METRICS
                    .iter()
                    .any(|(s, n, _)| s == split && n == name),
                AGENT_METRICS
                    .iter()
                    .map(|(s, n, _)| format!("{s}.{n}"))
                    .collect(),
            )
        } else {
            (
                TRAIN_SPLITS.contains(&split.as_str()) && TRAIN_METRICS.contains(&name.as_str()),
                TRAIN_SPLITS
                    .iter()
                    .flat_map(|s| TRAIN_METRICS.iter().map(move |m| format!("{s}.{m}")))
                    .collect(),
            )
        };
        if !known {
            let noun = if kind == Some(DefKind::Agent) {
                "agent"
            } else {
                "train"
            };
            return Err(RunFailure::Diags(vec![
                Diag::new(
                    "amm::tune::metric",
                    format!("`{noun} {target}` reports no metric `{split}.{name}`"),
                )
                .primary(span, "in this objective")
                .help(format!("{noun} blocks report: {}", offered.join(", "))),
            ]));
        }
    }
    Ok(())
}

/// The kind of the `run` target.
fn objective_kind(program: &Program, target: Option<&str>) -> Option<DefKind> {
    target
        .and_then(|t| program.lookup(ModuleId(0), t))
        .map(|d| program.def(d).kind)
}

/// Runs one tune block.
pub fn run_tune(
    program: &Program,
    id: DefId,
    file: &Path,
    set: &[Override],
    ctx: &mut RunContext,
) -> Result<(), RunFailure> {
    let def = program.def(id);
    let ItemKind::Tune(t) = &def.item.kind else {
        return Err(RunFailure::Io(format!(
            "`{}` is not a tune block",
            def.name
        )));
    };
    let space = build_space(program, t)?;
    let strategy = build_strategy(program, t)?;
    let run_target = field(t, "run").and_then(as_call).map(|c| c.dotted());
    let (direction, formula, vars) = build_objective(
        program,
        t,
        &space,
        run_target.is_some() || space.dims.iter().any(|d| d.name == "run"),
    )?;
    let int_field = |n: &str, default: i64| -> Result<i64, RunFailure> {
        match field(t, n) {
            Some(e) => constant(program, e)
                .map_err(|d| RunFailure::Diags(vec![d]))?
                .as_i64()
                .ok_or_else(|| diag(e.span, "amm::tune::type", format!("`{n}` must be an int"))),
            None => Ok(default),
        }
    };
    let jobs = int_field("jobs", 1)?.max(1) as usize;
    let seed = int_field("seed", 0)? as u64;
    let dir = ctx.out_dir.join(&def.name);
    let cfg = StudyConfig {
        name: def.name.clone(),
        space: space.clone(),
        strategy,
        direction,
        seed,
        jobs,
        journal: Some(dir.join("study.journal")),
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(10),
        // `--storage` overrides the block's own `storage`.
        redis: match &ctx.tune_storage {
            Some(url) => Some(RedisTarget {
                url: url.clone(),
                prefix: String::new(),
            }),
            None => build_storage(program, t)?,
        },
        prune: build_pruner(program, t)?,
    };
    let derived = DerivedParams {
        program,
        space: &space,
        set,
    };
    // `run ~ choice(fit_a, fit_b)`: one objective per block, picked by the trial's value.
    let run_dim = space.dims.iter().position(|d| d.name == "run");
    let targets: Vec<String> = match (&run_target, run_dim) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(i)) => match &space.dims[i].dist {
            Distribution::Choice(values) => values
                .iter()
                .filter_map(|v| match v {
                    ParamValue::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        (None, None) => Vec::new(),
    };
    let bytes = if targets.is_empty() {
        Vec::new()
    } else {
        std::fs::read(file)
            .map_err(|e| RunFailure::Io(format!("cannot read `{}`: {e}", file.display())))?
    };
    let jit1 = match ctx.backend {
        BackendKind::Jit { gemm, .. } => BackendKind::Jit { threads: 1, gemm },
        other => other,
    };
    let mut by_target: Vec<(String, Box<dyn Objective + '_>)> = Vec::new();
    for target in &targets {
        let kind = program
            .lookup(ModuleId(0), target)
            .map(|d| program.def(d).kind);
        check_metrics(t, &vars, target, kind)?;
        let trial = TrialFile {
            file,
            bytes: bytes.clone(),
            base: set.to_vec(),
            space: &space,
        };
        let o: Box<dyn Objective + '_> = if kind == Some(DefKind::Agent) {
            Box::new(AgentObjective {
                trial,
                target: target.clone(),
                formula: formula.clone(),
                vars: vars.clone(),
                derived: derived.clone(),
                backend: jit1,
            })
        } else {
            Box::new(TrainObjective {
                trial,
                target: target.clone(),
                formula: formula.clone(),
                vars: vars.clone(),
                derived: derived.clone(),
                base_dir: &ctx.base_dir,
                out_dir: &ctx.out_dir,
                backend: jit1,
            })
        };
        by_target.push((target.clone(), o));
    }
    let objective: Box<dyn Objective + '_> = match (run_dim, run_target.is_some()) {
        (Some(dim), false) => Box::new(ChoiceObjective {
            dim,
            targets: by_target,
        }),
        _ => match by_target.pop() {
            Some((_, o)) => o,
            None => Box::new(FormulaObjective {
                formula,
                vars,
                derived,
            }),
        },
    };
    let trains = targets
        .iter()
        .any(|t| objective_kind(program, Some(t)) == Some(DefKind::Train));
    if let Some(p) = cfg.prune {
        if trains {
            ctx.events.emit(Event::Line {
                block: def.name.clone(),
                text: format!(
                    "tune {}: median pruning after {} warm-up epoch{} once {} trials completed",
                    def.name,
                    p.warmup,
                    if p.warmup == 1 { "" } else { "s" },
                    p.startup_trials
                ),
            });
        } else {
            ctx.events.emit(Event::Line {
            block: def.name.clone(),
            text: format!(
                "tune {}: note: `prune` has no effect here: only train targets report per-epoch values",
                def.name
            ),
        });
        }
    }
    ctx.events.emit(Event::Line {
        block: def.name.clone(),
        text: format!(
            "tune {}: {} trials, {jobs} job{}, seed {seed}, {}",
            def.name,
            cfg.strategy.trials(),
            if jobs == 1 { "" } else { "s" },
            match &cfg.redis {
                Some(r) => format!("storage {}", r.url),
                None => format!("journal {}", dir.join("study.journal").display()),
            }
        ),
    });
    // Rows stream as trials finish, whatever stdout is (a pipe, a file, `tee`).
    let events = &mut *ctx.events;
    let mut report_trial = |tr: &crate::tune::Trial| {
        events.emit(Event::Trial {
            block: def.name.clone(),
            number: tr.number as u64,
            state: tr.state.name().to_string(),
            value: tr.value,
            error: tr.error.clone(),
        });
    };
    let result = run_study(&cfg, objective.as_ref(), &mut report_trial)
        .map_err(|e| RunFailure::Io(format!("tune `{}`: {e}", def.name)))?;
    ctx.events.emit(Event::Line {
        block: def.name.clone(),
        text: report::table(&space, &result).trim_end().to_string(),
    });
    let resumed = result.trials.iter().filter(|t| t.resumed).count();
    if resumed > 0 {
        ctx.events.emit(Event::Line {
            block: def.name.clone(),
            text: format!("resumed: {resumed} trials read from the journal"),
        });
    }
    match result.best_trial() {
        Some(b) => {
            ctx.events.emit(Event::Line {
                block: def.name.clone(),
                text: format!(
                    "best trial {}: value {:.6}",
                    b.number,
                    b.value.unwrap_or(f64::NAN)
                ),
            });
            if let Some(block) = report::chosen_block(&space, b) {
                ctx.events.emit(Event::Line {
                    block: def.name.clone(),
                    text: format!(
                        "best block: {block} (`ammc run FILE {block}` with these params)"
                    ),
                });
            }
            ctx.events.emit(Event::Line {
                block: def.name.clone(),
                text: format!("best params: {}", report::set_flags(&space, b)),
            });
        }
        None => ctx.events.emit(Event::Line {
            block: def.name.clone(),
            text: "no trial completed".to_string(),
        }),
    }
    for (state, verb) in [(TrialState::Fail, "failed"), (TrialState::Pruned, "pruned")] {
        let n = result.trials.iter().filter(|t| t.state == state).count();
        if n > 0 {
            ctx.events.emit(Event::Line {
                block: def.name.clone(),
                text: format!("{n} trial{} {verb}", if n == 1 { "" } else { "s" }),
            });
        }
    }
    let io = |e: std::io::Error| RunFailure::Io(format!("cannot write {}: {e}", dir.display()));
    write_atomic(
        &dir.join("best.json"),
        report::best_json(&def.name, &space, direction, &result).as_bytes(),
    )
    .map_err(io)?;
    write_atomic(
        &dir.join("trials.svg"),
        report::svg(&def.name, direction, &result).as_bytes(),
    )
    .map_err(io)?;
    write_atomic(
        &dir.join("slice.svg"),
        report::slice_svg(&def.name, &space, direction, &result).as_bytes(),
    )
    .map_err(io)?;
    ctx.events.emit(Event::Line {
        block: def.name.clone(),
        text: format!(
            "wrote {}/{{study.journal, best.json, trials.svg, slice.svg}}",
            dir.display()
        ),
    });
    Ok(())
}
