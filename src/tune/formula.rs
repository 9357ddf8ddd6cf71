//! Arithmetic objectives of params (`minimize((y - x ^ 2) ^ 2 + cos(x))`): converted from the
//! AST into a small tree once, then evaluated per trial.

use crate::syntax::ast::{BinOp, Expr, ExprKind};

/// Math functions an objective may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `exp`
    Exp,
    /// `log` (natural)
    Log,
    /// `sqrt`
    Sqrt,
    /// `abs`
    Abs,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "exp" => Func::Exp,
            "log" => Func::Log,
            "sqrt" => Func::Sqrt,
            "abs" => Func::Abs,
            _ => return None,
        })
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
        }
    }
}

/// An arithmetic expression over searched params (by index) and constants.
#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    /// A number (literals, `pi`, params that are not searched).
    Const(f64),
    /// The variable with this index (a searched param or a metric).
    Var(usize),
    /// `-a`
    Neg(Box<Formula>),
    /// `a op b`
    Binary(BinOp, Box<Formula>, Box<Formula>),
    /// `f(a)`
    Call(Func, Box<Formula>),
}

/// Why an expression cannot be an objective formula.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum FormulaError {
    /// Something other than numbers, params, arithmetic and math functions.
    #[error("`{0}` cannot be used in an objective formula")]
    #[diagnostic(
        code(amm::tune::formula),
        help("use numbers, params, + - * / % ^, pi and sin cos exp log sqrt abs")
    )]
    Unsupported(String),
    /// The value is not finite (e.g. `log` of a negative number).
    #[error("the objective evaluates to {0}")]
    #[diagnostic(
        code(amm::tune::not_finite),
        help("keep the formula finite over the whole space (e.g. log of positive values only)")
    )]
    NotFinite(f64),
}

impl Formula {
    /// Converts an AST expression. `var` maps a variable (a searched param, or a dotted metric
    /// path) to its index; `constant` answers other numeric params.
    pub fn from_ast(
        e: &Expr,
        var: &dyn Fn(&str) -> Option<usize>,
        constant: &dyn Fn(&str) -> Option<f64>,
    ) -> Result<Formula, FormulaError> {
        Ok(match &e.kind {
            ExprKind::Int(v) => Formula::Const(*v as f64),
            ExprKind::Float(v) => Formula::Const(*v),
            ExprKind::Neg(inner) => {
                Formula::Neg(Box::new(Formula::from_ast(inner, var, constant)?))
            }
            ExprKind::Binary(op, l, r) => Formula::Binary(
                *op,
                Box::new(Formula::from_ast(l, var, constant)?),
                Box::new(Formula::from_ast(r, var, constant)?),
            ),
            ExprKind::Call(c) if c.args.is_none() => {
                // Names and dotted metric paths (`val.accuracy`) are variables when `var`
                // knows them.
                let name = c.dotted();
                if let Some(i) = var(&name) {
                    Formula::Var(i)
                } else if name == "pi" {
                    Formula::Const(std::f64::consts::PI)
                } else if let Some(v) = constant(&name) {
                    Formula::Const(v)
                } else {
                    return Err(FormulaError::Unsupported(name));
                }
            }
            ExprKind::Call(c) if c.path.len() == 1 && c.arg_list().len() == 1 => {
                let name = c.path[0].name.as_str();
                let f = Func::from_name(name)
                    .ok_or_else(|| FormulaError::Unsupported(name.to_string()))?;
                let a = &c.arg_list()[0];
                if a.name.is_some() {
                    return Err(FormulaError::Unsupported(format!("{name}(…)")));
                }
                Formula::Call(f, Box::new(Formula::from_ast(&a.value, var, constant)?))
            }
            ExprKind::Call(c) => return Err(FormulaError::Unsupported(c.dotted())),
            ExprKind::Str(s) => return Err(FormulaError::Unsupported(format!("{s:?}"))),
            ExprKind::Bool(b) => return Err(FormulaError::Unsupported(b.to_string())),
            ExprKind::List(_) => return Err(FormulaError::Unsupported("a list".into())),
        })
    }

    /// Evaluates at `vars` (the variables' values by index).
    pub fn eval(&self, vars: &[f64]) -> Result<f64, FormulaError> {
        let v = self.eval_raw(vars);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(FormulaError::NotFinite(v))
        }
    }

    fn eval_raw(&self, vars: &[f64]) -> f64 {
        match self {
            Formula::Const(c) => *c,
            Formula::Var(i) => vars.get(*i).copied().unwrap_or(f64::NAN),
            Formula::Neg(a) => -a.eval_raw(vars),
            Formula::Call(f, a) => f.apply(a.eval_raw(vars)),
            Formula::Binary(op, l, r) => {
                let (x, y) = (l.eval_raw(vars), r.eval_raw(vars));
                match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => x / y,
                    BinOp::Rem => x.rem_euclid(y),
                    BinOp::Pow => x.powf(y),
                }
            }
        }
    }
}
