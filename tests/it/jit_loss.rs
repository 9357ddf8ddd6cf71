//! The loss kernels against the reference ops on seeded random shapes.
//!
//! Tolerances: cross-entropy uses polynomial `exp`/`ln` (≤ 2 ulp each), so `dlogits` must
//! be within `5e-7 / batch` absolute of the reference (probabilities within 5e-7; measured
//! worst 1.1e-7) and the
//! loss within 2e-6 relative (+1e-7 absolute); MSE/MAE gradients are bit-identical and
//! their loss (row sums, then the mean) within 1e-6 relative of the reference's running
//! sum. Every kernel is also run in row chunks, which must give identical bits.

use ammc::jit::loss::{
    CrossEntropyKernel, CrossEntropySpec, LossMeanKernel, LossMeanSpec, RegressionLoss,
    RegressionLossKernel, RegressionLossSpec,
};
use ammc::jit::{F32Bits, JitModule};
use ammc::runtime::reference::{
    mae_backward, mae_forward, mse_backward, mse_forward, softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
};
use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs cross-entropy over `rows` in the given chunks; returns (mean loss, row losses,
/// dlogits).
fn run_ce(
    jit: &mut JitModule,
    spec: CrossEntropySpec,
    chunks: &[usize],
    logits: &[f32],
    target: &[f32],
) -> (f32, Vec<f32>, Vec<f32>) {
    let c = spec.classes;
    let (mut rl, mut dl) = (vec![f32::NAN; spec.batch], vec![f32::NAN; spec.batch * c]);
    let mut start = 0;
    for &rows in chunks {
        let k = CrossEntropyKernel::compile(jit, CrossEntropySpec { rows, ..spec }).unwrap();
        k.run(
            &logits[start * c..(start + rows) * c],
            &target[start..start + rows],
            &mut rl[start..start + rows],
            &mut dl[start * c..(start + rows) * c],
        )
        .unwrap();
        start += rows;
    }
    assert_eq!(start, spec.batch);
    let mean = LossMeanKernel::compile(
        jit,
        LossMeanSpec {
            rows: spec.batch,
            divisor: spec.batch,
        },
    )
    .unwrap();
    let mut loss = [f32::NAN];
    let l = mean.run(&rl, &mut loss).unwrap();
    assert_eq!(l.to_bits(), loss[0].to_bits());
    (l, rl, dl)
}

fn random_chunks(rng: &mut ChaCha8Rng, total: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut left = total;
    while left > 0 {
        let c = rng.random_range(1..=left);
        v.push(c);
        left -= c;
    }
    v
}

#[test]
fn cross_entropy_matches_reference_within_tolerance_and_is_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    let class_counts = [1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 33, 100];
    let (mut worst_p, mut worst_loss) = (0.0f64, 0.0f64);
    for case in 0..120 {
        let batch = rng.random_range(1..=24);
        let classes = class_counts[case % class_counts.len()];
        let smoothing = match case % 3 {
            0 => 0.0,
            1 => 0.1,
            _ => rng.random_range(0.0f32..=1.0),
        };
        let spread = [1.0f32, 5.0, 40.0][case % 3];
        let logits: Vec<f32> = (0..batch * classes)
            .map(|_| rng.random_range(-spread..spread))
            .collect();
        let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
        let target: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        let spec = CrossEntropySpec {
            rows: batch,
            classes,
            batch,
            smoothing: F32Bits::new(smoothing),
        };
        let (loss, rl, dl) = run_ce(&mut jit, spec, &[batch], &logits, &target);

        let z = ArrayView2::from_shape((batch, classes), &logits).unwrap();
        let fwd = softmax_cross_entropy_forward(z, &labels, f64::from(smoothing)).unwrap();
        let grad =
            softmax_cross_entropy_backward(fwd.probs.view(), &labels, f64::from(smoothing), 1.0)
                .unwrap();
        let what = format!("case {case}: {batch}x{classes} ε={smoothing} spread {spread}");
        for (i, (g, w)) in dl.iter().zip(grad.iter()).enumerate() {
            let err = f64::from((g - w).abs()) * batch as f64;
            worst_p = worst_p.max(err);
            assert!(err <= 5e-7, "{what}: dlogits[{i}] {g} vs {w}");
        }
        let err = f64::from((loss - fwd.loss).abs());
        worst_loss = worst_loss.max(err / f64::from(fwd.loss.abs()).max(1e-30));
        assert!(
            err <= 2e-6 * f64::from(fwd.loss.abs()) + 1e-7,
            "{what}: loss {loss} vs {}",
            fwd.loss
        );

        // Chunked over rows: identical bits.
        let chunks = random_chunks(&mut rng, batch);
        let (loss2, rl2, dl2) = run_ce(&mut jit, spec, &chunks, &logits, &target);
        assert_eq!(loss2.to_bits(), loss.to_bits(), "{what}: chunked loss");
        assert!(rl2.iter().zip(&rl).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(dl2.iter().zip(&dl).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    eprintln!("cross-entropy: worst |Δp| {worst_p:e}, worst relative loss error {worst_loss:e}");
}

#[test]
fn cross_entropy_of_a_chunk_scales_by_the_whole_batch() {
    let mut jit = JitModule::new().unwrap();
    let spec = CrossEntropySpec {
        rows: 1,
        classes: 2,
        batch: 4,
        smoothing: F32Bits::new(0.0),
    };
    let k = CrossEntropyKernel::compile(&mut jit, spec).unwrap();
    let (mut rl, mut dl) = ([0.0], [0.0; 2]);
    k.run(&[0.0, 0.0], &[1.0], &mut rl, &mut dl).unwrap();
    // p = (0.5, 0.5), t = (0, 1): (p − t)/4.
    assert_eq!(dl, [0.125, -0.125]);
    assert!((rl[0] - std::f32::consts::LN_2).abs() < 1e-7);
}

#[test]
fn cross_entropy_rejects_bad_targets_and_specs() {
    let mut jit = JitModule::new().unwrap();
    let spec = CrossEntropySpec {
        rows: 2,
        classes: 3,
        batch: 2,
        smoothing: F32Bits::new(0.0),
    };
    let k = CrossEntropyKernel::compile(&mut jit, spec).unwrap();
    let (mut rl, mut dl) = ([0.0; 2], [0.0; 6]);
    let z = [0.0; 6];
    for bad in [[0.0, 3.0], [-1.0, 0.0], [0.5, 1.0], [f32::NAN, 0.0]] {
        let e = k.run(&z, &bad, &mut rl, &mut dl).unwrap_err();
        assert!(e.to_string().contains("target"), "{e}");
    }
    assert!(k.run(&z, &[2.0, 0.0], &mut rl, &mut dl).is_ok());
    assert!(k.run(&z[..5], &[2.0, 0.0], &mut rl, &mut dl).is_err());
    for bad in [
        CrossEntropySpec {
            smoothing: F32Bits::new(1.5),
            ..spec
        },
        CrossEntropySpec { rows: 3, ..spec },
        CrossEntropySpec { classes: 0, ..spec },
    ] {
        assert!(
            CrossEntropyKernel::compile(&mut jit, bad).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn regression_losses_match_reference() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(62);
    for case in 0..100 {
        let batch = rng.random_range(1..=16);
        let features = [1, 2, 3, 4, 5, 8, 13, 32][case % 8];
        let kind = if case % 2 == 0 {
            RegressionLoss::Mse
        } else {
            RegressionLoss::Mae
        };
        let n = batch * features;
        let pred: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        // Some exact ties exercise MAE's sign(0) = 0.
        let target: Vec<f32> = pred
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i % 5 == 0 {
                    *p
                } else {
                    rng.random_range(-3.0f32..3.0)
                }
            })
            .collect();
        let spec = RegressionLossSpec {
            rows: batch,
            features,
            batch,
            kind,
        };
        let run = |jit: &mut JitModule, chunks: &[usize]| {
            let (mut rl, mut g) = (vec![f32::NAN; batch], vec![f32::NAN; n]);
            let mut start = 0;
            for &rows in chunks {
                let k = RegressionLossKernel::compile(jit, RegressionLossSpec { rows, ..spec })
                    .unwrap();
                let r = start * features..(start + rows) * features;
                k.run(
                    &pred[r.clone()],
                    &target[r.clone()],
                    &mut rl[start..start + rows],
                    &mut g[r],
                )
                .unwrap();
                start += rows;
            }
            let mean = LossMeanKernel::compile(
                jit,
                LossMeanSpec {
                    rows: batch,
                    divisor: n,
                },
            )
            .unwrap();
            let mut loss = [0.0];
            (mean.run(&rl, &mut loss).unwrap(), g)
        };
        let (loss, grad) = run(&mut jit, &[batch]);
        let p = ArrayView2::from_shape((batch, features), &pred).unwrap();
        let t = ArrayView2::from_shape((batch, features), &target).unwrap();
        let (want_loss, want_grad) = match kind {
            RegressionLoss::Mse => (mse_forward(p, t).unwrap(), mse_backward(p, t, 1.0).unwrap()),
            RegressionLoss::Mae => (mae_forward(p, t).unwrap(), mae_backward(p, t, 1.0).unwrap()),
        };
        let what = format!("case {case}: {spec:?}");
        for (i, (g, w)) in grad.iter().zip(want_grad.iter()).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{what}: grad[{i}] {g} vs {w}");
        }
        assert!(
            (loss - want_loss).abs() <= 1e-6 * want_loss.abs() + 1e-12,
            "{what}: loss {loss} vs {want_loss}"
        );
        let chunks = random_chunks(&mut rng, batch);
        let (loss2, grad2) = run(&mut jit, &chunks);
        assert_eq!(loss2.to_bits(), loss.to_bits(), "{what}: chunked loss");
        assert!(
            grad2
                .iter()
                .zip(&grad)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}

#[test]
fn loss_mean_is_the_ordered_sum_over_the_divisor() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(63);
    for rows in [1, 2, 5, 64, 257] {
        let v: Vec<f32> = (0..rows).map(|_| rng.random_range(0.0f32..10.0)).collect();
        let divisor = rows * 3;
        let k = LossMeanKernel::compile(&mut jit, LossMeanSpec { rows, divisor }).unwrap();
        let mut out = [0.0];
        let got = k.run(&v, &mut out).unwrap();
        let want = v.iter().fold(0.0f32, |a, b| a + b) / divisor as f32;
        assert_eq!(got.to_bits(), want.to_bits());
    }
    assert!(
        LossMeanKernel::compile(
            &mut jit,
            LossMeanSpec {
                rows: 0,
                divisor: 1
            }
        )
        .is_err()
    );
    assert!(
        LossMeanKernel::compile(
            &mut jit,
            LossMeanSpec {
                rows: 1,
                divisor: 0
            }
        )
        .is_err()
    );
}
