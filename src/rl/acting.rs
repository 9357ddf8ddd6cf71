//! The one-observation forward of acting, for Q-networks that are a chain of dense layers
//! with ReLU (or no) activations — every MLP a `dqn` agent is usually given.
//!
//! Why not the plan: a plan forward for one row runs a generated GEMM per layer through
//! the executor's generic dispatch; for a 4-256-256-2 MLP that cost ≈ 38 µs, where the
//! arithmetic (67k multiply-adds) takes a few. Here the weights are kept transposed
//! (`[in, out]`), so each layer is a sum of rows scaled by its inputs — loops the compiler
//! vectorises without reassociating any sum — and inputs that the ReLU zeroed are skipped.
//! The weights are copied from the online network only when they changed (after a
//! learning phase, a load or a restore).
//!
//! Results are deterministic (one thread, a fixed order) but not bit-identical to the
//! plan's forward, whose sums run in another order; every greedy action of a run, its
//! final evaluation and `ammc eval` all go through this forward, so they agree with one
//! another. Networks of any other form act through the plan.

use crate::lower::{BufferId, Kernel, Plan};
use crate::runtime::backend::Backend;

/// One dense layer: `y = act(x W^T + b)`.
#[derive(Clone, Debug)]
struct Layer {
    w: BufferId,
    b: Option<BufferId>,
    inputs: usize,
    outputs: usize,
    relu: bool,
    /// `W^T`, `[inputs, outputs]`.
    wt: Vec<f32>,
    bias: Vec<f32>,
}

/// The acting forward of a dense/ReLU chain.
#[derive(Clone, Debug)]
pub struct DenseChain {
    layers: Vec<Layer>,
    /// Activations of the widest layer, twice (input and output of a layer).
    a: Vec<f32>,
    b: Vec<f32>,
    fresh: bool,
}

impl DenseChain {
    /// The chain of `plan`'s forward, if its forward is one: dense kernels (ReLU or no
    /// activation) each reading the previous one's output, from the plan's input to its
    /// output.
    pub fn of(plan: &Plan) -> Option<DenseChain> {
        let mut layers = Vec::new();
        let mut at = plan.input;
        for k in &plan.forward {
            let Kernel::Dense { x, w, b, y, act } = k else {
                return None;
            };
            let relu = match act {
                None => false,
                Some(crate::check::Activation::Relu) => true,
                Some(_) => return None,
            };
            if *x != at {
                return None;
            }
            let shape = &plan.buffer(*w).shape;
            let [outputs, inputs] = shape.as_slice() else {
                return None;
            };
            layers.push(Layer {
                w: *w,
                b: *b,
                inputs: *inputs,
                outputs: *outputs,
                relu,
                wt: vec![0.0; inputs * outputs],
                bias: vec![0.0; *outputs],
            });
            at = *y;
        }
        if at != plan.output || layers.is_empty() {
            return None;
        }
        let widest = layers
            .iter()
            .map(|l| l.inputs.max(l.outputs))
            .max()
            .unwrap_or(0);
        Some(DenseChain {
            layers,
            a: vec![0.0; widest],
            b: vec![0.0; widest],
            fresh: false,
        })
    }

    /// Marks the weights as changed: the next forward copies them again.
    pub fn stale(&mut self) {
        self.fresh = false;
    }

    fn refresh(&mut self, net: &dyn Backend) {
        for l in &mut self.layers {
            let w = net.data(l.w);
            for o in 0..l.outputs {
                for i in 0..l.inputs {
                    l.wt[i * l.outputs + o] = w[o * l.inputs + i];
                }
            }
            match l.b {
                Some(b) => l.bias.copy_from_slice(&net.data(b)[..l.outputs]),
                None => l.bias.fill(0.0),
            }
        }
        self.fresh = true;
    }

    /// The action values of one observation `obs` under `net`'s weights.
    pub fn q_values(&mut self, net: &dyn Backend, obs: &[f32]) -> &[f32] {
        if !self.fresh {
            self.refresh(net);
        }
        let (mut x, mut y) = (std::mem::take(&mut self.a), std::mem::take(&mut self.b));
        x[..obs.len()].copy_from_slice(obs);
        let mut width = obs.len();
        for l in &self.layers {
            let out = &mut y[..l.outputs];
            out.copy_from_slice(&l.bias);
            for (i, &xi) in x[..width.min(l.inputs)].iter().enumerate() {
                // After a ReLU about half the inputs are exactly zero.
                if xi == 0.0 {
                    continue;
                }
                let row = &l.wt[i * l.outputs..(i + 1) * l.outputs];
                for (o, &w) in out.iter_mut().zip(row) {
                    *o += xi * w;
                }
            }
            if l.relu {
                for o in out.iter_mut() {
                    *o = o.max(0.0);
                }
            }
            width = l.outputs;
            std::mem::swap(&mut x, &mut y);
        }
        self.a = x;
        self.b = y;
        &self.a[..width]
    }
}
