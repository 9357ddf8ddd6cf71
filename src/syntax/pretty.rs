//! Canonical text of an AST: what `ammc fmt` writes and snapshot tests show.
//! Printing then re-parsing gives the same tree (a property the tests check).
//! [`format`] also keeps the comments and blank-line groups of the source text.

use std::fmt::Write;

use super::ast::*;
use super::trivia::{self, Comment, Lines};
use crate::source::Span;

/// Prints a whole file in canonical layout (no comments: the AST has none).
pub fn file(f: &File) -> String {
    let mut p = Printer::default();
    for (i, item) in f.items.iter().enumerate() {
        if i > 0 {
            p.out.push('\n');
        }
        p.item(item);
    }
    p.out
}

/// Prints a parsed file in canonical layout, keeping every comment of its source `text`
/// (own-line comments before the node that follows them, trailing comments at the end of
/// the printed line they trailed) and single blank lines between statements. Multi-line
/// items are always set apart by a blank line. Formatting its output again changes
/// nothing.
pub fn format(f: &File, text: &str) -> String {
    let mut doc_lines = Vec::new();
    for item in &f.items {
        if let Some(start) = trivia::doc_start(text, item.span.start) {
            doc_lines.push(start..item.span.start);
        }
    }
    // The parser turns these `///` runs into `Item::doc`, which the printer prints.
    let comments = trivia::comments(text)
        .into_iter()
        .filter(|c| !doc_lines.iter().any(|r| r.contains(&c.start)))
        .collect();
    let mut p = Printer {
        source: Some(text),
        trivia: Some(Trivia {
            text,
            lines: Lines::new(text),
            comments,
            next: 0,
            prev_end: 0,
            last_code_line: None,
            last_was_comment: false,
            block_start: true,
        }),
        ..Printer::default()
    };
    let mut prev_multi = false;
    for item in &f.items {
        let start = trivia::doc_start(text, item.span.start).unwrap_or(item.span.start);
        p.flush(start);
        let (mut blank, after_comment) = match &p.trivia {
            Some(t) if !p.out.is_empty() => (t.gap_has_blank(start), t.last_was_comment),
            _ => (false, true),
        };
        if let Some(t) = &mut p.trivia {
            // The gap above the item is settled: the doc lines follow at once.
            t.prev_end = t.prev_end.max(start);
            t.block_start = true;
        }
        let at = p.out.len();
        p.item(item);
        // Multi-line items are set apart from code (not from a comment above them).
        let multi = p.out[at..]
            .lines()
            .filter(|l| !l.starts_with("///"))
            .count()
            > 1;
        blank |= !after_comment && (prev_multi || multi);
        if blank {
            p.out.insert(at, '\n');
        }
        prev_multi = multi;
    }
    p.flush(usize::MAX);
    p.out
}

/// Prints one expression.
pub fn expr(e: &Expr) -> String {
    let mut p = Printer::default();
    p.expr(e, 0);
    p.out
}

/// Prints one call (`adam(lr = 0.001)`).
pub fn call(c: &Call) -> String {
    let mut p = Printer::default();
    p.call(c);
    p.out
}

#[derive(Default)]
struct Printer<'a> {
    out: String,
    indent: usize,
    /// The source text, when printing it again: number literals keep their spelling.
    source: Option<&'a str>,
    /// Present when printing with the source's comments.
    trivia: Option<Trivia<'a>>,
}

/// The comments still to print and where the printer is in the source text.
struct Trivia<'a> {
    text: &'a str,
    lines: Lines,
    comments: Vec<Comment>,
    /// Index of the first comment not yet printed.
    next: usize,
    /// Source offset after the last node or comment printed.
    prev_end: usize,
    /// Source line where the last printed code line's node ends.
    last_code_line: Option<usize>,
    /// The last line printed is an own-line comment.
    last_was_comment: bool,
    /// Nothing printed yet in the current block (no blank line goes here).
    block_start: bool,
}

impl Trivia<'_> {
    fn gap_has_blank(&self, to: usize) -> bool {
        let to = to.min(self.text.len());
        self.prev_end < to && trivia::has_blank_line(&self.text[self.prev_end..to])
    }
}

impl<'a> Printer<'a> {
    /// A printer for a piece of a line, reading the same source.
    fn sub(&self) -> Printer<'a> {
        Printer {
            source: self.source,
            ..Printer::default()
        }
    }

    fn expr_text(&self, e: &Expr) -> String {
        let mut p = self.sub();
        p.expr(e, 0);
        p.out
    }

    fn call_text(&self, c: &Call) -> String {
        let mut p = self.sub();
        p.call(c);
        p.out
    }

    fn args_text(&self, args: &[Arg]) -> String {
        args.iter()
            .map(|a| match &a.name {
                Some(n) => format!("{} = {}", n.name, self.expr_text(&a.value)),
                None => self.expr_text(&a.value),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn formal_text(&self, f: &Formal) -> String {
        let mut s = f.name.name.clone();
        if let Some(t) = &f.ty {
            let _ = write!(s, ": {}", t.name.name);
        }
        if let Some(d) = &f.default {
            let _ = write!(s, " = {}", self.expr_text(d));
        }
        s
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// Prints a line of code for the node at `span` (comments before it first).
    fn code(&mut self, s: &str, span: Span) {
        self.code_at(s, span.start, span.end);
    }

    fn code_at(&mut self, s: &str, start: usize, end: usize) {
        self.flush(start);
        if let Some(t) = &self.trivia
            && !t.block_start
            && t.gap_has_blank(start)
        {
            self.out.push('\n');
        }
        self.line(s);
        if let Some(t) = &mut self.trivia {
            t.prev_end = t.prev_end.max(end);
            t.last_code_line = Some(t.lines.line_of(end.saturating_sub(1).max(start)));
            t.last_was_comment = false;
            t.block_start = false;
        }
    }

    /// Prints a line ending in `{` for the node starting at `start`.
    fn open(&mut self, s: &str, start: usize) {
        self.code_at(s, start, start);
        if let Some(t) = &mut self.trivia {
            t.block_start = true;
        }
    }

    /// Prints the comments left inside a block (at the block's indentation), then its
    /// `}` (written at byte `brace`) one level out.
    fn close(&mut self, brace: usize) {
        self.indent += 1;
        self.flush(brace);
        self.indent -= 1;
        if let Some(t) = &mut self.trivia {
            t.block_start = true; // no blank line before `}`
        }
        self.code_at("}", brace, brace + 1);
    }

    /// Prints every comment that starts before byte `at`.
    fn flush(&mut self, at: usize) {
        let Some(t) = &mut self.trivia else { return };
        while let Some(c) = t.comments.get(t.next).filter(|c| c.start < at) {
            let c = c.clone();
            t.next += 1;
            let line = t.lines.line_of(c.start);
            if c.trailing && t.last_code_line == Some(line) && self.out.ends_with('\n') {
                self.out.pop();
                self.out.push_str("  ");
                self.out.push_str(&c.text);
                self.out.push('\n');
            } else {
                if !t.block_start && !self.out.is_empty() && t.gap_has_blank(c.start) {
                    self.out.push('\n');
                }
                for _ in 0..self.indent {
                    self.out.push_str("    ");
                }
                self.out.push_str(&c.text);
                self.out.push('\n');
                t.last_code_line = None;
                t.last_was_comment = true;
                t.block_start = false;
            }
            t.prev_end = t.prev_end.max(c.end);
        }
    }

    fn item(&mut self, item: &Item) {
        let written = self.trivia.as_ref().and_then(|t| {
            let start = trivia::doc_start(t.text, item.span.start)?;
            let end = t.text[..item.span.start].rfind('\n')?;
            Some(t.text.get(start..end)?.to_string())
        });
        if let Some(doc) = written {
            // Doc lines as written: a formatter does not edit comments.
            for l in doc.lines() {
                self.line(l.trim());
            }
        } else if let Some(doc) = &item.doc {
            for l in doc.lines() {
                self.line(format!("/// {l}").trim_end());
            }
        }
        let start = item.span.start;
        // The closing brace of a block item is its last byte.
        let brace = item.span.end.saturating_sub(1);
        match &item.kind {
            ItemKind::Use(u) => {
                let path: Vec<&str> = u.path.iter().map(|i| i.name.as_str()).collect();
                let names: Vec<&str> = u.names.iter().map(|i| i.name.as_str()).collect();
                let text = format!("use {}.{{{}}}", path.join("."), names.join(", "));
                self.code(&text, item.span);
            }
            ItemKind::Param(pd) => {
                let ty = pd
                    .ty
                    .as_ref()
                    .map(|t| format!(": {}", t.name.name))
                    .unwrap_or_default();
                let v = self.expr_text(&pd.value);
                self.code(&format!("param {}{ty} = {v}", pd.name.name), item.span);
            }
            ItemKind::Data(d) => self.code(
                &format!("data {} = {}", d.name.name, self.expr_text(&d.value)),
                item.span,
            ),
            ItemKind::Env(e) => self.code(
                &format!("env {} = {}", e.name.name, self.expr_text(&e.value)),
                item.span,
            ),
            ItemKind::Net(n) => {
                let formals = if n.formals.is_empty() {
                    String::new()
                } else {
                    let fs: Vec<String> = n.formals.iter().map(|f| self.formal_text(f)).collect();
                    format!("({})", fs.join(", "))
                };
                let head = format!("{} {}{formals}", n.kind.keyword(), n.name.name);
                // A net written on one line stays on one line while it fits.
                let one_line = self
                    .trivia
                    .as_ref()
                    .filter(|t| t.lines.line_of(start) == t.lines.line_of(brace))
                    .and_then(|_| self.inline_body(&n.body))
                    .map(|body| format!("{head} {body}"))
                    .filter(|text| self.indent * 4 + text.len() <= MAX_WIDTH);
                if let Some(text) = one_line {
                    self.code(&text, item.span);
                } else {
                    self.open(&format!("{head} {{"), start);
                    self.layers(&n.body);
                }
            }
            ItemKind::Model(m) => {
                let stages: Vec<String> = m.stages.iter().map(|c| self.call_text(c)).collect();
                let text = format!("model {} = {}", m.name.name, stages.join(" -> "));
                self.code(&text, item.span);
            }
            ItemKind::Train(t) => {
                self.open(&format!("train {} {{", t.name.name), start);
                self.fields(&t.fields);
                self.close(brace);
            }
            ItemKind::Tune(t) => {
                self.open(&format!("tune {} {{", t.name.name), start);
                // Fields and `space` blocks in the order they were written.
                let mut parts: Vec<(usize, Option<&Field>, Option<&SpaceBlock>)> = t
                    .fields
                    .iter()
                    .map(|f| (f.span.start, Some(f), None))
                    .chain(t.spaces.iter().map(|s| (s.span.start, None, Some(s))))
                    .collect();
                if self.trivia.is_none() {
                    parts.sort_by_key(|p| p.2.is_some());
                } else {
                    parts.sort_by_key(|p| p.0);
                }
                self.indent += 1;
                for part in parts {
                    if let Some(f) = part.1 {
                        let v = self.expr_text(&f.value);
                        self.code(&format!("{} = {v}", f.key.name), f.span);
                    }
                    if let Some(s) = part.2 {
                        self.open("space {", s.span.start);
                        self.indent += 1;
                        self.space_entries(&s.entries);
                        self.indent -= 1;
                        self.close(s.span.end.saturating_sub(1));
                    }
                }
                self.indent -= 1;
                self.close(brace);
            }
            ItemKind::Agent(a) => {
                let head = format!("agent {} = {}", a.name.name, self.call_text(&a.algo));
                if a.fields.is_empty() {
                    self.code(&head, item.span);
                } else {
                    self.open(&format!("{head} {{"), start);
                    self.fields(&a.fields);
                    self.close(brace);
                }
            }
        }
    }

    /// Search entries, each conditional branch as a nested block.
    fn space_entries(&mut self, entries: &[SpaceEntry]) {
        for e in entries {
            let d = self.call_text(&e.dist);
            if e.branches.is_empty() {
                self.code(&format!("{} ~ {d}", e.name.name), e.span);
                continue;
            }
            self.open(&format!("{} ~ {d} {{", e.name.name), e.span.start);
            self.indent += 1;
            for b in &e.branches {
                let v = self.expr_text(&b.value);
                self.open(&format!("{v} {{"), b.span.start);
                self.indent += 1;
                self.space_entries(&b.entries);
                self.indent -= 1;
                self.close(b.span.end.saturating_sub(1));
            }
            self.indent -= 1;
            self.close(e.span.end.saturating_sub(1));
        }
    }

    fn fields(&mut self, fields: &[Field]) {
        self.indent += 1;
        for f in fields {
            let v = self.expr_text(&f.value);
            self.code(&format!("{} = {v}", f.key.name), f.span);
        }
        self.indent -= 1;
    }

    /// Prints a block's layers one level in, then its closing brace. With the source
    /// at hand, layers written on one line stay on one line (`dense(64) relu`), and so
    /// does a `residual`/`repeat` block written on one line, while the line fits.
    fn layers(&mut self, block: &LayerBlock) {
        self.indent += 1;
        let mut i = 0;
        while i < block.layers.len() {
            let run = self.same_line_run(&block.layers[i..]);
            if run.len() > 1
                || (run.len() == 1 && !matches!(block.layers[i].kind, LayerKind::Call(_)))
            {
                let (first, last) = (&block.layers[i], &block.layers[i + run.len() - 1]);
                self.code_at(&run.join(" "), first.span.start, last.span.end);
                i += run.len();
                continue;
            }
            let l = &block.layers[i];
            match &l.kind {
                LayerKind::Call(c) => {
                    let text = self.call_text(c);
                    self.code(&text, l.span);
                }
                LayerKind::Residual(b) => {
                    self.open("residual {", l.span.start);
                    self.layers(b);
                }
                LayerKind::Repeat { args, body } => {
                    self.open(
                        &format!("repeat({}) {{", self.args_text(args)),
                        l.span.start,
                    );
                    self.layers(body);
                }
            }
            i += 1;
        }
        self.indent -= 1;
        self.close(block.span.end.saturating_sub(1));
    }

    /// The texts of the layers at the start of `layers` that the source wrote on one line
    /// (empty without a source, or when the first layer cannot be written inline).
    fn same_line_run(&self, layers: &[Layer]) -> Vec<String> {
        let Some(t) = &self.trivia else {
            return Vec::new();
        };
        let mut run = Vec::new();
        let mut width = self.indent * 4;
        let mut prev_line = None;
        for l in layers {
            let line = t.lines.line_of(l.span.start);
            if prev_line.is_some_and(|p| p != line) {
                break;
            }
            let Some(text) = self.inline_text(l) else {
                break;
            };
            width += text.len() + usize::from(!run.is_empty());
            if width > MAX_WIDTH && !run.is_empty() {
                break;
            }
            run.push(text);
            prev_line = Some(t.lines.line_of(l.span.end.saturating_sub(1)));
        }
        run
    }

    /// A layer as one line, if the source wrote it on one line and it fits.
    fn inline_text(&self, l: &Layer) -> Option<String> {
        let t = self.trivia.as_ref()?;
        if t.lines.line_of(l.span.start) != t.lines.line_of(l.span.end.saturating_sub(1)) {
            return None;
        }
        let text = match &l.kind {
            LayerKind::Call(c) => self.call_text(c),
            LayerKind::Residual(b) => format!("residual {}", self.inline_body(b)?),
            LayerKind::Repeat { args, body } => {
                format!(
                    "repeat({}) {}",
                    self.args_text(args),
                    self.inline_body(body)?
                )
            }
        };
        (self.indent * 4 + text.len() <= MAX_WIDTH).then_some(text)
    }

    fn inline_body(&self, b: &LayerBlock) -> Option<String> {
        let parts: Option<Vec<String>> = b.layers.iter().map(|l| self.inline_text(l)).collect();
        let parts = parts?;
        Some(if parts.is_empty() {
            "{}".to_string()
        } else {
            format!("{{ {} }}", parts.join(" "))
        })
    }

    fn call(&mut self, c: &Call) {
        self.out.push_str(&c.dotted());
        if let Some(args) = &c.args {
            self.out.push('(');
            let text = self.args_text(args);
            self.out.push_str(&text);
            self.out.push(')');
        }
    }

    /// The spelling of a number literal in the source (`1e-3` stays `1e-3`).
    fn literal(&self, e: &Expr) -> Option<&'a str> {
        let text = self.source?.get(e.span.start..e.span.end)?;
        let digits = text.strip_prefix('-').unwrap_or(text);
        let is_number = digits.starts_with(|c: char| c.is_ascii_digit())
            && digits
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'));
        is_number.then_some(text)
    }

    /// Prints `e`, parenthesised when its operator binds looser than `min_prec`.
    fn expr(&mut self, e: &Expr, min_prec: u8) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) if self.literal(e).is_some() => {
                let text = self.literal(e).unwrap_or_default();
                if text.starts_with('-') && min_prec > PREC_NEG {
                    let _ = write!(self.out, "({text})");
                } else {
                    self.out.push_str(text);
                }
            }
            ExprKind::Int(v) => {
                // Only i64::MIN is negative (its literal is `-9223372036854775808`); it
                // prints like a negation.
                if *v < 0 && min_prec > PREC_NEG {
                    let _ = write!(self.out, "({v})");
                } else {
                    let _ = write!(self.out, "{v}");
                }
            }
            ExprKind::Float(v) => self.out.push_str(&float_text(*v)),
            ExprKind::Str(s) => {
                if s.contains('\n') && !s.contains("\"\"\"") {
                    let _ = write!(self.out, "\"\"\"{s}\"\"\"");
                } else {
                    self.out.push('"');
                    for ch in s.chars() {
                        match ch {
                            '\n' => self.out.push_str("\\n"),
                            '\t' => self.out.push_str("\\t"),
                            '\\' => self.out.push_str("\\\\"),
                            '"' => self.out.push_str("\\\""),
                            c => self.out.push(c),
                        }
                    }
                    self.out.push('"');
                }
            }
            ExprKind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            ExprKind::List(items) => {
                self.out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(it, 0);
                }
                self.out.push(']');
            }
            ExprKind::Call(c) => self.call(c),
            ExprKind::Neg(inner) => {
                let paren = min_prec > PREC_NEG;
                if paren {
                    self.out.push('(');
                }
                self.out.push('-');
                self.expr(inner, PREC_NEG);
                if paren {
                    self.out.push(')');
                }
            }
            ExprKind::Binary(op, l, r) => {
                let prec = prec(*op);
                let paren = prec < min_prec;
                if paren {
                    self.out.push('(');
                }
                // Left-associative ops need a tighter right side; `^` is right-associative.
                let (lp, rp) = if *op == BinOp::Pow {
                    (prec + 1, prec)
                } else {
                    (prec, prec + 1)
                };
                // A prefix minus needs no parentheses on the right of an operator:
                // nothing to its left can take its operand (`2 ^ -1`, `a * -b`).
                let negative = match &r.kind {
                    ExprKind::Neg(_) => true,
                    ExprKind::Int(v) => *v < 0,
                    _ => false,
                };
                let rp = if negative { rp.min(PREC_NEG) } else { rp };
                self.expr(l, lp);
                let _ = write!(self.out, " {} ", op.symbol());
                self.expr(r, rp);
                if paren {
                    self.out.push(')');
                }
            }
        }
    }
}

const PREC_NEG: u8 = 3;

/// Lines longer than this are not joined.
const MAX_WIDTH: usize = 100;

fn prec(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 1,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 2,
        BinOp::Pow => 4,
    }
}

/// A float printed so that it reads back as a float with the same value.
pub fn float_text(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}
