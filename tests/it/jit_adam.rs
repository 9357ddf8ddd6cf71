//! The generated Adam/AdamW update against the reference optimizer, bit for bit, over
//! several steps (so moments and bias corrections evolve).

use ammc::jit::JitModule;
use ammc::jit::adam::{AdamKernel, AdamSpec};
use ammc::runtime::reference::{AdamConfig, AdamState, adam_step, adamw_step};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn adam_and_adamw_match_reference_bitwise() {
    let mut jit = JitModule::new().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (len, decoupled, wd) in [
        (1, false, 0.0f32),
        (7, false, 0.01),
        (33, true, 0.01),
        (64, true, 0.0),
    ] {
        let spec = AdamSpec {
            len,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: wd,
            decoupled,
        };
        let kernel = AdamKernel::compile(&mut jit, spec).unwrap();
        let mut p: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut p_ref = p.clone();
        let (mut m, mut v) = (vec![0.0f32; len], vec![0.0f32; len]);
        let mut state = AdamState::<f32>::new(len);
        for step in 1..=5u64 {
            let g: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
            let lr = 1e-3 * step as f32;
            kernel.run(&mut p, &g, &mut m, &mut v, lr, step).unwrap();
            let cfg = AdamConfig {
                lr: f64::from(lr),
                beta1: f64::from(spec.beta1),
                beta2: f64::from(spec.beta2),
                eps: f64::from(spec.eps),
                weight_decay: f64::from(spec.weight_decay),
            };
            if decoupled {
                adamw_step(&mut p_ref, &g, &mut state, &cfg).unwrap();
            } else {
                adam_step(&mut p_ref, &g, &mut state, &cfg).unwrap();
            }
            for i in 0..len {
                assert_eq!(p[i].to_bits(), p_ref[i].to_bits(), "p[{i}] step {step}");
                assert_eq!(m[i].to_bits(), state.exp_avg[i].to_bits(), "m[{i}]");
                assert_eq!(v[i].to_bits(), state.exp_avg_sq[i].to_bits(), "v[{i}]");
            }
        }
    }
}

#[test]
fn bad_specs_and_lengths_are_errors() {
    let mut jit = JitModule::new().unwrap();
    let spec = AdamSpec {
        len: 4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
    };
    assert!(AdamKernel::compile(&mut jit, AdamSpec { beta1: 1.0, ..spec }).is_err());
    assert!(AdamKernel::compile(&mut jit, AdamSpec { len: 0, ..spec }).is_err());
    let k = AdamKernel::compile(&mut jit, spec).unwrap();
    let (mut p, mut m, mut v) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 3]);
    assert!(k.run(&mut p, &[0.0; 4], &mut m, &mut v, 0.1, 1).is_err());
}
