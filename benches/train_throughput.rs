//! Training throughput of the reference backend on the workloads the JIT issue measures:
//! LeNet-5 on synthetic [1, 28, 28] at batch 64 (SGD with momentum) and the digits MLP
//! (64-128-64-10, Adam, batch 32). Run: `cargo bench --bench train_throughput`.
//! Prints samples/s and ms per epoch; the JIT backend will print its ratio against these.

use std::time::Instant;

use ammc::front::front_end;
use ammc::runtime::train::{Progress, train};

fn run(name: &str, src: &str) -> (f64, f64) {
    let fe = front_end(name, src.as_bytes(), None, &[]);
    let program = fe.program.unwrap_or_else(|_| panic!("{name} resolves"));
    let models =
        ammc::check::check(&program, &fe.sources).unwrap_or_else(|_| panic!("{name} checks"));
    let splits = ammc::data::load(&models[0].spec.data, std::path::Path::new(".")).expect("data");
    let start = Instant::now();
    let r = train(&models[0], &splits, &mut |_: Progress| {}).expect("trains");
    let per_epoch = start.elapsed().as_secs_f64() * 1000.0 / models[0].spec.epochs as f64;
    (r.samples_per_sec, per_epoch)
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
    println!("reference backend, 1 thread, {cpu}");
    let (sps, ms) = run("lenet.amm", lenet);
    println!(
        "LeNet-5 [1,28,28] batch 64 SGD: {sps:>10.0} samples/s  ({ms:.1} ms/epoch incl. validation)"
    );
    let (sps, ms) = run("examples/quickstart.amm", &mlp);
    println!(
        "digits MLP 64-128-64-10 Adam b32: {sps:>9.0} samples/s  ({ms:.2} ms/epoch incl. validation)"
    );
}
