//! Compile-time values (`param` defaults, arguments) and their evaluation.

use std::fmt;

use crate::diag::Diag;
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind};
use crate::syntax::pretty::float_text;

/// A fully evaluated value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Whole number.
    Int(i64),
    /// Real number.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Text.
    Str(String),
    /// List.
    List(Vec<Value>),
}

/// Static type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `str`
    Str,
    /// a list
    List,
}

impl Type {
    /// Parses a type annotation's name.
    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "str" => Type::Str,
            _ => return None,
        })
    }

    /// The name as written in annotations.
    pub fn name(self) -> &'static str {
        match self {
            Type::Int => "int",
            Type::Float => "float",
            Type::Bool => "bool",
            Type::Str => "str",
            Type::List => "list",
        }
    }

    /// The name with its article, for messages: "an int", "a float".
    pub fn noun(self) -> &'static str {
        match self {
            Type::Int => "an int",
            Type::Float => "a float",
            Type::Bool => "a bool",
            Type::Str => "a string",
            Type::List => "a list",
        }
    }

    /// Whether a value of type `self` may stand where `want` is expected (ints widen to
    /// floats; nothing else converts).
    pub fn fits(self, want: Type) -> bool {
        self == want || (self == Type::Int && want == Type::Float)
    }
}

impl Value {
    /// Its type.
    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::Bool(_) => Type::Bool,
            Value::Str(_) => Type::Str,
            Value::List(_) => Type::List,
        }
    }

    /// As a float, when numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// As an int, when it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Converts to `want` if allowed (int → float).
    pub fn coerce(self, want: Type) -> Option<Value> {
        match (self, want) {
            (Value::Int(v), Type::Float) => Some(Value::Float(v as f64)),
            (v, w) if v.ty() == w => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => f.write_str(&float_text(*v)),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{it}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Evaluates a constant expression. `lookup` answers single names (params, arguments);
/// calls with arguments and dotted paths are not constants here.
pub fn eval(expr: &Expr, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Value, Diag> {
    match &expr.kind {
        ExprKind::Int(v) => Ok(Value::Int(*v)),
        ExprKind::Float(v) => Ok(Value::Float(*v)),
        ExprKind::Bool(v) => Ok(Value::Bool(*v)),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::List(items) => items
            .iter()
            .map(|e| eval(e, lookup))
            .collect::<Result<_, _>>()
            .map(Value::List),
        ExprKind::Call(call) => {
            if call.args.is_none() && call.path.len() == 1 {
                let name = &call.path[0].name;
                lookup(name).ok_or_else(|| {
                    Diag::new("amm::name::unknown", format!("unknown name `{name}`"))
                        .primary(call.span, "not a param or argument in scope")
                })
            } else {
                Err(Diag::new(
                    "amm::value::not_constant",
                    format!("`{}` is not a constant value", call.dotted()),
                )
                .primary(call.span, "expected a number, string, bool or list here"))
            }
        }
        ExprKind::Neg(inner) => match eval(inner, lookup)? {
            Value::Int(v) => v
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| overflow(expr.span)),
            Value::Float(v) => Ok(Value::Float(-v)),
            other => Err(type_error(expr.span, "-", &other)),
        },
        ExprKind::Binary(op, l, r) => {
            let lv = eval(l, lookup)?;
            let rv = eval(r, lookup)?;
            binary(*op, lv, rv, l.span, r.span, expr.span)
        }
    }
}

fn binary(op: BinOp, l: Value, r: Value, ls: Span, rs: Span, span: Span) -> Result<Value, Diag> {
    use Value::{Float, Int};
    match (l, r) {
        (Int(a), Int(b)) => {
            let v = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div | BinOp::Rem if b == 0 => return Err(div_zero(rs)),
                BinOp::Div => a.checked_div_euclid(b),
                BinOp::Rem => a.checked_rem_euclid(b),
                // A negative power of an int is a float (2 ^ -1 = 0.5); 0 ^ -1 is infinite.
                BinOp::Pow if b < 0 => return finite((a as f64).powf(b as f64), span),
                BinOp::Pow => int_pow(a, b),
            };
            v.map(Int).ok_or_else(|| overflow(span))
        }
        (a @ (Int(_) | Float(_)), b @ (Int(_) | Float(_))) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            let v = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div if y == 0.0 => return Err(div_zero(rs)),
                BinOp::Div => x / y,
                BinOp::Rem if y == 0.0 => return Err(div_zero(rs)),
                BinOp::Rem => x.rem_euclid(y),
                BinOp::Pow => x.powf(y),
            };
            finite(v, span)
        }
        (Value::Str(a), Value::Str(b)) if op == BinOp::Add => Ok(Value::Str(a + &b)),
        (a, b) => {
            let bad = if matches!(a, Int(_) | Float(_)) {
                (rs, b)
            } else {
                (ls, a)
            };
            Err(type_error(bad.0, op.symbol(), &bad.1))
        }
    }
}

/// `a ^ b` for `b >= 0`, exact: the bases 0, 1 and -1 never overflow, whatever the power.
fn int_pow(a: i64, b: i64) -> Option<i64> {
    match a {
        0 => Some(i64::from(b == 0)),
        1 => Some(1),
        -1 => Some(if b % 2 == 0 { 1 } else { -1 }),
        _ => u32::try_from(b).ok().and_then(|e| a.checked_pow(e)),
    }
}

/// A float result, or the diagnostic for infinity and NaN (which no setting accepts).
fn finite(v: f64, span: Span) -> Result<Value, Diag> {
    if v.is_finite() {
        Ok(Value::Float(v))
    } else {
        Err(Diag::new(
            "amm::value::not_finite",
            "this arithmetic does not give a finite number",
        )
        .primary(span, format!("= {v}"))
        .help("constants must be finite: avoid 0 ^ -1, powers that overflow 1.8e308 and roots of negative numbers"))
    }
}

fn overflow(span: Span) -> Diag {
    Diag::new("amm::value::overflow", "integer overflow")
        .primary(span, "the result does not fit in 64 bits")
        .help("ints range from -9223372036854775808 to 9223372036854775807; use floats (e.g. `2.0 ^ 70`) for larger values")
}

fn div_zero(span: Span) -> Diag {
    Diag::new("amm::value::div_zero", "division by zero")
        .primary(span, "this is zero")
        .help("divide by a non-zero value")
}

fn type_error(span: Span, op: &str, v: &Value) -> Diag {
    Diag::new(
        "amm::value::type",
        format!("`{op}` cannot be applied to {}", v.ty().noun()),
    )
    .primary(span, format!("this is {}", v.ty().noun()))
    .help("arithmetic works on ints and floats (and `+` joins strings)")
}
