//! The whole compiled backward pass (plan wiring, fusions, residual accumulation, views)
//! against central finite differences of the loss, on small models in the reference backend.

use ammc::front::front_end;
use ammc::lower::{Role, lower};
use ammc::runtime::reference::exec::Executor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which branch every non-smooth op took: argmax indices and the sign pattern of every
/// activation. Finite differences are only meaningful where this does not change.
fn branches(ex: &Executor) -> Vec<u32> {
    let plan = ex.plan();
    let mut out = Vec::new();
    for (i, b) in plan.buffers.iter().enumerate() {
        let id = ammc::lower::BufferId(i as u32);
        if b.name.ends_with(".argmax") {
            out.extend(ex.data(id).iter().map(|v| *v as u32));
        } else if b.role == Role::Activation && b.alias.is_none() {
            out.extend(ex.data(id).iter().map(|v| u32::from(*v > 0.0)));
        }
    }
    out
}

fn check_model(backbone: &str, loss: &str, classes: usize) {
    let src = format!(
        "data d = synthetic(shape = [2, 6, 6], classes = {classes})\nbackbone b {{ {backbone} }}\nmodel m = b\n\
         train t {{ model = m data = d loss = {loss} optimizer = sgd batch = 3 }}\n"
    );
    let fe = front_end("g.amm", src.as_bytes(), None, &[]);
    let program = fe
        .program
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|x| &x.message).collect::<Vec<_>>()));
    let summaries = ammc::check::check(&program, &fe.sources)
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|x| &x.message).collect::<Vec<_>>()));
    let plan = lower(&summaries[0], 3);
    let mut ex = Executor::new(&plan, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let per: usize = plan.buffer(plan.input).shape.iter().skip(1).product();
    let features: Vec<f32> = (0..3 * per).map(|_| rng.random_range(-1.0..1.0)).collect();
    let targets: Vec<f32> = match loss {
        l if l.starts_with("cross_entropy") => (0..3).map(|i| (i % classes) as f32).collect(),
        _ => {
            let out: usize = plan.buffer(plan.output).shape.iter().product();
            (0..out).map(|_| rng.random_range(-1.0..1.0)).collect()
        }
    };
    ex.load_batch(&features, &targets, 3).unwrap();
    // Dropout would make the loss random; the models here have none.
    let loss_at = |ex: &mut Executor| -> f64 {
        ex.forward(true).unwrap();
        f64::from(ex.loss().unwrap())
    };
    loss_at(&mut ex);
    ex.backward().unwrap();
    let mut worst = 0f64;
    let (mut checked, mut kinks) = (0usize, 0usize);
    for p in plan.params.clone() {
        let g = p.grad.expect("trainable");
        let analytic = ex.data(g).to_vec();
        for (i, &grad_i) in analytic.iter().enumerate() {
            let orig = ex.data(p.buffer)[i];
            let h = 1e-2f32;
            let center = loss_at(&mut ex);
            let at_center = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig + h;
            let up = loss_at(&mut ex);
            let at_up = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig - h;
            let down = loss_at(&mut ex);
            let at_down = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig;
            let numeric = (up - down) / (2.0 * f64::from(h));
            // A ReLU or max switching inside [x-h, x+h] makes the one-sided slopes disagree
            // wildly; finite differences say nothing there, so such coordinates are skipped
            // (and counted) when they also miss.
            let (fwd, bwd) = ((up - center) / f64::from(h), (center - down) / f64::from(h));
            let switched = at_up != at_center || at_down != at_center;
            let kink = switched || (fwd - bwd).abs() > 0.3 * (fwd.abs().max(bwd.abs()) + 1e-3);
            let err = (numeric - f64::from(grad_i)).abs()
                / (1e-2 + numeric.abs().max(f64::from(grad_i).abs()));
            worst = worst.max(err);
            if err >= 5e-2 && kink {
                kinks += 1;
                continue;
            }
            checked += 1;
            assert!(
                err < 5e-2,
                "{backbone} / {loss}: {} [{i}] analytic {} numeric {numeric}",
                plan.buffer(p.buffer).name,
                grad_i
            );
        }
    }
    assert!(plan.buffers.iter().any(|b| b.role == Role::ActGrad));
    assert!(
        kinks * 5 < checked,
        "{kinks} kinks vs {checked} checked coordinates"
    );
    eprintln!("{backbone}: worst relative error {worst:.2e}");
}

#[test]
fn dense_stack_with_fused_activations() {
    check_model(
        "flatten dense(7) relu dense(5) tanh dense(4) sigmoid dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn conv_pool_stack() {
    check_model(
        "conv(3, kernel = 3, pad = 1) relu maxpool(2) conv(4, kernel = 2) leaky_relu(slope = 0.1) flatten dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn residual_and_avgpool() {
    check_model(
        "conv(2, kernel = 3, pad = 1) residual { conv(2, kernel = 3, pad = 1) relu conv(2, kernel = 3, pad = 1) } avgpool(2) global_avgpool dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn batchnorm_gelu_softmax_and_mse() {
    check_model(
        "conv(3, kernel = 3) batchnorm tanh flatten dense(4) gelu dense(3) softmax dense(1)",
        "mse",
        3,
    );
}

#[test]
fn batchnorm_and_mae() {
    check_model("flatten dense(5) batchnorm tanh dense(1)", "mae", 2);
}

#[test]
fn smooth_conv_pool_stack() {
    check_model(
        "conv(3, kernel = 3, pad = 1) tanh avgpool(2) conv(4, kernel = 2) tanh flatten dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn smooth_residual() {
    check_model(
        "conv(2, kernel = 3, pad = 1) residual { conv(2, kernel = 3, pad = 1) tanh conv(2, kernel = 3, pad = 1) } global_avgpool dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn maxpool_into_conv() {
    check_model(
        "conv(3, kernel = 3, pad = 1) tanh maxpool(2) conv(4, kernel = 2) tanh flatten dense(3)",
        "cross_entropy",
        3,
    );
}

#[test]
fn label_smoothing() {
    check_model(
        "flatten dense(6) relu dense(4)",
        "cross_entropy(label_smoothing = 0.2)",
        4,
    );
}
