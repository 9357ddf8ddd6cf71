//! Diagnostics: the one error type every pass reports to users, rendered by miette.
//!
//! A [`Diag`] carries a stable code (`amm::parse::expected`, `amm::name::unknown`, …), a
//! message, labelled spans and an optional `help:`. Passes collect many of them in a
//! [`Diags`] list instead of stopping at the first, so one run shows every mistake.

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};

use crate::source::{SourceMap, Span};

/// A labelled span inside a diagnostic.
#[derive(Clone, Debug)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
    /// The primary label is the place at fault; others give context.
    pub primary: bool,
}

/// A user-facing error with a stable code, labels, and a suggested fix.
#[derive(Clone, Debug)]
pub struct Diag {
    /// Stable machine-readable code such as `amm::name::unknown`.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// Spans to show. Labels in other files than the first label's are rendered as related
    /// diagnostics, since a miette report shows one source at a time.
    pub labels: Vec<Label>,
    /// Suggested fix.
    pub help: Option<String>,
    /// Extra notes rendered after the main report (e.g. "backbone used here").
    pub notes: Vec<Diag>,
    /// A warning: shown, but the program still runs.
    pub warning: bool,
}

impl Diag {
    /// A diagnostic with a code and message and no labels yet.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
            warning: false,
        }
    }

    /// Makes this a warning (rendered with miette's warning severity; it does not fail).
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }

    /// Adds the primary label.
    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Adds a secondary label.
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Sets the `help:` text.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches a related note (a separate small report, possibly in another file).
    pub fn note(mut self, note: Diag) -> Self {
        self.notes.push(note);
        self
    }

    /// The span of the primary label, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }

    /// Binds this diagnostic to the sources so miette can render it.
    pub fn report(&self, sources: &SourceMap) -> Report {
        let file = self.primary_span().map(|s| s.file);
        let source = file.map(|f| {
            let sf = sources.get(f);
            NamedSource::new(sf.name.clone(), sf.text.clone())
        });
        let mut labels = Vec::new();
        let mut related: Vec<Report> = Vec::new();
        for l in &self.labels {
            if Some(l.span.file) == file {
                labels.push(label(l));
            } else {
                // Another file: show it as a related report of its own.
                let mut d = Diag::new(self.code, l.message.clone());
                d.labels.push(Label {
                    primary: true,
                    ..l.clone()
                });
                related.push(d.report(sources).into_context());
            }
        }
        related.extend(self.notes.iter().map(|n| n.report(sources).into_context()));
        Report {
            code: self.code,
            message: self.message.clone(),
            help: self.help.clone(),
            labels,
            source,
            related,
            warning: self.warning,
            context: false,
        }
    }
}

impl Report {
    /// A part of another diagnostic (a note, a label in another file): rendered as advice,
    /// so it is not read — or counted — as a second error.
    fn into_context(mut self) -> Report {
        self.context = true;
        self
    }
}

fn label(l: &Label) -> LabeledSpan {
    let span = SourceSpan::new(l.span.start.into(), l.span.len());
    let text = (!l.message.is_empty()).then(|| l.message.clone());
    if l.primary {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

/// A diagnostic bound to its source text: what miette renders.
#[derive(Debug)]
pub struct Report {
    code: &'static str,
    message: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    source: Option<NamedSource<Arc<str>>>,
    related: Vec<Report>,
    warning: bool,
    /// Part of another diagnostic.
    context: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        if self.context {
            Some(miette::Severity::Advice)
        } else {
            self.warning.then_some(miette::Severity::Warning)
        }
    }
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// Renders diagnostics as text without colour at a fixed width: the form used by snapshot
/// tests and by `--color never`.
pub fn render_plain(diags: &[Diag], sources: &SourceMap, width: usize) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let report = d.report(sources);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    out
}

/// Renders diagnostics for a terminal, with colour when `color` is true.
pub fn render(diags: &[Diag], sources: &SourceMap, color: bool, width: usize) -> String {
    if !color {
        return render_plain(diags, sources, width);
    }
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode()).with_width(width);
    let mut out = String::new();
    for d in diags {
        let report = d.report(sources);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    out
}

/// An ordered collection of diagnostics gathered by a pass.
#[derive(Debug, Default)]
pub struct Diags(pub Vec<Diag>);

impl Diags {
    /// Adds one.
    pub fn push(&mut self, d: Diag) {
        self.0.push(d);
    }
    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Number reported.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The closest candidate to `name` by edit distance, if close enough to be a plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1) + usize::from(name.len() > 6);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("relu", "relu"), 0);
        assert_eq!(edit_distance("rleu", "relu"), 1);
        assert_eq!(edit_distance("conv", "dense"), 4);
        assert_eq!(suggest("maxpol", ["maxpool", "avgpool"]), Some("maxpool"));
        assert_eq!(suggest("xyz", ["maxpool", "avgpool"]), None);
    }
}
