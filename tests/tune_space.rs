//! Search-space validation, corners, encoding; Sobol points; GP posterior by hand.

use ammc::tune::gp::{Gp, GpHyper};
use ammc::tune::sobol::Sobol;
use ammc::tune::{DimKind, Distribution, ParamSpec, ParamValue, SearchSpace, SpaceError};
use miette::Diagnostic;

fn code(e: &SpaceError) -> String {
    e.code().map(|c| c.to_string()).unwrap_or_default()
}

fn one(d: Distribution) -> Result<SearchSpace, SpaceError> {
    SearchSpace::new(vec![ParamSpec::new("p", d)])
}

#[test]
fn validation_errors_have_stable_codes() {
    let cases = [
        (
            one(Distribution::uniform(1.0, 1.0)),
            "amm::tune::empty_range",
        ),
        (
            one(Distribution::uniform(2.0, 1.0)),
            "amm::tune::empty_range",
        ),
        (
            one(Distribution::log_uniform(0.0, 1.0)),
            "amm::tune::log_nonpositive",
        ),
        (
            one(Distribution::log_uniform(-1.0, 1.0)),
            "amm::tune::log_nonpositive",
        ),
        (one(Distribution::int(5, 5)), "amm::tune::empty_range"),
        (
            one(Distribution::int_with(0, 10, true, 1)),
            "amm::tune::log_nonpositive",
        ),
        (
            one(Distribution::int_with(1, 10, true, 2)),
            "amm::tune::bad_step",
        ),
        (
            one(Distribution::int_with(1, 10, false, 0)),
            "amm::tune::bad_step",
        ),
        (
            one(Distribution::int_with(0, 3, false, 5)),
            "amm::tune::empty_range",
        ),
        (one(Distribution::choice(vec![])), "amm::tune::empty_choice"),
        (
            one(Distribution::uniform(f64::NAN, 1.0)),
            "amm::tune::non_finite_bound",
        ),
        (
            one(Distribution::choice(vec![
                ParamValue::Int(1),
                ParamValue::Int(1),
            ])),
            "amm::tune::duplicate_choice",
        ),
        (
            one(Distribution::choice(vec![ParamValue::Float(f64::INFINITY)])),
            "amm::tune::non_finite_choice",
        ),
        (SearchSpace::new(vec![]), "amm::tune::empty_space"),
        (
            SearchSpace::new(vec![
                ParamSpec::new("a", Distribution::uniform(0.0, 1.0)),
                ParamSpec::new("a", Distribution::uniform(0.0, 1.0)),
            ]),
            "amm::tune::duplicate_param",
        ),
    ];
    for (i, (r, want)) in cases.into_iter().enumerate() {
        let e = r.expect_err(&format!("case {i} should fail"));
        assert_eq!(code(&e), want, "case {i}: {e}");
    }
    // Int(1) and Float(1.0) are different choices; so are strings and bools.
    assert!(
        one(Distribution::choice(vec![
            ParamValue::Int(1),
            ParamValue::Float(1.0),
            ParamValue::Str("1".into()),
            ParamValue::Bool(true),
        ]))
        .is_ok()
    );
}

#[test]
fn int_step_lowers_unreachable_upper_bound() {
    let s = one(Distribution::int_with(0, 10, false, 3)).unwrap();
    assert_eq!(
        s.params()[0].distribution,
        Distribution::int_with(0, 9, false, 3)
    );
    let mut seen: Vec<i64> = (0..100)
        .map(|i| s.decode(&[i as f64 / 99.0]).int("p").unwrap())
        .collect();
    seen.dedup();
    assert_eq!(seen, vec![0, 3, 6, 9]);
}

#[test]
fn encode_decode_round_trip_and_reject_foreign_values() {
    let s = SearchSpace::new(vec![
        ParamSpec::new("lr", Distribution::log_uniform(1e-4, 1e-1)),
        ParamSpec::new("width", Distribution::int_with(1, 64, true, 1)),
        ParamSpec::new(
            "act",
            Distribution::choice(vec![
                ParamValue::Str("relu".into()),
                ParamValue::Str("gelu".into()),
            ]),
        ),
    ])
    .unwrap();
    for u in [[0.0, 0.0, 0.0], [0.3, 0.5, 0.7], [1.0, 1.0, 1.0]] {
        let p = s.decode(&u);
        let x = s.encode(&p).unwrap();
        assert_eq!(s.decode(&x), p);
    }
    // Log scale: the midpoint of the cube is the geometric midpoint.
    let mid = s.decode(&[0.5, 0.5, 0.0]).float("lr").unwrap();
    assert!((mid - (1e-4f64 * 1e-1).sqrt()).abs() < 1e-12);
    assert_eq!(s.decode(&[0.0, 0.0, 0.0]).int("width"), Some(1));
    assert_eq!(s.decode(&[0.0, 1.0, 0.0]).int("width"), Some(64));
    let bad = s.decode(&[0.5, 0.5, 0.5]);
    let mut entries = bad.entries().to_vec();
    entries[0].value = ParamValue::Float(0.5);
    let e = s
        .encode(&ammc::tune::TrialParams::new(entries))
        .unwrap_err();
    assert_eq!(code(&e), "amm::tune::params_mismatch");
    assert_eq!(
        s.dim_kinds(),
        vec![
            DimKind::Continuous,
            DimKind::Continuous,
            DimKind::Categorical(2)
        ]
    );
}

#[test]
fn corners_vary_one_parameter_with_the_others_at_midpoints() {
    let s = SearchSpace::new(vec![
        ParamSpec::new("lr", Distribution::log_uniform(1e-4, 1e-2)),
        ParamSpec::new("depth", Distribution::int(1, 5)),
        ParamSpec::new(
            "width",
            Distribution::choice(vec![
                ParamValue::Int(8),
                ParamValue::Int(16),
                ParamValue::Int(32),
            ]),
        ),
    ])
    .unwrap();
    let c = s.corners();
    let show: Vec<String> = c.iter().map(|c| c.params.to_string()).collect();
    assert_eq!(
        show,
        vec![
            "lr=0.0001, depth=3, width=16",
            "lr=0.01, depth=3, width=16",
            "lr=0.001, depth=1, width=16",
            "lr=0.001, depth=5, width=16",
            "lr=0.001, depth=3, width=8",
            "lr=0.001, depth=3, width=16",
            "lr=0.001, depth=3, width=32",
        ]
    );
    assert_eq!(c[3].param, "depth");
    assert_eq!(c[3].value, ParamValue::Int(5));
    // Identical configurations are listed once.
    let s = SearchSpace::new(vec![
        ParamSpec::new("a", Distribution::choice(vec![ParamValue::Int(1)])),
        ParamSpec::new("b", Distribution::choice(vec![ParamValue::Str("x".into())])),
    ])
    .unwrap();
    let c = s.corners();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].params.to_string(), "a=1, b=\"x\"");
}

#[test]
fn sobol_matches_scipy_unscrambled_points() {
    // scipy.stats.qmc.Sobol(5, scramble=False, bits=32).random(8)
    let want = [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.5, 0.5, 0.5],
        [0.75, 0.25, 0.25, 0.25, 0.75],
        [0.25, 0.75, 0.75, 0.75, 0.25],
        [0.375, 0.375, 0.625, 0.875, 0.375],
        [0.875, 0.875, 0.125, 0.375, 0.875],
        [0.625, 0.125, 0.875, 0.625, 0.625],
        [0.125, 0.625, 0.375, 0.125, 0.125],
    ];
    let s = Sobol::new(5).unwrap();
    for (i, w) in want.iter().enumerate() {
        assert_eq!(s.point(i as u32), w.to_vec(), "point {i}");
    }
    // Deeper indices and high dimensions (Joe–Kuo table entries up to dimension 64).
    let s = Sobol::new(64).unwrap();
    let p = s.point(1000);
    let got = [p[0], p[1], p[9], p[39], p[63]];
    assert_eq!(
        got,
        [
            0.2197265625,
            0.0966796875,
            0.0693359375,
            0.4794921875,
            0.4462890625
        ]
    );
    let p = s.point(777);
    assert_eq!(
        [p[20], p[50], p[62]],
        [0.2373046875, 0.0830078125, 0.1376953125]
    );
}

#[test]
fn sobol_scrambling_is_seeded_and_keeps_stratification() {
    use rand::SeedableRng;
    let mk = |seed| Sobol::scrambled(2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed)).unwrap();
    let (a, b, c) = (mk(1), mk(1), mk(2));
    assert_eq!(a.point(5), b.point(5));
    assert_ne!(a.point(5), c.point(5));
    // A digital shift keeps each of the first 16 points in its own 1/16 column.
    let mut cols: Vec<usize> = (0..16).map(|i| (a.point(i)[0] * 16.0) as usize).collect();
    cols.sort();
    assert_eq!(cols, (0..16).collect::<Vec<_>>());
}

/// Matérn 5/2 correlation written out independently of the library.
fn matern(r: f64) -> f64 {
    let s5 = 5f64.sqrt();
    (1.0 + s5 * r + 5.0 / 3.0 * r * r) * (-s5 * r).exp()
}

#[test]
fn gp_posterior_matches_a_hand_computed_two_point_example() {
    // Data x = {0, 1}, y = {0, 1}; ℓ = 1, σ_f² = 1, noise ≈ 0. Standardised targets are
    // {-1, +1} (mean 0.5, sd 0.5). With ρ = k(0,1), a = k(¼,0), b = k(¼,1):
    //   mean_std(¼) = (b − a) / (1 − ρ),  var_std(¼) = 1 − (a² − 2ρab + b²) / (1 − ρ²).
    let gp = Gp::with_hyper(
        &[DimKind::Continuous],
        &[vec![0.0], vec![1.0]],
        &[0.0, 1.0],
        GpHyper {
            log_lengthscales: vec![0.0],
            log_signal: 0.0,
            log_noise: (1e-12f64).ln(),
        },
    )
    .unwrap();
    let (rho, a, b) = (matern(1.0), matern(0.25), matern(0.75));
    let p = gp.predict(&[0.25]);
    let mean = gp.unstandardise(p.mean);
    let want_mean = 0.5 + 0.5 * (b - a) / (1.0 - rho);
    let want_var = 1.0 - (a * a - 2.0 * rho * a * b + b * b) / (1.0 - rho * rho);
    assert!((mean - want_mean).abs() < 1e-9, "{mean} vs {want_mean}");
    assert!((p.var - want_var).abs() < 1e-9, "{} vs {want_var}", p.var);
    // Same numbers from an independent NumPy computation.
    assert!((mean - 0.21081017402502944).abs() < 1e-9);
    assert!((p.var - 0.05231727687810461).abs() < 1e-9);
    // Interpolates the data and is certain there.
    let at1 = gp.predict(&[1.0]);
    assert!((gp.unstandardise(at1.mean) - 1.0).abs() < 1e-6);
    assert!(at1.var < 1e-6);
}

#[test]
fn gp_treats_categories_by_equality_only() {
    // Three categories; the GP must not assume category 0 is "closer" to 1 than to 2.
    let k = [DimKind::Categorical(3)];
    let x = [vec![1.0 / 6.0], vec![0.5], vec![5.0 / 6.0]];
    let gp = Gp::with_hyper(
        &k,
        &x,
        &[0.0, 1.0, 0.0],
        GpHyper {
            log_lengthscales: vec![0.0],
            log_signal: 0.0,
            log_noise: -10.0,
        },
    )
    .unwrap();
    // An unseen coordinate differs from all three, so it is equally correlated with each.
    let p = gp.predict(&[0.99]);
    let q = gp.predict(&[0.01]);
    assert!((p.mean - q.mean).abs() < 1e-12 && (p.var - q.var).abs() < 1e-12);
}
