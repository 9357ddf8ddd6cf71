//! The generated batch-norm kernels against the reference ops, called exactly as the
//! reference executor calls them (`Kernel::BatchNorm` / `Kernel::BatchNormBackward` in
//! `runtime::reference::exec`): training forward + the executor's f64 `channel_means` as
//! `saved_mean`, eval forward, and the backward with `x̂` rebuilt from `saved_mean` and
//! `saved_invstd`. Every output is compared bit for bit.

use ammc::jit::batchnorm::{
    BatchNormBackwardArgs, BatchNormKernel, BatchNormSpec, BatchNormTrainArgs,
};
use ammc::jit::{F32Bits, JitModule};
use ammc::runtime::reference::{
    BatchNormRunning, BatchNormSaved, BatchNormSpec as RefSpec, batchnorm_backward,
    batchnorm_forward_eval, batchnorm_forward_train,
};
use ndarray::{Array1, ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A copy of the executor's private `channel_means` (what it stores as `saved_mean`).
fn channel_means(x: &ArrayD<f32>) -> Vec<f32> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let per = x.len() / (n * c).max(1);
    let mut sums = vec![0f64; c];
    for (i, v) in x.iter().enumerate() {
        sums[(i / per) % c] += f64::from(*v);
    }
    sums.iter()
        .map(|s| (*s / (n * per).max(1) as f64) as f32)
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

fn same(got: &[f32], want: &[f32], what: &str, case: &str) {
    assert_eq!(got.len(), want.len(), "{case}: {what} length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{case}: {what}[{i}] = {g:e} vs reference {w:e}"
        );
    }
}

fn vec_in(rng: &mut ChaCha8Rng, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(lo..hi)).collect()
}

/// The reference shape for `[N, C, L]`: `[N, C]` when `L = 1` half the time, `[N, C, H, W]`
/// when `L` factors, else `[N, C, L]` (the op reshapes all of them to `[N, C, L]`).
fn ref_shape(rng: &mut ChaCha8Rng, n: usize, c: usize, l: usize) -> Vec<usize> {
    if l == 1 && rng.random_bool(0.5) {
        vec![n, c]
    } else if l.is_multiple_of(2) && rng.random_bool(0.5) {
        vec![n, c, 2, l / 2]
    } else {
        vec![n, c, l]
    }
}

struct Case {
    spec: BatchNormSpec,
    shape: Vec<usize>,
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rmean: Vec<f32>,
    rvar: Vec<f32>,
    dy: Vec<f32>,
}

fn random_case(rng: &mut ChaCha8Rng, min_count: usize) -> Case {
    loop {
        let (n, c, l) = (
            rng.random_range(1..=9),
            rng.random_range(1..=7),
            rng.random_range(1..=30),
        );
        if n * l < min_count {
            continue;
        }
        let eps = [1e-5f32, 1e-3, 0.1][rng.random_range(0..3)];
        let momentum = [0.1f32, 0.0, 1.0, 0.37][rng.random_range(0..4)];
        let spec = BatchNormSpec {
            samples: n,
            channels: c,
            plane: l,
            eps: F32Bits::new(eps),
            momentum: F32Bits::new(momentum),
        };
        // An offset per case so the mean is not ~0 (exercises the cancellation paths).
        let shift = rng.random_range(-3.0f32..3.0);
        let x: Vec<f32> = vec_in(rng, spec.x_len(), -2.0, 2.0)
            .into_iter()
            .map(|v| v + shift)
            .collect();
        return Case {
            shape: ref_shape(rng, n, c, l),
            gamma: vec_in(rng, c, 0.5, 1.5),
            beta: vec_in(rng, c, -0.5, 0.5),
            rmean: vec_in(rng, c, -1.0, 1.0),
            rvar: vec_in(rng, c, 0.5, 2.0),
            dy: vec_in(rng, spec.x_len(), -1.0, 1.0),
            x,
            spec,
        };
    }
}

fn ref_spec(s: &BatchNormSpec) -> RefSpec {
    RefSpec {
        eps: f64::from(s.eps.get()),
        momentum: f64::from(s.momentum.get()),
    }
}

#[test]
fn training_forward_is_bit_identical_to_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut jit = JitModule::new().unwrap();
    for i in 0..80 {
        let t = random_case(&mut rng, 2);
        let s = t.spec;
        let case = format!("case {i} {s:?} shape {:?}", t.shape);
        let k = BatchNormKernel::compile(&mut jit, s).unwrap();
        let (c, len) = (s.channels, s.x_len());
        let (mut y, mut sm, mut si) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        let (mut rm, mut rv) = (t.rmean.clone(), t.rvar.clone());
        let mut scratch = vec![f32::NAN; s.scratch_len()];
        k.run_train(BatchNormTrainArgs {
            x: &t.x,
            gamma: &t.gamma,
            beta: &t.beta,
            y: &mut y,
            saved_mean: &mut sm,
            saved_invstd: &mut si,
            running_mean: &mut rm,
            running_var: &mut rv,
            scratch: &mut scratch,
        })
        .unwrap();
        let xs = ArrayD::from_shape_vec(IxDyn(&t.shape), t.x.clone()).unwrap();
        let mut running = BatchNormRunning {
            mean: Array1::from(t.rmean.clone()),
            var: Array1::from(t.rvar.clone()),
        };
        let out = batchnorm_forward_train(
            xs.view(),
            Array1::from(t.gamma.clone()).view(),
            Array1::from(t.beta.clone()).view(),
            &mut running,
            &ref_spec(&s),
        )
        .unwrap();
        same(&y, out.y.as_slice().unwrap(), "y", &case);
        same(
            &si,
            out.saved.inv_std.as_slice().unwrap(),
            "saved_invstd",
            &case,
        );
        same(&sm, &channel_means(&xs), "saved_mean", &case);
        same(&rm, running.mean.as_slice().unwrap(), "running_mean", &case);
        same(&rv, running.var.as_slice().unwrap(), "running_var", &case);
    }
}

#[test]
fn eval_forward_is_bit_identical_to_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut jit = JitModule::new().unwrap();
    for i in 0..60 {
        let t = random_case(&mut rng, 1);
        let s = t.spec;
        let case = format!("case {i} {s:?}");
        let k = BatchNormKernel::compile(&mut jit, s).unwrap();
        let mut y = vec![0.0; s.x_len()];
        k.run_eval(&t.x, &t.gamma, &t.beta, &t.rmean, &t.rvar, &mut y)
            .unwrap();
        let xs = ArrayD::from_shape_vec(IxDyn(&t.shape), t.x.clone()).unwrap();
        let running = BatchNormRunning {
            mean: Array1::from(t.rmean.clone()),
            var: Array1::from(t.rvar.clone()),
        };
        let want = batchnorm_forward_eval(
            xs.view(),
            Array1::from(t.gamma.clone()).view(),
            Array1::from(t.beta.clone()).view(),
            &running,
            &ref_spec(&s),
        )
        .unwrap();
        same(&y, want.as_slice().unwrap(), "y", &case);
    }
}

#[test]
fn backward_is_bit_identical_to_the_executor_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut jit = JitModule::new().unwrap();
    for i in 0..80 {
        let t = random_case(&mut rng, 2);
        let s = t.spec;
        let case = format!("case {i} {s:?} shape {:?}", t.shape);
        let k = BatchNormKernel::compile(&mut jit, s).unwrap();
        let (c, len) = (s.channels, s.x_len());
        // Saved statistics from the JIT training forward (checked bit-identical above).
        let (mut y, mut sm, mut si) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        let (mut rm, mut rv) = (t.rmean.clone(), t.rvar.clone());
        let mut scratch = vec![0.0; s.scratch_len()];
        k.run_train(BatchNormTrainArgs {
            x: &t.x,
            gamma: &t.gamma,
            beta: &t.beta,
            y: &mut y,
            saved_mean: &mut sm,
            saved_invstd: &mut si,
            running_mean: &mut rm,
            running_var: &mut rv,
            scratch: &mut scratch,
        })
        .unwrap();
        let (mut dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        scratch.fill(f32::NAN);
        k.run_backward(BatchNormBackwardArgs {
            x: &t.x,
            dy: &t.dy,
            gamma: &t.gamma,
            saved_mean: &sm,
            saved_invstd: &si,
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
            scratch: &mut scratch,
        })
        .unwrap();
        // The executor: x̂ from saved mean/invstd, then `batchnorm_backward`.
        let xs = ArrayD::from_shape_vec(IxDyn(&t.shape), t.x.clone()).unwrap();
        let x_hat = ArrayD::from_shape_fn(xs.raw_dim(), |ix| {
            let ci = ix[1];
            (xs[&ix] - sm[ci]) * si[ci]
        });
        let saved = BatchNormSaved {
            x_hat,
            inv_std: Array1::from(si.clone()),
        };
        let dys = ArrayD::from_shape_vec(IxDyn(&t.shape), t.dy.clone()).unwrap();
        let g =
            batchnorm_backward(dys.view(), Array1::from(t.gamma.clone()).view(), &saved).unwrap();
        same(&dx, g.dx.as_slice().unwrap(), "dx", &case);
        same(&dg, g.dgamma.as_slice().unwrap(), "dgamma", &case);
        same(&db, g.dbeta.as_slice().unwrap(), "dbeta", &case);
    }
}

#[test]
fn fixed_edge_shapes_match() {
    // Contiguous channel views (N = 1, C = 1), one value per sample, long planes, fold tails.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut jit = JitModule::new().unwrap();
    for (n, c, l) in [
        (1, 3, 17),
        (5, 1, 9),
        (1, 1, 2),
        (9, 7, 1),
        (2, 1, 1),
        (3, 2, 64),
        (16, 4, 49),
    ] {
        let spec = BatchNormSpec {
            samples: n,
            channels: c,
            plane: l,
            eps: F32Bits::new(1e-5),
            momentum: F32Bits::new(0.1),
        };
        let x = vec_in(&mut rng, spec.x_len(), -1.0, 5.0);
        let gamma = vec_in(&mut rng, c, 0.5, 1.5);
        let beta = vec_in(&mut rng, c, -0.5, 0.5);
        let k = BatchNormKernel::compile(&mut jit, spec).unwrap();
        let (mut y, mut sm, mut si) = (vec![0.0; spec.x_len()], vec![0.0; c], vec![0.0; c]);
        let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
        let mut scratch = vec![0.0; spec.scratch_len()];
        k.run_train(BatchNormTrainArgs {
            x: &x,
            gamma: &gamma,
            beta: &beta,
            y: &mut y,
            saved_mean: &mut sm,
            saved_invstd: &mut si,
            running_mean: &mut rm,
            running_var: &mut rv,
            scratch: &mut scratch,
        })
        .unwrap();
        let xs = ArrayD::from_shape_vec(IxDyn(&[n, c, l]), x.clone()).unwrap();
        let mut running = BatchNormRunning::new(c);
        let out = batchnorm_forward_train(
            xs.view(),
            Array1::from(gamma.clone()).view(),
            Array1::from(beta.clone()).view(),
            &mut running,
            &RefSpec::default(),
        )
        .unwrap();
        let case = format!("{n}x{c}x{l}");
        same(&y, out.y.as_slice().unwrap(), "y", &case);
        same(&rv, running.var.as_slice().unwrap(), "running_var", &case);
        same(&sm, &channel_means(&xs), "saved_mean", &case);
        // Determinism: a second run from the same state gives the same bits.
        let (mut y2, mut sm2, mut si2) = (vec![0.0; spec.x_len()], vec![0.0; c], vec![0.0; c]);
        let (mut rm2, mut rv2) = (vec![0.0; c], vec![1.0; c]);
        k.run_train(BatchNormTrainArgs {
            x: &x,
            gamma: &gamma,
            beta: &beta,
            y: &mut y2,
            saved_mean: &mut sm2,
            saved_invstd: &mut si2,
            running_mean: &mut rm2,
            running_var: &mut rv2,
            scratch: &mut scratch,
        })
        .unwrap();
        assert_eq!(bits(&y), bits(&y2));
        assert_eq!(bits(&rv), bits(&rv2));
    }
}

#[test]
fn bad_specs_and_lengths_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let ok = BatchNormSpec {
        samples: 2,
        channels: 3,
        plane: 4,
        eps: F32Bits::new(1e-5),
        momentum: F32Bits::new(0.1),
    };
    for bad in [
        BatchNormSpec { samples: 0, ..ok },
        BatchNormSpec { channels: 0, ..ok },
        BatchNormSpec { plane: 0, ..ok },
        BatchNormSpec {
            samples: 1 << 20,
            plane: 1 << 10,
            ..ok
        },
        BatchNormSpec {
            eps: F32Bits::new(0.0),
            ..ok
        },
        BatchNormSpec {
            eps: F32Bits::new(f32::NAN),
            ..ok
        },
        BatchNormSpec {
            eps: F32Bits::new(f32::INFINITY),
            ..ok
        },
        BatchNormSpec {
            momentum: F32Bits::new(1.5),
            ..ok
        },
        BatchNormSpec {
            momentum: F32Bits::new(-0.1),
            ..ok
        },
        BatchNormSpec {
            momentum: F32Bits::new(f32::NAN),
            ..ok
        },
    ] {
        assert!(BatchNormKernel::compile(&mut jit, bad).is_err(), "{bad:?}");
    }
    // One value per channel: eval and backward compile, training forward is refused.
    let one = BatchNormSpec {
        samples: 1,
        plane: 1,
        ..ok
    };
    let k1 = BatchNormKernel::compile(&mut jit, one).unwrap();
    let (x, g) = (vec![1.0f32; 3], vec![1.0f32; 3]);
    let (mut y, mut a, mut b2, mut rm, mut rv, mut sc) = (
        vec![0.0; 3],
        vec![0.0; 3],
        vec![0.0; 3],
        vec![0.0; 3],
        vec![1.0; 3],
        vec![0.0; 1],
    );
    assert!(
        k1.run_train(BatchNormTrainArgs {
            x: &x,
            gamma: &g,
            beta: &g,
            y: &mut y,
            saved_mean: &mut a,
            saved_invstd: &mut b2,
            running_mean: &mut rm,
            running_var: &mut rv,
            scratch: &mut sc,
        })
        .is_err()
    );
    assert!(k1.run_eval(&x, &g, &g, &rm, &rv, &mut y).is_ok());

    let k = BatchNormKernel::compile(&mut jit, ok).unwrap();
    let n = ok.x_len();
    let x = vec![0.5f32; n];
    let c3 = vec![1.0f32; 3];
    let mut y = vec![0.0; n];
    assert!(k.run_eval(&x[..n - 1], &c3, &c3, &c3, &c3, &mut y).is_err());
    assert!(k.run_eval(&x, &c3[..2], &c3, &c3, &c3, &mut y).is_err());
    assert!(k.run_eval(&x, &c3, &c3, &c3, &c3, &mut y[..n - 1]).is_err());
    assert!(k.run_eval(&x, &c3, &c3, &c3, &c3, &mut y).is_ok());
    let (mut a, mut b2, mut rm, mut rv) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3], vec![1.0; 3]);
    let mut short = vec![0.0; ok.scratch_len() - 1];
    assert!(
        k.run_train(BatchNormTrainArgs {
            x: &x,
            gamma: &c3,
            beta: &c3,
            y: &mut y,
            saved_mean: &mut a,
            saved_invstd: &mut b2,
            running_mean: &mut rm,
            running_var: &mut rv,
            scratch: &mut short,
        })
        .is_err()
    );
    let (mut dx, mut dg, mut db) = (vec![0.0; n], vec![0.0; 3], vec![0.0; 2]);
    let mut sc = vec![0.0; ok.scratch_len()];
    assert!(
        k.run_backward(BatchNormBackwardArgs {
            x: &x,
            dy: &x,
            gamma: &c3,
            saved_mean: &c3,
            saved_invstd: &c3,
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
            scratch: &mut sc,
        })
        .is_err()
    );
}
