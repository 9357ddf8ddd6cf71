//! Value ranges of settings: a learning rate must be positive, a momentum below 1, a batch
//! at least 1, … Checked for every `train`, `agent` and `tune` block before anything runs,
//! with the current param values (so a `--set` that breaks a range is caught too).

use crate::diag::Diag;
use crate::resolve::value::eval;
use crate::resolve::{Program, Value};
use crate::source::Span;
use crate::syntax::ast::{Call, Expr, ExprKind, Field, ItemKind, SpaceEntry};
use crate::tune::strategy::MAX_TRIALS;
use crate::tune::{Dimension, Distribution};

/// An allowed interval.
#[derive(Clone, Copy)]
enum Range {
    /// `> 0`
    Positive,
    /// `≥ 0`
    NonNegative,
    /// `≥ 1`
    AtLeastOne,
    /// `≥ 2`
    AtLeastTwo,
    /// `[0, 1)`
    UnitOpen,
    /// `[0, 1]`
    Unit,
    /// `(0, 1]`
    UnitLeftOpen,
    /// `[1, 256]`: one thread per job.
    Jobs,
    /// `[1, 20]`: a tree's depth (its node arrays grow as 2^depth).
    TreeDepth,
    /// `[2, 255]`: bins per feature (a bin index is a byte).
    Bins,
}

impl Range {
    fn contains(self, v: f64) -> bool {
        match self {
            Range::Positive => v > 0.0,
            Range::NonNegative => v >= 0.0,
            Range::AtLeastOne => v >= 1.0,
            Range::AtLeastTwo => v >= 2.0,
            // Training computes in f32, where 0.99999999999 rounds to 1.
            Range::UnitOpen => (0.0..1.0).contains(&v) && (v as f32) < 1.0,
            Range::Unit => (0.0..=1.0).contains(&v),
            Range::UnitLeftOpen => v > 0.0 && v <= 1.0,
            Range::Jobs => (1.0..=256.0).contains(&v),
            Range::TreeDepth => (1.0..=20.0).contains(&v),
            Range::Bins => (2.0..=255.0).contains(&v),
        }
    }
    fn text(self) -> &'static str {
        match self {
            Range::Positive => "greater than 0",
            Range::NonNegative => "at least 0",
            Range::AtLeastOne => "at least 1",
            Range::AtLeastTwo => "at least 2",
            Range::UnitOpen => "in [0, 1)",
            Range::Unit => "in [0, 1]",
            Range::UnitLeftOpen => "in (0, 1]",
            Range::Jobs => "between 1 and 256",
            Range::TreeDepth => "between 1 and 20",
            Range::Bins => "between 2 and 255",
        }
    }
}

/// (builtin or block field owner, argument, range). `"train"`, `"agent"` and `"tune"` name
/// block fields; other owners are builtin calls.
const RULES: &[(&str, &str, Range)] = &[
    ("train", "epochs", Range::AtLeastOne),
    ("csv", "steps", Range::AtLeastOne),
    ("train", "batch", Range::AtLeastOne),
    ("train", "clip_norm", Range::Positive),
    ("train", "seed", Range::NonNegative),
    ("agent", "alpha", Range::UnitLeftOpen),
    ("agent", "gamma", Range::Unit),
    ("agent", "episodes", Range::AtLeastOne),
    ("agent", "steps", Range::AtLeastOne),
    ("agent", "eval_episodes", Range::AtLeastOne),
    ("agent", "window", Range::AtLeastOne),
    ("agent", "seed", Range::NonNegative),
    ("agent", "epsilon", Range::Unit),
    ("agent", "batch", Range::AtLeastOne),
    ("agent", "buffer", Range::AtLeastOne),
    ("agent", "learning_starts", Range::NonNegative),
    ("agent", "train_freq", Range::AtLeastOne),
    ("agent", "gradient_steps", Range::NonNegative),
    ("agent", "target_update", Range::AtLeastOne),
    ("agent", "tau", Range::UnitLeftOpen),
    ("agent", "clip_norm", Range::Positive),
    ("agent", "tolerance", Range::Positive),
    ("agent", "max_iterations", Range::AtLeastOne),
    ("agent", "horizon", Range::AtLeastOne),
    ("agent", "simulations", Range::AtLeastOne),
    ("agent", "exploration", Range::NonNegative),
    ("agent", "depth", Range::AtLeastOne),
    ("agent", "trees", Range::AtLeastOne),
    ("agent", "rollout_depth", Range::NonNegative),
    ("agent", "prior_visits", Range::NonNegative),
    ("tune", "jobs", Range::Jobs),
    ("tune", "seed", Range::NonNegative),
    ("sgd", "lr", Range::Positive),
    ("sgd", "momentum", Range::UnitOpen),
    ("sgd", "weight_decay", Range::NonNegative),
    ("adam", "lr", Range::Positive),
    ("adam", "beta1", Range::UnitOpen),
    ("adam", "beta2", Range::UnitOpen),
    ("adam", "eps", Range::Positive),
    ("adam", "weight_decay", Range::NonNegative),
    ("adamw", "lr", Range::Positive),
    ("adamw", "beta1", Range::UnitOpen),
    ("adamw", "beta2", Range::UnitOpen),
    ("adamw", "eps", Range::Positive),
    ("adamw", "weight_decay", Range::NonNegative),
    ("cross_entropy", "label_smoothing", Range::UnitOpen),
    ("constant", "warmup", Range::NonNegative),
    ("step", "every", Range::AtLeastOne),
    ("step", "gamma", Range::Positive),
    ("step", "warmup", Range::NonNegative),
    ("cosine", "min_lr", Range::NonNegative),
    ("cosine", "warmup", Range::NonNegative),
    ("linear", "from", Range::Unit),
    ("linear", "to", Range::Unit),
    ("linear", "steps", Range::AtLeastOne),
    ("exponential", "from", Range::Unit),
    ("exponential", "to", Range::Unit),
    ("exponential", "decay", Range::UnitLeftOpen),
    ("random", "trials", Range::AtLeastOne),
    ("bayes", "trials", Range::AtLeastOne),
    ("bayes", "init", Range::AtLeastOne),
    ("bayes", "batch", Range::AtLeastOne),
    ("tpe", "trials", Range::AtLeastOne),
    ("tpe", "startup", Range::NonNegative),
    ("tpe", "batch", Range::AtLeastOne),
    ("tpe", "candidates", Range::AtLeastOne),
    ("tpe", "gamma", Range::UnitLeftOpen),
    ("genetic", "population", Range::AtLeastTwo),
    ("genetic", "generations", Range::AtLeastOne),
    ("median", "warmup", Range::NonNegative),
    ("grid", "slip", Range::UnitOpen),
    ("grid", "max_steps", Range::AtLeastOne),
    ("frozen_lake", "max_steps", Range::AtLeastOne),
    ("cliff_walking", "max_steps", Range::AtLeastOne),
    ("taxi", "max_steps", Range::AtLeastOne),
    ("cartpole", "max_steps", Range::AtLeastOne),
    ("mountain_car", "max_steps", Range::AtLeastOne),
    ("acrobot", "max_steps", Range::AtLeastOne),
    ("boosted_trees", "trees", Range::AtLeastOne),
    ("boosted_trees", "depth", Range::TreeDepth),
    ("boosted_trees", "lr", Range::Positive),
    ("boosted_trees", "min_leaf", Range::AtLeastOne),
    ("boosted_trees", "l2", Range::NonNegative),
    ("boosted_trees", "bins", Range::Bins),
    ("boosted_trees", "early_stopping", Range::AtLeastOne),
    ("decision_tree", "depth", Range::TreeDepth),
    ("decision_tree", "min_leaf", Range::AtLeastOne),
    ("decision_tree", "bins", Range::Bins),
];

/// Argument names of a builtin in positional order.
fn positional(call: &str) -> Vec<&'static str> {
    crate::resolve::schema::BUILTINS
        .iter()
        .find(|b| b.name == call)
        .map(|b| b.args.iter().map(|a| a.name).collect())
        .unwrap_or_default()
}

/// Checks every root-module block's numeric settings.
pub fn check_ranges(program: &Program, diags: &mut Vec<Diag>) {
    for id in &program.modules[0].own {
        let def = program.def(*id);
        let lookup = |name: &str| -> Option<Value> {
            program.param(program.lookup(def.module, name)?).cloned()
        };
        let (owner, fields): (&str, &[Field]) = match &def.item.kind {
            ItemKind::Train(t) => ("train", &t.fields),
            ItemKind::Agent(a) => ("agent", &a.fields),
            ItemKind::Tune(t) => {
                let mut todo: Vec<&SpaceEntry> = t.spaces.iter().flat_map(|s| &s.entries).collect();
                let mut next = 0;
                while let Some(&entry) = todo.get(next) {
                    next += 1;
                    if entry.name.name != "run" {
                        check_space_entry(entry, &lookup, diags);
                    }
                    check_branches(entry, &lookup, diags);
                    todo.extend(entry.branches.iter().flat_map(|b| &b.entries));
                }
                if let Some(f) = t.fields.iter().find(|f| f.key.name == "strategy")
                    && let ExprKind::Call(c) = &f.value.kind
                {
                    check_budget(c, &lookup, diags);
                }
                ("tune", &t.fields)
            }
            ItemKind::Env(e) => {
                if let ExprKind::Call(c) = &e.value.kind {
                    check_call(c, &lookup, diags);
                }
                continue;
            }
            // Tree heads are the only model stages with ranged builtin arguments.
            ItemKind::Model(m) => {
                for stage in &m.stages {
                    if crate::resolve::schema::builtin(
                        crate::resolve::schema::Family::TreeHead,
                        &stage.dotted(),
                    )
                    .is_some()
                    {
                        check_call(stage, &lookup, diags);
                    }
                }
                continue;
            }
            _ => continue,
        };
        for f in fields {
            if let Some((_, _, range)) = RULES
                .iter()
                .find(|(o, a, _)| *o == owner && *a == f.key.name)
            {
                check_value(
                    &f.value,
                    *range,
                    &format!("`{}`", f.key.name),
                    f.key.span,
                    &lookup,
                    diags,
                );
            }
            check_calls_in(&f.value, &lookup, diags);
            if owner == "train" {
                check_f32_args(&f.value, &lookup, diags);
            }
        }
    }
}

/// Training runs in f32: a float setting of a train block (learning rate, decay, schedule
/// factor, …) beyond f32's range would reach the kernels as infinity.
fn check_f32_args(e: &Expr, lookup: &dyn Fn(&str) -> Option<Value>, diags: &mut Vec<Diag>) {
    let limit = f64::from(f32::MAX);
    let mut check = |v: &Expr, at: Span| {
        if let Ok(Value::Float(x)) = eval(v, lookup)
            && x.abs() > limit
        {
            diags.push(
                Diag::new(
                    "amm::value::range",
                    format!("{x} does not fit a 32-bit float (training computes in f32)"),
                )
                .primary(v.span, format!("= {x}"))
                .secondary(at, "")
                .help("use a value of magnitude below 3.4e38"),
            );
        }
    };
    match &e.kind {
        ExprKind::Call(c) => {
            for a in c.arg_list() {
                check(&a.value, a.name.as_ref().map_or(a.value.span, |n| n.span));
            }
        }
        _ => check(e, e.span),
    }
}

fn check_calls_in(e: &Expr, lookup: &dyn Fn(&str) -> Option<Value>, diags: &mut Vec<Diag>) {
    match &e.kind {
        ExprKind::Call(c) => check_call(c, lookup, diags),
        ExprKind::List(items) => items.iter().for_each(|i| check_calls_in(i, lookup, diags)),
        _ => {}
    }
}

fn check_call(c: &Call, lookup: &dyn Fn(&str) -> Option<Value>, diags: &mut Vec<Diag>) {
    let name = c.dotted();
    let order = positional(&name);
    for (i, a) in c.arg_list().iter().enumerate() {
        let arg = match &a.name {
            Some(n) => n.name.as_str(),
            None => match order.get(i) {
                Some(n) => *n,
                None => continue,
            },
        };
        if let Some((_, _, range)) = RULES.iter().find(|(o, x, _)| *o == name && *x == arg) {
            let span = a.name.as_ref().map_or(a.value.span, |n| n.span);
            check_value(
                &a.value,
                *range,
                &format!("`{arg}` of `{name}`"),
                span,
                lookup,
                diags,
            );
        }
    }
}

fn check_value(
    e: &Expr,
    range: Range,
    what: &str,
    at: Span,
    lookup: &dyn Fn(&str) -> Option<Value>,
    diags: &mut Vec<Diag>,
) {
    // Non-constant values (schedules, names of blocks) are checked elsewhere.
    let Ok(v) = eval(e, lookup) else {
        return;
    };
    let Some(x) = v.as_f64() else {
        return;
    };
    if !range.contains(x) {
        diags.push(
            Diag::new(
                "amm::value::range",
                format!("{what} must be {}, got {v}", range.text()),
            )
            .primary(e.span, format!("= {v}"))
            .secondary(at, "")
            .help(format!("choose a value {}", range.text())),
        );
    }
}

/// A call's constant arguments by their schema names (positional ones named in order);
/// arguments that are not constants are left out (resolution reported them).
fn const_args(c: &Call, lookup: &dyn Fn(&str) -> Option<Value>) -> Vec<(String, Value, Span)> {
    let order = positional(&c.dotted());
    let mut pos = 0;
    let mut out = Vec::new();
    for a in c.arg_list() {
        let name = match &a.name {
            Some(n) => n.name.clone(),
            None => {
                pos += 1;
                match order.get(pos - 1) {
                    Some(n) => n.to_string(),
                    None => continue,
                }
            }
        };
        if let Ok(v) = eval(&a.value, lookup) {
            out.push((name, v, a.value.span));
        }
    }
    out
}

/// A whole number that fits an i64, from an int or a whole float (`int(-9e18, 9e18)`).
fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        // 2^63 is the first float above i64::MAX; every float below it with no fraction is
        // exactly an i64.
        Value::Float(f) if f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63) => {
            Some(*f as i64)
        }
        _ => None,
    }
}

/// Checks one searched param's distribution with the tuner's own rules
/// ([`Dimension::validate`]), so `check` rejects every space `run` would.
fn check_space_entry(
    e: &SpaceEntry,
    lookup: &dyn Fn(&str) -> Option<Value>,
    diags: &mut Vec<Diag>,
) {
    let name = e.dist.dotted();
    let args = const_args(&e.dist, lookup);
    let get = |n: &str| args.iter().find(|(k, _, _)| k == n);
    let bad = |diags: &mut Vec<Diag>, span: Span, msg: String, help: &str| {
        diags.push(
            Diag::new("amm::tune::bounds", format!("`{}`: {msg}", e.name.name))
                .primary(span, "here")
                .help(help.to_string()),
        );
    };
    let dist = match name.as_str() {
        "uniform" | "log_uniform" => {
            if name == "log_uniform"
                && let Some(a) = e
                    .dist
                    .arg_list()
                    .iter()
                    .find(|a| a.name.as_ref().is_some_and(|n| n.name == "step"))
            {
                diags.push(
                    Diag::new(
                        "amm::tune::bounds",
                        format!("`{}`: a log scale cannot have a step", e.name.name),
                    )
                    .primary(a.span, "step of a log_uniform")
                    .help("use `uniform(low, high, step = …)` for evenly spaced values, or drop `step` (Optuna's FloatDistribution allows no step with log = True either)"),
                );
                return;
            }
            let (Some(low), Some(high)) = (get("low"), get("high")) else {
                return;
            };
            let (Some(l), Some(h)) = (low.1.as_f64(), high.1.as_f64()) else {
                return;
            };
            match get("step").map(|s| s.1.as_f64()) {
                Some(Some(step)) => Distribution::Quantized {
                    low: l,
                    high: h,
                    step,
                },
                Some(None) => return,
                None => Distribution::Float {
                    low: l,
                    high: h,
                    log: name == "log_uniform",
                },
            }
        }
        "int" => {
            let mut ints = Vec::new();
            for n in ["low", "high", "step"] {
                let Some((_, v, span)) = get(n) else {
                    ints.push(1);
                    continue;
                };
                match whole(v) {
                    Some(i) => ints.push(i),
                    None => {
                        bad(
                            diags,
                            *span,
                            format!(
                                "`{n}` of `int` must be a whole number of at most 64 bits, got {v}"
                            ),
                            "int bounds range from -9223372036854775808 to 9223372036854775807; use `uniform` for reals",
                        );
                        return;
                    }
                }
            }
            let log = matches!(get("log"), Some((_, Value::Bool(true), _)));
            if get("low").is_none() || get("high").is_none() {
                return;
            }
            Distribution::Int {
                low: ints[0],
                high: ints[1],
                log,
                step: ints[2],
            }
        }
        "choice" => Distribution::Choice(
            e.dist
                .arg_list()
                .iter()
                .map(|_| crate::tune::ParamValue::Bool(false))
                .collect(),
        ),
        _ => return,
    };
    let dim = Dimension {
        name: e.name.name.clone(),
        dist,
    };
    if let Err(err) = dim.validate() {
        let help = if matches!(dim.dist, Distribution::Quantized { .. }) {
            "a stepped uniform needs finite bounds with low < high and a step > 0 that divides high - low: `uniform(0, 1, step = 0.1)`"
        } else {
            "bounds must be finite with low < high (low <= high for int), low > 0 for log scales, and step >= 1"
        };
        diags.push(
            Diag::new("amm::tune::bounds", err.to_string())
                .primary(e.dist.span, "this distribution")
                .help(help),
        );
    }
}

/// Checks a choice's branches: each names one of the choice's values, once.
fn check_branches(e: &SpaceEntry, lookup: &dyn Fn(&str) -> Option<Value>, diags: &mut Vec<Diag>) {
    if e.dist.dotted() != "choice" {
        return;
    }
    // `run ~ choice(fit_a, fit_b)` lists blocks by name; other choices list values.
    let value_of = |x: &Expr| -> Option<Value> {
        if e.name.name == "run" {
            match &x.kind {
                ExprKind::Call(c) if c.path.len() == 1 && c.args.is_none() => {
                    Some(Value::Str(c.path[0].name.clone()))
                }
                _ => None,
            }
        } else {
            eval(x, lookup).ok()
        }
    };
    let values: Vec<Option<Value>> = e
        .dist
        .arg_list()
        .iter()
        .map(|a| value_of(&a.value))
        .collect();
    let same = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    let mut taken: Vec<(Value, Span)> = Vec::new();
    for b in &e.branches {
        let Some(v) = value_of(&b.value) else {
            continue;
        };
        let listed: Vec<String> = values.iter().flatten().map(|v| v.to_string()).collect();
        if !values.iter().flatten().any(|c| same(c, &v)) {
            diags.push(
                Diag::new(
                    "amm::tune::branch",
                    format!("`{}` has no value {v}", e.name.name),
                )
                .primary(b.value.span, "not one of the choice's values")
                .secondary(e.dist.span, "the choice")
                .help(format!(
                    "a branch names one of the values: {}",
                    listed.join(", ")
                )),
            );
        } else if let Some((_, prev)) = taken.iter().find(|(t, _)| same(t, &v)) {
            diags.push(
                Diag::new(
                    "amm::tune::branch",
                    format!("`{}` has two branches for {v}", e.name.name),
                )
                .primary(b.value.span, "again here")
                .secondary(*prev, "first here")
                .help("merge the two branches' params into one"),
            );
        } else {
            taken.push((v, b.value.span));
        }
    }
}

/// Bounds a strategy's budget: the trial count, `population * generations` for `genetic`,
/// must be at most [`MAX_TRIALS`] (and must not overflow).
fn check_budget(c: &Call, lookup: &dyn Fn(&str) -> Option<Value>, diags: &mut Vec<Diag>) {
    let name = c.dotted();
    let args = const_args(c, lookup);
    let int = |n: &str, default: i64| {
        args.iter()
            .find(|(k, _, _)| k == n)
            .map_or(Some(default), |(_, v, _)| v.as_i64())
    };
    let total = match name.as_str() {
        "random" | "bayes" | "tpe" => int("trials", 1).map(i128::from),
        // i128: the product of two i64 always fits.
        "genetic" => int("population", 10)
            .zip(int("generations", 10))
            .map(|(p, g)| i128::from(p) * i128::from(g)),
        _ => None,
    };
    let Some(total) = total else {
        return;
    };
    if total > MAX_TRIALS as i128 {
        let what = if name == "genetic" {
            "`population * generations`".to_string()
        } else {
            "`trials`".to_string()
        };
        diags.push(
            Diag::new(
                "amm::tune::budget",
                format!("`{name}` asks for {total} trials; at most {MAX_TRIALS} are allowed"),
            )
            .primary(c.span, format!("{what} is {total}"))
            .help(format!(
                "lower {what} to at most {MAX_TRIALS}; split a larger search into several tune blocks"
            )),
        );
    }
}
