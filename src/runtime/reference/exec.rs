//! The reference backend: executes any [`Plan`] with the ndarray ops of this module.
//! Slow and obviously right; the JIT backend is tested against it.
//!
//! Buffers live in one flat `Vec<f32>` each (views share their base's storage). A batch
//! shorter than the plan's uses the first rows of every batched buffer, so one plan serves
//! the final short batch too.

use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Conv2dSpec, Hw, OpError, conv2d_backward, conv2d_forward, dense_backward, dense_forward,
};
use crate::check::Activation;
use crate::lower::{BufferId, Init, Kernel, Plan, Update, Window};

/// Executes a plan on the CPU with ndarray.
#[derive(Debug)]
pub struct Executor<'p> {
    plan: &'p Plan,
    store: Vec<Vec<f32>>,
    rng: ChaCha8Rng,
    rows: usize,
    lr: f32,
    step: u64,
}

impl<'p> Executor<'p> {
    /// Allocates every buffer and initialises params (PyTorch defaults) from `seed`.
    pub fn new(plan: &'p Plan, seed: u64) -> Self {
        let store = plan
            .buffers
            .iter()
            .map(|b| {
                if b.alias.is_some() {
                    Vec::new()
                } else {
                    vec![0.0; b.len()]
                }
            })
            .collect();
        let mut e = Executor {
            plan,
            store,
            rng: ChaCha8Rng::seed_from_u64(seed),
            rows: plan.batch,
            lr: 0.0,
            step: 0,
        };
        for p in &plan.params {
            e.init(p.buffer, p.init);
        }
        for (b, init) in &plan.state {
            e.init(*b, *init);
        }
        // Dropout draws from a stream independent of initialisation.
        e.rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_d409_5eed_d409);
        e
    }

    fn init(&mut self, id: BufferId, init: Init) {
        let data = &mut self.store[self.plan.storage(id).0 as usize];
        match init {
            Init::Zeros => data.iter_mut().for_each(|x| *x = 0.0),
            Init::Ones => data.iter_mut().for_each(|x| *x = 1.0),
            Init::Uniform { fan_in } => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                for x in data.iter_mut() {
                    *x = self.rng.random_range(-bound..bound) as f32;
                }
            }
        }
    }

    /// The plan being executed.
    pub fn plan(&self) -> &Plan {
        self.plan
    }

    /// Rows of the current batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The logical shape of a buffer for the current batch.
    fn shape(&self, id: BufferId) -> Vec<usize> {
        let b = self.plan.buffer(id);
        let mut s = b.shape.clone();
        if b.batched && !s.is_empty() {
            s[0] = self.rows;
        }
        s
    }

    /// The current contents of a buffer (the first rows for batched buffers).
    pub fn data(&self, id: BufferId) -> &[f32] {
        let len: usize = self.shape(id).iter().product();
        &self.store[self.plan.storage(id).0 as usize][..len]
    }

    /// Mutable contents of a buffer.
    pub fn data_mut(&mut self, id: BufferId) -> &mut [f32] {
        let len: usize = self.shape(id).iter().product();
        let s = self.plan.storage(id).0 as usize;
        &mut self.store[s][..len]
    }

    fn get(&self, id: BufferId) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&self.shape(id)), self.data(id).to_vec())
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
    }

    fn get2(&self, id: BufferId) -> Array2<f32> {
        let s = self.shape(id);
        let cols: usize = s[1..].iter().product();
        Array2::from_shape_vec((s[0], cols), self.data(id).to_vec())
            .unwrap_or_else(|_| Array2::zeros((0, 0)))
    }

    fn get4(&self, id: BufferId) -> Array4<f32> {
        let s = self.shape(id);
        Array4::from_shape_vec((s[0], s[1], s[2], s[3]), self.data(id).to_vec())
            .unwrap_or_else(|_| Array4::zeros((0, 0, 0, 0)))
    }

    fn put(&mut self, id: BufferId, values: impl IntoIterator<Item = f32>) {
        for (d, v) in self.data_mut(id).iter_mut().zip(values) {
            *d = v;
        }
    }

    /// Loads a batch of `rows` samples: features row-major, targets (class indices or values).
    pub fn load_batch(&mut self, features: &[f32], targets: &[f32], rows: usize) {
        self.rows = rows.min(self.plan.batch).max(1);
        let (input, target) = (self.plan.input, self.plan.target);
        self.put(input, features.iter().copied());
        self.put(target, targets.iter().copied());
    }

    /// Runs the forward pass; `training` enables dropout and batch statistics.
    pub fn forward(&mut self, training: bool) -> Result<(), OpError> {
        for k in &self.plan.forward {
            self.run(k, training)?;
        }
        Ok(())
    }

    /// Computes the loss (and the gradient of the output); returns the mean loss.
    pub fn loss(&mut self) -> Result<f32, OpError> {
        let k = self.plan.loss.clone();
        self.run(&k, true)?;
        Ok(self.data(self.plan.loss_value)[0])
    }

    /// Runs the backward pass.
    pub fn backward(&mut self) -> Result<(), OpError> {
        for k in &self.plan.backward {
            self.run(k, true)?;
        }
        Ok(())
    }

    /// Clips gradients and applies one optimizer step with learning rate `lr`; `step` counts
    /// from 1 (Adam's bias correction).
    pub fn update(&mut self, lr: f32, step: u64) -> Result<Option<f32>, OpError> {
        self.lr = lr;
        self.step = step;
        let mut norm = None;
        for k in &self.plan.update {
            if let Kernel::ClipNorm { grads, max_norm } = k {
                norm = Some(self.clip(grads, *max_norm));
                continue;
            }
            self.run(k, true)?;
        }
        Ok(norm)
    }

    fn clip(&mut self, grads: &[BufferId], max_norm: f32) -> f32 {
        let sq: f64 = grads
            .iter()
            .map(|g| {
                self.data(*g)
                    .iter()
                    .map(|x| f64::from(*x) * f64::from(*x))
                    .sum::<f64>()
            })
            .sum();
        let norm = sq.sqrt() as f32;
        if norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            for g in grads {
                self.data_mut(*g).iter_mut().for_each(|x| *x *= scale);
            }
        }
        norm
    }

    fn run(&mut self, k: &Kernel, training: bool) -> Result<(), OpError> {
        match k {
            Kernel::Dense { x, w, b, y, act } => {
                let bias = b.map(|b| Array1::from(self.data(b).to_vec()));
                let out = dense_forward(
                    self.get2(*x).view(),
                    self.get2(*w).view(),
                    bias.as_ref().map(|b| b.view()),
                )?;
                let out = out.mapv(|v| act.map_or(v, |a| activate(a, v)));
                self.put(*y, out.iter().copied());
            }
            Kernel::Conv {
                x,
                w,
                b,
                y,
                window,
                act,
            } => {
                let bias = b.map(|b| Array1::from(self.data(b).to_vec()));
                let out = conv2d_forward(
                    self.get4(*x).view(),
                    self.get4(*w).view(),
                    bias.as_ref().map(|b| b.view()),
                    &conv_spec(window),
                )?;
                let out = out.mapv(|v| act.map_or(v, |a| activate(a, v)));
                self.put(*y, out.iter().copied());
            }
            Kernel::MaxPool {
                x,
                y,
                argmax,
                window,
            } => {
                let r = super::maxpool2d_forward(self.get4(*x).view(), &pool_spec(window))?;
                self.put(*y, r.y.iter().copied());
                self.put(*argmax, r.argmax.iter().map(|i| *i as f32));
            }
            Kernel::AvgPool { x, y, window } => {
                let r = super::avgpool2d_forward(
                    self.get4(*x).view(),
                    &pool_spec(window),
                    super::AvgPoolDivisor::IncludePadding,
                )?;
                self.put(*y, r.iter().copied());
            }
            Kernel::GlobalAvgPool { x, y } => {
                let r = super::global_avgpool_forward(self.get4(*x).view())?;
                self.put(*y, r.iter().copied());
            }
            Kernel::Act { x, y, act } => {
                let v: Vec<f32> = if *act == Activation::Softmax {
                    softmax_rows(&self.get2(*x)).iter().copied().collect()
                } else {
                    self.data(*x).iter().map(|v| activate(*act, *v)).collect()
                };
                self.put(*y, v);
            }
            Kernel::Dropout { x, y, mask, rate } => {
                let xs = self.data(*x).to_vec();
                let m: Vec<f32> = if training && *rate > 0.0 {
                    let keep = 1.0 / (1.0 - rate);
                    (0..xs.len())
                        .map(|_| {
                            if self.rng.random::<f32>() >= *rate {
                                keep
                            } else {
                                0.0
                            }
                        })
                        .collect()
                } else {
                    vec![1.0; xs.len()]
                };
                self.put(*y, xs.iter().zip(&m).map(|(a, b)| a * b));
                self.put(*mask, m);
            }
            Kernel::BatchNorm {
                x,
                y,
                gamma,
                beta,
                running_mean,
                running_var,
                saved_mean,
                saved_invstd,
                momentum,
                eps,
            } => {
                let xs = self.get(*x);
                let (g, bt) = (
                    Array1::from(self.data(*gamma).to_vec()),
                    Array1::from(self.data(*beta).to_vec()),
                );
                let mut running = super::BatchNormRunning {
                    mean: Array1::from(self.data(*running_mean).to_vec()),
                    var: Array1::from(self.data(*running_var).to_vec()),
                };
                let spec = super::BatchNormSpec {
                    eps: f64::from(*eps),
                    momentum: f64::from(*momentum),
                };
                if training {
                    let out = super::batchnorm_forward_train(
                        xs.view(),
                        g.view(),
                        bt.view(),
                        &mut running,
                        &spec,
                    )?;
                    let mean = channel_means(&xs);
                    self.put(*y, out.y.iter().copied());
                    self.put(*saved_mean, mean);
                    self.put(*saved_invstd, out.saved.inv_std.iter().copied());
                    self.put(*running_mean, running.mean.iter().copied());
                    self.put(*running_var, running.var.iter().copied());
                } else {
                    let out = super::batchnorm_forward_eval(
                        xs.view(),
                        g.view(),
                        bt.view(),
                        &running,
                        &spec,
                    )?;
                    self.put(*y, out.iter().copied());
                }
            }
            Kernel::Add { a, b, y } => {
                let v: Vec<f32> = self
                    .data(*a)
                    .iter()
                    .zip(self.data(*b))
                    .map(|(p, q)| p + q)
                    .collect();
                self.put(*y, v);
            }
            Kernel::Copy { src, dst } => {
                let v = self.data(*src).to_vec();
                self.put(*dst, v);
            }
            Kernel::Accumulate { src, dst } => {
                let v: Vec<f32> = self
                    .data(*dst)
                    .iter()
                    .zip(self.data(*src))
                    .map(|(p, q)| p + q)
                    .collect();
                self.put(*dst, v);
            }
            Kernel::SoftmaxCrossEntropy {
                logits,
                target,
                loss,
                dlogits,
                smoothing,
            } => {
                let z = self.get2(*logits);
                let (n, classes) = z.dim();
                let p = softmax_rows(&z);
                let t = self.data(*target).to_vec();
                let mut total = 0f64;
                let mut grad = Vec::with_capacity(n * classes);
                for r in 0..n {
                    let label = t[r] as usize;
                    // log p_c = z_c − logsumexp(z): exact, finite for any finite logits.
                    let row = z.row(r);
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let lse =
                        f64::from(m) + row.iter().map(|v| f64::from(v - m).exp()).sum::<f64>().ln();
                    for c in 0..classes {
                        let tc = (1.0 - smoothing) * f32::from(u8::from(c == label))
                            + smoothing / classes as f32;
                        total += f64::from(tc) * (lse - f64::from(row[c]));
                        grad.push((p[[r, c]] - tc) / n as f32);
                    }
                }
                self.put(*loss, [(total / n as f64) as f32]);
                self.put(*dlogits, grad);
            }
            Kernel::Mse {
                y,
                target,
                loss,
                dy,
            } => {
                let (ys, ts) = (self.data(*y).to_vec(), self.data(*target).to_vec());
                let m = ys.len().max(1) as f32;
                let l: f64 = ys
                    .iter()
                    .zip(&ts)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>()
                    / f64::from(m);
                self.put(*loss, [l as f32]);
                self.put(
                    *dy,
                    ys.iter()
                        .zip(&ts)
                        .map(|(a, b)| 2.0 * (a - b) / m)
                        .collect::<Vec<_>>(),
                );
            }
            Kernel::Mae {
                y,
                target,
                loss,
                dy,
            } => {
                let (ys, ts) = (self.data(*y).to_vec(), self.data(*target).to_vec());
                let m = ys.len().max(1) as f32;
                let l: f64 = ys
                    .iter()
                    .zip(&ts)
                    .map(|(a, b)| f64::from((a - b).abs()))
                    .sum::<f64>()
                    / f64::from(m);
                self.put(*loss, [l as f32]);
                let sign = |d: f32| {
                    if d > 0.0 {
                        1.0
                    } else if d < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                };
                self.put(
                    *dy,
                    ys.iter()
                        .zip(&ts)
                        .map(|(a, b)| sign(a - b) / m)
                        .collect::<Vec<_>>(),
                );
            }
            Kernel::DenseBackward {
                x,
                w,
                y,
                dy,
                act,
                dx,
                dw,
                db,
            } => {
                self.apply_act_grad(*y, *dy, *act);
                let g = dense_backward(
                    self.get2(*dy).view(),
                    self.get2(*x).view(),
                    self.get2(*w).view(),
                )?;
                if let Some(dx) = dx {
                    self.put(*dx, g.dx.iter().copied());
                }
                if let Some(dw) = dw {
                    self.put(*dw, g.dw.iter().copied());
                }
                if let Some(db) = db {
                    self.put(*db, g.db.iter().copied());
                }
            }
            Kernel::ConvBackward {
                x,
                w,
                y,
                dy,
                act,
                window,
                dx,
                dw,
                db,
            } => {
                self.apply_act_grad(*y, *dy, *act);
                let g = conv2d_backward(
                    self.get4(*dy).view(),
                    self.get4(*x).view(),
                    self.get4(*w).view(),
                    &conv_spec(window),
                )?;
                if let Some(dx) = dx {
                    self.put(*dx, g.dx.iter().copied());
                }
                if let Some(dw) = dw {
                    self.put(*dw, g.dw.iter().copied());
                }
                if let Some(db) = db {
                    self.put(*db, g.db.iter().copied());
                }
            }
            Kernel::MaxPoolBackward { dy, argmax, dx } => {
                let s = self.shape(*dx);
                let idx = self.get4(*argmax).mapv(|v| v as usize);
                let r = super::maxpool2d_backward(
                    self.get4(*dy).view(),
                    idx.view(),
                    Hw::new(s[2], s[3]),
                )?;
                self.put(*dx, r.iter().copied());
            }
            Kernel::AvgPoolBackward { dy, dx, window } => {
                let s = self.shape(*dx);
                let r = super::avgpool2d_backward(
                    self.get4(*dy).view(),
                    Hw::new(s[2], s[3]),
                    &pool_spec(window),
                    super::AvgPoolDivisor::IncludePadding,
                )?;
                self.put(*dx, r.iter().copied());
            }
            Kernel::GlobalAvgPoolBackward { dy, dx } => {
                let s = self.shape(*dx);
                let r = super::global_avgpool_backward(self.get2(*dy).view(), Hw::new(s[2], s[3]))?;
                self.put(*dx, r.iter().copied());
            }
            Kernel::ActBackward { x, y, dy, dx, act } => {
                let g: Vec<f32> = if *act == Activation::Softmax {
                    // dx = y ⊙ (dy − Σ dy·y) row by row.
                    let (ys, ds) = (self.get2(*y), self.get2(*dy));
                    let mut out = Vec::with_capacity(ys.len());
                    for (yr, dr) in ys.rows().into_iter().zip(ds.rows()) {
                        let dot: f32 = yr.iter().zip(dr.iter()).map(|(a, b)| a * b).sum();
                        out.extend(yr.iter().zip(dr.iter()).map(|(a, b)| a * (b - dot)));
                    }
                    out
                } else {
                    let (xs, ys, ds) = (self.data(*x), self.data(*y), self.data(*dy));
                    xs.iter()
                        .zip(ys)
                        .zip(ds)
                        .map(|((xv, yv), d)| d * act_grad(*act, *xv, *yv))
                        .collect()
                };
                self.put(*dx, g);
            }
            Kernel::DropoutBackward { dy, mask, dx } => {
                let v: Vec<f32> = self
                    .data(*dy)
                    .iter()
                    .zip(self.data(*mask))
                    .map(|(a, b)| a * b)
                    .collect();
                self.put(*dx, v);
            }
            Kernel::BatchNormBackward {
                x,
                dy,
                gamma,
                saved_mean,
                saved_invstd,
                dx,
                dgamma,
                dbeta,
            } => {
                let xs = self.get(*x);
                let (mean, inv) = (
                    self.data(*saved_mean).to_vec(),
                    self.data(*saved_invstd).to_vec(),
                );
                let x_hat = ArrayD::from_shape_fn(xs.raw_dim(), |i| {
                    let ci = i[1];
                    (xs[&i] - mean[ci]) * inv[ci]
                });
                let saved = super::BatchNormSaved {
                    x_hat,
                    inv_std: Array1::from(inv),
                };
                let g = Array1::from(self.data(*gamma).to_vec());
                let grads = super::batchnorm_backward(self.get(*dy).view(), g.view(), &saved)?;
                if let Some(dg) = dgamma {
                    self.put(*dg, grads.dgamma.iter().copied());
                }
                if let Some(db) = dbeta {
                    self.put(*db, grads.dbeta.iter().copied());
                }
                if let Some(dx) = dx {
                    self.put(*dx, grads.dx.iter().copied());
                }
            }
            Kernel::ClipNorm { grads, max_norm } => {
                self.clip(grads, *max_norm);
            }
            Kernel::Update { param, grad, rule } => self.apply_update(*param, *grad, rule),
        }
        Ok(())
    }

    /// dy ← dy · act'(y) for an activation fused into the producing kernel.
    fn apply_act_grad(&mut self, y: BufferId, dy: BufferId, act: Option<Activation>) {
        let Some(a) = act else {
            return;
        };
        let ys = self.data(y).to_vec();
        for (d, yv) in self.data_mut(dy).iter_mut().zip(ys) {
            *d *= act_grad(a, 0.0, yv);
        }
    }

    fn apply_update(&mut self, param: BufferId, grad: BufferId, rule: &Update) {
        let (lr, t) = (self.lr, self.step.max(1));
        let g = self.data(grad).to_vec();
        let mut p = self.data(param).to_vec();
        match *rule {
            Update::Sgd {
                momentum,
                nesterov,
                weight_decay,
                velocity,
            } => {
                let mut v = velocity.map(|v| self.data(v).to_vec());
                sgd_step(
                    &mut p,
                    &g,
                    v.as_deref_mut(),
                    SgdParams {
                        lr,
                        momentum,
                        nesterov,
                        weight_decay,
                    },
                    t,
                );
                if let (Some(id), Some(v)) = (velocity, v) {
                    self.put(id, v);
                }
            }
            Update::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
                m,
                v,
            } => {
                let (mut ms, mut vs) = (self.data(m).to_vec(), self.data(v).to_vec());
                adam_step(
                    &mut p,
                    &g,
                    &mut ms,
                    &mut vs,
                    AdamParams {
                        lr,
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                        decoupled,
                    },
                    t,
                );
                self.put(m, ms);
                self.put(v, vs);
            }
        }
        self.put(param, p);
    }
}

/// Mean of each channel (axis 1) over the batch and spatial axes.
fn channel_means(x: &ArrayD<f32>) -> Vec<f32> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let per = x.len() / (n * c).max(1);
    let mut sums = vec![0f64; c];
    for (i, v) in x.iter().enumerate() {
        sums[(i / per) % c] += f64::from(*v);
    }
    sums.iter()
        .map(|s| (*s / (n * per).max(1) as f64) as f32)
        .collect()
}

/// Hyper-parameters of one SGD step.
#[derive(Clone, Copy, Debug)]
pub struct SgdParams {
    /// Learning rate of this step.
    pub lr: f32,
    /// Momentum.
    pub momentum: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
}

/// One SGD step with PyTorch's semantics (`torch.optim.SGD`, dampening 0): the momentum
/// buffer starts as the first gradient; Nesterov uses `g + momentum·v`. `t` counts from 1.
pub fn sgd_step(p: &mut [f32], g: &[f32], mut velocity: Option<&mut [f32]>, h: SgdParams, t: u64) {
    for i in 0..p.len() {
        let mut d = g[i] + h.weight_decay * p[i];
        if let Some(v) = velocity.as_deref_mut() {
            v[i] = if t == 1 { d } else { h.momentum * v[i] + d };
            d = if h.nesterov {
                d + h.momentum * v[i]
            } else {
                v[i]
            };
        }
        p[i] -= h.lr * d;
    }
}

/// Hyper-parameters of one Adam/AdamW step.
#[derive(Clone, Copy, Debug)]
pub struct AdamParams {
    /// Learning rate of this step.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator term.
    pub eps: f32,
    /// Weight decay: added to the gradient (Adam) or applied to the weights (AdamW).
    pub weight_decay: f32,
    /// AdamW.
    pub decoupled: bool,
}

/// One Adam (or AdamW) step with PyTorch's semantics, bias-corrected; `t` counts from 1.
pub fn adam_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamParams, t: u64) {
    let t = t.clamp(1, i32::MAX as u64) as i32;
    let (bc1, bc2) = (1.0 - h.beta1.powi(t), 1.0 - h.beta2.powi(t));
    for i in 0..p.len() {
        let mut gi = g[i];
        if h.decoupled {
            p[i] *= 1.0 - h.lr * h.weight_decay;
        } else {
            gi += h.weight_decay * p[i];
        }
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * gi;
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * gi * gi;
        p[i] -= h.lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + h.eps);
    }
}

fn conv_spec(w: &Window) -> Conv2dSpec {
    Conv2dSpec {
        stride: Hw::square(w.stride),
        padding: Hw::square(w.pad),
        dilation: Hw::square(w.dilation),
    }
}

fn pool_spec(w: &Window) -> super::Pool2dSpec {
    super::Pool2dSpec {
        kernel: Hw::square(w.kernel),
        stride: Hw::square(w.stride),
        padding: Hw::square(w.pad),
    }
}

/// Applies an elementwise activation.
pub fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                s * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => 0.5 * x * (1.0 + erf(f64::from(x) / std::f64::consts::SQRT_2) as f32),
        Activation::Softmax => x,
    }
}

/// Derivative of an activation at input `x` with output `y` (fusable ones use only `y`).
pub fn act_grad(a: Activation, x: f32, y: f32) -> f32 {
    match a {
        Activation::Relu => f32::from(u8::from(y > 0.0)),
        Activation::LeakyRelu(s) => {
            if y > 0.0 {
                1.0
            } else {
                s
            }
        }
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Tanh => 1.0 - y * y,
        Activation::Gelu => {
            let xf = f64::from(x);
            let cdf = 0.5 * (1.0 + erf(xf / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (cdf + xf * pdf) as f32
        }
        Activation::Softmax => 1.0,
    }
}

/// Row-wise numerically stable softmax.
pub fn softmax_rows(z: &Array2<f32>) -> Array2<f32> {
    let mut p = z.clone();
    for mut row in p.rows_mut() {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - m).exp());
        let s: f32 = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    p
}

/// The error function: the Maclaurin series for |x| < 0.5, Abramowitz–Stegun 7.1.26 above
/// (absolute error < 1.5e-7, below f32 resolution of GELU's output).
pub fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    let y = if x < 0.5 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for n in 1..30 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        y
    };
    sign * y
}
