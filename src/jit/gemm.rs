//! Generated single-precision matrix products for dense layers:
//! `C (M×N) ← act([C +] op(A)·op(B) [+ bias row])`, every size a compile-time constant.
//!
//! Code shape: B is first packed into 8-column panels (`[K][8]` each, the last one
//! zero-padded) in the caller's scratch buffer, so the inner loop reads B contiguously
//! whatever the layout. Then, per K block (cache blocking for large K), per panel, per 4-row
//! tile: a 4×8 register micro-tile of eight f32x4 accumulators updated with `fma` of a
//! broadcast A element by two B vectors, the K loop unrolled. Row tails (M mod 4) get a
//! narrower tile; the padded last panel stores only its valid columns.

use cranelift::codegen::ir::{self, InstBuilder, types};
use cranelift::frontend::{FunctionBuilder, Variable};

use super::codegen::{buf_flags, counted_loop, offset, relu_f32, relu_x4, zero_x4};
use super::error::JitError;
use super::module::{CompiledKernel, F32_BYTES, JitModule, KernelArg, ParamSpec};

/// Which operands are transposed; names follow BLAS (`N` = as stored, `T` = transposed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmOp {
    /// `C = A·Bᵀ`, A stored `[M, K]`, B stored `[N, K]` (dense forward `y = x·Wᵀ`).
    Nt,
    /// `C = A·B`, A stored `[M, K]`, B stored `[K, N]` (dense input gradient `dx = dy·W`).
    Nn,
    /// `C = Aᵀ·B`, A stored `[K, M]`, B stored `[K, N]` (weight gradient `dW = dyᵀ·x`).
    Tn,
}

/// A matrix product to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmSpec {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Operand layouts.
    pub op: GemmOp,
    /// Add a bias row (length N) to every row of C.
    pub bias: bool,
    /// Apply ReLU (`x > 0 ? x : 0`) to the result.
    pub relu: bool,
    /// Add to the existing C instead of overwriting it.
    pub accumulate: bool,
}

/// Rows of the register micro-tile.
const MR: usize = 4;
/// Columns of the register micro-tile (two f32x4).
const NR: usize = 8;
/// K steps per iteration of the inner loop.
const UNROLL: usize = 4;
/// Largest K handled in one block; larger K is split into near-equal blocks so a packed
/// panel block (`kc × 8` floats) and an A block stay in L1/L2.
const KC_MAX: usize = 384;
/// Block length aimed at when K is split.
const KC_TARGET: usize = 256;
/// Largest element count of any operand: byte offsets must fit Cranelift's 32-bit offsets.
const MAX_ELEMS: usize = 1 << 29;

impl GemmSpec {
    /// Elements of the stored A.
    pub fn a_len(&self) -> usize {
        self.m * self.k
    }
    /// Elements of the stored B.
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }
    /// Elements of C.
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }
    /// Elements of the scratch buffer the caller provides (packed B panels).
    pub fn scratch_len(&self) -> usize {
        self.k * self.n.div_ceil(NR) * NR
    }
    /// Floating-point operations of one call (2·M·N·K).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    fn name(&self) -> String {
        format!(
            "gemm_{:?}_{}x{}x{}{}{}{}",
            self.op,
            self.m,
            self.n,
            self.k,
            if self.bias { "_bias" } else { "" },
            if self.relu { "_relu" } else { "" },
            if self.accumulate { "_acc" } else { "" }
        )
        .to_lowercase()
    }

    fn validate(&self) -> Result<(), JitError> {
        let bad = |reason: String| JitError::InvalidShape {
            kernel: self.name(),
            reason,
        };
        if self.m == 0 || self.n == 0 || self.k == 0 {
            return Err(bad(format!(
                "M, N, K must be ≥ 1 (got {}, {}, {})",
                self.m, self.n, self.k
            )));
        }
        for (what, len) in [
            ("A", self.m.checked_mul(self.k)),
            ("B", self.k.checked_mul(self.n)),
            ("C", self.m.checked_mul(self.n)),
            ("scratch", self.k.checked_mul(self.n.div_ceil(NR) * NR)),
        ] {
            match len {
                Some(l) if l < MAX_ELEMS => {}
                _ => return Err(bad(format!("{what} would exceed {MAX_ELEMS} elements"))),
            }
        }
        Ok(())
    }

    /// Element strides (row i, step k) of A as the kernel reads it.
    fn a_strides(&self) -> (usize, usize) {
        match self.op {
            GemmOp::Nt | GemmOp::Nn => (self.k, 1),
            GemmOp::Tn => (1, self.m),
        }
    }

    /// K blocks as (start, length).
    fn k_blocks(&self) -> Vec<(usize, usize)> {
        let blocks = if self.k <= KC_MAX {
            1
        } else {
            self.k.div_ceil(KC_TARGET)
        };
        let base = self.k / blocks;
        let extra = self.k % blocks;
        let mut out = Vec::with_capacity(blocks);
        let mut start = 0;
        for i in 0..blocks {
            let len = base + usize::from(i < extra);
            out.push((start, len));
            start += len;
        }
        out
    }
}

/// A compiled matrix product.
#[derive(Clone, Debug)]
pub struct GemmKernel {
    spec: GemmSpec,
    kernel: CompiledKernel,
}

impl GemmKernel {
    /// Generates and compiles the kernel for `spec`.
    pub fn compile(jit: &mut JitModule, spec: GemmSpec) -> Result<Self, JitError> {
        spec.validate()?;
        let mut params = vec![
            ParamSpec::read("a", spec.a_len()),
            ParamSpec::read("b", spec.b_len()),
        ];
        if spec.bias {
            params.push(ParamSpec::read("bias", spec.n));
        }
        params.push(ParamSpec::write("c", spec.c_len()));
        params.push(ParamSpec::write("scratch", spec.scratch_len()));
        let kernel = jit.compile(&spec.name(), params, |b, bases| {
            let (a, bm) = (bases[0], bases[1]);
            let (bias, rest) = if spec.bias {
                (Some(bases[2]), &bases[3..])
            } else {
                (None, &bases[2..])
            };
            let ptrs = Ptrs {
                a,
                bias,
                c: rest[0],
                packed: rest[1],
            };
            emit_pack(b, &spec, bm, ptrs.packed)?;
            emit_product(b, &spec, &ptrs)
        })?;
        Ok(Self { spec, kernel })
    }

    /// The spec this kernel was generated for.
    pub fn spec(&self) -> &GemmSpec {
        &self.spec
    }

    /// Runs the product. `bias` must be given exactly when the spec has one; every slice
    /// must have the length the spec implies (`a_len`, `b_len`, `n`, `c_len`, `scratch_len`).
    pub fn run(
        &self,
        a: &[f32],
        b: &[f32],
        bias: Option<&[f32]>,
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), JitError> {
        let mut args = vec![KernelArg::Read(a), KernelArg::Read(b)];
        match (self.spec.bias, bias) {
            (true, Some(bias)) => args.push(KernelArg::Read(bias)),
            (false, None) => {}
            (want, _) => {
                return Err(JitError::Argument {
                    kernel: self.kernel.name().to_string(),
                    param: "bias".to_string(),
                    problem: if want {
                        "is required by this kernel but was not passed".to_string()
                    } else {
                        "was passed but this kernel has no bias".to_string()
                    },
                });
            }
        }
        args.push(KernelArg::Write(c));
        args.push(KernelArg::Write(scratch));
        self.kernel.call(&mut args)
    }
}

/// Base pointers of the generated function.
struct Ptrs {
    a: ir::Value,
    bias: Option<ir::Value>,
    c: ir::Value,
    packed: ir::Value,
}

/// Copies B into `[panel][k][8]` order, zero-padding the last panel's missing columns.
fn emit_pack(
    b: &mut FunctionBuilder<'_>,
    spec: &GemmSpec,
    src: ir::Value,
    dst: ir::Value,
) -> Result<(), JitError> {
    let (n, k) = (spec.n, spec.k);
    let full = n / NR;
    let rem = n % NR;
    let f = buf_flags();
    let panel_bytes = (k * NR) as i64 * F32_BYTES;
    // Element (k, j) of op(B) lives at src[k*ks + j*js].
    let (ks, js) = match spec.op {
        GemmOp::Nt => (1, k),
        GemmOp::Nn | GemmOp::Tn => (n, 1),
    };
    let copy_panel =
        |b: &mut FunctionBuilder<'_>, panel: ir::Value, cols: usize| -> Result<(), JitError> {
            let sp = offset(b, src, panel, (NR * js) as i64 * F32_BYTES);
            let dp = offset(b, dst, panel, panel_bytes);
            counted_loop(b, k, |b, kk| {
                let s = offset(b, sp, kk, ks as i64 * F32_BYTES);
                let d = offset(b, dp, kk, NR as i64 * F32_BYTES);
                if js == 1 && cols == NR {
                    for h in 0..2 {
                        let off = h * 16;
                        let v = b.ins().load(types::F32X4, f, s, off);
                        b.ins().store(f, v, d, off);
                    }
                } else {
                    for jj in 0..NR {
                        let v = if jj < cols {
                            b.ins().load(types::F32, f, s, (jj * js) as i32 * 4)
                        } else {
                            b.ins().f32const(0.0)
                        };
                        b.ins().store(f, v, d, jj as i32 * 4);
                    }
                }
                Ok(())
            })
        };
    counted_loop(b, full, |b, p| copy_panel(b, p, NR))?;
    if rem > 0 {
        let p = b.ins().iconst(types::I64, full as i64);
        copy_panel(b, p, rem)?;
    }
    Ok(())
}

/// The blocked product over the packed panels.
fn emit_product(b: &mut FunctionBuilder<'_>, spec: &GemmSpec, ptrs: &Ptrs) -> Result<(), JitError> {
    let blocks = spec.k_blocks();
    let nblocks = blocks.len();
    let full = spec.n / NR;
    let rem = spec.n % NR;
    for (bi, &(k0, kc)) in blocks.iter().enumerate() {
        let block = Block {
            k0,
            kc,
            load_c: bi > 0 || spec.accumulate,
            epilogue: bi + 1 == nblocks,
        };
        counted_loop(b, full, |b, p| emit_panel(b, spec, ptrs, &block, p, NR))?;
        if rem > 0 {
            let p = b.ins().iconst(types::I64, full as i64);
            emit_panel(b, spec, ptrs, &block, p, rem)?;
        }
    }
    Ok(())
}

/// One K block of the product.
struct Block {
    k0: usize,
    kc: usize,
    /// Add the existing C (accumulating, or a later K block).
    load_c: bool,
    /// Last block: add the bias and apply the activation.
    epilogue: bool,
}

/// All row tiles of one panel (8 columns, `cols` of them valid).
fn emit_panel(
    b: &mut FunctionBuilder<'_>,
    spec: &GemmSpec,
    ptrs: &Ptrs,
    block: &Block,
    panel: ir::Value,
    cols: usize,
) -> Result<(), JitError> {
    let (sa_i, sa_k) = spec.a_strides();
    let packed = offset(b, ptrs.packed, panel, (spec.k * NR) as i64 * F32_BYTES);
    let bp = b
        .ins()
        .iadd_imm_s(packed, (block.k0 * NR) as i64 * F32_BYTES);
    let cp = offset(b, ptrs.c, panel, NR as i64 * F32_BYTES);
    let biasp = ptrs
        .bias
        .map(|bias| offset(b, bias, panel, NR as i64 * F32_BYTES));
    let a0 = b
        .ins()
        .iadd_imm_s(ptrs.a, (block.k0 * sa_k) as i64 * F32_BYTES);
    let tiles = spec.m / MR;
    let tile = |b: &mut FunctionBuilder<'_>, t: ir::Value, rows: usize| -> Result<(), JitError> {
        let ap = offset(b, a0, t, (MR * sa_i) as i64 * F32_BYTES);
        let ct = offset(b, cp, t, (MR * spec.n) as i64 * F32_BYTES);
        let tile = Tile {
            rows,
            cols,
            a: ap,
            b: bp,
            c: ct,
            bias: biasp,
        };
        emit_tile(b, spec, block, &tile)
    };
    counted_loop(b, tiles, |b, t| tile(b, t, MR))?;
    if !spec.m.is_multiple_of(MR) {
        let t = b.ins().iconst(types::I64, tiles as i64);
        tile(b, t, spec.m % MR)?;
    }
    Ok(())
}

/// One register tile: `rows × 8` accumulators, `cols` valid columns.
struct Tile {
    rows: usize,
    cols: usize,
    a: ir::Value,
    b: ir::Value,
    c: ir::Value,
    bias: Option<ir::Value>,
}

fn emit_tile(
    b: &mut FunctionBuilder<'_>,
    spec: &GemmSpec,
    block: &Block,
    tile: &Tile,
) -> Result<(), JitError> {
    let (sa_i, sa_k) = spec.a_strides();
    let f = buf_flags();
    let zero = zero_x4(b);
    let acc: Vec<[Variable; 2]> = (0..tile.rows)
        .map(|_| {
            let v = [b.declare_var(types::F32X4), b.declare_var(types::F32X4)];
            b.def_var(v[0], zero);
            b.def_var(v[1], zero);
            v
        })
        .collect();
    let ap = b.declare_var(types::I64);
    let bp = b.declare_var(types::I64);
    b.def_var(ap, tile.a);
    b.def_var(bp, tile.b);
    // One K step at byte offsets (`a_off` into A rows, `b_off` into the panel).
    let step = |b: &mut FunctionBuilder<'_>, a: ir::Value, bv: ir::Value, u: usize| {
        let b_off = (u * NR) as i32 * 4;
        let b0 = b.ins().load(types::F32X4, f, bv, b_off);
        let b1 = b.ins().load(types::F32X4, f, bv, b_off + 16);
        for (r, accs) in acc.iter().enumerate() {
            let a_off = (r * sa_i + u * sa_k) as i32 * 4;
            for (h, bh) in [b0, b1].into_iter().enumerate() {
                // One broadcast per FMA: x64's FMA overwrites its first multiplicand, so a
                // broadcast used twice would cost a register copy.
                let s = b.ins().load(types::F32, f, a, a_off);
                let s = b.ins().splat(types::F32X4, s);
                let cur = b.use_var(accs[h]);
                let next = b.ins().fma(s, bh, cur);
                b.def_var(accs[h], next);
            }
        }
    };
    counted_loop(b, block.kc / UNROLL, |b, _| {
        let a = b.use_var(ap);
        let bv = b.use_var(bp);
        for u in 0..UNROLL {
            step(b, a, bv, u);
        }
        let a_next = b.ins().iadd_imm_s(a, (UNROLL * sa_k) as i64 * F32_BYTES);
        let b_next = b.ins().iadd_imm_s(bv, (UNROLL * NR) as i64 * F32_BYTES);
        b.def_var(ap, a_next);
        b.def_var(bp, b_next);
        Ok(())
    })?;
    let a = b.use_var(ap);
    let bv = b.use_var(bp);
    for u in 0..block.kc % UNROLL {
        step(b, a, bv, u);
    }
    // Epilogue: C (+ existing C) (+ bias) (ReLU), valid columns only.
    for (r, accs) in acc.iter().enumerate() {
        for (h, var) in accs.iter().enumerate() {
            let lanes = tile.cols.saturating_sub(h * 4).min(4);
            if lanes == 0 {
                continue;
            }
            let c_off = (r * spec.n + h * 4) as i32 * 4;
            let bias_off = (h * 4) as i32 * 4;
            let mut v = b.use_var(*var);
            if lanes == 4 {
                if block.load_c {
                    let old = b.ins().load(types::F32X4, f, tile.c, c_off);
                    v = b.ins().fadd(v, old);
                }
                if block.epilogue {
                    if let Some(bias) = tile.bias {
                        let bv = b.ins().load(types::F32X4, f, bias, bias_off);
                        v = b.ins().fadd(v, bv);
                    }
                    if spec.relu {
                        v = relu_x4(b, v);
                    }
                }
                b.ins().store(f, v, tile.c, c_off);
            } else {
                for l in 0..lanes {
                    let lane_off = l as i32 * 4;
                    let mut s = b.ins().extractlane(v, l as u8);
                    if block.load_c {
                        let old = b.ins().load(types::F32, f, tile.c, c_off + lane_off);
                        s = b.ins().fadd(s, old);
                    }
                    if block.epilogue {
                        if let Some(bias) = tile.bias {
                            let bv = b.ins().load(types::F32, f, bias, bias_off + lane_off);
                            s = b.ins().fadd(s, bv);
                        }
                        if spec.relu {
                            s = relu_f32(b, s);
                        }
                    }
                    b.ins().store(f, s, tile.c, c_off + lane_off);
                }
            }
        }
    }
    Ok(())
}
