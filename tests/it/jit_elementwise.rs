//! Generated elementwise kernels against the reference ops (exact: both compute the same
//! single f32 operation per element).

use ammc::jit::JitModule;
use ammc::jit::elementwise::{ElementwiseKernel, ElementwiseSpec};
use ammc::runtime::reference::{dense_forward, relu_backward, relu_forward};
use ndarray::{Array1, Array2, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| match i % 11 {
            // Exact zeros and a NaN exercise the `> 0` edge of the mask.
            3 => 0.0,
            7 if i % 2 == 0 => f32::NAN,
            _ => rng.random_range(-1.0f32..1.0),
        })
        .collect()
}

fn same_bits(got: &[f32], want: impl IntoIterator<Item = f32>, what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}[{i}]: {g} vs reference {w}"
        );
    }
}

#[test]
fn relu_forward_and_backward_match_reference() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for len in [1, 3, 4, 5, 8, 17, 64, 1001] {
        let x = random_vec(&mut rng, len);
        let dy = random_vec(&mut rng, len);
        let fwd = ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Relu { len }).unwrap();
        let mut y = vec![f32::NAN; len];
        fwd.run(&[&x], &mut y).unwrap();
        let want = relu_forward(ArrayView1::from(&x[..]));
        same_bits(&y, want.iter().copied(), "relu");

        let bwd =
            ElementwiseKernel::compile(&mut jit, ElementwiseSpec::ReluBackward { len }).unwrap();
        let mut dx = vec![f32::NAN; len];
        bwd.run(&[&y, &dy], &mut dx).unwrap();
        // The fused backward takes the mask from the output (as the executor does).
        let want = relu_backward(ArrayView1::from(&dy[..]), ArrayView1::from(&y[..])).unwrap();
        same_bits(&dx, want.iter().copied(), "relu_backward");
    }
}

#[test]
fn bias_act_matches_dense_epilogue() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (rows, cols) in [(1, 1), (3, 7), (4, 8), (5, 13), (64, 120)] {
        for relu in [false, true] {
            let x: Vec<f32> = (0..rows * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
            let w: Vec<f32> = (0..cols * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
            let bias: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0..1.0)).collect();
            let x = Array2::from_shape_vec((rows, 2), x).unwrap();
            let w = Array2::from_shape_vec((cols, 2), w).unwrap();
            let bias = Array1::from(bias);
            // Reference: dense with bias, then ReLU; JIT: dense without bias, then epilogue.
            let mut want = dense_forward(x.view(), w.view(), Some(bias.view())).unwrap();
            if relu {
                want = relu_forward(want.view());
            }
            let mut y: Vec<f32> = dense_forward(x.view(), w.view(), None)
                .unwrap()
                .iter()
                .copied()
                .collect();
            let k =
                ElementwiseKernel::compile(&mut jit, ElementwiseSpec::BiasAct { rows, cols, relu })
                    .unwrap();
            k.run(&[bias.as_slice().unwrap()], &mut y).unwrap();
            same_bits(&y, want.iter().copied(), "bias_act");
        }
    }
}

#[test]
fn wrong_lengths_and_empty_shapes_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let k = ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Relu { len: 8 }).unwrap();
    let mut y = vec![0.0; 8];
    assert!(k.run(&[&[0.0; 7]], &mut y).is_err());
    assert!(k.run(&[], &mut y).is_err());
    assert!(ElementwiseKernel::compile(&mut jit, ElementwiseSpec::Relu { len: 0 }).is_err());
    assert!(
        ElementwiseKernel::compile(
            &mut jit,
            ElementwiseSpec::BiasAct {
                rows: usize::MAX,
                cols: 2,
                relu: true
            }
        )
        .is_err()
    );
}

use ammc::jit::F32Bits;
use ammc::runtime::reference::{
    clip_grad_norm, leaky_relu_backward, leaky_relu_forward, sigmoid_backward, sigmoid_forward,
    tanh_backward, tanh_forward,
};

const LENS: [usize; 10] = [1, 2, 3, 4, 5, 7, 8, 9, 31, 1027];

fn compile(jit: &mut JitModule, spec: ElementwiseSpec) -> ElementwiseKernel {
    ElementwiseKernel::compile(jit, spec).unwrap()
}

/// Units in the last place between two finite f32 of the same sign (or 0 when equal).
fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

#[test]
fn add_accumulate_mul_scale_are_the_reference_operations() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for len in LENS {
        let a = random_vec(&mut rng, len);
        let b = random_vec(&mut rng, len);
        let mut y = vec![f32::NAN; len];
        compile(&mut jit, ElementwiseSpec::Add { len })
            .run(&[&a, &b], &mut y)
            .unwrap();
        same_bits(&y, a.iter().zip(&b).map(|(p, q)| p + q), "add");
        compile(&mut jit, ElementwiseSpec::Mul { len })
            .run(&[&a, &b], &mut y)
            .unwrap();
        same_bits(&y, a.iter().zip(&b).map(|(p, q)| p * q), "mul");
        let mut dst = a.clone();
        compile(&mut jit, ElementwiseSpec::Accumulate { len })
            .run(&[&b], &mut dst)
            .unwrap();
        same_bits(&dst, a.iter().zip(&b).map(|(p, q)| p + q), "accumulate");
        // Scale as gradient clipping applies it (`*v *= c`).
        let finite: Vec<f32> = a
            .iter()
            .map(|v| if v.is_nan() { 0.5 } else { *v })
            .collect();
        let mut x = finite.clone();
        let mut want = finite;
        let norm = clip_grad_norm(&mut [&mut want[..]], 0.25).unwrap();
        let c = (0.25 / (norm + 1e-6)) as f32;
        compile(&mut jit, ElementwiseSpec::Scale { len })
            .run(&[&[c]], &mut x)
            .unwrap();
        if c < 1.0 {
            same_bits(&x, want.iter().copied(), "scale");
        }
    }
}

#[test]
fn sum_squares_matches_the_clip_norm() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for len in LENS.into_iter().chain([8, 16, 17, 100_003]) {
        let x: Vec<f32> = (0..len).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        let k = compile(&mut jit, ElementwiseSpec::SumSquares { len });
        let got = k.sum_squares(&x).unwrap();
        let mut copy = x.clone();
        let norm = clip_grad_norm(&mut [&mut copy[..]], 1e30).unwrap();
        let want = norm * norm;
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "len {len}: {got} vs {want}"
        );
        // Deterministic: a second run gives the same bits.
        assert_eq!(got.to_bits(), k.sum_squares(&x).unwrap().to_bits());
    }
    let relu = compile(&mut jit, ElementwiseSpec::Relu { len: 3 });
    assert!(relu.sum_squares(&[1.0; 3]).is_err());
}

#[test]
fn leaky_relu_matches_reference_bitwise() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (i, len) in LENS.into_iter().enumerate() {
        let slope = [0.01f32, 0.2, 0.0][i % 3];
        let x = random_vec(&mut rng, len);
        let dy = random_vec(&mut rng, len);
        let s = F32Bits::new(slope);
        let mut y = vec![f32::NAN; len];
        compile(&mut jit, ElementwiseSpec::LeakyRelu { len, slope: s })
            .run(&[&x], &mut y)
            .unwrap();
        let want = leaky_relu_forward(ArrayView1::from(&x[..]), f64::from(slope));
        same_bits(&y, want.iter().copied(), "leaky relu");
        compile(
            &mut jit,
            ElementwiseSpec::LeakyReluBackward { len, slope: s },
        )
        .run(&[&x, &dy], &mut y)
        .unwrap();
        let want = leaky_relu_backward(
            ArrayView1::from(&dy[..]),
            ArrayView1::from(&x[..]),
            f64::from(slope),
        )
        .unwrap();
        same_bits(&y, want.iter().copied(), "leaky relu backward");
    }
}

/// Sigmoid and tanh forward: within 3 ulp of the reference (libm `expf`/`tanhf`; the JIT's
/// polynomials are ≤ 2 ulp, sigmoid adds a division), or 2e-45 absolute near 0 where the
/// outputs are subnormal; backward passes bit-identical.
#[test]
fn sigmoid_and_tanh_match_reference() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let (mut worst_s, mut worst_t) = (0, 0);
    for len in LENS.into_iter().chain([20_000]) {
        let mut x: Vec<f32> = (0..len)
            .map(|_| rng.random_range(-1.0f32..1.0) * [0.5f32, 4.0, 30.0][len % 3])
            .collect();
        if len > 8 {
            x[..8].copy_from_slice(&[0.0, -0.0, 100.0, -100.0, 1e-8, -1e-8, 0.6, -0.7]);
        }
        let dy = random_vec(&mut rng, len);
        let mut y = vec![f32::NAN; len];
        compile(&mut jit, ElementwiseSpec::Sigmoid { len })
            .run(&[&x], &mut y)
            .unwrap();
        let want = sigmoid_forward(ArrayView1::from(&x[..]));
        for (i, (g, w)) in y.iter().zip(want.iter()).enumerate() {
            let u = ulps(*g, *w);
            worst_s = worst_s.max(u);
            assert!(
                u <= 3 || (g - w).abs() <= 2e-45,
                "sigmoid({}) = {g} vs {w}",
                x[i]
            );
        }
        let mut dx = vec![f32::NAN; len];
        compile(&mut jit, ElementwiseSpec::SigmoidBackward { len })
            .run(&[&y, &dy], &mut dx)
            .unwrap();
        let want = sigmoid_backward(ArrayView1::from(&dy[..]), ArrayView1::from(&y[..])).unwrap();
        same_bits(&dx, want.iter().copied(), "sigmoid backward");

        compile(&mut jit, ElementwiseSpec::Tanh { len })
            .run(&[&x], &mut y)
            .unwrap();
        let want = tanh_forward(ArrayView1::from(&x[..]));
        for (i, (g, w)) in y.iter().zip(want.iter()).enumerate() {
            let u = ulps(*g, *w);
            worst_t = worst_t.max(u);
            assert!(u <= 3, "tanh({}) = {g} vs {w}", x[i]);
        }
        compile(&mut jit, ElementwiseSpec::TanhBackward { len })
            .run(&[&y, &dy], &mut dx)
            .unwrap();
        let want = tanh_backward(ArrayView1::from(&dy[..]), ArrayView1::from(&y[..])).unwrap();
        same_bits(&dx, want.iter().copied(), "tanh backward");
    }
    eprintln!("sigmoid worst {worst_s} ulp, tanh worst {worst_t} ulp vs the reference");
    let mut y = [0.0; 4];
    compile(&mut jit, ElementwiseSpec::Sigmoid { len: 4 })
        .run(
            &[&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0]],
            &mut y,
        )
        .unwrap();
    assert!(y[0].is_nan());
    assert_eq!(y[1..], [1.0, 0.0, 0.5]);
}

#[test]
fn elementwise_kernels_are_chunk_invariant() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let len = 37;
    let x = random_vec(&mut rng, len);
    let dy = random_vec(&mut rng, len);
    type Make = fn(usize) -> ElementwiseSpec;
    let makers: [(Make, bool); 5] = [
        (|len| ElementwiseSpec::Sigmoid { len }, false),
        (|len| ElementwiseSpec::Tanh { len }, false),
        (
            |len| ElementwiseSpec::LeakyRelu {
                len,
                slope: F32Bits::new(0.1),
            },
            false,
        ),
        (|len| ElementwiseSpec::Mul { len }, true),
        (|len| ElementwiseSpec::TanhBackward { len }, true),
    ];
    for (make, binary) in makers {
        let run = |jit: &mut JitModule, range: std::ops::Range<usize>, out: &mut [f32]| {
            let k = compile(jit, make(range.len()));
            if binary {
                k.run(&[&x[range.clone()], &dy[range]], out).unwrap();
            } else {
                k.run(&[&x[range]], out).unwrap();
            }
        };
        let mut whole = vec![0.0; len];
        run(&mut jit, 0..len, &mut whole);
        let mut parts = vec![0.0; len];
        let (a, b) = parts.split_at_mut(13);
        run(&mut jit, 0..13, a);
        run(&mut jit, 13..len, b);
        same_bits(&parts, whole.iter().copied(), "chunked elementwise");
    }
}
