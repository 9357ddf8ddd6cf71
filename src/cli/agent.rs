//! `ammc run` for `agent` blocks, `ammc inspect` for environments, and the RL part of
//! `ammc check`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use super::run::{RunFailure, RunSettings};
use super::{EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Output, load};
use crate::data::atomic::write_atomic;
use crate::resolve::{DefId, DefKind, Program};
use crate::rl::agent::{Budget, EpisodeRecord};
use crate::rl::env::BuiltEnv;
use crate::rl::render::{policy_map, window_size, window_table, windows};
use crate::rl::{npy, program};
use crate::source::SourceMap;

/// Runs the RL checks of `ammc check` (maps, bins); prints diagnostics and returns the
/// exit code they imply. Range errors (`amm::rl::argument`) are left out here: the shape
/// checker's range pass (`check::ranges`) reports the same mistakes as
/// `amm::value::range`, and one mistake should give one diagnostic.
pub(super) fn check_rl(out: &Output, program: &Program, sources: &SourceMap) -> u8 {
    let diags: Vec<_> = program::check(program)
        .into_iter()
        .filter(|d| d.code != "amm::rl::argument")
        .collect();
    if diags.is_empty() {
        EXIT_OK
    } else {
        out.diags(&diags, sources);
        EXIT_DIAGNOSTICS
    }
}

/// Trains and evaluates one agent block, prints the report and writes
/// `<out>/<agent>/{returns.jsonl, qtable.npy, summary.json}`.
pub(super) fn run_agent(
    program: &Program,
    id: DefId,
    settings: &RunSettings,
) -> Result<(), RunFailure> {
    let setup = program::agent(program, id).map_err(|d| RunFailure::Diags(vec![d]))?;
    let cfg = &setup.config;
    let table = match setup.env.build() {
        Ok(BuiltEnv::Tabular(t)) => Some(t),
        Ok(BuiltEnv::CartPole) => None,
        Err(e) => return Err(RunFailure::Io(e.to_string())),
    };
    let budget = match cfg.budget {
        Budget::Episodes(n) => format!("{n} episodes"),
        Budget::Steps(n) => format!("{n} steps"),
    };
    let shape = match (&table, crate::rl::bins_for(&setup.env, cfg).ok().flatten()) {
        (Some(t), _) => format!("{} states × {} actions", t.n_states, t.n_actions),
        (None, Some(b)) => format!(
            "bins {b:?} = {} states × 2 actions",
            b.iter().map(|&n| n as u64).product::<u64>()
        ),
        (None, None) => String::new(),
    };
    say!(
        "agent {}: {} on `{}` ({}, {shape}), {budget}, alpha {}, gamma {}, seed {}",
        setup.name,
        cfg.algorithm.name(),
        setup.env_name,
        setup.env.kind(),
        cfg.alpha,
        cfg.gamma,
        cfg.seed
    );
    let bar = (!settings.quiet && std::io::stderr().is_terminal()).then(|| {
        let (len, unit) = match cfg.budget {
            Budget::Episodes(n) => (n, "episodes"),
            Budget::Steps(n) => (n, "steps"),
        };
        let b = ProgressBar::new(len);
        b.set_style(
            ProgressStyle::with_template(&format!("[{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let steps_budget = matches!(cfg.budget, Budget::Steps(_));
    let mut recent = 0.0;
    let mut steps_done = 0u64;
    let mut progress = |r: &EpisodeRecord| {
        let Some(b) = &bar else { return };
        recent = 0.99 * recent + 0.01 * r.ret;
        steps_done += r.steps as u64;
        // Redrawing costs far more than a tabular episode; update in batches.
        if r.episode.is_multiple_of(64) {
            b.set_position(if steps_budget { steps_done } else { r.episode });
            b.set_message(format!("ε {:.3}, return ≈ {recent:.3}", r.epsilon));
        }
    };
    let result = crate::rl::run(&setup.env, cfg, &mut progress).map_err(|e| {
        RunFailure::Diags(vec![program::to_diag(
            &e,
            program
                .def(id)
                .item
                .name()
                .map_or(program.def(id).item.span, |n| n.span),
            "in this agent",
        )])
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let learned = &result.learned;
    let size = window_size(cfg.window, learned.episodes);
    let rows = windows(&learned.records, size);
    say_raw!("{}", window_table(&rows));
    let e = &result.eval;
    say!(
        "greedy evaluation over {} episodes: return {:.4} ± {:.4}, success rate {:.4}, mean length {:.1} steps",
        e.episodes,
        e.mean_return,
        e.std_return,
        e.success_rate,
        e.mean_steps
    );
    if let Some(layout) = table.as_ref().and_then(|t| t.layout.as_ref()) {
        say!("greedy policy:");
        say_raw!("{}", policy_map(layout, &learned.q, learned.n_actions));
    }
    let steps_per_sec = learned.steps as f64 / result.train_seconds.max(1e-9);
    say!(
        "{} episodes, {} steps in {:.2}s ({:.1}M steps/s)",
        learned.episodes,
        learned.steps,
        result.train_seconds,
        steps_per_sec / 1e6
    );

    let dir = settings.out_dir.join(&setup.name);
    let io = |e: std::io::Error| RunFailure::Io(format!("cannot write {}: {e}", dir.display()));
    // One line per training episode; no timings, so reruns are byte-identical.
    let mut lines = String::with_capacity(learned.records.len() * 64);
    for r in &learned.records {
        let _ = writeln!(
            lines,
            "{}",
            serde_json::json!({
                "episode": r.episode,
                "return": r.ret,
                "steps": r.steps,
                "success": r.success,
                "epsilon": r.epsilon,
            })
        );
    }
    write_atomic(&dir.join("returns.jsonl"), lines.as_bytes()).map_err(io)?;
    write_atomic(
        &dir.join("qtable.npy"),
        &npy::f64_2d(&learned.q, learned.n_states, learned.n_actions),
    )
    .map_err(io)?;
    write_atomic(
        &dir.join("returns.svg"),
        returns_svg(&setup.name, &rows)
            .map_err(RunFailure::Io)?
            .as_bytes(),
    )
    .map_err(io)?;
    let summary = serde_json::json!({
        "agent": setup.name,
        "algorithm": cfg.algorithm.name(),
        "env": setup.env_name,
        "env_kind": setup.env.kind(),
        "states": learned.n_states,
        "actions": learned.n_actions,
        "alpha": cfg.alpha,
        "gamma": cfg.gamma,
        "seed": cfg.seed,
        "episodes": learned.episodes,
        "steps": learned.steps,
        "windows": rows,
        "eval": e,
        "train_seconds": result.train_seconds,
        "steps_per_sec": steps_per_sec,
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    write_atomic(&dir.join("summary.json"), text.as_bytes()).map_err(io)?;
    say!(
        "wrote {}/{{returns.jsonl, qtable.npy, returns.svg, summary.json}}",
        dir.display()
    );
    Ok(())
}

/// `returns.svg`: mean return and success rate per window of training episodes.
fn returns_svg(name: &str, rows: &[crate::rl::render::WindowRow]) -> Result<String, String> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let series = |n: &str, f: &dyn Fn(&crate::rl::render::WindowRow) -> f64| Series {
        name: n.to_string(),
        points: rows.iter().map(|r| (r.last as f64, f(r))).collect(),
        mark: Mark::Line,
    };
    svg(
        &format!("agent {name}"),
        &[
            Panel {
                title: "return (training, per window)".into(),
                x_label: "episode".into(),
                y_label: "mean return".into(),
                series: vec![series("mean return", &|r| r.mean_return)],
                marker: None,
            },
            Panel {
                title: "success rate (training, per window)".into(),
                x_label: "episode".into(),
                y_label: "success rate".into(),
                series: vec![series("success", &|r| r.success_rate)],
                marker: None,
            },
        ],
    )
}

/// `ammc inspect FILE ENV [--transitions]`: describes an env block; with `--transitions`
/// prints its table as JSON in Gymnasium's `P` layout on stdout.
pub(super) fn inspect(
    out: &Output,
    file: &Path,
    env: &str,
    transitions: bool,
    set: &[String],
) -> u8 {
    let mut sources = SourceMap::new();
    let program = match load(out, file, set, &mut sources) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let envs: Vec<DefId> = program
        .modules
        .first()
        .map(|m| {
            m.own
                .iter()
                .copied()
                .filter(|d| program.def(*d).kind == DefKind::Env)
                .collect()
        })
        .unwrap_or_default();
    let Some(&id) = envs.iter().find(|d| program.def(**d).name == env) else {
        let names: Vec<&str> = envs.iter().map(|d| program.def(*d).name.as_str()).collect();
        let hint = crate::diag::suggest(env, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        out.usage_error(&format!(
            "no env `{env}` in {}{hint}; envs: {}",
            file.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
        return EXIT_USAGE;
    };
    let spec = match program::env_spec(&program, id) {
        Ok(s) => s,
        Err(d) => {
            out.diags(&[d], &sources);
            return EXIT_DIAGNOSTICS;
        }
    };
    let table = match spec.table() {
        Ok(t) => t,
        Err(e) => {
            if transitions {
                out.usage_error(&format!("env `{env}`: {e}"));
                return EXIT_USAGE;
            }
            say!(
                "env {env}: {} (continuous observation [x, velocity, angle, angular velocity], 2 actions, time limit {})",
                spec.kind(),
                crate::rl::env::cartpole::MAX_STEPS
            );
            return EXIT_OK;
        }
    };
    if transitions {
        say_raw!("{}", table.transitions_json());
    } else {
        say!(
            "env {env}: {} ({} states, {} actions, time limit {})",
            spec.kind(),
            table.n_states,
            table.n_actions,
            table
                .max_steps
                .map_or("none".to_string(), |m| m.to_string())
        );
    }
    EXIT_OK
}
