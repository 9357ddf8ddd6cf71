//! The generated SGD update against the reference `sgd_step`, bit for bit, over several
//! steps with a changing learning rate (momentum, dampening, Nesterov, weight decay), and
//! split into chunks.

use ammc::jit::sgd::{SgdKernel, SgdSpec};
use ammc::jit::{F32Bits, JitModule};
use ammc::runtime::reference::{SgdConfig, SgdState, sgd_step};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn sgd_matches_reference_bitwise_over_steps() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(71);
    let lens = [1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 100, 257];
    for case in 0..72 {
        let len = lens[case % lens.len()];
        let momentum = [0.0f32, 0.9, 0.5][case % 3];
        let nesterov = momentum > 0.0 && case % 2 == 0;
        let dampening = if !nesterov && case % 4 == 1 {
            0.1f32
        } else {
            0.0
        };
        let weight_decay = [0.0f32, 1e-4, 0.01][(case / 3) % 3];
        let spec = SgdSpec {
            len,
            momentum: F32Bits::new(momentum),
            dampening: F32Bits::new(dampening),
            nesterov,
            weight_decay: F32Bits::new(weight_decay),
        };
        let k = SgdKernel::compile(&mut jit, spec).unwrap();
        let mut p: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut p_ref = p.clone();
        let mut v = vec![f32::NAN; len]; // ignored on the first step
        let mut state = SgdState::<f32>::new();
        for step in 1..=4 {
            let g: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
            let lr = 0.05 / step as f32;
            let vel = spec.has_velocity().then_some(&mut v[..]);
            k.run(&mut p, &g, vel, lr, step == 1).unwrap();
            let cfg = SgdConfig {
                lr: f64::from(lr),
                momentum: f64::from(momentum),
                dampening: f64::from(dampening),
                nesterov,
                weight_decay: f64::from(weight_decay),
            };
            sgd_step(&mut p_ref, &g, &mut state, &cfg).unwrap();
            let what = format!("case {case} step {step}: {spec:?}");
            assert_eq!(bits(&p), bits(&p_ref), "{what}: param");
            if let Some(buf) = &state.momentum_buffer {
                assert_eq!(bits(&v), bits(buf), "{what}: velocity");
            }
        }
    }
}

#[test]
fn sgd_in_chunks_gives_the_same_bits() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(72);
    let spec = SgdSpec {
        len: 23,
        momentum: F32Bits::new(0.9),
        dampening: F32Bits::new(0.0),
        nesterov: true,
        weight_decay: F32Bits::new(1e-3),
    };
    let whole = SgdKernel::compile(&mut jit, spec).unwrap();
    let head = SgdKernel::compile(&mut jit, SgdSpec { len: 10, ..spec }).unwrap();
    let tail = SgdKernel::compile(&mut jit, SgdSpec { len: 13, ..spec }).unwrap();
    let mut p: Vec<f32> = (0..23).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut p2 = p.clone();
    let (mut v, mut v2) = (vec![0.0; 23], vec![0.0; 23]);
    for step in 1..=3 {
        let g: Vec<f32> = (0..23).map(|_| rng.random_range(-1.0..1.0)).collect();
        whole.run(&mut p, &g, Some(&mut v), 0.1, step == 1).unwrap();
        let (pa, pb) = p2.split_at_mut(10);
        let (va, vb) = v2.split_at_mut(10);
        head.run(pa, &g[..10], Some(va), 0.1, step == 1).unwrap();
        tail.run(pb, &g[10..], Some(vb), 0.1, step == 1).unwrap();
        assert_eq!(bits(&p), bits(&p2));
        assert_eq!(bits(&v), bits(&v2));
    }
}

#[test]
fn bad_specs_and_arguments_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let spec = SgdSpec {
        len: 4,
        momentum: F32Bits::new(0.0),
        dampening: F32Bits::new(0.0),
        nesterov: false,
        weight_decay: F32Bits::new(0.0),
    };
    for bad in [
        SgdSpec {
            nesterov: true,
            ..spec
        },
        SgdSpec { len: 0, ..spec },
        SgdSpec {
            momentum: F32Bits::new(-1.0),
            ..spec
        },
        SgdSpec {
            dampening: F32Bits::new(2.0),
            ..spec
        },
        SgdSpec {
            weight_decay: F32Bits::new(f32::NAN),
            ..spec
        },
    ] {
        assert!(SgdKernel::compile(&mut jit, bad).is_err(), "{bad:?}");
    }
    let plain = SgdKernel::compile(&mut jit, spec).unwrap();
    let mut p = [1.0; 4];
    let mut v = [0.0; 4];
    assert!(
        plain
            .run(&mut p, &[0.0; 4], Some(&mut v), 0.1, true)
            .is_err()
    );
    assert!(plain.run(&mut p, &[0.0; 4], None, f32::NAN, true).is_err());
    assert!(plain.run(&mut p, &[0.0; 3], None, 0.1, true).is_err());
    let with_m = SgdKernel::compile(
        &mut jit,
        SgdSpec {
            momentum: F32Bits::new(0.9),
            ..spec
        },
    )
    .unwrap();
    assert!(with_m.run(&mut p, &[0.0; 4], None, 0.1, true).is_err());
    assert!(
        with_m
            .run(&mut p, &[1.0; 4], Some(&mut v), 0.5, true)
            .is_ok()
    );
    assert_eq!(p, [0.5; 4]);
    assert_eq!(v, [1.0; 4]);
}
