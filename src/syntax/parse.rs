//! pest parse tree → [`ast`](super::ast). The only module that sees pest types.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use crate::diag::Diag;
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/amm.pest"]
struct AmmParser;

/// Deepest nesting of brackets accepted. Real programs nest a handful of levels; the bound
/// keeps every recursive pass (parser, Pratt climbing, printers, drop) far from the stack
/// limit on adversarial input.
pub const MAX_NESTING: usize = 32;

/// Most operators (binary and unary) at one bracket level of an expression (each pair of
/// brackets starts a new count: the limit bounds the depth of the tree, not the size of a
/// formula, which the input size bounds already). Together with
/// [`MAX_NESTING`] it bounds the depth of any expression tree (≤ 32 × 100), so recursive
/// evaluation, printing and dropping stay within even a 2 MiB thread stack.
pub const MAX_OPERATORS: usize = 100;

/// Upper bound on pest's rule calls per parse, proportional to the input, so pathological
/// backtracking fails with a diagnostic instead of hanging.
const CALLS_PER_BYTE: usize = 400;

/// Parses one file. On syntax errors, returns every error it can find: after the first, it
/// resynchronises at the next line that starts a declaration and parses on from there.
pub fn parse_file(file: FileId, text: &str) -> Result<File, Vec<Diag>> {
    if let Some(d) = check_nesting(file, text) {
        return Err(vec![d]);
    }
    set_call_limit(text.len());
    match parse_items(file, text, 0) {
        Ok(items) => Ok(File { items }),
        Err(first) => {
            let mut errors = vec![first];
            let mut chunk = 0;
            let mut at = errors[0].primary_span().map_or(text.len(), |s| s.start);
            while errors.len() < 20 {
                let Some(next) = next_item_start(text, chunk, at) else {
                    break;
                };
                chunk = next;
                match parse_items(file, text, next) {
                    Ok(_) => break,
                    Err(d) => {
                        let span = d.primary_span().map_or(text.len(), |s| s.start);
                        let seen = errors.iter().any(|e| {
                            e.primary_span() == d.primary_span() && e.message == d.message
                        });
                        if seen {
                            // Same error again (it sits on the resumed line itself): look for the
                            // next declaration after it instead.
                            at = text[span..].find('\n').map_or(text.len(), |i| span + i + 1);
                        } else {
                            at = span;
                            errors.push(d);
                        }
                    }
                }
            }
            Err(errors)
        }
    }
}

fn set_call_limit(len: usize) {
    let limit = len.saturating_mul(CALLS_PER_BYTE).max(1_000_000);
    pest::set_call_limit(NonZeroUsize::new(limit));
}

/// Parses the items of `text[from..]`, returning spans relative to the whole text.
fn parse_items(file: FileId, text: &str, from: usize) -> Result<Vec<Item>, Diag> {
    let input = &text[from..];
    let mut pairs =
        AmmParser::parse(Rule::file, input).map_err(|e| syntax_error(file, from, input, e))?;
    let Some(root) = pairs.next() else {
        return Ok(Vec::new());
    };
    let b = Builder {
        file,
        base: from,
        text,
    };
    let mut items = Vec::new();
    for pair in root.into_inner() {
        if pair.as_rule() == Rule::EOI {
            continue;
        }
        items.push(b.item(pair)?);
    }
    Ok(items)
}

/// Where to resume after a syntax error at `error`: the first line at or after the error's
/// line (and after the chunk that failed) that starts, in column 0, with a declaration
/// keyword. Declarations inside blocks are indented by convention, so column 0 is a good
/// signal of a fresh top-level item.
fn next_item_start(text: &str, chunk: usize, error: usize) -> Option<usize> {
    const KEYWORDS: [&str; 10] = [
        "use", "param", "data", "backbone", "head", "model", "train", "tune", "env", "agent",
    ];
    let error = error.min(text.len());
    let mut offset = text[..error].rfind('\n').map_or(0, |i| i + 1);
    while offset < text.len() {
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let word: String = text[offset..line_end]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if offset > chunk && KEYWORDS.contains(&word.as_str()) {
            return Some(offset);
        }
        offset = line_end + 1;
    }
    None
}

/// Rejects bracket nesting deeper than [`MAX_NESTING`] before pest recurses into it.
fn check_nesting(file: FileId, text: &str) -> Option<Diag> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diag::new(
                            "amm::parse::too_deep",
                            format!("brackets nested more than {MAX_NESTING} levels deep"),
                        )
                        .primary(Span::new(file, i, i + 1), "this bracket is too deep")
                        .help("flatten the expression or split it into named params"),
                    );
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Turns a pest error into a diagnostic that names what was expected in words.
fn syntax_error(file: FileId, base: usize, input: &str, e: pest::error::Error<Rule>) -> Diag {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((a, b)) => (a, b),
    };
    // Point at the offending token (or end of file) rather than at an empty position.
    let end = if end > start {
        end
    } else {
        token_end(input, start)
    };
    let span = Span::new(file, base + start, base + end);
    let found = describe_found(&input[start..end]);
    match e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            if positives.is_empty() && found.starts_with("the end") {
                return Diag::new("amm::parse::limit", "the parser gave up on this input")
                    .primary(span, "here");
            }
            let mut words: Vec<&'static str> =
                positives.iter().filter_map(|r| rule_word(*r)).collect();
            words.sort_unstable();
            words.dedup();
            let expected = join_alternatives(&words);
            let mut d = Diag::new(
                "amm::parse::expected",
                format!("expected {expected}, found {found}"),
            )
            .primary(span, format!("expected {expected}"));
            let line_start = start == 0 || input.as_bytes()[start - 1] == b'\n';
            if line_start && is_declaration_keyword(&input[start..end]) {
                return d.help(format!(
                    "the declaration above is not finished when `{}` starts a new one: it still needs {expected}",
                    &input[start..end]
                ));
            }
            if let Some(h) = hint(&positives, &input[start..end]) {
                d = d.help(h);
            }
            d
        }
        ErrorVariant::CustomError { message } => {
            if message.contains("call limit") {
                Diag::new("amm::parse::limit", "this file is too complex to parse")
                    .primary(span, "the parser gave up here")
                    .help("split the file into smaller files joined with `use`")
            } else {
                Diag::new("amm::parse::expected", message).primary(span, "here")
            }
        }
    }
}

/// The end of the token starting at `start`: a word, a number, or one character.
fn token_end(input: &str, start: usize) -> usize {
    let rest = &input[start..];
    let Some(c) = rest.chars().next() else {
        return start;
    };
    if c.is_ascii_digit() {
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len()
            && (b[i].is_ascii_alphanumeric()
                || b[i] == b'_'
                || b[i] == b'.'
                || ((b[i] == b'-' || b[i] == b'+') && i > 0 && matches!(b[i - 1], b'e' | b'E')))
        {
            i += 1;
        }
        start + i
    } else if c.is_ascii_alphanumeric() || c == '_' {
        start
            + rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len())
    } else {
        start + c.len_utf8()
    }
}

fn describe_found(tok: &str) -> String {
    if tok.is_empty() {
        "the end of the file".to_string()
    } else if tok == "\n" || tok.trim().is_empty() {
        "a line break".to_string()
    } else {
        let shown: String = tok
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect();
        format!("`{shown}`")
    }
}

fn join_alternatives(words: &[&str]) -> String {
    match words {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What a grammar rule is called in an error message.
fn rule_word(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::use_decl
        | Rule::param_decl
        | Rule::data_decl
        | Rule::backbone_decl
        | Rule::head_decl
        | Rule::model_decl
        | Rule::train_decl
        | Rule::tune_decl
        | Rule::env_decl
        | Rule::agent_decl
        | Rule::kw_use
        | Rule::kw_param
        | Rule::kw_data
        | Rule::kw_backbone
        | Rule::kw_head
        | Rule::kw_model
        | Rule::kw_train
        | Rule::kw_tune
        | Rule::kw_env
        | Rule::kw_agent => {
            "a declaration (`use`, `param`, `data`, `backbone`, `head`, `model`, `train`, `tune`, `env`, `agent`)"
        }
        Rule::kw_space | Rule::space_block => "`space`",
        Rule::kw_residual | Rule::residual_layer => "`residual`",
        Rule::kw_repeat | Rule::repeat_layer => "`repeat`",
        Rule::ident | Rule::module_path | Rule::stage | Rule::call_layer => "a name",
        Rule::key | Rule::field => "a field name",
        Rule::type_ann => "`:`",
        Rule::eq => "`=`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::dot => "`.`",
        Rule::arrow => "`->`",
        Rule::tilde => "`~`",
        Rule::lparen | Rule::args | Rule::formals | Rule::paren => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrace | Rule::layer_block | Rule::field_block => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket | Rule::list => "`[`",
        Rule::rbracket => "`]`",
        Rule::expr
        | Rule::primary
        | Rule::number
        | Rule::string
        | Rule::triple_string
        | Rule::call
        | Rule::path
        | Rule::kw_true
        | Rule::kw_false
        | Rule::neg
        | Rule::arg => "a value",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::rem | Rule::pow => "an operator",
        Rule::space_entry => "a search entry (`name ~ distribution(…)`)",
        Rule::space_branches | Rule::space_branch => {
            "a branch (`value { name ~ distribution(…) }`)"
        }
        Rule::string_inner | Rule::triple_inner => "the closing `\"`",
        _ => return None,
    })
}

fn hint(positives: &[Rule], found: &str) -> Option<String> {
    if positives.contains(&Rule::ident) && is_keyword(found) {
        return Some(format!(
            "`{found}` is a keyword and cannot be used as a name; pick another name"
        ));
    }
    if positives.contains(&Rule::eq) && found == ":" {
        return Some("fields are written `name = value`".to_string());
    }
    if positives.contains(&Rule::tilde) && found == "=" {
        return Some("inside `space`, write `name ~ distribution(…)`".to_string());
    }
    if found == "\"" || found.starts_with('"') {
        return Some(
            "strings end on the same line; use `\"\"\"…\"\"\"` for text over several lines"
                .to_string(),
        );
    }
    None
}

fn is_declaration_keyword(word: &str) -> bool {
    matches!(
        word,
        "use"
            | "param"
            | "data"
            | "backbone"
            | "head"
            | "model"
            | "train"
            | "tune"
            | "env"
            | "agent"
    )
}

/// True for the reserved words of the language.
pub fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "use"
            | "param"
            | "data"
            | "backbone"
            | "head"
            | "model"
            | "train"
            | "tune"
            | "env"
            | "agent"
            | "space"
            | "residual"
            | "repeat"
            | "true"
            | "false"
    )
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::rem, Assoc::Left))
            .op(Op::prefix(Rule::neg))
            .op(Op::infix(Rule::pow, Assoc::Right))
    })
}

/// Builds AST nodes from pest pairs; `base` shifts spans when parsing resumed mid-file.
struct Builder<'t> {
    file: FileId,
    base: usize,
    text: &'t str,
}

type Res<T> = Result<T, Diag>;

impl Builder<'_> {
    /// The span of a pair without trailing whitespace or comments. pest's implicit
    /// whitespace before an optional part that then does not match (`args?`) stays inside
    /// the pair, so the end is taken from the last token inside it.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        let end = last_token_end(p).unwrap_or(s.end());
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn item(&self, p: Pair<Rule>) -> Res<Item> {
        let span = self.span(&p);
        let doc = self.doc_before(span.start);
        let rule = p.as_rule();
        let mut inner = p.into_inner().filter(|q| !is_punct(q.as_rule()));
        // Every declaration starts with its keyword.
        inner.next();
        let kind = match rule {
            Rule::use_decl => {
                let path_pair = next(&mut inner, span)?;
                let path_span = self.span(&path_pair);
                let path = path_pair
                    .into_inner()
                    .filter(|q| matches!(q.as_rule(), Rule::ident | Rule::key))
                    .map(|q| self.ident(q))
                    .collect();
                let names = inner.map(|q| self.ident(q)).collect();
                ItemKind::Use(UseDecl {
                    path,
                    names,
                    path_span,
                })
            }
            Rule::param_decl => {
                let name = self.ident(next(&mut inner, span)?);
                let mut ty = None;
                let mut value = None;
                for q in inner {
                    match q.as_rule() {
                        Rule::type_ann => ty = Some(self.type_ann(q, span)?),
                        _ => value = Some(self.expr(q)?),
                    }
                }
                ItemKind::Param(ParamDecl {
                    name,
                    ty,
                    value: value.ok_or_else(|| internal(span))?,
                })
            }
            Rule::data_decl => ItemKind::Data(DataDecl {
                name: self.ident(next(&mut inner, span)?),
                value: self.expr(next(&mut inner, span)?)?,
            }),
            Rule::env_decl => ItemKind::Env(EnvDecl {
                name: self.ident(next(&mut inner, span)?),
                value: self.expr(next(&mut inner, span)?)?,
            }),
            Rule::backbone_decl | Rule::head_decl => {
                let kind = if rule == Rule::backbone_decl {
                    NetKind::Backbone
                } else {
                    NetKind::Head
                };
                let name = self.ident(next(&mut inner, span)?);
                let mut formals = Vec::new();
                let mut body = None;
                for q in inner {
                    match q.as_rule() {
                        Rule::formals => {
                            for f in q.into_inner().filter(|f| f.as_rule() == Rule::formal) {
                                formals.push(self.formal(f)?);
                            }
                        }
                        _ => body = Some(self.layer_block(q)?),
                    }
                }
                ItemKind::Net(NetDecl {
                    kind,
                    name,
                    formals,
                    body: body.ok_or_else(|| internal(span))?,
                })
            }
            Rule::model_decl => {
                let name = self.ident(next(&mut inner, span)?);
                let stages = inner.map(|q| self.call_like(q)).collect::<Res<Vec<_>>>()?;
                ItemKind::Model(ModelDecl { name, stages })
            }
            Rule::train_decl => {
                let name = self.ident(next(&mut inner, span)?);
                let fields = self.fields(next(&mut inner, span)?)?;
                ItemKind::Train(TrainDecl { name, fields })
            }
            Rule::tune_decl => {
                let name = self.ident(next(&mut inner, span)?);
                let mut fields = Vec::new();
                let mut spaces = Vec::new();
                for q in inner {
                    match q.as_rule() {
                        Rule::field => fields.push(self.field(q)?),
                        Rule::space_block => spaces.push(self.space(q)?),
                        _ => return Err(internal(span)),
                    }
                }
                ItemKind::Tune(TuneDecl {
                    name,
                    fields,
                    spaces,
                })
            }
            Rule::agent_decl => {
                let name = self.ident(next(&mut inner, span)?);
                let algo = self.call_like(next(&mut inner, span)?)?;
                let fields = match inner.next() {
                    Some(q) => self.fields(q)?,
                    None => Vec::new(),
                };
                ItemKind::Agent(AgentDecl { name, algo, fields })
            }
            _ => return Err(internal(span)),
        };
        Ok(Item { doc, kind, span })
    }

    /// Collects the `///` lines directly above `start` (blank lines end the comment).
    fn doc_before(&self, start: usize) -> Option<String> {
        let before = &self.text[..start];
        let mut lines: Vec<&str> = Vec::new();
        // The text before `start` on the item's own line is indentation only.
        let mut rest = match before.rfind('\n') {
            // Code before the item on its line (`env a = … agent b = …`): the doc above
            // the line belongs to that code, not to this item.
            Some(i) if before[i + 1..].trim().is_empty() => &before[..i],
            _ => return None,
        };
        loop {
            let (head, line) = match rest.rfind('\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => ("", rest),
            };
            let t = line.trim();
            if let Some(doc) = t.strip_prefix("///") {
                lines.push(doc.strip_prefix(' ').unwrap_or(doc));
            } else {
                break;
            }
            if head.is_empty() && !rest.contains('\n') {
                break;
            }
            rest = head;
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        Some(lines.join("\n"))
    }

    fn type_ann(&self, p: Pair<Rule>, span: Span) -> Res<TypeAnn> {
        let key = p
            .into_inner()
            .find(|q| q.as_rule() == Rule::key)
            .ok_or_else(|| internal(span))?;
        Ok(TypeAnn {
            name: self.ident(key),
        })
    }

    fn formal(&self, p: Pair<Rule>) -> Res<Formal> {
        let span = self.span(&p);
        let mut inner = p.into_inner().filter(|q| !is_punct(q.as_rule()));
        let name = self.ident(next(&mut inner, span)?);
        let mut ty = None;
        let mut default = None;
        for q in inner {
            match q.as_rule() {
                Rule::type_ann => ty = Some(self.type_ann(q, span)?),
                _ => default = Some(self.expr(q)?),
            }
        }
        Ok(Formal {
            name,
            ty,
            default,
            span,
        })
    }

    fn layer_block(&self, p: Pair<Rule>) -> Res<LayerBlock> {
        let span = self.span(&p);
        let mut layers = Vec::new();
        for q in p.into_inner().filter(|q| !is_punct(q.as_rule())) {
            let lspan = self.span(&q);
            let kind = match q.as_rule() {
                Rule::call_layer => LayerKind::Call(self.call_like(q)?),
                Rule::residual_layer => {
                    let block = q
                        .into_inner()
                        .find(|r| r.as_rule() == Rule::layer_block)
                        .ok_or_else(|| internal(lspan))?;
                    LayerKind::Residual(self.layer_block(block)?)
                }
                Rule::repeat_layer => {
                    let mut args = Vec::new();
                    let mut body = None;
                    for r in q.into_inner() {
                        match r.as_rule() {
                            Rule::args => args = self.args(r)?,
                            Rule::layer_block => body = Some(self.layer_block(r)?),
                            _ => {}
                        }
                    }
                    LayerKind::Repeat {
                        args,
                        body: body.ok_or_else(|| internal(lspan))?,
                    }
                }
                _ => return Err(internal(lspan)),
            };
            layers.push(Layer { kind, span: lspan });
        }
        Ok(LayerBlock { layers, span })
    }

    fn fields(&self, p: Pair<Rule>) -> Res<Vec<Field>> {
        p.into_inner()
            .filter(|q| q.as_rule() == Rule::field)
            .map(|q| self.field(q))
            .collect()
    }

    fn field(&self, p: Pair<Rule>) -> Res<Field> {
        let span = self.span(&p);
        let mut inner = p.into_inner().filter(|q| !is_punct(q.as_rule()));
        let key = self.ident(next(&mut inner, span)?);
        let value = self.expr(next(&mut inner, span)?)?;
        Ok(Field { key, value, span })
    }

    fn space(&self, p: Pair<Rule>) -> Res<SpaceBlock> {
        let span = self.span(&p);
        let entries = self.space_entries(p)?;
        Ok(SpaceBlock { entries, span })
    }

    /// The `space_entry` children of a `space` block or a branch.
    fn space_entries(&self, p: Pair<Rule>) -> Res<Vec<SpaceEntry>> {
        let mut entries = Vec::new();
        for q in p.into_inner().filter(|q| q.as_rule() == Rule::space_entry) {
            let espan = self.span(&q);
            let mut inner = q.into_inner().filter(|r| !is_punct(r.as_rule()));
            let name = self.ident(next(&mut inner, espan)?);
            let dist = self.call_like(next(&mut inner, espan)?)?;
            let mut branches = Vec::new();
            if let Some(bs) = inner.next() {
                for b in bs
                    .into_inner()
                    .filter(|r| r.as_rule() == Rule::space_branch)
                {
                    let bspan = self.span(&b);
                    let mut parts = b.clone().into_inner().filter(|r| !is_punct(r.as_rule()));
                    let value = self.expr(next(&mut parts, bspan)?)?;
                    branches.push(SpaceBranch {
                        value,
                        entries: self.space_entries(b)?,
                        span: bspan,
                    });
                }
            }
            entries.push(SpaceEntry {
                name,
                dist,
                branches,
                span: espan,
            });
        }
        Ok(entries)
    }

    /// `call`, `stage` and `call_layer` all have the shape `path-or-ident args?`.
    fn call_like(&self, p: Pair<Rule>) -> Res<Call> {
        let span = self.span(&p);
        let mut path = Vec::new();
        let mut args = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => path.push(self.ident(q)),
                Rule::path => {
                    for seg in q.into_inner() {
                        path.push(self.ident(seg));
                    }
                }
                Rule::args => args = Some(self.args(q)?),
                _ => {}
            }
        }
        if path.is_empty() {
            return Err(internal(span));
        }
        Ok(Call { path, args, span })
    }

    fn args(&self, p: Pair<Rule>) -> Res<Vec<Arg>> {
        let mut out = Vec::new();
        for q in p.into_inner().filter(|q| q.as_rule() == Rule::arg) {
            let span = self.span(&q);
            let mut name = None;
            let mut value = None;
            for r in q.into_inner() {
                match r.as_rule() {
                    Rule::key => name = Some(self.ident(r)),
                    Rule::expr => value = Some(self.expr(r)?),
                    _ => {}
                }
            }
            out.push(Arg {
                name,
                value: value.ok_or_else(|| internal(span))?,
                span,
            });
        }
        Ok(out)
    }

    fn expr(&self, p: Pair<Rule>) -> Res<Expr> {
        let ops = p
            .clone()
            .into_inner()
            .filter(|q| {
                matches!(
                    q.as_rule(),
                    Rule::add
                        | Rule::sub
                        | Rule::mul
                        | Rule::div
                        | Rule::rem
                        | Rule::pow
                        | Rule::neg
                )
            })
            .count();
        if ops > MAX_OPERATORS {
            return Err(Diag::new(
                "amm::parse::too_long",
                format!("expression with {ops} operators at one bracket level; at most {MAX_OPERATORS} are allowed per level"),
            )
            .primary(self.span(&p), "this expression")
            .help("group part of it in brackets, or split it into several params"));
        }
        // `-9223372036854775808` is i64::MIN, but its magnitude alone does not fit in an
        // i64: a minus sign directly before that literal (and not before a power of it, which
        // binds tighter) makes the two one literal.
        let items: Vec<Pair<Rule>> = p.clone().into_inner().collect();
        let min_literals: Vec<Span> = items
            .windows(2)
            .enumerate()
            .filter(|(i, w)| {
                w[0].as_rule() == Rule::neg
                    && w[1].as_rule() == Rule::number
                    && is_min_magnitude(w[1].as_str())
                    && items.get(i + 2).is_none_or(|q| q.as_rule() != Rule::pow)
            })
            .map(|(_, w)| self.span(&w[1]))
            .collect();
        pratt()
            .map_primary(|q| {
                if q.as_rule() == Rule::number && min_literals.contains(&self.span(&q)) {
                    return Ok(Expr {
                        kind: ExprKind::Int(i64::MIN),
                        span: self.span(&q),
                    });
                }
                self.primary(q)
            })
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = self.span(&op).to(rhs.span);
                // The marked literal itself, not `-(…)` around it.
                if min_literals.contains(&rhs.span) {
                    return Ok(Expr {
                        kind: rhs.kind,
                        span,
                    });
                }
                Ok(Expr {
                    kind: ExprKind::Neg(Box::new(rhs)),
                    span,
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let bin = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    Rule::rem => BinOp::Rem,
                    _ => BinOp::Pow,
                };
                let span = lhs.span.to(rhs.span);
                Ok(Expr {
                    kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                    span,
                })
            })
            .parse(p.into_inner())
    }

    fn primary(&self, p: Pair<Rule>) -> Res<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => number(p.as_str(), span)?,
            Rule::string => {
                let inner = p.into_inner().next().map_or("", |q| q.as_str());
                ExprKind::Str(unescape(inner, span)?)
            }
            Rule::triple_string => {
                let inner = p.into_inner().next().map_or("", |q| q.as_str());
                ExprKind::Str(inner.to_string())
            }
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::list => ExprKind::List(
                p.into_inner()
                    .filter(|q| q.as_rule() == Rule::expr)
                    .map(|q| self.expr(q))
                    .collect::<Res<Vec<_>>>()?,
            ),
            Rule::call => ExprKind::Call(self.call_like(p)?),
            Rule::paren => {
                let inner = p
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::expr)
                    .ok_or_else(|| internal(span))?;
                let mut e = self.expr(inner)?;
                e.span = span;
                return Ok(e);
            }
            _ => return Err(internal(span)),
        };
        Ok(Expr { kind, span })
    }
}

fn last_token_end(p: &Pair<Rule>) -> Option<usize> {
    // Iterative: `into_inner().last()` descends one level at a time.
    let mut cur = p.clone();
    loop {
        if matches!(
            cur.as_rule(),
            Rule::string | Rule::triple_string | Rule::path
        ) {
            return Some(cur.as_span().end());
        }
        match cur.clone().into_inner().last() {
            Some(child) => cur = child,
            None => return Some(cur.as_span().end()),
        }
    }
}

fn is_punct(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::eq
            | Rule::colon
            | Rule::comma
            | Rule::dot
            | Rule::arrow
            | Rule::tilde
            | Rule::lparen
            | Rule::rparen
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lbracket
            | Rule::rbracket
    )
}

fn next<'i>(it: &mut impl Iterator<Item = Pair<'i, Rule>>, span: Span) -> Res<Pair<'i, Rule>> {
    it.next().ok_or_else(|| internal(span))
}

/// The grammar and the builder disagree: a bug in ammc, reported rather than panicking.
fn internal(span: Span) -> Diag {
    Diag::new(
        "amm::internal::parse_tree",
        "internal error: unexpected parse tree shape",
    )
    .primary(span, "while reading this")
    .help("this is a bug in ammc; please report it with this file")
}

/// Whether a literal's text is 2^63, the magnitude of the smallest i64.
fn is_min_magnitude(text: &str) -> bool {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    clean.trim_start_matches('0') == "9223372036854775808"
}

fn number(text: &str, span: Span) -> Res<ExprKind> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let is_float = clean.contains(['.', 'e', 'E']);
    if is_float {
        match clean.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(ExprKind::Float(v)),
            _ => Err(Diag::new(
                "amm::parse::number",
                format!("`{text}` is not a finite number"),
            )
            .primary(span, "out of range for a 64-bit float")),
        }
    } else {
        clean.parse::<i64>().map(ExprKind::Int).map_err(|_| {
            Diag::new("amm::parse::number", format!("integer `{text}` is too large"))
                .primary(span, "does not fit in 64 bits")
                .help("integers range from -9223372036854775808 to 9223372036854775807; write a float (e.g. `1e20`) for larger values")
        })
    }
}

fn unescape(s: &str, span: Span) -> Res<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, '"')) => out.push('"'),
            Some((j, other)) => {
                // +1 for the opening quote that `s` excludes.
                let at = span.start + 1 + i;
                let end = span.start + 1 + j + other.len_utf8();
                return Err(Diag::new(
                    "amm::parse::escape",
                    format!("unknown escape `\\{other}` in string"),
                )
                .primary(Span::new(span.file, at, end), "not a known escape")
                .help("the escapes are \\n, \\t, \\\\ and \\\""));
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}
