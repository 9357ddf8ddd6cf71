//! GFLOP/s of the JIT GEMM against ndarray's `dot` (matrixmultiply, one thread) on the same
//! machine in the same run, plus the JIT compile time per kernel.
//! Run: `cargo bench --bench jit_gemm`.

use std::time::Instant;

use ammc::jit::gemm::Gemm;
use ndarray::Array2;

fn time<F: FnMut()>(mut f: F, flops: f64) -> f64 {
    // Repeat until ~0.2 s has passed; report the best of 3 rounds.
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let mut reps = 0u32;
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < 0.2 || reps < 3 {
            f();
            reps += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / f64::from(reps));
    }
    flops / best / 1e9
}

fn main() {
    println!(
        "{:>16} {:>10} {:>10} {:>8} {:>12}",
        "M x K x N", "jit GF/s", "dot GF/s", "ratio", "compile ms"
    );
    let shapes = [
        (64, 64, 64),
        (128, 128, 128),
        (256, 256, 256),
        (384, 384, 384),
        (512, 512, 512),
        (64, 400, 120),
        (32, 64, 128),
        (64, 784, 128),
        (64, 120, 84),
    ];
    for (m, k, n) in shapes {
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 13) as f32 / 13.0 - 0.5);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 11) % 17) as f32 / 17.0 - 0.5);
        let t0 = Instant::now();
        let mut g = Gemm::new(m, k, n, false, false).expect("compiles");
        let compile_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let (av, bv) = (
            a.as_slice().unwrap().to_vec(),
            b.as_slice().unwrap().to_vec(),
        );
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let jit = time(|| g.run(&av, &bv, &mut c, false).expect("runs"), flops);
        let dot = time(
            || {
                std::hint::black_box(a.dot(&b));
            },
            flops,
        );
        println!(
            "{:>16} {:>10.1} {:>10.1} {:>8.2} {:>12.2}",
            format!("{m}x{k}x{n}"),
            jit,
            dot,
            jit / dot,
            compile_ms
        );
    }
}
