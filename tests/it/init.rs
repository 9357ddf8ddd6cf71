//! Weight initialisation: every `init = …` scheme of a train block gives its documented
//! distribution on dense and conv layers, biases follow the scheme, the default is PyTorch's,
//! and a seed fixes the values.

use ammc::front::front_end;
use ammc::lower::{Plan, lower};
use ammc::runtime::reference::exec::Executor;

const BACKBONE: &str = "conv(16, kernel = 3) relu flatten dense(300) relu dense(10)";

fn plan_for(init_field: &str) -> Plan {
    let src = format!(
        "data d = synthetic(shape = [3, 12, 12], classes = 10)\nbackbone b {{ {BACKBONE} }}\nmodel m = b\n\
         train t {{ model = m data = d loss = cross_entropy optimizer = sgd {init_field} }}\n"
    );
    let fe = front_end("init.amm", src.as_bytes(), None, &[]);
    let program = fe
        .program
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|x| &x.message).collect::<Vec<_>>()));
    let summaries = ammc::check::check(&program, &fe.sources)
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|x| &x.message).collect::<Vec<_>>()));
    lower(&summaries[0], 4)
}

/// The values of the param named `name` (`conv.weight`, `dense_1.bias`, …) after init.
fn param<'a>(ex: &'a Executor, plan: &Plan, suffix: &str, index: usize) -> &'a [f32] {
    let matching: Vec<_> = plan
        .params
        .iter()
        .filter(|p| plan.buffer(p.buffer).name.ends_with(suffix))
        .collect();
    ex.data(matching[index].buffer)
}

struct Stats {
    max_abs: f64,
    std: f64,
    mean: f64,
}

fn stats(v: &[f32]) -> Stats {
    let n = v.len() as f64;
    let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|x| (f64::from(*x) - mean).powi(2))
        .sum::<f64>()
        / n;
    Stats {
        max_abs: v.iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max),
        std: var.sqrt(),
        mean,
    }
}

/// Fans of the three weighted layers: conv 3→16 (3×3), dense 1600→300, dense 300→10.
const FANS: [(f64, f64); 3] = [(27.0, 144.0), (1600.0, 300.0), (300.0, 10.0)];

fn weights_of(ex: &Executor, plan: &Plan) -> Vec<Vec<f32>> {
    (0..3)
        .map(|i| param(ex, plan, ".weight", i).to_vec())
        .collect()
}

fn biases_of(ex: &Executor, plan: &Plan) -> Vec<Vec<f32>> {
    (0..3)
        .map(|i| param(ex, plan, ".bias", i).to_vec())
        .collect()
}

#[test]
fn default_is_pytorch_uniform_for_weights_and_biases() {
    let plan = plan_for("");
    assert_eq!(plan, plan_for("init = torch"), "the default is `torch`");
    let ex = Executor::new(&plan, 7);
    for ((w, b), (fan_in, _)) in weights_of(&ex, &plan)
        .iter()
        .zip(biases_of(&ex, &plan))
        .zip(FANS)
    {
        let bound = 1.0 / fan_in.sqrt();
        let s = stats(w);
        assert!(
            s.max_abs < bound && s.max_abs > 0.9 * bound,
            "{} vs {bound}",
            s.max_abs
        );
        // U(-a, a) has std a/√3.
        let want = bound / 3f64.sqrt();
        assert!((s.std / want - 1.0).abs() < 0.12, "std {} vs {want}", s.std);
        let sb = stats(&b);
        assert!(
            sb.max_abs < bound && sb.max_abs > 0.0,
            "bias {}",
            sb.max_abs
        );
    }
}

#[test]
fn every_scheme_has_its_documented_scale_and_zero_biases() {
    for scheme in [
        "kaiming_uniform",
        "kaiming_normal",
        "xavier_uniform",
        "xavier_normal",
    ] {
        let plan = plan_for(&format!("init = {scheme}"));
        let ex = Executor::new(&plan, 3);
        for (i, (w, (fan_in, fan_out))) in weights_of(&ex, &plan).iter().zip(FANS).enumerate() {
            let want_std = match scheme {
                "kaiming_uniform" | "kaiming_normal" => (2.0 / fan_in).sqrt(),
                _ => (2.0 / (fan_in + fan_out)).sqrt(),
            };
            let s = stats(w);
            // 270+ samples per tensor: the sample std is within 12 % of the true one.
            assert!(
                (s.std / want_std - 1.0).abs() < 0.12,
                "{scheme} layer {i}: std {} vs {want_std}",
                s.std
            );
            assert!(
                s.mean.abs() < 0.2 * want_std,
                "{scheme} layer {i}: mean {}",
                s.mean
            );
            if scheme.ends_with("uniform") {
                let bound = want_std * 3f64.sqrt();
                assert!(
                    s.max_abs < bound && s.max_abs > 0.9 * bound,
                    "{scheme}: bound"
                );
            } else {
                // A normal sample of this size has values beyond one std but is not uniform.
                assert!(
                    s.max_abs > 2.5 * want_std,
                    "{scheme} layer {i}: tails {}",
                    s.max_abs
                );
            }
        }
        for b in biases_of(&ex, &plan) {
            assert!(b.iter().all(|x| *x == 0.0), "{scheme}: biases start at 0");
        }
    }
}

#[test]
fn a_seed_fixes_the_values_and_another_changes_them() {
    let plan = plan_for("init = kaiming_normal");
    let a = weights_of(&Executor::new(&plan, 5), &plan);
    let b = weights_of(&Executor::new(&plan, 5), &plan);
    let c = weights_of(&Executor::new(&plan, 6), &plan);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn unknown_scheme_is_a_diagnostic_with_a_suggestion() {
    let src = "data d = synthetic(shape = [4], classes = 2)\nbackbone b { dense(2) }\nmodel m = b\n\
               train t { model = m data = d loss = cross_entropy optimizer = sgd init = xavier_unifrom }\n";
    let fe = front_end("bad.amm", src.as_bytes(), None, &[]);
    let diags = fe.program.expect_err("unknown init scheme");
    assert_eq!(diags[0].code, "amm::name::unknown_init");
    assert!(
        diags[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("xavier_uniform"),
        "{:?}",
        diags[0].help
    );
}

#[test]
fn a_stage_init_overrides_the_train_block_for_that_stage_only() {
    let src = "data d = synthetic(shape = [3, 12, 12], classes = 10)\n\
               backbone a { conv(16, kernel = 3) relu flatten dense(300) relu }\n\
               head h { dense(10) }\n\
               model m = a(init = xavier_normal) -> h\n\
               train t { model = m data = d loss = cross_entropy optimizer = sgd init = kaiming_uniform }\n";
    let fe = front_end("stage.amm", src.as_bytes(), None, &[]);
    let program = fe
        .program
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|x| &x.message).collect::<Vec<_>>()));
    let summaries = ammc::check::check(&program, &fe.sources).unwrap();
    let plan = lower(&summaries[0], 4);
    let ex = Executor::new(&plan, 3);
    let w = weights_of(&ex, &plan);
    // Stage `a` (conv, dense 1600→300): Xavier normal, with normal tails.
    for (i, (fan_in, fan_out)) in FANS[..2].iter().enumerate() {
        let s = stats(&w[i]);
        let want = (2.0 / (fan_in + fan_out)).sqrt();
        assert!(
            (s.std / want - 1.0).abs() < 0.12,
            "layer {i}: {} vs {want}",
            s.std
        );
        assert!(s.max_abs > 2.5 * want, "layer {i}: normal tails");
    }
    // The head keeps the train block's Kaiming uniform: bounded by √(6/300).
    let s = stats(&w[2]);
    let bound = (6.0f64 / 300.0).sqrt();
    assert!(
        s.max_abs < bound && s.max_abs > 0.9 * bound,
        "{} vs {bound}",
        s.max_abs
    );
    // An unknown scheme on a stage is the same diagnostic.
    let bad = src.replace("a(init = xavier_normal)", "a(init = xavier)");
    let fe = front_end("stage.amm", bad.as_bytes(), None, &[]);
    let diags = fe.program.expect_err("unknown scheme");
    assert_eq!(diags[0].code, "amm::name::unknown_init");
}
