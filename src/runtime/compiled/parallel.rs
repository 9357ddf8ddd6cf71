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

/// Runs `tasks` on the calling thread and the pool's workers (or inline when there is no
/// pool or only one task) and returns the first error in task order.
///
/// The tasks are grouped into one contiguous group per thread (the caller plus the
/// workers; a group runs its tasks in order), and the caller runs the first group itself:
/// a step wakes `threads − 1` workers instead of sleeping while `threads` others work, and
/// fixed shards (more tasks than threads) do not leave the caller idle. Grouping changes
/// who runs a task, never what it computes.
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
            let threads = pool.current_num_threads() + 1;
            let sizes: Vec<usize> = split(tasks.len(), threads)
                .iter()
                .map(|r| r.len())
                .collect();
            let mut groups: Vec<Vec<T>> = Vec::with_capacity(sizes.len());
            let mut rest = tasks.into_iter();
            for n in sizes {
                groups.push(rest.by_ref().take(n).collect());
            }
            let run_group = |group: Vec<T>| group.into_iter().try_for_each(&f);
            let results: Vec<std::sync::Mutex<Result<(), JitError>>> = groups
                .iter()
                .map(|_| std::sync::Mutex::new(Ok(())))
                .collect();
            let mut groups = groups.into_iter().zip(&results);
            let first = groups.next();
            pool.in_place_scope(|s| {
                for (group, slot) in groups {
                    let run_group = &run_group;
                    s.spawn(move |_| {
                        let r = run_group(group);
                        if let Ok(mut g) = slot.lock() {
                            *g = r;
                        }
                    });
                }
                if let Some((group, slot)) = first {
                    let r = run_group(group);
                    if let Ok(mut g) = slot.lock() {
                        *g = r;
                    }
                }
            });
            for r in results {
                // A panicking task re-panics out of the scope, so a poisoned lock still
                // holds a finished task's result.
                r.into_inner().unwrap_or_else(|p| p.into_inner())?;
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
    sgemm_split(spec, None, 1, a, b, bias, c)
}

/// matrixmultiply's sgemm over `tasks` disjoint blocks of C: rows of C when M ≥ N, else
/// columns (a dense layer's weight gradient has few rows per thread otherwise). Each
/// element of C is the same sum in the same order whatever the split (matrixmultiply
/// blocks K by K alone), so results do not depend on `tasks`.
fn sgemm_split(
    spec: &GemmSpec,
    pool: Option<&rayon::ThreadPool>,
    tasks: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    c: &mut [f32],
) -> Result<(), JitError> {
    use crate::jit::gemm::GemmOp;
    use ndarray::{ArrayView2, ArrayViewMut2, Axis, s};
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
    let cv = ArrayViewMut2::from_shape((m, n), c).map_err(|e| shape("c", e))?;
    let bias = match (spec.bias, bias) {
        (true, Some(bias)) if bias.len() == n => Some(bias),
        (false, None) => None,
        _ => {
            return Err(bad(
                "bias",
                format!("must be given exactly when compiled with one, {n} values"),
            ));
        }
    };
    let beta = if spec.accumulate { 1.0 } else { 0.0 };
    let by_rows = m >= n;
    let axis = if by_rows { Axis(0) } else { Axis(1) };
    let ranges = split(if by_rows { m } else { n }, tasks);
    let mut blocks = Vec::with_capacity(ranges.len());
    let mut rest = cv;
    for r in &ranges {
        let (head, tail) = rest.split_at(axis, r.len());
        blocks.push((r.clone(), head));
        rest = tail;
    }
    run_tasks(pool, blocks, |(r, mut cb)| {
        let (ab, bb, bias) = if by_rows {
            (av.slice(s![r.clone(), ..]), bv.view(), bias)
        } else {
            (
                av.view(),
                bv.slice(s![.., r.clone()]),
                bias.map(|b| &b[r.clone()]),
            )
        };
        ndarray::linalg::general_mat_mul(1.0, &ab, &bb, beta, &mut cb);
        if let Some(bias) = bias {
            for row in cb.rows_mut() {
                for (v, b) in row.into_iter().zip(bias) {
                    *v += b;
                }
            }
        }
        if spec.relu {
            // NaN → 0, like the generated and reference ReLU.
            cb.mapv_inplace(|v| if v > 0.0 { v } else { 0.0 });
        }
        Ok(())
    })
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
        if self.route.sgemm(&spec) {
            Ok(Gemm::Sgemm(spec))
        } else {
            self.generated(jit, spec)
        }
    }

    /// True when `spec` goes to sgemm.
    pub fn routes_to_sgemm(&self, spec: &GemmSpec) -> bool {
        self.route.sgemm(spec)
    }

    /// The generated kernel for `spec`, compiling it on first use.
    fn generated(&mut self, jit: &mut JitModule, spec: GemmSpec) -> Result<Gemm, JitError> {
        if let Some(k) = self.kernels.get(&spec) {
            return Ok(k.clone());
        }
        let k = Gemm::Jit(GemmKernel::compile(jit, spec)?);
        self.kernels.insert(spec, k.clone());
        Ok(k)
    }
}

/// One part of a row-split generated GEMM: its rows of A and C, its kernel and packing
/// scratch.
struct GemmPart {
    rows: Range<usize>,
    kernel: Gemm,
    scratch: Vec<f32>,
}

/// How a [`SplitGemm`] divides its work.
enum Parts {
    /// Generated kernels over row ranges of A and C (A row-major: `Nt`/`Nn`).
    Rows(Vec<GemmPart>),
    /// sgemm over `tasks` blocks of C (see [`sgemm_split`]).
    Sgemm { tasks: usize },
}

/// A GEMM split across tasks. The implementation (sgemm or generated) is chosen from the
/// whole product's shape, never from a part's, and each element of C is computed by the
/// same FMA chain as in an unsplit product: results do not depend on the thread count.
pub struct SplitGemm {
    spec: GemmSpec,
    parts: Parts,
}

impl SplitGemm {
    /// Compiles `spec` split for `threads` threads (fewer tasks when the product is small;
    /// one when it is generated with a transposed A, whose rows are not contiguous).
    pub fn new(
        jit: &mut JitModule,
        cache: &mut GemmCache,
        spec: GemmSpec,
        threads: usize,
    ) -> Result<Self, JitError> {
        let tasks = parts_for(threads, spec.flops());
        if cache.routes_to_sgemm(&spec) {
            return Ok(Self {
                spec,
                parts: Parts::Sgemm { tasks },
            });
        }
        let tasks = if spec.op == crate::jit::gemm::GemmOp::Tn {
            1
        } else {
            tasks
        };
        let mut out = Vec::new();
        for rows in split(spec.m, tasks) {
            let kernel = cache.generated(
                jit,
                GemmSpec {
                    m: rows.len(),
                    ..spec
                },
            )?;
            let scratch = vec![0.0; kernel.scratch_len()];
            out.push(GemmPart {
                rows,
                kernel,
                scratch,
            });
        }
        Ok(Self {
            spec,
            parts: Parts::Rows(out),
        })
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
        let parts = match &mut self.parts {
            Parts::Sgemm { tasks } => {
                return sgemm_split(&self.spec, pool, *tasks, a, b, bias, c);
            }
            Parts::Rows(parts) => parts,
        };
        let ranges: Vec<Range<usize>> = parts.iter().map(|p| p.rows.clone()).collect();
        let c_chunks = chunks_mut(c, &ranges, n);
        let tasks: Vec<_> = parts.iter_mut().zip(c_chunks).collect();
        run_tasks(pool, tasks, |(part, c)| {
            let a = a
                .get(part.rows.start * k..part.rows.end * k)
                .unwrap_or_default();
            part.kernel.run(a, b, bias, c, &mut part.scratch)
        })
    }
}
