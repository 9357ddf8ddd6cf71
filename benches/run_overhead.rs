//! Per-epoch cost of a whole train run (`runtime::program::run_train`: events, the
//! appended `metrics.jsonl`, periodic checkpoints, the staged commit) from 10 to 10,000
//! epochs of a tiny model, so the run's bookkeeping dominates. A cost that grows with the
//! run's length (a rewritten log, a re-read journal) shows as a rising ms/epoch.
//! Run: `cargo bench --bench run_overhead`.

use std::time::Instant;

use ammc::front::front_end;
use ammc::run::events::Silent;
use ammc::run::{Interrupt, RunContext};
use ammc::runtime::backend::BackendKind;
use ammc::runtime::program::{TrainJob, run_train};

const PROGRAM: &str = r#"
data tiny = synthetic(shape = [4], classes = 2, n = 40)
backbone f { dense(2) }
model net = f
train fit { model = net data = tiny loss = cross_entropy optimizer = sgd epochs = 10 batch = 64 }
"#;

fn main() {
    let out = std::env::temp_dir().join(format!("ammc-bench-overhead-{}", std::process::id()));
    println!("epochs   wall s   ms/epoch   (checkpoint every 5 s, as `ammc run` does)");
    for epochs in [10usize, 100, 1_000, 10_000] {
        let fe = front_end("bench.amm", PROGRAM.as_bytes(), None, &[]);
        let program = fe.program.expect("resolves");
        let mut models = ammc::check::check(&program, &fe.sources).expect("checks");
        let mut model = models.remove(0);
        model.spec.epochs = epochs;
        let span = program.defs[0].item.span;
        let job = TrainJob {
            model: &model,
            span,
            pretrained: Vec::new(),
            hash: "bench".to_string(),
            inputs: serde_json::Value::Null,
        };
        let mut sink = Silent;
        let mut ctx = RunContext {
            out_dir: out.clone(),
            base_dir: ".".into(),
            backend: BackendKind::Jit {
                threads: 1,
                gemm: Default::default(),
            },
            events: &mut sink,
            interrupt: Interrupt::new(),
            resume: false,
            checkpoint_seconds: 5.0,
            overrides: Vec::new(),
            tune_storage: None,
        };
        let t = Instant::now();
        run_train(&job, &mut ctx).expect("runs");
        let s = t.elapsed().as_secs_f64();
        println!(
            "{epochs:>6}   {s:>6.2}   {:>8.4}",
            s * 1000.0 / epochs as f64
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
