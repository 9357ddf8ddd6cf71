//! The JIT backend against the reference backend on whole plans: one training step of many
//! models (every buffer compared: activations, gradients, updated params, optimizer state),
//! short batches, evaluation mode, and bit-identical results for 1, 2 and 3 threads.

use ammc::front::front_end;
use ammc::lower::{Plan, Role, lower};
use ammc::runtime::backend::{Backend, BackendKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Models (inline sources) covering every kernel kind the JIT generates and the fallbacks.
const MODELS: &[(&str, &str)] = &[
    (
        "mlp_adam",
        "data d = synthetic(shape = [20], classes = 5, n = 200, split = [0.8, 0.2], seed = 1)
         backbone b { dense(33) relu dense(17) relu }
         model m = b -> classifier(classes = 5)
         train t { model = m data = d loss = cross_entropy optimizer = adam(lr = 0.01) epochs = 1 batch = 13 }",
    ),
    (
        // Products large enough for sgemm and for two tasks, whose halves (20 rows) would
        // be generated if parts were routed by their own shape; the second layer's weight
        // gradient (64 × 400) is split by columns.
        "wide_mlp_sgemm_splits",
        "data d = synthetic(shape = [300], classes = 6, n = 200, split = [0.8, 0.2], seed = 6)
         backbone b { dense(400) relu dense(64) relu }
         model m = b -> classifier(classes = 6)
         train t { model = m data = d loss = cross_entropy optimizer = sgd(lr = 0.05, momentum = 0.9) epochs = 1 batch = 40 }",
    ),
    (
        "lenet_sgd",
        "data d = synthetic(shape = [1, 28, 28], classes = 10, n = 100, split = [0.8, 0.2], seed = 2)
         model m = lenet5 -> classifier(classes = 10)
         train t { model = m data = d loss = cross_entropy optimizer = sgd(lr = 0.05, momentum = 0.9) epochs = 1 batch = 9 }",
    ),
    (
        "conv_stride_dilation_residual",
        "data d = synthetic(shape = [3, 11, 9], classes = 4, n = 60, split = [0.8, 0.2], seed = 3)
         backbone b {
             conv(5, kernel = 3, stride = 2, pad = 1) relu
             residual { conv(5, kernel = 3, pad = 2, dilation = 2) relu conv(5, kernel = 1) }
             conv(7, kernel = 2) avgpool(2) flatten dense(6) tanh
         }
         model m = b -> classifier(classes = 4)
         train t { model = m data = d loss = cross_entropy(label_smoothing = 0.1) optimizer = adamw(lr = 0.003, weight_decay = 0.01) epochs = 1 batch = 7 clip_norm = 1.0 }",
    ),
    (
        "batchnorm_dropout_sigmoid",
        "data d = synthetic(shape = [2, 6, 6], classes = 3, n = 60, split = [0.8, 0.2], seed = 4)
         backbone b { conv(4, kernel = 3) batchnorm relu maxpool(2, stride = 1) flatten dropout(0.2) dense(9) sigmoid dense(8) leaky_relu(0.1) }
         model m = b -> classifier(classes = 3)
         train t { model = m data = d loss = cross_entropy optimizer = sgd(lr = 0.1, nesterov = true, momentum = 0.5, weight_decay = 0.001) epochs = 1 batch = 10 }",
    ),
    (
        "global_pool_gelu",
        "data d = synthetic(shape = [2, 5, 5], classes = 3, n = 60, split = [0.8, 0.2], seed = 5)
         backbone b { conv(4, kernel = 3, pad = 1) relu global_avgpool flatten dense(6) gelu }
         model m = b -> classifier(classes = 3)
         train t { model = m data = d loss = cross_entropy optimizer = adam(lr = 0.01) epochs = 1 batch = 8 }",
    ),
];

fn plan_of(src: &str, name: &str) -> Plan {
    let src = format!("use std.heads.{{classifier}}\nuse std.backbones.{{lenet5}}\n{src}\n");
    let fe = front_end(name, src.as_bytes(), None, &[]);
    let program = fe
        .program
        .unwrap_or_else(|d| panic!("{name}: {}", ammc::diag::render_plain(&d, &fe.sources, 100)));
    let models = ammc::check::check(&program, &fe.sources)
        .unwrap_or_else(|d| panic!("{name}: {}", ammc::diag::render_plain(&d, &fe.sources, 100)));
    lower(&models[0], models[0].spec.batch)
}

/// A batch of `rows` random inputs and class labels.
fn batch(plan: &Plan, rows: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per: usize = plan.buffer(plan.input).shape[1..].iter().product();
    let classes = *plan.buffer(plan.output).shape.last().unwrap();
    let x = (0..rows * per)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let y = (0..rows)
        .map(|_| rng.random_range(0..classes) as f32)
        .collect();
    (x, y)
}

/// Runs `steps` training steps (alternating full and short batches) and one evaluation
/// forward pass.
fn run(ex: &mut dyn Backend, plan: &Plan, steps: usize) -> Vec<f32> {
    let mut losses = Vec::new();
    for s in 0..steps {
        let rows = if s % 2 == 0 {
            plan.batch
        } else {
            plan.batch - 2
        };
        let (x, y) = batch(plan, rows, s as u64);
        ex.load_batch(&x, &y, rows).unwrap();
        ex.forward(true).unwrap();
        losses.push(ex.loss().unwrap());
        ex.backward().unwrap();
        ex.update(0.05, s as u64 + 1).unwrap();
    }
    let (x, y) = batch(plan, 5, 99);
    ex.load_batch(&x, &y, 5).unwrap();
    ex.forward(false).unwrap();
    losses.push(ex.loss().unwrap());
    losses
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = a
        .iter()
        .chain(b)
        .fold(1e-3f64, |m, v| m.max(f64::from(v.abs())));
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()) / scale)
        .fold(0.0, f64::max)
}

#[test]
fn one_step_matches_the_reference_on_every_buffer() {
    for (name, src) in MODELS {
        let plan = plan_of(src, name);
        let mut reference = BackendKind::Reference.instantiate(&plan, 7).unwrap();
        let mut jit = BackendKind::Jit {
            threads: 2,
            gemm: ammc::runtime::compiled::GemmRoute::Auto,
        }
        .instantiate(&plan, 7)
        .unwrap();
        // Same initial weights.
        for p in &plan.params {
            assert_eq!(reference.data(p.buffer), jit.data(p.buffer), "{name}");
        }
        let (x, y) = batch(&plan, plan.batch, 1);
        for ex in [&mut reference, &mut jit] {
            ex.load_batch(&x, &y, plan.batch).unwrap();
            ex.forward(true).unwrap();
            ex.loss().unwrap();
            ex.backward().unwrap();
            ex.update(0.05, 1).unwrap();
        }
        for (i, b) in plan.buffers.iter().enumerate() {
            // ActGrad buffers of fused layers hold dy before (reference: after) the
            // activation mask; the mask is compared through the param gradients.
            if b.alias.is_some() || b.role == Role::ActGrad || b.role == Role::Scratch {
                continue;
            }
            let id = ammc::lower::BufferId(i as u32);
            let d = max_rel_diff(reference.data(id), jit.data(id));
            assert!(d < 2e-5, "{name}: buffer {} differs by {d:e}", b.name);
        }
    }
}

#[test]
fn training_steps_track_the_reference_and_threads_do_not_change_bits() {
    for (name, src) in MODELS {
        let plan = plan_of(src, name);
        let mut reference = BackendKind::Reference.instantiate(&plan, 3).unwrap();
        let ref_losses = run(reference.as_mut(), &plan, 6);
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let mut jit = BackendKind::Jit {
                threads,
                gemm: ammc::runtime::compiled::GemmRoute::Auto,
            }
            .instantiate(&plan, 3)
            .unwrap();
            let losses = run(jit.as_mut(), &plan, 6);
            let params: Vec<Vec<f32>> = plan
                .params
                .iter()
                .map(|p| jit.data(p.buffer).to_vec())
                .collect();
            results.push((losses, params));
        }
        for (i, (l, p)) in results.iter().enumerate().skip(1) {
            assert_eq!(
                l.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                results[0].0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}: losses with {} threads differ from 1 thread",
                i + 1
            );
            for (a, b) in p.iter().zip(&results[0].1) {
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{name}: params with {} threads differ from 1 thread",
                    i + 1
                );
            }
        }
        let d = max_rel_diff(&ref_losses, &results[0].0);
        assert!(
            d < 1e-4,
            "{name}: losses {ref_losses:?} vs {:?}",
            results[0].0
        );
    }
}

/// Trains an example file end to end with a backend; returns the final metrics.
fn train_example(path: &str, backend: BackendKind) -> Vec<(String, f64)> {
    let bytes = std::fs::read(path).unwrap();
    let fe = front_end(path, &bytes, Some(std::path::Path::new(path)), &[]);
    let program = fe.program.unwrap_or_else(|_| panic!("{path} resolves"));
    let models = ammc::check::check(&program, &fe.sources).unwrap_or_else(|_| panic!("checks"));
    let base = std::path::Path::new(path).parent().unwrap();
    let splits = ammc::data::load(&models[0].spec.data, base).unwrap();
    let r = ammc::runtime::train::train_with(backend, &models[0], &splits, &mut |_| {}).unwrap();
    r.finals
        .iter()
        .map(|(s, m)| (s.clone(), m.mse.or(m.accuracy).unwrap_or(m.loss)))
        .collect()
}

#[test]
fn regression_example_with_mse_dropout_and_gelu_tracks_the_reference() {
    let reference = train_example("examples/regression.amm", BackendKind::Reference);
    let jit = train_example(
        "examples/regression.amm",
        BackendKind::Jit {
            threads: 2,
            gemm: ammc::runtime::compiled::GemmRoute::Auto,
        },
    );
    assert_eq!(reference.len(), jit.len());
    for ((s, a), (_, b)) in reference.iter().zip(&jit) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-3), "{s}: {a} vs {b}");
    }
}
