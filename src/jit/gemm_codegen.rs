//! Cranelift IR generator for [`GemmSpec`] kernels.
//!
//! Structure of the emitted function `(A, B, bias, C, scratch)` (defaults:
//! `mr = 5`, `nr = 8`, `mc = mr`, `kc ≤ 256`; see `docs/jit.md`):
//!
//! ```text
//! for each K block of kc rows of op(B):       -- first block, runtime loop, last block
//!     if B is transposed: pack op(B)[k0.., :] into scratch as ⌈N/nr⌉ panels
//!         of kc×nr floats (4×4 vector transposes), zero-padding the last panel
//!     else: read full panels of B in place, pack only the partial last panel
//!     for each block of mc rows of C:
//!         for each nr-column panel (then the N tail panel):
//!             for each mr-row block (then the M tail rows):
//!                 micro-kernel: mr×nr accumulators in mr·nr/4 f32x4 registers,
//!                 k loop unrolled ×4, A broadcast straight from its storage
//!                 (once per row), B vectors from the panel, fma;
//!                 then store / accumulate / bias / ReLU, partial stores at
//!                 the N tail
//! ```
//!
//! All trip counts, strides and offsets are compile-time constants. The
//! module is compiled with `opt_level = none` so the instruction order below
//! is the order that reaches the register allocator.

use cranelift::codegen::ir::{Endianness, MemFlagsData, condcodes::FloatCC, types};
use cranelift::prelude::{FunctionBuilder, InstBuilder, Type, Value, Variable};

use super::gemm::{Activation, GemmSpec, Transpose};
use super::gemm_plan::{GemmPlan, LANES};

const F32_BYTES: i64 = 4;

/// What the micro-kernel does with its accumulators at the end.
#[derive(Debug, Clone, Copy)]
struct StoreMode {
    /// Add the existing contents of C.
    accumulate: bool,
    /// Apply bias and activation (only on the last K block).
    epilogue: bool,
}

/// Emits the body of a GEMM kernel into `fb` (positioned in the entry block).
/// `params` are `[A, B, bias, C, scratch]`.
pub(crate) fn emit_gemm(
    fb: &mut FunctionBuilder<'_>,
    params: &[Value],
    ptr: Type,
    spec: &GemmSpec,
    plan: &GemmPlan,
    has_fma: bool,
) {
    let mut g = Gen {
        has_fma,
        fb,
        spec,
        plan,
        ptr,
        a: params[0],
        b: params[1],
        bias: params[2],
        c: params[3],
        ws: params[4],
        // Every access is in bounds by construction (see gemm.rs), so loads
        // and stores cannot trap. We do not claim alignment.
        mem: MemFlagsData::new().with_notrap(),
    };
    g.emit();
}

/// How `rows` rows are cut into register tiles: `full` tiles of `mr` rows,
/// then up to two smaller ones. A lone tail of fewer than half a tile is
/// merged with the last full tile and re-split evenly (5 + 1 → 3 + 3), since
/// a 1-row tile runs at a fraction of the speed of a 3-row one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowSplit {
    full: usize,
    tails: Vec<usize>,
}

impl RowSplit {
    fn new(rows: usize, mr: usize) -> Self {
        let (full, tail) = (rows / mr, rows % mr);
        if tail == 0 {
            RowSplit {
                full,
                tails: Vec::new(),
            }
        } else if full >= 1 && 2 * tail < mr {
            let merged = mr + tail;
            RowSplit {
                full: full - 1,
                tails: vec![merged.div_ceil(2), merged / 2],
            }
        } else {
            RowSplit {
                full,
                tails: vec![tail],
            }
        }
    }
}

/// Base pointers of one micro-kernel tile.
#[derive(Debug, Clone, Copy)]
struct TilePointers {
    /// op(A)[row0, k0].
    a: Value,
    /// First k row of the B panel.
    b: Value,
    /// C[row0, col0].
    c: Value,
    /// bias[col0] (dangling when the kernel has no bias; never loaded then).
    bias: Value,
}

struct Gen<'g, 'f> {
    /// Emit `fma` (else `fmul` + `fadd`, see `KernelModule::has_fma`).
    has_fma: bool,
    fb: &'g mut FunctionBuilder<'f>,
    spec: &'g GemmSpec,
    plan: &'g GemmPlan,
    ptr: Type,
    a: Value,
    b: Value,
    bias: Value,
    c: Value,
    ws: Value,
    mem: MemFlagsData,
}

impl Gen<'_, '_> {
    // ----- strides (bytes) -------------------------------------------------

    /// Distance between op(A)[i, k] and op(A)[i+1, k].
    fn a_row_stride(&self) -> i64 {
        match self.spec.trans_a {
            Transpose::No => self.spec.k as i64 * F32_BYTES,
            Transpose::Yes => F32_BYTES,
        }
    }

    /// Distance between op(A)[i, k] and op(A)[i, k+1].
    fn a_k_stride(&self) -> i64 {
        match self.spec.trans_a {
            Transpose::No => F32_BYTES,
            Transpose::Yes => self.spec.m as i64 * F32_BYTES,
        }
    }

    /// Distance between op(B)[k, j] and op(B)[k+1, j].
    fn b_k_stride(&self) -> i64 {
        match self.spec.trans_b {
            Transpose::No => self.spec.n as i64 * F32_BYTES,
            Transpose::Yes => F32_BYTES,
        }
    }

    /// Distance between op(B)[k, j] and op(B)[k, j+1].
    fn b_col_stride(&self) -> i64 {
        match self.spec.trans_b {
            Transpose::No => F32_BYTES,
            Transpose::Yes => self.spec.k as i64 * F32_BYTES,
        }
    }

    fn c_row_stride(&self) -> i64 {
        self.spec.n as i64 * F32_BYTES
    }

    /// Bytes of one packed B panel of `kc` rows.
    fn panel_bytes(&self, kc: usize) -> i64 {
        (kc * self.plan.nr) as i64 * F32_BYTES
    }

    /// Bytes of one row of a packed B panel.
    fn panel_row_bytes(&self) -> i64 {
        self.plan.nr as i64 * F32_BYTES
    }

    // ----- small IR helpers ------------------------------------------------

    fn offset(&mut self, base: Value, bytes: i64) -> Value {
        if bytes == 0 {
            base
        } else {
            self.fb.ins().iadd_imm_s(base, bytes)
        }
    }

    fn pointer_var(&mut self, init: Value) -> Variable {
        let var = self.fb.declare_var(self.ptr);
        self.fb.def_var(var, init);
        var
    }

    fn advance(&mut self, var: Variable, bytes: i64) {
        let cur = self.fb.use_var(var);
        let next = self.offset(cur, bytes);
        self.fb.def_var(var, next);
    }

    /// Splits a byte offset into (base, 32-bit immediate). Offsets are below
    /// 2 GiB for every validated shape, but a wider one is still addressed
    /// correctly instead of being truncated.
    fn address(&mut self, base: Value, offset: i64) -> (Value, i32) {
        match i32::try_from(offset) {
            Ok(imm) => (base, imm),
            Err(_) => (self.fb.ins().iadd_imm_s(base, offset), 0),
        }
    }

    fn load_f32(&mut self, base: Value, offset: i64) -> Value {
        let (base, offset) = self.address(base, offset);
        self.fb.ins().load(types::F32, self.mem, base, offset)
    }

    fn load_vec(&mut self, base: Value, offset: i64) -> Value {
        let (base, offset) = self.address(base, offset);
        self.fb.ins().load(types::F32X4, self.mem, base, offset)
    }

    fn store(&mut self, value: Value, base: Value, offset: i64) {
        let (base, offset) = self.address(base, offset);
        self.fb.ins().store(self.mem, value, base, offset);
    }

    fn zero_vec(&mut self) -> Value {
        let zero = self.fb.ins().f32const(0.0);
        self.fb.ins().splat(types::F32X4, zero)
    }

    /// Emits `body` `trips` times: inline if `trips <= unroll_max`, otherwise
    /// as a do-while loop with a down-counting trip counter.
    fn repeat(&mut self, trips: usize, unroll_max: usize, mut body: impl FnMut(&mut Self)) {
        if trips <= unroll_max.max(1) {
            for _ in 0..trips {
                body(self);
            }
            return;
        }
        let counter = self.fb.declare_var(types::I64);
        let init = self.fb.ins().iconst(types::I64, trips as i64);
        self.fb.def_var(counter, init);
        let head = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(head, &[]);
        self.fb.switch_to_block(head);
        body(self);
        let cur = self.fb.use_var(counter);
        let next = self.fb.ins().iadd_imm_s(cur, -1);
        self.fb.def_var(counter, next);
        self.fb.ins().brif(next, head, &[], exit, &[]);
        self.fb.switch_to_block(exit);
    }

    /// Like [`Self::repeat`] but tests the counter at the top of the loop, so
    /// that values leaving the loop are the header's block parameters rather
    /// than results computed in the body. This matters for instruction
    /// selection: Cranelift's x64 lowering only folds a load into its user
    /// (`vbroadcastss xmm, [mem]`) when the load's result is used once,
    /// *transitively through pure users*; in a bottom-tested loop the last
    /// `fma` of each accumulator chain feeds both the back edge and the code
    /// after the loop, which marks every load in the body as multiply used.
    fn repeat_top_tested(&mut self, trips: usize, mut body: impl FnMut(&mut Self)) {
        if trips <= 1 {
            for _ in 0..trips {
                body(self);
            }
            return;
        }
        let counter = self.fb.declare_var(types::I64);
        let init = self.fb.ins().iconst(types::I64, trips as i64);
        self.fb.def_var(counter, init);
        let head = self.fb.create_block();
        let body_block = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(head, &[]);
        self.fb.switch_to_block(head);
        let cur = self.fb.use_var(counter);
        self.fb.ins().brif(cur, body_block, &[], exit, &[]);
        self.fb.switch_to_block(body_block);
        body(self);
        let cur = self.fb.use_var(counter);
        let next = self.fb.ins().iadd_imm_s(cur, -1);
        self.fb.def_var(counter, next);
        self.fb.ins().jump(head, &[]);
        self.fb.switch_to_block(exit);
    }

    /// Loads `lanes` (1..=4) consecutive floats into the low lanes of a
    /// vector, zero in the rest, without touching memory past them.
    fn load_partial(&mut self, base: Value, offset: i64, lanes: usize) -> Value {
        if lanes == LANES {
            return self.load_vec(base, offset);
        }
        let mut v = self.zero_vec();
        for lane in 0..lanes {
            let x = self.load_f32(base, offset + lane as i64 * F32_BYTES);
            v = self.fb.ins().insertlane(v, x, lane as u8);
        }
        v
    }

    /// Stores the low `lanes` (1..=4) lanes of `v`.
    fn store_partial(&mut self, v: Value, base: Value, offset: i64, lanes: usize) {
        if lanes == LANES {
            self.store(v, base, offset);
            return;
        }
        for lane in 0..lanes {
            let x = self.fb.ins().extractlane(v, lane as u8);
            self.store(x, base, offset + lane as i64 * F32_BYTES);
        }
    }

    /// `x > 0 ? x : 0` per lane; matches the `maxps` lowering rule.
    fn relu(&mut self, x: Value) -> Value {
        let zero = self.zero_vec();
        let mask = self.fb.ins().fcmp(FloatCC::LessThan, zero, x);
        let mask = self
            .fb
            .ins()
            .bitcast(types::F32X4, MemFlagsData::new(), mask);
        self.fb.ins().bitselect(mask, x, zero)
    }

    // ----- kernel structure ------------------------------------------------

    fn emit(&mut self) {
        let kb = self.plan.k_blocks;
        let has_epilogue = self.spec.bias || self.spec.activation != Activation::Identity;
        let (a, b) = (self.a, self.b);
        self.emit_k_block(
            a,
            b,
            kb.first,
            StoreMode {
                accumulate: self.spec.accumulate,
                epilogue: kb.count == 1,
            },
        );
        if kb.count < 2 {
            return;
        }
        let a_off = kb.first as i64 * self.a_k_stride();
        let b_off = kb.first as i64 * self.b_k_stride();
        let a_init = self.offset(a, a_off);
        let b_init = self.offset(b, b_off);
        let a_var = self.pointer_var(a_init);
        let b_var = self.pointer_var(b_init);
        let a_step = kb.rest as i64 * self.a_k_stride();
        let b_step = kb.rest as i64 * self.b_k_stride();
        // Blocks after the first accumulate; the last one also applies the
        // epilogue, so it is peeled off the loop when there is one.
        let looped = if has_epilogue {
            kb.count - 2
        } else {
            kb.count - 1
        };
        self.repeat(looped, 1, |g| {
            let (a_kb, b_kb) = (g.fb.use_var(a_var), g.fb.use_var(b_var));
            let mode = StoreMode {
                accumulate: true,
                epilogue: false,
            };
            g.emit_k_block(a_kb, b_kb, kb.rest, mode);
            g.advance(a_var, a_step);
            g.advance(b_var, b_step);
        });
        if has_epilogue {
            let (a_kb, b_kb) = (self.fb.use_var(a_var), self.fb.use_var(b_var));
            let mode = StoreMode {
                accumulate: true,
                epilogue: true,
            };
            self.emit_k_block(a_kb, b_kb, kb.rest, mode);
        }
    }

    /// One K block: pack B, then sweep C in blocks of `mc` rows.
    fn emit_k_block(&mut self, a_kb: Value, b_kb: Value, kc: usize, mode: StoreMode) {
        self.emit_pack_b(b_kb, kc);
        let (c, mc, m) = (self.c, self.plan.mc, self.spec.m);
        let pa_blk = self.pointer_var(a_kb);
        let pc_blk = self.pointer_var(c);
        let a_step = mc as i64 * self.a_row_stride();
        let c_step = mc as i64 * self.c_row_stride();
        self.repeat(m / mc, 1, |g| {
            let (pa, pc) = (g.fb.use_var(pa_blk), g.fb.use_var(pc_blk));
            g.emit_m_block(mc, pa, b_kb, pc, kc, mode);
            g.advance(pa_blk, a_step);
            g.advance(pc_blk, c_step);
        });
        if !m.is_multiple_of(mc) {
            let (pa, pc) = (self.fb.use_var(pa_blk), self.fb.use_var(pc_blk));
            self.emit_m_block(m % mc, pa, b_kb, pc, kc, mode);
        }
    }

    /// `rows` rows of C: for each B panel (kept in L1), every `mr`-row block
    /// of A in turn (A's block stays in L2).
    #[allow(clippy::too_many_arguments)]
    fn emit_m_block(
        &mut self,
        rows: usize,
        pa0: Value,
        b_kb: Value,
        pc0: Value,
        kc: usize,
        mode: StoreMode,
    ) {
        let (ws, bias) = (self.ws, self.bias);
        // Full panels come from the packed block, or straight from B.
        let (first_panel, panel_step, k_stride) = if self.plan.pack_b {
            (ws, self.panel_bytes(kc), self.panel_row_bytes())
        } else {
            (b_kb, self.panel_row_bytes(), self.b_k_stride())
        };
        let pb = self.pointer_var(first_panel);
        let pcol = self.pointer_var(pc0);
        let pbias = self.pointer_var(bias);
        let nr_bytes = self.panel_row_bytes();
        let mr = self.plan.mr;
        let a_step = mr as i64 * self.a_row_stride();
        let c_step = mr as i64 * self.c_row_stride();
        let column_panel = |g: &mut Self, ncols: usize, b: Value, b_k: i64| {
            let (c0, bias) = (g.fb.use_var(pcol), g.fb.use_var(pbias));
            let pa = g.pointer_var(pa0);
            let pc = g.pointer_var(c0);
            let tile = |g: &mut Self, rows: usize| {
                let (a, c) = (g.fb.use_var(pa), g.fb.use_var(pc));
                let ptrs = TilePointers { a, b, c, bias };
                g.emit_micro_kernel(rows, ncols, ptrs, b_k, kc, mode);
            };
            let split = RowSplit::new(rows, mr);
            g.repeat(split.full, 1, |g| {
                tile(g, mr);
                g.advance(pa, a_step);
                g.advance(pc, c_step);
            });
            for (i, &tail) in split.tails.iter().enumerate() {
                if i > 0 {
                    let prev = split.tails[i - 1] as i64;
                    g.advance(pa, prev * g.a_row_stride());
                    g.advance(pc, prev * g.c_row_stride());
                }
                tile(g, tail);
            }
        };
        let nr = self.plan.nr;
        self.repeat(self.plan.n_full_panels, 1, |g| {
            let b = g.fb.use_var(pb);
            column_panel(g, nr, b, k_stride);
            g.advance(pb, panel_step);
            g.advance(pcol, nr_bytes);
            g.advance(pbias, nr_bytes);
        });
        if self.plan.n_tail > 0 {
            // The tail panel is always packed (zero-padded to `nr` columns):
            // after the full panels when packing, at the start otherwise.
            let b = if self.plan.pack_b {
                self.fb.use_var(pb)
            } else {
                ws
            };
            column_panel(self, self.plan.n_tail, b, self.panel_row_bytes());
        }
    }

    /// The register-blocked `mr × ncols` tile (`mr ≤ plan.mr`, `ncols ≤ plan.nr`).
    #[allow(clippy::too_many_arguments)]
    fn emit_micro_kernel(
        &mut self,
        mr: usize,
        ncols: usize,
        ptrs: TilePointers,
        b_k: i64,
        kc: usize,
        mode: StoreMode,
    ) {
        let TilePointers {
            a: pa,
            b: pb,
            c: pc,
            bias: pbias,
        } = ptrs;
        let nv = ncols.div_ceil(LANES);
        let zero = self.zero_vec();
        let acc: Vec<Variable> = (0..mr * nv)
            .map(|_| {
                let v = self.fb.declare_var(types::F32X4);
                self.fb.def_var(v, zero);
                v
            })
            .collect();
        let ka = self.pointer_var(pa);
        let kb = self.pointer_var(pb);
        let unroll = self.plan.k_unroll;
        let a_step = unroll as i64 * self.a_k_stride();
        let b_step = unroll as i64 * b_k;
        self.repeat_top_tested(kc / unroll, |g| {
            let (a, b) = (g.fb.use_var(ka), g.fb.use_var(kb));
            for u in 0..unroll {
                g.emit_k_step(mr, nv, a, b, b_k, u, &acc);
            }
            g.advance(ka, a_step);
            g.advance(kb, b_step);
        });
        let (a, b) = (self.fb.use_var(ka), self.fb.use_var(kb));
        for u in 0..kc % unroll {
            self.emit_k_step(mr, nv, a, b, b_k, u, &acc);
        }

        let c_row = self.c_row_stride();
        for i in 0..mr {
            for v in 0..nv {
                let lanes = (ncols - v * LANES).min(LANES);
                let col_bytes = (v * LANES) as i64 * F32_BYTES;
                let off = i as i64 * c_row + col_bytes;
                let mut x = self.fb.use_var(acc[i * nv + v]);
                if mode.accumulate {
                    let old = self.load_partial(pc, off, lanes);
                    x = self.fb.ins().fadd(x, old);
                }
                if mode.epilogue && self.spec.bias {
                    let bias = self.load_partial(pbias, col_bytes, lanes);
                    x = self.fb.ins().fadd(x, bias);
                }
                if mode.epilogue && self.spec.activation == Activation::Relu {
                    x = self.relu(x);
                }
                self.store_partial(x, pc, off, lanes);
            }
        }
    }

    /// One k step (`u` steps past `a`/`b`) of the micro-kernel: `nv` B
    /// vectors (rows `b_k` bytes apart), `mr·nv` broadcasts of A and fused
    /// multiply-adds.
    #[allow(clippy::too_many_arguments)]
    fn emit_k_step(
        &mut self,
        mr: usize,
        nv: usize,
        a: Value,
        b: Value,
        b_k: i64,
        u: usize,
        acc: &[Variable],
    ) {
        let b_row = u as i64 * b_k;
        let bv: Vec<Value> = (0..nv)
            .map(|v| self.load_vec(b, b_row + (v * LANES) as i64 * F32_BYTES))
            .collect();
        let a_k = u as i64 * self.a_k_stride();
        let mut order: Vec<(usize, usize)> =
            (0..mr).flat_map(|i| (0..nv).map(move |v| (i, v))).collect();
        if self.plan.serpentine && u % 2 == 1 {
            order.reverse();
        }
        let mut shared: Option<(usize, Value)> = None;
        for (i, v) in order {
            let splat = match shared {
                Some((row, s)) if row == i => s,
                _ => {
                    let a_off = i as i64 * self.a_row_stride() + a_k;
                    let s = self.load_f32(a, a_off);
                    let s = self.fb.ins().splat(types::F32X4, s);
                    if !self.plan.broadcast_per_fma {
                        shared = Some((i, s));
                    }
                    s
                }
            };
            let var = acc[i * nv + v];
            let sum = self.fb.use_var(var);
            let next = if self.has_fma {
                self.fb.ins().fma(splat, bv[v], sum)
            } else {
                let product = self.fb.ins().fmul(splat, bv[v]);
                self.fb.ins().fadd(product, sum)
            };
            self.fb.def_var(var, next);
        }
    }

    // ----- packing ---------------------------------------------------------

    /// Packs `op(B)[k0..k0+kc, :]` (starting at `b_kb`) into scratch as
    /// panels `[p][k][0..8]`, zero-padding columns past N.
    fn emit_pack_b(&mut self, b_kb: Value, kc: usize) {
        match (self.spec.trans_b, self.plan.pack_b) {
            (Transpose::No, true) => self.emit_pack_b_rows(b_kb, kc),
            (Transpose::No, false) => self.emit_pack_b_tail_only(b_kb, kc),
            (Transpose::Yes, _) => self.emit_pack_b_cols(b_kb, kc),
        }
    }

    /// Direct-B mode (B stored `K×N`, read in place): only the partial last
    /// panel is copied, zero-padded, to the start of scratch.
    fn emit_pack_b_tail_only(&mut self, b_kb: Value, kc: usize) {
        let n_tail = self.plan.n_tail;
        if n_tail == 0 {
            return;
        }
        let tail_col = (self.plan.n_full_panels * self.plan.nr) as i64 * F32_BYTES;
        let src0 = self.offset(b_kb, tail_col);
        let ws = self.ws;
        let src = self.pointer_var(src0);
        let dst = self.pointer_var(ws);
        let (b_k, row_bytes) = (self.b_k_stride(), self.panel_row_bytes());
        self.repeat(kc, 1, |g| {
            let (s, d) = (g.fb.use_var(src), g.fb.use_var(dst));
            g.emit_pack_tail_row(s, F32_BYTES, n_tail, d);
            g.advance(src, b_k);
            g.advance(dst, row_bytes);
        });
    }

    /// B stored `K×N`: each k row of a panel is 8 contiguous floats.
    fn emit_pack_b_rows(&mut self, b_kb: Value, kc: usize) {
        let ws = self.ws;
        let src_row = self.pointer_var(b_kb);
        let dst_row = self.pointer_var(ws);
        let b_k = self.b_k_stride();
        let panel = self.panel_bytes(kc);
        let n_full = self.plan.n_full_panels;
        let n_tail = self.plan.n_tail;
        let vec_bytes = LANES as i64 * F32_BYTES;
        let row_bytes = self.panel_row_bytes();
        let nv = self.plan.nr / LANES;
        self.repeat(kc, 1, |g| {
            let (s, d) = (g.fb.use_var(src_row), g.fb.use_var(dst_row));
            let sp = g.pointer_var(s);
            let dp = g.pointer_var(d);
            g.repeat(n_full, 4, |g| {
                let (s, d) = (g.fb.use_var(sp), g.fb.use_var(dp));
                for v in 0..nv as i64 {
                    let x = g.load_vec(s, v * vec_bytes);
                    g.store(x, d, v * vec_bytes);
                }
                g.advance(sp, row_bytes);
                g.advance(dp, panel);
            });
            if n_tail > 0 {
                let (s, d) = (g.fb.use_var(sp), g.fb.use_var(dp));
                g.emit_pack_tail_row(s, F32_BYTES, n_tail, d);
            }
            g.advance(src_row, b_k);
            g.advance(dst_row, row_bytes);
        });
    }

    /// B stored `N×K`: every packed row gathers one element from each of
    /// `nr` source rows. Full panels move 4×4 blocks with vector loads, an
    /// in-register transpose and vector stores; the K remainder and the
    /// partial last panel go element by element.
    fn emit_pack_b_cols(&mut self, b_kb: Value, kc: usize) {
        let ws = self.ws;
        let src_panel = self.pointer_var(b_kb);
        let dst_panel = self.pointer_var(ws);
        let col = self.b_col_stride();
        let panel = self.panel_bytes(kc);
        let n_full = self.plan.n_full_panels;
        let n_tail = self.plan.n_tail;
        let (nr, row_bytes) = (self.plan.nr, self.panel_row_bytes());
        let vec_bytes = LANES as i64 * F32_BYTES;
        let emit_panel = |g: &mut Self, width: usize| {
            let (s, d) = (g.fb.use_var(src_panel), g.fb.use_var(dst_panel));
            let sp = g.pointer_var(s);
            let dp = g.pointer_var(d);
            let vector_steps = if width == nr { kc / LANES } else { 0 };
            g.repeat(vector_steps, 1, |g| {
                let (s, d) = (g.fb.use_var(sp), g.fb.use_var(dp));
                for group in 0..(nr / LANES) as i64 {
                    let rows: Vec<Value> = (0..LANES as i64)
                        .map(|t| g.load_vec(s, (group * LANES as i64 + t) * col))
                        .collect();
                    let cols = g.transpose4([rows[0], rows[1], rows[2], rows[3]]);
                    for (u, c) in cols.into_iter().enumerate() {
                        g.store(c, d, u as i64 * row_bytes + group * vec_bytes);
                    }
                }
                g.advance(sp, vec_bytes);
                g.advance(dp, LANES as i64 * row_bytes);
            });
            g.repeat(kc - vector_steps * LANES, 1, |g| {
                let (s, d) = (g.fb.use_var(sp), g.fb.use_var(dp));
                g.emit_pack_tail_row(s, col, width, d);
                g.advance(sp, F32_BYTES);
                g.advance(dp, row_bytes);
            });
        };
        self.repeat(n_full, 1, |g| {
            emit_panel(g, nr);
            g.advance(src_panel, nr as i64 * col);
            g.advance(dst_panel, panel);
        });
        if n_tail > 0 {
            emit_panel(self, n_tail);
        }
    }

    /// Transposes a 4×4 block held as four row vectors (unpcklps/unpckhps
    /// then unpcklpd/unpckhpd on x86-64).
    fn transpose4(&mut self, r: [Value; 4]) -> [Value; 4] {
        // Byte-shuffle masks over the 32 bytes of (a, b).
        const LO32: [u8; 16] = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
        const HI32: [u8; 16] = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
        const LO64: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
        const HI64: [u8; 16] = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
        let t0 = self.shuffle(r[0], r[1], LO32);
        let t1 = self.shuffle(r[0], r[1], HI32);
        let t2 = self.shuffle(r[2], r[3], LO32);
        let t3 = self.shuffle(r[2], r[3], HI32);
        [
            self.shuffle(t0, t2, LO64),
            self.shuffle(t0, t2, HI64),
            self.shuffle(t1, t3, LO64),
            self.shuffle(t1, t3, HI64),
        ]
    }

    /// `shuffle` on f32x4 values (Cranelift shuffles are defined on i8x16).
    fn shuffle(&mut self, a: Value, b: Value, mask: [u8; 16]) -> Value {
        let flags = MemFlagsData::new().with_endianness(Endianness::Little);
        let a = self.fb.ins().bitcast(types::I8X16, flags, a);
        let b = self.fb.ins().bitcast(types::I8X16, flags, b);
        let mask = self.fb.func.dfg.immediates.push(mask.to_vec().into());
        let x = self.fb.ins().shuffle(a, b, mask);
        self.fb.ins().bitcast(types::F32X4, flags, x)
    }

    /// Writes one packed row of `nr` floats at `dst`: `width` values read at
    /// `src + j·stride`, then zeros.
    fn emit_pack_tail_row(&mut self, src: Value, stride: i64, width: usize, dst: Value) {
        let mut zero = None;
        for j in 0..self.plan.nr {
            let x = if j < width {
                self.load_f32(src, j as i64 * stride)
            } else {
                *zero.get_or_insert_with(|| self.fb.ins().f32const(0.0))
            };
            self.store(x, dst, j as i64 * F32_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RowSplit;

    #[test]
    fn row_split_covers_rows_and_avoids_tiny_tails() {
        for mr in 1..=8 {
            for rows in 1..=60 {
                let s = RowSplit::new(rows, mr);
                assert_eq!(s.full * mr + s.tails.iter().sum::<usize>(), rows);
                assert!(
                    s.tails.iter().all(|&t| t >= 1 && t <= mr),
                    "{rows} {mr} {s:?}"
                );
                if rows >= mr {
                    assert!(s.tails.iter().all(|&t| 2 * t >= mr), "{rows} {mr} {s:?}");
                }
            }
        }
        assert_eq!(
            RowSplit::new(16, 5),
            RowSplit {
                full: 2,
                tails: vec![3, 3]
            }
        );
        assert_eq!(
            RowSplit::new(64, 5),
            RowSplit {
                full: 12,
                tails: vec![4]
            }
        );
    }
}
