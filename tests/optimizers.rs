//! Optimizer steps against values worked out by hand from PyTorch's documented update rules
//! (torch.optim.SGD / Adam / AdamW), and learning-rate schedules at known points.

use ammc::check::spec::Schedule;
use ammc::runtime::reference::exec::{AdamParams, SgdParams, adam_step, sgd_step};
use ammc::runtime::train::learning_rate;

fn close(a: f32, b: f32) {
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

#[test]
fn sgd_nesterov_two_steps() {
    // p = 1, g = 0.5 both steps, lr 0.1, momentum 0.9, nesterov:
    // step 1: v = 0.5, d = 0.5 + 0.9·0.5 = 0.95 → p = 0.905
    // step 2: v = 0.9·0.5 + 0.5 = 0.95, d = 0.5 + 0.9·0.95 = 1.355 → p = 0.7695
    let h = SgdParams {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.0,
    };
    let (mut p, mut v) = ([1.0f32], [0.0f32]);
    sgd_step(&mut p, &[0.5], Some(&mut v), h, 1);
    close(p[0], 0.905);
    sgd_step(&mut p, &[0.5], Some(&mut v), h, 2);
    close(p[0], 0.7695);
    // Plain SGD with weight decay 0.1: d = 0.5 + 0.1·1 = 0.6 → p = 0.94.
    let mut q = [1.0f32];
    sgd_step(
        &mut q,
        &[0.5],
        None,
        SgdParams {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.1,
        },
        1,
    );
    close(q[0], 0.94);
}

#[test]
fn adam_and_adamw_two_steps() {
    // With a constant gradient, bias-corrected Adam moves exactly lr per step:
    // m̂ = g, v̂ = g², step = lr·g/(|g| + eps).
    let h = AdamParams {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
    };
    let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
    adam_step(&mut p, &[0.5], &mut m, &mut v, h, 1);
    close(p[0], 0.9);
    close(m[0], 0.05);
    close(v[0], 0.00025);
    adam_step(&mut p, &[0.5], &mut m, &mut v, h, 2);
    close(p[0], 0.8);
    // AdamW first shrinks the weights: 1·(1 − 0.1·0.1) = 0.99, then the Adam step of 0.1.
    let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
    adam_step(
        &mut p,
        &[0.5],
        &mut m,
        &mut v,
        AdamParams {
            weight_decay: 0.1,
            decoupled: true,
            ..h
        },
        1,
    );
    close(p[0], 0.89);
    // Adam's L2 decay changes the gradient, not the step size (first step is still lr).
    let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
    adam_step(
        &mut p,
        &[0.5],
        &mut m,
        &mut v,
        AdamParams {
            weight_decay: 0.1,
            ..h
        },
        1,
    );
    close(p[0], 0.9);
}

#[test]
fn schedules_at_known_points() {
    let lr = 0.1;
    close(
        learning_rate(lr, &Schedule::Constant { warmup: 0 }, 7, 3, 100),
        0.1,
    );
    // Linear warm-up over 4 steps: 0.025, 0.05, 0.075, 0.1.
    close(
        learning_rate(lr, &Schedule::Constant { warmup: 4 }, 0, 0, 100),
        0.025,
    );
    close(
        learning_rate(lr, &Schedule::Constant { warmup: 4 }, 3, 0, 100),
        0.1,
    );
    // Step decay: ×0.5 every 2 epochs.
    let step = Schedule::Step {
        every: 2,
        gamma: 0.5,
        warmup: 0,
    };
    close(learning_rate(lr, &step, 50, 1, 100), 0.1);
    close(learning_rate(lr, &step, 50, 2, 100), 0.05);
    close(learning_rate(lr, &step, 50, 5, 100), 0.025);
    // Cosine from 0.1 to 0.0 over 100 steps: half-way is 0.05, the end 0.
    let cos = Schedule::Cosine {
        min_lr: 0.0,
        warmup: 0,
    };
    close(learning_rate(lr, &cos, 0, 0, 100), 0.1);
    close(learning_rate(lr, &cos, 50, 0, 100), 0.05);
    assert!(learning_rate(lr, &cos, 99, 0, 100) < 1e-4);
}
