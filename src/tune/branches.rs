//! Shape-checking the branches of a search space: `ammc check` checks a file with its params'
//! defaults, but a tune block runs it with other values — `units ~ choice(16, 64)`, a
//! conditional param that exists only in one branch. Each discrete value the space can give
//! is checked here the way a trial would see it: the file re-resolved with the value (and the
//! branch values above it) as `--set` overrides, then the shape checker and the Q-network
//! checker. A value that breaks the file is reported with the checker's own diagnostic plus a
//! note naming the tune block, the param and the value.
//!
//! What is enumerated, bounded by [`MAX_BRANCH_CHECKS`] per tune block: every value of every
//! `choice` (each one with the other params at their defaults, so the cost is the sum of
//! the choices' sizes, not their product) and both ends of every `int` range (shape errors
//! grow with sizes: the smallest and the largest are the ones that break). Real-valued ranges
//! are not enumerated.

use std::path::Path;

use crate::diag::Diag;
use crate::front::front_end;
use crate::resolve::{ModuleId, Override, Program, Value};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::{ItemKind, SpaceEntry, TuneDecl};

use super::space::{Distribution, ParamValue, Space};

/// Most variants checked per tune block.
pub const MAX_BRANCH_CHECKS: usize = 64;

/// A value of a search space that the checker rejects: its diagnostics, rendered with the
/// sources of the re-resolved file (the root file keeps its id, so spans in it still point
/// at the user's file).
#[derive(Debug)]
pub struct BranchFailure {
    /// Every file the re-resolution read, for rendering.
    pub sources: SourceMap,
    /// The checker's diagnostics, the first carrying a note on the branch.
    pub diags: Vec<Diag>,
}

/// One value to check: the overrides that give it and what to call it.
struct Variant {
    /// The searched param and its value.
    name: String,
    value: ParamValue,
    /// The branch values that make the param exist, outermost first.
    branch: Vec<Override>,
    /// `--set` overrides: the command line's, the branch values, then the param.
    overrides: Vec<Override>,
}

/// Checks every tune block of the root module of `program` (read from `bytes`, named
/// `name`, at `path`) under each discrete value of its space; `set` are the command line's
/// own overrides. At most one failure per searched param is returned.
pub fn check_branches(
    program: &Program,
    name: &str,
    bytes: &[u8],
    path: Option<&Path>,
    set: &[Override],
) -> Vec<BranchFailure> {
    let mut out = Vec::new();
    for &id in &program.modules[0].own {
        let def = program.def(id);
        let ItemKind::Tune(t) = &def.item.kind else {
            continue;
        };
        let Some(space) = super::block::space_of(program, t) else {
            // A space that does not build is reported by the tune pass itself.
            continue;
        };
        let mut failed: Vec<String> = Vec::new();
        for v in variants(program, &space, set) {
            if failed.contains(&v.name) {
                continue;
            }
            let fe = front_end(name, bytes, path, &v.overrides);
            let diags = match &fe.program {
                Err(d) => d.clone(),
                Ok(p) => match crate::check::check(p, &fe.sources) {
                    Err(d) => d,
                    Ok(_) => match crate::check::q_networks(p, &fe.sources) {
                        Err(d) => d,
                        Ok(_) => continue,
                    },
                },
            };
            failed.push(v.name.clone());
            out.push(BranchFailure {
                diags: with_note(diags, &def.name, t, &v),
                sources: fe.sources,
            });
        }
    }
    out
}

/// The values to check, in space order, at most [`MAX_BRANCH_CHECKS`].
fn variants(program: &Program, space: &Space, set: &[Override]) -> Vec<Variant> {
    let mut out = Vec::new();
    for (i, d) in space.dims.iter().enumerate() {
        // `run` picks a block, which `check` checks anyway; a value given with `--set`
        // stays fixed in every trial.
        if d.name == "run" || set.iter().any(|o| o.name == d.name) {
            continue;
        }
        let current = program
            .lookup(ModuleId(0), &d.name)
            .and_then(|p| program.param(p));
        let values: Vec<ParamValue> = match &d.dist {
            Distribution::Choice(values) => values.clone(),
            Distribution::Int { low, high, .. } => {
                let last = match d.from_unit(1.0) {
                    ParamValue::Int(h) => h,
                    _ => *high,
                };
                if last == *low {
                    vec![ParamValue::Int(*low)]
                } else {
                    vec![ParamValue::Int(*low), ParamValue::Int(last)]
                }
            }
            _ => continue,
        };
        // The branch values that make the param exist, outermost first.
        let mut above = Vec::new();
        let mut c = space.conditions[i].as_ref();
        while let Some(cond) = c {
            let parent = &space.dims[cond.parent];
            if let (Distribution::Choice(vs), Some(k)) = (&parent.dist, cond.values.first())
                && parent.name != "run"
            {
                above.push(Override {
                    name: parent.name.clone(),
                    value: vs[*k].source_text(),
                });
            }
            c = space.conditions[cond.parent].as_ref();
        }
        above.reverse();
        for v in values {
            // The default is what `check` checked already.
            if current.is_some_and(|c| same(&v, c)) {
                continue;
            }
            if out.len() == MAX_BRANCH_CHECKS {
                return out;
            }
            let mut overrides = set.to_vec();
            overrides.extend(above.iter().cloned());
            overrides.push(Override {
                name: d.name.clone(),
                value: v.source_text(),
            });
            out.push(Variant {
                name: d.name.clone(),
                value: v,
                branch: above.clone(),
                overrides,
            });
        }
    }
    out
}

/// Whether a space value is a param's current value.
fn same(p: &ParamValue, v: &Value) -> bool {
    match (p, v) {
        (ParamValue::Bool(a), Value::Bool(b)) => a == b,
        (ParamValue::Str(a), Value::Str(b)) => a == b,
        _ => p.as_f64().is_some_and(|x| v.as_f64() == Some(x)),
    }
}

/// The span of a searched param's distribution in a tune block, branches included.
fn entry_span(entries: &[SpaceEntry], name: &str) -> Option<Span> {
    entries.iter().find_map(|e| {
        if e.name.name == name {
            Some(e.dist.span)
        } else {
            e.branches.iter().find_map(|b| entry_span(&b.entries, name))
        }
    })
}

/// The checker's diagnostics with a note on the first: which tune block and value.
fn with_note(mut diags: Vec<Diag>, tune: &str, t: &TuneDecl, v: &Variant) -> Vec<Diag> {
    let entries: Vec<SpaceEntry> = t.spaces.iter().flat_map(|s| s.entries.clone()).collect();
    let value = v.value.source_text();
    let branch: Vec<String> = v
        .branch
        .iter()
        .map(|o| format!("{} = {}", o.name, o.value))
        .collect();
    let within = if branch.is_empty() {
        String::new()
    } else {
        format!(" (in the branch {})", branch.join(", "))
    };
    let mut note = Diag::new(
        "amm::tune::branch_shape",
        format!(
            "tune `{tune}` searches `{}` = {value}{within}, and the file does not check with it",
            v.name
        ),
    );
    if let Some(span) = entry_span(&entries, &v.name) {
        note = note.primary(span, format!("this space gives `{}` = {value}", v.name));
    }
    if let Some(first) = diags.first_mut() {
        first.notes.push(note.help(format!(
            "drop {value} from the space, or change the layers so that `{}` = {value} fits",
            v.name
        )));
    }
    diags
}
