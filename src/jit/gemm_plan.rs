//! Compile-time blocking decisions for a GEMM kernel: register tile, cache
//! blocking over K, panel counts and tails. Everything here is a constant
//! baked into the generated code.

use super::error::JitError;
use super::gemm::{GemmSpec, Transpose};

/// f32 lanes per SIMD vector (Cranelift's x64 backend lowers 128-bit vectors).
pub(crate) const LANES: usize = 4;

/// Tunable generator parameters. The defaults are the measured best on the
/// development machine (see `docs/jit.md`); they are public so benchmarks can
/// explore alternatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmTuning {
    /// Rows of C held in registers by the micro-kernel (1..=8).
    pub mr: usize,
    /// Columns of C held in registers by the micro-kernel, a multiple of 4
    /// (4..=16); also the width of a packed B panel. `mr·nr/4` accumulators
    /// plus `nr/4` B vectors must fit the 16 xmm registers.
    pub nr: usize,
    /// Broadcast A once per fused multiply-add instead of once per row.
    /// Cranelift's x64 `fma` writes its result over its first multiplicand,
    /// so a broadcast shared by the `nr/4` FMAs of a row costs a register
    /// copy per extra use and cannot fold its load (two loads + a shuffle);
    /// a private one folds into one `vbroadcastss xmm, [mem]` and dies in
    /// its FMA. Private broadcasts issue fewer instructions but more loads;
    /// on Zen 4 the loads are the tighter limit, so the default is `false`.
    pub broadcast_per_fma: bool,
    /// Visit the accumulators in reverse order on every other k step.
    /// Because `fma` writes its result into the broadcast's register, each
    /// pass over the accumulators shifts them by one register; a reversed
    /// pass shifts them back, so the loop's back edge needs no register
    /// shuffle (with an even unroll factor).
    pub serpentine: bool,
    /// Rows of C per M block: for each B panel the generated code runs down
    /// `mc` rows before moving to the next panel (BLIS order: one B panel of
    /// `kc × nr` stays in L1, the A block of `mc × kc` in L2). Rounded down
    /// to a multiple of `mr`. The default, 1 (= `mr`), gives row-outer order
    /// instead: an `mr × kc` sliver of A stays in L1 while the K block of B
    /// streams from L2; with the 5×8 tile this measured fastest for every
    /// benchmarked shape (e.g. 55 vs 52 GFLOP/s at 256³ with `mc = 95`).
    pub mc: usize,
    /// When B is stored `K×N` (not transposed), pack it only if `M` is at
    /// least this; below it the micro-kernel reads B in place (its rows are
    /// already contiguous). Transposed B is always packed. The default,
    /// `usize::MAX`, never packs untransposed B: on the development machine
    /// reading in place was as fast or faster for every measured shape
    /// (packing costs a pass over B per K block and the in-place panel of
    /// `kc` rows still fits in L1).
    pub pack_b_min_m: usize,
    /// Upper bound on the K extent of one cache block. The packed B block
    /// (`kc × round_up(N, nr)` floats) and an `mr`-row sliver of A (`mr × kc`) are
    /// sized from this.
    pub kc_max: usize,
    /// Upper bound on the packed B block in bytes; `kc` is reduced further so
    /// that `kc × round_up(N, nr) × 4` stays below it (keeps the block in L2).
    pub packed_b_max_bytes: usize,
    /// How many k steps the micro-kernel's inner loop is unrolled by.
    pub k_unroll: usize,
}

impl Default for GemmTuning {
    fn default() -> Self {
        GemmTuning {
            mr: 5,
            nr: 8,
            broadcast_per_fma: false,
            serpentine: true,
            mc: 1,
            pack_b_min_m: usize::MAX,
            kc_max: 256,
            packed_b_max_bytes: 512 * 1024,
            k_unroll: 4,
        }
    }
}

/// How K is split into cache blocks: one block of `first` followed by
/// `count - 1` blocks of `rest` (`first ≤ rest`, `first + (count-1)·rest = K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KBlocking {
    pub first: usize,
    pub rest: usize,
    pub count: usize,
}

/// All loop trip counts and buffer sizes of one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GemmPlan {
    /// Register tile rows.
    pub mr: usize,
    /// Register tile columns (= packed panel width).
    pub nr: usize,
    /// See [`GemmTuning::broadcast_per_fma`].
    pub broadcast_per_fma: bool,
    /// See [`GemmTuning::serpentine`].
    pub serpentine: bool,
    /// Rows per M block (a multiple of `mr`).
    pub mc: usize,
    /// Copy full B panels into scratch (otherwise read B in place).
    pub pack_b: bool,
    /// How K is split into cache blocks.
    pub k_blocks: KBlocking,
    /// Number of full `nr`-column panels of op(B)/C.
    pub n_full_panels: usize,
    /// Columns in the last, partial panel (0 if N is a multiple of `nr`).
    pub n_tail: usize,
    /// Micro-kernel k-loop unroll factor.
    pub k_unroll: usize,
    /// Floats of scratch: one packed block of B (or just its tail panel).
    pub packed_b_floats: usize,
}

impl GemmPlan {
    /// Chooses blocking for `spec`; fails only on nonsensical tuning values.
    pub(crate) fn new(spec: &GemmSpec, tuning: &GemmTuning) -> Result<Self, JitError> {
        let bad = |reason: &str| JitError::InvalidShape {
            m: spec.m,
            k: spec.k,
            n: spec.n,
            reason: reason.to_owned(),
        };
        let (mr, nr) = (tuning.mr, tuning.nr);
        if tuning.kc_max == 0 || tuning.k_unroll == 0 || tuning.k_unroll > 16 {
            return Err(bad("tuning needs kc_max >= 1 and 1 <= k_unroll <= 16"));
        }
        if !(1..=8).contains(&mr) || nr % LANES != 0 || !(LANES..=16).contains(&nr) {
            return Err(bad("tuning needs 1 <= mr <= 8 and nr in {4, 8, 12, 16}"));
        }
        if mr * (nr / LANES) > 14 {
            return Err(bad("tuning needs mr·nr/4 <= 14 accumulators"));
        }
        let pack_b = spec.trans_b == Transpose::Yes || spec.m >= tuning.pack_b_min_m;
        let n_panels = spec.n.div_ceil(nr);
        let panel_row_bytes = n_panels * nr * 4;
        let kc_cap = (tuning.packed_b_max_bytes / panel_row_bytes)
            .clamp(16, tuning.kc_max.max(16))
            .min(tuning.kc_max);
        let count = spec.k.div_ceil(kc_cap);
        let rest = spec.k.div_ceil(count);
        // The first block absorbs the remainder; it is non-empty because
        // count·rest − K < count ≤ rest whenever count ≥ 2 (rest ≥ K/count).
        let first = spec
            .k
            .checked_sub((count - 1) * rest)
            .filter(|&f| f >= 1)
            .ok_or_else(|| bad("internal error: empty first K block"))?;
        Ok(GemmPlan {
            mr,
            nr,
            broadcast_per_fma: tuning.broadcast_per_fma,
            serpentine: tuning.serpentine,
            mc: (tuning.mc / mr).max(1) * mr,
            pack_b,
            k_blocks: KBlocking { first, rest, count },
            n_full_panels: spec.n / nr,
            n_tail: spec.n % nr,
            k_unroll: tuning.k_unroll,
            packed_b_floats: if pack_b {
                rest * n_panels * nr
            } else {
                rest * nr
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_blocks_cover_k_exactly() {
        for k in 1..2000 {
            let spec = GemmSpec::new(4, k, 40);
            let plan = GemmPlan::new(&spec, &GemmTuning::default()).unwrap();
            let kb = plan.k_blocks;
            assert!(kb.first >= 1 && kb.first <= kb.rest, "k={k}: {kb:?}");
            assert_eq!(kb.first + (kb.count - 1) * kb.rest, k, "k={k}: {kb:?}");
            assert!(kb.rest <= 256);
        }
    }

    #[test]
    fn wide_n_shrinks_kc_to_keep_packed_b_in_budget() {
        let spec = GemmSpec::new(64, 1024, 4096);
        let tuning = GemmTuning::default();
        let plan = GemmPlan::new(&spec, &tuning).unwrap();
        assert!(plan.packed_b_floats * 4 <= tuning.packed_b_max_bytes);
        assert_eq!(plan.k_blocks.rest, 32);
    }
}
