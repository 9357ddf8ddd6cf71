//! Property test: for random layer stacks, the checker's shapes and parameter counts equal an
//! independent computation written here from PyTorch's documented formulas (the reference
//! runtime will become the second oracle once it exists).

use ammc::front::front_end;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// PyTorch Conv2d / MaxPool2d: H_out = floor((H + 2p − d(k−1) − 1) / s + 1), defined when
/// the numerator is not negative.
fn out_size(h: i64, k: i64, s: i64, p: i64, d: i64) -> Option<i64> {
    let num = h + 2 * p - d * (k - 1) - 1;
    (num >= 0).then(|| num / s + 1)
}

#[test]
fn random_stacks_match_the_formulas() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut agreed_ok, mut agreed_err) = (0, 0);
    for _ in 0..400 {
        let start = (
            rng.random_range(1..4i64),
            rng.random_range(4..33i64),
            rng.random_range(4..33i64),
        );
        let (mut c, mut h, mut w) = start;
        let mut layers: Vec<String> = Vec::new();
        let mut expected: Vec<Vec<i64>> = Vec::new();
        let mut params = 0i64;
        let mut fits = true;
        let mut flat = false;
        for _ in 0..rng.random_range(1..7) {
            if flat {
                let units = rng.random_range(1..40i64);
                params += c * units + units;
                c = units;
                layers.push(format!("dense({units})"));
                expected.push(vec![c]);
                continue;
            }
            match rng.random_range(0..5) {
                0 | 1 => {
                    let o = rng.random_range(1..9i64);
                    let (k, s, p, d) = (
                        rng.random_range(1..6i64),
                        rng.random_range(1..3i64),
                        rng.random_range(0..3i64),
                        rng.random_range(1..3i64),
                    );
                    layers.push(format!(
                        "conv({o}, kernel = {k}, stride = {s}, pad = {p}, dilation = {d})"
                    ));
                    let (Some(a), Some(b)) = (out_size(h, k, s, p, d), out_size(w, k, s, p, d))
                    else {
                        fits = false;
                        break;
                    };
                    params += o * c * k * k + o;
                    (c, h, w) = (o, a, b);
                    expected.push(vec![c, h, w]);
                }
                2 => {
                    let k = rng.random_range(1..4i64);
                    layers.push(format!("maxpool({k})"));
                    let (Some(a), Some(b)) = (out_size(h, k, k, 0, 1), out_size(w, k, k, 0, 1))
                    else {
                        fits = false;
                        break;
                    };
                    (h, w) = (a, b);
                    expected.push(vec![c, h, w]);
                }
                3 => {
                    layers.push("relu".into());
                    expected.push(vec![c, h, w]);
                }
                _ => {
                    layers.push("flatten".into());
                    c *= h * w;
                    flat = true;
                    expected.push(vec![c]);
                }
            }
        }
        if fits {
            // End every stack in a 3-class classifier so the loss check passes too.
            if !flat {
                layers.push("flatten".into());
                c *= h * w;
                expected.push(vec![c]);
            }
            layers.push("dense(3)".into());
            params += c * 3 + 3;
            expected.push(vec![3]);
        }
        let src = format!(
            "data d = synthetic(shape = [{}, {}, {}], classes = 3)\nbackbone b {{\n    {}\n}}\nmodel m = b\ntrain t {{ model = m data = d loss = cross_entropy optimizer = sgd }}\n",
            start.0,
            start.1,
            start.2,
            layers.join("\n    ")
        );
        let fe = front_end("prop.amm", src.as_bytes(), None, &[]);
        let program = fe.program.unwrap_or_else(|_| panic!("resolves:\n{src}"));
        match ammc::check::check(&program, &fe.sources) {
            Ok(s) => {
                assert!(fits, "checker accepted a stack that does not fit:\n{src}");
                let got: Vec<Vec<i64>> = s[0]
                    .layers
                    .iter()
                    .map(|l| l.output.0.iter().map(|d| *d as i64).collect())
                    .collect();
                assert_eq!(got, expected, "{src}");
                assert_eq!(s[0].params() as i64, params, "{src}");
                // Second oracle: the reference ops compute their own output shapes, and the
                // executor refuses any result whose size differs from the planned buffer.
                let plan = ammc::lower::lower(&s[0], 2);
                let mut ex = ammc::runtime::reference::exec::Executor::new(&plan, 0);
                let per: usize = plan.buffer(plan.input).shape[1..].iter().product();
                ex.load_batch(&vec![0.5; 2 * per], &[0.0, 1.0], 2).unwrap();
                ex.forward(true).unwrap_or_else(|e| panic!("{e}\n{src}"));
                ex.loss().unwrap();
                ex.backward().unwrap_or_else(|e| panic!("{e}\n{src}"));
                agreed_ok += 1;
            }
            Err(d) => {
                assert!(
                    !fits,
                    "checker rejected a valid stack:\n{src}\n{:?}",
                    d.iter().map(|x| &x.message).collect::<Vec<_>>()
                );
                assert!(d.iter().any(|x| x.code == "amm::shape::too_small"), "{src}");
                agreed_err += 1;
            }
        }
    }
    // Both outcomes must be exercised for the test to mean anything.
    assert!(
        agreed_ok > 50 && agreed_err > 20,
        "ok {agreed_ok}, err {agreed_err}"
    );
}
