//! Canonical text of an AST: what `ammc fmt`-style output and snapshot tests show.
//! Printing then re-parsing gives the same tree (a property the tests check).

use std::fmt::Write;

use super::ast::*;

/// Prints a whole file in canonical layout.
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
struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        if let Some(doc) = &item.doc {
            for l in doc.lines() {
                self.line(format!("/// {l}").trim_end());
            }
        }
        match &item.kind {
            ItemKind::Use(u) => {
                let path: Vec<&str> = u.path.iter().map(|i| i.name.as_str()).collect();
                let names: Vec<&str> = u.names.iter().map(|i| i.name.as_str()).collect();
                self.line(&format!("use {}.{{{}}}", path.join("."), names.join(", ")));
            }
            ItemKind::Param(pd) => {
                let ty = pd
                    .ty
                    .as_ref()
                    .map(|t| format!(": {}", t.name.name))
                    .unwrap_or_default();
                let v = expr(&pd.value);
                self.line(&format!("param {}{ty} = {v}", pd.name.name));
            }
            ItemKind::Data(d) => self.line(&format!("data {} = {}", d.name.name, expr(&d.value))),
            ItemKind::Env(e) => self.line(&format!("env {} = {}", e.name.name, expr(&e.value))),
            ItemKind::Net(n) => {
                let formals = if n.formals.is_empty() {
                    String::new()
                } else {
                    let fs: Vec<String> = n.formals.iter().map(formal).collect();
                    format!("({})", fs.join(", "))
                };
                self.line(&format!("{} {}{formals} {{", n.kind.keyword(), n.name.name));
                self.layers(&n.body);
                self.line("}");
            }
            ItemKind::Model(m) => {
                let stages: Vec<String> = m.stages.iter().map(call).collect();
                self.line(&format!("model {} = {}", m.name.name, stages.join(" -> ")));
            }
            ItemKind::Train(t) => {
                self.line(&format!("train {} {{", t.name.name));
                self.fields(&t.fields);
                self.line("}");
            }
            ItemKind::Tune(t) => {
                self.line(&format!("tune {} {{", t.name.name));
                self.fields(&t.fields);
                for s in &t.spaces {
                    self.indent += 1;
                    self.line("space {");
                    self.indent += 1;
                    for e in &s.entries {
                        let d = call(&e.dist);
                        self.line(&format!("{} ~ {d}", e.name.name));
                    }
                    self.indent -= 1;
                    self.line("}");
                    self.indent -= 1;
                }
                self.line("}");
            }
            ItemKind::Agent(a) => {
                let head = format!("agent {} = {}", a.name.name, call(&a.algo));
                if a.fields.is_empty() {
                    self.line(&head);
                } else {
                    self.line(&format!("{head} {{"));
                    self.fields(&a.fields);
                    self.line("}");
                }
            }
        }
    }

    fn fields(&mut self, fields: &[Field]) {
        self.indent += 1;
        for f in fields {
            let v = expr(&f.value);
            self.line(&format!("{} = {v}", f.key.name));
        }
        self.indent -= 1;
    }

    fn layers(&mut self, block: &LayerBlock) {
        self.indent += 1;
        for l in &block.layers {
            match &l.kind {
                LayerKind::Call(c) => self.line(&call(c)),
                LayerKind::Residual(b) => {
                    self.line("residual {");
                    self.layers(b);
                    self.line("}");
                }
                LayerKind::Repeat { args, body } => {
                    self.line(&format!("repeat({}) {{", args_text(args)));
                    self.layers(body);
                    self.line("}");
                }
            }
        }
        self.indent -= 1;
    }

    fn call(&mut self, c: &Call) {
        self.out.push_str(&c.dotted());
        if let Some(args) = &c.args {
            self.out.push('(');
            self.out.push_str(&args_text(args));
            self.out.push(')');
        }
    }

    /// Prints `e`, parenthesised when its operator binds looser than `min_prec`.
    fn expr(&mut self, e: &Expr, min_prec: u8) {
        match &e.kind {
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

fn prec(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 1,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 2,
        BinOp::Pow => 4,
    }
}

fn args_text(args: &[Arg]) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, expr(&a.value)),
            None => expr(&a.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn formal(f: &Formal) -> String {
    let mut s = f.name.name.clone();
    if let Some(t) = &f.ty {
        let _ = write!(s, ": {}", t.name.name);
    }
    if let Some(d) = &f.default {
        let _ = write!(s, " = {}", expr(d));
    }
    s
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
