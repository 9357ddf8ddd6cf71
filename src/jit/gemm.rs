//! Shape-specialised single-precision GEMM: C (M×N) = op(A)·op(B), optionally added to C.
//!
//! Design: the operands are packed (and transposed when asked) into zero-padded scratch
//! panels, A as [Mp×K] and B as [K×Np] with Mp a multiple of 4 and Np of 8, so one
//! generated micro-kernel with no tail paths covers every shape. The kernel walks 4×8 tiles
//! of C held in eight `f32x4` registers, broadcasting one A value per row and issuing `fma`
//! against two B vectors per k, with the k loop unrolled by 4. All sizes are constants in the
//! generated code. Packing costs O(MK + KN) against the O(MNK) product.

use cranelift::prelude::*;

use super::JitError;
use super::module::{JitModule, emit_loop};

/// Rows and columns of the register tile.
const TILE_M: usize = 4;
const TILE_N: usize = 8;
/// Unrolling of the k loop.
const UNROLL: usize = 4;

/// A compiled GEMM for one shape and layout.
pub struct Gemm {
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    mp: usize,
    np: usize,
    ap: Vec<f32>,
    bp: Vec<f32>,
    cp: Vec<f32>,
    kernel: unsafe extern "C" fn(*const f32, *const f32, *mut f32),
    // Owns the code `kernel` points into; declared last so it is dropped last.
    _module: JitModule,
}

impl std::fmt::Debug for Gemm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Gemm({}x{}x{}, trans_a={}, trans_b={})",
            self.m, self.k, self.n, self.trans_a, self.trans_b
        )
    }
}

impl Gemm {
    /// Compiles C (m×n) = op(A)·op(B) where op(A) is m×k and op(B) is k×n. With `trans_a`,
    /// A is stored k×m; with `trans_b`, B is stored n×k (e.g. a dense layer's [out, in]
    /// weights for y = x·Wᵀ).
    pub fn new(
        m: usize,
        k: usize,
        n: usize,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<Gemm, JitError> {
        if m == 0 || k == 0 || n == 0 {
            return Err(JitError::Shape(format!(
                "gemm {m}x{k}x{n} has an empty dimension"
            )));
        }
        let mp = m.div_ceil(TILE_M) * TILE_M;
        let np = n.div_ceil(TILE_N) * TILE_N;
        let mut module = JitModule::new()?;
        let id = module.define("gemm", 3, |b, args, ptr| {
            micro_kernel(b, args, ptr, mp, k, np)
        })?;
        module.finalize()?;
        let addr = module.address(id);
        // SAFETY: `addr` is the entry of the function just defined with three pointer
        // parameters and no result, finalised above and kept alive by `_module`.
        let kernel = unsafe {
            std::mem::transmute::<*const u8, unsafe extern "C" fn(*const f32, *const f32, *mut f32)>(
                addr,
            )
        };
        Ok(Gemm {
            m,
            k,
            n,
            trans_a,
            trans_b,
            mp,
            np,
            ap: vec![0.0; mp * k],
            bp: vec![0.0; k * np],
            cp: vec![0.0; mp * np],
            kernel,
            _module: module,
        })
    }

    /// C = op(A)·op(B), or C += op(A)·op(B) with `accumulate`. Slice lengths must match the
    /// compiled shape exactly.
    pub fn run(
        &mut self,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        accumulate: bool,
    ) -> Result<(), JitError> {
        let (m, k, n) = (self.m, self.k, self.n);
        if a.len() != m * k || b.len() != k * n || c.len() != m * n {
            return Err(JitError::Shape(format!(
                "gemm {m}x{k}x{n}: got slices of {}, {} and {} values, expected {}, {} and {}",
                a.len(),
                b.len(),
                c.len(),
                m * k,
                k * n,
                m * n
            )));
        }
        for i in 0..m {
            let row = &mut self.ap[i * k..(i + 1) * k];
            if self.trans_a {
                for (kk, v) in row.iter_mut().enumerate() {
                    *v = a[kk * m + i];
                }
            } else {
                row.copy_from_slice(&a[i * k..(i + 1) * k]);
            }
        }
        for kk in 0..k {
            let row = &mut self.bp[kk * self.np..kk * self.np + n];
            if self.trans_b {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = b[j * k + kk];
                }
            } else {
                row.copy_from_slice(&b[kk * n..(kk + 1) * n]);
            }
        }
        // SAFETY: the kernel reads mp·k values from `ap`, k·np from `bp` and writes mp·np to
        // `cp`; the three buffers were allocated with exactly those lengths for this shape
        // (padding rows/columns are zero and never read back).
        unsafe { (self.kernel)(self.ap.as_ptr(), self.bp.as_ptr(), self.cp.as_mut_ptr()) };
        let _ = self.mp;
        for i in 0..m {
            let src = &self.cp[i * self.np..i * self.np + n];
            let dst = &mut c[i * n..(i + 1) * n];
            if accumulate {
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            } else {
                dst.copy_from_slice(src);
            }
        }
        Ok(())
    }
}

/// Emits the packed micro-kernel: Cp[mp×np] = Ap[mp×k]·Bp[k×np].
fn micro_kernel(
    b: &mut FunctionBuilder,
    args: &[Value],
    ptr: Type,
    mp: usize,
    k: usize,
    np: usize,
) {
    let (a_ptr, b_ptr, c_ptr) = (args[0], args[1], args[2]);
    let flags = MemFlagsData::trusted();
    let f4 = types::F32X4;
    let (k_i, np_i) = (k as i64, np as i64);
    emit_loop(b, ptr, 0, mp as i64, TILE_M as i64, &mut |b, i0| {
        let a_rows = {
            let off = b.ins().imul_imm_s(i0, k_i * 4);
            b.ins().iadd(a_ptr, off)
        };
        let c_rows = {
            let off = b.ins().imul_imm_s(i0, np_i * 4);
            b.ins().iadd(c_ptr, off)
        };
        emit_loop(b, ptr, 0, np_i, TILE_N as i64, &mut |b, j0| {
            let zero = b.ins().f32const(0.0);
            let zero4 = b.ins().splat(f4, zero);
            let acc: Vec<Variable> = (0..TILE_M * 2).map(|_| b.declare_var(f4)).collect();
            for v in &acc {
                b.def_var(*v, zero4);
            }
            let b_cols = {
                let off = b.ins().imul_imm_s(j0, 4);
                b.ins().iadd(b_ptr, off)
            };
            // One k step at compile-time offset `u` from the loop counter's address.
            let step = |b: &mut FunctionBuilder, kk: Value, u: i64| {
                let b_row = {
                    let off = b.ins().imul_imm_s(kk, np_i * 4);
                    b.ins().iadd(b_cols, off)
                };
                let b0 = b.ins().load(f4, flags, b_row, (u * np_i * 4) as i32);
                let b1 = b.ins().load(f4, flags, b_row, (u * np_i * 4 + 16) as i32);
                let a_col = {
                    let off = b.ins().imul_imm_s(kk, 4);
                    b.ins().iadd(a_rows, off)
                };
                for r in 0..TILE_M {
                    let av =
                        b.ins()
                            .load(types::F32, flags, a_col, ((r as i64 * k_i + u) * 4) as i32);
                    let sa = b.ins().splat(f4, av);
                    for (h, bv) in [b0, b1].into_iter().enumerate() {
                        let var = acc[r * 2 + h];
                        let cur = b.use_var(var);
                        let next = b.ins().fma(sa, bv, cur);
                        b.def_var(var, next);
                    }
                }
            };
            let main = (k / UNROLL * UNROLL) as i64;
            emit_loop(b, ptr, 0, main, UNROLL as i64, &mut |b, kk| {
                for u in 0..UNROLL as i64 {
                    step(b, kk, u);
                }
            });
            emit_loop(b, ptr, main, k_i, 1, &mut |b, kk| step(b, kk, 0));
            let c_tile = {
                let off = b.ins().imul_imm_s(j0, 4);
                b.ins().iadd(c_rows, off)
            };
            for r in 0..TILE_M {
                for h in 0..2 {
                    let v = b.use_var(acc[r * 2 + h]);
                    b.ins().store(
                        flags,
                        v,
                        c_tile,
                        ((r as i64 * np_i + h as i64 * 4) * 4) as i32,
                    );
                }
            }
        });
    });
}
