//! What an editor asks about one document, answered in byte offsets and strings: the
//! diagnostics, each layer's output shape, hovers, definitions and references, completions,
//! symbols, renames, formatting. [`Analysis`] runs the same front end and checker as
//! `ammc check` (about 2 ms on the largest example), so a document is re-analysed on every
//! change and every answer reads the latest analysis. `lsp` converts to the protocol; this
//! module knows nothing of it.

mod complete;
pub mod hover;
pub mod line_index;
mod navigate;
mod tokens;

use std::path::{Path, PathBuf};

use crate::check::ModelSummary;
use crate::diag::Diag;
use crate::resolve::{DefKind, Program};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{File, Item, ItemKind};

pub use complete::{Completion, CompletionKind};
pub use navigate::{Location, RenameError};
pub use tokens::{Token, TokenKind};

/// Everything known about one document at one version.
pub struct Analysis {
    text: String,
    root: FileId,
    sources: SourceMap,
    /// The document's syntax tree, when it parses.
    ast: Option<File>,
    /// The resolved program, when names resolve.
    program: Option<Program>,
    /// Checked models (one per train block), when the whole program checks.
    summaries: Vec<ModelSummary>,
    diags: Vec<Diag>,
    tokens: Vec<Token>,
}

/// An inlay hint: `label` shown after byte `offset` of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlayHint {
    /// Where (after the layer or model it describes).
    pub offset: usize,
    /// What (`[N, 16, 4, 4]`).
    pub label: String,
}

/// A quick fix: replace `span` with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// Shown in the editor's menu.
    pub title: String,
    /// What to replace.
    pub span: Span,
    /// With what.
    pub replacement: String,
    /// The diagnostic it fixes.
    pub code: &'static str,
}

/// A declaration for an outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// Its declaring keyword.
    pub kind: DefKind,
    /// The whole declaration.
    pub span: Span,
    /// The name.
    pub name_span: Span,
}

impl Analysis {
    /// Analyses `text`, the content of the document `name` (its path, when it has one, is
    /// where relative imports and data files are found).
    pub fn new(name: &str, text: &str, path: Option<&Path>) -> Analysis {
        let fe = crate::front::front_end(name, text.as_bytes(), path, &[]);
        let mut sources = fe.sources;
        let found = sources
            .files()
            .find(|(_, f)| f.name == name)
            .map(|(id, _)| id);
        // A document too large or not UTF-8 never reached the source map.
        let root = found.unwrap_or_else(|| sources.add(name, text));
        let ast = crate::syntax::parse_file(root, text).ok();
        let mut summaries = Vec::new();
        let (program, diags) = match fe.program {
            Ok(program) => {
                let mut diags: Vec<Diag> = crate::rl::program::check(&program)
                    .into_iter()
                    .filter(|d| d.code != "amm::rl::argument")
                    .collect();
                match crate::check::check(&program, &sources) {
                    Ok(s) => {
                        for m in &s {
                            diags.extend(m.warnings.iter().cloned());
                        }
                        summaries = s;
                    }
                    Err(ds) => diags.extend(ds),
                }
                (Some(program), diags)
            }
            Err(ds) => (None, ds),
        };
        Analysis {
            text: text.to_string(),
            root,
            sources,
            ast,
            program,
            summaries,
            diags,
            tokens: tokens::lex(text),
        }
    }

    /// The document's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The document's file id in [`Analysis::sources`].
    pub fn root(&self) -> FileId {
        self.root
    }

    /// Every file read (the document, its imports, the stdlib modules it uses).
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// Errors and warnings, as `ammc check` reports them.
    pub fn diagnostics(&self) -> &[Diag] {
        &self.diags
    }

    /// The checked models, one per train block (empty while the program has errors).
    pub fn summaries(&self) -> &[ModelSummary] {
        &self.summaries
    }

    /// Each line's output shape after its last layer, and each model's output after its
    /// declaration, for every train block that instantiates them (different shapes from
    /// different blocks are joined with ` | `).
    pub fn inlay_hints(&self) -> Vec<InlayHint> {
        let mut by_offset: Vec<(usize, Vec<String>)> = Vec::new();
        let mut add =
            |offset: usize, label: String| match by_offset.iter_mut().find(|(o, _)| *o == offset) {
                Some((_, labels)) => {
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                None => by_offset.push((offset, vec![label])),
            };
        for m in &self.summaries {
            for l in &m.layers {
                if l.span.file == self.root {
                    add(l.span.end, l.output.to_string());
                }
            }
            if let (Some(model), Some(last)) = (self.def_named(&m.model), m.layers.last())
                && let Some(name) = model.item.name()
                && name.span.file == self.root
            {
                add(model.item.span.end, last.output.to_string());
            }
        }
        by_offset.sort_by_key(|(o, _)| *o);
        // One hint per line, after its last layer: `dense(64) relu  [N, 64]`.
        let lines = crate::syntax::trivia::Lines::new(&self.text);
        let mut last_per_line: Vec<(usize, Vec<String>)> = Vec::new();
        for (offset, labels) in by_offset {
            match last_per_line.last_mut() {
                Some(last) if lines.line_of(last.0) == lines.line_of(offset) => {
                    *last = (offset, labels)
                }
                _ => last_per_line.push((offset, labels)),
            }
        }
        last_per_line
            .into_iter()
            .map(|(offset, labels)| InlayHint {
                offset,
                label: labels.join(" | "),
            })
            .collect()
    }

    /// The document's declarations in order.
    pub fn symbols(&self) -> Vec<Symbol> {
        let Some(ast) = &self.ast else {
            return Vec::new();
        };
        ast.items
            .iter()
            .filter_map(|item| {
                let kind = DefKind::of(item)?;
                let name = item.name()?;
                Some(Symbol {
                    name: name.name.clone(),
                    kind,
                    span: item.span,
                    name_span: name.span,
                })
            })
            .collect()
    }

    /// The quick fixes of the diagnostics whose primary span overlaps `start..end`: a
    /// help of the form ``did you mean `x`?`` replaces the span at fault with `x`.
    pub fn fixes(&self, start: usize, end: usize) -> Vec<Fix> {
        let mut out = Vec::new();
        for d in &self.diags {
            let (Some(span), Some(help)) = (d.primary_span(), &d.help) else {
                continue;
            };
            if span.file != self.root || span.end < start || span.start > end {
                continue;
            }
            let Some(rest) = help.strip_prefix("did you mean `") else {
                continue;
            };
            let Some(replacement) = rest.strip_suffix("`?") else {
                continue;
            };
            out.push(Fix {
                title: format!("replace with `{replacement}`"),
                span,
                replacement: replacement.to_string(),
                code: d.code,
            });
        }
        out
    }

    /// The document in canonical layout with its comments (`None` when it does not parse).
    pub fn format(&self) -> Option<String> {
        let ast = self.ast.as_ref()?;
        Some(crate::syntax::pretty::format(ast, &self.text))
    }

    /// A root-module definition by name.
    fn def_named(&self, name: &str) -> Option<&crate::resolve::Def> {
        let p = self.program.as_ref()?;
        p.lookup(crate::resolve::ModuleId(0), name)
            .map(|id| p.def(id))
    }

    /// `offset` moved back to a character boundary within the text: every question
    /// starts here, so any offset is a valid question.
    fn clamp(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    /// The document's item containing byte `offset`.
    fn item_at(&self, offset: usize) -> Option<&Item> {
        self.ast
            .as_ref()?
            .items
            .iter()
            .find(|i| i.span.start <= offset && offset <= i.span.end)
    }

    /// The identifier token under byte `offset` (or just before it, for a cursor at the
    /// end of a word).
    fn ident_at(&self, offset: usize) -> Option<&Token> {
        self.tokens
            .iter()
            .find(|t| t.kind == TokenKind::Ident && t.start <= offset && offset <= t.end)
    }

    /// The declaration's own name for a formal parameter of the net around `offset`.
    fn formal_at(&self, offset: usize, name: &str) -> Option<Span> {
        let item = self.item_at(offset)?;
        let ItemKind::Net(n) = &item.kind else {
            return None;
        };
        n.formals
            .iter()
            .find(|f| f.name.name == name)
            .map(|f| f.name.span)
    }
}

/// Where the standard library's modules are written for editors to open (read-only):
/// `$XDG_CACHE_HOME/ammc/std-<version>/` or `~/.cache/…`, else the temp directory.
pub fn stdlib_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ammc")
        .join(format!("std-{}", env!("CARGO_PKG_VERSION")))
}
