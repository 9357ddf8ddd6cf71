//! ONNX export of a trained model's inference graph: the normalisation fitted on the train
//! split as leading `Sub`/`Mul`, then one node per forward kernel of the plan (Dropout
//! removed, BatchNormalization in inference form, `flatten` views as `Flatten`), a dynamic
//! batch dimension `N`, and for classifiers a `probabilities` output (Softmax of `logits`).
//! Encoded with prost from the checked-in `proto/onnx.proto`.

use prost::Message;

use crate::check::{Activation, ModelSummary};
use crate::lower::{BufferId, Kernel, Plan, Window};
use crate::runtime::infer::ModelFile;
use crate::runtime::train::is_model_tensor;

/// The ONNX protobuf types, generated from `proto/onnx.proto` by `build.rs`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

use proto::attribute_proto::AttributeType;
use proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// The default-domain opset the graph uses.
pub const OPSET: i64 = 17;
/// IR version of opset 17.
const IR_VERSION: i64 = 8;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// The graph's input name.
pub const INPUT: &str = "input";
/// The model's raw output (logits of a classifier, values of a regression model).
pub const OUTPUT: &str = "output";
/// A classifier's softmax output.
pub const PROBABILITIES: &str = "probabilities";

/// The ONNX model bytes of `model` (lowered as `plan`) with the weights of `file`, which
/// the caller has checked fit the model (`infer::Predictor::new`).
pub fn export(model: &ModelSummary, plan: &Plan, file: &ModelFile) -> Result<Vec<u8>, String> {
    let mut g = Graph::new(plan);
    let mut initializer = Vec::new();
    for b in plan.buffers.iter().filter(|b| is_model_tensor(b)) {
        let t = file
            .tensors
            .iter()
            .find(|t| t.name == b.name)
            .ok_or_else(|| format!("the weights have no tensor `{}`", b.name))?;
        initializer.push(tensor(&b.name, &t.shape, &t.data));
    }
    // The input is normalised first, with the f32 operations training used.
    let mut x = INPUT.to_string();
    if let Some(n) = &file.normalization {
        let dims = &model.input.0;
        initializer.push(tensor("normalize.shift", dims, &n.shift));
        initializer.push(tensor("normalize.scale", dims, &n.scale));
        g.node(
            "Sub",
            &[&x, "normalize.shift"],
            "normalize.centered",
            vec![],
        );
        g.node(
            "Mul",
            &["normalize.centered", "normalize.scale"],
            "normalize.out",
            vec![],
        );
        x = "normalize.out".to_string();
    }
    g.names.insert(plan.input, x);
    for k in &plan.forward {
        g.kernel(k)?;
    }
    let out = g.value(plan.output);
    let classifier = matches!(plan.loss, Kernel::SoftmaxCrossEntropy { .. });
    g.node("Identity", &[&out], OUTPUT, vec![]);
    let out_dims = &model.output().0;
    let mut outputs = vec![value_info(OUTPUT, out_dims)];
    if classifier {
        g.node("Softmax", &[OUTPUT], PROBABILITIES, vec![int("axis", 1)]);
        outputs.push(value_info(PROBABILITIES, out_dims));
    }
    let graph = GraphProto {
        node: g.nodes,
        name: Some(model.train.clone()),
        initializer,
        input: vec![value_info(INPUT, &model.input.0)],
        output: outputs,
        ..Default::default()
    };
    let m = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("ammc".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!(
            "model `{}` of train block `{}`",
            model.model, model.train
        )),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(m.encode_to_vec())
}

/// Nodes under construction and the ONNX name of each plan buffer.
struct Graph<'p> {
    plan: &'p Plan,
    nodes: Vec<NodeProto>,
    names: std::collections::HashMap<BufferId, String>,
}

impl<'p> Graph<'p> {
    fn new(plan: &'p Plan) -> Graph<'p> {
        Graph {
            plan,
            nodes: Vec::new(),
            names: std::collections::HashMap::new(),
        }
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
    }

    /// The ONNX value of a buffer: a `flatten` view becomes a `Flatten` node on first use.
    fn value(&mut self, id: BufferId) -> String {
        if let Some(n) = self.names.get(&id) {
            return n.clone();
        }
        let b = self.plan.buffer(id);
        let name = match b.alias {
            Some(src) => {
                let from = self.value(src);
                if self.plan.buffer(src).shape == b.shape {
                    from
                } else {
                    self.node("Flatten", &[&from], &b.name, vec![int("axis", 1)]);
                    b.name.clone()
                }
            }
            None => b.name.clone(),
        };
        self.names.insert(id, name.clone());
        name
    }

    fn kernel(&mut self, k: &Kernel) -> Result<(), String> {
        match k {
            Kernel::Dense { x, w, b, y, act } => {
                let (x, w) = (self.value(*x), self.value(*w));
                let mut inputs = vec![x.as_str(), w.as_str()];
                let b = b.map(|b| self.value(b));
                if let Some(b) = &b {
                    inputs.push(b);
                }
                let pre = self.pre_activation(*y, act);
                self.node("Gemm", &inputs, &pre, vec![int("transB", 1)]);
                self.activation(&pre, *y, act)
            }
            Kernel::Conv {
                x,
                w,
                b,
                y,
                window,
                act,
            } => {
                let (x, w) = (self.value(*x), self.value(*w));
                let mut inputs = vec![x.as_str(), w.as_str()];
                let b = b.map(|b| self.value(b));
                if let Some(b) = &b {
                    inputs.push(b);
                }
                let pre = self.pre_activation(*y, act);
                let mut attrs = window_attrs(window);
                attrs.push(ints("dilations", &[window.dilation, window.dilation]));
                self.node("Conv", &inputs, &pre, attrs);
                self.activation(&pre, *y, act)
            }
            Kernel::MaxPool { x, y, window, .. } => {
                let x = self.value(*x);
                let mut attrs = window_attrs(window);
                attrs.push(ints("dilations", &[window.dilation, window.dilation]));
                let y = self.value(*y);
                self.node("MaxPool", &[&x], &y, attrs);
                Ok(())
            }
            Kernel::AvgPool { x, y, window } => {
                let x = self.value(*x);
                let mut attrs = window_attrs(window);
                attrs.push(int("count_include_pad", 1));
                let y = self.value(*y);
                self.node("AveragePool", &[&x], &y, attrs);
                Ok(())
            }
            Kernel::GlobalAvgPool { x, y } => {
                let (x, y) = (self.value(*x), self.value(*y));
                self.node("GlobalAveragePool", &[&x], &y, vec![]);
                Ok(())
            }
            Kernel::Act { x, y, act } => {
                let x = self.value(*x);
                self.activation(&x, *y, &Some(*act))
            }
            // Inference: dropout is the identity.
            Kernel::Dropout { x, y, .. } => {
                let x = self.value(*x);
                self.names.insert(*y, x);
                Ok(())
            }
            Kernel::BatchNorm {
                x,
                y,
                gamma,
                beta,
                running_mean,
                running_var,
                eps,
                ..
            } => {
                let inputs: Vec<String> = [*x, *gamma, *beta, *running_mean, *running_var]
                    .iter()
                    .map(|b| self.value(*b))
                    .collect();
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let y = self.value(*y);
                self.node(
                    "BatchNormalization",
                    &refs,
                    &y,
                    vec![float("epsilon", *eps)],
                );
                Ok(())
            }
            Kernel::Add { a, b, y } => {
                let (a, b, y) = (self.value(*a), self.value(*b), self.value(*y));
                self.node("Add", &[&a, &b], &y, vec![]);
                Ok(())
            }
            other => Err(format!(
                "no ONNX form for the forward kernel {}",
                other.name()
            )),
        }
    }

    /// Where a fused kernel writes before its activation.
    fn pre_activation(&mut self, y: BufferId, act: &Option<Activation>) -> String {
        match act {
            None => self.value(y),
            Some(_) => format!("{}.pre", self.plan.buffer(y).name),
        }
    }

    fn activation(&mut self, x: &str, y: BufferId, act: &Option<Activation>) -> Result<(), String> {
        let Some(act) = act else { return Ok(()) };
        let y = self.value(y);
        match act {
            Activation::Relu => self.node("Relu", &[x], &y, vec![]),
            Activation::LeakyRelu(s) => self.node("LeakyRelu", &[x], &y, vec![float("alpha", *s)]),
            Activation::Sigmoid => self.node("Sigmoid", &[x], &y, vec![]),
            Activation::Tanh => self.node("Tanh", &[x], &y, vec![]),
            Activation::Softmax => self.node("Softmax", &[x], &y, vec![int("axis", -1)]),
            // Gelu is an operator only from opset 20: x·Φ(x) = x · (1 + erf(x/√2)) / 2.
            Activation::Gelu => {
                let c = |s: &str| format!("{y}.{s}");
                self.constant(&c("sqrt2"), std::f32::consts::SQRT_2);
                self.constant(&c("one"), 1.0);
                self.constant(&c("half"), 0.5);
                self.node("Div", &[x, &c("sqrt2")], &c("scaled"), vec![]);
                self.node("Erf", &[&c("scaled")], &c("erf"), vec![]);
                self.node("Add", &[&c("erf"), &c("one")], &c("cdf2"), vec![]);
                self.node("Mul", &[x, &c("cdf2")], &c("twice"), vec![]);
                self.node("Mul", &[&c("twice"), &c("half")], &y, vec![]);
            }
        }
        Ok(())
    }

    fn constant(&mut self, name: &str, v: f32) {
        let attr = AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(tensor(name, &[], &[v])),
            ..Default::default()
        };
        self.node("Constant", &[], name, vec![attr]);
    }
}

fn window_attrs(w: &Window) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", &[w.kernel, w.kernel]),
        ints("strides", &[w.stride, w.stride]),
        ints("pads", &[w.pad, w.pad, w.pad, w.pad]),
    ]
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.iter().map(|d| *d as i64).collect(),
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: Some(FLOAT),
        name: Some(name.into()),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A float tensor value `[N, dims…]` with a symbolic batch dimension.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    use proto::tensor_shape_proto::{Dimension, dimension::Value};
    let mut dim = vec![Dimension {
        value: Some(Value::DimParam("N".into())),
        ..Default::default()
    }];
    dim.extend(dims.iter().map(|d| Dimension {
        value: Some(Value::DimValue(*d as i64)),
        ..Default::default()
    }));
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: Some(FLOAT),
                    shape: Some(TensorShapeProto { dim }),
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}
