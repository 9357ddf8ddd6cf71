//! The median pruner inside studies: synthetic learning curves (deterministic, instant) show
//! that pruning fires, keeps the best trial, records Optuna's intermediate values and PRUNED
//! state, and gives the same trials whatever `jobs` is and across a resume.

use std::path::PathBuf;
use std::time::Duration;

use ammc::tune::*;

/// Epochs of the synthetic training run.
const EPOCHS: usize = 10;

/// A learning curve: accuracy after epoch `step` of a run with quality `q` ∈ [0, 1] rises
/// towards `q`. Curves never cross, so the best final trial is never below the median.
fn curve(q: f64, step: usize) -> f64 {
    q * (1.0 - 0.6f64.powi(step as i32 + 1))
}

/// Trains the synthetic curve, reporting every epoch and stopping when pruned.
struct Curves;

impl Objective for Curves {
    fn evaluate(&self, params: &Params) -> Result<f64, String> {
        Ok(curve(params[0].as_f64().ok_or("x")?, EPOCHS - 1))
    }

    fn evaluate_monitored(
        &self,
        params: &Params,
        monitor: &mut dyn Monitor,
    ) -> Result<f64, String> {
        let q = params[0].as_f64().ok_or("x")?;
        for step in 0..EPOCHS {
            if monitor.report(step, curve(q, step)) {
                return Err("stopped".into());
            }
        }
        Ok(curve(q, EPOCHS - 1))
    }
}

fn config(trials: usize, jobs: usize, prune: bool, journal: Option<PathBuf>) -> StudyConfig {
    StudyConfig {
        name: "curves".into(),
        space: Space::new(vec![Dimension {
            name: "q".into(),
            dist: Distribution::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        }])
        .unwrap(),
        strategy: Strategy::Random { trials },
        direction: Direction::Maximize,
        seed: 4,
        jobs,
        journal,
        heartbeat_grace: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(5),
        redis: None,
        prune: prune.then(|| MedianPruner::new(2)),
    }
}

type Key = Vec<(Option<usize>, TrialState, Option<u64>, Vec<(usize, u64)>)>;

fn key(r: &StudyResult) -> Key {
    r.trials
        .iter()
        .map(|t| {
            (
                t.slot,
                t.state,
                t.value.map(f64::to_bits),
                t.intermediate
                    .iter()
                    .map(|(s, v)| (*s, v.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn pruning_fires_and_keeps_the_best_trial() {
    let plain = run_study(&config(40, 1, false, None), &Curves, &mut |_| {}).unwrap();
    let pruned = run_study(&config(40, 1, true, None), &Curves, &mut |_| {}).unwrap();
    assert_eq!(plain.complete(), 40);
    let n_pruned = pruned
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .count();
    // The first batch of 8 (before any trial completed) always runs to the end; after that,
    // about half the trials are below the median.
    assert!(n_pruned >= 8, "{n_pruned} pruned");
    assert_eq!(pruned.complete() + n_pruned, 40);
    for t in pruned.trials.iter().take(8) {
        assert_eq!(t.state, TrialState::Complete);
    }
    for t in pruned
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
    {
        // Never during the warm-up (steps 0 and 1), and the value is the last reported one.
        let (&last, &v) = t.intermediate.last_key_value().unwrap();
        assert!((2..EPOCHS - 1).contains(&last), "stopped at step {last}");
        assert_eq!(t.value, Some(v));
        assert_eq!(t.intermediate.len(), last + 1);
    }
    for t in pruned
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
    {
        assert_eq!(t.intermediate.len(), EPOCHS);
    }
    // Same suggestions (random search ignores results), so the same best trial and value.
    let (a, b) = (plain.best_trial().unwrap(), pruned.best_trial().unwrap());
    assert_eq!((a.number, a.value), (b.number, b.value));
    assert_eq!(b.state, TrialState::Complete);
}

#[test]
fn pruning_is_independent_of_jobs() {
    let one = run_study(&config(40, 1, true, None), &Curves, &mut |_| {}).unwrap();
    let four = run_study(&config(40, 4, true, None), &Curves, &mut |_| {}).unwrap();
    assert_eq!(key(&one), key(&four));
}

#[test]
fn journal_records_intermediate_values_and_resumes_exactly() {
    let d = std::env::temp_dir().join(format!("ammc-tune-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join("study.journal");
    // 16 trials, then the same study extended to 40: the second run replays the first 16
    // (and their intermediate values) from the journal.
    run_study(
        &config(16, 2, true, Some(path.clone())),
        &Curves,
        &mut |_| {},
    )
    .unwrap();
    let resumed = run_study(
        &config(40, 2, true, Some(path.clone())),
        &Curves,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(resumed.trials.iter().filter(|t| t.resumed).count(), 16);
    let fresh = run_study(&config(40, 2, true, None), &Curves, &mut |_| {}).unwrap();
    assert_eq!(key(&resumed), key(&fresh));
    let text = std::fs::read_to_string(&path).unwrap();
    let ops: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps = ops.iter().filter(|o| o["op_code"] == 7).count();
    let reported: usize = fresh.trials.iter().map(|t| t.intermediate.len()).sum();
    assert_eq!(steps, reported);
    // PRUNED (2) with the last intermediate value as value, as Optuna's `tell` records it.
    let pruned: Vec<&serde_json::Value> = ops
        .iter()
        .filter(|o| o["op_code"] == 6 && o["state"] == 2)
        .collect();
    assert!(!pruned.is_empty());
    for o in pruned {
        let id = o["trial_id"].as_u64().unwrap();
        let last = ops
            .iter()
            .rev()
            .find(|x| x["op_code"] == 7 && x["trial_id"].as_u64() == Some(id))
            .unwrap();
        assert_eq!(o["values"][0], last["intermediate_value"]);
    }
    let _ = std::fs::remove_dir_all(&d);
}
