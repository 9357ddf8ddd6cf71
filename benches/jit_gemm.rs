//! GFLOP/s of the generated GEMM against ndarray `dot` and `matrixmultiply::sgemm` (both
//! single-threaded), plus compile time per kernel. Prints a table; asserts nothing about speed.
//!
//! Run: `cargo bench --bench jit_gemm` (optionally `-- quick` for fewer repetitions).

use std::time::{Duration, Instant};

use ammc::jit::gemm::{GemmKernel, GemmOp, GemmSpec};
use ammc::jit::{JitModule, JitOptions, OptLevel};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Best time of `reps` batches, each running `f` until ~`budget` has passed.
fn best_secs_per_call(mut f: impl FnMut(), budget: Duration, reps: usize) -> f64 {
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

fn random(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0f32..1.0))
}

struct Row {
    label: String,
    op: GemmOp,
    compile_ms: f64,
    jit: f64,
    jit_speed: f64,
    nd: f64,
    mm: f64,
}

fn measure(m: usize, k: usize, n: usize, op: GemmOp, budget: Duration, reps: usize) -> Row {
    let mut rng = ChaCha8Rng::seed_from_u64((m * 31 + k * 7 + n) as u64);
    let spec = GemmSpec {
        m,
        n,
        k,
        op,
        bias: false,
        relu: false,
        accumulate: false,
    };
    let flops = spec.flops() / 1e9;
    // Stored operands as each variant expects them; the baselines compute the same product.
    let (a, b) = match op {
        GemmOp::Nt => (random(&mut rng, m, k), random(&mut rng, n, k)),
        GemmOp::Nn => (random(&mut rng, m, k), random(&mut rng, k, n)),
        GemmOp::Tn => (random(&mut rng, k, m), random(&mut rng, k, n)),
    };
    let (av, bv) = match op {
        GemmOp::Nt => (a.view(), b.t()),
        GemmOp::Nn => (a.view(), b.view()),
        GemmOp::Tn => (a.t(), b.view()),
    };
    let mut jit = JitModule::new().expect("host supported");
    let t0 = Instant::now();
    let kernel = GemmKernel::compile(&mut jit, spec).expect("compiles");
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (a_s, b_s) = (
        a.as_slice().expect("standard"),
        b.as_slice().expect("standard"),
    );
    let mut c = vec![0.0f32; m * n];
    let mut scratch = vec![0.0f32; spec.scratch_len()];
    let jit_s = best_secs_per_call(
        || {
            kernel
                .run(a_s, b_s, None, &mut c, &mut scratch)
                .expect("lengths match")
        },
        budget,
        reps,
    );
    // The same kernel compiled with Cranelift's `speed` mid-end, for comparison.
    let mut jit_speed = JitModule::with_options(JitOptions {
        opt_level: OptLevel::Speed,
        ..JitOptions::default()
    })
    .expect("host supported");
    let kernel_speed = GemmKernel::compile(&mut jit_speed, spec).expect("compiles");
    let mut c2 = vec![0.0f32; m * n];
    let speed_s = best_secs_per_call(
        || {
            kernel_speed
                .run(a_s, b_s, None, &mut c2, &mut scratch)
                .expect("lengths match")
        },
        budget,
        reps,
    );
    let nd_s = best_secs_per_call(
        || {
            std::hint::black_box(av.dot(&bv));
        },
        budget,
        reps,
    );
    let mut cm = Array2::<f32>::zeros((m, n));
    let mm_s = best_secs_per_call(
        || {
            // SAFETY: the pointers and strides describe `av`, `bv` and `cm`, all alive and
            // of the stated shapes; `cm` is uniquely borrowed.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    av.as_ptr(),
                    av.strides()[0],
                    av.strides()[1],
                    bv.as_ptr(),
                    bv.strides()[0],
                    bv.strides()[1],
                    0.0,
                    cm.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        },
        budget,
        reps,
    );
    // The JIT result must equal the baseline's (up to rounding) or the numbers mean nothing.
    let want = av.dot(&bv);
    let max_err = c
        .iter()
        .zip(want.iter())
        .fold(0.0f32, |e, (x, y)| e.max((x - y).abs()));
    assert!(
        max_err <= 1e-4 * k as f32,
        "JIT disagrees with ndarray: {max_err}"
    );
    Row {
        label: format!("{m}x{k}x{n}"),
        op,
        compile_ms,
        jit: flops / jit_s,
        jit_speed: flops / speed_s,
        nd: flops / nd_s,
        mm: flops / mm_s,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let (budget, reps) = if quick {
        (Duration::from_millis(60), 3)
    } else {
        (Duration::from_millis(200), 5)
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("CPU: {cpu}; single thread; GFLOP/s = 2·M·K·N / best time");
    println!(
        "{:<14} {:<3} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9}",
        "M×K×N", "op", "compile", "jit", "jit-speed", "ndarray", "mm", "jit/nd", "jit/mm"
    );
    let shapes: &[(usize, usize, usize)] = &[
        (64, 64, 64),
        (128, 128, 128),
        (256, 256, 256),
        (384, 384, 384),
        (512, 512, 512),
        (64, 400, 120),
        (32, 64, 128),
        (64, 784, 128),
    ];
    let ops: &[GemmOp] = if std::env::args().any(|a| a == "all-ops") {
        &[GemmOp::Nt, GemmOp::Nn, GemmOp::Tn]
    } else {
        &[GemmOp::Nt]
    };
    for &(m, k, n) in shapes {
        for &op in ops {
            let r = measure(m, k, n, op, budget, reps);
            println!(
                "{:<14} {:<3} {:>6.1}ms {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>8.2}× {:>8.2}×",
                r.label,
                format!("{:?}", r.op).to_uppercase(),
                r.compile_ms,
                r.jit,
                r.jit_speed,
                r.nd,
                r.mm,
                r.jit / r.nd,
                r.jit / r.mm
            );
        }
    }
}
