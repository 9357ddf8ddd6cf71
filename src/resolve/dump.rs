//! The resolved program as text: what `ammc check --print` shows and snapshot tests record.
//! Like Gin's operative config, it shows what was actually used: param values after
//! `--set`, and where every imported name came from.

use std::fmt::Write;

use super::Program;
use crate::syntax::ast::ItemKind;
use crate::syntax::pretty;

/// Renders the program: root params with their values, then every definition with the
/// module it resolves to.
pub fn dump(program: &Program) -> String {
    let mut out = String::new();
    for (mi, m) in program.modules.iter().enumerate() {
        let _ = writeln!(out, "module {}", m.name);
        let mut imports: Vec<(&String, String)> = m
            .scope
            .iter()
            .filter(|(_, d)| program.def(**d).module.0 as usize != mi)
            .map(|(n, d)| {
                let def = program.def(*d);
                let from = &program.modules[def.module.0 as usize].name;
                (n, format!("{} {from}.{}", def.kind.keyword(), def.name))
            })
            .collect();
        imports.sort();
        for (name, what) in imports {
            let _ = writeln!(out, "  import {name} = {what}");
        }
        for id in &m.own {
            let def = program.def(*id);
            match &def.item.kind {
                ItemKind::Param(p) => {
                    let value = program
                        .param(*id)
                        .map_or_else(|| "?".to_string(), |v| v.to_string());
                    let ty = program.param(*id).map_or("?", |v| v.ty().name());
                    let default = pretty::expr(&p.value);
                    let note = if default == value {
                        String::new()
                    } else {
                        format!("  (default {default})")
                    };
                    let _ = writeln!(out, "  param {}: {ty} = {value}{note}", def.name);
                }
                ItemKind::Model(md) => {
                    let stages: Vec<String> = md
                        .stages
                        .iter()
                        .map(|s| {
                            let target = program
                                .lookup(def.module, &s.dotted())
                                .map(|d| {
                                    let td = program.def(d);
                                    if td.module.0 == 0 {
                                        td.name.clone()
                                    } else {
                                        format!(
                                            "{}.{}",
                                            program.modules[td.module.0 as usize].name, td.name
                                        )
                                    }
                                })
                                .unwrap_or_else(|| s.dotted());
                            let call = pretty::call(s);
                            let args = call.strip_prefix(&s.dotted()).unwrap_or("");
                            format!("{target}{args}")
                        })
                        .collect();
                    let _ = writeln!(out, "  model {} = {}", def.name, stages.join(" -> "));
                }
                _ => {
                    let _ = writeln!(out, "  {} {}", def.kind.keyword(), def.name);
                }
            }
        }
    }
    let runnables: Vec<String> = program
        .runnables()
        .iter()
        .map(|d| {
            let def = program.def(*d);
            format!("{} {}", def.kind.keyword(), def.name)
        })
        .collect();
    let _ = writeln!(
        out,
        "runs: {}",
        if runnables.is_empty() {
            "(nothing)".to_string()
        } else {
            runnables.join(", ")
        }
    );
    out
}
