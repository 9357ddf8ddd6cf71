//! Pass 3 of resolution: every reference, call, argument and field against its declaration
//! or the builtin schema, with static types; param values and `--set` overrides.

use std::collections::{HashMap, HashSet};

use super::schema::{self, ArgSpec, CallSpec, Default, Family, Kind, RefKind};
use super::value::{Type, Value, eval};
use super::{DefId, DefKind, ModuleId, Override, Program};
use crate::diag::{Diag, suggest};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::*;
use crate::syntax::parse_file;

pub(super) fn check_program(
    program: &mut Program,
    sources: &mut SourceMap,
    overrides: &[Override],
    diags: &mut Vec<Diag>,
) {
    let mut c = Checker {
        program,
        diags: Vec::new(),
        param_types: HashMap::new(),
    };
    c.params(sources, overrides);
    let ids: Vec<DefId> = (0..c.program.defs.len() as u32).map(DefId).collect();
    for id in ids {
        c.def(id);
    }
    c.net_cycles();
    diags.append(&mut c.diags);
}

/// Names visible to an expression: the module's scope plus, inside a network body, the
/// network's formal parameters with their static types.
struct Ctx<'a> {
    module: ModuleId,
    formals: &'a HashMap<String, Option<Type>>,
}

struct Checker<'p> {
    program: &'p mut Program,
    diags: Vec<Diag>,
    param_types: HashMap<DefId, Type>,
}

impl Checker<'_> {
    fn err(&mut self, d: Diag) {
        self.diags.push(d);
    }

    // ------------------------------------------------------------------ params

    fn params(&mut self, sources: &mut SourceMap, overrides: &[Override]) {
        let mut ids: Vec<DefId> = Vec::new();
        for m in &self.program.modules {
            ids.extend(
                m.own
                    .iter()
                    .copied()
                    .filter(|d| self.program.def(*d).kind == DefKind::Param),
            );
        }
        for id in ids {
            let def = self.program.def(id);
            let ItemKind::Param(p) = &def.item.kind else {
                continue;
            };
            let p = p.clone();
            let module = def.module;
            let declared = match &p.ty {
                Some(t) => match Type::from_name(&t.name.name) {
                    Some(ty) => Some(ty),
                    None => {
                        self.err(unknown_type(&t.name));
                        continue;
                    }
                },
                None => None,
            };
            let lookup = |name: &str| -> Option<Value> {
                let d = self.program.lookup(module, name)?;
                self.program.params.get(&d).cloned()
            };
            let value = match eval(&p.value, &lookup) {
                Ok(v) => v,
                Err(mut d) => {
                    if d.code == "amm::name::unknown" {
                        d = d.help("a param's default may use params declared above it");
                    }
                    self.err(d);
                    continue;
                }
            };
            let ty = declared.unwrap_or(value.ty());
            let Some(value) = value.clone().coerce(ty) else {
                self.err(
                    Diag::new(
                        "amm::value::type",
                        format!(
                            "param `{}` is declared {} but its default is {}",
                            p.name.name,
                            ty.noun(),
                            value.ty().name()
                        ),
                    )
                    .primary(p.value.span, format!("this is {}", value.ty().noun()))
                    .help(format!(
                        "change the default or declare `: {}`",
                        value.ty().name()
                    )),
                );
                continue;
            };
            self.param_types.insert(id, ty);
            self.program.params.insert(id, value);
            // An override takes effect where its param is declared, so params computed from
            // it below (`param wide = width * 2`) follow the new value.
            if module == ModuleId(0) {
                let name = self.program.def(id).name.clone();
                for o in overrides.iter().filter(|o| o.name == name) {
                    self.apply_override(sources, o);
                }
            }
        }
        // Overrides of names that are not params of the root file (reported there).
        for o in overrides {
            let known = self.program.lookup(ModuleId(0), &o.name).is_some_and(|d| {
                self.program.params.contains_key(&d) && self.program.def(d).module == ModuleId(0)
            });
            if !known {
                self.apply_override(sources, o);
            }
        }
    }

    fn apply_override(&mut self, sources: &mut SourceMap, o: &Override) {
        let text = format!("param {} = {}\n", o.name, o.value);
        let file = sources.add(format!("--set {}", o.name), text.clone());
        let name_span = Span::new(file, 6, 6 + o.name.len());
        let root = ModuleId(0);
        let target = self.program.lookup(root, &o.name).filter(|d| {
            self.program.def(*d).kind == DefKind::Param && self.program.def(*d).module == root
        });
        let Some(target) = target else {
            let names: Vec<String> = self
                .root_params()
                .iter()
                .map(|d| self.program.def(*d).name.clone())
                .collect();
            let mut d = Diag::new(
                "amm::set::unknown",
                format!("`--set {}`: no param named `{}`", o.name, o.name),
            )
            .primary(name_span, "not a param of this file");
            d = match suggest(&o.name, names.iter().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if names.is_empty() => d.help("this file declares no params"),
                None => d.help(format!("the params are: {}", names.join(", "))),
            };
            self.err(d);
            return;
        };
        let parsed = match parse_file(file, &text) {
            Ok(f) => f,
            Err(ds) => {
                self.diags.extend(ds);
                return;
            }
        };
        let Some(ItemKind::Param(p)) = parsed.items.first().map(|i| &i.kind) else {
            self.err(
                Diag::new(
                    "amm::set::syntax",
                    format!("`--set {}={}` is not `name=value`", o.name, o.value),
                )
                .primary(name_span, "here"),
            );
            return;
        };
        let params = self.program.params.clone();
        let lookup = |name: &str| -> Option<Value> {
            let d = self.program.lookup(root, name)?;
            params.get(&d).cloned()
        };
        let value = match eval(&p.value, &lookup) {
            Ok(v) => v,
            Err(d) => {
                self.err(d);
                return;
            }
        };
        let ty = self.param_types.get(&target).copied().unwrap_or(value.ty());
        match value.clone().coerce(ty) {
            Some(v) => {
                self.program.params.insert(target, v);
                self.program.set_by.insert(target, p.value.span);
            }
            None => self.err(
                Diag::new(
                    "amm::set::type",
                    format!(
                        "`--set {}` needs {}, got {}",
                        o.name,
                        ty.noun(),
                        value.ty().noun()
                    ),
                )
                .primary(p.value.span, format!("this is {}", value.ty().noun()))
                .help(format!("`{}` is declared as {}", o.name, ty.noun())),
            ),
        }
    }

    fn root_params(&self) -> Vec<DefId> {
        self.program.modules[0]
            .own
            .iter()
            .copied()
            .filter(|d| self.program.def(*d).kind == DefKind::Param)
            .collect()
    }

    // ------------------------------------------------------------------ definitions

    fn def(&mut self, id: DefId) {
        let def = self.program.def(id);
        let module = def.module;
        let item = def.item.clone();
        let no_formals = HashMap::new();
        let ctx = Ctx {
            module,
            formals: &no_formals,
        };
        match &item.kind {
            ItemKind::Use(_) | ItemKind::Param(_) => {}
            ItemKind::Data(d) => self.builtin_expr(Family::Dataset, &d.value, &ctx),
            ItemKind::Env(e) => self.builtin_expr(Family::Env, &e.value, &ctx),
            ItemKind::Net(n) => self.net(n, module),
            ItemKind::Model(m) => {
                for stage in &m.stages {
                    self.stage(stage, &ctx);
                }
            }
            ItemKind::Train(t) => {
                // A tree head chooses its loss from the labels and needs no optimizer;
                // `check` rejects the neural-only fields it would ignore.
                if self.trains_tree_head(t, &ctx) {
                    let specs: Vec<ArgSpec> = schema::TRAIN_FIELDS
                        .iter()
                        .map(|s| match s.name {
                            "loss" | "optimizer" => ArgSpec {
                                default: Default::Optional,
                                ..*s
                            },
                            _ => *s,
                        })
                        .collect();
                    self.fields(&specs, &t.fields, &t.name, "train", &ctx)
                } else {
                    self.fields(schema::TRAIN_FIELDS, &t.fields, &t.name, "train", &ctx)
                }
            }
            ItemKind::Tune(t) => self.tune(t, &ctx),
            ItemKind::Agent(a) => {
                self.builtin_call(Family::Agent, &a.algo, &ctx);
                self.fields(schema::AGENT_FIELDS, &a.fields, &a.name, "agent", &ctx);
            }
        }
    }

    fn net(&mut self, n: &NetDecl, module: ModuleId) {
        let mut formals: HashMap<String, Option<Type>> = HashMap::new();
        for f in &n.formals {
            if formals.contains_key(&f.name.name) {
                self.err(
                    Diag::new(
                        "amm::name::duplicate",
                        format!("parameter `{}` is declared twice", f.name.name),
                    )
                    .primary(f.name.span, "declared again here"),
                );
                continue;
            }
            let declared = match &f.ty {
                Some(t) => match Type::from_name(&t.name.name) {
                    Some(ty) => Some(ty),
                    None => {
                        self.err(unknown_type(&t.name));
                        None
                    }
                },
                None => None,
            };
            let from_default = match &f.default {
                Some(d) => {
                    let ctx = Ctx {
                        module,
                        formals: &formals,
                    };
                    match self.type_of(d, &ctx) {
                        Ok(t) => t,
                        Err(e) => {
                            self.err(e);
                            None
                        }
                    }
                }
                None => None,
            };
            if let (Some(want), Some(got)) = (declared, from_default)
                && !got.fits(want)
            {
                self.err(
                    Diag::new(
                        "amm::value::type",
                        format!(
                            "default of `{}` is {}, but it is declared {}",
                            f.name.name,
                            got.noun(),
                            want.name()
                        ),
                    )
                    .primary(f.span, "here"),
                );
            }
            formals.insert(f.name.name.clone(), declared.or(from_default));
        }
        let ctx = Ctx {
            module,
            formals: &formals,
        };
        self.layers(&n.body, &ctx);
    }

    fn layers(&mut self, block: &LayerBlock, ctx: &Ctx) {
        for layer in &block.layers {
            match &layer.kind {
                LayerKind::Call(call) => self.layer_call(call, ctx),
                LayerKind::Residual(b) => {
                    if b.layers.is_empty() {
                        self.err(
                            Diag::new("amm::layer::empty", "`residual` block is empty")
                                .primary(b.span, "nothing to add to the input")
                                .help("put the layers of the residual branch inside the braces"),
                        );
                    }
                    self.layers(b, ctx);
                }
                LayerKind::Repeat { args, body } => {
                    let spec = [ArgSpec {
                        name: "count",
                        kind: Kind::Int,
                        default: Default::Required,
                        doc: "",
                    }];
                    let call = Call {
                        path: vec![Ident {
                            name: "repeat".into(),
                            span: layer.span,
                        }],
                        args: Some(args.clone()),
                        span: Span::new(layer.span.file, layer.span.start, body.span.start),
                    };
                    self.args(&spec, false, &call, "repeat", ctx);
                    self.layers(body, ctx);
                }
            }
        }
    }

    fn layer_call(&mut self, call: &Call, ctx: &Ctx) {
        let name = call.dotted();
        if call.path.len() == 1 {
            if let Some(spec) = schema::builtin(Family::Layer, &name) {
                self.args(spec.args, spec.variadic, call, &name, ctx);
                return;
            }
            if let Some(id) = self.program.lookup(ctx.module, &name) {
                let kind = self.program.def(id).kind;
                if matches!(kind, DefKind::Backbone | DefKind::Head) {
                    self.net_args(id, call, ctx, false);
                    return;
                }
                self.err(
                    Diag::new(
                        "amm::name::kind",
                        format!("`{name}` is {}, not a layer", kind.noun()),
                    )
                    .primary(call.path_span(), "used as a layer here"),
                );
                return;
            }
        }
        let mut candidates: Vec<&str> = schema::names(Family::Layer).collect();
        let nets = self.nets_in_scope(ctx.module);
        candidates.extend(nets.iter().map(String::as_str));
        let mut d = Diag::new(
            "amm::name::unknown_layer",
            format!("unknown layer `{name}`"),
        )
        .primary(
            call.path_span(),
            "not a builtin layer or a backbone/head in scope",
        );
        d = match suggest(&name, candidates.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("see docs/language.md for the list of layers"),
        };
        self.err(d);
    }

    fn nets_in_scope(&self, module: ModuleId) -> Vec<String> {
        let mut v: Vec<String> = self.program.modules[module.0 as usize]
            .scope
            .iter()
            .filter(|(_, d)| {
                matches!(
                    self.program.def(**d).kind,
                    DefKind::Backbone | DefKind::Head
                )
            })
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Checks a use of a backbone/head: its formals, plus model-stage modifiers if `stage`.
    fn net_args(&mut self, id: DefId, call: &Call, ctx: &Ctx, stage: bool) {
        let ItemKind::Net(n) = &self.program.def(id).item.kind else {
            return;
        };
        let n = n.clone();
        let mut specs: Vec<ArgSpec> = n
            .formals
            .iter()
            .map(|f| ArgSpec {
                name: f.name.name.as_str(),
                kind: match f.ty.as_ref().and_then(|t| Type::from_name(&t.name.name)) {
                    Some(Type::Int) => Kind::Int,
                    Some(Type::Float) => Kind::Float,
                    Some(Type::Bool) => Kind::Bool,
                    Some(Type::Str) => Kind::Str,
                    _ => Kind::Expr,
                },
                default: if f.default.is_some() {
                    Default::Optional
                } else {
                    Default::Required
                },
                doc: "",
            })
            .collect();
        if stage {
            specs.extend(schema::STAGE_MODIFIERS.iter().copied());
        }
        let name = call.dotted();
        self.args(&specs, false, call, &name, ctx);
    }

    /// Whether the train block's model has a tree head (`boosted_trees(…)`), a builtin
    /// not shadowed by a declared network of the same name.
    fn trains_tree_head(&self, t: &TrainDecl, ctx: &Ctx) -> bool {
        let Some(ExprKind::Call(m)) = t
            .fields
            .iter()
            .find(|f| f.key.name == "model")
            .map(|f| &f.value.kind)
        else {
            return false;
        };
        let Some(id) = self.program.lookup(ctx.module, &m.dotted()) else {
            return false;
        };
        let def = self.program.def(id);
        let ItemKind::Model(model) = &def.item.kind else {
            return false;
        };
        // Any stage: one that is not last is `check`'s error, not a missing loss.
        model.stages.iter().any(|s| {
            let name = s.dotted();
            self.program.lookup(def.module, &name).is_none()
                && schema::builtin(Family::TreeHead, &name).is_some()
        })
    }

    fn stage(&mut self, stage: &Call, ctx: &Ctx) {
        let name = stage.dotted();
        match self.program.lookup(ctx.module, &name) {
            Some(id) if matches!(self.program.def(id).kind, DefKind::Backbone | DefKind::Head) => {
                self.net_args(id, stage, ctx, true);
            }
            Some(id) => {
                let kind = self.program.def(id).kind;
                self.err(
                    Diag::new(
                        "amm::name::kind",
                        format!("`{name}` is {}, not a backbone or head", kind.noun()),
                    )
                    .primary(
                        stage.path_span(),
                        "a model stage must be a backbone or head",
                    ),
                );
            }
            None if schema::builtin(Family::TreeHead, &name).is_some() => {
                if let Some(spec) = schema::builtin(Family::TreeHead, &name) {
                    self.args(spec.args, false, stage, &name, ctx);
                }
            }
            None => {
                let nets = self.nets_in_scope(ctx.module);
                let mut d = Diag::new(
                    "amm::name::unknown",
                    format!("unknown backbone or head `{name}`"),
                )
                .primary(stage.path_span(), "not declared or imported");
                d = if schema::builtin(Family::Layer, &name).is_some() {
                    d.help(format!(
                        "`{name}` is a layer; wrap it in a head: `head h {{ {name}(…) }}`"
                    ))
                } else if let Some(s) = suggest(&name, nets.iter().map(String::as_str)) {
                    d.help(format!("did you mean `{s}`?"))
                } else if name == "classifier" || name == "regressor" || name == "mlp_classifier" {
                    d.help(format!("import it: `use std.heads.{{{name}}}`"))
                } else if name == "mlp" || name == "small_cnn" || name == "lenet5" {
                    d.help(format!("import it: `use std.backbones.{{{name}}}`"))
                } else {
                    d
                };
                self.err(d);
            }
        }
    }

    fn tune(&mut self, t: &TuneDecl, ctx: &Ctx) {
        self.fields(schema::TUNE_FIELDS, &t.fields, &t.name, "tune", ctx);
        match t.spaces.as_slice() {
            [] => self.err(
                Diag::new(
                    "amm::tune::no_space",
                    format!("tune `{}` has no `space`", t.name.name),
                )
                .primary(t.name.span, "nothing to search")
                .help("add `space { lr ~ log_uniform(1e-4, 1e-1) }` naming the params to search"),
            ),
            [space, rest @ ..] => {
                for extra in rest {
                    self.err(
                        Diag::new("amm::tune::two_spaces", "a tune block has one `space`")
                            .primary(extra.span, "second `space`")
                            .secondary(space.span, "first `space`")
                            .help("merge the entries into the first `space`"),
                    );
                }
                let mut seen: HashMap<&str, Span> = HashMap::new();
                self.space_entries(&space.entries, &mut seen, ctx);
                if let Some(prev) = seen.get("run")
                    && let Some(f) = t.fields.iter().find(|f| f.key.name == "run")
                {
                    self.err(
                        Diag::new(
                            "amm::tune::duplicate",
                            "`run` is both a field and searched",
                        )
                        .primary(*prev, "searched here")
                        .secondary(f.key.span, "fixed here")
                        .help("drop the `run` field: `run ~ choice(a, b)` picks the block per trial"),
                    );
                }
            }
        }
        // A URL ammc cannot connect to is caught here, not when the run starts.
        if let Some(f) = t.fields.iter().find(|f| f.key.name == "storage")
            && let ExprKind::Call(c) = &f.value.kind
            && c.dotted() == "redis"
            && let Some(url) = c
                .arg_list()
                .iter()
                .find(|a| a.name.as_ref().is_none_or(|n| n.name == "url"))
            && let ExprKind::Str(text) = &url.value.kind
            && !text.starts_with("redis://")
        {
            self.err(
                Diag::new(
                    "amm::tune::storage",
                    format!("`{text}` is not a Redis URL"),
                )
                .primary(url.value.span, "expected redis://HOST:PORT[/DB]")
                .help("write the server as `redis://127.0.0.1:6379` (a database number may follow: `/1`)"),
            );
        }
        let run = t.fields.iter().find(|f| f.key.name == "run");
        let searched_run = t
            .spaces
            .iter()
            .flat_map(|s| &s.entries)
            .any(|e| e.name.name == "run");
        if run.is_none()
            && !searched_run
            && let Some(obj) = t.fields.iter().find(|f| f.key.name == "objective")
            && let ExprKind::Call(c) = &obj.value.kind
            && let Some(arg) = c.arg_list().first()
            && mentions_metric(&arg.value)
        {
            self.err(
                Diag::new(
                    "amm::tune::no_run",
                    "this objective reads a metric, but the tune block runs nothing",
                )
                .primary(arg.value.span, "a metric of which run?")
                .help("add `run = <train or agent block>`"),
            );
        }
    }

    /// Entries of a space or a branch, and their branches: each param searched once in the
    /// whole tree (a conditional param has one distribution, as in Optuna).
    fn space_entries<'e>(
        &mut self,
        entries: &'e [SpaceEntry],
        seen: &mut HashMap<&'e str, Span>,
        ctx: &Ctx,
    ) {
        for e in entries {
            if let Some(prev) = seen.insert(e.name.name.as_str(), e.name.span) {
                self.err(
                    Diag::new(
                        "amm::tune::duplicate",
                        format!("`{}` is searched twice", e.name.name),
                    )
                    .primary(e.name.span, "again here")
                    .secondary(prev, "first here")
                    .help("a param has one distribution in a space; give each branch its own param (`sgd_lr`, `adam_lr`) or search it outside the branches"),
                );
            }
            self.space_entry(e, ctx);
            if !e.branches.is_empty() && e.dist.dotted() != "choice" {
                self.err(
                    Diag::new(
                        "amm::tune::branch",
                        format!("`{}` has branches but is not a `choice`", e.name.name),
                    )
                    .primary(e.dist.span, "not a choice")
                    .help(format!(
                        "only a choice has branches: `{} ~ choice(a, b) {{ a {{ … }} }}`",
                        e.name.name
                    )),
                );
            }
            for b in &e.branches {
                if e.name.name == "run" {
                    self.reference(RefKind::Runnable, &b.value, ctx, "run");
                } else if let Err(d) = self.type_of(&b.value, ctx) {
                    self.err(d);
                }
                self.space_entries(&b.entries, seen, ctx);
            }
        }
    }

    fn space_entry(&mut self, e: &SpaceEntry, ctx: &Ctx) {
        // `run ~ choice(fit_sgd, fit_adam)`: the block each trial runs.
        if e.name.name == "run" {
            if e.dist.dotted() != "choice" {
                self.err(
                    Diag::new("amm::tune::type", "`run` is searched with `choice`")
                        .primary(e.dist.span, "not a choice")
                        .help("list the blocks: `run ~ choice(fit_sgd, fit_adam)`"),
                );
                return;
            }
            for a in e.dist.arg_list() {
                self.reference(RefKind::Runnable, &a.value, ctx, "run");
            }
            return;
        }
        let target = self
            .program
            .lookup(ctx.module, &e.name.name)
            .filter(|d| self.program.def(*d).kind == DefKind::Param);
        let Some(target) = target else {
            let params: Vec<String> = self
                .root_params()
                .iter()
                .map(|d| self.program.def(*d).name.clone())
                .collect();
            let mut d = Diag::new(
                "amm::tune::not_param",
                format!("`{}` is not a declared param", e.name.name),
            )
            .primary(e.name.span, "only params can be searched");
            d = match suggest(&e.name.name, params.iter().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("declare it first: `param {} = …`", e.name.name)),
            };
            self.err(d);
            return;
        };
        self.builtin_call(Family::Distribution, &e.dist, ctx);
        let Some(ty) = self.param_types.get(&target).copied() else {
            return;
        };
        let dist = e.dist.dotted();
        let bad = match (dist.as_str(), ty) {
            ("uniform" | "log_uniform", Type::Int) => Some(format!(
                "`{}` is an int param; use `int(low, high)`",
                e.name.name
            )),
            ("uniform" | "log_uniform" | "int", Type::Bool | Type::Str | Type::List) => Some(
                format!("`{}` is {} param; use `choice(…)`", e.name.name, ty.noun()),
            ),
            ("int", Type::Float) => None,
            ("choice", _) => {
                for a in e.dist.arg_list() {
                    if let Ok(Some(t)) = self.type_of(&a.value, ctx)
                        && !t.fits(ty)
                    {
                        self.err(
                            Diag::new(
                                "amm::tune::type",
                                format!(
                                    "choice for `{}` is {}, but the param is {}",
                                    e.name.name,
                                    t.noun(),
                                    ty.noun()
                                ),
                            )
                            .primary(a.value.span, "wrong type"),
                        );
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(help) = bad {
            self.err(
                Diag::new(
                    "amm::tune::type",
                    format!("`{dist}` does not fit the type of `{}`", e.name.name),
                )
                .primary(e.dist.span, "here")
                .help(help),
            );
        }
    }

    // ------------------------------------------------------------------ fields and calls

    fn fields(
        &mut self,
        specs: &[ArgSpec<'_>],
        fields: &[Field],
        block: &Ident,
        what: &str,
        ctx: &Ctx,
    ) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for f in fields {
            let Some(spec) = specs.iter().find(|s| s.name == f.key.name) else {
                let mut d = Diag::new(
                    "amm::field::unknown",
                    format!("`{what}` has no field `{}`", f.key.name),
                )
                .primary(f.key.span, "unknown field");
                d = match suggest(&f.key.name, specs.iter().map(|s| s.name)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None if let Some(help) = misplaced_argument(specs, fields, f) => d.help(help),
                    None => d.help(format!(
                        "the fields of `{what}` are: {}",
                        specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                    )),
                };
                self.err(d);
                continue;
            };
            if let Some(prev) = seen.insert(spec.name, f.key.span) {
                self.err(
                    Diag::new(
                        "amm::field::duplicate",
                        format!("field `{}` is set twice", f.key.name),
                    )
                    .primary(f.key.span, "set again here")
                    .secondary(prev, "first set here"),
                );
                continue;
            }
            // A plain number is a constant epsilon schedule.
            if spec.name == "epsilon"
                && let Ok(Some(t)) = self.type_of(&f.value, ctx)
            {
                if !t.fits(Type::Float) {
                    self.err(kind_error(&f.value, "a number or an epsilon schedule", t));
                }
                continue;
            }
            self.value(spec.kind, &f.value, ctx, &f.key.name);
        }
        for spec in specs {
            if spec.default == Default::Required && !seen.contains_key(spec.name) {
                self.err(
                    Diag::new(
                        "amm::field::missing",
                        format!(
                            "`{what} {}` needs {} field",
                            block.name,
                            article(&format!("`{}`", spec.name))
                        ),
                    )
                    .primary(block.span, format!("`{}` is missing", spec.name))
                    .help(format!("add `{} = …` ({})", spec.name, spec.doc)),
                );
            }
        }
        if what == "agent" && seen.contains_key("episodes") && seen.contains_key("steps") {
            let span = seen["steps"];
            self.err(
                Diag::new(
                    "amm::field::conflict",
                    "set `episodes` or `steps`, not both",
                )
                .primary(span, "second budget")
                .help("the budget is either a number of episodes or a number of environment steps"),
            );
        }
    }

    fn args(&mut self, specs: &[ArgSpec<'_>], variadic: bool, call: &Call, what: &str, ctx: &Ctx) {
        let args = call.arg_list();
        if variadic {
            if args.is_empty() {
                self.err(
                    Diag::new(
                        "amm::arg::missing",
                        format!("`{what}` needs at least one value"),
                    )
                    .primary(call.span, "no values")
                    .help(format!("e.g. `{what}(8, 16, 32)`")),
                );
            }
            for a in args {
                if let Some(n) = &a.name {
                    self.err(
                        Diag::new(
                            "amm::arg::unknown",
                            format!("`{what}` takes values, not named arguments"),
                        )
                        .primary(n.span, "named argument")
                        .help(format!("write `{what}(a, b, c)`")),
                    );
                }
                if let Err(e) = self.type_of(&a.value, ctx) {
                    self.err(e);
                }
            }
            return;
        }
        let mut given: HashMap<&str, Span> = HashMap::new();
        let mut saw_named = false;
        for (i, a) in args.iter().enumerate() {
            let spec = match &a.name {
                Some(n) => {
                    saw_named = true;
                    match specs.iter().find(|s| s.name == n.name) {
                        Some(s) => s,
                        None => {
                            let mut d = Diag::new(
                                "amm::arg::unknown",
                                format!("`{what}` has no argument `{}`", n.name),
                            )
                            .primary(n.span, "unknown argument");
                            d = match suggest(&n.name, specs.iter().map(|s| s.name)) {
                                Some(s) => d.help(format!("did you mean `{s}`?")),
                                None if specs.is_empty() => {
                                    d.help(format!("`{what}` takes no arguments"))
                                }
                                None => d.help(signature(what, specs)),
                            };
                            self.err(d);
                            continue;
                        }
                    }
                }
                None => {
                    if saw_named {
                        self.err(
                            Diag::new("amm::arg::order", "positional argument after a named one")
                                .primary(a.span, "positional")
                                .help("put positional arguments first"),
                        );
                        continue;
                    }
                    match specs.get(i) {
                        Some(s) => s,
                        None => {
                            let d = Diag::new(
                                "amm::arg::count",
                                format!(
                                    "`{what}` takes {} argument{}, but {} {} given",
                                    specs.len(),
                                    if specs.len() == 1 { "" } else { "s" },
                                    args.len(),
                                    if args.len() == 1 { "was" } else { "were" }
                                ),
                            )
                            .primary(a.span, "extra argument");
                            let d = if specs.is_empty() {
                                d.help(format!("write `{what}` without arguments"))
                            } else {
                                d.help(signature(what, specs))
                            };
                            self.err(d);
                            continue;
                        }
                    }
                }
            };
            if let Some(prev) = given.insert(spec.name, a.span) {
                self.err(
                    Diag::new(
                        "amm::arg::duplicate",
                        format!("argument `{}` is given twice", spec.name),
                    )
                    .primary(a.span, "again here")
                    .secondary(prev, "first here"),
                );
                continue;
            }
            self.value(spec.kind, &a.value, ctx, spec.name);
        }
        for s in specs {
            if s.default == Default::Required && !given.contains_key(s.name) {
                self.err(
                    Diag::new(
                        "amm::arg::missing",
                        format!("`{what}` needs the argument `{}`", s.name),
                    )
                    .primary(call.span, format!("`{}` is missing", s.name))
                    .help(signature(what, specs)),
                );
            }
        }
    }

    /// Checks that `e` is a value of `kind`.
    fn value(&mut self, kind: Kind, e: &Expr, ctx: &Ctx, what: &str) {
        let want = match kind {
            Kind::Int => Some((Type::Int, "an int")),
            Kind::Float => Some((Type::Float, "a number")),
            Kind::Bool => Some((Type::Bool, "a bool")),
            Kind::Str => Some((Type::Str, "a string")),
            _ => None,
        };
        if let Some((ty, noun)) = want {
            match self.type_of(e, ctx) {
                Ok(Some(t)) if !t.fits(ty) => {
                    self.err(kind_error(e, noun, t).help(format!("`{what}` takes {noun}")))
                }
                Ok(_) => {}
                Err(d) => self.err(d),
            }
            return;
        }
        match kind {
            Kind::NumList => match &e.kind {
                ExprKind::List(items) => {
                    for it in items {
                        match self.type_of(it, ctx) {
                            Ok(Some(t)) if !t.fits(Type::Float) => {
                                self.err(kind_error(it, "a number", t))
                            }
                            Ok(_) => {}
                            Err(d) => self.err(d),
                        }
                    }
                }
                _ => match self.type_of(e, ctx) {
                    Ok(Some(Type::List)) | Ok(None) => {}
                    Ok(Some(t)) => self.err(
                        kind_error(e, "a list of numbers", t)
                            .help(format!("write `{what} = [a, b, …]`")),
                    ),
                    Err(d) => self.err(d),
                },
            },
            Kind::ListOf(family) => match &e.kind {
                ExprKind::List(items) => {
                    for it in items {
                        self.builtin_expr(family, it, ctx);
                    }
                }
                _ => self.err(
                    Diag::new(
                        "amm::value::kind",
                        format!("`{what}` takes a list of {}", plural(family.noun())),
                    )
                    .primary(e.span, "not a list")
                    .help(format!(
                        "write `{what} = [{}]`",
                        schema::names(family).next().unwrap_or("…")
                    )),
                ),
            },
            Kind::Builtin(family) => self.builtin_expr(family, e, ctx),
            Kind::Ref(rk) => self.reference(rk, e, ctx, what),
            Kind::Weights | Kind::Table => {
                let want = if kind == Kind::Weights {
                    SavedRun::Model
                } else {
                    SavedRun::Table
                };
                match &e.kind {
                    ExprKind::Call(c) if c.path.len() == 1 && c.args.is_none() => {
                        self.run_reference(c, ctx, what, want)
                    }
                    _ => match self.type_of(e, ctx) {
                        Ok(Some(t)) if !t.fits(Type::Str) => {
                            self.err(kind_error(e, "a string", t).help(match want {
                                SavedRun::Model => format!(
                                    "`{what}` takes the name of a train block or a safetensors path"
                                ),
                                SavedRun::Table => format!(
                                    "`{what}` takes the name of an agent block or a .npy path"
                                ),
                            }))
                        }
                        Ok(_) => {}
                        Err(d) => self.err(d),
                    },
                }
            }
            Kind::Expr => self.objective_expr(e, ctx),
            Kind::Watch => self.watched_metric(e),
            _ => {}
        }
    }

    fn builtin_expr(&mut self, family: Family, e: &Expr, ctx: &Ctx) {
        match &e.kind {
            ExprKind::Call(call) => self.builtin_call(family, call, ctx),
            _ => self.err(
                Diag::new(
                    "amm::value::kind",
                    format!("expected {}", article(family.noun())),
                )
                .primary(e.span, format!("not {}", article(family.noun())))
                .help(format!(
                    "one of: {}",
                    schema::names(family).collect::<Vec<_>>().join(", ")
                )),
            ),
        }
    }

    fn builtin_call(&mut self, family: Family, call: &Call, ctx: &Ctx) {
        let name = call.dotted();
        let Some(spec): Option<&CallSpec> = schema::builtin(family, &name) else {
            let code = match family {
                Family::Layer => "amm::name::unknown_layer",
                Family::Loss => "amm::name::unknown_loss",
                Family::Optimizer => "amm::name::unknown_optimizer",
                Family::Env => "amm::name::unknown_env",
                Family::Dataset => "amm::name::unknown_dataset",
                Family::Agent => "amm::name::unknown_agent",
                Family::Init => "amm::name::unknown_init",
                _ => "amm::name::unknown_builtin",
            };
            let mut d = Diag::new(code, format!("unknown {} `{name}`", family.noun()))
                .primary(call.path_span(), format!("not {}", article(family.noun())));
            d = match suggest(&name, schema::names(family)) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "the {}s are: {}",
                    family.noun(),
                    schema::names(family).collect::<Vec<_>>().join(", ")
                )),
            };
            self.err(d);
            return;
        };
        self.args(spec.args, spec.variadic, call, &name, ctx);
    }

    fn reference(&mut self, rk: RefKind, e: &Expr, ctx: &Ctx, what: &str) {
        let (wanted, noun): (&[DefKind], &str) = match rk {
            RefKind::Model => (&[DefKind::Model], "model"),
            RefKind::Data => (&[DefKind::Data], "data"),
            RefKind::Env => (&[DefKind::Env], "env"),
            RefKind::Runnable => (&[DefKind::Train, DefKind::Agent], "train or agent"),
        };
        let call = match &e.kind {
            ExprKind::Call(c) if c.path.len() == 1 && c.args.is_none() => c,
            _ => {
                self.err(
                    Diag::new(
                        "amm::value::kind",
                        format!("`{what}` takes the name of {} block", article(noun)),
                    )
                    .primary(e.span, "not a name"),
                );
                return;
            }
        };
        let name = &call.path[0].name;
        match self.program.lookup(ctx.module, name) {
            Some(id) if wanted.contains(&self.program.def(id).kind) => {}
            Some(id) => {
                let kind = self.program.def(id).kind;
                self.err(
                    Diag::new(
                        "amm::name::kind",
                        format!(
                            "`{name}` is {}, but `{what}` needs {}",
                            kind.noun(),
                            article(noun)
                        ),
                    )
                    .primary(call.span, kind.noun()),
                );
            }
            None => {
                let candidates: Vec<String> = self.program.modules[ctx.module.0 as usize]
                    .scope
                    .iter()
                    .filter(|(_, d)| wanted.contains(&self.program.def(**d).kind))
                    .map(|(n, _)| n.clone())
                    .collect();
                let mut d = Diag::new("amm::name::unknown", format!("unknown {noun} `{name}`"))
                    .primary(call.span, "not declared");
                d = match suggest(name, candidates.iter().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None if candidates.is_empty() => d.help(format!(
                        "declare it with `{} {name} …`",
                        noun.split(' ').next().unwrap_or(noun)
                    )),
                    None => d,
                };
                self.err(d);
            }
        }
    }

    /// `metric = val.loss`: a split and a metric that training reports every epoch.
    fn watched_metric(&mut self, e: &Expr) {
        let ok = match &e.kind {
            ExprKind::Call(c) if c.args.is_none() && c.path.len() == 2 => matches!(
                (c.path[0].name.as_str(), c.path[1].name.as_str()),
                ("val", "loss" | "accuracy" | "mse" | "mae") | ("train", "loss")
            ),
            _ => false,
        };
        if !ok {
            self.err(
                Diag::new("amm::train::metric", "not a metric reported every epoch")
                    .primary(e.span, "expected `val.<metric>` or `train.loss`")
                    .help("watch one of val.loss, val.accuracy, val.mse, val.mae, train.loss"),
            );
        }
    }

    /// `weights = pretrain`: a name that must be a train block (a string param is a path).
    /// A `weights` or `rollout` value naming a block: a train block (its trained model) or
    /// an agent block (its run's table), or a param holding a path.
    fn run_reference(&mut self, call: &Call, ctx: &Ctx, what: &str, want: SavedRun) {
        let name = &call.path[0].name;
        let block = match want {
            SavedRun::Model => "train block",
            SavedRun::Table => "agent block",
        };
        match self.program.lookup(ctx.module, name) {
            Some(id) if self.program.def(id).kind == want.kind() => {}
            Some(id) if self.program.def(id).kind == DefKind::Param => {
                match self.program.param(id) {
                    Some(Value::Str(_)) | None => {}
                    Some(v) => self.err(
                        Diag::new(
                            "amm::value::kind",
                            format!(
                                "`{what}` takes {} or a path, not {}",
                                article(block),
                                v.ty().noun()
                            ),
                        )
                        .primary(call.span, "not a path"),
                    ),
                }
            }
            Some(id) => {
                let kind = self.program.def(id).kind;
                self.err(
                    Diag::new(
                        "amm::name::kind",
                        format!(
                            "`{name}` is {}, but `{what}` needs {} or a path",
                            kind.noun(),
                            article(block)
                        ),
                    )
                    .primary(call.span, kind.noun())
                    .help(match want {
                        SavedRun::Model => "name a `train` block of this file (its trained model is loaded), or a safetensors file in quotes".to_string(),
                        SavedRun::Table => "name an `agent` block of this file (its run's qtable.npy is loaded), or a .npy file in quotes".to_string(),
                    }),
                );
            }
            None => {
                let candidates: Vec<String> = self.program.modules[ctx.module.0 as usize]
                    .scope
                    .iter()
                    .filter(|(_, d)| self.program.def(**d).kind == want.kind())
                    .map(|(n, _)| n.clone())
                    .collect();
                let d = Diag::new("amm::name::unknown", format!("unknown {block} `{name}`"))
                    .primary(call.span, "not declared");
                self.err(match suggest(name, candidates.iter().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "a path must be in quotes: `{what} = \"{}\"`",
                        match want {
                            SavedRun::Model => "file.safetensors",
                            SavedRun::Table => "runs/agent/qtable.npy",
                        }
                    )),
                });
            }
        }
    }

    /// An objective: `val.accuracy`-style metrics or arithmetic of params and math functions.
    fn objective_expr(&mut self, e: &Expr, ctx: &Ctx) {
        match &e.kind {
            ExprKind::Call(c) if c.path.len() == 2 && c.args.is_none() => {
                let split = &c.path[0];
                if !["train", "val", "test", "eval"].contains(&split.name.as_str()) {
                    let mut d = Diag::new(
                        "amm::tune::metric",
                        format!("unknown split `{}`", split.name),
                    )
                    .primary(split.span, "expected train, val or eval");
                    if split.name == "test" {
                        d = d.help("tuning reads validation metrics, never test");
                    } else if let Some(s) = suggest(&split.name, ["train", "val", "eval"]) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.err(d);
                } else if split.name == "test" {
                    self.err(
                        Diag::new(
                            "amm::tune::test_metric",
                            "a tune objective must not read test metrics",
                        )
                        .primary(c.span, "test split")
                        .help("use `val.` instead: the test split stays unseen until the end"),
                    );
                }
            }
            ExprKind::Call(c) if c.args.is_some() && c.path.len() == 1 => {
                const FUNCS: [&str; 6] = ["sin", "cos", "exp", "log", "sqrt", "abs"];
                if !FUNCS.contains(&c.path[0].name.as_str()) {
                    let mut d = Diag::new(
                        "amm::name::unknown",
                        format!("unknown function `{}`", c.path[0].name),
                    )
                    .primary(c.path_span(), "not a math function");
                    d = match suggest(&c.path[0].name, FUNCS) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("the functions are: {}", FUNCS.join(", "))),
                    };
                    self.err(d);
                }
                for a in c.arg_list() {
                    self.objective_expr(&a.value, ctx);
                }
            }
            ExprKind::Call(c) if c.path.len() == 1 && c.path[0].name == "pi" => {}
            ExprKind::Neg(inner) => self.objective_expr(inner, ctx),
            ExprKind::Binary(_, l, r) => {
                self.objective_expr(l, ctx);
                self.objective_expr(r, ctx);
            }
            _ => {
                if let Err(mut d) = self.type_of(e, ctx) {
                    // `maximize(accuracy)`: a metric named without its split.
                    const METRICS: [&str; 8] = [
                        "loss",
                        "accuracy",
                        "mse",
                        "mae",
                        "success",
                        "mean_return",
                        "std_return",
                        "mean_steps",
                    ];
                    if let ExprKind::Call(c) = &e.kind
                        && d.code == "amm::name::unknown"
                        && c.path.len() == 1
                        && METRICS.contains(&c.path[0].name.as_str())
                    {
                        let m = &c.path[0].name;
                        let split = if ["loss", "accuracy", "mse", "mae"].contains(&m.as_str()) {
                            "val"
                        } else {
                            "eval"
                        };
                        d = d.help(format!(
                            "a metric is read from a split: write `{split}.{m}` (train blocks report `train.` and `val.` metrics, agents `eval.` and `train.`)"
                        ));
                    }
                    self.err(d);
                }
            }
        }
    }

    /// Static type of a constant expression; `None` when it depends on an untyped formal.
    fn type_of(&self, e: &Expr, ctx: &Ctx) -> Result<Option<Type>, Diag> {
        Ok(match &e.kind {
            ExprKind::Int(_) => Some(Type::Int),
            ExprKind::Float(_) => Some(Type::Float),
            ExprKind::Bool(_) => Some(Type::Bool),
            ExprKind::Str(_) => Some(Type::Str),
            ExprKind::List(items) => {
                for it in items {
                    self.type_of(it, ctx)?;
                }
                Some(Type::List)
            }
            ExprKind::Call(c) => {
                if c.path.len() != 1 || c.args.is_some() {
                    return Err(Diag::new(
                        "amm::value::not_constant",
                        format!("`{}` is not a value", c.dotted()),
                    )
                    .primary(
                        c.span,
                        "expected a number, string, bool, list or param here",
                    ));
                }
                let name = &c.path[0].name;
                if let Some(t) = ctx.formals.get(name) {
                    return Ok(*t);
                }
                match self.program.lookup(ctx.module, name) {
                    Some(id) if self.program.def(id).kind == DefKind::Param => {
                        self.param_types.get(&id).copied()
                    }
                    Some(id) => {
                        let kind = self.program.def(id).kind;
                        return Err(Diag::new(
                            "amm::name::kind",
                            format!("`{name}` is {}, not a value", kind.noun()),
                        )
                        .primary(
                            c.span,
                            "expected a number, string, bool, list or param here",
                        ));
                    }
                    None => {
                        let mut names: Vec<String> = ctx.formals.keys().cloned().collect();
                        names.extend(
                            self.program.modules[ctx.module.0 as usize]
                                .scope
                                .iter()
                                .filter(|(_, d)| self.program.def(**d).kind == DefKind::Param)
                                .map(|(n, _)| n.clone()),
                        );
                        names.sort();
                        let mut d =
                            Diag::new("amm::name::unknown", format!("unknown name `{name}`"))
                                .primary(c.span, "not a param or argument in scope");
                        if let Some(s) = suggest(name, names.iter().map(String::as_str)) {
                            d = d.help(format!("did you mean `{s}`?"));
                        } else if schema::BUILTINS.iter().any(|b| b.name == name) {
                            d = d.help(format!(
                                "`{name}` is a builtin, but a plain value is expected here"
                            ));
                        } else {
                            d = d.help(format!("declare it: `param {name} = …`"));
                        }
                        return Err(d);
                    }
                }
            }
            ExprKind::Neg(inner) => match self.type_of(inner, ctx)? {
                Some(t @ (Type::Int | Type::Float)) => Some(t),
                None => None,
                Some(t) => return Err(kind_error(inner, "a number", t)),
            },
            ExprKind::Binary(op, l, r) => {
                let (lt, rt) = (self.type_of(l, ctx)?, self.type_of(r, ctx)?);
                match (lt, rt) {
                    (Some(Type::Str), Some(Type::Str)) if *op == BinOp::Add => Some(Type::Str),
                    (Some(a), _) if !matches!(a, Type::Int | Type::Float) => {
                        return Err(kind_error(l, "a number", a));
                    }
                    (_, Some(b)) if !matches!(b, Type::Int | Type::Float) => {
                        return Err(kind_error(r, "a number", b));
                    }
                    (Some(Type::Int), Some(Type::Int)) => Some(Type::Int),
                    (Some(_), Some(_)) => Some(Type::Float),
                    _ => None,
                }
            }
        })
    }

    /// A backbone or head that uses itself, directly or through others, would be infinite.
    fn net_cycles(&mut self) {
        let nets: Vec<DefId> = (0..self.program.defs.len() as u32)
            .map(DefId)
            .filter(|d| matches!(self.program.def(*d).kind, DefKind::Backbone | DefKind::Head))
            .collect();
        let mut uses: HashMap<DefId, Vec<(DefId, Span)>> = HashMap::new();
        for &n in &nets {
            let def = self.program.def(n);
            let ItemKind::Net(decl) = &def.item.kind else {
                continue;
            };
            let mut out = Vec::new();
            collect_net_uses(&decl.body, &mut |name, span| {
                if let Some(id) = self.program.lookup(def.module, name)
                    && matches!(self.program.def(id).kind, DefKind::Backbone | DefKind::Head)
                {
                    out.push((id, span));
                }
            });
            uses.insert(n, out);
        }
        // Only a net in a cyclic strongly connected component can reach itself, and only
        // through members of that component: the search below is restricted to them, and
        // run from a few starts per component, so long chains of nets cost linear time.
        let index: HashMap<DefId, usize> = nets.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let adjacency: Vec<Vec<usize>> = nets
            .iter()
            .map(|n| {
                uses.get(n)
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter_map(|(d, _)| index.get(d).copied())
                    .collect()
            })
            .collect();
        let component = strongly_connected(&adjacency);
        let mut size: HashMap<usize, usize> = HashMap::new();
        for c in &component {
            *size.entry(*c).or_insert(0) += 1;
        }
        let cyclic = |i: usize| size[&component[i]] > 1 || adjacency[i].contains(&i);
        let mut starts_per_component: HashMap<usize, usize> = HashMap::new();
        let mut reported = HashSet::new();
        for (i, &start) in nets.iter().enumerate() {
            if !cyclic(i) {
                continue;
            }
            let tried = starts_per_component.entry(component[i]).or_insert(0);
            *tried += 1;
            if *tried > MAX_CYCLE_REPORTS {
                continue;
            }
            let own = component[i];
            let same_component = |d: DefId| index.get(&d).is_some_and(|j| component[*j] == own);
            // Depth-first search for a path back to `start`.
            let mut stack = vec![(start, 0usize)];
            let mut path: Vec<(DefId, Span)> = Vec::new();
            let mut visited = HashSet::new();
            while let Some((node, idx)) = stack.pop() {
                let edges = uses.get(&node).map_or(&[][..], Vec::as_slice);
                if idx < edges.len() {
                    stack.push((node, idx + 1));
                    let (next, span) = edges[idx];
                    if next == start {
                        if reported.insert(start) {
                            let name = &self.program.def(start).name;
                            let first_span = path.first().map_or(span, |p| p.1);
                            let via: Vec<&str> = path
                                .iter()
                                .map(|(d, _)| self.program.def(*d).name.as_str())
                                .collect();
                            let chain = if via.is_empty() {
                                format!("`{name}` uses itself")
                            } else {
                                format!("`{name}` uses itself through {}", via.join(" -> "))
                            };
                            self.diags.push(
                                Diag::new("amm::name::recursive_net", chain)
                                    .primary(first_span, "this use leads back")
                                    .help("networks are finite; use `repeat(n) { … }` to repeat layers"),
                            );
                        }
                        continue;
                    }
                    if same_component(next) && visited.insert(next) {
                        path.push((next, span));
                        stack.push((next, 0));
                    }
                } else if path.last().is_some_and(|(d, _)| *d == node) {
                    path.pop();
                }
            }
        }
    }
}

/// Nets of one cycle group reported as recursive (each with its own path back); more say
/// nothing new.
const MAX_CYCLE_REPORTS: usize = 4;

/// The strongly connected component of each node (Tarjan's algorithm with an explicit
/// stack, so a chain of thousands of nets cannot overflow the call stack).
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<usize> {
    let n = adjacency.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![usize::MAX; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut next_component = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to follow)
        let mut work = vec![(root, 0usize)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = adjacency[v].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = next_component;
                    if w == v {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

fn collect_net_uses(block: &LayerBlock, f: &mut dyn FnMut(&str, Span)) {
    for l in &block.layers {
        match &l.kind {
            LayerKind::Call(c) if c.path.len() == 1 => f(&c.path[0].name, c.span),
            LayerKind::Call(_) => {}
            LayerKind::Residual(b) | LayerKind::Repeat { body: b, .. } => collect_net_uses(b, f),
        }
    }
}

fn mentions_metric(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Call(c) if c.path.len() >= 2 => true,
        ExprKind::Call(c) => c.arg_list().iter().any(|a| mentions_metric(&a.value)),
        ExprKind::Neg(i) => mentions_metric(i),
        ExprKind::Binary(_, l, r) => mentions_metric(l) || mentions_metric(r),
        _ => false,
    }
}

fn unknown_type(t: &Ident) -> Diag {
    let mut d = Diag::new(
        "amm::name::unknown_type",
        format!("unknown type `{}`", t.name),
    )
    .primary(t.span, "not a type");
    d = match suggest(&t.name, ["int", "float", "bool", "str"]) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("the types are int, float, bool and str"),
    };
    d
}

fn kind_error(e: &Expr, noun: &str, got: Type) -> Diag {
    Diag::new(
        "amm::value::type",
        format!("expected {noun}, found {}", got.noun()),
    )
    .primary(e.span, format!("this is {}", got.noun()))
}

fn signature(what: &str, specs: &[ArgSpec<'_>]) -> String {
    let parts: Vec<String> = specs
        .iter()
        .map(|s| match s.default {
            Default::Required => s.name.to_string(),
            Default::Optional => format!("{} = …", s.name),
            Default::Int(v) => format!("{} = {v}", s.name),
            Default::Float(v) => format!("{} = {}", s.name, crate::syntax::pretty::float_text(v)),
            Default::Bool(v) => format!("{} = {v}", s.name),
            Default::Str(v) => format!("{} = {v:?}", s.name),
        })
        .collect();
    format!("usage: {what}({})", parts.join(", "))
}

/// "a model", "an env": the word with its indefinite article.
/// `search strategy` → `search strategies`, `loss` → `losses`, `layer` → `layers`.
fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if noun.ends_with('s') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn article(word: &str) -> String {
    // A backticked name reads by its first letter (`an `optimizer``).
    let an = word
        .trim_start_matches('`')
        .starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if an { "an" } else { "a" })
}

/// A field that is really an argument of another field's builtin (`lr` inside `train`
/// belongs to the optimizer): the help shows the right form, built from the value the block
/// already has for that field (`optimizer = adam` → `optimizer = adam(lr = 0.01)`).
fn misplaced_argument(specs: &[ArgSpec<'_>], fields: &[Field], f: &Field) -> Option<String> {
    let name = f.key.name.as_str();
    for spec in specs {
        let Kind::Builtin(family) = spec.kind else {
            continue;
        };
        // The builtin the block uses for that field, else the first of the family that
        // takes this argument.
        let current = fields
            .iter()
            .find(|g| g.key.name == spec.name)
            .and_then(|g| match &g.value.kind {
                ExprKind::Call(c) => Some(c),
                _ => None,
            });
        let takes = |b: &CallSpec| b.args.iter().any(|a| a.name == name);
        let Some(chosen) = current
            .and_then(|c| schema::builtin(family, &c.dotted()))
            .filter(|b| takes(b))
            .or_else(|| {
                schema::BUILTINS
                    .iter()
                    .find(|b| b.family == family && takes(b))
            })
        else {
            continue;
        };
        let value = crate::syntax::pretty::expr(&f.value);
        let other_args = current
            .filter(|c| c.dotted() == chosen.name)
            .map(|c| {
                c.arg_list()
                    .iter()
                    .filter(|a| a.name.as_ref().is_none_or(|n| n.name != name))
                    .map(|a| match &a.name {
                        Some(n) => {
                            format!("{} = {}", n.name, crate::syntax::pretty::expr(&a.value))
                        }
                        None => crate::syntax::pretty::expr(&a.value),
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mut args = other_args;
        args.push(format!("{name} = {value}"));
        return Some(format!(
            "`{name}` is an argument of the {}, not a field: write `{} = {}({})`",
            spec.name,
            spec.name,
            chosen.name,
            args.join(", ")
        ));
    }
    None
}

/// What a reference to a block's saved run loads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SavedRun {
    /// A train block's trained model (`weights`).
    Model,
    /// An agent block's table (`rollout`).
    Table,
}

impl SavedRun {
    fn kind(self) -> DefKind {
        match self {
            SavedRun::Model => DefKind::Train,
            SavedRun::Table => DefKind::Agent,
        }
    }
}
