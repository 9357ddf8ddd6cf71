//! `ide` answers → protocol types. Byte offsets become UTF-16 positions here only
//! (`ide::line_index`); spans in other files (imports, the standard library) become
//! locations in those files, the stdlib's written once to a read-only cache directory.

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CompletionItem, CompletionItemKind,
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DocumentSymbol,
    DocumentSymbolResponse, GotoDefinitionResponse, Hover, HoverContents, InlayHint,
    InlayHintLabel, Location, MarkupContent, MarkupKind, NumberOrString, Position, Range,
    SymbolKind, TextEdit, Url, WorkspaceEdit,
};

use super::Document;
use crate::diag::Diag;
use crate::ide::line_index::{LineIndex, Position as IdePosition};
use crate::ide::{CompletionKind, Fix};
use crate::resolve::DefKind;
use crate::source::{FileId, Span};

fn offset(d: &Document, p: Position) -> usize {
    d.index.offset(
        d.analysis.text(),
        IdePosition {
            line: p.line,
            character: p.character,
        },
    )
}

fn position(index: &LineIndex, text: &str, offset: usize) -> Position {
    let p = index.position(text, offset);
    Position::new(p.line, p.character)
}

fn range_in(index: &LineIndex, text: &str, start: usize, end: usize) -> Range {
    Range::new(position(index, text, start), position(index, text, end))
}

fn range(d: &Document, start: usize, end: usize) -> Range {
    range_in(&d.index, d.analysis.text(), start, end)
}

/// A span anywhere (the document, an import, the stdlib) as a location.
fn location(d: &Document, span: Span) -> Option<Location> {
    if span.file == d.analysis.root() {
        return Some(Location::new(d.uri.clone(), range(d, span.start, span.end)));
    }
    let file = d.analysis.sources().get(span.file);
    let uri = file_uri(d, span.file)?;
    let index = LineIndex::new(&file.text);
    Some(Location::new(
        uri,
        range_in(&index, &file.text, span.start, span.end),
    ))
}

fn file_uri(d: &Document, id: FileId) -> Option<Url> {
    let file = d.analysis.sources().get(id);
    if let Some(module) = file.name.strip_prefix("std/") {
        let path = stdlib_file(module, &file.text)?;
        return Url::from_file_path(path).ok();
    }
    let path = PathBuf::from(&file.name);
    let path = if path.is_absolute() {
        path
    } else {
        let base = d.uri.to_file_path().ok()?;
        base.parent()?.join(path)
    };
    Url::from_file_path(path).ok()
}

/// The stdlib module written to the cache directory (read-only), so an editor can open it.
fn stdlib_file(module: &str, text: &str) -> Option<PathBuf> {
    let dir = crate::ide::stdlib_dir();
    let path = dir.join(module);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(&dir).ok()?;
        if path.exists() {
            let mut perms = std::fs::metadata(&path).ok()?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&path, perms).ok()?;
        }
        crate::data::atomic::write_atomic(&path, text.as_bytes()).ok()?;
        let mut perms = std::fs::metadata(&path).ok()?.permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).ok()?;
    }
    Some(path)
}

/// The document's diagnostics: the message with its `help:`, the stable code, the place
/// at fault, and the other labels and notes as related information.
pub(super) fn diagnostics(d: &Document) -> Vec<Diagnostic> {
    d.analysis
        .diagnostics()
        .iter()
        .map(|diag| diagnostic(d, diag))
        .collect()
}

fn diagnostic(d: &Document, diag: &Diag) -> Diagnostic {
    let root = d.analysis.root();
    let primary = diag
        .primary_span()
        .or_else(|| diag.labels.first().map(|l| l.span));
    // A diagnostic about another file (an import) is shown at the document's start.
    let at = match primary {
        Some(s) if s.file == root => range(d, s.start, s.end),
        _ => range(d, 0, 0),
    };
    let mut message = diag.message.clone();
    if let Some(help) = &diag.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut related = Vec::new();
    for l in &diag.labels {
        if Some(l.span) == primary && l.span.file == root {
            continue;
        }
        if let Some(location) = location(d, l.span) {
            let text = if l.message.is_empty() {
                diag.message.clone()
            } else {
                l.message.clone()
            };
            related.push(DiagnosticRelatedInformation {
                location,
                message: text,
            });
        }
    }
    for note in &diag.notes {
        if let Some(span) = note.primary_span()
            && let Some(location) = location(d, span)
        {
            related.push(DiagnosticRelatedInformation {
                location,
                message: note.message.clone(),
            });
        }
    }
    Diagnostic {
        range: at,
        severity: Some(if diag.warning {
            DiagnosticSeverity::WARNING
        } else {
            DiagnosticSeverity::ERROR
        }),
        code: Some(NumberOrString::String(diag.code.to_string())),
        source: Some("ammc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

pub(super) fn hover(d: &Document, p: Position) -> Option<Hover> {
    let h = d.analysis.hover(offset(d, p))?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: h.text,
        }),
        range: Some(range(d, h.start, h.end)),
    })
}

pub(super) fn inlay_hints(d: &Document, within: Range) -> Vec<InlayHint> {
    let (from, to) = (offset(d, within.start), offset(d, within.end));
    d.analysis
        .inlay_hints()
        .into_iter()
        .filter(|h| from <= h.offset && h.offset <= to)
        .map(|h| InlayHint {
            position: position(&d.index, d.analysis.text(), h.offset),
            label: InlayHintLabel::String(h.label),
            kind: Some(lsp_types::InlayHintKind::TYPE),
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: None,
        })
        .collect()
}

pub(super) fn definition(d: &Document, p: Position) -> Option<GotoDefinitionResponse> {
    let loc = d.analysis.definition(offset(d, p))?;
    Some(GotoDefinitionResponse::Scalar(location(d, loc.span)?))
}

pub(super) fn references(d: &Document, p: Position) -> Vec<Location> {
    d.analysis
        .references(offset(d, p))
        .into_iter()
        .filter_map(|s| location(d, s))
        .collect()
}

pub(super) fn completion(d: &Document, p: Position) -> Vec<CompletionItem> {
    d.analysis
        .completions(offset(d, p))
        .into_iter()
        .map(|c| CompletionItem {
            kind: Some(match c.kind {
                CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                CompletionKind::Builtin => CompletionItemKind::FUNCTION,
                CompletionKind::Field => CompletionItemKind::FIELD,
                CompletionKind::Argument => CompletionItemKind::PROPERTY,
                CompletionKind::Name => CompletionItemKind::VARIABLE,
            }),
            detail: Some(c.detail),
            documentation: (!c.doc.is_empty()).then_some(lsp_types::Documentation::MarkupContent(
                MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: c.doc,
                },
            )),
            insert_text: c.insert,
            label: c.label,
            ..Default::default()
        })
        .collect()
}

pub(super) fn rename(d: &Document, p: Position, new_name: &str) -> Result<WorkspaceEdit, String> {
    let spans = d.analysis.rename(offset(d, p), new_name).map_err(|e| e.0)?;
    let edits = spans
        .into_iter()
        .map(|s| TextEdit::new(range(d, s.start, s.end), new_name.to_string()))
        .collect();
    Ok(WorkspaceEdit {
        changes: Some(HashMap::from([(d.uri.clone(), edits)])),
        ..Default::default()
    })
}

pub(super) fn formatting(d: &Document) -> Option<Vec<TextEdit>> {
    let text = d.analysis.text();
    let formatted = d.analysis.format()?;
    if formatted == text {
        return Some(Vec::new());
    }
    Some(vec![TextEdit::new(range(d, 0, text.len()), formatted)])
}

pub(super) fn symbols(d: &Document) -> DocumentSymbolResponse {
    #[allow(deprecated)] // `deprecated` is a required field of the struct
    let symbols = d
        .analysis
        .symbols()
        .into_iter()
        .map(|s| DocumentSymbol {
            name: s.name,
            detail: Some(s.kind.keyword().to_string()),
            kind: match s.kind {
                DefKind::Param => SymbolKind::CONSTANT,
                DefKind::Data => SymbolKind::VARIABLE,
                DefKind::Backbone | DefKind::Head => SymbolKind::CLASS,
                DefKind::Model => SymbolKind::STRUCT,
                DefKind::Train | DefKind::Tune => SymbolKind::FUNCTION,
                DefKind::Env | DefKind::Agent => SymbolKind::OBJECT,
            },
            tags: None,
            deprecated: None,
            range: range(d, s.span.start, s.span.end),
            selection_range: range(d, s.name_span.start, s.name_span.end),
            children: None,
        })
        .collect();
    DocumentSymbolResponse::Nested(symbols)
}

pub(super) fn code_actions(d: &Document, within: Range) -> Vec<CodeActionOrCommand> {
    let (from, to) = (offset(d, within.start), offset(d, within.end));
    d.analysis
        .fixes(from, to)
        .into_iter()
        .map(|f: Fix| {
            let edit = TextEdit::new(range(d, f.span.start, f.span.end), f.replacement);
            CodeActionOrCommand::CodeAction(CodeAction {
                title: f.title,
                kind: Some(CodeActionKind::QUICKFIX),
                is_preferred: Some(true),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(d.uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect()
}
