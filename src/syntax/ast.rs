//! The abstract syntax tree of one `.amm` file. Every node carries the [`Span`] it came
//! from; nothing here depends on pest.

use crate::source::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// One parsed file.
#[derive(Clone, Debug)]
pub struct File {
    /// Top-level declarations in source order.
    pub items: Vec<Item>,
}

/// A top-level declaration with the doc comment (`///` lines) written above it.
#[derive(Clone, Debug)]
pub struct Item {
    /// Joined text of the `///` lines directly above, without the slashes.
    pub doc: Option<String>,
    /// The declaration.
    pub kind: ItemKind,
    /// The whole declaration.
    pub span: Span,
}

impl Item {
    /// The name this item binds (`None` for `use`).
    pub fn name(&self) -> Option<&Ident> {
        match &self.kind {
            ItemKind::Use(_) => None,
            ItemKind::Param(p) => Some(&p.name),
            ItemKind::Data(d) => Some(&d.name),
            ItemKind::Net(n) => Some(&n.name),
            ItemKind::Model(m) => Some(&m.name),
            ItemKind::Train(t) => Some(&t.name),
            ItemKind::Tune(t) => Some(&t.name),
            ItemKind::Env(e) => Some(&e.name),
            ItemKind::Agent(a) => Some(&a.name),
        }
    }
}

/// The kinds of top-level declaration.
#[derive(Clone, Debug)]
pub enum ItemKind {
    /// `use std.heads.{classifier}`
    Use(UseDecl),
    /// `param lr: float = 1e-3`
    Param(ParamDecl),
    /// `data digits = builtin.digits(…)`
    Data(DataDecl),
    /// `backbone f(…) { … }` or `head h(…) { … }`
    Net(NetDecl),
    /// `model net = a -> b(…)`
    Model(ModelDecl),
    /// `train fit { … }`
    Train(TrainDecl),
    /// `tune search { … }`
    Tune(TuneDecl),
    /// `env lake = frozen_lake(…)`
    Env(EnvDecl),
    /// `agent a = q_learning(env = lake) { … }`
    Agent(AgentDecl),
}

/// `use a.b.{x, y}`: imports names from a module.
#[derive(Clone, Debug)]
pub struct UseDecl {
    /// Module path segments (`std`, `heads`).
    pub path: Vec<Ident>,
    /// Imported names.
    pub names: Vec<Ident>,
    /// Span of the module path.
    pub path_span: Span,
}

/// A declared type annotation (`: int`).
#[derive(Clone, Debug)]
pub struct TypeAnn {
    /// The type name as written (checked by `resolve`).
    pub name: Ident,
}

/// `param name[: type] = value`
#[derive(Clone, Debug)]
pub struct ParamDecl {
    /// Name.
    pub name: Ident,
    /// Optional declared type.
    pub ty: Option<TypeAnn>,
    /// Default value.
    pub value: Expr,
}

/// `data name = loader(…)`
#[derive(Clone, Debug)]
pub struct DataDecl {
    /// Name.
    pub name: Ident,
    /// The loader call.
    pub value: Expr,
}

/// Whether a network block is a backbone or a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// Feature extractor.
    Backbone,
    /// Turns features into the answer.
    Head,
}

impl NetKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            NetKind::Backbone => "backbone",
            NetKind::Head => "head",
        }
    }
}

/// `backbone name(formals) { layers }` or `head …`.
#[derive(Clone, Debug)]
pub struct NetDecl {
    /// Backbone or head.
    pub kind: NetKind,
    /// Name.
    pub name: Ident,
    /// Declared parameters.
    pub formals: Vec<Formal>,
    /// The layers.
    pub body: LayerBlock,
}

/// A declared parameter of a backbone or head: `hidden: int = 128`.
#[derive(Clone, Debug)]
pub struct Formal {
    /// Name.
    pub name: Ident,
    /// Optional type.
    pub ty: Option<TypeAnn>,
    /// Optional default; without one the argument is required.
    pub default: Option<Expr>,
    /// Whole formal.
    pub span: Span,
}

/// `{ layer layer … }`
#[derive(Clone, Debug)]
pub struct LayerBlock {
    /// The layers in order.
    pub layers: Vec<Layer>,
    /// Braces included.
    pub span: Span,
}

/// One entry of a layer sequence.
#[derive(Clone, Debug)]
pub struct Layer {
    /// What it is.
    pub kind: LayerKind,
    /// Where it is.
    pub span: Span,
}

/// Layer forms.
#[derive(Clone, Debug)]
pub enum LayerKind {
    /// `conv(8, kernel = 3)`, `relu`, or a use of a backbone.
    Call(Call),
    /// `residual { … }`: output = input + block(input).
    Residual(LayerBlock),
    /// `repeat(n) { … }`: the block `n` times in sequence.
    Repeat {
        /// The `(n)` arguments (exactly one positional expected).
        args: Vec<Arg>,
        /// The repeated block.
        body: LayerBlock,
    },
}

/// `model name = stage -> stage …`
#[derive(Clone, Debug)]
pub struct ModelDecl {
    /// Name.
    pub name: Ident,
    /// The stages, applied left to right.
    pub stages: Vec<Call>,
}

/// `key = value` inside a block.
#[derive(Clone, Debug)]
pub struct Field {
    /// Field name.
    pub key: Ident,
    /// Its value.
    pub value: Expr,
    /// Whole field.
    pub span: Span,
}

/// `train name { fields }`
#[derive(Clone, Debug)]
pub struct TrainDecl {
    /// Name.
    pub name: Ident,
    /// Settings.
    pub fields: Vec<Field>,
}

/// `tune name { fields space { … } }`
#[derive(Clone, Debug)]
pub struct TuneDecl {
    /// Name.
    pub name: Ident,
    /// Settings.
    pub fields: Vec<Field>,
    /// `space` blocks (one expected; more is a diagnostic).
    pub spaces: Vec<SpaceBlock>,
}

/// `space { name ~ dist(…) … }`
#[derive(Clone, Debug)]
pub struct SpaceBlock {
    /// Entries.
    pub entries: Vec<SpaceEntry>,
    /// The `space` keyword through the closing brace.
    pub span: Span,
}

/// `lr ~ log_uniform(1e-4, 1e-1)`
#[derive(Clone, Debug)]
pub struct SpaceEntry {
    /// The param searched.
    pub name: Ident,
    /// The distribution.
    pub dist: Call,
    /// For a `choice`: the params that exist only when it takes a value
    /// (`opt ~ choice("sgd", "adam") { "sgd" { momentum ~ uniform(0, 1) } }`).
    pub branches: Vec<SpaceBranch>,
    /// Whole entry.
    pub span: Span,
}

/// `"sgd" { momentum ~ uniform(0.5, 0.99) }`: params searched only when the choice above
/// takes this value.
#[derive(Clone, Debug)]
pub struct SpaceBranch {
    /// The choice's value.
    pub value: Expr,
    /// The conditional params.
    pub entries: Vec<SpaceEntry>,
    /// The value through the closing brace.
    pub span: Span,
}

/// `env name = kind(…)`
#[derive(Clone, Debug)]
pub struct EnvDecl {
    /// Name.
    pub name: Ident,
    /// The environment constructor.
    pub value: Expr,
}

/// `agent name = kind(env = e) { fields }`
#[derive(Clone, Debug)]
pub struct AgentDecl {
    /// Name.
    pub name: Ident,
    /// The algorithm call.
    pub algo: Call,
    /// Settings.
    pub fields: Vec<Field>,
}

/// A dotted name with optional arguments: `relu`, `adam(lr = 0.1)`, `val.accuracy`.
#[derive(Clone, Debug)]
pub struct Call {
    /// `builtin.digits` → [`builtin`, `digits`].
    pub path: Vec<Ident>,
    /// Arguments, when parentheses were written.
    pub args: Option<Vec<Arg>>,
    /// Whole call.
    pub span: Span,
}

impl Call {
    /// The path joined with dots.
    pub fn dotted(&self) -> String {
        self.path
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Span of the path alone.
    pub fn path_span(&self) -> Span {
        match (self.path.first(), self.path.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => self.span,
        }
    }

    /// The arguments (empty when no parentheses were written).
    pub fn arg_list(&self) -> &[Arg] {
        self.args.as_deref().unwrap_or(&[])
    }
}

/// An argument: positional (`8`) or named (`kernel = 3`).
#[derive(Clone, Debug)]
pub struct Arg {
    /// The name for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// Whole argument.
    pub span: Span,
}

/// An expression with its span.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Expression forms.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// `10_000`
    Int(i64),
    /// `1e-3`
    Float(f64),
    /// `"text"` or `"""text"""` (escapes already processed).
    Str(String),
    /// `true`
    Bool(bool),
    /// `[a, b]`
    List(Vec<Expr>),
    /// A name or call: `lr`, `adam(lr = lr)`, `val.accuracy`.
    Call(Call),
    /// `-x`
    Neg(Box<Expr>),
    /// `a + b` and friends.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `^` (right-associative power)
    Pow,
}

impl BinOp {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
        }
    }
}
