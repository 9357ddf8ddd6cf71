//! Names: loads imports, binds every declared name, and checks every reference, call and
//! field against its declaration or the builtin [`schema`]. The result is a [`Program`]:
//! all modules with their scopes, every definition, and the params' values after `--set`.
//!
//! Invariant: a `Program` only exists when resolution reported no error, so later passes can
//! look names up without re-checking them.

mod check;
pub mod dump;
pub mod load;
pub mod schema;
pub mod value;

use std::collections::HashMap;
use std::path::Path;

use crate::diag::{Diag, suggest};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::{Item, ItemKind, NetKind};

pub use load::{ModuleId, STDLIB};
pub use value::{Type, Value};

/// Index of a definition in [`Program::defs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId(pub u32);

/// What a definition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    /// `param`
    Param,
    /// `data`
    Data,
    /// `backbone`
    Backbone,
    /// `head`
    Head,
    /// `model`
    Model,
    /// `train`
    Train,
    /// `tune`
    Tune,
    /// `env`
    Env,
    /// `agent`
    Agent,
}

impl DefKind {
    /// The declaring keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            DefKind::Param => "param",
            DefKind::Data => "data",
            DefKind::Backbone => "backbone",
            DefKind::Head => "head",
            DefKind::Model => "model",
            DefKind::Train => "train",
            DefKind::Tune => "tune",
            DefKind::Env => "env",
            DefKind::Agent => "agent",
        }
    }

    /// The kind as a noun with its article, for messages ("a dataset", "an env").
    pub fn noun(self) -> &'static str {
        match self {
            DefKind::Param => "a param",
            DefKind::Data => "a dataset",
            DefKind::Backbone => "a backbone",
            DefKind::Head => "a head",
            DefKind::Model => "a model",
            DefKind::Train => "a train block",
            DefKind::Tune => "a tune block",
            DefKind::Env => "an env",
            DefKind::Agent => "an agent",
        }
    }

    /// The kind of definition an item makes (`None` for `use`).
    pub fn of(item: &Item) -> Option<DefKind> {
        Some(match &item.kind {
            ItemKind::Use(_) => return None,
            ItemKind::Param(_) => DefKind::Param,
            ItemKind::Data(_) => DefKind::Data,
            ItemKind::Net(n) if n.kind == NetKind::Backbone => DefKind::Backbone,
            ItemKind::Net(_) => DefKind::Head,
            ItemKind::Model(_) => DefKind::Model,
            ItemKind::Train(_) => DefKind::Train,
            ItemKind::Tune(_) => DefKind::Tune,
            ItemKind::Env(_) => DefKind::Env,
            ItemKind::Agent(_) => DefKind::Agent,
        })
    }

    /// Blocks that `ammc run` can execute.
    pub fn is_runnable(self) -> bool {
        matches!(self, DefKind::Train | DefKind::Tune | DefKind::Agent)
    }
}

/// One named declaration.
#[derive(Debug)]
pub struct Def {
    /// Module it was declared in.
    pub module: ModuleId,
    /// Its kind.
    pub kind: DefKind,
    /// Its name.
    pub name: String,
    /// The declaration.
    pub item: Item,
}

/// A module after name binding.
#[derive(Debug)]
pub struct ModuleScope {
    /// Dotted name (`std.heads`) or the root file's name.
    pub name: String,
    /// Names visible in the module: its own declarations and its imports.
    pub scope: HashMap<String, DefId>,
    /// Its own declarations, in source order.
    pub own: Vec<DefId>,
}

/// A `--set name=value` override, parsed from the command line.
#[derive(Clone, Debug)]
pub struct Override {
    /// Param name.
    pub name: String,
    /// Value text as typed (parsed as an `.amm` expression).
    pub value: String,
}

/// A resolved program.
#[derive(Debug)]
pub struct Program {
    /// Modules, root first.
    pub modules: Vec<ModuleScope>,
    /// All definitions of all modules.
    pub defs: Vec<Def>,
    /// Values of the root module's params (defaults, then `--set`).
    pub params: HashMap<DefId, Value>,
    /// Params given by `--set`: the span of the value in the override's own source.
    pub set_by: HashMap<DefId, crate::source::Span>,
    /// Directory of the root file: relative data paths are resolved against it.
    pub root_dir: std::path::PathBuf,
}

impl Program {
    /// The definition with this id.
    pub fn def(&self, id: DefId) -> &Def {
        &self.defs[id.0 as usize]
    }

    /// Looks a name up in a module's scope.
    pub fn lookup(&self, module: ModuleId, name: &str) -> Option<DefId> {
        self.modules
            .get(module.0 as usize)
            .and_then(|m| m.scope.get(name).copied())
    }

    /// The root module's runnable blocks in source order.
    pub fn runnables(&self) -> Vec<DefId> {
        self.modules
            .first()
            .map(|m| {
                m.own
                    .iter()
                    .copied()
                    .filter(|d| self.def(*d).kind.is_runnable())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value of a param.
    pub fn param(&self, id: DefId) -> Option<&Value> {
        self.params.get(&id)
    }
}

/// Loads, binds and checks a program from its root file.
pub fn resolve(
    sources: &mut SourceMap,
    root_name: &str,
    root_text: &str,
    root_path: Option<&Path>,
    overrides: &[Override],
) -> Result<Program, Vec<Diag>> {
    let (loaded, mut diags) = load::load(sources, root_name, root_text, root_path);
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut defs = Vec::new();
    let mut modules = Vec::new();
    // Pass 1: each module's own names.
    for (mi, m) in loaded.modules.iter().enumerate() {
        let mut scope: HashMap<String, DefId> = HashMap::new();
        let mut spans: HashMap<String, Span> = HashMap::new();
        let mut own = Vec::new();
        for item in &m.ast.items {
            let (Some(kind), Some(name)) = (DefKind::of(item), item.name()) else {
                continue;
            };
            if let Some(prev) = spans.get(&name.name) {
                diags.push(
                    Diag::new(
                        "amm::name::duplicate",
                        format!("`{}` is declared twice", name.name),
                    )
                    .primary(name.span, "declared again here")
                    .secondary(*prev, "first declared here")
                    .help("every block is a name bound once; rename one of them"),
                );
                continue;
            }
            let id = DefId(defs.len() as u32);
            defs.push(Def {
                module: ModuleId(mi as u32),
                kind,
                name: name.name.clone(),
                item: item.clone(),
            });
            spans.insert(name.name.clone(), name.span);
            scope.insert(name.name.clone(), id);
            own.push(id);
        }
        modules.push((scope, spans, own));
    }
    // Pass 2: imports.
    let mut imported: Vec<Vec<(String, DefId, Span)>> = vec![Vec::new(); loaded.modules.len()];
    for (mi, m) in loaded.modules.iter().enumerate() {
        for (index, item) in m.ast.items.iter().enumerate() {
            let ItemKind::Use(u) = &item.kind else {
                continue;
            };
            let Some(target) = m.imports.get(&index) else {
                continue;
            };
            let (tscope, _, _) = &modules[target.0 as usize];
            for n in &u.names {
                match tscope.get(&n.name) {
                    Some(id) if defs[id.0 as usize].module == *target => {
                        imported[mi].push((n.name.clone(), *id, n.span));
                    }
                    _ => {
                        let tname = &loaded.modules[target.0 as usize].name;
                        let own_names: Vec<&str> = modules[target.0 as usize]
                            .2
                            .iter()
                            .map(|d: &DefId| defs[d.0 as usize].name.as_str())
                            .collect();
                        let mut d = Diag::new(
                            "amm::name::unknown_import",
                            format!("module `{tname}` has no declaration `{}`", n.name),
                        )
                        .primary(n.span, "not found in that module");
                        d = match suggest(&n.name, own_names.iter().copied()) {
                            Some(s) => d.help(format!("did you mean `{s}`?")),
                            None => d.help(format!("`{tname}` declares: {}", own_names.join(", "))),
                        };
                        diags.push(d);
                    }
                }
            }
        }
    }
    let mut scopes = Vec::new();
    for (mi, (mut scope, spans, own)) in modules.into_iter().enumerate() {
        for (name, id, span) in imported[mi].drain(..) {
            if let Some(prev) = spans.get(&name) {
                diags.push(
                    Diag::new(
                        "amm::name::duplicate",
                        format!("`{name}` is both imported and declared"),
                    )
                    .primary(span, "imported here")
                    .secondary(*prev, "declared here")
                    .help("rename the local declaration or drop the import"),
                );
                continue;
            }
            scope.insert(name, id);
        }
        scopes.push(ModuleScope {
            name: loaded.modules[mi].name.clone(),
            scope,
            own,
        });
    }
    let mut program = Program {
        modules: scopes,
        defs,
        params: HashMap::new(),
        set_by: HashMap::new(),
        root_dir: root_path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    // Pass 3: every reference, call and field; param values and overrides.
    check::check_program(&mut program, sources, overrides, &mut diags);
    if diags.is_empty() {
        Ok(program)
    } else {
        Err(diags)
    }
}
