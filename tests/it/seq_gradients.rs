//! Backward through time as lowered: every gradient of a sequence model's plan (recurrent
//! layers in both directions, 1-D convolution and pooling, the time glue, embeddings)
//! against central finite differences of the loss, in the reference backend.

use ammc::front::front_end;
use ammc::lower::{Role, lower};
use ammc::runtime::reference::exec::Executor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Branch pattern of the non-smooth ops (max-pool winners): finite differences are only
/// meaningful where it does not change.
fn branches(ex: &Executor) -> Vec<u32> {
    let plan = ex.plan();
    let mut out = Vec::new();
    for (i, b) in plan.buffers.iter().enumerate() {
        if b.name.ends_with(".argmax") {
            out.extend(
                ex.data(ammc::lower::BufferId(i as u32))
                    .iter()
                    .map(|v| *v as u32),
            );
        }
    }
    out
}

/// Checks every parameter gradient of `backbone` on `data` (a loader call giving
/// sequences), with a 3-class cross-entropy or an MSE head. `ids` gives integer inputs
/// in `0..ids` (token ids) instead of reals.
fn check_model(data: &str, backbone: &str, loss: &str, ids: Option<u32>) {
    let src = format!(
        "data d = {data}\nbackbone b {{ {backbone} }}\nmodel m = b\n\
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
    let features: Vec<f32> = (0..3 * per)
        .map(|_| match ids {
            Some(v) => rng.random_range(0..v) as f32,
            None => rng.random_range(-1.0..1.0),
        })
        .collect();
    let targets: Vec<f32> = if loss == "cross_entropy" {
        (0..3).map(|i| (i % 3) as f32).collect()
    } else {
        let out: usize = plan.buffer(plan.output).shape.iter().product();
        (0..out).map(|_| rng.random_range(-1.0..1.0)).collect()
    };
    ex.load_batch(&features, &targets, 3).unwrap();
    let loss_at = |ex: &mut Executor| -> f64 {
        ex.forward(true).unwrap();
        f64::from(ex.loss().unwrap())
    };
    loss_at(&mut ex);
    ex.backward().unwrap();
    let (mut checked, mut switched) = (0usize, 0usize);
    for p in plan.params.clone() {
        let g = p.grad.expect("trainable");
        let analytic = ex.data(g).to_vec();
        for (i, &grad_i) in analytic.iter().enumerate() {
            let orig = ex.data(p.buffer)[i];
            let h = 1e-2f32;
            loss_at(&mut ex);
            let at_center = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig + h;
            let up = loss_at(&mut ex);
            let at_up = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig - h;
            let down = loss_at(&mut ex);
            let at_down = branches(&ex);
            ex.data_mut(p.buffer)[i] = orig;
            if at_up != at_center || at_down != at_center {
                switched += 1;
                continue;
            }
            let numeric = (up - down) / (2.0 * f64::from(h));
            let err = (numeric - f64::from(grad_i)).abs()
                / (1e-2 + numeric.abs().max(f64::from(grad_i).abs()));
            checked += 1;
            assert!(
                err < 2e-2,
                "{backbone}: {} [{i}] analytic {grad_i} numeric {numeric}",
                plan.buffer(p.buffer).name
            );
        }
    }
    assert!(plan.buffers.iter().any(|b| b.role == Role::ActGrad));
    assert!(
        switched * 5 < checked,
        "{switched} switched vs {checked} checked"
    );
}

const SEQ: &str = "synthetic(shape = [5, 3], classes = 3)";

#[test]
fn gru_last_state_into_dense() {
    check_model(SEQ, "gru(4) dense(3)", "cross_entropy", None);
}

#[test]
fn stacked_bidirectional_lstm_over_every_step() {
    check_model(
        SEQ,
        "lstm(3, return_sequences = true, bidirectional = true) gru(2, bidirectional = true) dense(3)",
        "cross_entropy",
        None,
    );
}

#[test]
fn conv1d_pooling_and_time_glue() {
    check_model(
        SEQ,
        "conv1d(4, kernel = 3, pad = 1) tanh maxpool1d(2, stride = 1) conv1d(3, kernel = 2, dilation = 2) avgpool1d(2, stride = 1) gru(3, return_sequences = true) mean dense(3)",
        "cross_entropy",
        None,
    );
    check_model(
        "builtin.adding(n = 20, steps = 5)",
        "lstm(3, return_sequences = true) last dense(1)",
        "mse",
        None,
    );
}

#[test]
fn embedding_into_a_recurrent_layer() {
    check_model(
        "synthetic(shape = [6], classes = 3)",
        "embedding(7, 4) gru(3, bidirectional = true) dense(3)",
        "cross_entropy",
        Some(7),
    );
}
