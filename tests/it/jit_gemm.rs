//! The generated matrix products against a plain f64 triple loop, over random shapes and
//! every variant. Tolerance per element:
//! `|err| ≤ 1e-5 · (K · max|a| · max|b| + max|c₀| + max|bias|)`.

use ammc::jit::JitError;
use ammc::jit::gemm::{GemmKernel, GemmOp, GemmSpec};
use ammc::jit::{JitModule, JitOptions, OptLevel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// The reference: C = act([C0 +] op(A)·op(B) [+ bias]) in f64.
fn reference(spec: &GemmSpec, a: &[f32], b: &[f32], bias: &[f32], c0: &[f32]) -> Vec<f64> {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    let mut out = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for kk in 0..k {
                let av = match spec.op {
                    GemmOp::Nt | GemmOp::Nn => a[i * k + kk],
                    GemmOp::Tn => a[kk * m + i],
                };
                let bv = match spec.op {
                    GemmOp::Nt => b[j * k + kk],
                    GemmOp::Nn | GemmOp::Tn => b[kk * n + j],
                };
                s += f64::from(av) * f64::from(bv);
            }
            if spec.accumulate {
                s += f64::from(c0[i * n + j]);
            }
            if spec.bias {
                s += f64::from(bias[j]);
            }
            if spec.relu && s <= 0.0 {
                s = 0.0;
            }
            out[i * n + j] = s;
        }
    }
    out
}

fn max_abs(v: &[f32]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())))
}

fn check(jit: &mut JitModule, spec: GemmSpec, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = random_vec(&mut rng, spec.a_len());
    let b = random_vec(&mut rng, spec.b_len());
    let bias = random_vec(&mut rng, spec.n);
    let c0 = random_vec(&mut rng, spec.c_len());
    let kernel = GemmKernel::compile(jit, spec).unwrap();
    let mut c = c0.clone();
    // Garbage in the scratch must not leak into the result.
    let mut scratch = vec![f32::NAN; spec.scratch_len()];
    kernel
        .run(
            &a,
            &b,
            spec.bias.then_some(bias.as_slice()),
            &mut c,
            &mut scratch,
        )
        .unwrap();
    let want = reference(&spec, &a, &b, &bias, &c0);
    let tol = 1e-5
        * (spec.k as f64 * max_abs(&a) * max_abs(&b)
            + if spec.accumulate { max_abs(&c0) } else { 0.0 }
            + if spec.bias { max_abs(&bias) } else { 0.0 });
    for (idx, (got, want)) in c.iter().zip(&want).enumerate() {
        let err = (f64::from(*got) - want).abs();
        assert!(
            err <= tol,
            "{spec:?} seed {seed}: C[{}, {}] = {got}, want {want} (err {err:e} > tol {tol:e})",
            idx / spec.n,
            idx % spec.n
        );
    }
}

const OPS: [GemmOp; 3] = [GemmOp::Nt, GemmOp::Nn, GemmOp::Tn];

#[test]
fn random_shapes_every_variant_match_f64() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for case in 0..60u64 {
        let spec = GemmSpec {
            m: rng.random_range(1..=70),
            n: rng.random_range(1..=70),
            k: rng.random_range(1..=70),
            op: OPS[(case % 3) as usize],
            bias: rng.random_bool(0.5),
            relu: rng.random_bool(0.5),
            accumulate: rng.random_bool(0.5),
        };
        check(&mut jit, spec, case);
    }
}

#[test]
fn tails_and_tiny_shapes() {
    let mut jit = JitModule::new().unwrap();
    for op in OPS {
        for (m, n, k) in [
            (1, 1, 1),
            (3, 7, 3),
            (4, 8, 4),
            (5, 9, 5),
            (8, 16, 1),
            (1, 70, 2),
            (70, 1, 70),
        ] {
            for flags in 0..8u8 {
                let spec = GemmSpec {
                    m,
                    n,
                    k,
                    op,
                    bias: flags & 1 != 0,
                    relu: flags & 2 != 0,
                    accumulate: flags & 4 != 0,
                };
                check(&mut jit, spec, u64::from(flags) + 100);
            }
        }
    }
}

#[test]
fn training_shapes_and_k_blocking() {
    let mut jit = JitModule::new().unwrap();
    for op in OPS {
        // 64×400×120 (a dense layer's forward), 128×300×7, and K = 1000 (four K blocks
        // of unequal lengths, so later blocks load partial C).
        for (m, k, n) in [(64, 400, 120), (128, 300, 7), (9, 1000, 13)] {
            for (bias, relu, accumulate) in [(true, true, false), (false, false, true)] {
                let spec = GemmSpec {
                    m,
                    n,
                    k,
                    op,
                    bias,
                    relu,
                    accumulate,
                };
                check(&mut jit, spec, (m * n + k) as u64);
            }
        }
    }
}

#[test]
fn relu_zeroes_negative_and_nan_like_reference() {
    let mut jit = JitModule::new().unwrap();
    let spec = GemmSpec {
        m: 2,
        n: 9,
        k: 1,
        op: GemmOp::Nn,
        bias: false,
        relu: true,
        accumulate: false,
    };
    let kernel = GemmKernel::compile(&mut jit, spec).unwrap();
    let a = [1.0, -1.0];
    let b = [1.0, -2.0, 0.0, f32::NAN, 3.0, -0.5, 2.0, -4.0, f32::NAN];
    let mut c = vec![0.0; 18];
    let mut scratch = vec![0.0; spec.scratch_len()];
    kernel.run(&a, &b, None, &mut c, &mut scratch).unwrap();
    assert_eq!(
        c,
        [
            1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 2.0, 0.0, 0.0, //
            0.0, 2.0, 0.0, 0.0, 0.0, 0.5, 0.0, 4.0, 0.0
        ]
    );
}

#[test]
fn wrong_arguments_are_errors_not_calls() {
    let mut jit = JitModule::new().unwrap();
    let spec = GemmSpec {
        m: 3,
        n: 5,
        k: 4,
        op: GemmOp::Nt,
        bias: true,
        relu: false,
        accumulate: false,
    };
    let kernel = GemmKernel::compile(&mut jit, spec).unwrap();
    let (a, b, bias) = (vec![0.0; 12], vec![0.0; 20], vec![0.0; 5]);
    let mut c = vec![0.0; 15];
    let mut s = vec![0.0; spec.scratch_len()];
    let short_a = vec![0.0; 11];
    let err = kernel
        .run(&short_a, &b, Some(&bias), &mut c, &mut s)
        .unwrap_err();
    assert!(
        matches!(err, JitError::Argument { ref param, .. } if param == "a"),
        "{err}"
    );
    let err = kernel.run(&a, &b, None, &mut c, &mut s).unwrap_err();
    assert!(
        matches!(err, JitError::Argument { ref param, .. } if param == "bias"),
        "{err}"
    );
    let mut long_c = vec![0.0; 16];
    let err = kernel
        .run(&a, &b, Some(&bias), &mut long_c, &mut s)
        .unwrap_err();
    assert!(
        matches!(err, JitError::Argument { ref param, .. } if param == "c"),
        "{err}"
    );
    let mut short_s = vec![0.0; 3];
    let err = kernel
        .run(&a, &b, Some(&bias), &mut c, &mut short_s)
        .unwrap_err();
    assert!(
        matches!(err, JitError::Argument { ref param, .. } if param == "scratch"),
        "{err}"
    );
    let zero = GemmSpec { k: 0, ..spec };
    assert!(matches!(
        GemmKernel::compile(&mut jit, zero),
        Err(JitError::InvalidShape { .. })
    ));
    let huge = GemmSpec {
        m: 1 << 20,
        k: 1 << 20,
        ..spec
    };
    assert!(matches!(
        GemmKernel::compile(&mut jit, huge),
        Err(JitError::InvalidShape { .. })
    ));
}

#[test]
fn kernels_outlive_the_module_handle() {
    let spec = GemmSpec {
        m: 4,
        n: 8,
        k: 2,
        op: GemmOp::Nn,
        bias: false,
        relu: false,
        accumulate: false,
    };
    let kernel = {
        let mut jit = JitModule::new().unwrap();
        GemmKernel::compile(&mut jit, spec).unwrap()
    };
    let a = vec![1.0; 8];
    let b: Vec<f32> = (0..16).map(|x| x as f32).collect();
    let mut c = vec![0.0; 32];
    let mut s = vec![0.0; spec.scratch_len()];
    kernel.run(&a, &b, None, &mut c, &mut s).unwrap();
    for i in 0..4 {
        for j in 0..8 {
            assert_eq!(c[i * 8 + j], (j + j + 8) as f32);
        }
    }
}

#[test]
fn speed_opt_level_computes_the_same() {
    let mut jit = JitModule::with_options(JitOptions {
        opt_level: OptLevel::Speed,
        ..JitOptions::default()
    })
    .unwrap();
    for (i, op) in OPS.into_iter().enumerate() {
        let spec = GemmSpec {
            m: 13,
            n: 21,
            k: 37,
            op,
            bias: true,
            relu: true,
            accumulate: i == 1,
        };
        check(&mut jit, spec, 900 + i as u64);
    }
}

#[test]
#[ignore = "prints machine code; run with AMM_JIT_DISASM=1 -- --ignored --nocapture"]
fn dump_machine_code() {
    let mut jit = JitModule::new().unwrap();
    let spec = GemmSpec {
        m: 8,
        n: 16,
        k: 16,
        op: GemmOp::Nt,
        bias: false,
        relu: false,
        accumulate: false,
    };
    GemmKernel::compile(&mut jit, spec).unwrap();
}

/// The dense layer's three products, run through the JIT, against the reference op
/// `dense_forward` / `dense_backward` (f32 ndarray) with the same tolerance.
#[test]
fn dense_layer_products_match_reference_ops() {
    use ammc::jit::dense::DenseShape;
    use ammc::runtime::reference::{dense_backward, dense_forward};
    use ndarray::{Array1, Array2};
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (batch, inputs, outputs) in [(64, 400, 120), (5, 3, 9), (32, 64, 10)] {
        let shape = DenseShape {
            batch,
            inputs,
            outputs,
        };
        let specs = shape.gemms(true, false);
        let x = random_vec(&mut rng, batch * inputs);
        let w = random_vec(&mut rng, outputs * inputs);
        let b = random_vec(&mut rng, outputs);
        let dy = random_vec(&mut rng, batch * outputs);
        let xa = Array2::from_shape_vec((batch, inputs), x.clone()).unwrap();
        let wa = Array2::from_shape_vec((outputs, inputs), w.clone()).unwrap();
        let dya = Array2::from_shape_vec((batch, outputs), dy.clone()).unwrap();
        let y_ref =
            dense_forward(xa.view(), wa.view(), Some(Array1::from(b.clone()).view())).unwrap();
        let g_ref = dense_backward(dya.view(), xa.view(), wa.view()).unwrap();
        let run =
            |jit: &mut JitModule, spec: GemmSpec, a: &[f32], bm: &[f32], bias: Option<&[f32]>| {
                let k = GemmKernel::compile(jit, spec).unwrap();
                let mut c = vec![0.0; spec.c_len()];
                let mut s = vec![0.0; spec.scratch_len()];
                k.run(a, bm, bias, &mut c, &mut s).unwrap();
                c
            };
        let y = run(&mut jit, specs.forward, &x, &w, Some(&b));
        let dx = run(&mut jit, specs.input_grad, &dy, &w, None);
        let dw = run(&mut jit, specs.weight_grad, &dy, &x, None);
        for (name, got, want, k) in [
            ("y", &y, y_ref.iter().copied().collect::<Vec<_>>(), inputs),
            ("dx", &dx, g_ref.dx.iter().copied().collect(), outputs),
            ("dw", &dw, g_ref.dw.iter().copied().collect(), batch),
        ] {
            let tol = 2e-5 * (k as f32 + 1.0);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= tol,
                    "{name}[{i}] {g} vs {w} ({batch}x{inputs}x{outputs})"
                );
            }
        }
    }
}
