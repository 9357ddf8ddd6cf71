//! Lowering: a checked model and its train block become a [`Plan`] — statically shaped
//! buffers and kernels for the forward pass, the loss, the backward pass derived here by
//! reverse-mode differentiation over the static layer graph, and the optimizer update.
//!
//! Fusions made here: bias + activation in the epilogue of `Dense`/`Conv` (ReLU, leaky ReLU,
//! sigmoid and tanh, whose derivatives can be computed from the output), softmax +
//! cross-entropy in one loss kernel, and the activation derivative (the ReLU mask) applied
//! inside the backward of the fused kernel. Backward through a prefix of layers without
//! trainable parameters (a frozen backbone) is skipped.
//!
//! Invariant: every buffer a kernel reads was written earlier in the same step (or is a
//! param/state/input), and buffer shapes agree with what each kernel expects.

pub mod plan;

use std::collections::HashMap;

use crate::check::spec::{InitScheme, Loss, Optimizer};
use crate::check::{Activation, LayerOp, ModelSummary};
pub use plan::{
    Buffer, BufferId, Init, Kernel, ParamInfo, Plan, RnnDir, RnnDirGrads, Role, TimeReduce, Update,
    Window, window_output_len,
};

/// Activations whose derivative is a function of their output, so they can be fused.
fn fusable(a: Activation) -> bool {
    matches!(
        a,
        Activation::Relu | Activation::LeakyRelu(_) | Activation::Sigmoid | Activation::Tanh
    )
}

struct Builder {
    buffers: Vec<Buffer>,
    /// Gradient buffer of each activation storage, once created.
    grads: HashMap<BufferId, BufferId>,
    /// Whether a gradient buffer has received its first contribution.
    written: HashMap<BufferId, bool>,
    backward: Vec<Kernel>,
}

impl Builder {
    fn add(&mut self, name: String, shape: Vec<usize>, role: Role) -> BufferId {
        let id = BufferId(self.buffers.len() as u32);
        let batched = matches!(
            role,
            Role::Input | Role::Target | Role::Activation | Role::ActGrad
        );
        self.buffers.push(Buffer {
            name,
            shape,
            role,
            alias: None,
            batched,
        });
        id
    }

    fn alias(&mut self, name: String, shape: Vec<usize>, role: Role, of: BufferId) -> BufferId {
        let id = self.add(name, shape, role);
        self.buffers[id.0 as usize].alias = Some(of);
        id
    }

    fn storage(&self, id: BufferId) -> BufferId {
        let mut cur = id;
        while let Some(a) = self.buffers[cur.0 as usize].alias {
            cur = a;
        }
        cur
    }

    /// The gradient buffer of activation `x` (a view when `x` is a view).
    fn grad(&mut self, x: BufferId) -> BufferId {
        if let Some(g) = self.grads.get(&x) {
            return *g;
        }
        let b = self.buffers[x.0 as usize].clone();
        let g = match b.alias {
            Some(of) => {
                let base = self.grad(of);
                self.alias(
                    format!("{}.grad", b.name),
                    b.shape.clone(),
                    Role::ActGrad,
                    base,
                )
            }
            None => self.add(format!("{}.grad", b.name), b.shape.clone(), Role::ActGrad),
        };
        self.grads.insert(x, g);
        g
    }

    /// Where a backward kernel should write the gradient of `x`: the gradient buffer itself
    /// on the first contribution, else a temporary that is then accumulated into it.
    fn grad_target(&mut self, x: BufferId) -> (BufferId, Option<Kernel>) {
        let g = self.grad(x);
        let key = self.storage(g);
        if self.written.insert(key, true).is_none() {
            return (g, None);
        }
        let b = self.buffers[g.0 as usize].clone();
        let tmp = self.add(
            format!("{}.part{}", b.name, self.buffers.len()),
            b.shape,
            Role::ActGrad,
        );
        (tmp, Some(Kernel::Accumulate { src: tmp, dst: g }))
    }
}

/// Lowers a checked model at one batch size.
pub fn lower(model: &ModelSummary, batch: usize) -> Plan {
    let spec = &model.spec;
    let mut b = Builder {
        buffers: Vec::new(),
        grads: HashMap::new(),
        written: HashMap::new(),
        backward: Vec::new(),
    };
    let with_batch = |s: &crate::check::Shape| {
        let mut v = vec![batch];
        v.extend(&s.0);
        v
    };
    let input = b.add("input".into(), with_batch(&model.input), Role::Input);
    let layers = &model.layers;
    // Layers whose output is a residual skip source must keep their own output.
    let skip_sources: Vec<usize> = layers
        .iter()
        .filter_map(|l| match l.op {
            LayerOp::ResidualAdd { skip } => skip,
            _ => None,
        })
        .collect();
    // trainable_before[i]: some layer before i has trainable params, so layer i must pass
    // a gradient to its input.
    let mut trainable_before = vec![false; layers.len() + 1];
    for i in 0..layers.len() {
        trainable_before[i + 1] =
            trainable_before[i] || (layers[i].params > 0 && !layers[i].frozen);
    }

    let mut params = Vec::new();
    let mut state = Vec::new();
    let mut forward = Vec::new();
    // (layer index, kernel index in `forward`, input buffer, output buffer)
    let mut done: Vec<(usize, usize, BufferId, BufferId)> = Vec::new();
    let mut outputs: Vec<BufferId> = Vec::with_capacity(layers.len());
    let mut param_of: HashMap<(usize, &'static str), (BufferId, Option<BufferId>)> = HashMap::new();
    let mut cur = input;
    let mut i = 0;
    while i < layers.len() {
        let l = &layers[i];
        let scheme = l.init.unwrap_or(spec.init);
        let out_shape = with_batch(&l.output);
        let mut new_param =
            |b: &mut Builder, suffix: &'static str, shape: Vec<usize>, init: Init| {
                let p = b.add(
                    format!("{}.{suffix}", l.name),
                    shape.clone(),
                    Role::Param { frozen: l.frozen },
                );
                let g = (!l.frozen)
                    .then(|| b.add(format!("{}.{suffix}.grad", l.name), shape, Role::Grad));
                params.push(ParamInfo {
                    buffer: p,
                    grad: g,
                    init,
                });
                param_of.insert((i, suffix), (p, g));
                (p, g)
            };
        // Fuse a following activation into dense/conv when nothing needs the pre-activation.
        let next_act = match layers.get(i + 1).map(|n| &n.op) {
            Some(LayerOp::Act(a)) if fusable(*a) && !skip_sources.contains(&i) => Some(*a),
            _ => None,
        };
        let (kernel, y, consumed) = match &l.op {
            LayerOp::Dense { units, bias } => {
                let fan_in = b.buffers[cur.0 as usize].shape[1];
                let (w, _) = new_param(
                    &mut b,
                    "weight",
                    vec![*units, fan_in],
                    Init::for_layer(scheme, fan_in, *units, false),
                );
                let bias_init = Init::for_layer(scheme, fan_in, *units, true);
                let bb = bias.then(|| new_param(&mut b, "bias", vec![*units], bias_init).0);
                let name = if next_act.is_some() {
                    &layers[i + 1].name
                } else {
                    &l.name
                };
                let y = b.add(format!("{name}.out"), out_shape.clone(), Role::Activation);
                (
                    Kernel::Dense {
                        x: cur,
                        w,
                        b: bb,
                        y,
                        act: next_act,
                    },
                    y,
                    1 + usize::from(next_act.is_some()),
                )
            }
            LayerOp::Conv {
                channels,
                kernel,
                stride,
                pad,
                dilation,
                bias,
            } => {
                let cin = b.buffers[cur.0 as usize].shape[1];
                let fan_in = cin * kernel * kernel;
                // PyTorch's fan_out of a conv weight: out channels × kernel area.
                let fan_out = channels * kernel * kernel;
                let (w, _) = new_param(
                    &mut b,
                    "weight",
                    vec![*channels, cin, *kernel, *kernel],
                    Init::for_layer(scheme, fan_in, fan_out, false),
                );
                let bias_init = Init::for_layer(scheme, fan_in, fan_out, true);
                let bb = bias.then(|| new_param(&mut b, "bias", vec![*channels], bias_init).0);
                let name = if next_act.is_some() {
                    &layers[i + 1].name
                } else {
                    &l.name
                };
                let y = b.add(format!("{name}.out"), out_shape.clone(), Role::Activation);
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: *dilation,
                };
                (
                    Kernel::Conv {
                        x: cur,
                        w,
                        b: bb,
                        y,
                        window,
                        act: next_act,
                    },
                    y,
                    1 + usize::from(next_act.is_some()),
                )
            }
            LayerOp::MaxPool {
                kernel,
                stride,
                pad,
            } => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let argmax = b.add(
                    format!("{}.argmax", l.name),
                    out_shape.clone(),
                    Role::Scratch,
                );
                b.buffers[argmax.0 as usize].batched = true;
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: 1,
                };
                (
                    Kernel::MaxPool {
                        x: cur,
                        y,
                        argmax,
                        window,
                    },
                    y,
                    1,
                )
            }
            LayerOp::AvgPool {
                kernel,
                stride,
                pad,
            } => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: 1,
                };
                (Kernel::AvgPool { x: cur, y, window }, y, 1)
            }
            LayerOp::GlobalAvgPool => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (Kernel::GlobalAvgPool { x: cur, y }, y, 1)
            }
            LayerOp::Flatten => {
                let y = b.alias(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                    cur,
                );
                outputs.push(y);
                cur = y;
                i += 1;
                continue;
            }
            LayerOp::Act(a) => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (Kernel::Act { x: cur, y, act: *a }, y, 1)
            }
            LayerOp::Dropout { rate } => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let mask = b.add(format!("{}.mask", l.name), out_shape.clone(), Role::Scratch);
                b.buffers[mask.0 as usize].batched = true;
                (
                    Kernel::Dropout {
                        x: cur,
                        y,
                        mask,
                        rate: *rate,
                    },
                    y,
                    1,
                )
            }
            LayerOp::BatchNorm { momentum, eps } => {
                let c = out_shape[1];
                let (gamma, _) = new_param(&mut b, "weight", vec![c], Init::Ones);
                let (beta, _) = new_param(&mut b, "bias", vec![c], Init::Zeros);
                let running_mean = b.add(format!("{}.running_mean", l.name), vec![c], Role::State);
                let running_var = b.add(format!("{}.running_var", l.name), vec![c], Role::State);
                state.push((running_mean, Init::Zeros));
                state.push((running_var, Init::Ones));
                let saved_mean = b.add(format!("{}.saved_mean", l.name), vec![c], Role::Scratch);
                let saved_invstd =
                    b.add(format!("{}.saved_invstd", l.name), vec![c], Role::Scratch);
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (
                    Kernel::BatchNorm {
                        x: cur,
                        y,
                        gamma,
                        beta,
                        running_mean,
                        running_var,
                        saved_mean,
                        saved_invstd,
                        momentum: *momentum,
                        eps: *eps,
                    },
                    y,
                    1,
                )
            }
            LayerOp::Embedding { vocab, dim } => {
                // PyTorch's nn.Embedding initialises N(0, 1) whatever the scheme.
                let (w, _) = new_param(
                    &mut b,
                    "weight",
                    vec![*vocab, *dim],
                    Init::Normal { std: 1.0 },
                );
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (Kernel::Embedding { ids: cur, w, y }, y, 1)
            }
            LayerOp::Conv1d {
                channels,
                kernel,
                stride,
                pad,
                dilation,
                bias,
            } => {
                let cin = b.buffers[cur.0 as usize].shape[2];
                let (fan_in, fan_out) = (cin * kernel, channels * kernel);
                let (w, _) = new_param(
                    &mut b,
                    "weight",
                    vec![*channels, cin, *kernel],
                    Init::for_layer(scheme, fan_in, fan_out, false),
                );
                let bias_init = Init::for_layer(scheme, fan_in, fan_out, true);
                let bb = bias.then(|| new_param(&mut b, "bias", vec![*channels], bias_init).0);
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: *dilation,
                };
                (
                    Kernel::Conv1d {
                        x: cur,
                        w,
                        b: bb,
                        y,
                        window,
                    },
                    y,
                    1,
                )
            }
            LayerOp::MaxPool1d {
                kernel,
                stride,
                pad,
            }
            | LayerOp::AvgPool1d {
                kernel,
                stride,
                pad,
            } => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: 1,
                };
                if matches!(l.op, LayerOp::MaxPool1d { .. }) {
                    let argmax = b.add(
                        format!("{}.argmax", l.name),
                        out_shape.clone(),
                        Role::Scratch,
                    );
                    b.buffers[argmax.0 as usize].batched = true;
                    (
                        Kernel::MaxPool1d {
                            x: cur,
                            y,
                            argmax,
                            window,
                        },
                        y,
                        1,
                    )
                } else {
                    (Kernel::AvgPool1d { x: cur, y, window }, y, 1)
                }
            }
            LayerOp::Rnn {
                cell,
                units,
                return_sequences,
                bidirectional,
            } => {
                let xs = b.buffers[cur.0 as usize].shape.clone();
                let (steps, f) = (xs[1], xs[2]);
                let rows = cell.gates() * units;
                let mut dirs = Vec::new();
                for reverse in [false, true]
                    .into_iter()
                    .take(1 + usize::from(*bidirectional))
                {
                    let names: [&'static str; 4] = if reverse {
                        [
                            "weight_ih_l0_reverse",
                            "weight_hh_l0_reverse",
                            "bias_ih_l0_reverse",
                            "bias_hh_l0_reverse",
                        ]
                    } else {
                        ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
                    };
                    // PyTorch draws every tensor of a recurrent layer from U(±1/√H).
                    let init = |fan_in: usize, bias: bool| match scheme {
                        InitScheme::Torch => Init::for_layer(scheme, *units, rows, bias),
                        _ => Init::for_layer(scheme, fan_in, rows, bias),
                    };
                    let (w_ih, _) = new_param(&mut b, names[0], vec![rows, f], init(f, false));
                    let (w_hh, _) =
                        new_param(&mut b, names[1], vec![rows, *units], init(*units, false));
                    let (b_ih, _) = new_param(&mut b, names[2], vec![rows], init(f, true));
                    let (b_hh, _) = new_param(&mut b, names[3], vec![rows], init(*units, true));
                    let tag = if reverse { "reverse." } else { "" };
                    let h = b.add(
                        format!("{}.{tag}states", l.name),
                        vec![batch, steps, *units],
                        Role::Scratch,
                    );
                    let gates = b.add(
                        format!("{}.{tag}gates", l.name),
                        vec![batch, steps, cell.trace_width(*units)],
                        Role::Scratch,
                    );
                    b.buffers[h.0 as usize].batched = true;
                    b.buffers[gates.0 as usize].batched = true;
                    dirs.push(RnnDir {
                        w_ih,
                        w_hh,
                        b_ih,
                        b_hh,
                        h,
                        gates,
                        reverse,
                    });
                }
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (
                    Kernel::Rnn {
                        x: cur,
                        y,
                        cell: *cell,
                        return_sequences: *return_sequences,
                        dirs,
                    },
                    y,
                    1,
                )
            }
            LayerOp::Last | LayerOp::TimeMean => {
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                let how = if matches!(l.op, LayerOp::Last) {
                    TimeReduce::Last
                } else {
                    TimeReduce::Mean
                };
                (Kernel::TimeReduce { x: cur, y, how }, y, 1)
            }
            LayerOp::ResidualAdd { skip } => {
                let a = skip.map_or(input, |s| outputs[s]);
                let y = b.add(
                    format!("{}.out", l.name),
                    out_shape.clone(),
                    Role::Activation,
                );
                (Kernel::Add { a, b: cur, y }, y, 1)
            }
        };
        done.push((i, forward.len(), cur, y));
        forward.push(kernel);
        for _ in 0..consumed {
            outputs.push(y);
        }
        cur = y;
        i += consumed;
    }
    let output = cur;
    let out_shape = b.buffers[output.0 as usize].shape.clone();
    let target_shape = match spec.loss {
        Loss::CrossEntropy { .. } => vec![batch],
        _ => out_shape.clone(),
    };
    let target = b.add("target".into(), target_shape, Role::Target);
    let loss_value = b.add("loss".into(), vec![1], Role::Loss);
    let (dout, _) = b.grad_target(output);
    let loss = match spec.loss {
        Loss::CrossEntropy { label_smoothing } => Kernel::SoftmaxCrossEntropy {
            logits: output,
            target,
            loss: loss_value,
            dlogits: dout,
            smoothing: label_smoothing,
        },
        Loss::Mse => Kernel::Mse {
            y: output,
            target,
            loss: loss_value,
            dy: dout,
        },
        Loss::Mae => Kernel::Mae {
            y: output,
            target,
            loss: loss_value,
            dy: dout,
        },
    };

    // Reverse mode over the recorded forward kernels.
    for &(li, ki, x, y) in done.iter().rev() {
        let needs_dx = trainable_before[li] && x != input;
        let kernel = forward[ki].clone();
        let dy = b.grad(y);
        let dx_target = |b: &mut Builder| -> (Option<BufferId>, Option<Kernel>) {
            if needs_dx {
                let (t, acc) = b.grad_target(x);
                (Some(t), acc)
            } else {
                (None, None)
            }
        };
        let pg = |suffix: &'static str| param_of.get(&(li, suffix)).and_then(|(_, g)| *g);
        let (k, acc) = match kernel {
            Kernel::Dense { x, w, y, act, .. } => {
                if !needs_dx && pg("weight").is_none() {
                    continue;
                }
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::DenseBackward {
                        x,
                        w,
                        y,
                        dy,
                        act,
                        dx,
                        dw: pg("weight"),
                        db: pg("bias"),
                    },
                    acc,
                )
            }
            Kernel::Conv {
                x,
                w,
                y,
                window,
                act,
                ..
            } => {
                if !needs_dx && pg("weight").is_none() {
                    continue;
                }
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::ConvBackward {
                        x,
                        w,
                        y,
                        dy,
                        act,
                        window,
                        dx,
                        dw: pg("weight"),
                        db: pg("bias"),
                    },
                    acc,
                )
            }
            Kernel::BatchNorm {
                x,
                gamma,
                saved_mean,
                saved_invstd,
                ..
            } => {
                if !needs_dx && pg("weight").is_none() {
                    continue;
                }
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::BatchNormBackward {
                        x,
                        dy,
                        gamma,
                        saved_mean,
                        saved_invstd,
                        dx,
                        dgamma: pg("weight"),
                        dbeta: pg("bias"),
                    },
                    acc,
                )
            }
            Kernel::Add {
                a, b: block_out, ..
            } => {
                // d(block output) is dy itself; the skip source receives a copy of dy.
                b.grads.insert(block_out, dy);
                let key = b.storage(dy);
                b.written.insert(key, true);
                if trainable_before[li] && a != input {
                    let (t, acc) = b.grad_target(a);
                    b.backward.push(Kernel::Copy { src: dy, dst: t });
                    if let Some(acc) = acc {
                        b.backward.push(acc);
                    }
                }
                continue;
            }
            Kernel::Embedding { ids, .. } => {
                // Ids have no gradient; `check` makes embedding the model's first layer.
                let Some(dw) = pg("weight") else { continue };
                (Kernel::EmbeddingBackward { ids, dy, dw }, None)
            }
            Kernel::Conv1d { x, w, window, .. } => {
                if !needs_dx && pg("weight").is_none() {
                    continue;
                }
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::Conv1dBackward {
                        x,
                        w,
                        dy,
                        window,
                        dx,
                        dw: pg("weight"),
                        db: pg("bias"),
                    },
                    acc,
                )
            }
            Kernel::Rnn {
                x,
                cell,
                return_sequences,
                dirs,
                ..
            } => {
                let grads: Vec<Option<RnnDirGrads>> = dirs
                    .iter()
                    .map(|d| {
                        let g = |p: BufferId| {
                            params
                                .iter()
                                .find(|pi: &&ParamInfo| pi.buffer == p)
                                .and_then(|pi| pi.grad)
                        };
                        Some(RnnDirGrads {
                            w_ih: g(d.w_ih)?,
                            w_hh: g(d.w_hh)?,
                            b_ih: g(d.b_ih)?,
                            b_hh: g(d.b_hh)?,
                        })
                    })
                    .collect();
                if !needs_dx && grads.iter().all(Option::is_none) {
                    continue;
                }
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::RnnBackward {
                        x,
                        dy,
                        cell,
                        return_sequences,
                        dirs,
                        grads,
                        dx,
                    },
                    acc,
                )
            }
            _ if !needs_dx => continue,
            Kernel::MaxPool1d { argmax, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::MaxPool1dBackward {
                        dy,
                        argmax,
                        dx: dx.unwrap_or(dy),
                    },
                    acc,
                )
            }
            Kernel::AvgPool1d { window, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::AvgPool1dBackward {
                        dy,
                        dx: dx.unwrap_or(dy),
                        window,
                    },
                    acc,
                )
            }
            Kernel::TimeReduce { how, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::TimeReduceBackward {
                        dy,
                        dx: dx.unwrap_or(dy),
                        how,
                    },
                    acc,
                )
            }
            Kernel::MaxPool { argmax, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::MaxPoolBackward {
                        dy,
                        argmax,
                        dx: dx.unwrap_or(dy),
                    },
                    acc,
                )
            }
            Kernel::AvgPool { window, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::AvgPoolBackward {
                        dy,
                        dx: dx.unwrap_or(dy),
                        window,
                    },
                    acc,
                )
            }
            Kernel::GlobalAvgPool { .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::GlobalAvgPoolBackward {
                        dy,
                        dx: dx.unwrap_or(dy),
                    },
                    acc,
                )
            }
            Kernel::Act { x, y, act } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::ActBackward {
                        x,
                        y,
                        dy,
                        dx: dx.unwrap_or(dy),
                        act,
                    },
                    acc,
                )
            }
            Kernel::Dropout { mask, .. } => {
                let (dx, acc) = dx_target(&mut b);
                (
                    Kernel::DropoutBackward {
                        dy,
                        mask,
                        dx: dx.unwrap_or(dy),
                    },
                    acc,
                )
            }
            _ => continue,
        };
        b.backward.push(k);
        if let Some(acc) = acc {
            b.backward.push(acc);
        }
    }

    // Update: clip, then one optimizer step per trainable param.
    let mut update = Vec::new();
    let grads: Vec<BufferId> = params.iter().filter_map(|p| p.grad).collect();
    if let Some(max_norm) = spec.clip_norm {
        update.push(Kernel::ClipNorm {
            grads: grads.clone(),
            max_norm,
        });
    }
    for p in &params {
        let Some(g) = p.grad else {
            continue;
        };
        let pb = b.buffers[p.buffer.0 as usize].clone();
        let rule = match spec.optimizer {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                let velocity = (momentum != 0.0).then(|| {
                    let v = b.add(
                        format!("{}.momentum", pb.name),
                        pb.shape.clone(),
                        Role::State,
                    );
                    state.push((v, Init::Zeros));
                    v
                });
                Update::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                    velocity,
                }
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
                ..
            } => {
                let m = b.add(format!("{}.adam_m", pb.name), pb.shape.clone(), Role::State);
                let v = b.add(format!("{}.adam_v", pb.name), pb.shape.clone(), Role::State);
                state.push((m, Init::Zeros));
                state.push((v, Init::Zeros));
                Update::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                    m,
                    v,
                }
            }
        };
        update.push(Kernel::Update {
            param: p.buffer,
            grad: g,
            rule,
        });
    }
    Plan {
        buffers: b.buffers,
        forward,
        loss,
        backward: b.backward,
        update,
        params,
        state,
        input,
        target,
        output,
        loss_value,
        batch,
    }
}
