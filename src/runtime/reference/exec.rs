//! The reference backend: executes any [`Plan`] with the ndarray ops of this module.
//! Slow and obviously right; the JIT backend is tested against it.
//!
//! Buffers live in one flat `Vec<f32>` each (views share their base's storage). A batch
//! shorter than the plan's uses the first rows of every batched buffer, so one plan serves
//! the final short batch too.

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, IxDyn, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Conv2dSpec, Hw, OpError, conv2d_backward, conv2d_forward, dense_backward, dense_forward,
};
use crate::check::Activation;
use crate::lower::{BufferId, Init, Kernel, Plan, RnnDir, TimeReduce, Update, Window};

/// A mean loss of predictions and targets.
type LossForward = fn(ndarray::ArrayViewD<f32>, ndarray::ArrayViewD<f32>) -> Result<f32, OpError>;
/// The gradient of a mean loss with respect to the predictions, scaled by an upstream value.
type LossBackward =
    fn(ndarray::ArrayViewD<f32>, ndarray::ArrayViewD<f32>, f32) -> Result<ArrayD<f32>, OpError>;

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
            Init::Uniform { bound } => {
                for x in data.iter_mut() {
                    *x = self.rng.random_range(-bound..bound) as f32;
                }
            }
            Init::Normal { std } => {
                // Box–Muller on two uniforms per value (the second normal of each pair is
                // dropped so a value never depends on the buffer's length parity); 1 − u
                // keeps the logarithm's argument in (0, 1].
                for x in data.iter_mut() {
                    let u1: f64 = 1.0 - self.rng.random::<f64>();
                    let u2: f64 = self.rng.random::<f64>();
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    *x = (std * z) as f32;
                }
            }
        }
    }

    /// The plan being executed.
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// Position of the dropout random stream (saved in checkpoints).
    pub fn rng_position(&self) -> u128 {
        self.rng.get_word_pos()
    }

    /// Moves the dropout random stream to a saved position.
    pub fn set_rng_position(&mut self, position: u128) {
        self.rng.set_word_pos(position);
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

    fn get3(&self, id: BufferId) -> Array3<f32> {
        let s = self.shape(id);
        let last: usize = s[2..].iter().product();
        Array3::from_shape_vec((s[0], s[1], last), self.data(id).to_vec())
            .unwrap_or_else(|_| Array3::zeros((0, 0, 0)))
    }

    fn get4(&self, id: BufferId) -> Array4<f32> {
        let s = self.shape(id);
        Array4::from_shape_vec((s[0], s[1], s[2], s[3]), self.data(id).to_vec())
            .unwrap_or_else(|_| Array4::zeros((0, 0, 0, 0)))
    }

    /// Writes a kernel's result. A length that differs from the buffer's is an error: the
    /// ops compute their output shapes themselves, so this cross-checks the plan's shapes.
    fn put(&mut self, id: BufferId, values: impl IntoIterator<Item = f32>) -> Result<(), OpError> {
        let name = self.plan.buffer(id).name.clone();
        let dst = self.data_mut(id);
        let want = dst.len();
        let mut n = 0;
        for (d, v) in dst.iter_mut().zip(values) {
            *d = v;
            n += 1;
        }
        if n != want {
            return Err(OpError::Shape {
                op: "plan",
                what: "kernel output",
                got: vec![n],
                expected: format!("{want} values for `{name}`"),
            });
        }
        Ok(())
    }

    /// Loads a batch of `rows` samples: features row-major, targets (class indices or values).
    pub fn load_batch(
        &mut self,
        features: &[f32],
        targets: &[f32],
        rows: usize,
    ) -> Result<(), OpError> {
        self.rows = rows.min(self.plan.batch).max(1);
        let (input, target) = (self.plan.input, self.plan.target);
        self.put(input, features.iter().copied())?;
        self.put(target, targets.iter().copied())
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
                norm = Some(self.clip(grads, *max_norm)?);
                continue;
            }
            self.run(k, true)?;
        }
        Ok(norm)
    }

    fn clip(&mut self, grads: &[BufferId], max_norm: f32) -> Result<f32, OpError> {
        let mut owned: Vec<Vec<f32>> = grads.iter().map(|g| self.data(*g).to_vec()).collect();
        let norm = {
            let mut views: Vec<&mut [f32]> = owned.iter_mut().map(Vec::as_mut_slice).collect();
            super::clip_grad_norm(&mut views, f64::from(max_norm))?
        };
        for (g, v) in grads.iter().zip(owned) {
            self.put(*g, v)?;
        }
        Ok(norm as f32)
    }

    /// Storage of every buffer, indexed by [`Plan::storage`] ids (views have empty vectors).
    /// The JIT backend runs its compiled kernels directly on these arrays.
    pub(crate) fn store_mut(&mut self) -> &mut [Vec<f32>] {
        &mut self.store
    }

    /// Runs one kernel with the reference ops (the JIT backend's fallback for kernels it
    /// does not compile). `lr`/`step` of updates are those of the last [`Self::update`].
    pub(crate) fn run_kernel(
        &mut self,
        k: &Kernel,
        training: bool,
        lr: f32,
        step: u64,
    ) -> Result<(), OpError> {
        self.lr = lr;
        self.step = step;
        self.run(k, training)
    }

    fn run(&mut self, k: &Kernel, training: bool) -> Result<(), OpError> {
        match k {
            Kernel::Dense { x, w, b, y, act } => {
                let bias = b.map(|b| Array1::from(self.data(b).to_vec()));
                let out = dense_forward(
                    self.get2(*x).view(),
                    self.get2(*w).view(),
                    bias.as_ref().map(|b| b.view()),
                )?
                .into_dyn();
                let out = match act {
                    Some(a) => act_forward(*a, out.view())?,
                    None => out,
                };
                self.put(*y, out.iter().copied())?;
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
                let out = out.into_dyn();
                let out = match act {
                    Some(a) => act_forward(*a, out.view())?,
                    None => out,
                };
                self.put(*y, out.iter().copied())?;
            }
            Kernel::MaxPool {
                x,
                y,
                argmax,
                window,
            } => {
                let r = super::maxpool2d_forward(self.get4(*x).view(), &pool_spec(window))?;
                self.put(*y, r.y.iter().copied())?;
                self.put(*argmax, r.argmax.iter().map(|i| *i as f32))?;
            }
            Kernel::AvgPool { x, y, window } => {
                let r = super::avgpool2d_forward(
                    self.get4(*x).view(),
                    &pool_spec(window),
                    super::AvgPoolDivisor::IncludePadding,
                )?;
                self.put(*y, r.iter().copied())?;
            }
            Kernel::GlobalAvgPool { x, y } => {
                let r = super::global_avgpool_forward(self.get4(*x).view())?;
                self.put(*y, r.iter().copied())?;
            }
            Kernel::Embedding { ids, w, y } => {
                let out =
                    super::seq::embedding_forward(self.get2(*ids).view(), self.get2(*w).view())?;
                self.put(*y, out.iter().copied())?;
            }
            Kernel::Conv1d { x, w, b, y, window } => {
                let bias = b.map(|b| Array1::from(self.data(b).to_vec()));
                let out = super::seq::conv1d_forward(
                    self.get3(*x).view(),
                    self.get3(*w).view(),
                    bias.as_ref().map(|b| b.view()),
                    &window1d(window),
                )?;
                self.put(*y, out.iter().copied())?;
            }
            Kernel::MaxPool1d {
                x,
                y,
                argmax,
                window,
            } => {
                let (out, arg) =
                    super::seq::maxpool1d_forward(self.get3(*x).view(), &window1d(window))?;
                self.put(*y, out.iter().copied())?;
                self.put(*argmax, arg.iter().map(|i| *i as f32))?;
            }
            Kernel::AvgPool1d { x, y, window } => {
                let out = super::seq::avgpool1d_forward(self.get3(*x).view(), &window1d(window))?;
                self.put(*y, out.iter().copied())?;
            }
            Kernel::TimeReduce { x, y, how } => {
                let xs = self.get3(*x);
                let out = match how {
                    TimeReduce::Last => super::seq::last_forward(xs.view())?,
                    TimeReduce::Mean => super::seq::time_mean_forward(xs.view())?,
                };
                self.put(*y, out.iter().copied())?;
            }
            Kernel::Rnn {
                x,
                y,
                cell,
                return_sequences,
                dirs,
            } => {
                let xs = self.get3(*x);
                let (n, steps) = (xs.shape()[0], xs.shape()[1]);
                let d = dirs.len();
                let mut states = Vec::with_capacity(d);
                for dir in dirs {
                    let w = self.rnn_weights(dir);
                    let tr = super::rnn::rnn_forward(*cell, xs.view(), w.view(), dir.reverse)?;
                    self.put(dir.h, tr.h.iter().copied())?;
                    self.put(dir.gates, tr.gates.iter().copied())?;
                    states.push(tr.h);
                }
                let hid = states.first().map_or(0, |h| h.shape()[2]);
                let out: Vec<f32> = if *return_sequences {
                    let mut o = Array3::<f32>::zeros((n, steps, d * hid));
                    for (k, h) in states.iter().enumerate() {
                        o.slice_mut(s![.., .., k * hid..(k + 1) * hid]).assign(h);
                    }
                    o.into_iter().collect()
                } else {
                    let mut o = Array2::<f32>::zeros((n, d * hid));
                    for (k, (h, dir)) in states.iter().zip(dirs).enumerate() {
                        let t = if dir.reverse {
                            0
                        } else {
                            steps.saturating_sub(1)
                        };
                        o.slice_mut(s![.., k * hid..(k + 1) * hid])
                            .assign(&h.slice(s![.., t, ..]));
                    }
                    o.into_iter().collect()
                };
                self.put(*y, out)?;
            }
            Kernel::EmbeddingBackward { ids, dy, dw } => {
                let vocab = self.plan.buffer(*dw).shape[0];
                let g = super::seq::embedding_backward(
                    self.get2(*ids).view(),
                    self.get3(*dy).view(),
                    vocab,
                )?;
                self.put(*dw, g.iter().copied())?;
            }
            Kernel::Conv1dBackward {
                x,
                w,
                dy,
                window,
                dx,
                dw,
                db,
            } => {
                let g = super::seq::conv1d_backward(
                    self.get3(*dy).view(),
                    self.get3(*x).view(),
                    self.get3(*w).view(),
                    &window1d(window),
                )?;
                self.put_optional(*dx, g.dx.iter().copied())?;
                self.put_optional(*dw, g.dw.iter().copied())?;
                self.put_optional(*db, g.db.iter().copied())?;
            }
            Kernel::MaxPool1dBackward { dy, argmax, dx } => {
                let steps = self.shape(*dx)[1];
                let arg = self.get3(*argmax).mapv(|v| v as usize);
                let g = super::seq::maxpool1d_backward(self.get3(*dy).view(), arg.view(), steps)?;
                self.put(*dx, g.iter().copied())?;
            }
            Kernel::AvgPool1dBackward { dy, dx, window } => {
                let steps = self.shape(*dx)[1];
                let g = super::seq::avgpool1d_backward(
                    self.get3(*dy).view(),
                    steps,
                    &window1d(window),
                )?;
                self.put(*dx, g.iter().copied())?;
            }
            Kernel::TimeReduceBackward { dy, dx, how } => {
                let steps = self.shape(*dx)[1];
                let dys = self.get2(*dy);
                let g = match how {
                    TimeReduce::Last => super::seq::last_backward(dys.view(), steps)?,
                    TimeReduce::Mean => super::seq::time_mean_backward(dys.view(), steps)?,
                };
                self.put(*dx, g.iter().copied())?;
            }
            Kernel::RnnBackward {
                x,
                dy,
                cell,
                return_sequences,
                dirs,
                grads,
                dx,
            } => {
                let xs = self.get3(*x);
                let (n, steps, f) = xs.dim();
                let dys = self.get(*dy);
                let mut dx_sum = Array3::<f32>::zeros((n, steps, f));
                for (k, (dir, g)) in dirs.iter().zip(grads).enumerate() {
                    let w = self.rnn_weights(dir);
                    let hid = w.w_hh.ncols();
                    let trace = super::rnn::RnnTrace {
                        h: self.get3(dir.h),
                        gates: self.get3(dir.gates),
                    };
                    // The gradient of each step's state: every step's slice of dy, or only
                    // the final state's (the last step read) when the layer returns it alone.
                    let mut dh = Array3::<f32>::zeros((n, steps, hid));
                    let cols = k * hid..(k + 1) * hid;
                    if *return_sequences {
                        let dys = dys
                            .view()
                            .into_shape_with_order((n, steps, dirs.len() * hid))
                            .map_err(|_| OpError::Shape {
                                op: "rnn",
                                what: "upstream gradient",
                                got: dys.shape().to_vec(),
                                expected: format!("[{n}, {steps}, {}]", dirs.len() * hid),
                            })?;
                        dh.assign(&dys.slice(s![.., .., cols]));
                    } else {
                        let t = if dir.reverse {
                            0
                        } else {
                            steps.saturating_sub(1)
                        };
                        let dys = dys
                            .view()
                            .into_shape_with_order((n, dirs.len() * hid))
                            .map_err(|_| OpError::Shape {
                                op: "rnn",
                                what: "upstream gradient",
                                got: dys.shape().to_vec(),
                                expected: format!("[{n}, {}]", dirs.len() * hid),
                            })?;
                        dh.slice_mut(s![.., t, ..]).assign(&dys.slice(s![.., cols]));
                    }
                    let r = super::rnn::rnn_backward(
                        *cell,
                        xs.view(),
                        w.view(),
                        &trace,
                        dh.view(),
                        dir.reverse,
                    )?;
                    dx_sum += &r.dx;
                    if let Some(g) = g {
                        self.put(g.w_ih, r.dw.w_ih.iter().copied())?;
                        self.put(g.w_hh, r.dw.w_hh.iter().copied())?;
                        self.put(g.b_ih, r.dw.b_ih.iter().copied())?;
                        self.put(g.b_hh, r.dw.b_hh.iter().copied())?;
                    }
                }
                self.put_optional(*dx, dx_sum.iter().copied())?;
            }
            Kernel::Act { x, y, act } => {
                let out = act_forward(*act, self.get(*x).view())?;
                self.put(*y, out.iter().copied())?;
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
                self.put(*y, xs.iter().zip(&m).map(|(a, b)| a * b))?;
                self.put(*mask, m)?;
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
                    self.put(*y, out.y.iter().copied())?;
                    self.put(*saved_mean, mean)?;
                    self.put(*saved_invstd, out.saved.inv_std.iter().copied())?;
                    self.put(*running_mean, running.mean.iter().copied())?;
                    self.put(*running_var, running.var.iter().copied())?;
                } else {
                    let out = super::batchnorm_forward_eval(
                        xs.view(),
                        g.view(),
                        bt.view(),
                        &running,
                        &spec,
                    )?;
                    self.put(*y, out.iter().copied())?;
                }
            }
            Kernel::Add { a, b, y } => {
                let v: Vec<f32> = self
                    .data(*a)
                    .iter()
                    .zip(self.data(*b))
                    .map(|(p, q)| p + q)
                    .collect();
                self.put(*y, v)?;
            }
            Kernel::Copy { src, dst } => {
                let v = self.data(*src).to_vec();
                self.put(*dst, v)?;
            }
            Kernel::Accumulate { src, dst } => {
                let v: Vec<f32> = self
                    .data(*dst)
                    .iter()
                    .zip(self.data(*src))
                    .map(|(p, q)| p + q)
                    .collect();
                self.put(*dst, v)?;
            }
            Kernel::SoftmaxCrossEntropy {
                logits,
                target,
                loss,
                dlogits,
                smoothing,
            } => {
                let labels: Vec<usize> = self.data(*target).iter().map(|t| *t as usize).collect();
                let out = super::softmax_cross_entropy_forward(
                    self.get2(*logits).view(),
                    &labels,
                    f64::from(*smoothing),
                )?;
                let grad = super::softmax_cross_entropy_backward(
                    out.probs.view(),
                    &labels,
                    f64::from(*smoothing),
                    1.0,
                )?;
                self.put(*loss, [out.loss])?;
                self.put(*dlogits, grad.iter().copied())?;
            }
            Kernel::Mse {
                y,
                target,
                loss,
                dy,
            } => {
                self.regression_loss(
                    *y,
                    *target,
                    *loss,
                    *dy,
                    super::mse_forward,
                    super::mse_backward,
                )?;
            }
            Kernel::Mae {
                y,
                target,
                loss,
                dy,
            } => {
                self.regression_loss(
                    *y,
                    *target,
                    *loss,
                    *dy,
                    super::mae_forward,
                    super::mae_backward,
                )?;
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
                self.apply_act_grad(*y, *dy, *act)?;
                let g = dense_backward(
                    self.get2(*dy).view(),
                    self.get2(*x).view(),
                    self.get2(*w).view(),
                )?;
                self.put_optional(*dx, g.dx.iter().copied())?;
                self.put_optional(*dw, g.dw.iter().copied())?;
                self.put_optional(*db, g.db.iter().copied())?;
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
                self.apply_act_grad(*y, *dy, *act)?;
                let g = conv2d_backward(
                    self.get4(*dy).view(),
                    self.get4(*x).view(),
                    self.get4(*w).view(),
                    &conv_spec(window),
                )?;
                self.put_optional(*dx, g.dx.iter().copied())?;
                self.put_optional(*dw, g.dw.iter().copied())?;
                self.put_optional(*db, g.db.iter().copied())?;
            }
            Kernel::MaxPoolBackward { dy, argmax, dx } => {
                let s = self.shape(*dx);
                let idx = self.get4(*argmax).mapv(|v| v as usize);
                let r = super::maxpool2d_backward(
                    self.get4(*dy).view(),
                    idx.view(),
                    Hw::new(s[2], s[3]),
                )?;
                self.put(*dx, r.iter().copied())?;
            }
            Kernel::AvgPoolBackward { dy, dx, window } => {
                let s = self.shape(*dx);
                let r = super::avgpool2d_backward(
                    self.get4(*dy).view(),
                    Hw::new(s[2], s[3]),
                    &pool_spec(window),
                    super::AvgPoolDivisor::IncludePadding,
                )?;
                self.put(*dx, r.iter().copied())?;
            }
            Kernel::GlobalAvgPoolBackward { dy, dx } => {
                let s = self.shape(*dx);
                let r = super::global_avgpool_backward(self.get2(*dy).view(), Hw::new(s[2], s[3]))?;
                self.put(*dx, r.iter().copied())?;
            }
            Kernel::ActBackward { x, y, dy, dx, act } => {
                let g = act_backward(
                    *act,
                    self.get(*x).view(),
                    self.get(*y).view(),
                    self.get(*dy).view(),
                )?;
                self.put(*dx, g.iter().copied())?;
            }
            Kernel::DropoutBackward { dy, mask, dx } => {
                let v: Vec<f32> = self
                    .data(*dy)
                    .iter()
                    .zip(self.data(*mask))
                    .map(|(a, b)| a * b)
                    .collect();
                self.put(*dx, v)?;
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
                    self.put(*dg, grads.dgamma.iter().copied())?;
                }
                if let Some(db) = dbeta {
                    self.put(*db, grads.dbeta.iter().copied())?;
                }
                if let Some(dx) = dx {
                    self.put(*dx, grads.dx.iter().copied())?;
                }
            }
            Kernel::ClipNorm { grads, max_norm } => {
                self.clip(grads, *max_norm)?;
            }
            Kernel::Update { param, grad, rule } => self.apply_update(*param, *grad, rule)?,
        }
        Ok(())
    }

    /// The current weights of one direction of a recurrent layer.
    fn rnn_weights(&self, dir: &RnnDir) -> super::rnn::RnnWeights<f32> {
        super::rnn::RnnWeights {
            w_ih: self.get2(dir.w_ih),
            w_hh: self.get2(dir.w_hh),
            b_ih: Array1::from(self.data(dir.b_ih).to_vec()),
            b_hh: Array1::from(self.data(dir.b_hh).to_vec()),
        }
    }

    /// Writes a gradient the plan asked for (`None`: not needed, e.g. a frozen layer).
    fn put_optional(
        &mut self,
        id: Option<BufferId>,
        values: impl IntoIterator<Item = f32>,
    ) -> Result<(), OpError> {
        match id {
            Some(id) => self.put(id, values),
            None => Ok(()),
        }
    }

    /// A mean regression loss and its gradient with respect to the prediction.
    fn regression_loss(
        &mut self,
        y: BufferId,
        target: BufferId,
        loss: BufferId,
        dy: BufferId,
        forward: LossForward,
        backward: LossBackward,
    ) -> Result<(), OpError> {
        let (p, t) = (self.get(y), self.get(target));
        let l = forward(p.view(), t.view())?;
        let g = backward(p.view(), t.view(), 1.0)?;
        self.put(loss, [l])?;
        self.put(dy, g.iter().copied())
    }

    /// dy ← dy · act'(y) for an activation fused into the producing kernel. Only
    /// activations whose derivative follows from the output are fused (see `lower`), so the
    /// output stands in for the input.
    fn apply_act_grad(
        &mut self,
        y: BufferId,
        dy: BufferId,
        act: Option<Activation>,
    ) -> Result<(), OpError> {
        let Some(a) = act else {
            return Ok(());
        };
        let ys = self.get(y);
        let g = act_backward(a, ys.view(), ys.view(), self.get(dy).view())?;
        self.put(dy, g.iter().copied())?;
        Ok(())
    }

    fn apply_update(
        &mut self,
        param: BufferId,
        grad: BufferId,
        rule: &Update,
    ) -> Result<(), OpError> {
        let (lr, t) = (f64::from(self.lr), self.step.max(1));
        let g = self.data(grad).to_vec();
        let mut p = self.data(param).to_vec();
        match *rule {
            Update::Sgd {
                momentum,
                nesterov,
                weight_decay,
                velocity,
            } => {
                // The momentum buffer starts as the first step's gradient (PyTorch).
                let buffer = velocity.filter(|_| t > 1).map(|v| self.data(v).to_vec());
                let mut state = super::SgdState {
                    momentum_buffer: buffer,
                };
                let cfg = super::SgdConfig {
                    lr,
                    momentum: f64::from(momentum),
                    dampening: 0.0,
                    nesterov,
                    weight_decay: f64::from(weight_decay),
                };
                super::sgd_step(&mut p, &g, &mut state, &cfg)?;
                if let (Some(id), Some(buf)) = (velocity, state.momentum_buffer) {
                    self.put(id, buf)?;
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
                let mut state = super::AdamState {
                    step: t - 1,
                    exp_avg: self.data(m).to_vec(),
                    exp_avg_sq: self.data(v).to_vec(),
                };
                let cfg = super::AdamConfig {
                    lr,
                    beta1: f64::from(beta1),
                    beta2: f64::from(beta2),
                    eps: f64::from(eps),
                    weight_decay: f64::from(weight_decay),
                };
                if decoupled {
                    super::adamw_step(&mut p, &g, &mut state, &cfg)?;
                } else {
                    super::adam_step(&mut p, &g, &mut state, &cfg)?;
                }
                self.put(m, state.exp_avg)?;
                self.put(v, state.exp_avg_sq)?;
            }
        }
        self.put(param, p)?;
        Ok(())
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

fn conv_spec(w: &Window) -> Conv2dSpec {
    Conv2dSpec {
        stride: Hw::square(w.stride),
        padding: Hw::square(w.pad),
        dilation: Hw::square(w.dilation),
    }
}

fn window1d(w: &Window) -> super::seq::Window1d {
    super::seq::Window1d {
        kernel: w.kernel,
        stride: w.stride,
        pad: w.pad,
        dilation: w.dilation,
    }
}

fn pool_spec(w: &Window) -> super::Pool2dSpec {
    super::Pool2dSpec {
        kernel: Hw::square(w.kernel),
        stride: Hw::square(w.stride),
        padding: Hw::square(w.pad),
    }
}

/// Applies an activation to a whole array with the reference ops.
pub fn act_forward(a: Activation, x: ndarray::ArrayViewD<f32>) -> Result<ArrayD<f32>, OpError> {
    Ok(match a {
        Activation::Relu => super::relu_forward(x),
        Activation::LeakyRelu(s) => super::leaky_relu_forward(x, f64::from(s)),
        Activation::Sigmoid => super::sigmoid_forward(x),
        Activation::Tanh => super::tanh_forward(x),
        Activation::Gelu => super::gelu_forward(x),
        Activation::Softmax => super::softmax_forward(x)?,
    })
}

/// The gradient through an activation from its input `x`, output `y` and upstream `dy`.
pub fn act_backward(
    a: Activation,
    x: ndarray::ArrayViewD<f32>,
    y: ndarray::ArrayViewD<f32>,
    dy: ndarray::ArrayViewD<f32>,
) -> Result<ArrayD<f32>, OpError> {
    match a {
        Activation::Relu => super::relu_backward(dy, x),
        Activation::LeakyRelu(s) => super::leaky_relu_backward(dy, x, f64::from(s)),
        Activation::Sigmoid => super::sigmoid_backward(dy, y),
        Activation::Tanh => super::tanh_backward(dy, y),
        Activation::Gelu => super::gelu_backward(dy, x),
        Activation::Softmax => super::softmax_backward(dy, y),
    }
}
