//! Value ranges of settings: a learning rate must be positive, a momentum below 1, a batch
//! at least 1, … Checked for every `train`, `agent` and `tune` block before anything runs,
//! with the current param values (so a `--set` that breaks a range is caught too).

use crate::diag::Diag;
use crate::resolve::value::eval;
use crate::resolve::{Program, Value};
use crate::source::Span;
use crate::syntax::ast::{Call, Expr, ExprKind, Field, ItemKind};

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
}

impl Range {
    fn contains(self, v: f64) -> bool {
        match self {
            Range::Positive => v > 0.0,
            Range::NonNegative => v >= 0.0,
            Range::AtLeastOne => v >= 1.0,
            Range::AtLeastTwo => v >= 2.0,
            Range::UnitOpen => (0.0..1.0).contains(&v),
            Range::Unit => (0.0..=1.0).contains(&v),
            Range::UnitLeftOpen => v > 0.0 && v <= 1.0,
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
        }
    }
}

/// (builtin or block field owner, argument, range). `"train"`, `"agent"` and `"tune"` name
/// block fields; other owners are builtin calls.
const RULES: &[(&str, &str, Range)] = &[
    ("train", "epochs", Range::AtLeastOne),
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
    ("tune", "jobs", Range::AtLeastOne),
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
    ("genetic", "population", Range::AtLeastTwo),
    ("genetic", "generations", Range::AtLeastOne),
    ("median", "warmup", Range::NonNegative),
    ("grid", "slip", Range::UnitOpen),
    ("grid", "max_steps", Range::AtLeastOne),
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
            ItemKind::Tune(t) => ("tune", &t.fields),
            ItemKind::Env(e) => {
                if let ExprKind::Call(c) = &e.value.kind {
                    check_call(c, &lookup, diags);
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
        }
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
