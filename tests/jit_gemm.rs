//! Correctness of JIT-compiled GEMM kernels against an f64 reference.
//!
//! Tolerance: every element must satisfy
//! `|jit − ref| ≤ 1e-5 · sqrt(K) · (Σ_k |a_ik·b_kj| + |c_old| + |bias| + 1e-3)`,
//! i.e. a relative error of 1e-5·√K measured against the magnitude of the
//! terms summed (the usual forward error bound for a length-K dot product in
//! f32 is ~K·ε|a||b| in the worst case and ~√K·ε|a||b| on average;
//! ε = 6e-8, so 1e-5·√K leaves a wide safety margin for random data while
//! still catching any wrong index, missed term or bad tail).

use ammc::jit::{
    Activation, GemmArgs, GemmKernel, GemmOperand, GemmSpec, GemmTuning, GemmWorkspace, JitError,
    JitOptions, Transpose, compile_gemms, host_sgemm::host_sgemm,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const GUARD: usize = 16;
const GUARD_VALUE: f32 = 12345.0;

/// A buffer with guard elements on both sides, to catch out-of-bounds writes.
struct Guarded {
    data: Vec<f32>,
    len: usize,
}

impl Guarded {
    fn random(len: usize, rng: &mut ChaCha8Rng) -> Self {
        let mut data = vec![GUARD_VALUE; len + 2 * GUARD];
        for x in &mut data[GUARD..GUARD + len] {
            *x = rng.random_range(-1.0f32..1.0);
        }
        Guarded { data, len }
    }
    fn get(&self) -> &[f32] {
        &self.data[GUARD..GUARD + self.len]
    }
    fn get_mut(&mut self) -> &mut [f32] {
        &mut self.data[GUARD..GUARD + self.len]
    }
    fn assert_guards_intact(&self, what: &str) {
        let (head, rest) = self.data.split_at(GUARD);
        let tail = &rest[self.len..];
        assert!(
            head.iter().chain(tail).all(|&x| x == GUARD_VALUE),
            "{what}: guard elements were overwritten"
        );
    }
}

fn op_a(spec: &GemmSpec, a: &[f32], i: usize, k: usize) -> f64 {
    f64::from(match spec.trans_a {
        Transpose::No => a[i * spec.k + k],
        Transpose::Yes => a[k * spec.m + i],
    })
}

fn op_b(spec: &GemmSpec, b: &[f32], k: usize, j: usize) -> f64 {
    f64::from(match spec.trans_b {
        Transpose::No => b[k * spec.n + j],
        Transpose::Yes => b[j * spec.k + k],
    })
}

/// f64 triple loop; returns (value, magnitude bound) per element.
fn reference(
    spec: &GemmSpec,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    c_old: &[f32],
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(spec.m * spec.n);
    for i in 0..spec.m {
        for j in 0..spec.n {
            let mut sum = 0.0f64;
            let mut mag = 1e-3f64;
            for k in 0..spec.k {
                let t = op_a(spec, a, i, k) * op_b(spec, b, k, j);
                sum += t;
                mag += t.abs();
            }
            if spec.accumulate {
                let c = f64::from(c_old[i * spec.n + j]);
                sum += c;
                mag += c.abs();
            }
            if let Some(bias) = bias {
                let x = f64::from(bias[j]);
                sum += x;
                mag += x.abs();
            }
            if spec.activation == Activation::Relu {
                sum = if sum > 0.0 { sum } else { 0.0 };
            }
            out.push((sum, mag));
        }
    }
    out
}

/// Runs `kernel` on random data (seeded) and compares with the reference.
fn check_kernel(kernel: &GemmKernel, ws: &mut GemmWorkspace, seed: u64) {
    let spec = *kernel.spec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = Guarded::random(spec.a_len(), &mut rng);
    let b = Guarded::random(spec.b_len(), &mut rng);
    let bias = Guarded::random(spec.n, &mut rng);
    let mut c = Guarded::random(spec.c_len(), &mut rng);
    let c_old = c.get().to_vec();
    let bias_arg = spec.bias.then(|| bias.get());
    kernel
        .run(
            ws,
            GemmArgs {
                a: a.get(),
                b: b.get(),
                bias: bias_arg,
                c: c.get_mut(),
            },
        )
        .unwrap();
    let expected = reference(&spec, a.get(), b.get(), bias_arg, &c_old);
    let tol = 1e-5 * (spec.k as f64).sqrt();
    for (idx, (&got, &(want, mag))) in c.get().iter().zip(&expected).enumerate() {
        let err = (f64::from(got) - want).abs();
        assert!(
            err <= tol * mag,
            "{spec}: C[{}, {}] = {got}, expected {want} (err {err:e}, bound {:e})",
            idx / spec.n,
            idx % spec.n,
            tol * mag
        );
    }
    for (g, what) in [(&a, "A"), (&b, "B"), (&bias, "bias"), (&c, "C")] {
        g.assert_guards_intact(&format!("{spec} {what}"));
    }
}

const VARIANTS: [(Transpose, Transpose); 4] = [
    (Transpose::No, Transpose::No),
    (Transpose::No, Transpose::Yes),
    (Transpose::Yes, Transpose::No),
    (Transpose::Yes, Transpose::Yes),
];

#[test]
fn all_small_shapes_for_one_dimension_sweep() {
    // Every M, K, N in 1..=20 along each axis (others fixed at odd values),
    // all four transpose combinations, compiled as one module.
    let mut specs = Vec::new();
    for d in 1..=20 {
        for (ta, tb) in VARIANTS {
            specs.push(GemmSpec::new(d, 7, 11).with_transpose(ta, tb));
            specs.push(GemmSpec::new(5, d, 9).with_transpose(ta, tb));
            specs.push(GemmSpec::new(6, 3, d).with_transpose(ta, tb));
        }
    }
    let kernels = compile_gemms(
        &specs,
        GemmTuning::default(),
        JitOptions {
            verify: true,
            ..JitOptions::default()
        },
    )
    .unwrap();
    let mut ws = GemmWorkspace::new();
    for (i, kernel) in kernels.iter().enumerate() {
        check_kernel(kernel, &mut ws, i as u64);
    }
}

/// Prints the backend disassembly of one kernel (for inspection; run with
/// `cargo test --test jit_gemm dump_disassembly -- --ignored --nocapture`).
#[test]
#[ignore]
fn dump_disassembly() {
    let spec = GemmSpec::new(8, 64, 16);
    let k = compile_gemms(
        &[spec],
        GemmTuning::default(),
        JitOptions {
            keep_disassembly: true,
            ..JitOptions::default()
        },
    )
    .unwrap();
    println!("{}", k[0].info().disassembly.as_deref().unwrap_or("<none>"));
}
