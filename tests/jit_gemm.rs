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

fn verified() -> JitOptions {
    JitOptions {
        verify: true,
        ..JitOptions::default()
    }
}

/// Compiles `specs` as one module with `tuning` and checks every kernel.
fn check_all(specs: &[GemmSpec], tuning: GemmTuning, seed: u64) {
    let kernels = compile_gemms(specs, tuning, verified()).unwrap();
    assert_eq!(kernels.len(), specs.len());
    let mut ws = GemmWorkspace::new();
    for (i, kernel) in kernels.iter().enumerate() {
        assert_eq!(kernel.spec(), &specs[i]);
        check_kernel(kernel, &mut ws, seed + i as u64);
    }
}

fn with_variants(shapes: &[(usize, usize, usize)]) -> Vec<GemmSpec> {
    shapes
        .iter()
        .flat_map(|&(m, k, n)| {
            VARIANTS
                .iter()
                .map(move |&(ta, tb)| GemmSpec::new(m, k, n).with_transpose(ta, tb))
        })
        .collect()
}

#[test]
fn every_small_dimension_in_every_variant() {
    // Each of M, K, N swept over 1..=20 (the others fixed at odd values):
    // covers every M tail (mod 6), N tail (mod 8) and K remainder (mod 4).
    let mut shapes = Vec::new();
    for d in 1..=20 {
        shapes.extend([(d, 7, 11), (5, d, 9), (6, 3, d)]);
    }
    check_all(&with_variants(&shapes), GemmTuning::default(), 1);
}

#[test]
fn random_shapes_up_to_70_in_every_variant() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let shapes: Vec<_> = (0..40)
        .map(|_| {
            (
                rng.random_range(1..=70),
                rng.random_range(1..=70),
                rng.random_range(1..=70),
            )
        })
        .collect();
    check_all(&with_variants(&shapes), GemmTuning::default(), 100);
}

#[test]
fn larger_training_shapes_in_every_variant() {
    // fc layer, a skinny output, K beyond one cache block (K > 256) with a
    // remainder block, and M beyond one M block (M > 96).
    let shapes = [(64, 400, 120), (128, 300, 7), (17, 600, 33), (200, 50, 30)];
    check_all(&with_variants(&shapes), GemmTuning::default(), 200);
}

#[test]
fn epilogues_accumulate_bias_relu() {
    // Single and multiple K blocks (K = 37 and K = 530 > 256) so that the
    // epilogue runs only in the last block and accumulation into the
    // caller's C happens only in the first.
    let mut specs = Vec::new();
    for (m, k, n) in [(9, 37, 13), (13, 530, 10)] {
        for (ta, tb) in VARIANTS {
            for accumulate in [false, true] {
                for bias in [false, true] {
                    for act in [Activation::Identity, Activation::Relu] {
                        specs.push(
                            GemmSpec::new(m, k, n)
                                .with_transpose(ta, tb)
                                .with_accumulate(accumulate)
                                .with_epilogue(bias, act),
                        );
                    }
                }
            }
        }
    }
    check_all(&specs, GemmTuning::default(), 300);
}

#[test]
fn relu_really_clamps() {
    // With A = -1 everywhere, every product is negative: all zeros after ReLU.
    let spec = GemmSpec::new(7, 5, 9).with_epilogue(false, Activation::Relu);
    let kernel = GemmKernel::compile(spec).unwrap();
    let a = vec![-1.0; spec.a_len()];
    let b = vec![1.0; spec.b_len()];
    let mut c = vec![f32::NAN; spec.c_len()];
    let mut ws = GemmWorkspace::new();
    kernel
        .run(
            &mut ws,
            GemmArgs {
                a: &a,
                b: &b,
                bias: None,
                c: &mut c,
            },
        )
        .unwrap();
    assert!(c.iter().all(|&x| x == 0.0), "{c:?}");
}

#[test]
fn non_default_tunings_exercise_every_blocking_path() {
    // Small cache blocks make small shapes take the multi-block paths
    // (several K blocks, several M blocks, packed and in-place B).
    let base = GemmTuning::default();
    let tunings = [
        GemmTuning {
            mr: 4,
            nr: 8,
            ..base
        },
        GemmTuning {
            mc: 12,
            kc_max: 16,
            ..base
        },
        GemmTuning {
            mc: 12,
            kc_max: 16,
            pack_b_min_m: 0,
            ..base
        },
        GemmTuning {
            mr: 3,
            nr: 12,
            k_unroll: 3,
            ..base
        },
        GemmTuning {
            mr: 2,
            nr: 16,
            k_unroll: 1,
            mc: 2,
            ..base
        },
        GemmTuning {
            mr: 8,
            nr: 4,
            k_unroll: 5,
            ..base
        },
        GemmTuning {
            serpentine: false,
            broadcast_per_fma: false,
            ..base
        },
        GemmTuning {
            packed_b_max_bytes: 1,
            ..base
        },
    ];
    let shapes = [(1, 1, 1), (13, 45, 19), (30, 70, 41), (6, 33, 8)];
    let mut specs = with_variants(&shapes);
    specs.push(
        GemmSpec::new(14, 50, 21)
            .with_transpose(Transpose::Yes, Transpose::Yes)
            .with_accumulate(true)
            .with_epilogue(true, Activation::Relu),
    );
    for (i, tuning) in tunings.into_iter().enumerate() {
        check_all(&specs, tuning, 400 + 100 * i as u64);
    }
}

#[test]
fn multiply_then_add_path_is_correct_too() {
    // The path taken on hosts without FMA, forced here.
    let specs = with_variants(&[(13, 45, 19), (7, 300, 9)]);
    let options = JitOptions {
        use_fma: false,
        ..verified()
    };
    let kernels = compile_gemms(&specs, GemmTuning::default(), options).unwrap();
    let mut ws = GemmWorkspace::new();
    for (i, kernel) in kernels.iter().enumerate() {
        check_kernel(kernel, &mut ws, 900 + i as u64);
    }
}

#[test]
fn host_sgemm_matches_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (m, k, n) in [(1, 1, 1), (9, 37, 13), (64, 40, 12)] {
        for (ta, tb) in VARIANTS {
            for (accumulate, bias, act) in [
                (false, false, Activation::Identity),
                (true, true, Activation::Relu),
            ] {
                let spec = GemmSpec::new(m, k, n)
                    .with_transpose(ta, tb)
                    .with_accumulate(accumulate)
                    .with_epilogue(bias, act);
                let a = Guarded::random(spec.a_len(), &mut rng);
                let b = Guarded::random(spec.b_len(), &mut rng);
                let bias_v = Guarded::random(n, &mut rng);
                let mut c = Guarded::random(spec.c_len(), &mut rng);
                let c_old = c.get().to_vec();
                let bias_arg = bias.then(|| bias_v.get());
                let args = GemmArgs {
                    a: a.get(),
                    b: b.get(),
                    bias: bias_arg,
                    c: c.get_mut(),
                };
                host_sgemm(&spec, args).unwrap();
                let expected = reference(&spec, a.get(), b.get(), bias_arg, &c_old);
                let tol = 1e-5 * (k as f64).sqrt();
                for (&got, &(want, mag)) in c.get().iter().zip(&expected) {
                    assert!(
                        (f64::from(got) - want).abs() <= tol * mag,
                        "{spec}: {got} vs {want}"
                    );
                }
                c.assert_guards_intact("host_sgemm C");
            }
        }
    }
}

#[test]
fn wrong_lengths_are_errors_and_leave_c_untouched() {
    let spec = GemmSpec::new(5, 6, 7).with_epilogue(true, Activation::Identity);
    let kernel = GemmKernel::compile(spec).unwrap();
    let mut ws = GemmWorkspace::new();
    let (a, b, bias) = (vec![1.0; 30], vec![1.0; 42], vec![1.0; 7]);
    let mut c = vec![3.0; 35];
    let cases: [(GemmOperand, usize, usize, usize, usize); 4] = [
        (GemmOperand::A, 29, 42, 7, 35),
        (GemmOperand::B, 30, 41, 7, 35),
        (GemmOperand::Bias, 30, 42, 6, 35),
        (GemmOperand::C, 30, 42, 7, 34),
    ];
    for (operand, la, lb, lbias, lc) in cases {
        let err = kernel
            .run(
                &mut ws,
                GemmArgs {
                    a: &a[..la],
                    b: &b[..lb],
                    bias: Some(&bias[..lbias]),
                    c: &mut c[..lc],
                },
            )
            .err();
        match err {
            Some(JitError::LengthMismatch { operand: got, .. }) => assert_eq!(got, operand),
            other => panic!("expected a length mismatch for {operand}, got {other:?}"),
        }
    }
    // Too long is as wrong as too short.
    let long_b = vec![1.0; 43];
    let err = kernel
        .run(
            &mut ws,
            GemmArgs {
                a: &a,
                b: &long_b,
                bias: Some(&bias),
                c: &mut c,
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        JitError::LengthMismatch {
            operand: GemmOperand::B,
            expected: 42,
            actual: 43,
            ..
        }
    ));
    assert!(
        c.iter().all(|&x| x == 3.0),
        "C was written despite the error"
    );

    // Bias presence must match the spec in both directions.
    let err = kernel
        .run(
            &mut ws,
            GemmArgs {
                a: &a,
                b: &b,
                bias: None,
                c: &mut c,
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        JitError::BiasMismatch {
            compiled_with_bias: true,
            ..
        }
    ));
    let plain = GemmKernel::compile(GemmSpec::new(5, 6, 7)).unwrap();
    let err = plain
        .run(
            &mut ws,
            GemmArgs {
                a: &a,
                b: &b,
                bias: Some(&bias),
                c: &mut c,
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        JitError::BiasMismatch {
            compiled_with_bias: false,
            ..
        }
    ));
    assert!(c.iter().all(|&x| x == 3.0));
}

#[test]
fn errors_carry_stable_diagnostic_codes() {
    use miette::Diagnostic;
    let err = GemmKernel::compile(GemmSpec::new(0, 3, 3)).unwrap_err();
    assert!(matches!(err, JitError::InvalidShape { .. }));
    assert_eq!(err.code().unwrap().to_string(), "amm::jit::invalid_shape");
    let err = GemmKernel::compile(GemmSpec::new(1 << 20, 1 << 20, 1)).unwrap_err();
    assert!(matches!(err, JitError::InvalidShape { .. }), "{err}");
    let bad_tuning = GemmTuning {
        mr: 6,
        nr: 16,
        ..GemmTuning::default()
    };
    let err = compile_gemms(&[GemmSpec::new(4, 4, 4)], bad_tuning, verified()).unwrap_err();
    assert!(matches!(err, JitError::InvalidShape { .. }), "{err}");

    let kernel = GemmKernel::compile(GemmSpec::new(2, 2, 2)).unwrap();
    let mut c = [0.0; 4];
    let err = kernel
        .run(
            &mut GemmWorkspace::new(),
            GemmArgs {
                a: &[0.0; 3],
                b: &[0.0; 4],
                bias: None,
                c: &mut c,
            },
        )
        .unwrap_err();
    assert_eq!(err.code().unwrap().to_string(), "amm::jit::length_mismatch");
    assert!(err.to_string().contains("operand A"), "{err}");
}

#[test]
fn results_are_bit_identical_across_runs_and_threads() {
    let spec = GemmSpec::new(37, 91, 29).with_transpose(Transpose::No, Transpose::Yes);
    let kernel = GemmKernel::compile(spec).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let a: Vec<f32> = (0..spec.a_len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let b: Vec<f32> = (0..spec.b_len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let run = |kernel: &GemmKernel| {
        let mut c = vec![0.0; spec.c_len()];
        let mut ws = GemmWorkspace::new();
        kernel
            .run(
                &mut ws,
                GemmArgs {
                    a: &a,
                    b: &b,
                    bias: None,
                    c: &mut c,
                },
            )
            .unwrap();
        c
    };
    let first = run(&kernel);
    assert_eq!(first, run(&kernel));
    // A clone outlives the original handle and runs on other threads.
    let clone = kernel.clone();
    drop(kernel);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| run(&clone))).collect();
        for h in handles {
            let got = h.join().unwrap();
            assert!(
                got.iter()
                    .zip(&first)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
        }
    });
}

#[test]
fn kernel_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GemmKernel>();
}

#[test]
fn uses_fused_multiply_add_when_the_host_has_it() {
    #[cfg(target_arch = "x86_64")]
    {
        let options = JitOptions {
            keep_disassembly: true,
            ..JitOptions::default()
        };
        let spec = GemmSpec::new(8, 64, 16);
        let per_fma = GemmTuning {
            mr: 6,
            broadcast_per_fma: true,
            ..GemmTuning::default()
        };
        let shared = compile_gemms(&[spec], GemmTuning::default(), options).unwrap();
        let private = compile_gemms(&[spec], per_fma, options).unwrap();
        for k in [&shared[0], &private[0]] {
            assert!(k.info().code_bytes > 0);
            if std::arch::is_x86_feature_detected!("fma") {
                let text = k.info().disassembly.clone().unwrap_or_default();
                assert!(text.contains("vfmadd"), "no FMA in:\n{text}");
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // A private broadcast folds its load into `vbroadcastss xmm, [mem]`.
            let text = private[0].info().disassembly.clone().unwrap_or_default();
            assert!(
                text.contains("vbroadcastss ("),
                "unfolded broadcasts in:\n{text}"
            );
        }
    }
}

/// Prints the backend disassembly of one kernel (for inspection; run with
/// `cargo test --test jit_gemm dump_disassembly -- --ignored --nocapture`).
#[test]
#[ignore]
fn dump_disassembly() {
    let spec = GemmSpec::new(8, 64, 16);
    let options = JitOptions {
        keep_disassembly: true,
        ..JitOptions::default()
    };
    let k = compile_gemms(&[spec], GemmTuning::default(), options).unwrap();
    println!("{}", k[0].info().disassembly.as_deref().unwrap_or("<none>"));
}
