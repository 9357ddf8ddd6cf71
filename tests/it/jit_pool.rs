//! The pooling kernels against the reference ops, bit for bit, on seeded random geometries
//! (ties, NaN and −∞ included for max pooling), plus chunking over planes.

use ammc::jit::JitModule;
use ammc::jit::pool::{
    AvgPoolBackwardKernel, AvgPoolKernel, GlobalAvgPoolBackwardKernel, GlobalAvgPoolKernel,
    GlobalPoolSpec, MaxPoolBackwardKernel, MaxPoolKernel, PoolSpec,
};
use ammc::runtime::reference::{
    AvgPoolDivisor, Hw, Pool2dSpec, avgpool2d_backward, avgpool2d_forward, global_avgpool_backward,
    global_avgpool_forward, maxpool2d_backward, maxpool2d_forward,
};
use ndarray::{ArrayView2, ArrayView4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn assert_bits(got: &[f32], want: impl IntoIterator<Item = f32>, what: &str) {
    let want: Vec<f32> = want.into_iter().collect();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}[{i}]: jit {g} vs reference {w}"
        );
    }
}

/// Values with many ties (a few levels), occasional NaN and −∞ when `specials`.
fn pool_input(rng: &mut ChaCha8Rng, len: usize, specials: bool) -> Vec<f32> {
    (0..len)
        .map(|_| match rng.random_range(0..40) {
            0 if specials => f32::NAN,
            1 | 2 if specials => f32::NEG_INFINITY,
            3..=12 => rng.random_range(-2i32..=2) as f32,
            _ => rng.random_range(-1.0f32..1.0),
        })
        .collect()
}

fn random_spec(rng: &mut ChaCha8Rng) -> PoolSpec {
    let kernel = rng.random_range(1..=4);
    PoolSpec {
        planes: rng.random_range(1..=4),
        height: kernel + rng.random_range(0..=9),
        width: kernel + rng.random_range(0..=14),
        kernel,
        stride: rng.random_range(1..=3),
        pad: rng.random_range(0..=kernel / 2),
    }
}

fn reference_spec(s: &PoolSpec) -> Pool2dSpec {
    Pool2dSpec {
        kernel: Hw::square(s.kernel),
        stride: Hw::square(s.stride),
        padding: Hw::square(s.pad),
    }
}

fn specs(rng: &mut ChaCha8Rng) -> Vec<PoolSpec> {
    let fixed = |planes, height, width, kernel, stride, pad| PoolSpec {
        planes,
        height,
        width,
        kernel,
        stride,
        pad,
    };
    let mut v = vec![
        fixed(6, 28, 28, 2, 2, 0),  // LeNet pool 1
        fixed(16, 10, 10, 2, 2, 0), // LeNet pool 2
        fixed(2, 24, 27, 3, 2, 1),
        fixed(3, 17, 40, 3, 1, 1),
        fixed(1, 1, 1, 1, 1, 0),
        fixed(1, 5, 33, 2, 2, 1),
    ];
    v.extend((0..150).map(|_| random_spec(rng)));
    v
}

#[test]
fn max_pool_matches_reference_bitwise() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    for (case, s) in specs(&mut rng).into_iter().enumerate() {
        let what = format!("case {case} {s:?}");
        let x = pool_input(&mut rng, s.x_len(), case % 3 != 0);
        let fwd = MaxPoolKernel::compile(&mut jit, s).unwrap();
        let (mut y, mut arg) = (vec![7.0; s.y_len()], vec![7.0; s.y_len()]);
        fwd.run(&x, &mut y, &mut arg).unwrap();
        let xr = ArrayView4::from_shape((s.planes, 1, s.height, s.width), &x).unwrap();
        let want = maxpool2d_forward(xr, &reference_spec(&s)).unwrap();
        assert_bits(&y, want.y.iter().copied(), &format!("max y {what}"));
        assert_bits(
            &arg,
            want.argmax.iter().map(|&i| i as f32),
            &format!("argmax {what}"),
        );

        let dy: Vec<f32> = (0..s.y_len())
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let bwd = MaxPoolBackwardKernel::compile(&mut jit, s).unwrap();
        let mut dx = vec![f32::NAN; s.x_len()];
        bwd.run(&dy, &arg, &mut dx).unwrap();
        let dyr = ArrayView4::from_shape((s.planes, 1, s.out_h(), s.out_w()), &dy).unwrap();
        let want_dx =
            maxpool2d_backward(dyr, want.argmax.view(), Hw::new(s.height, s.width)).unwrap();
        assert_bits(&dx, want_dx.iter().copied(), &format!("max dx {what}"));
    }
}

#[test]
fn avg_pool_matches_reference_bitwise() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(52);
    for (case, s) in specs(&mut rng).into_iter().enumerate() {
        let what = format!("case {case} {s:?}");
        let x = pool_input(&mut rng, s.x_len(), false);
        let fwd = AvgPoolKernel::compile(&mut jit, s).unwrap();
        let mut y = vec![f32::NAN; s.y_len()];
        fwd.run(&x, &mut y).unwrap();
        let xr = ArrayView4::from_shape((s.planes, 1, s.height, s.width), &x).unwrap();
        let spec = reference_spec(&s);
        let want = avgpool2d_forward(xr, &spec, AvgPoolDivisor::IncludePadding).unwrap();
        assert_bits(&y, want.iter().copied(), &format!("avg y {what}"));

        let dy: Vec<f32> = (0..s.y_len())
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let bwd = AvgPoolBackwardKernel::compile(&mut jit, s).unwrap();
        let mut dx = vec![f32::NAN; s.x_len()];
        bwd.run(&dy, &mut dx).unwrap();
        let dyr = ArrayView4::from_shape((s.planes, 1, s.out_h(), s.out_w()), &dy).unwrap();
        let want_dx = avgpool2d_backward(
            dyr,
            Hw::new(s.height, s.width),
            &spec,
            AvgPoolDivisor::IncludePadding,
        )
        .unwrap();
        assert_bits(&dx, want_dx.iter().copied(), &format!("avg dx {what}"));
    }
}

#[test]
fn global_avg_pool_matches_reference_bitwise() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(53);
    let sizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 23, 32];
    for case in 0..60 {
        let (n, c) = (rng.random_range(1..=3), rng.random_range(1..=4));
        let (h, w) = (
            sizes[rng.random_range(0..sizes.len())],
            sizes[rng.random_range(0..sizes.len())],
        );
        let s = GlobalPoolSpec {
            planes: n * c,
            height: h,
            width: w,
        };
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let xr = ArrayView4::from_shape((n, c, h, w), &x).unwrap();
        let want = global_avgpool_forward(xr).unwrap();
        let k = GlobalAvgPoolKernel::compile(&mut jit, s).unwrap();
        let mut y = vec![f32::NAN; n * c];
        k.run(&x, &mut y).unwrap();
        assert_bits(&y, want.iter().copied(), &format!("gap case {case} {s:?}"));

        let dy: Vec<f32> = (0..n * c).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let want =
            global_avgpool_backward(ArrayView2::from_shape((n, c), &dy).unwrap(), Hw::new(h, w))
                .unwrap();
        let k = GlobalAvgPoolBackwardKernel::compile(&mut jit, s).unwrap();
        let mut dx = vec![f32::NAN; x.len()];
        k.run(&dy, &mut dx).unwrap();
        assert_bits(&dx, want.iter().copied(), &format!("gap dx case {case}"));
    }
}

#[test]
fn pools_are_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(54);
    for _ in 0..10 {
        let s = PoolSpec {
            planes: 6,
            ..random_spec(&mut rng)
        };
        let x = pool_input(&mut rng, s.x_len(), true);
        let per_x = s.x_len() / 6;
        let per_y = s.y_len() / 6;
        let whole = MaxPoolKernel::compile(&mut jit, s).unwrap();
        let (mut y, mut a) = (vec![0.0; s.y_len()], vec![0.0; s.y_len()]);
        whole.run(&x, &mut y, &mut a).unwrap();
        let whole_avg = AvgPoolKernel::compile(&mut jit, s).unwrap();
        let mut ya = vec![0.0; s.y_len()];
        let xf: Vec<f32> = x
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.5 })
            .collect();
        whole_avg.run(&xf, &mut ya).unwrap();
        let (mut y2, mut a2, mut ya2) = (
            vec![0.0; s.y_len()],
            vec![0.0; s.y_len()],
            vec![0.0; s.y_len()],
        );
        let mut start = 0;
        for chunk in [1, 3, 2] {
            let cs = PoolSpec { planes: chunk, ..s };
            let (xr, yr) = (
                start * per_x..(start + chunk) * per_x,
                start * per_y..(start + chunk) * per_y,
            );
            MaxPoolKernel::compile(&mut jit, cs)
                .unwrap()
                .run(&x[xr.clone()], &mut y2[yr.clone()], &mut a2[yr.clone()])
                .unwrap();
            AvgPoolKernel::compile(&mut jit, cs)
                .unwrap()
                .run(&xf[xr], &mut ya2[yr])
                .unwrap();
            start += chunk;
        }
        assert_bits(&y2, y.iter().copied(), "chunked max y");
        assert_bits(&a2, a.iter().copied(), "chunked argmax");
        assert_bits(&ya2, ya.iter().copied(), "chunked avg y");
    }
}

#[test]
fn corrupt_argmax_stays_inside_dx_and_bad_specs_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let s = PoolSpec {
        planes: 2,
        height: 4,
        width: 4,
        kernel: 2,
        stride: 2,
        pad: 0,
    };
    let k = MaxPoolBackwardKernel::compile(&mut jit, s).unwrap();
    let dy = vec![1.0; 8];
    let arg = vec![f32::NAN, -5.0, 1e30, f32::INFINITY, 3.0, 15.0, 16.0, 2.5];
    let mut dx = vec![0.0; 32];
    k.run(&dy, &arg, &mut dx).unwrap();
    // Plane 0: NaN and -5 → 0, 1e30 and inf → clamped to 15.
    assert_eq!((dx[0], dx[15]), (2.0, 2.0));
    // Plane 1: 3, 15, 16 → 15 (clamped), 2.5 → 2.
    assert_eq!((dx[16 + 3], dx[16 + 15], dx[16 + 2]), (1.0, 2.0, 1.0));
    assert_eq!(dx.iter().sum::<f32>(), 8.0);

    assert!(MaxPoolKernel::compile(&mut jit, PoolSpec { pad: 2, ..s }).is_err());
    assert!(MaxPoolKernel::compile(&mut jit, PoolSpec { kernel: 5, ..s }).is_err());
    assert!(AvgPoolKernel::compile(&mut jit, PoolSpec { stride: 0, ..s }).is_err());
    assert!(
        GlobalAvgPoolKernel::compile(
            &mut jit,
            GlobalPoolSpec {
                planes: 0,
                height: 2,
                width: 2
            }
        )
        .is_err()
    );
    let f = MaxPoolKernel::compile(&mut jit, s).unwrap();
    let (mut y, mut a) = (vec![0.0; 8], vec![0.0; 7]);
    assert!(f.run(&[0.0; 32], &mut y, &mut a).is_err());
}
