//! The generated GRU/LSTM cell step against the reference op (`reference::rnn`): the
//! second step of a two-step sequence, computed by the reference forward pass, is
//! recomputed by the kernel from the reference's own first step (its state, and for the
//! LSTM its saved cell state) and the step's input and hidden projections. Every output —
//! the new state and each saved gate value — agrees within 1e-6 absolute (values are in
//! [−1, 1]; σ and tanh are the ≤ 2-ulp polynomials of `jit::math`). Row counts and hidden
//! sizes cover the f32x4 body and the scalar tail.

use ammc::check::RnnCell;
use ammc::jit::JitModule;
use ammc::jit::rnn::{RnnCellKernel, RnnCellSpec};
use ammc::runtime::reference::rnn::{RnnWeights, rnn_forward};
use ndarray::{Array1, Array2, Array3, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(shape: &[usize], rng: &mut ChaCha8Rng, scale: f32) -> Vec<f32> {
    (0..shape.iter().product())
        .map(|_| rng.random_range(-scale..scale))
        .collect()
}

#[test]
fn cell_step_matches_the_reference_op() {
    let mut jit = JitModule::new().unwrap();
    let mut worst = 0f32;
    for cell in [RnnCell::Gru, RnnCell::Lstm] {
        for (rows, hidden, features) in [(1, 1, 1), (3, 4, 2), (5, 7, 3), (2, 9, 5), (4, 16, 8)] {
            let mut rng = ChaCha8Rng::seed_from_u64((rows * 100 + hidden) as u64);
            let g = cell.gates();
            let w = RnnWeights {
                w_ih: Array2::from_shape_vec(
                    (g * hidden, features),
                    random(&[g * hidden, features], &mut rng, 1.5),
                )
                .unwrap(),
                w_hh: Array2::from_shape_vec(
                    (g * hidden, hidden),
                    random(&[g * hidden, hidden], &mut rng, 1.5),
                )
                .unwrap(),
                b_ih: Array1::from(random(&[g * hidden], &mut rng, 1.0)),
                b_hh: Array1::from(random(&[g * hidden], &mut rng, 1.0)),
            };
            let x = Array3::from_shape_vec(
                (rows, 2, features),
                random(&[rows, 2, features], &mut rng, 2.0),
            )
            .unwrap();
            let tr = rnn_forward(cell, x.view(), w.view(), false).unwrap();
            let h1: Array2<f32> = tr.h.slice(s![.., 0, ..]).to_owned();
            let x1: Array2<f32> = x.slice(s![.., 1, ..]).to_owned();
            let gi = x1.dot(&w.w_ih.t()) + &w.b_ih;
            let gh = h1.dot(&w.w_hh.t()) + &w.b_hh;
            let prev: Vec<f32> = match cell {
                RnnCell::Gru => h1.iter().copied().collect(),
                RnnCell::Lstm => tr.gates.slice(s![.., 0, ..]).iter().copied().collect(),
            };
            let spec = RnnCellSpec { cell, rows, hidden };
            let k = RnnCellKernel::compile(&mut jit, spec).unwrap();
            let mut h = vec![0f32; spec.state_len()];
            let mut saved = vec![0f32; spec.saved_len()];
            let gi: Vec<f32> = gi.iter().copied().collect();
            let gh: Vec<f32> = gh.iter().copied().collect();
            k.run(&gi, &gh, &prev, &mut h, &mut saved).unwrap();
            let want_h: Vec<f32> = tr.h.slice(s![.., 1, ..]).iter().copied().collect();
            let want_saved: Vec<f32> = tr.gates.slice(s![.., 1, ..]).iter().copied().collect();
            for (what, got, want) in [("h", &h, &want_h), ("saved", &saved, &want_saved)] {
                for (i, (a, b)) in got.iter().zip(want).enumerate() {
                    let d = (a - b).abs();
                    worst = worst.max(d);
                    assert!(
                        d <= 1e-6,
                        "{cell:?} {rows}x{hidden}: {what}[{i}] {a} vs {b}"
                    );
                }
            }
        }
    }
    eprintln!("rnn cell: worst difference {worst:e}");
}

#[test]
fn wrong_buffer_sizes_are_refused() {
    let mut jit = JitModule::new().unwrap();
    let spec = RnnCellSpec {
        cell: RnnCell::Lstm,
        rows: 2,
        hidden: 3,
    };
    let k = RnnCellKernel::compile(&mut jit, spec).unwrap();
    let (gi, gh) = (vec![0f32; spec.gates_len()], vec![0f32; spec.gates_len()]);
    let mut h = vec![0f32; spec.state_len()];
    let mut saved = vec![0f32; spec.saved_len()];
    // An LSTM's previous step is its saved values (with c), not just h.
    let short = vec![0f32; spec.state_len()];
    assert!(k.run(&gi, &gh, &short, &mut h, &mut saved).is_err());
    let prev = vec![0f32; spec.prev_len()];
    assert!(k.run(&gi, &gh, &prev, &mut h, &mut saved).is_ok());
    let zero = RnnCellSpec {
        cell: RnnCell::Gru,
        rows: 0,
        hidden: 3,
    };
    assert!(RnnCellKernel::compile(&mut jit, zero).is_err());
}
