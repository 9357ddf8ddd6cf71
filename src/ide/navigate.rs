//! Go to definition, find references and rename. A name means, in order: a formal
//! parameter of the network around it, then a declaration visible in the document's module
//! (its own or imported, so definitions reach imported files and the standard library),
//! then — when the document does not resolve — a declaration of the document by name.

use super::Analysis;
use super::tokens::{Token, TokenKind};
use crate::source::{FileId, Span};

/// A place in some file: the document itself, an imported file, or a stdlib module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file (see [`Analysis::sources`]).
    pub file: FileId,
    /// The range.
    pub span: Span,
}

/// Why a rename cannot be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameError(pub String);

/// What a name at some offset refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A formal of the net declared at this span.
    Formal { net: Span, name: Span },
    /// A declaration's name.
    Decl(Span),
}

impl Analysis {
    /// The declaration of the name under `offset`.
    pub fn definition(&self, offset: usize) -> Option<Location> {
        let offset = self.clamp(offset);
        let span = match self.target(offset)? {
            Target::Formal { name, .. } => name,
            Target::Decl(span) => span,
        };
        Some(Location {
            file: span.file,
            span,
        })
    }

    /// Every use of the name under `offset` in the document, its declaration included
    /// when it is in the document.
    pub fn references(&self, offset: usize) -> Vec<Span> {
        let offset = self.clamp(offset);
        let Some(target) = self.target(offset) else {
            return Vec::new();
        };
        let tok = match self.ident_at(offset) {
            Some(t) => *t,
            None => return Vec::new(),
        };
        let name = &self.text[tok.start..tok.end];
        let mut out = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if t.kind != TokenKind::Ident || &self.text[t.start..t.end] != name {
                continue;
            }
            let span = Span::new(self.root, t.start, t.end);
            let is_decl = match target {
                Target::Formal { name, .. } | Target::Decl(name) => name == span,
            };
            if is_decl || (self.is_reference(i) && self.target(t.start) == Some(target)) {
                out.push(span);
            }
        }
        out
    }

    /// The edits renaming the param, network or block under `offset` to `new_name`.
    pub fn rename(&self, offset: usize, new_name: &str) -> Result<Vec<Span>, RenameError> {
        let offset = self.clamp(offset);
        let valid = new_name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && new_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || crate::syntax::is_keyword(new_name) {
            return Err(RenameError(format!("`{new_name}` is not a valid name")));
        }
        match self.target(offset) {
            None => Err(RenameError("no declared name here".into())),
            Some(Target::Decl(span)) if span.file != self.root => Err(RenameError(
                "this name is declared in another file; rename it there".into(),
            )),
            Some(_) => Ok(self.references(offset)),
        }
    }

    fn target(&self, offset: usize) -> Option<Target> {
        let tok = self.ident_at(offset)?;
        let index = self.tokens.iter().position(|t| t == tok)?;
        let name = &self.text[tok.start..tok.end];
        if crate::syntax::is_keyword(name) || self.after_dot(index) {
            return None;
        }
        let own = Span::new(self.root, tok.start, tok.end);
        if let Some(formal) = self.formal_at(offset, name)
            && let Some(item) = self.item_at(offset)
        {
            return Some(Target::Formal {
                net: item.span,
                name: formal,
            });
        }
        // A declaration's own name, or a reference to one.
        if !self.is_reference(index)
            && let Some(item) = self.item_at(offset)
            && item.name().is_some_and(|n| n.span == own)
        {
            return Some(Target::Decl(own));
        }
        if !self.is_reference(index) {
            return None;
        }
        if let Some(def) = self.def_named(name)
            && let Some(n) = def.item.name()
        {
            return Some(Target::Decl(n.span));
        }
        let ast = self.ast.as_ref()?;
        ast.items
            .iter()
            .filter_map(|i| i.name())
            .find(|n| n.name == name)
            .map(|n| Target::Decl(n.span))
    }

    /// Whether the identifier token `i` is a use of a name (not a field or argument name,
    /// not a part of a dotted name, not a declaration's own name).
    fn is_reference(&self, i: usize) -> bool {
        if self.after_dot(i) {
            return false;
        }
        let t = &self.tokens;
        // `name =` is a field, named argument or declaration; `==` does not exist.
        if t.get(i + 1)
            .is_some_and(|n| n.kind == TokenKind::Punct('='))
        {
            return false;
        }
        // `param x`, `backbone f`…: the declaring keyword precedes the name.
        if i > 0
            && t[i - 1].kind == TokenKind::Ident
            && crate::syntax::is_keyword(&self.text[t[i - 1].start..t[i - 1].end])
            && !matches!(&self.text[t[i - 1].start..t[i - 1].end], "true" | "false")
        {
            return false;
        }
        // Formals are declared inside `backbone f(` … `)` before the body.
        !self.in_formals(i)
    }

    fn after_dot(&self, i: usize) -> bool {
        i > 0 && self.tokens[i - 1].kind == TokenKind::Punct('.')
            || self
                .tokens
                .get(i + 1)
                .is_some_and(|n| n.kind == TokenKind::Punct('.'))
                && self
                    .tokens
                    .get(i + 2)
                    .is_some_and(|n| n.kind == TokenKind::Ident)
                && !self.in_use(i)
    }

    fn in_use(&self, i: usize) -> bool {
        self.line_tokens(i)
            .first()
            .is_some_and(|t| &self.text[t.start..t.end] == "use")
    }

    fn in_formals(&self, i: usize) -> bool {
        let Some(item) = self.item_at(self.tokens[i].start) else {
            return false;
        };
        let crate::syntax::ast::ItemKind::Net(n) = &item.kind else {
            return false;
        };
        n.formals
            .iter()
            .any(|f| f.name.span.start == self.tokens[i].start)
    }

    fn line_tokens(&self, i: usize) -> Vec<Token> {
        let start = self.text[..self.tokens[i].start]
            .rfind('\n')
            .map_or(0, |k| k + 1);
        self.tokens
            .iter()
            .filter(|t| t.start >= start && t.start <= self.tokens[i].start)
            .copied()
            .collect()
    }
}
