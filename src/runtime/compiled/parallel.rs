//! Work splitting for the compiled executor.
//!
//! Determinism rule: every output element is computed by one task with a fixed sequence of
//! operations. Row-parallel work (forward layers, input gradients) may therefore be split
//! by the thread count — the split changes who computes an element, not how. Reductions
//! over the batch (weight and bias gradients of convolutions) are split into [`SHARDS`]
//! fixed shards whose partial sums are added in shard order, a partition that depends only
//! on the batch size. Results are bit-identical whatever `--threads` is.

use std::ops::Range;

use crate::jit::gemm::{GemmKernel, GemmSpec};

use crate::jit::{JitError, JitModule};

/// Fixed number of partial sums for batch reductions (independent of the thread count).
pub const SHARDS: usize = 4;

/// Least work (floating-point operations) worth a task of its own: below this, handing a
/// task to another thread costs more than it saves (measured on the digits MLP, whose
/// 0.5 MFLOP products ran 2× slower split in two).
pub const MIN_TASK_FLOPS: f64 = 1.0e6;

/// Tasks to split `flops` of row-parallel work into on `threads` threads.
pub fn parts_for(threads: usize, flops: f64) -> usize {
    let worth = (flops / MIN_TASK_FLOPS).floor().max(1.0) as usize;
    threads.clamp(1, worth.max(1))
}

/// Splits `0..n` into `parts` contiguous near-equal ranges (fewer when `n < parts`).
pub fn split(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let (base, extra) = (n / parts, n % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

/// Splits `data` into consecutive mutable chunks of `row_len · range.len()` elements.
pub fn chunks_mut<'a>(
    mut data: &'a mut [f32],
    ranges: &[Range<usize>],
    row_len: usize,
) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let (head, tail) = data.split_at_mut((r.len() * row_len).min(data.len()));
        out.push(head);
        data = tail;
    }
    out
}

/// Runs `tasks` on the pool (or inline when there is none or only one task) and returns
/// the first error in task order.
pub fn run_tasks<T, F>(
    pool: Option<&rayon::ThreadPool>,
    tasks: Vec<T>,
    f: F,
) -> Result<(), JitError>
where
    T: Send,
    F: Fn(T) -> Result<(), JitError> + Sync,
{
    match pool {
        Some(pool) if tasks.len() > 1 => {
            let results: Vec<std::sync::Mutex<Option<JitError>>> =
                tasks.iter().map(|_| std::sync::Mutex::new(None)).collect();
            pool.scope(|s| {
                for (task, slot) in tasks.into_iter().zip(&results) {
                    let f = &f;
                    s.spawn(move |_| {
                        if let Err(e) = f(task)
                            && let Ok(mut g) = slot.lock()
                        {
                            *g = Some(e);
                        }
                    });
                }
            });
            for r in results {
                if let Some(e) = r.into_inner().ok().flatten() {
                    return Err(e);
                }
            }
            Ok(())
        }
        _ => tasks.into_iter().try_for_each(f),
    }
}

/// Which implementation runs the plan's matrix products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GemmRoute {
    /// Products with every dimension ≥ [`SGEMM_MIN_DIM`] go to matrixmultiply's sgemm
    /// (through ndarray), the others are generated — the rule is a function of the shape only, so
    /// runs stay deterministic.
    #[default]
    Auto,
    /// Every product is a generated Cranelift kernel.
    Cranelift,
    /// Every product goes to sgemm.
    Sgemm,
}

/// Products whose every dimension is at least this run faster in matrixmultiply's
/// 256-bit AVX2 kernels than in our 128-bit Cranelift ones; below it, sgemm's packing
/// dominates (measured on LeNet-5: its per-sample convolution products, N = 6 or 16, are
/// 1.2× faster generated, while the digits MLP's 32×128×64 products are 1.6× faster in sgemm).
pub const SGEMM_MIN_DIM: usize = 32;

impl GemmRoute {
    fn sgemm(self, spec: &GemmSpec) -> bool {
        match self {
            GemmRoute::Auto => spec.m.min(spec.n).min(spec.k) >= SGEMM_MIN_DIM,
            GemmRoute::Cranelift => false,
            GemmRoute::Sgemm => true,
        }
    }
}

/// A matrix product ready to run: generated code, or a call into sgemm.
#[derive(Clone, Debug)]
pub enum Gemm {
    /// A Cranelift kernel.
    Jit(GemmKernel),
    /// matrixmultiply's sgemm (via `ndarray::linalg::general_mat_mul`).
    Sgemm(GemmSpec),
}

impl Gemm {
    /// The product's shape and epilogue.
    pub fn spec(&self) -> GemmSpec {
        match self {
            Gemm::Jit(k) => *k.spec(),
            Gemm::Sgemm(s) => *s,
        }
    }

    /// Scratch elements `run` needs.
    pub fn scratch_len(&self) -> usize {
        match self {
            Gemm::Jit(k) => k.spec().scratch_len(),
            Gemm::Sgemm(_) => 0,
        }
    }

    /// `c ← act([c +] op(a)·op(b) [+ bias])`.
    pub fn run(
        &self,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), JitError> {
        match self {
            Gemm::Jit(k) => k.run(a, b, bias, c, scratch),
            Gemm::Sgemm(spec) => sgemm(spec, a, b, bias, c),
        }
    }
}

fn sgemm(
    spec: &GemmSpec,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    c: &mut [f32],
) -> Result<(), JitError> {
    use crate::jit::gemm::GemmOp;
    use ndarray::{ArrayView2, ArrayViewMut2};
    let bad = |param: &str, problem: String| JitError::Argument {
        kernel: format!("sgemm_{}x{}x{}", spec.m, spec.n, spec.k),
        param: param.to_string(),
        problem,
    };
    let shape = |what: &str, e: ndarray::ShapeError| bad(what, e.to_string());
    let (m, n, k) = (spec.m, spec.n, spec.k);
    let av = match spec.op {
        GemmOp::Nt | GemmOp::Nn => ArrayView2::from_shape((m, k), a).map_err(|e| shape("a", e))?,
        GemmOp::Tn => ArrayView2::from_shape((k, m), a)
            .map_err(|e| shape("a", e))?
            .reversed_axes(),
    };
    let bv = match spec.op {
        GemmOp::Nt => ArrayView2::from_shape((n, k), b)
            .map_err(|e| shape("b", e))?
            .reversed_axes(),
        GemmOp::Nn | GemmOp::Tn => ArrayView2::from_shape((k, n), b).map_err(|e| shape("b", e))?,
    };
    let mut cv = ArrayViewMut2::from_shape((m, n), c).map_err(|e| shape("c", e))?;
    let beta = if spec.accumulate { 1.0 } else { 0.0 };
    ndarray::linalg::general_mat_mul(1.0, &av, &bv, beta, &mut cv);
    match (spec.bias, bias) {
        (true, Some(bias)) if bias.len() == n => {
            for row in cv.rows_mut() {
                for (v, b) in row.into_iter().zip(bias) {
                    *v += b;
                }
            }
        }
        (false, None) => {}
        _ => {
            return Err(bad(
                "bias",
                format!("must be given exactly when compiled with one, {n} values"),
            ));
        }
    }
    if spec.relu {
        // NaN → 0, like the generated and reference ReLU.
        cv.mapv_inplace(|v| if v > 0.0 { v } else { 0.0 });
    }
    Ok(())
}

/// Compiles GEMMs once per distinct spec.
#[derive(Default)]
pub struct GemmCache {
    route: GemmRoute,
    kernels: std::collections::HashMap<GemmSpec, Gemm>,
}

impl GemmCache {
    /// A cache routing products by `route`.
    pub fn new(route: GemmRoute) -> Self {
        Self {
            route,
            kernels: Default::default(),
        }
    }

    /// The product for `spec`, compiling it on first use.
    pub fn get(&mut self, jit: &mut JitModule, spec: GemmSpec) -> Result<Gemm, JitError> {
        if let Some(k) = self.kernels.get(&spec) {
            return Ok(k.clone());
        }
        let k = if self.route.sgemm(&spec) {
            Gemm::Sgemm(spec)
        } else {
            Gemm::Jit(GemmKernel::compile(jit, spec)?)
        };
        self.kernels.insert(spec, k.clone());
        Ok(k)
    }
}

/// One part of a row-split GEMM: its rows of A and C, its kernel and packing scratch.
struct GemmPart {
    rows: Range<usize>,
    kernel: Gemm,
    scratch: Vec<f32>,
}

/// A GEMM whose A is row-major `[M, K]` (`Nt`/`Nn`), split over the rows of A and C across
/// tasks. Each element of C is computed by the same FMA chain as an unsplit product.
pub struct SplitGemm {
    spec: GemmSpec,
    parts: Vec<GemmPart>,
}

impl SplitGemm {
    /// Compiles the parts of `spec` split into `parts` row ranges.
    pub fn new(
        jit: &mut JitModule,
        cache: &mut GemmCache,
        spec: GemmSpec,
        parts: usize,
    ) -> Result<Self, JitError> {
        let mut out = Vec::new();
        for rows in split(spec.m, parts_for(parts, spec.flops())) {
            let s = GemmSpec {
                m: rows.len(),
                ..spec
            };
            let kernel = cache.get(jit, s)?;
            let scratch = vec![0.0; kernel.scratch_len()];
            out.push(GemmPart {
                rows,
                kernel,
                scratch,
            });
        }
        Ok(Self { spec, parts: out })
    }

    /// `c ← op(a, b)` (plus bias/activation/accumulation as compiled).
    pub fn run(
        &mut self,
        pool: Option<&rayon::ThreadPool>,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        c: &mut [f32],
    ) -> Result<(), JitError> {
        let (k, n) = (self.spec.k, self.spec.n);
        let ranges: Vec<Range<usize>> = self.parts.iter().map(|p| p.rows.clone()).collect();
        let c_chunks = chunks_mut(c, &ranges, n);
        let tasks: Vec<_> = self.parts.iter_mut().zip(c_chunks).collect();
        run_tasks(pool, tasks, |(part, c)| {
            let a = a
                .get(part.rows.start * k..part.rows.end * k)
                .unwrap_or_default();
            part.kernel.run(a, b, bias, c, &mut part.scratch)
        })
    }
}
