//! Training throughput on the workloads the JIT issue measures: LeNet-5 on synthetic
//! [1, 28, 28] at batch 64 (SGD with momentum) and the digits MLP (64-128-64-10, Adam,
//! batch 32), for the reference backend and the JIT on 1 and 2 threads, plus the JIT's
//! compile time per model. Run: `cargo bench --bench train_throughput`.
//! Prints samples/s, ms per epoch (training steps only, and with evaluation) and ratios
//! against the reference measured in the same run.

use std::time::Instant;

use ammc::front::front_end;
use ammc::runtime::backend::BackendKind;
use ammc::runtime::compiled::{GemmRoute, JitExecutor};
use ammc::runtime::train::{Progress, train_with};

fn jit(threads: usize, gemm: GemmRoute) -> BackendKind {
    BackendKind::Jit { threads, gemm }
}

/// One measured training run.
#[derive(Clone, Copy)]
struct Measured {
    samples_per_sec: f64,
    /// Training steps only, per epoch.
    train_ms: f64,
    /// Whole epoch including evaluation of the validation split.
    epoch_ms: f64,
}

fn model(name: &str, src: &str) -> (ammc::check::ModelSummary, ammc::data::Splits) {
    let fe = front_end(name, src.as_bytes(), None, &[]);
    let program = fe.program.unwrap_or_else(|_| panic!("{name} resolves"));
    let models =
        ammc::check::check(&program, &fe.sources).unwrap_or_else(|_| panic!("{name} checks"));
    let splits = ammc::data::load(&models[0].spec.data, std::path::Path::new(".")).expect("data");
    (models[0].clone(), splits)
}

/// Best of `repeats` runs (the machine is shared; the minimum is the least disturbed).
fn run(name: &str, src: &str, backend: BackendKind, repeats: usize) -> Measured {
    let (m, splits) = model(name, src);
    let mut best: Option<Measured> = None;
    for _ in 0..repeats {
        let mut epoch_secs = Vec::new();
        let r = train_with(backend, &m, &splits, &mut |p: Progress| {
            if let Progress::EpochEnd { seconds, .. } = p {
                epoch_secs.push(seconds);
            }
        })
        .expect("trains");
        let n = splits.train.len() as f64;
        let meas = Measured {
            samples_per_sec: r.samples_per_sec,
            train_ms: n / r.samples_per_sec * 1000.0,
            epoch_ms: epoch_secs.iter().sum::<f64>() * 1000.0 / epoch_secs.len().max(1) as f64,
        };
        if best
            .as_ref()
            .is_none_or(|b| meas.samples_per_sec > b.samples_per_sec)
        {
            best = Some(meas);
        }
    }
    best.expect("at least one run")
}

/// Wall time of generating and compiling every kernel of the model's plan.
fn compile_ms(name: &str, src: &str) -> (f64, u64) {
    let (m, _) = model(name, src);
    let plan = ammc::lower::lower(&m, m.spec.batch);
    let t0 = Instant::now();
    let ex = JitExecutor::new(&plan, 0, 1).expect("compiles");
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    (ms, ex.stats().functions)
}

fn main() {
    let lenet = "use std.backbones.{lenet5}\nuse std.heads.{classifier}\n\
        data images = synthetic(shape = [1, 28, 28], classes = 10, n = 4_000, split = [0.8, 0.1, 0.1], seed = 3)\n\
        model lenet = lenet5 -> classifier(classes = 10)\n\
        train fit { model = lenet data = images loss = cross_entropy optimizer = sgd(lr = 0.01, momentum = 0.9) epochs = 2 batch = 64 }\n";
    let mlp = std::fs::read_to_string("examples/quickstart.amm").expect("examples/quickstart.amm");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("{cpu}; best of 3 runs each");
    let workloads = [
        (
            "LeNet-5 [1,28,28] batch 64 SGD",
            "lenet.amm",
            lenet.to_string(),
        ),
        (
            "digits MLP 64-128-64-10 Adam b32",
            "examples/quickstart.amm",
            mlp,
        ),
    ];
    for (label, name, src) in &workloads {
        println!("{label}:");
        let base = run(name, src, BackendKind::Reference, 3);
        for (what, backend) in [
            ("reference", BackendKind::Reference),
            ("jit 1 thread", jit(1, GemmRoute::Auto)),
            ("jit 2 threads", jit(2, GemmRoute::Auto)),
            ("jit 1t, all-Cranelift GEMM", jit(1, GemmRoute::Cranelift)),
            ("jit 2t, all-Cranelift GEMM", jit(2, GemmRoute::Cranelift)),
        ] {
            let m = if backend == BackendKind::Reference {
                base
            } else {
                run(name, src, backend, 3)
            };
            println!(
                "  {what:<27} {:>9.0} samples/s  {:>7.2} ms/epoch training  {:>7.2} ms/epoch with validation  {:>5.2}x reference",
                m.samples_per_sec,
                m.train_ms,
                m.epoch_ms,
                m.samples_per_sec / base.samples_per_sec
            );
        }
        let (ms, functions) = compile_ms(name, src);
        println!("  jit compile: {ms:.1} ms for {functions} functions (full batch + updates)");
    }
}
