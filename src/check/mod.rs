//! Shapes: instantiates every model where it meets data (a `train` block) and computes the
//! shape of every layer's output, its parameter count and its forward cost, reporting shape
//! mistakes at the layer at fault with the instantiation site as context.
//!
//! Invariant: a program that passes [`check`] has a known, valid shape for every layer of every
//! trained model, so lowering never meets a shape error.

mod blocks;
pub mod qnet;
mod ranges;
pub mod shape;
pub mod spec;
mod summary;
mod trees;
pub mod weights;

use std::collections::HashMap;

use crate::diag::Diag;
use crate::resolve::schema::{self, ArgSpec, Default, Family};
use crate::resolve::value::eval;
use crate::resolve::{DefId, DefKind, ModuleId, Program, Value};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::{Call, ExprKind, ItemKind, LayerBlock, LayerKind};
pub use shape::{Shape, window_out};
pub use summary::{render_json, render_table};

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// x or slope·x
    LeakyRelu(f32),
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh(x)
    Tanh,
    /// x·Φ(x), exact erf form
    Gelu,
    /// softmax over the last axis
    Softmax,
}

/// The cell of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RnnCell {
    /// Gated recurrent unit: gates r, z, n (PyTorch's order).
    Gru,
    /// Long short-term memory: gates i, f, g, o (PyTorch's order).
    Lstm,
}

impl RnnCell {
    /// Gate blocks stacked in each weight matrix (3 for GRU, 4 for LSTM).
    pub fn gates(self) -> usize {
        match self {
            RnnCell::Gru => 3,
            RnnCell::Lstm => 4,
        }
    }

    /// Values per step and sample the forward pass saves for the backward pass through
    /// time: GRU r, z, n and `W_hn h + b_hn` (4·H); LSTM i, f, g, o and the cell state (5·H).
    pub fn trace_width(self, hidden: usize) -> usize {
        match self {
            RnnCell::Gru => 4 * hidden,
            RnnCell::Lstm => 5 * hidden,
        }
    }
}

/// What a layer computes, with every hyper-parameter evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerOp {
    /// 2-D convolution, weights OIHW.
    Conv {
        /// Output channels.
        channels: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Dilation.
        dilation: usize,
        /// Has a bias.
        bias: bool,
    },
    /// Max pooling.
    MaxPool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding (padded cells never win).
        pad: usize,
    },
    /// Average pooling (padding counted in the divisor).
    AvgPool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        pad: usize,
    },
    /// Mean over H and W.
    GlobalAvgPool,
    /// [N, …] → [N, product].
    Flatten,
    /// Fully connected, weights [out, in].
    Dense {
        /// Output features.
        units: usize,
        /// Has a bias.
        bias: bool,
    },
    /// Inverted dropout while training.
    Dropout {
        /// Probability of zeroing.
        rate: f32,
    },
    /// Batch normalisation over channels.
    BatchNorm {
        /// Running-statistics momentum.
        momentum: f32,
        /// Added to the variance.
        eps: f32,
    },
    /// Elementwise activation.
    Act(Activation),
    /// Token ids `[N, T]` → vectors `[N, T, dim]`, weight `[vocab, dim]`.
    Embedding {
        /// Number of ids.
        vocab: usize,
        /// Vector size.
        dim: usize,
    },
    /// 1-D convolution over time on `[N, T, C]`, weight `[out, in, kernel]` (PyTorch's).
    Conv1d {
        /// Output channels.
        channels: usize,
        /// Window length.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero steps at each end.
        pad: usize,
        /// Dilation.
        dilation: usize,
        /// Has a bias.
        bias: bool,
    },
    /// Max over windows of steps.
    MaxPool1d {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding (padded steps never win).
        pad: usize,
    },
    /// Mean over windows of steps (padding counted).
    AvgPool1d {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        pad: usize,
    },
    /// A recurrent layer (GRU or LSTM) with PyTorch's equations and weight layout.
    Rnn {
        /// The cell.
        cell: RnnCell,
        /// Hidden size per direction.
        units: usize,
        /// Output every step rather than the final state.
        return_sequences: bool,
        /// Also run backwards in time.
        bidirectional: bool,
    },
    /// `[N, T, F]` → `[N, F]`: the last step.
    Last,
    /// `[N, T, F]` → `[N, F]`: the mean over time.
    TimeMean,
    /// Adds the input of a residual block (the output of layer `skip`, or the model input
    /// when `None`) to the block's output.
    ResidualAdd {
        /// Index of the layer whose output is the skip connection.
        skip: Option<usize>,
    },
}

/// One layer of an instantiated model.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Dotted name, also the prefix of its weights (`features.conv1`).
    pub name: String,
    /// The layer as written (`conv(8, kernel = 3)`).
    pub text: String,
    /// Where it is written.
    pub span: Span,
    /// Source line, prefixed with the file for layers from imported modules
    /// (`12`, `std/heads.amm:4`).
    pub line: String,
    /// Output shape.
    pub output: Shape,
    /// Learnable parameters.
    pub params: usize,
    /// Forward multiply-accumulates per sample of conv and dense layers (one MAC = 2 FLOPs;
    /// elementwise work such as activations and pooling is not counted).
    pub macs: usize,
    /// Excluded from training (`frozen = true` on its stage).
    pub frozen: bool,
    /// Initialisation chosen on its stage (`init = …`), overriding the train block's.
    pub init: Option<spec::InitScheme>,
    /// What it computes.
    pub op: LayerOp,
    /// Learnable tensors: name suffix (`weight`, `bias`) and shape, in PyTorch layout
    /// (conv OIHW, dense [out, in]).
    pub tensors: Vec<(&'static str, Vec<usize>)>,
}

/// What the checker knows of a dataset before reading it.
#[derive(Clone, Debug)]
pub struct DataInfo {
    /// Per-sample feature shape.
    pub shape: Shape,
    /// Number of classes, for classification data.
    pub classes: Option<usize>,
    /// Real targets per sample, for regression data.
    pub targets: Option<usize>,
}

/// A model instantiated on the data of one `train` block.
#[derive(Clone, Debug)]
pub struct ModelSummary {
    /// The train block.
    pub train: String,
    /// The model.
    pub model: String,
    /// Input shape.
    pub input: Shape,
    /// Layers in execution order.
    pub layers: Vec<LayerInfo>,
    /// Batch size of the train block.
    pub batch: usize,
    /// Optimizer state slots per parameter (0 for plain SGD, 1 with momentum, 2 for Adam).
    pub optimizer_slots: usize,
    /// The train block's settings, evaluated.
    pub spec: spec::TrainSpec,
    /// Stages whose weights are loaded before training.
    pub pretrained: Vec<Pretrained>,
    /// Things worth saying that do not stop the program (unused pretrained tensors).
    pub warnings: Vec<Diag>,
}

/// A model stage whose weights come from elsewhere.
#[derive(Clone, Debug, PartialEq)]
pub struct Pretrained {
    /// The stage's instance in this model (`features`, or `features_2` for a second use):
    /// its tensors are named `features.…`.
    pub stage: String,
    /// The backbone or head it instantiates (`features`): a weights file without tensors
    /// for the instance is read under this name, so one pretrained backbone loads into
    /// every use of it.
    pub backbone: String,
    /// Where the weights come from.
    pub source: WeightsSource,
    /// The `weights = …` value.
    pub span: Span,
}

/// Where a pretrained stage's weights come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WeightsSource {
    /// A safetensors file, as written (relative to the `.amm` file's directory).
    File(String),
    /// The `model.safetensors` of another train block's run in the same output directory.
    Block(String),
}

impl ModelSummary {
    /// Output shape of the model.
    pub fn output(&self) -> &Shape {
        self.layers.last().map_or(&self.input, |l| &l.output)
    }
    /// All learnable parameters.
    pub fn params(&self) -> usize {
        self.layers
            .iter()
            .fold(0usize, |a, l| a.saturating_add(l.params))
    }
    /// Parameters that the optimizer updates.
    pub fn trainable(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| !l.frozen)
            .fold(0usize, |a, l| a.saturating_add(l.params))
    }
    /// Forward MACs per sample.
    pub fn macs(&self) -> usize {
        self.layers
            .iter()
            .fold(0usize, |a, l| a.saturating_add(l.macs))
    }
    /// Estimated training memory in bytes (f32): weights, their gradients and optimizer
    /// state, plus every activation and its gradient for one batch.
    pub fn memory_bytes(&self) -> u64 {
        // Saturating throughout: an absurd model must be rejected, not overflow.
        let input = (self.input.elements() as u64)
            .saturating_mul(2)
            .saturating_mul(self.batch as u64)
            .saturating_mul(4);
        self.layers.iter().fold(input, |a, l| {
            let m = self.layer_memory(l);
            a.saturating_add(m.weights).saturating_add(m.activations)
        })
    }

    /// Training memory of one layer: its weights with their gradients and optimizer state,
    /// and its activations (output and gradient) for a batch.
    pub fn layer_memory(&self, l: &LayerInfo) -> LayerMemory {
        let copies = if l.frozen {
            1
        } else {
            2 + self.optimizer_slots as u64
        };
        LayerMemory {
            weights: (l.params as u64).saturating_mul(copies).saturating_mul(4),
            activations: (l.output.elements() as u64)
                .saturating_mul(2)
                .saturating_mul(self.batch as u64)
                .saturating_mul(4),
        }
    }
}

/// Names a value expression reads (`pool` in `maxpool(pool * 2)`), in order.
fn expr_names(e: &crate::syntax::ast::Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Call(c) => {
            if c.path.len() == 1 && c.args.is_none() {
                out.push(c.path[0].name.clone());
            }
            for a in c.arg_list() {
                expr_names(&a.value, out);
            }
        }
        ExprKind::List(items) => items.iter().for_each(|i| expr_names(i, out)),
        ExprKind::Neg(i) => expr_names(i, out),
        ExprKind::Binary(_, l, r) => {
            expr_names(l, out);
            expr_names(r, out);
        }
        _ => {}
    }
}

/// A residual block whose output shape differs from its input: point at the layer that
/// changes the shape first, with the fix for that kind of layer.
fn residual_diag(input: &Shape, out: &Shape, block: Span, layers: &[LayerInfo]) -> Diag {
    let d = Diag::new(
        "amm::shape::residual",
        format!("residual block changes the shape from {input} to {out}"),
    )
    .primary(block, format!("input {input}, output {out}"));
    let spatial = |s: &Shape| (s.rank() == 3).then(|| (s.0[1], s.0[2]));
    // The first layer whose output is no longer an image of the input's size.
    let culprit = layers
        .iter()
        .find(|l| l.output.rank() != input.rank() || spatial(&l.output) != spatial(input));
    let Some(l) = culprit else {
        // Only the channel count differs: the block's last channel-setting layer decides it.
        let last_conv = layers
            .iter()
            .rev()
            .find(|l| matches!(l.op, LayerOp::Conv { .. } | LayerOp::Dense { .. }));
        let c = input.0.first().copied().unwrap_or(0);
        return match last_conv {
            Some(l) => d
                .secondary(l.span, format!("`{}` produces {}", l.text, l.output))
                .help(format!(
                    "the input is added to the output, so the block must end with {c} {}: make this layer `{}`",
                    if input.rank() == 3 { "channels" } else { "features" },
                    match l.op {
                        LayerOp::Conv { .. } => format!("conv({c}, …)"),
                        _ => format!("dense({c})"),
                    }
                )),
            None => d.help("the input is added to the output, so the block must keep its shape"),
        };
    };
    let label = format!("`{}` produces {}", l.text, l.output);
    let help = match l.op {
        LayerOp::Conv {
            kernel,
            stride,
            pad,
            dilation,
            ..
        } => {
            let keep = dilation * (kernel - 1) / 2;
            if stride != 1 {
                "the input is added to the output, so the block must keep the size: use `stride = 1` here (downsample after the block instead)".to_string()
            } else if (dilation * (kernel - 1)) % 2 == 1 {
                format!("a kernel of {kernel} cannot keep the size with equal padding on both sides: use an odd kernel (3 or 5) with `pad = (kernel - 1) / 2`")
            } else {
                format!("the input is added to the output, so the block must keep the size: use `pad = {keep}` here (pad {pad} changes it)")
            }
        }
        LayerOp::MaxPool { .. } | LayerOp::AvgPool { .. } | LayerOp::GlobalAvgPool => {
            "pooling inside a residual block changes the size the skip connection adds to; move it after the block".to_string()
        }
        LayerOp::Flatten | LayerOp::Dense { .. } => {
            "the input is added to the output, so the block must keep the shape; move `flatten` and `dense` after the block".to_string()
        }
        _ => "the input is added to the output, so the block must keep its shape".to_string(),
    };
    d.secondary(l.span, label).help(help)
}

/// Bytes one layer needs while training (see [`ModelSummary::layer_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerMemory {
    /// Weights, their gradients and the optimizer's slots.
    pub weights: u64,
    /// Output and its gradient for one batch.
    pub activations: u64,
}

/// Largest size, channel count, kernel or stride accepted for one layer argument.
pub const MAX_DIM: usize = 1 << 24;
/// Most layers in one instantiated model (after `repeat`).
pub const MAX_LAYERS: usize = 100_000;

/// How deep backbones and heads may use each other (a stage `b2` that uses `b1` that uses
/// `b0` is a chain of 3).
/// The shape walk recurses once per level; this bound keeps it within a small thread stack.
pub const MAX_NET_DEPTH: usize = 64;

/// Memory above which a model is rejected before anything is allocated (bytes): the least
/// of physical memory and the process's limits (see [`crate::input::memory_budget`]).
pub fn memory_limit() -> u64 {
    crate::input::memory_budget().bytes
}

/// Checks the shapes of every trained model of the root module.
pub fn check(program: &Program, sources: &SourceMap) -> Result<Vec<ModelSummary>, Vec<Diag>> {
    let mut c = ShapeChecker {
        program,
        sources,
        diags: Vec::new(),
    };
    ranges::check_ranges(program, &mut c.diags);
    let mut out = Vec::new();
    for id in program.modules[0].own.clone() {
        if program.def(id).kind == DefKind::Train
            && let Some(s) = c.train(id)
        {
            out.push(s);
        }
    }
    blocks::check_block_weights(&out, &mut c.diags);
    for id in program.modules[0].own.clone() {
        if program.def(id).kind == DefKind::Agent {
            c.q_network(id);
        }
    }
    for id in program.modules[0].own.clone() {
        if let ItemKind::Tune(t) = &program.def(id).item.kind {
            c.tune_needs_validation(t, &out);
        }
    }
    if c.diags.is_empty() {
        Ok(out)
    } else {
        Err(c.diags)
    }
}

/// The Q-networks of the root module's `dqn` agents, each instantiated on its
/// environment's observation (agent name in `train`); errors as [`check`] reports them.
pub fn q_networks(program: &Program, sources: &SourceMap) -> Result<Vec<ModelSummary>, Vec<Diag>> {
    let mut c = ShapeChecker {
        program,
        sources,
        diags: Vec::new(),
    };
    let mut out = Vec::new();
    for id in program.modules[0].own.clone() {
        if program.def(id).kind == DefKind::Agent
            && let Some(s) = c.q_network(id)
        {
            out.push(s);
        }
    }
    if c.diags.is_empty() {
        Ok(out)
    } else {
        Err(c.diags)
    }
}

/// The evaluated loader call of the `data` declaration `name` in the root module (`None`
/// when there is no such declaration; the program has already been checked).
pub fn data_spec(program: &Program, sources: &SourceMap, name: &str) -> Option<spec::DataSpec> {
    let id = program.lookup(ModuleId(0), name)?;
    let ItemKind::Data(d) = &program.def(id).item.kind else {
        return None;
    };
    let ExprKind::Call(call) = &d.value.kind else {
        return None;
    };
    let env = Env {
        module: ModuleId(0),
        locals: HashMap::new(),
        program,
    };
    let mut c = ShapeChecker {
        program,
        sources,
        diags: Vec::new(),
    };
    let loader = call.dotted();
    let args = c.call_args(call, schema::builtin(Family::Dataset, &loader)?.args, &env)?;
    Some(spec::DataSpec {
        name: name.to_string(),
        loader,
        args: args.into_iter().collect(),
    })
}

/// Values visible while instantiating a network: its arguments, then module params.
struct Env<'a> {
    module: ModuleId,
    locals: HashMap<String, Value>,
    program: &'a Program,
}

impl Env<'_> {
    fn lookup(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.locals.get(name) {
            return Some(v.clone());
        }
        let id = self.program.lookup(self.module, name)?;
        self.program.param(id).cloned()
    }
}

struct ShapeChecker<'a> {
    program: &'a Program,
    sources: &'a SourceMap,
    diags: Vec<Diag>,
}

/// Where a model was instantiated, for "used with input … here" notes.
#[derive(Clone)]
struct Site {
    span: Span,
    text: String,
}

struct Walk {
    layers: Vec<LayerInfo>,
    counters: HashMap<String, usize>,
    frozen: bool,
    /// The current stage's `init = …`.
    init: Option<spec::InitScheme>,
    /// Networks being instantiated inside each other right now (bounded by
    /// [`MAX_NET_DEPTH`]: the walk recurses once per level).
    depth: usize,
    /// The model's input, for helps about what the layers did to it.
    input: Shape,
}

impl ShapeChecker<'_> {
    fn err(&mut self, d: Diag) {
        self.diags.push(d);
    }

    /// `line` in the root file, `file:line` elsewhere.
    fn location(&self, span: Span) -> String {
        let f = self.sources.get(span.file);
        let line = f.line_of(span.start);
        if span.file.0 == 0 {
            line.to_string()
        } else {
            format!("{}:{line}", f.name)
        }
    }

    fn train(&mut self, id: DefId) -> Option<ModelSummary> {
        let def = self.program.def(id);
        let ItemKind::Train(t) = &def.item.kind else {
            return None;
        };
        let get = |k: &str| t.fields.iter().find(|f| f.key.name == k);
        let env = Env {
            module: def.module,
            locals: HashMap::new(),
            program: self.program,
        };
        let name_of = |f: &crate::syntax::ast::Field| match &f.value.kind {
            ExprKind::Call(c) => Some(c.dotted()),
            _ => None,
        };
        let model_name = get("model").and_then(name_of)?;
        let data_name = get("data").and_then(name_of)?;
        let data = self.data_info(self.program.lookup(def.module, &data_name)?, &env)?;
        let batch = match get("batch") {
            Some(f) => match self.int(&f.value, &env) {
                Some(b) if b >= 1 => b as usize,
                Some(b) => {
                    // The ranges pass reports `batch = 0` written as a value; this one
                    // only speaks for what it could not see.
                    let reported = self.diags.iter().any(|d| {
                        d.code == "amm::value::range"
                            && d.labels.iter().any(|l| {
                                l.span.file == f.span.file
                                    && l.span.start < f.span.end
                                    && f.span.start < l.span.end
                            })
                    });
                    if reported {
                        return None;
                    }
                    self.err(
                        Diag::new(
                            "amm::train::batch",
                            format!("batch must be at least 1, got {b}"),
                        )
                        .primary(f.value.span, "here"),
                    );
                    return None;
                }
                None => return None,
            },
            None => 32,
        };
        let optimizer_slots = match get("optimizer").map(|f| &f.value.kind) {
            Some(ExprKind::Call(c)) if c.dotted() == "sgd" => {
                let momentum = c
                    .arg_list()
                    .iter()
                    .find(|a| a.name.as_ref().is_some_and(|n| n.name == "momentum"))
                    .and_then(|a| eval(&a.value, &|n| env.lookup(n)).ok())
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                usize::from(momentum != 0.0)
            }
            _ => 2,
        };
        let model_id = self.program.lookup(def.module, &model_name)?;
        let mdef = self.program.def(model_id);
        let ItemKind::Model(m) = &mdef.item.kind else {
            return None;
        };
        if let Some(d) = self.stage_order(mdef.module, &mdef.name, m) {
            self.err(d);
            return None;
        }
        let site = Site {
            span: get("model").map_or(t.name.span, |f| f.span),
            text: format!(
                "model `{model_name}` trained on `{data_name}` {} here",
                data.shape
            ),
        };
        let mut walk = Walk {
            layers: Vec::new(),
            counters: HashMap::new(),
            frozen: false,
            init: None,
            depth: 0,
            input: data.shape.clone(),
        };
        let mut shape = data.shape.clone();
        let instances = stage_instances(&m.stages);
        // A tree head is the last stage; the stages before it are instantiated as usual.
        let tree_at = self.tree_head_stage(mdef.module, m)?;
        let mut stage_layers = Vec::new();
        for (stage, instance) in m
            .stages
            .iter()
            .zip(&instances)
            .take(tree_at.unwrap_or(usize::MAX))
        {
            let first_layer = walk.layers.len();
            let net = self.program.lookup(mdef.module, &stage.dotted())?;
            walk.counters.clear();
            walk.frozen = stage_frozen(stage);
            walk.init = stage_init(stage);
            let env = Env {
                module: mdef.module,
                locals: HashMap::new(),
                program: self.program,
            };
            shape = self.net(net, stage, &env, shape, instance, &mut walk, &site)?;
            stage_layers.push(first_layer..walk.layers.len());
        }
        let mut pretrained = Vec::new();
        let mut warnings = Vec::new();
        for (stage, instance) in m.stages.iter().zip(&instances) {
            let weights = stage
                .arg_list()
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == "weights"));
            if let Some(a) = weights {
                let env = Env {
                    module: mdef.module,
                    locals: HashMap::new(),
                    program: self.program,
                };
                if let ExprKind::Call(c) = &a.value.kind
                    && c.path.len() == 1
                    && c.args.is_none()
                    && self
                        .program
                        .lookup(mdef.module, &c.path[0].name)
                        .is_some_and(|d| self.program.def(d).kind == DefKind::Train)
                {
                    pretrained.push(Pretrained {
                        stage: instance.clone(),
                        backbone: stage.dotted(),
                        source: WeightsSource::Block(c.path[0].name.clone()),
                        span: a.value.span,
                    });
                } else if let Ok(Value::Str(path)) = eval(&a.value, &|n| env.lookup(n)) {
                    let p = Pretrained {
                        stage: instance.clone(),
                        backbone: stage.dotted(),
                        source: WeightsSource::File(path.clone()),
                        span: a.value.span,
                    };
                    weights::check_stage(
                        &self.program.root_dir.join(&path),
                        &path,
                        &p,
                        &walk.layers,
                        &mut self.diags,
                        &mut warnings,
                    );
                    pretrained.push(p);
                }
            }
        }
        if let Some(at) = tree_at {
            return self.tree_model(trees::TreeModel {
                t,
                train: &def.name,
                model_name: &model_name,
                data_name: &data_name,
                stages: &m.stages,
                head: &m.stages[at],
                stage_layers: &stage_layers,
                layers: walk.layers,
                data,
                shape,
                pretrained,
                warnings,
                batch,
                env: &env,
            });
        }
        let mut spec = self.train_spec(t, &env, &data_name, batch)?;
        let mut data = data;
        let width_one = walk
            .layers
            .last()
            .is_some_and(|l| l.output.0.as_slice() == [1]);
        self.label_kind(t, &mut spec, &mut data, &data_name, width_one);
        let summary = ModelSummary {
            train: def.name.clone(),
            model: model_name.clone(),
            input: data.shape.clone(),
            layers: walk.layers,
            batch,
            optimizer_slots,
            spec,
            pretrained,
            warnings,
        };
        self.loss_check(t, &summary, &data, &data_name, &env);
        let budget = crate::input::memory_budget();
        if summary.memory_bytes() > budget.bytes {
            let d = self.memory_diag(&summary, t, &model_name, &budget);
            self.err(d);
        }
        Some(summary)
    }

    /// A model too large to train: the layers that take most of the memory, by weights or
    /// by activations, with a fix for the larger of the two.
    fn memory_diag(
        &self,
        summary: &ModelSummary,
        t: &crate::syntax::ast::TrainDecl,
        model_name: &str,
        budget: &crate::input::MemoryBudget,
    ) -> Diag {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let total = summary.memory_bytes();
        let mut by_cost: Vec<(&LayerInfo, LayerMemory)> = summary
            .layers
            .iter()
            .map(|l| (l, summary.layer_memory(l)))
            .collect();
        by_cost.sort_by_key(|(_, m)| std::cmp::Reverse(m.weights.saturating_add(m.activations)));
        let mut d = Diag::new(
            "amm::shape::memory",
            format!(
                "training `{model_name}` needs about {:.1} GiB, more than {}",
                gib(total),
                budget.describe()
            ),
        );
        let mut weights = 0u64;
        let mut acts = 0u64;
        let mut first = true;
        for (l, m) in by_cost.iter().take(3) {
            let cost = m.weights.saturating_add(m.activations);
            // Only layers that matter: a tenth of the total or more.
            if cost.saturating_mul(10) < total {
                break;
            }
            weights = weights.saturating_add(m.weights);
            acts = acts.saturating_add(m.activations);
            let what = if m.weights >= m.activations {
                format!(
                    "{:.1} GiB: {} weights with gradients and optimizer state",
                    gib(cost),
                    summary::thousands(l.params)
                )
            } else {
                format!(
                    "{:.1} GiB: output {} for {} samples, and its gradient",
                    gib(cost),
                    l.output,
                    summary.batch
                )
            };
            d = if first {
                d.primary(l.span, what)
            } else {
                d.secondary(l.span, what)
            };
            first = false;
        }
        if first {
            d = d.primary(t.name.span, "in this train block");
        }
        if let Some(b) = t.fields.iter().find(|f| f.key.name == "batch") {
            d = d.secondary(b.span, format!("{} samples per batch", summary.batch));
        }
        if weights >= acts && weights > 0 {
            d.help("the weights alone do not fit: use fewer units in the largest layer, or shrink its input (pooling or a strided conv before `flatten`)")
        } else {
            d.help(format!(
                "activations grow with the batch: lower `batch` (now {}) or the input size",
                summary.batch
            ))
        }
    }

    /// Evaluates the settings of a train block (already range-checked).
    fn train_spec(
        &mut self,
        t: &crate::syntax::ast::TrainDecl,
        env: &Env,
        data_name: &str,
        batch: usize,
    ) -> Option<spec::TrainSpec> {
        use spec::{DataSpec, InitScheme, Loss, Optimizer, Schedule, TrainSpec};
        let get = |k: &str| t.fields.iter().find(|f| f.key.name == k);
        let builtin_args = |this: &mut Self,
                            family: Family,
                            e: &crate::syntax::ast::Expr|
         -> Option<(String, HashMap<String, Value>)> {
            let ExprKind::Call(c) = &e.kind else {
                return None;
            };
            let name = c.dotted();
            let args = this.call_args(c, schema::builtin(family, &name)?.args, env)?;
            Some((name, args))
        };
        let f = |a: &HashMap<String, Value>, k: &str, d: f64| {
            a.get(k).and_then(Value::as_f64).unwrap_or(d) as f32
        };
        let u = |a: &HashMap<String, Value>, k: &str, d: i64| {
            a.get(k).and_then(Value::as_i64).unwrap_or(d).max(0) as usize
        };
        let (lname, la) = builtin_args(self, Family::Loss, &get("loss")?.value)?;
        let loss = match lname.as_str() {
            "cross_entropy" => Loss::CrossEntropy {
                label_smoothing: f(&la, "label_smoothing", 0.0),
            },
            "mse" => Loss::Mse,
            _ => Loss::Mae,
        };
        let (oname, oa) = builtin_args(self, Family::Optimizer, &get("optimizer")?.value)?;
        let optimizer = match oname.as_str() {
            "sgd" => Optimizer::Sgd {
                lr: f(&oa, "lr", 0.01),
                momentum: f(&oa, "momentum", 0.0),
                nesterov: matches!(oa.get("nesterov"), Some(Value::Bool(true))),
                weight_decay: f(&oa, "weight_decay", 0.0),
            },
            name => Optimizer::Adam {
                lr: f(&oa, "lr", 1e-3),
                beta1: f(&oa, "beta1", 0.9),
                beta2: f(&oa, "beta2", 0.999),
                eps: f(&oa, "eps", 1e-8),
                weight_decay: f(
                    &oa,
                    "weight_decay",
                    if name == "adamw" { 0.01 } else { 0.0 },
                ),
                decoupled: name == "adamw",
            },
        };
        let schedule = match get("schedule") {
            None => Schedule::Constant { warmup: 0 },
            Some(field) => {
                let (sname, sa) = builtin_args(self, Family::Schedule, &field.value)?;
                let warmup = u(&sa, "warmup", 0);
                match sname.as_str() {
                    "step" => Schedule::Step {
                        every: u(&sa, "every", 1).max(1),
                        gamma: f(&sa, "gamma", 0.1),
                        warmup,
                    },
                    "cosine" => Schedule::Cosine {
                        min_lr: f(&sa, "min_lr", 0.0),
                        warmup,
                    },
                    "plateau" => Schedule::Plateau {
                        metric: self.watch(&sa, &field.value, data_name, &lname)?,
                        factor: f(&sa, "factor", 0.1),
                        patience: u(&sa, "patience", 10),
                        min_lr: f(&sa, "min_lr", 0.0),
                        warmup,
                    },
                    _ => Schedule::Constant { warmup },
                }
            }
        };
        let early_stop = match get("early_stop") {
            None => None,
            Some(field) => {
                let (_, ea) = builtin_args(self, Family::Stopping, &field.value)?;
                Some(spec::EarlyStopping {
                    watch: self.watch(&ea, &field.value, data_name, &lname)?,
                    patience: u(&ea, "patience", 5).max(1),
                    restore_best: !matches!(ea.get("restore_best"), Some(Value::Bool(false))),
                })
            }
        };
        // Resolution checked the name against the schema, which lists exactly
        // `InitScheme::ALL`; the fallback is unreachable from a resolved program.
        let init = match get("init") {
            None => InitScheme::default(),
            Some(field) => {
                let (iname, _) = builtin_args(self, Family::Init, &field.value)?;
                InitScheme::from_name(&iname).unwrap_or_default()
            }
        };
        let int_field = |this: &mut Self, k: &str, d: i64| -> Option<i64> {
            match get(k) {
                Some(fl) => this.int(&fl.value, env),
                None => Some(d),
            }
        };
        let epochs = int_field(self, "epochs", 10)?.max(1) as usize;
        let seed = int_field(self, "seed", 0)?.max(0) as u64;
        let clip_norm = match get("clip_norm") {
            Some(fl) => eval(&fl.value, &|n| env.lookup(n))
                .ok()
                .and_then(|v| v.as_f64())
                .map(|v| v as f32),
            None => None,
        };
        let metrics = match get("metrics").map(|fl| &fl.value.kind) {
            Some(ExprKind::List(items)) => items
                .iter()
                .filter_map(|e| match &e.kind {
                    ExprKind::Call(c) => Some(c.dotted()),
                    _ => None,
                })
                .collect(),
            _ => match loss {
                Loss::CrossEntropy { .. } => vec!["accuracy".to_string()],
                _ => vec!["mse".to_string(), "mae".to_string()],
            },
        };
        let data_id = self.program.lookup(env.module, data_name)?;
        let ItemKind::Data(d) = &self.program.def(data_id).item.kind else {
            return None;
        };
        let (loader, da) = builtin_args(self, Family::Dataset, &d.value)?;
        Some(TrainSpec {
            data: DataSpec {
                name: data_name.to_string(),
                loader,
                args: da.into_iter().collect(),
            },
            loss,
            optimizer,
            schedule,
            epochs,
            batch,
            metrics,
            clip_norm,
            seed,
            init,
            early_stop,
            tree: None,
        })
    }

    fn loss_check(
        &mut self,
        t: &crate::syntax::ast::TrainDecl,
        s: &ModelSummary,
        data: &DataInfo,
        data_name: &str,
        _env: &Env,
    ) {
        let Some(loss) = t.fields.iter().find(|f| f.key.name == "loss") else {
            return;
        };
        let ExprKind::Call(c) = &loss.value.kind else {
            return;
        };
        let out = s.output();
        let last = s.layers.last().map(|l| (l.span, l.text.clone()));
        if let Some(width) = data.targets {
            if c.dotted() == "cross_entropy" {
                self.err(
                    Diag::new("amm::shape::loss", format!("cross_entropy needs class labels, but `{data_name}` has real-valued targets"))
                        .primary(loss.value.span, "classification loss on regression data")
                        .help("use `loss = mse` or `loss = mae`"),
                );
            } else if out.0 != [width] {
                self.err(
                    Diag::new(
                        "amm::shape::loss",
                        format!(
                            "{} compares [N, {width}] targets with the model's output {out}",
                            c.dotted()
                        ),
                    )
                    .primary(loss.value.span, format!("targets [N, {width}]"))
                    .help(format!(
                        "end the model with `dense({width})`, e.g. regressor(outputs = {width})"
                    )),
                );
            }
            return;
        }
        match c.dotted().as_str() {
            "cross_entropy" => {
                if out.rank() != 1 {
                    let mut d = Diag::new(
                        "amm::shape::loss",
                        format!("cross_entropy needs [N, classes] logits, but `{}` outputs {out}", s.model),
                    )
                    .primary(loss.value.span, "expects [N, C]")
                    .help("end the model with `flatten` and `dense(classes)`, e.g. the `classifier` head");
                    if let Some((span, text)) = last {
                        d = d.note(
                            Diag::new("amm::shape::loss", format!("`{text}` produces {out}"))
                                .primary(span, format!("output {out}")),
                        );
                    }
                    self.err(d);
                    return;
                }
                if let Some(classes) = data.classes
                    && out.0[0] != classes
                {
                    let mut d = Diag::new(
                        "amm::shape::classes",
                        format!(
                            "the model predicts {} classes, but `{data_name}` has {classes}",
                            out.0[0]
                        ),
                    )
                    .primary(
                        loss.value.span,
                        format!("{} logits vs {classes} classes", out.0[0]),
                    );
                    if let Some((span, text)) = last {
                        d = d.note(
                            Diag::new(
                                "amm::shape::classes",
                                format!("the last layer `{text}` outputs {out}"),
                            )
                            .primary(span, format!("{} outputs", out.0[0])),
                        );
                    }
                    self.err(d.help(format!(
                        "use classifier(classes = {classes}) to match `{data_name}`"
                    )));
                }
            }
            "mse" | "mae" if data.classes.is_some() && out.rank() == 1 && out.0[0] != 1 => {
                let classes = data.classes.unwrap_or(0);
                let mut d = Diag::new(
                    "amm::shape::loss",
                    format!(
                        "{} compares outputs {out} with real targets of the same shape, but `{data_name}` has class labels [N] (integers 0 to {})",
                        c.dotted(),
                        classes.saturating_sub(1)
                    ),
                )
                .primary(loss.value.span, "regression loss on classification data");
                if let Some((span, text)) = &last {
                    d = d.secondary(
                        *span,
                        format!("`{text}` produces {out}: one score per class"),
                    );
                }
                self.err(d.help(format!(
                    "use `loss = cross_entropy`: it compares {out} scores with class labels [N]"
                )));
            }
            _ => {}
        }
    }

    fn data_info(&mut self, id: DefId, env: &Env) -> Option<DataInfo> {
        let ItemKind::Data(d) = &self.program.def(id).item.kind else {
            return None;
        };
        let ExprKind::Call(c) = &d.value.kind else {
            return None;
        };
        let args = self.call_args(c, schema::builtin(Family::Dataset, &c.dotted())?.args, env)?;
        match c.dotted().as_str() {
            "builtin.digits" => {
                let classes = match args.get("classes") {
                    Some(Value::List(v)) => v.len(),
                    _ => 10,
                };
                let shape = match args.get("as") {
                    None => vec![1, 8, 8],
                    Some(Value::Str(s)) if s == "images" => vec![1, 8, 8],
                    Some(Value::Str(s)) if s == "rows" => vec![8, 8],
                    Some(other) => {
                        let got = match other {
                            Value::Str(s) => format!("{s:?}"),
                            v => format!("{v:?}"),
                        };
                        self.err(
                            Diag::new(
                                "amm::shape::data",
                                format!("`as` of `builtin.digits` must be \"images\" or \"rows\", got {got}"),
                            )
                            .primary(c.span, "here")
                            .help("\"images\" gives [1, 8, 8] for conv layers; \"rows\" gives a sequence of 8 steps of 8 pixels [8, 8] for recurrent layers"),
                        );
                        return None;
                    }
                };
                Some(DataInfo {
                    shape: Shape(shape),
                    classes: Some(classes),
                    targets: None,
                })
            }
            "builtin.adding" => {
                let steps = args.get("steps").and_then(Value::as_i64).unwrap_or(50);
                let n = args.get("n").and_then(Value::as_i64).unwrap_or(2000);
                if !(2..=1_000_000).contains(&steps) || !(1..=10_000_000).contains(&n) {
                    self.err(
                        Diag::new(
                            "amm::shape::data",
                            format!("the adding problem needs 2 to 1000000 steps and 1 to 10000000 sequences, got steps = {steps}, n = {n}"),
                        )
                        .primary(c.span, "here")
                        .help("e.g. builtin.adding(n = 2000, steps = 50): two steps are marked, one in each half"),
                    );
                    return None;
                }
                Some(DataInfo {
                    shape: Shape(vec![steps as usize, 2]),
                    classes: None,
                    targets: Some(1),
                })
            }
            "synthetic" => {
                let shape = match args.get("shape") {
                    Some(Value::List(v)) => v
                        .iter()
                        .map(|x| x.as_i64().filter(|d| *d > 0).map(|d| d as usize))
                        .collect::<Option<Vec<_>>>(),
                    _ => None,
                };
                let Some(shape) = shape else {
                    self.err(
                        Diag::new(
                            "amm::shape::data",
                            "synthetic data needs a shape of positive ints",
                        )
                        .primary(c.span, "e.g. shape = [1, 28, 28]"),
                    );
                    return None;
                };
                let classes = args
                    .get("classes")
                    .and_then(Value::as_i64)
                    .filter(|k| *k >= 2)
                    .map(|k| k as usize);
                if classes.is_none() {
                    self.err(
                        Diag::new(
                            "amm::shape::data",
                            "synthetic data needs at least 2 classes",
                        )
                        .primary(c.span, "here"),
                    );
                    return None;
                }
                Some(DataInfo {
                    shape: Shape(shape),
                    classes,
                    targets: None,
                })
            }
            "npy"
                if !matches!(args.get("as"), None | Some(Value::Str(_)))
                    || matches!(args.get("as"), Some(Value::Str(s)) if s != "images" && s != "sequences") =>
            {
                self.err(
                    Diag::new(
                        "amm::shape::data",
                        "`as` of `npy` must be \"images\" or \"sequences\"",
                    )
                    .primary(c.span, "here")
                    .help("\"images\" reads [n, h, w] features as [1, h, w]; \"sequences\" reads [n, T, F] as [T, F] for recurrent layers"),
                );
                None
            }
            // File-backed data: read it now, so its shape is checked before training.
            loader => {
                let spec = spec::DataSpec {
                    name: self.program.def(id).name.clone(),
                    loader: loader.to_string(),
                    args: args.into_iter().collect(),
                };
                match crate::data::describe(&spec, &self.program.root_dir) {
                    Ok(d) => Some(DataInfo {
                        shape: Shape(d.sample_shape),
                        classes: match d.labels {
                            crate::data::LabelKind::Classes(k) => Some(k),
                            crate::data::LabelKind::Values(_) => None,
                        },
                        targets: match d.labels {
                            crate::data::LabelKind::Values(w) => Some(w),
                            crate::data::LabelKind::Classes(_) => None,
                        },
                    }),
                    Err(e) => {
                        let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
                        let mut d =
                            Diag::new(e.code(), format!("cannot load `{}`: {e}", spec.name))
                                .primary(c.span, "while loading this dataset");
                        if let Some(h) = help {
                            d = d.help(h);
                        }
                        self.err(d);
                        None
                    }
                }
            }
        }
    }

    /// Evaluates a call's arguments against a spec, filling defaults.
    fn call_args(
        &mut self,
        call: &Call,
        specs: &[ArgSpec<'_>],
        env: &Env,
    ) -> Option<HashMap<String, Value>> {
        let mut out = HashMap::new();
        for (i, a) in call.arg_list().iter().enumerate() {
            let name = match &a.name {
                Some(n) => n.name.clone(),
                None => specs.get(i)?.name.to_string(),
            };
            // A watched metric is a name (`val.loss`), not a value.
            if specs
                .iter()
                .any(|s| s.name == name && matches!(s.kind, schema::Kind::Watch))
            {
                if let ExprKind::Call(c) = &a.value.kind {
                    out.insert(name, Value::Str(c.dotted()));
                }
                continue;
            }
            match eval(&a.value, &|n| env.lookup(n)) {
                Ok(v) => {
                    out.insert(name, v);
                }
                Err(d) => {
                    self.err(d);
                    return None;
                }
            }
        }
        for s in specs {
            if out.contains_key(s.name) {
                continue;
            }
            let v = match s.default {
                Default::Int(v) => Value::Int(v),
                Default::Float(v) => Value::Float(v),
                Default::Bool(v) => Value::Bool(v),
                Default::Str(v) => Value::Str(v.to_string()),
                Default::Required | Default::Optional => continue,
            };
            out.insert(s.name.to_string(), v);
        }
        Some(out)
    }

    /// Integer labels are classes unless the data says otherwise (`label_kind`) or a
    /// regression loss needs real targets: with `label_kind = "auto"`, `mse`/`mae` take
    /// them as real values (recorded in the spec, so the loader does the same). Declared
    /// classes with a regression loss are an error naming both.
    fn label_kind(
        &mut self,
        t: &crate::syntax::ast::TrainDecl,
        spec: &mut spec::TrainSpec,
        data: &mut DataInfo,
        data_name: &str,
        width_one: bool,
    ) {
        use crate::data::LabelDecl;
        if matches!(spec.loss, spec::Loss::CrossEntropy { .. }) {
            return;
        }
        let Some(_) = data.classes else { return };
        match LabelDecl::of(&spec.data) {
            // A wider output is the classic mistake of a regression loss on a classifier:
            // `loss_check` explains that better than a shape mismatch would.
            Ok(LabelDecl::Auto) if width_one => {
                spec.data
                    .args
                    .insert("label_kind".to_string(), Value::Str("real".to_string()));
                data.classes = None;
                data.targets = Some(1);
            }
            Ok(LabelDecl::Classes) => {
                let span = t
                    .fields
                    .iter()
                    .find(|f| f.key.name == "loss")
                    .map_or(t.name.span, |f| f.value.span);
                self.err(
                    Diag::new(
                        "amm::train::label_kind",
                        format!(
                            "`{data_name}` declares class labels, but this regression loss needs real targets"
                        ),
                    )
                    .primary(span, "regression loss")
                    .help(format!(
                        "use `loss = cross_entropy` for classes, or declare `label_kind = \"real\"` on `{data_name}`"
                    )),
                );
            }
            _ => {}
        }
    }

    /// The watched metric of `early_stopping(…)` or `plateau(…)` (`e`): it must be reported
    /// for this loss and, for `val.*`, the data must have a validation split.
    fn watch(
        &mut self,
        args: &HashMap<String, Value>,
        e: &crate::syntax::ast::Expr,
        data_name: &str,
        loss: &str,
    ) -> Option<spec::Watch> {
        let metric = match args.get("metric") {
            Some(Value::Str(m)) => m.clone(),
            _ => "val.loss".to_string(),
        };
        // Point at the metric argument when written, else at the whole call.
        let span = match &e.kind {
            ExprKind::Call(c) => c
                .arg_list()
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == "metric"))
                .map_or(e.span, |a| a.value.span),
            _ => e.span,
        };
        let name = metric.split_once('.').map_or("", |(_, m)| m);
        let classification = loss == "cross_entropy";
        if (name == "accuracy" && !classification)
            || (matches!(name, "mse" | "mae") && classification)
        {
            self.err(
                Diag::new(
                    "amm::train::metric",
                    format!("`{metric}` is not reported when training with `{loss}`"),
                )
                .primary(span, "not reported")
                .help(if classification {
                    "classification reports loss and accuracy"
                } else {
                    "regression reports loss, mse and mae"
                }),
            );
            return None;
        }
        if metric.starts_with("val.") && !self.has_validation(data_name) {
            self.err(
                Diag::new(
                    "amm::train::no_val",
                    format!("`{metric}` needs a validation split, but `{data_name}` has none"),
                )
                .primary(span, "watched every epoch")
                .help(format!(
                    "give `{data_name}` three split fractions (train / validation / test), e.g. `split = [0.7, 0.15, 0.15]`, or watch `train.loss`"
                )),
            );
            return None;
        }
        Some(spec::Watch {
            maximize: name == "accuracy",
            min_delta: args.get("min_delta").and_then(Value::as_f64).unwrap_or(0.0),
            metric,
        })
    }

    /// A tune objective on `val.*` metrics of a train block whose data has no validation
    /// split would fail every trial: reject it here.
    fn tune_needs_validation(
        &mut self,
        t: &crate::syntax::ast::TuneDecl,
        summaries: &[ModelSummary],
    ) {
        let field = |k: &str| t.fields.iter().find(|f| f.key.name == k);
        let Some(ExprKind::Call(run)) = field("run").map(|f| &f.value.kind) else {
            return;
        };
        let Some(target) = summaries.iter().find(|s| s.train == run.dotted()) else {
            return;
        };
        let Some(objective) = field("objective") else {
            return;
        };
        let mut val_metric = None;
        find_val_metric(&objective.value, &mut val_metric);
        if let Some((name, span)) = val_metric
            && !self.has_validation(&target.spec.data.name)
        {
            let data = &target.spec.data.name;
            self.err(
                Diag::new(
                    "amm::tune::no_val",
                    format!("`{name}` needs a validation split, but `{data}` (trained by `{}`) has none", target.train),
                )
                .primary(span, "read after every trial")
                .help(format!(
                    "give `{data}` three split fractions (train / validation / test), e.g. `split = [0.7, 0.15, 0.15]`, or tune on `train.loss`"
                )),
            );
        }
    }

    /// Whether the dataset `data_name` has a validation split (three `split` fractions;
    /// the default has one).
    fn has_validation(&self, data_name: &str) -> bool {
        let Some(id) = self.program.lookup(crate::resolve::ModuleId(0), data_name) else {
            return true;
        };
        let def = self.program.def(id);
        let crate::syntax::ast::ItemKind::Data(d) = &def.item.kind else {
            return true;
        };
        let ExprKind::Call(c) = &d.value.kind else {
            return true;
        };
        match c
            .arg_list()
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == "split"))
        {
            Some(a) => match &a.value.kind {
                ExprKind::List(items) => items.len() == 3,
                _ => true,
            },
            None => true,
        }
    }

    fn int(&mut self, e: &crate::syntax::ast::Expr, env: &Env) -> Option<i64> {
        match eval(e, &|n| env.lookup(n)) {
            Ok(Value::Int(v)) => Some(v),
            Ok(other) => {
                self.err(
                    Diag::new(
                        "amm::value::type",
                        format!("expected an int, got {}", other.ty().noun()),
                    )
                    .primary(e.span, "here"),
                );
                None
            }
            Err(d) => {
                self.err(d);
                None
            }
        }
    }

    /// Instantiates a backbone/head used by `call` on `input`; returns its output shape.
    #[allow(clippy::too_many_arguments)]
    fn net(
        &mut self,
        id: DefId,
        call: &Call,
        outer: &Env,
        input: Shape,
        prefix: &str,
        walk: &mut Walk,
        site: &Site,
    ) -> Option<Shape> {
        let def = self.program.def(id);
        let ItemKind::Net(n) = &def.item.kind else {
            return None;
        };
        let mut locals = HashMap::new();
        for (i, f) in n.formals.iter().enumerate() {
            let given = call
                .arg_list()
                .iter()
                .enumerate()
                .find(|(j, a)| match &a.name {
                    Some(name) => name.name == f.name.name,
                    None => *j == i,
                });
            let v = match given {
                Some((_, a)) => eval(&a.value, &|x| outer.lookup(x)),
                None => match &f.default {
                    Some(d) => {
                        let env = Env {
                            module: def.module,
                            locals: locals.clone(),
                            program: self.program,
                        };
                        eval(d, &|x| env.lookup(x))
                    }
                    None => continue,
                },
            };
            match v {
                Ok(v) => {
                    locals.insert(f.name.name.clone(), v);
                }
                Err(d) => {
                    self.err(d);
                    return None;
                }
            }
        }
        let env = Env {
            module: def.module,
            locals,
            program: self.program,
        };
        let text = format!(
            "{} `{}` used with input {input} here",
            n.kind.keyword(),
            n.name.name
        );
        // The outermost site (the train block) is the most useful context for a stage;
        // nested networks point at the layer that uses them.
        let site = if prefix.contains('.') {
            Site {
                span: call.span,
                text,
            }
        } else {
            Site {
                span: site.span,
                text: format!("{text}; {}", site.text),
            }
        };
        self.block(&n.body, &env, input, prefix, walk, &site)
    }
    /// Where the params a failing layer uses got their values: each param's definition with
    /// its value (and the arithmetic that made it), and the `--set` that changed it.
    fn param_context(&self, c: &Call, env: &Env) -> Vec<crate::diag::Label> {
        let mut names = Vec::new();
        for a in c.arg_list() {
            expr_names(&a.value, &mut names);
        }
        let mut labels = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Params computed from other params are followed a few levels up.
        let mut queue: Vec<(String, crate::resolve::ModuleId, usize)> = names
            .into_iter()
            .filter(|n| !env.locals.contains_key(n))
            .map(|n| (n, env.module, 0))
            .collect();
        while let Some((name, module, depth)) = queue.pop() {
            let Some(id) = self.program.lookup(module, &name) else {
                continue;
            };
            let def = self.program.def(id);
            let (ItemKind::Param(p), Some(value)) = (&def.item.kind, self.program.param(id)) else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let shown = value.to_string();
            let literal = matches!(
                p.value.kind,
                ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_)
            );
            let text = match self.program.set_by.get(&id) {
                Some(set) => {
                    labels.push(crate::diag::Label {
                        span: *set,
                        message: format!(
                            "`--set {name}={}` gives `{name}` = {shown}",
                            self.sources
                                .get(set.file)
                                .text
                                .get(set.start..set.end)
                                .unwrap_or(&shown)
                        ),
                        primary: false,
                    });
                    format!(
                        "`{name}` = {shown}, set by `--set` (default `{}`)",
                        crate::syntax::pretty::expr(&p.value)
                    )
                }
                None if literal => format!("`{name}` = {shown}"),
                None => format!(
                    "`{name}` = {} = {shown}",
                    crate::syntax::pretty::expr(&p.value)
                ),
            };
            labels.push(crate::diag::Label {
                span: p.value.span,
                message: text,
                primary: false,
            });
            if depth < 4 && !self.program.set_by.contains_key(&id) {
                let mut more = Vec::new();
                expr_names(&p.value, &mut more);
                queue.extend(more.into_iter().map(|n| (n, def.module, depth + 1)));
            }
        }
        labels
    }

    fn block(
        &mut self,
        block: &LayerBlock,
        env: &Env,
        input: Shape,
        prefix: &str,
        walk: &mut Walk,
        site: &Site,
    ) -> Option<Shape> {
        let mut shape = input;
        for layer in &block.layers {
            shape = match &layer.kind {
                LayerKind::Call(c) => {
                    let before = self.diags.len();
                    let out = self.layer(c, env, shape, prefix, walk, site);
                    if out.is_none() {
                        let labels = self.param_context(c, env);
                        for d in &mut self.diags[before..] {
                            if d.code.starts_with("amm::shape::") {
                                d.labels.extend(labels.iter().cloned());
                            }
                        }
                    }
                    out?
                }
                LayerKind::Residual(b) => {
                    let skip = walk.layers.len().checked_sub(1);
                    let first = walk.layers.len();
                    let out = self.block(b, env, shape.clone(), prefix, walk, site)?;
                    if out != shape {
                        let d = residual_diag(&shape, &out, b.span, &walk.layers[first..]).note(
                            Diag::new("amm::shape::residual", site.text.clone())
                                .primary(site.span, "instantiated here"),
                        );
                        self.err(d);
                        return None;
                    }
                    let k = walk.counters.entry("add".into()).or_insert(0);
                    *k += 1;
                    let line = self.location(b.span);
                    walk.layers.push(LayerInfo {
                        name: format!("{prefix}.add{k}"),
                        text: "residual add".into(),
                        span: layer.span,
                        line,
                        output: out.clone(),
                        params: 0,
                        macs: 0,
                        frozen: walk.frozen,
                        init: walk.init,
                        op: LayerOp::ResidualAdd { skip },
                        tensors: Vec::new(),
                    });
                    out
                }
                LayerKind::Repeat { args, body } => {
                    let n = self.int(&args.first()?.value, env)?;
                    if !(0..=MAX_LAYERS as i64).contains(&n) {
                        self.err(
                            Diag::new(
                                "amm::shape::repeat",
                                format!("repeat count must be between 0 and {MAX_LAYERS}, got {n}"),
                            )
                            .primary(layer.span, "here"),
                        );
                        return None;
                    }
                    for _ in 0..n {
                        shape = self.block(body, env, shape, prefix, walk, site)?;
                    }
                    shape
                }
            };
        }
        Some(shape)
    }

    fn layer(
        &mut self,
        c: &Call,
        env: &Env,
        input: Shape,
        prefix: &str,
        walk: &mut Walk,
        site: &Site,
    ) -> Option<Shape> {
        let kind = c.dotted();
        if walk.layers.len() >= MAX_LAYERS {
            self.err(
                Diag::new(
                    "amm::shape::too_many_layers",
                    format!("the model has more than {MAX_LAYERS} layers"),
                )
                .primary(c.span, "reached here")
                .note(
                    Diag::new("amm::shape::too_many_layers", site.text.clone())
                        .primary(site.span, "instantiated here"),
                )
                .help("lower the `repeat` counts"),
            );
            return None;
        }
        if let Some(id) = self.program.lookup(env.module, &kind)
            && matches!(self.program.def(id).kind, DefKind::Backbone | DefKind::Head)
        {
            // The stage's network is level 1; this one is `depth + 2`.
            let level = walk.depth + 2;
            if level > MAX_NET_DEPTH {
                self.err(
                    Diag::new(
                        "amm::shape::depth",
                        format!("networks are nested more than {MAX_NET_DEPTH} deep"),
                    )
                    .primary(c.span, format!("`{kind}` is network {level} of a chain"))
                    .note(
                        Diag::new("amm::shape::depth", site.text.clone())
                            .primary(site.span, "instantiated here"),
                    )
                    .help(format!(
                        "a backbone or head may use others at most {MAX_NET_DEPTH} levels deep; inline some levels or use `repeat(n) {{ … }}`"
                    )),
                );
                return None;
            }
            let k = walk.counters.entry(kind.clone()).or_insert(0);
            *k += 1;
            let inner_prefix = format!("{prefix}.{kind}{k}");
            walk.depth += 1;
            let out = self.net(id, c, env, input, &inner_prefix, walk, site);
            walk.depth -= 1;
            return out;
        }
        let spec = schema::builtin(Family::Layer, &kind)?;
        let args = self.call_args(c, spec.args, env)?;
        let int = |name: &str| args.get(name).and_then(Value::as_i64);
        let counter = walk.counters.entry(kind.clone()).or_insert(0);
        *counter += 1;
        let name = format!("{prefix}.{kind}{counter}");
        // The layer that produced this input, so errors name both ends of a mismatch.
        let producer = walk
            .layers
            .last()
            .map(|l| (l.span, format!("`{}` produces {}", l.text, l.output)));
        let after_flatten = walk.layers.iter().any(|l| matches!(l.op, LayerOp::Flatten));
        // Some earlier layer made the image smaller than this input's size was before.
        let shrunk_before = |h: usize, w: usize| {
            std::iter::once(&walk.input)
                .chain(walk.layers.iter().map(|l| &l.output))
                .any(|o| o.rank() == 3 && (o.0[1] > h || o.0[2] > w))
        };
        // Why a vector reaches a layer that needs an image.
        let image_help = |what: &str| {
            if after_flatten {
                format!("{what} images; move this layer before `flatten`")
            } else {
                format!(
                    "{what} images [N, channels, height, width], but this input is a vector of {} features; use `dense` layers for vectors, or give the model image-shaped input [c, h, w]",
                    input.elements()
                )
            }
        };
        let fail =
            |this: &mut Self, code: &'static str, msg: String, label: String, help: String| {
                let mut d = Diag::new(code, msg).primary(c.span, label).help(help);
                let about_shape = matches!(
                    code,
                    "amm::shape::rank" | "amm::shape::too_small" | "amm::shape::time"
                );
                if let Some((span, text)) = producer.as_ref().filter(|_| about_shape) {
                    d = d.secondary(*span, text.clone());
                }
                this.err(d.note(
                    Diag::new(code, site.text.clone()).primary(site.span, "instantiated here"),
                ));
            };
        let positive = |this: &mut Self, what: &str, v: i64| -> Option<usize> {
            if !(1..=MAX_DIM as i64).contains(&v) {
                let help = match (what, v < 1) {
                    ("stride", true) => "a stride of 0 never moves the window: use `stride = 1` to keep every position, 2 to halve the size".to_string(),
                    ("kernel", true) => "a window needs at least one cell: `kernel = 3` is the usual choice (1 mixes channels only)".to_string(),
                    ("dilation", true) => "`dilation = 1` is an ordinary window; 2 spreads it over every other cell".to_string(),
                    ("channels", true) => format!("`{kind}` must produce at least one channel, e.g. `{kind}(16, …)`"),
                    ("units", true) => format!("`{kind}` must produce at least one feature, e.g. `{kind}(64)`"),
                    (_, true) => format!("use a `{what}` of 1 or more"),
                    (_, false) => format!("use a `{what}` of at most {MAX_DIM}; a value this large would not fit in memory"),
                };
                this.err(
                    Diag::new(
                        "amm::shape::argument",
                        if v < 1 {
                            format!("`{what}` of `{kind}` must be at least 1, got {v}")
                        } else {
                            format!("`{what}` of `{kind}` must be at most {MAX_DIM}, got {v}")
                        },
                    )
                    .primary(c.span, "here")
                    .help(help)
                    .note(
                        Diag::new("amm::shape::argument", site.text.clone())
                            .primary(site.span, "instantiated here"),
                    ),
                );
                None
            } else {
                Some(v as usize)
            }
        };
        let mut tensors = Vec::new();
        let (output, params, macs) = match kind.as_str() {
            "conv" | "maxpool" | "avgpool" => {
                if input.rank() != 3 {
                    fail(
                        self,
                        "amm::shape::rank",
                        format!("`{kind}` needs [N, C, H, W] input, got {input}"),
                        format!("input {input}"),
                        if input.rank() == 1 {
                            image_help("convolution and pooling work on")
                        } else if input.rank() == 2 {
                            format!(
                                "this input is a sequence [N, T, F] ({} steps of {} features): use `{kind}1d` to slide over time",
                                input.0[0], input.0[1]
                            )
                        } else {
                            "the input must be [N, channels, height, width]".to_string()
                        },
                    );
                    return None;
                }
                let (cin, h, w) = (input.0[0], input.0[1], input.0[2]);
                let kernel = positive(self, "kernel", int("kernel").unwrap_or(2))?;
                let stride = match int("stride") {
                    Some(s) => positive(self, "stride", s)?,
                    None => kernel,
                };
                let stride = if kind == "conv" {
                    positive(self, "stride", int("stride").unwrap_or(1))?
                } else {
                    stride
                };
                let pad = int("pad").unwrap_or(0);
                if !(0..=MAX_DIM as i64).contains(&pad) {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!("`pad` of `{kind}` must not be negative, got {pad}"),
                        "here".into(),
                        "use pad = 0 or more".into(),
                    );
                    return None;
                }
                let pad = pad as usize;
                // PyTorch's rule: a pooling window must cover at least one real pixel
                // everywhere, or a max has nothing to take and an average divides padding.
                if kind != "conv" && 2 * pad > kernel {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!(
                            "`pad` of `{kind}` must be at most half the kernel ({}), got {pad}",
                            kernel / 2
                        ),
                        "here".into(),
                        format!(
                            "use pad <= {} or a kernel of at least {}",
                            kernel / 2,
                            2 * pad
                        ),
                    );
                    return None;
                }
                let dilation = if kind == "conv" {
                    positive(self, "dilation", int("dilation").unwrap_or(1))?
                } else {
                    1
                };
                let (Some(ho), Some(wo)) = (
                    window_out(h, kernel, stride, pad, dilation),
                    window_out(w, kernel, stride, pad, dilation),
                ) else {
                    let span = dilation * (kernel - 1) + 1;
                    let room = h.min(w) + 2 * pad;
                    let need_pad = span.saturating_sub(h.min(w)).div_ceil(2);
                    let mut fixes = Vec::new();
                    // The largest kernel whose dilated window fits: d·(k − 1) + 1 ≤ room.
                    let max_kernel = (room.saturating_sub(1)) / dilation + 1;
                    if dilation > 1 {
                        let max_dilation = if kernel > 1 {
                            (room - 1) / (kernel - 1)
                        } else {
                            0
                        };
                        if max_dilation >= 1 {
                            fixes.push(format!("`dilation = {max_dilation}` or less"));
                        }
                        fixes.push(format!(
                            "`kernel = {max_kernel}` or less at dilation {dilation}"
                        ));
                    } else {
                        fixes.push(format!("a kernel of at most {max_kernel}"));
                    }
                    // Pooling may pad at most half its window (checked above).
                    if kind == "conv" || 2 * need_pad <= kernel {
                        fixes.push(format!("`pad = {need_pad}`"));
                    }
                    if shrunk_before(h, w) {
                        fixes.push(
                            "fewer layers that shrink the image before it (pooling, strides, unpadded convs)".to_string(),
                        );
                    } else {
                        fixes.push("a larger input".to_string());
                    }
                    let help = match fixes.split_last() {
                        Some((last, rest)) if !rest.is_empty() => {
                            format!("use {}, or {last}", rest.join(", "))
                        }
                        _ => format!("use {}", fixes.join("")),
                    };
                    let window = if dilation > 1 {
                        format!(
                            "{kind}` window of {span}x{span} (kernel {kernel} at dilation {dilation})"
                        )
                    } else {
                        format!("{kind}` window of {span}x{span}")
                    };
                    fail(
                        self,
                        "amm::shape::too_small",
                        format!("`{window} does not fit the {h}x{w} input"),
                        format!("input {input}"),
                        help,
                    );
                    return None;
                };
                if kind == "conv" {
                    let cout = positive(self, "channels", int("channels")?)?;
                    let bias = !matches!(args.get("bias"), Some(Value::Bool(false)));
                    let params = cout
                        .saturating_mul(cin)
                        .saturating_mul(kernel * kernel)
                        .saturating_add(if bias { cout } else { 0 });
                    tensors.push(("weight", vec![cout, cin, kernel, kernel]));
                    if bias {
                        tensors.push(("bias", vec![cout]));
                    }
                    (
                        Shape(vec![cout, ho, wo]),
                        params,
                        cout.saturating_mul(ho * wo)
                            .saturating_mul(cin)
                            .saturating_mul(kernel * kernel),
                    )
                } else {
                    (Shape(vec![cin, ho, wo]), 0, 0)
                }
            }
            "global_avgpool" => {
                if input.rank() != 3 {
                    fail(
                        self,
                        "amm::shape::rank",
                        format!("`global_avgpool` needs [N, C, H, W] input, got {input}"),
                        format!("input {input}"),
                        if input.rank() == 1 {
                            image_help("global pooling works on")
                        } else {
                            "the input must be [N, channels, height, width]".to_string()
                        },
                    );
                    return None;
                }
                (Shape(vec![input.0[0]]), 0, 0)
            }
            "flatten" => (Shape(vec![input.elements()]), 0, 0),
            "embedding" | "conv1d" | "maxpool1d" | "avgpool1d" | "gru" | "lstm" | "last"
            | "mean" => {
                let want = if kind == "embedding" { 1 } else { 2 };
                if input.rank() != want {
                    let had_time = walk.input.rank() == 2;
                    let (code, msg, help) =
                        sequence_rank_help(&kind, &input, &walk.layers, had_time);
                    fail(self, code, msg, format!("input {input}"), help);
                    return None;
                }
                if kind == "embedding" && !walk.layers.is_empty() {
                    fail(
                        self,
                        "amm::shape::embedding",
                        "`embedding` must be the model's first layer".to_string(),
                        "reads the output of another layer".into(),
                        "it looks up token ids, which only the data holds: put `embedding` first in the first stage".into(),
                    );
                    return None;
                }
                match kind.as_str() {
                    "embedding" => {
                        let vocab = positive(self, "vocab", int("vocab")?)?;
                        let dim = positive(self, "dim", int("dim")?)?;
                        tensors.push(("weight", vec![vocab, dim]));
                        (Shape(vec![input.0[0], dim]), vocab.saturating_mul(dim), 0)
                    }
                    "last" | "mean" => (Shape(vec![input.0[1]]), 0, 0),
                    "gru" | "lstm" => {
                        let units = positive(self, "units", int("units")?)?;
                        let flag = |name: &str| matches!(args.get(name), Some(Value::Bool(true)));
                        let dirs = if flag("bidirectional") { 2 } else { 1 };
                        let gates = if kind == "gru" { 3 } else { 4 };
                        let (t, f) = (input.0[0], input.0[1]);
                        let rows = gates * units;
                        for rev in 0..dirs {
                            let names: [&'static str; 4] = if rev == 0 {
                                ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
                            } else {
                                [
                                    "weight_ih_l0_reverse",
                                    "weight_hh_l0_reverse",
                                    "bias_ih_l0_reverse",
                                    "bias_hh_l0_reverse",
                                ]
                            };
                            tensors.push((names[0], vec![rows, f]));
                            tensors.push((names[1], vec![rows, units]));
                            tensors.push((names[2], vec![rows]));
                            tensors.push((names[3], vec![rows]));
                        }
                        let per_dir = rows
                            .saturating_mul(f.saturating_add(units))
                            .saturating_add(2 * rows);
                        let macs = rows
                            .saturating_mul(f.saturating_add(units))
                            .saturating_mul(t);
                        let out = dirs * units;
                        (
                            if flag("return_sequences") {
                                Shape(vec![t, out])
                            } else {
                                Shape(vec![out])
                            },
                            per_dir.saturating_mul(dirs),
                            macs.saturating_mul(dirs),
                        )
                    }
                    _ => {
                        // conv1d and the 1-D poolings: a window sliding over time.
                        let (t, cin) = (input.0[0], input.0[1]);
                        let conv = kind == "conv1d";
                        let kernel = positive(
                            self,
                            "kernel",
                            int("kernel").unwrap_or(if conv { 3 } else { 2 }),
                        )?;
                        let stride = match int("stride") {
                            Some(v) => positive(self, "stride", v)?,
                            None if conv => 1,
                            None => kernel,
                        };
                        let pad = int("pad").unwrap_or(0);
                        if !(0..=MAX_DIM as i64).contains(&pad)
                            || (!conv && 2 * pad as usize > kernel)
                        {
                            fail(
                                self,
                                "amm::shape::argument",
                                format!(
                                    "`pad` of `{kind}` must be between 0 and {}, got {pad}",
                                    if conv { MAX_DIM } else { kernel / 2 }
                                ),
                                "here".into(),
                                if conv {
                                    "use pad = 0 or more".into()
                                } else {
                                    format!(
                                        "a pooling window may pad at most half its length: use pad <= {}",
                                        kernel / 2
                                    )
                                },
                            );
                            return None;
                        }
                        let pad = pad as usize;
                        let dilation = if conv {
                            positive(self, "dilation", int("dilation").unwrap_or(1))?
                        } else {
                            1
                        };
                        let Some(tout) = window_out(t, kernel, stride, pad, dilation) else {
                            let span = dilation * (kernel - 1) + 1;
                            let need_pad = span.saturating_sub(t).div_ceil(2);
                            let max_kernel = (t + 2 * pad).saturating_sub(1) / dilation + 1;
                            let mut fixes = vec![format!("a kernel of at most {max_kernel}")];
                            if conv || 2 * need_pad <= kernel {
                                fixes.push(format!("`pad = {need_pad}`"));
                            }
                            fixes.push(if walk.layers.iter().any(|l| l.output.rank() == 2 && l.output.0[0] > t) {
                                "fewer layers that shorten the sequence before it (pooling, strides)".to_string()
                            } else {
                                "longer sequences".to_string()
                            });
                            fail(
                                self,
                                "amm::shape::time",
                                format!(
                                    "the `{kind}` window of {span} steps does not fit the {t}-step sequence"
                                ),
                                format!("input {input}: {t} steps"),
                                format!(
                                    "the window slides over the time axis; use {}",
                                    fixes.join(", or ")
                                ),
                            );
                            return None;
                        };
                        if conv {
                            let cout = positive(self, "channels", int("channels")?)?;
                            let bias = !matches!(args.get("bias"), Some(Value::Bool(false)));
                            tensors.push(("weight", vec![cout, cin, kernel]));
                            if bias {
                                tensors.push(("bias", vec![cout]));
                            }
                            (
                                Shape(vec![tout, cout]),
                                cout.saturating_mul(cin)
                                    .saturating_mul(kernel)
                                    .saturating_add(if bias { cout } else { 0 }),
                                cout.saturating_mul(tout)
                                    .saturating_mul(cin)
                                    .saturating_mul(kernel),
                            )
                        } else {
                            (Shape(vec![tout, cin]), 0, 0)
                        }
                    }
                }
            }
            "dense" => {
                if input.rank() != 1 {
                    fail(
                        self,
                        "amm::shape::rank",
                        format!("`dense` needs [N, features] input, got {input}"),
                        format!("input {input}"),
                        if input.rank() == 2 {
                            format!(
                                "`dense` reads one vector per sample, and this is a sequence of {} steps of {} features: insert `last` (the final step) or `mean` (the average over time) to make it [N, {}], or `flatten` to make it [N, {}]",
                                input.0[0],
                                input.0[1],
                                input.0[1],
                                input.elements()
                            )
                        } else {
                            format!(
                                "insert `flatten` before `dense` to make it [N, {}]",
                                input.elements()
                            )
                        },
                    );
                    return None;
                }
                let units = positive(self, "units", int("units")?)?;
                let bias = !matches!(args.get("bias"), Some(Value::Bool(false)));
                tensors.push(("weight", vec![units, input.0[0]]));
                if bias {
                    tensors.push(("bias", vec![units]));
                }
                (
                    Shape(vec![units]),
                    input.0[0]
                        .saturating_mul(units)
                        .saturating_add(if bias { units } else { 0 }),
                    input.0[0].saturating_mul(units),
                )
            }
            "dropout" => {
                let rate = args.get("rate").and_then(Value::as_f64).unwrap_or(0.5);
                if !(0.0..1.0).contains(&rate) {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!("dropout rate must be in [0, 1), got {rate}"),
                        "here".into(),
                        "e.g. dropout(0.1)".into(),
                    );
                    return None;
                }
                (input.clone(), 0, 0)
            }
            "batchnorm" => {
                if input.rank() != 1 && input.rank() != 3 {
                    fail(
                        self,
                        "amm::shape::rank",
                        format!("`batchnorm` needs [N, C] or [N, C, H, W] input, got {input}"),
                        format!("input {input}"),
                        "use it after `dense` or `conv`".into(),
                    );
                    return None;
                }
                // The runtime's rules (PyTorch's): the kernels reject anything else.
                let eps = args.get("eps").and_then(Value::as_f64).unwrap_or(1e-5);
                let momentum = args.get("momentum").and_then(Value::as_f64).unwrap_or(0.1);
                if !(eps > 0.0 && eps <= f64::from(f32::MAX) && eps as f32 > 0.0) {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!("`eps` of `batchnorm` must be a positive 32-bit float, got {eps}"),
                        "here".into(),
                        "the default is eps = 1e-5".into(),
                    );
                    return None;
                }
                if !(0.0..=1.0).contains(&momentum) {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!("`momentum` of `batchnorm` must be in [0, 1], got {momentum}"),
                        "here".into(),
                        "the default is momentum = 0.1".into(),
                    );
                    return None;
                }
                tensors.push(("weight", vec![input.0[0]]));
                tensors.push(("bias", vec![input.0[0]]));
                (input.clone(), 2 * input.0[0], 0)
            }
            "leaky_relu" => {
                let slope = args.get("slope").and_then(Value::as_f64).unwrap_or(0.01);
                if slope.abs() > f64::from(f32::MAX) {
                    fail(
                        self,
                        "amm::shape::argument",
                        format!("`slope` of `leaky_relu` does not fit a 32-bit float, got {slope}"),
                        "here".into(),
                        "use a slope between -1 and 1, e.g. 0.01".into(),
                    );
                    return None;
                }
                (input.clone(), 0, 0)
            }
            _ => (input.clone(), 0, 0),
        };
        let float = |name: &str, default: f64| {
            args.get(name).and_then(Value::as_f64).unwrap_or(default) as f32
        };
        let usize_arg =
            |name: &str, default: usize| int(name).map_or(default, |v| v.max(0) as usize);
        let bias = !matches!(args.get("bias"), Some(Value::Bool(false)));
        let op = match kind.as_str() {
            "conv" => LayerOp::Conv {
                channels: output.0[0],
                kernel: usize_arg("kernel", 3),
                stride: usize_arg("stride", 1),
                pad: usize_arg("pad", 0),
                dilation: usize_arg("dilation", 1),
                bias,
            },
            "maxpool" | "avgpool" => {
                let kernel = usize_arg("kernel", 2);
                let (stride, pad) = (usize_arg("stride", kernel), usize_arg("pad", 0));
                if kind == "maxpool" {
                    LayerOp::MaxPool {
                        kernel,
                        stride,
                        pad,
                    }
                } else {
                    LayerOp::AvgPool {
                        kernel,
                        stride,
                        pad,
                    }
                }
            }
            "global_avgpool" => LayerOp::GlobalAvgPool,
            "flatten" => LayerOp::Flatten,
            "embedding" => LayerOp::Embedding {
                vocab: usize_arg("vocab", 1),
                dim: output.0[1],
            },
            "conv1d" => LayerOp::Conv1d {
                channels: output.0[1],
                kernel: usize_arg("kernel", 3),
                stride: usize_arg("stride", 1),
                pad: usize_arg("pad", 0),
                dilation: usize_arg("dilation", 1),
                bias,
            },
            "maxpool1d" | "avgpool1d" => {
                let kernel = usize_arg("kernel", 2);
                let (stride, pad) = (usize_arg("stride", kernel), usize_arg("pad", 0));
                if kind == "maxpool1d" {
                    LayerOp::MaxPool1d {
                        kernel,
                        stride,
                        pad,
                    }
                } else {
                    LayerOp::AvgPool1d {
                        kernel,
                        stride,
                        pad,
                    }
                }
            }
            "gru" | "lstm" => {
                let flag = |name: &str| matches!(args.get(name), Some(Value::Bool(true)));
                LayerOp::Rnn {
                    cell: if kind == "gru" {
                        RnnCell::Gru
                    } else {
                        RnnCell::Lstm
                    },
                    units: usize_arg("units", 1),
                    return_sequences: flag("return_sequences"),
                    bidirectional: flag("bidirectional"),
                }
            }
            "last" => LayerOp::Last,
            "mean" => LayerOp::TimeMean,
            "dense" => LayerOp::Dense {
                units: output.0[0],
                bias,
            },
            "dropout" => LayerOp::Dropout {
                rate: float("rate", 0.5),
            },
            "batchnorm" => LayerOp::BatchNorm {
                momentum: float("momentum", 0.1),
                eps: float("eps", 1e-5),
            },
            "relu" => LayerOp::Act(Activation::Relu),
            "leaky_relu" => LayerOp::Act(Activation::LeakyRelu(float("slope", 0.01))),
            "sigmoid" => LayerOp::Act(Activation::Sigmoid),
            "tanh" => LayerOp::Act(Activation::Tanh),
            "gelu" => LayerOp::Act(Activation::Gelu),
            _ => LayerOp::Act(Activation::Softmax),
        };
        let line = self.location(c.span);
        walk.layers.push(LayerInfo {
            name,
            text: crate::syntax::pretty::call(c),
            span: c.span,
            line,
            output: output.clone(),
            params,
            macs,
            frozen: walk.frozen,
            init: walk.init,
            op,
            tensors,
        });
        Some(output)
    }
}

/// Why a sequence layer cannot take `input`: the error code, message and help.
fn sequence_rank_help(
    kind: &str,
    input: &Shape,
    layers: &[LayerInfo],
    input_had_time: bool,
) -> (&'static str, String, String) {
    if kind == "embedding" {
        let help = if input.rank() == 2 {
            format!(
                "`embedding` reads token ids, one per step [N, T]; this input already has {} features per step: drop the `embedding`, or give it integer ids",
                input.0[1]
            )
        } else {
            "`embedding` reads token ids, one per step [N, T]: give the model integer ids of shape [T]".to_string()
        };
        return (
            "amm::shape::rank",
            format!("`embedding` needs token ids [N, T], got {input}"),
            help,
        );
    }
    let what = match kind {
        "gru" | "lstm" => "a recurrent layer",
        "conv1d" => "a 1-D convolution",
        "maxpool1d" | "avgpool1d" => "1-D pooling",
        _ => "it",
    };
    match input.rank() {
        1 => {
            // A vector whose time axis an earlier layer removed is a time-axis mistake.
            let dropped = layers.iter().rev().find(|l| {
                matches!(
                    l.op,
                    LayerOp::Rnn {
                        return_sequences: false,
                        ..
                    } | LayerOp::Last
                        | LayerOp::TimeMean
                        | LayerOp::Flatten
                )
            });
            let had_time = input_had_time || layers.iter().any(|l| l.output.rank() == 2);
            match dropped.filter(|_| had_time) {
                Some(l) => (
                    "amm::shape::time",
                    format!(
                        "`{kind}` needs a time axis [N, T, F], but `{}` removed it: got {input}",
                        l.text
                    ),
                    match l.op {
                        LayerOp::Rnn { .. } => format!(
                            "{what} reads one vector per step; keep every step of the earlier recurrent layer with `return_sequences = true` (it outputs [N, T, units])"
                        ),
                        _ => format!(
                            "{what} reads one vector per step; move `{}` after `{kind}`",
                            l.text
                        ),
                    },
                ),
                None => (
                    "amm::shape::rank",
                    format!("`{kind}` needs a sequence [N, T, F], got {input}"),
                    format!(
                        "{what} reads one vector of features per time step; this input is one vector of {} features: give the data a time axis (shape [T, F]), or use `dense` for plain vectors",
                        input.elements()
                    ),
                ),
            }
        }
        3 => (
            "amm::shape::rank",
            format!("`{kind}` needs a sequence [N, T, F], got the image tensor {input}"),
            format!(
                "{what} reads [N, steps, features]; to read each image row by row as a sequence of {} steps of {} features, load it as [{}, {}] (for the digits: `builtin.digits(as = \"rows\")`), or use `conv`/`maxpool` layers for images",
                input.0[1],
                input.0[0] * input.0[2],
                input.0[1],
                input.0[0] * input.0[2]
            ),
        ),
        _ => (
            "amm::shape::rank",
            format!("`{kind}` needs a sequence [N, T, F], got {input}"),
            format!("{what} reads [N, steps, features]"),
        ),
    }
}

/// The first `val.<metric>` an objective reads, with its span.
fn find_val_metric(e: &crate::syntax::ast::Expr, found: &mut Option<(String, Span)>) {
    if found.is_some() {
        return;
    }
    match &e.kind {
        ExprKind::Call(c) if c.path.len() == 2 && c.path[0].name == "val" => {
            *found = Some((c.dotted(), e.span));
        }
        ExprKind::Call(c) => {
            for a in c.arg_list() {
                find_val_metric(&a.value, found);
            }
        }
        ExprKind::Neg(i) => find_val_metric(i, found),
        ExprKind::Binary(_, l, r) => {
            find_val_metric(l, found);
            find_val_metric(r, found);
        }
        _ => {}
    }
}

/// A model stage's own `init = …` (resolution checked the name against the schema's
/// `init` builtins).
/// The names a model's stages' tensors live under: a stage's own name for its first use
/// and `name_2`, `name_3`, … for later uses of the same backbone or head, so each use has
/// weights of its own (skipping names another stage of the model already has).
pub(crate) fn stage_instances(stages: &[crate::syntax::ast::Call]) -> Vec<String> {
    let names: Vec<String> = stages.iter().map(|s| s.dotted()).collect();
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if !names[..i].contains(name) {
            out.push(name.clone());
            continue;
        }
        let mut k = 2;
        let instance = loop {
            let candidate = format!("{name}_{k}");
            if !names.contains(&candidate) && !out.contains(&candidate) {
                break candidate;
            }
            k += 1;
        };
        out.push(instance);
    }
    out
}

/// Whether a model stage is excluded from training (`frozen = true`).
pub(crate) fn stage_frozen(stage: &crate::syntax::ast::Call) -> bool {
    stage
        .arg_list()
        .iter()
        .find(|a| a.name.as_ref().is_some_and(|n| n.name == "frozen"))
        .is_some_and(|a| matches!(a.value.kind, ExprKind::Bool(true)))
}

pub(crate) fn stage_init(stage: &crate::syntax::ast::Call) -> Option<spec::InitScheme> {
    stage
        .arg_list()
        .iter()
        .find(|a| a.name.as_ref().is_some_and(|n| n.name == "init"))
        .and_then(|a| match &a.value.kind {
            ExprKind::Call(c) => spec::InitScheme::from_name(&c.dotted()),
            _ => None,
        })
}

impl ShapeChecker<'_> {
    /// A head before a backbone (`classifier(…) -> features`) is a composition in the wrong
    /// order, whatever shape error it would cause later: say so, with the model reordered.
    fn stage_order(
        &self,
        module: crate::resolve::ModuleId,
        name: &str,
        m: &crate::syntax::ast::ModelDecl,
    ) -> Option<Diag> {
        let kind = |c: &crate::syntax::ast::Call| {
            self.program
                .lookup(module, &c.dotted())
                .map(|id| self.program.def(id).kind)
        };
        let first_head = m
            .stages
            .iter()
            .position(|c| kind(c) == Some(DefKind::Head))?;
        let late = m.stages[first_head..]
            .iter()
            .find(|c| kind(c) == Some(DefKind::Backbone))?;
        let head = &m.stages[first_head];
        let (backbones, heads): (Vec<_>, Vec<_>) = m
            .stages
            .iter()
            .partition(|c| kind(c) != Some(DefKind::Head));
        let order: Vec<String> = backbones
            .iter()
            .chain(heads.iter())
            .map(|c| crate::syntax::pretty::call(c))
            .collect();
        Some(
            Diag::new(
                "amm::model::stage_order",
                format!(
                    "model `{name}` puts head `{}` before backbone `{}`",
                    head.dotted(),
                    late.dotted()
                ),
            )
            .primary(late.span, "a backbone after a head")
            .secondary(head.span, "the head")
            .help(format!(
                "stages run left to right, features first: write `model {name} = {}`",
                order.join(" -> ")
            )),
        )
    }
}
