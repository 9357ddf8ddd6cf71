//! Hovers: a layer's shapes, parameters and MACs in every model that uses it; a builtin's
//! signature and docs (from `resolve::schema`, the table checking and completion read); a
//! field's or argument's doc; a declaration's kind, doc comment and, for params, value.

use std::fmt::Write;

use super::Analysis;
use super::tokens::TokenKind;
use crate::resolve::schema::{self, ArgSpec, CallSpec, Default, Kind};
use crate::resolve::{DefKind, ModuleId};
use crate::syntax::ast::ItemKind;

/// A hover: markdown text about the byte range `start..end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    /// Markdown.
    pub text: String,
    /// The word or layer described.
    pub start: usize,
    /// End of it.
    pub end: usize,
}

impl Analysis {
    /// What to show when the pointer rests on byte `offset`.
    pub fn hover(&self, offset: usize) -> Option<Hover> {
        let offset = self.clamp(offset);
        let tok = *self.ident_at(offset)?;
        let word = &self.text[tok.start..tok.end];
        let index = self.tokens.iter().position(|t| *t == tok)?;
        let next_is = |c: char| {
            self.tokens
                .get(index + 1)
                .is_some_and(|t| t.kind == TokenKind::Punct(c))
        };
        let at = |text: String| {
            Some(Hover {
                text,
                start: tok.start,
                end: tok.end,
            })
        };

        // A field or a named argument: `lr = …`.
        if next_is('=') {
            if let Some(call) = self.enclosing_call(tok.start) {
                let arg = self
                    .call_spec(&call)?
                    .args
                    .iter()
                    .find(|a| a.name == word)?;
                return at(arg_line(arg));
            }
            if let Some(item) = self.item_at(offset) {
                let fields = match item.kind {
                    ItemKind::Train(_) => schema::TRAIN_FIELDS,
                    ItemKind::Tune(_) => schema::TUNE_FIELDS,
                    ItemKind::Agent(_) => schema::AGENT_FIELDS,
                    _ => &[],
                };
                if let Some(f) = fields.iter().find(|f| f.name == word) {
                    return at(arg_line(f));
                }
            }
        }
        // A layer of a network: its shapes in every model using it.
        if let Some(text) = self.layer_hover(tok.start) {
            return at(text);
        }
        // A declared name.
        if let Some(loc) = self.definition(offset) {
            return at(self.decl_hover(loc.span));
        }
        // A builtin.
        let dotted = self.dotted_at(index);
        let spec = schema::BUILTINS
            .iter()
            .find(|b| b.name == dotted || b.name == word)?;
        at(builtin_doc(spec))
    }

    fn layer_hover(&self, offset: usize) -> Option<String> {
        let mut out = String::new();
        for m in &self.summaries {
            for (i, l) in m.layers.iter().enumerate() {
                if l.span.file != self.root || offset < l.span.start || offset > l.span.end {
                    continue;
                }
                // Only the layer's own name, not names inside its arguments.
                if !self.text[l.span.start..].starts_with(&self.text[offset..self.word_end(offset)])
                {
                    continue;
                }
                let input = if i == 0 {
                    &m.input
                } else {
                    &m.layers[i - 1].output
                };
                if out.is_empty() {
                    let _ = writeln!(out, "**`{}`**\n", l.text);
                }
                let _ = writeln!(
                    out,
                    "- `{}` in `{}` → out `{}` · {} params · {} MACs/sample (model `{}`, train `{}`)",
                    l.name,
                    input,
                    l.output,
                    group(l.params),
                    group(l.macs),
                    m.model,
                    m.train
                );
            }
        }
        if out.is_empty() {
            return None;
        }
        let name = self.text[offset..self.word_end(offset)].to_string();
        if let Some(spec) = schema::builtin(schema::Family::Layer, &name) {
            let _ = write!(out, "\n{}", builtin_doc(spec));
        }
        Some(out)
    }

    fn word_end(&self, offset: usize) -> usize {
        self.text[offset..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(self.text.len(), |k| offset + k)
    }

    fn decl_hover(&self, span: crate::source::Span) -> String {
        let Some(program) = &self.program else {
            // Unresolved document: the declaration's own text.
            let item = self.ast.as_ref().and_then(|a| {
                a.items
                    .iter()
                    .find(|i| i.name().is_some_and(|n| n.span == span))
            });
            return match item {
                Some(i) => format!(
                    "```amm\n{}\n```",
                    first_line(&self.text[i.span.start..i.span.end])
                ),
                None => String::new(),
            };
        };
        let Some((id, def)) = program
            .defs
            .iter()
            .enumerate()
            .find(|(_, d)| d.item.name().is_some_and(|n| n.span == span))
        else {
            // A formal parameter.
            let text = self.sources.slice(span);
            return format!("argument `{text}` of the network around it");
        };
        let source = self.sources.get(def.item.span.file);
        let decl = first_line(&source.text[def.item.span.start..def.item.span.end]);
        let mut out = format!("```amm\n{decl}\n```\n");
        if def.kind == DefKind::Param
            && let Some(v) = program.param(crate::resolve::DefId(id as u32))
        {
            let _ = writeln!(out, "\nvalue: `{v}`");
        }
        if let Some(doc) = &def.item.doc {
            let _ = writeln!(out, "\n{doc}");
        }
        if def.module != ModuleId(0) {
            let _ = writeln!(
                out,
                "\nfrom `{}`",
                program.modules[def.module.0 as usize].name
            );
        }
        if matches!(def.kind, DefKind::Model | DefKind::Train) {
            for m in &self.summaries {
                if m.model == def.name || m.train == def.name {
                    let params: usize = m.layers.iter().map(|l| l.params).sum();
                    let macs: usize = m.layers.iter().map(|l| l.macs).sum();
                    let out_shape = m
                        .layers
                        .last()
                        .map(|l| l.output.to_string())
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "\n- train `{}`: input `{}` → output `{out_shape}`, {} params, {} MACs/sample",
                        m.train,
                        m.input,
                        group(params),
                        group(macs)
                    );
                }
            }
        }
        out
    }

    /// The dotted name ending at identifier token `index` (`builtin.digits`).
    fn dotted_at(&self, index: usize) -> String {
        let t = &self.tokens;
        let mut start = index;
        while start >= 2
            && t[start - 1].kind == TokenKind::Punct('.')
            && t[start - 2].kind == TokenKind::Ident
        {
            start -= 2;
        }
        self.text[t[start].start..t[index].end].to_string()
    }

    pub(super) fn call_spec(&self, name: &str) -> Option<&'static CallSpec> {
        schema::BUILTINS.iter().find(|b| b.name == name)
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if text.contains('\n') && line.trim_end().ends_with('{') {
        format!("{line} … }}")
    } else {
        line.to_string()
    }
}

/// `name(arg: kind = default, …)` and the docs.
pub(super) fn builtin_doc(spec: &CallSpec) -> String {
    let args: Vec<String> = spec.args.iter().map(signature_arg).collect();
    let mut out = format!(
        "```amm\n{}({}{})\n```\n{} ({})\n",
        spec.name,
        args.join(", "),
        if spec.variadic { ", …" } else { "" },
        spec.doc,
        spec.family.noun()
    );
    for a in spec.args {
        let _ = writeln!(out, "- `{}`: {}", a.name, a.doc);
    }
    out
}

pub(super) fn signature_arg(a: &ArgSpec) -> String {
    let optional = if a.default == Default::Optional {
        "?"
    } else {
        ""
    };
    let mut s = format!("{}{optional}: {}", a.name, kind_name(a.kind));
    if let Some(d) = default_text(a.default) {
        let _ = write!(s, " = {d}");
    }
    s
}

fn arg_line(a: &ArgSpec) -> String {
    format!("```amm\n{}\n```\n{}", signature_arg(a), a.doc)
}

pub(super) fn default_text(d: Default) -> Option<String> {
    Some(match d {
        Default::Required | Default::Optional => return None,
        Default::Int(v) => v.to_string(),
        Default::Float(v) => crate::syntax::pretty::float_text(v),
        Default::Bool(v) => v.to_string(),
        Default::Str(s) => format!("\"{s}\""),
    })
}

fn kind_name(k: Kind) -> String {
    match k {
        Kind::Int => "int".into(),
        Kind::Float => "float".into(),
        Kind::Bool => "bool".into(),
        Kind::Str => "string".into(),
        Kind::NumList => "[number]".into(),
        Kind::ListOf(f) => format!("[{}]", f.noun()),
        Kind::Builtin(f) => f.noun().into(),
        Kind::Ref(r) => format!("{r:?}").to_lowercase(),
        Kind::Weights => "weights".into(),
        Kind::Table => "table".into(),
        Kind::Expr => "expression".into(),
        Kind::Watch => "metric".into(),
    }
}

/// `1234567` → `1,234,567`.
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
