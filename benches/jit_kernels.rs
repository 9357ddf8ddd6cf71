//! Throughput of the generated conv / pool / loss / optimizer / activation kernels against a
//! plain Rust loop and the reference ops, on LeNet-5-sized shapes (batch 64). Prints a
//! table; asserts nothing about speed.
//!
//! Run: `cargo bench --bench jit_kernels` (optionally `-- quick`).

use std::time::{Duration, Instant};

use ammc::jit::F32Bits;
use ammc::jit::JitModule;
use ammc::jit::conv::{Col2imKernel, Im2colKernel, Im2colSpec};
use ammc::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use ammc::jit::loss::{CrossEntropyKernel, CrossEntropySpec};
use ammc::jit::pool::{MaxPoolKernel, PoolSpec};
use ammc::jit::sgd::{SgdKernel, SgdSpec};
use ammc::runtime::reference::{
    Conv2dSpec, Hw, Pool2dSpec, SgdConfig, SgdState, col2im, im2col, maxpool2d_forward, sgd_step,
    sigmoid_forward, softmax_cross_entropy_backward, softmax_cross_entropy_forward,
};
use ndarray::{ArrayView1, ArrayView2, ArrayView4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Best seconds per call over `reps` batches of ~`budget` each.
fn best(mut f: impl FnMut(), budget: Duration, reps: usize) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < budget {
            f();
            calls += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / calls as f64);
    }
    best
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// The obvious slice loop: one bounds test per element.
fn plain_im2col(s: &Im2colSpec, x: &[f32], col: &mut [f32]) {
    let (oh, ow, k) = (s.out_h(), s.out_w(), s.kernel);
    let mut o = 0;
    for plane in 0..s.samples * s.channels {
        let xp = &x[plane * s.height * s.width..];
        for i in 0..k {
            for j in 0..k {
                for r in 0..oh {
                    let ih = (r * s.stride + i * s.dilation) as isize - s.pad as isize;
                    for c in 0..ow {
                        let iw = (c * s.stride + j * s.dilation) as isize - s.pad as isize;
                        col[o] = if ih >= 0
                            && iw >= 0
                            && (ih as usize) < s.height
                            && (iw as usize) < s.width
                        {
                            xp[ih as usize * s.width + iw as usize]
                        } else {
                            0.0
                        };
                        o += 1;
                    }
                }
            }
        }
    }
}

fn line(label: &str, bytes: f64, jit: f64, plain: Option<f64>, reference: f64) {
    let gbs = |t: f64| bytes / t / 1e9;
    let plain = plain.map_or("        —".to_string(), |p| {
        format!("{:6.2} ({:4.1}×)", gbs(p), p / jit)
    });
    println!(
        "{label:<34} {:8.1} µs {:7.2} GB/s | plain {plain} | reference {:6.2} GB/s ({:5.1}×)",
        jit * 1e6,
        gbs(jit),
        gbs(reference),
        reference / jit
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let (budget, reps) = if quick {
        (Duration::from_millis(60), 3)
    } else {
        (Duration::from_millis(200), 5)
    };
    let mut jit = JitModule::new().expect("host supported");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    println!(
        "JIT kernels vs a plain Rust loop and the reference ops (one thread, best of {reps})."
    );
    println!("Ratios in parentheses: time of the alternative / time of the JIT kernel.");

    let lenet1 = Im2colSpec {
        channels: 1,
        height: 28,
        width: 28,
        kernel: 5,
        stride: 1,
        pad: 2,
        dilation: 1,
        samples: 64,
    };
    let lenet2 = Im2colSpec {
        channels: 6,
        height: 14,
        width: 14,
        kernel: 5,
        stride: 1,
        pad: 0,
        dilation: 1,
        samples: 64,
    };
    let cnn = Im2colSpec {
        channels: 16,
        height: 16,
        width: 16,
        kernel: 3,
        stride: 1,
        pad: 1,
        dilation: 1,
        samples: 32,
    };
    let strided = Im2colSpec {
        channels: 8,
        height: 32,
        width: 32,
        kernel: 3,
        stride: 2,
        pad: 1,
        dilation: 1,
        samples: 16,
    };
    for (label, s) in [
        ("im2col LeNet conv1 64×1×28² k5 p2", lenet1),
        ("im2col LeNet conv2 64×6×14² k5", lenet2),
        ("im2col 32×16×16² k3 p1", cnn),
        ("im2col 16×8×32² k3 s2 p1", strided),
    ] {
        let t0 = Instant::now();
        let k = Im2colKernel::compile(&mut jit, s).expect("compiles");
        let compile = t0.elapsed();
        let x = random(&mut rng, s.x_len());
        let mut col = vec![0.0; s.col_len()];
        let bytes = 4.0 * (s.x_len() + s.col_len()) as f64;
        let tj = best(|| k.run(&x, &mut col).expect("runs"), budget, reps);
        let tp = best(|| plain_im2col(&s, &x, &mut col), budget, reps);
        let xv = ArrayView4::from_shape((s.samples, s.channels, s.height, s.width), &x[..])
            .expect("shape");
        let spec = Conv2dSpec::square(s.stride, s.pad, s.dilation);
        let out = Hw::new(s.out_h(), s.out_w());
        let tr = best(
            || {
                for n in 0..s.samples {
                    let c = im2col(
                        xv.index_axis(ndarray::Axis(0), n),
                        Hw::square(s.kernel),
                        &spec,
                        out,
                    );
                    std::hint::black_box(c);
                }
            },
            budget,
            reps,
        );
        line(label, bytes, tj, Some(tp), tr);
        println!("{:<34} compile {:.2} ms", "", compile.as_secs_f64() * 1e3);

        let kb = Col2imKernel::compile(&mut jit, s).expect("compiles");
        let mut dx = vec![0.0; s.x_len()];
        let tj = best(|| kb.run(&col, &mut dx).expect("runs"), budget, reps);
        let per = s.rows() * s.cols();
        let tr = best(
            || {
                for n in 0..s.samples {
                    let c =
                        ArrayView2::from_shape((s.rows(), s.cols()), &col[n * per..(n + 1) * per])
                            .expect("shape");
                    std::hint::black_box(col2im(
                        c,
                        s.channels,
                        Hw::new(s.height, s.width),
                        Hw::square(s.kernel),
                        &spec,
                        out,
                    ));
                }
            },
            budget,
            reps,
        );
        line(&label.replace("im2col", "col2im"), bytes, tj, None, tr);
    }

    // Max pooling 2×2 stride 2 (LeNet pool 1).
    let ps = PoolSpec {
        planes: 64 * 6,
        height: 28,
        width: 28,
        kernel: 2,
        stride: 2,
        pad: 0,
    };
    let k = MaxPoolKernel::compile(&mut jit, ps).expect("compiles");
    let x = random(&mut rng, ps.x_len());
    let (mut y, mut a) = (vec![0.0; ps.y_len()], vec![0.0; ps.y_len()]);
    let tj = best(|| k.run(&x, &mut y, &mut a).expect("runs"), budget, reps);
    let xv = ArrayView4::from_shape((64, 6, 28, 28), &x[..]).expect("shape");
    let tr = best(
        || {
            std::hint::black_box(maxpool2d_forward(xv, &Pool2dSpec::new(2)).expect("ok"));
        },
        budget,
        reps,
    );
    let bytes = 4.0 * (ps.x_len() + 2 * ps.y_len()) as f64;
    line("maxpool 64×6×28² k2 s2", bytes, tj, None, tr);

    // Sigmoid over 1 M elements: inline polynomial vs libm `expf` per element.
    let n = 1 << 20;
    let k = ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Sigmoid { len: n })
        .expect("compiles");
    let x: Vec<f32> = (0..n).map(|_| rng.random_range(-8.0f32..8.0)).collect();
    let mut y = vec![0.0; n];
    let tj = best(|| k.run(&[&x], &mut y).expect("runs"), budget, reps);
    let tp = best(
        || {
            for (o, &v) in y.iter_mut().zip(&x) {
                *o = if v >= 0.0 {
                    1.0 / (1.0 + (-v).exp())
                } else {
                    let e = v.exp();
                    e / (1.0 + e)
                };
            }
        },
        budget,
        reps,
    );
    let tr = best(
        || {
            std::hint::black_box(sigmoid_forward(ArrayView1::from(&x[..])));
        },
        budget,
        reps,
    );
    line(
        "sigmoid 1M (poly exp vs f32::exp)",
        8.0 * n as f64,
        tj,
        Some(tp),
        tr,
    );
    let k = ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Tanh { len: n }).expect("ok");
    let tj = best(|| k.run(&[&x], &mut y).expect("runs"), budget, reps);
    let tp = best(
        || {
            for (o, &v) in y.iter_mut().zip(&x) {
                *o = v.tanh();
            }
        },
        budget,
        reps,
    );
    line(
        "tanh 1M (poly vs f32::tanh)",
        8.0 * n as f64,
        tj,
        Some(tp),
        tp,
    );

    // Cross-entropy forward + backward, 64 × 10.
    let (rows, classes) = (64, 10);
    let spec = CrossEntropySpec {
        rows,
        classes,
        batch: rows,
        smoothing: F32Bits::new(0.0),
    };
    let k = CrossEntropyKernel::compile(&mut jit, spec).expect("compiles");
    let z = random(&mut rng, rows * classes);
    let labels: Vec<usize> = (0..rows).map(|i| i % classes).collect();
    let t: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
    let (mut rl, mut dl) = (vec![0.0; rows], vec![0.0; rows * classes]);
    let tj = best(
        || k.run(&z, &t, &mut rl, &mut dl).expect("runs"),
        budget,
        reps,
    );
    let zv = ArrayView2::from_shape((rows, classes), &z[..]).expect("shape");
    let tr = best(
        || {
            let f = softmax_cross_entropy_forward(zv, &labels, 0.0).expect("ok");
            std::hint::black_box(
                softmax_cross_entropy_backward(f.probs.view(), &labels, 0.0, 1.0).expect("ok"),
            );
        },
        budget,
        reps,
    );
    line(
        "cross-entropy 64×10 fwd+bwd",
        8.0 * (rows * classes) as f64,
        tj,
        None,
        tr,
    );

    // SGD with momentum over LeNet-5's 61 706 parameters.
    let len = 61_706;
    let spec = SgdSpec {
        len,
        momentum: F32Bits::new(0.9),
        dampening: F32Bits::new(0.0),
        nesterov: false,
        weight_decay: F32Bits::new(0.0),
    };
    let k = SgdKernel::compile(&mut jit, spec).expect("compiles");
    let mut p = random(&mut rng, len);
    let g = random(&mut rng, len);
    let mut v = vec![0.0; len];
    let tj = best(
        || k.run(&mut p, &g, Some(&mut v), 1e-6, false).expect("runs"),
        budget,
        reps,
    );
    let cfg = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(1e-6)
    };
    let mut state = SgdState {
        momentum_buffer: Some(v.clone()),
    };
    let tr = best(
        || sgd_step(&mut p, &g, &mut state, &cfg).expect("ok"),
        budget,
        reps,
    );
    line(
        "sgd momentum 61 706 params",
        16.0 * len as f64,
        tj,
        None,
        tr,
    );
}
