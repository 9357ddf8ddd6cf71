//! The interface between the training loop and whatever executes a plan: the ndarray
//! reference interpreter today, JIT-compiled kernels (`compiled`). Everything above this trait
//! (training, evaluation, the CLI) is backend-agnostic.

use crate::lower::{BufferId, Plan};

/// Any failure inside a backend (a kernel that rejects its input, a code-generation error).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Executes one plan: owns its buffers, runs its kernel lists.
pub trait Backend {
    /// The plan being executed.
    fn plan(&self) -> &Plan;
    /// Current contents of a buffer (the first rows for batched buffers).
    fn data(&self, id: BufferId) -> &[f32];
    /// Mutable contents of a buffer.
    fn data_mut(&mut self, id: BufferId) -> &mut [f32];
    /// Loads a batch of `rows` samples (features row-major; class indices or target values).
    fn load_batch(
        &mut self,
        features: &[f32],
        targets: &[f32],
        rows: usize,
    ) -> Result<(), BackendError>;
    /// Runs the forward kernels; `training` enables dropout and batch statistics.
    fn forward(&mut self, training: bool) -> Result<(), BackendError>;
    /// Runs the loss kernel (which also writes the output gradient); returns the mean loss.
    fn loss(&mut self) -> Result<f32, BackendError>;
    /// Runs the backward kernels.
    fn backward(&mut self) -> Result<(), BackendError>;
    /// Clips and applies one optimizer step at learning rate `lr`; `step` counts from 1.
    /// Returns the pre-clip gradient norm when the plan clips.
    fn update(&mut self, lr: f32, step: u64) -> Result<Option<f32>, BackendError>;
    /// Position of the random stream that draws dropout masks (saved in checkpoints).
    fn rng_position(&self) -> u128;
    /// Moves the random stream to a saved position.
    fn set_rng_position(&mut self, position: u128);
}

/// Which backend executes plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The ndarray reference interpreter (slow, obviously right).
    Reference,
    /// Cranelift-compiled kernels on `threads` threads (results independent of the count).
    Jit {
        /// Worker threads (≥ 1).
        threads: usize,
        /// Which matrix products go to sgemm.
        gemm: super::compiled::GemmRoute,
    },
}

impl Default for BackendKind {
    /// The JIT on every core.
    fn default() -> Self {
        BackendKind::Jit {
            threads: default_threads(),
            gemm: super::compiled::GemmRoute::default(),
        }
    }
}

/// The number of cores available to this process (1 when unknown).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl BackendKind {
    /// Its name as shown to users.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Reference => "reference",
            BackendKind::Jit { .. } => "jit",
        }
    }

    /// Threads it runs on.
    pub fn threads(self) -> usize {
        match self {
            BackendKind::Reference => 1,
            BackendKind::Jit { threads, .. } => threads,
        }
    }

    /// Instantiates the backend for `plan`, initialising params from `seed` (both backends
    /// draw the same initial weights).
    pub fn instantiate<'p>(
        self,
        plan: &'p Plan,
        seed: u64,
    ) -> Result<Box<dyn Backend + 'p>, BackendError> {
        Ok(match self {
            BackendKind::Reference => Box::new(super::reference::exec::Executor::new(plan, seed)),
            BackendKind::Jit { threads, gemm } => {
                Box::new(super::compiled::JitExecutor::with_options(
                    plan,
                    seed,
                    super::compiled::ExecOptions {
                        threads,
                        gemm,
                        ..Default::default()
                    },
                )?)
            }
        })
    }
}

impl Backend for super::reference::exec::Executor<'_> {
    fn plan(&self) -> &Plan {
        super::reference::exec::Executor::plan(self)
    }
    fn data(&self, id: BufferId) -> &[f32] {
        super::reference::exec::Executor::data(self, id)
    }
    fn data_mut(&mut self, id: BufferId) -> &mut [f32] {
        super::reference::exec::Executor::data_mut(self, id)
    }
    fn load_batch(
        &mut self,
        features: &[f32],
        targets: &[f32],
        rows: usize,
    ) -> Result<(), BackendError> {
        Ok(super::reference::exec::Executor::load_batch(
            self, features, targets, rows,
        )?)
    }
    fn forward(&mut self, training: bool) -> Result<(), BackendError> {
        Ok(super::reference::exec::Executor::forward(self, training)?)
    }
    fn loss(&mut self) -> Result<f32, BackendError> {
        Ok(super::reference::exec::Executor::loss(self)?)
    }
    fn backward(&mut self) -> Result<(), BackendError> {
        Ok(super::reference::exec::Executor::backward(self)?)
    }
    fn update(&mut self, lr: f32, step: u64) -> Result<Option<f32>, BackendError> {
        Ok(super::reference::exec::Executor::update(self, lr, step)?)
    }
    fn rng_position(&self) -> u128 {
        super::reference::exec::Executor::rng_position(self)
    }
    fn set_rng_position(&mut self, position: u128) {
        super::reference::exec::Executor::set_rng_position(self, position)
    }
}
