//! Rough timings of the reference ops on typical small-model shapes. Ignored by default;
//! run with `cargo test --release --test ops_timing -- --ignored --nocapture`. Prints numbers,
//! asserts nothing about speed.

use std::time::Instant;

use ammc::runtime::reference::*;
use ndarray::{Array2, Ix4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn time<R>(label: &str, reps: u32, mut f: impl FnMut() -> R) {
    let _ = f();
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    let per = start.elapsed().as_secs_f64() / f64::from(reps);
    println!("{label:<48} {:>10.3} ms", per * 1e3);
}

#[test]
#[ignore = "timing only; run explicitly with --release"]
fn print_timings() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = uniform_array::<f32>(&[32, 1, 28, 28], 1.0, &mut rng)
        .into_dimensionality::<Ix4>()
        .unwrap();
    let c1 = init_conv2d::<f32>(1, 8, Hw::square(3), &mut rng).unwrap();
    let spec = Conv2dSpec::square(1, 1, 1);
    let y = conv2d_forward(x.view(), c1.w.view(), Some(c1.b.view()), &spec).unwrap();
    time("conv2d fwd  [32,1,28,28] -> 8ch k3 p1", 20, || {
        conv2d_forward(x.view(), c1.w.view(), Some(c1.b.view()), &spec).unwrap()
    });
    time("conv2d bwd  same", 20, || {
        conv2d_backward(y.view(), x.view(), c1.w.view(), &spec).unwrap()
    });
    let x2 = uniform_array::<f32>(&[32, 8, 14, 14], 1.0, &mut rng)
        .into_dimensionality::<Ix4>()
        .unwrap();
    let c2 = init_conv2d::<f32>(8, 16, Hw::square(3), &mut rng).unwrap();
    let y2 = conv2d_forward(x2.view(), c2.w.view(), Some(c2.b.view()), &spec).unwrap();
    time("conv2d fwd  [32,8,14,14] -> 16ch k3 p1", 20, || {
        conv2d_forward(x2.view(), c2.w.view(), Some(c2.b.view()), &spec).unwrap()
    });
    time("conv2d bwd  same", 20, || {
        conv2d_backward(y2.view(), x2.view(), c2.w.view(), &spec).unwrap()
    });
    let pool = Pool2dSpec::new(2);
    let p = maxpool2d_forward(y.view(), &pool).unwrap();
    time("maxpool2d fwd [32,8,28,28] k2", 20, || {
        maxpool2d_forward(y.view(), &pool).unwrap()
    });
    time("maxpool2d bwd same", 20, || {
        maxpool2d_backward(p.y.view(), p.argmax.view(), Hw::new(28, 28)).unwrap()
    });
    let yd = y.clone().into_dyn();
    let bnp = init_batchnorm::<f32>(8);
    time("batchnorm train fwd [32,8,28,28]", 20, || {
        let mut r = BatchNormRunning::new(8);
        batchnorm_forward_train(
            yd.view(),
            bnp.gamma.view(),
            bnp.beta.view(),
            &mut r,
            &BatchNormSpec::default(),
        )
        .unwrap()
    });
    let xd = uniform_array::<f32>(&[128, 784], 1.0, &mut rng)
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let d = init_dense::<f32>(784, 128, &mut rng).unwrap();
    let h: Array2<f32> = dense_forward(xd.view(), d.w.view(), Some(d.b.view())).unwrap();
    time("dense fwd [128,784] -> 128", 20, || {
        dense_forward(xd.view(), d.w.view(), Some(d.b.view())).unwrap()
    });
    time("dense bwd same", 20, || {
        dense_backward(h.view(), xd.view(), d.w.view()).unwrap()
    });
    time("gelu fwd [32,8,28,28]", 20, || gelu_forward(y.view()));
    let mut params = vec![0.1f32; 100_000];
    let grads = vec![0.01f32; 100_000];
    let mut st = AdamState::new(params.len());
    time("adam step 100k params", 20, || {
        adam_step(&mut params, &grads, &mut st, &AdamConfig::adam()).unwrap()
    });
}
