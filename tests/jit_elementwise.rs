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
