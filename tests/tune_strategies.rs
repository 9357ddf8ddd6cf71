//! Strategies through the ask/tell interface: each finds the Branin minimum region, asks
//! are reproducible, settings are validated.

use std::f64::consts::PI;

use ammc::tune::{
    ConfigError, Direction, Distribution, Optimizer, Outcome, ParamSpec, ParamValue, SearchSpace,
    StrategyConfig, TrialParams, TuneError,
};
use miette::Diagnostic;

const BRANIN_MIN: f64 = 0.397_887_357_729_738;
const BRANIN_ARGMINS: [(f64, f64); 3] = [(-PI, 12.275), (PI, 2.275), (9.424_78, 2.475)];

fn branin(p: &TrialParams) -> f64 {
    let (x, y) = (p.float("x").unwrap(), p.float("y").unwrap());
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

fn branin_space() -> SearchSpace {
    SearchSpace::new(vec![
        ParamSpec::new("x", Distribution::uniform(-5.0, 10.0)),
        ParamSpec::new("y", Distribution::uniform(0.0, 15.0)),
    ])
    .unwrap()
}

/// Runs a strategy to the end of its budget; returns the best configuration and value.
fn optimise(
    strategy: StrategyConfig,
    batch: usize,
    seed: u64,
    direction: Direction,
    space: SearchSpace,
    f: impl Fn(&TrialParams) -> f64,
) -> (TrialParams, f64) {
    let mut opt = Optimizer::new(space, &strategy, direction, seed).unwrap();
    while opt.remaining() > 0 {
        for s in opt.ask(batch) {
            let v = f(&s.params);
            opt.tell(s.slot, Outcome::Complete(v)).unwrap();
        }
    }
    let best = opt.best().unwrap();
    let Outcome::Complete(v) = best.outcome else {
        unreachable!()
    };
    (best.params.clone(), v)
}

/// Distance (in the unit cube) from a configuration to the nearest Branin minimiser.
fn distance_to_minimum(p: &TrialParams) -> f64 {
    let (x, y) = (p.float("x").unwrap(), p.float("y").unwrap());
    BRANIN_ARGMINS
        .iter()
        .map(|(a, b)| (((x - a) / 15.0).powi(2) + ((y - b) / 15.0).powi(2)).sqrt())
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn random_search_finds_the_branin_minimum_region() {
    let (p, v) = optimise(
        StrategyConfig::random(200),
        8,
        3,
        Direction::Minimize,
        branin_space(),
        branin,
    );
    assert!(v - BRANIN_MIN < 1.0, "regret {}", v - BRANIN_MIN);
    assert!(distance_to_minimum(&p) < 0.08, "{p}");
}

#[test]
fn bayes_finds_the_branin_minimum_precisely() {
    let (p, v) = optimise(
        StrategyConfig::bayes(30, Some(8)),
        1,
        7,
        Direction::Minimize,
        branin_space(),
        branin,
    );
    assert!(v - BRANIN_MIN < 0.01, "regret {}", v - BRANIN_MIN);
    assert!(distance_to_minimum(&p) < 0.01, "{p}");
}

#[test]
fn bayes_with_constant_liar_batches_still_converges() {
    let (_, v) = optimise(
        StrategyConfig::bayes(32, Some(8)),
        4,
        11,
        Direction::Minimize,
        branin_space(),
        branin,
    );
    assert!(v - BRANIN_MIN < 0.05, "regret {}", v - BRANIN_MIN);
}

#[test]
fn genetic_finds_the_branin_minimum_region() {
    let (p, v) = optimise(
        StrategyConfig::genetic(10, 10),
        10,
        5,
        Direction::Minimize,
        branin_space(),
        branin,
    );
    assert!(v - BRANIN_MIN < 0.2, "regret {}", v - BRANIN_MIN);
    assert!(distance_to_minimum(&p) < 0.05, "{p}");
}

#[test]
fn maximisation_flips_the_objective() {
    // Maximise −Branin: same minimiser.
    let (_, v) = optimise(
        StrategyConfig::bayes(25, Some(8)),
        1,
        2,
        Direction::Maximize,
        branin_space(),
        |p| -branin(p),
    );
    assert!(-v - BRANIN_MIN < 0.05, "regret {}", -v - BRANIN_MIN);
}

fn mixed_space() -> SearchSpace {
    SearchSpace::new(vec![
        ParamSpec::new("lr", Distribution::log_uniform(1e-5, 1.0)),
        ParamSpec::new("layers", Distribution::int(1, 8)),
        ParamSpec::new(
            "act",
            Distribution::choice(vec![
                ParamValue::Str("relu".into()),
                ParamValue::Str("tanh".into()),
                ParamValue::Str("gelu".into()),
            ]),
        ),
        ParamSpec::new(
            "bn",
            Distribution::choice(vec![ParamValue::Bool(false), ParamValue::Bool(true)]),
        ),
    ])
    .unwrap()
}

/// Best at lr = 1e-2, layers = 5, act = "gelu", bn = true (value 0).
fn mixed(p: &TrialParams) -> f64 {
    let lr = p.float("lr").unwrap().log10();
    let layers = p.int("layers").unwrap() as f64;
    let act = match p.str("act").unwrap() {
        "gelu" => 0.0,
        "relu" => 0.5,
        _ => 1.5,
    };
    let bn = if p.bool("bn").unwrap() { 0.0 } else { 0.7 };
    (lr + 2.0).powi(2) + 0.3 * (layers - 5.0).powi(2) + act + bn
}

#[test]
fn every_strategy_handles_mixed_spaces() {
    let space = mixed_space();
    for (strategy, batch, tol) in [
        (StrategyConfig::random(150), 8, 2.0),
        (StrategyConfig::bayes(40, Some(10)), 2, 0.3),
        (StrategyConfig::genetic(12, 10), 12, 1.0),
    ] {
        let mut opt = Optimizer::new(space.clone(), &strategy, Direction::Minimize, 9).unwrap();
        while opt.remaining() > 0 {
            for s in opt.ask(batch) {
                // Every suggestion is a valid member of the space.
                space.encode(&s.params).unwrap();
                let v = mixed(&s.params);
                opt.tell(s.slot, Outcome::Complete(v)).unwrap();
            }
        }
        let best = opt.best().unwrap();
        let Outcome::Complete(v) = best.outcome else {
            unreachable!()
        };
        assert!(v < tol, "{strategy:?}: best {v} at {}", best.params);
    }
}

#[test]
fn asks_are_reproducible_and_seed_dependent() {
    for strategy in [
        StrategyConfig::random(12),
        StrategyConfig::bayes(12, Some(4)),
        StrategyConfig::genetic(4, 3),
    ] {
        let run = |seed| {
            let mut opt =
                Optimizer::new(mixed_space(), &strategy, Direction::Minimize, seed).unwrap();
            let mut seen = Vec::new();
            while opt.remaining() > 0 {
                for s in opt.ask(4) {
                    let v = mixed(&s.params);
                    opt.tell(s.slot, Outcome::Complete(v)).unwrap();
                    seen.push(s.params.to_string());
                }
            }
            seen
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!(a, b, "{strategy:?}");
        assert_ne!(a, c, "{strategy:?}");
        assert_eq!(a.len(), 12);
    }
}

#[test]
fn failed_and_pruned_observations_do_not_break_strategies() {
    for strategy in [
        StrategyConfig::bayes(20, Some(5)),
        StrategyConfig::genetic(5, 4),
    ] {
        let mut opt = Optimizer::new(branin_space(), &strategy, Direction::Minimize, 4).unwrap();
        while opt.remaining() > 0 {
            for s in opt.ask(5) {
                let outcome = match s.slot % 4 {
                    0 => Outcome::Failed,
                    1 => Outcome::Pruned { last: Some(50.0) },
                    _ => Outcome::Complete(branin(&s.params)),
                };
                opt.tell(s.slot, outcome).unwrap();
            }
        }
        assert!(opt.best().is_some());
    }
}

#[test]
fn ask_tell_bookkeeping() {
    let mut opt = Optimizer::new(
        branin_space(),
        &StrategyConfig::random(3),
        Direction::Minimize,
        0,
    )
    .unwrap();
    let s = opt.ask(5);
    assert_eq!(s.len(), 3, "capped by the budget");
    assert!(opt.ask(1).is_empty());
    opt.tell(1, Outcome::Complete(1.0)).unwrap();
    let e = opt.tell(1, Outcome::Complete(1.0)).unwrap_err();
    assert!(matches!(e, TuneError::UnknownSlot { slot: 1 }));
    assert_eq!(
        e.code().map(|c| c.to_string()).as_deref(),
        Some("amm::tune::unknown_slot")
    );
}

#[test]
fn strategy_settings_are_validated() {
    let space = branin_space();
    let cases: Vec<(StrategyConfig, &str)> = vec![
        (StrategyConfig::random(0), "amm::tune::setting_too_small"),
        (
            StrategyConfig::bayes(0, None),
            "amm::tune::setting_too_small",
        ),
        (
            StrategyConfig::bayes(5, Some(6)),
            "amm::tune::init_exceeds_trials",
        ),
        (
            StrategyConfig::genetic(1, 5),
            "amm::tune::setting_too_small",
        ),
        (
            StrategyConfig::genetic(4, 0),
            "amm::tune::setting_too_small",
        ),
    ];
    for (c, want) in cases {
        let e: ConfigError = match c.build(&space) {
            Err(e) => e,
            Ok(_) => panic!("{c:?} should be rejected"),
        };
        assert_eq!(e.code().map(|c| c.to_string()).as_deref(), Some(want));
    }
    let mut g = ammc::tune::strategy::GeneticConfig::new(4, 4);
    g.crossover_rate = 1.5;
    assert!(StrategyConfig::Genetic(g).build(&space).is_err());
}
