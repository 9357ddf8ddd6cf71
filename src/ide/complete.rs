//! Completion from the cursor's context, read off the tokens (so it works while the line
//! being typed does not parse): declaration keywords at the top level; layers and networks
//! in a network body; fields in `train`/`tune`/`agent` blocks; argument names (with their
//! defaults) inside a builtin's parentheses; for a value, the builtins of the family the
//! field or argument takes, or the declared names of the kind it refers to.

use super::Analysis;
use super::hover::{builtin_doc, default_text, signature_arg};
use super::tokens::TokenKind;
use crate::resolve::DefKind;
use crate::resolve::schema::{self, ArgSpec, Family, Kind, RefKind};
use crate::syntax::ast::{Item, ItemKind};

/// What a completion inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    /// A declaration keyword.
    Keyword,
    /// A builtin (layer, loss, optimizer, env, …).
    Builtin,
    /// A block field.
    Field,
    /// A named argument.
    Argument,
    /// A declared name.
    Name,
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Shown and inserted.
    pub label: String,
    /// What it is.
    pub kind: CompletionKind,
    /// Signature or default, shown beside the label.
    pub detail: String,
    /// Markdown docs.
    pub doc: String,
    /// Text inserted when it differs from the label (`lr = `).
    pub insert: Option<String>,
}

const KEYWORDS: &[&str] = &[
    "use", "param", "data", "backbone", "head", "model", "train", "tune", "env", "agent",
];

/// Where the cursor is.
enum Context {
    TopLevel,
    NetBody,
    /// A model's stages: backbones and heads in scope, and the tree heads.
    Stages,
    Fields(&'static [ArgSpec<'static>], bool),
    Args(&'static [ArgSpec<'static>]),
    Value(Kind),
    Names,
}

impl Analysis {
    /// Completions at byte `offset`.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        let offset = self.clamp(offset);
        // The word being typed is replaced; the context is what precedes it.
        let word_start = self.text[..offset]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let mut out = Vec::new();
        match self.context(word_start) {
            Context::TopLevel => {
                for k in KEYWORDS {
                    out.push(simple(k, CompletionKind::Keyword, "declaration"));
                }
            }
            Context::NetBody => {
                for b in schema::BUILTINS
                    .iter()
                    .filter(|b| b.family == Family::Layer)
                {
                    out.push(builtin(b));
                }
                self.names(&mut out, |k| matches!(k, DefKind::Backbone | DefKind::Head));
                out.push(simple(
                    "residual",
                    CompletionKind::Keyword,
                    "residual { … }: x + f(x)",
                ));
                out.push(simple("repeat", CompletionKind::Keyword, "repeat(n) { … }"));
            }
            Context::Stages => {
                self.names(&mut out, |k| matches!(k, DefKind::Backbone | DefKind::Head));
                for b in schema::BUILTINS
                    .iter()
                    .filter(|b| b.family == Family::TreeHead)
                {
                    out.push(builtin(b));
                }
            }
            Context::Fields(fields, space) => {
                for f in fields {
                    out.push(arg(f, CompletionKind::Field));
                }
                if space {
                    out.push(simple(
                        "space",
                        CompletionKind::Keyword,
                        "space { name ~ dist(…) }",
                    ));
                }
            }
            Context::Args(args) => {
                for a in args {
                    out.push(arg(a, CompletionKind::Argument));
                }
                self.names(&mut out, |k| matches!(k, DefKind::Param));
            }
            Context::Value(kind) => self.values(&mut out, kind),
            Context::Names => self.names(&mut out, |_| true),
        }
        out
    }

    fn values(&self, out: &mut Vec<Completion>, kind: Kind) {
        match kind {
            Kind::Builtin(f) | Kind::ListOf(f) => {
                for b in schema::BUILTINS.iter().filter(|b| b.family == f) {
                    out.push(builtin(b));
                }
            }
            Kind::Ref(r) => self.names(out, |k| match r {
                RefKind::Model => k == DefKind::Model,
                RefKind::Data => k == DefKind::Data,
                RefKind::Env => k == DefKind::Env,
                RefKind::Runnable => matches!(k, DefKind::Train | DefKind::Agent),
            }),
            Kind::Weights => self.names(out, |k| k == DefKind::Train),
            Kind::Table => self.names(out, |k| k == DefKind::Agent),
            Kind::Bool => {
                out.push(simple("true", CompletionKind::Keyword, "bool"));
                out.push(simple("false", CompletionKind::Keyword, "bool"));
            }
            Kind::Watch => {
                for w in [
                    "val.loss",
                    "val.accuracy",
                    "val.mse",
                    "val.mae",
                    "train.loss",
                ] {
                    out.push(simple(w, CompletionKind::Builtin, "metric"));
                }
            }
            _ => self.names(out, |k| k == DefKind::Param),
        }
    }

    /// Declared names visible in the document, filtered by kind.
    fn names(&self, out: &mut Vec<Completion>, keep: impl Fn(DefKind) -> bool) {
        let mut seen: Vec<(String, DefKind)> = Vec::new();
        if let Some(p) = &self.program
            && let Some(m) = p.modules.first()
        {
            for (name, id) in &m.scope {
                seen.push((name.clone(), p.def(*id).kind));
            }
        } else if let Some(ast) = &self.ast {
            for item in &ast.items {
                if let (Some(k), Some(n)) = (DefKind::of(item), item.name()) {
                    seen.push((n.name.clone(), k));
                }
            }
        }
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in seen.into_iter().filter(|(_, k)| keep(*k)) {
            out.push(Completion {
                label: name,
                kind: CompletionKind::Name,
                detail: kind.keyword().to_string(),
                doc: String::new(),
                insert: None,
            });
        }
    }

    fn context(&self, offset: usize) -> Context {
        let before: Vec<_> = self
            .tokens
            .iter()
            .filter(|t| t.end <= offset && t.kind != TokenKind::Comment)
            .collect();
        let prev = before.last().map(|t| t.kind);
        let text = |t: &super::Token| &self.text[t.start..t.end];
        // `x = ` → the value of a field or argument `x`.
        if prev == Some(TokenKind::Punct('=')) && before.len() >= 2 {
            let key = text(before[before.len() - 2]);
            if let Some(call) = self.enclosing_call(offset) {
                if let Some(a) = self
                    .call_spec(&call)
                    .and_then(|s| s.args.iter().find(|a| a.name == key))
                {
                    return Context::Value(a.kind);
                }
                return Context::Names;
            }
            let decl = before.len() >= 3 && KEYWORDS.contains(&text(before[before.len() - 3]));
            if decl {
                return match text(before[before.len() - 3]) {
                    "data" => Context::Value(Kind::Builtin(Family::Dataset)),
                    "env" => Context::Value(Kind::Builtin(Family::Env)),
                    "agent" => Context::Value(Kind::Builtin(Family::Agent)),
                    "model" => Context::Stages,
                    _ => Context::Names,
                };
            }
            if let Some((fields, _)) = self.block_fields(offset)
                && let Some(f) = fields.iter().find(|f| f.name == key)
            {
                return Context::Value(f.kind);
            }
            return Context::Names;
        }
        if prev == Some(TokenKind::Punct('>')) {
            return Context::Stages; // `model m = a -> |`
        }
        if let Some(call) = self.enclosing_call(offset) {
            return match self.call_spec(&call) {
                Some(spec) if matches!(prev, Some(TokenKind::Punct('(' | ','))) => {
                    Context::Args(spec.args)
                }
                _ => Context::Names,
            };
        }
        let depth = self.brace_depth(offset);
        if depth == 0 {
            return Context::TopLevel;
        }
        if let Some((fields, space)) = self.block_fields(offset) {
            if self.in_space(offset) {
                return Context::Names;
            }
            return Context::Fields(fields, space);
        }
        Context::NetBody
    }

    /// The fields of the `train`/`tune`/`agent` block around `offset`, and whether it
    /// takes a `space`.
    fn block_fields(&self, offset: usize) -> Option<(&'static [ArgSpec<'static>], bool)> {
        let keyword = self.item_keyword(offset)?;
        match keyword.as_str() {
            "train" => Some((schema::TRAIN_FIELDS, false)),
            "tune" => Some((schema::TUNE_FIELDS, true)),
            "agent" => Some((schema::AGENT_FIELDS, false)),
            _ => None,
        }
    }

    /// The keyword of the declaration around `offset`: the parsed item, or, while the
    /// document does not parse, the last line before it that starts with a keyword.
    fn item_keyword(&self, offset: usize) -> Option<String> {
        if let Some(item) = self.item_at(offset) {
            return Some(keyword_of(item).to_string());
        }
        self.text[..offset]
            .lines()
            .rev()
            .find_map(|l| {
                KEYWORDS
                    .iter()
                    .find(|k| l.starts_with(*k) && l[k.len()..].starts_with(' '))
            })
            .map(|k| k.to_string())
    }

    fn brace_depth(&self, offset: usize) -> i32 {
        let mut depth = 0;
        for t in self.tokens.iter().filter(|t| t.end <= offset) {
            match t.kind {
                TokenKind::Punct('{') => depth += 1,
                TokenKind::Punct('}') => depth = (depth - 1).max(0),
                _ => {}
            }
        }
        depth
    }

    fn in_space(&self, offset: usize) -> bool {
        let mut depth = 0;
        for (i, t) in self
            .tokens
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, t)| t.end <= offset)
        {
            match t.kind {
                TokenKind::Punct('}') => depth += 1,
                TokenKind::Punct('{') if depth == 0 => {
                    return i > 0
                        && &self.text[self.tokens[i - 1].start..self.tokens[i - 1].end] == "space";
                }
                TokenKind::Punct('{') => depth -= 1,
                _ => {}
            }
        }
        false
    }

    /// The (dotted) name of the call whose parentheses hold `offset`.
    pub(super) fn enclosing_call(&self, offset: usize) -> Option<String> {
        let mut depth = 0;
        let before: Vec<_> = self.tokens.iter().filter(|t| t.end <= offset).collect();
        for (i, t) in before.iter().enumerate().rev() {
            match t.kind {
                TokenKind::Punct(')') => depth += 1,
                TokenKind::Punct('(') if depth > 0 => depth -= 1,
                TokenKind::Punct('(') => {
                    let mut j = i.checked_sub(1)?;
                    if before[j].kind != TokenKind::Ident {
                        return None;
                    }
                    let end = before[j].end;
                    while j >= 2
                        && before[j - 1].kind == TokenKind::Punct('.')
                        && before[j - 2].kind == TokenKind::Ident
                    {
                        j -= 2;
                    }
                    return Some(self.text[before[j].start..end].to_string());
                }
                TokenKind::Punct('{' | '}') => return None,
                _ => {}
            }
        }
        None
    }
}

fn keyword_of(item: &Item) -> &'static str {
    match &item.kind {
        ItemKind::Use(_) => "use",
        ItemKind::Param(_) => "param",
        ItemKind::Data(_) => "data",
        ItemKind::Net(n) => n.kind.keyword(),
        ItemKind::Model(_) => "model",
        ItemKind::Train(_) => "train",
        ItemKind::Tune(_) => "tune",
        ItemKind::Env(_) => "env",
        ItemKind::Agent(_) => "agent",
    }
}

fn simple(label: &str, kind: CompletionKind, detail: &str) -> Completion {
    Completion {
        label: label.to_string(),
        kind,
        detail: detail.to_string(),
        doc: String::new(),
        insert: None,
    }
}

fn builtin(b: &schema::CallSpec) -> Completion {
    let args: Vec<String> = b.args.iter().map(signature_arg).collect();
    Completion {
        label: b.name.to_string(),
        kind: CompletionKind::Builtin,
        detail: format!("{}({})", b.name, args.join(", ")),
        doc: builtin_doc(b),
        insert: None,
    }
}

fn arg(a: &ArgSpec, kind: CompletionKind) -> Completion {
    Completion {
        label: a.name.to_string(),
        kind,
        detail: match default_text(a.default) {
            Some(d) => format!("= {d}"),
            None => signature_arg(a),
        },
        doc: a.doc.to_string(),
        insert: Some(format!("{} = ", a.name)),
    }
}
