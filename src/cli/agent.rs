//! `ammc inspect` for environments, `ammc eval` for agents and the RL part of `ammc check`
//! (agent runs live in `rl::block`, saved agents in `rl::saved`).

use std::path::Path;

use super::{EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Output, load};
use crate::resolve::{DefId, DefKind, Program};
use crate::rl::program;
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

/// `--rollout ACTIONS.json [--state S0.json] --seed S` of `ammc inspect`.
pub(super) struct RolloutArgs<'a> {
    /// The actions file; `None`: no rollout.
    pub actions: Option<&'a Path>,
    /// The initial physical state; `None`: sampled with `seed`.
    pub state: Option<&'a Path>,
    /// Seed of the reset.
    pub seed: u64,
}

/// `ammc inspect FILE ENV [--transitions]`: describes an env block; with `--transitions`
/// prints its table as JSON in Gymnasium's `P` layout on stdout.
pub(super) fn inspect(
    out: &Output,
    file: &Path,
    env: &str,
    transitions: bool,
    rollout: RolloutArgs<'_>,
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
    if let Some(actions) = rollout.actions {
        let span = program.def(id).item.span;
        return match crate::rl::rollout::run(&spec, actions, rollout.state, rollout.seed) {
            Ok(json) => {
                say_raw!("{json}");
                EXIT_OK
            }
            Err(e) => {
                out.diags(&[e.to_diag(span)], &sources);
                EXIT_DIAGNOSTICS
            }
        };
    }
    let table = match spec.table() {
        Ok(t) => t,
        Err(e) => {
            if transitions {
                out.usage_error(&format!("env `{env}`: {e}"));
                return EXIT_USAGE;
            }
            let (kind, limit) = match spec.build() {
                Ok(crate::rl::env::BuiltEnv::Control(c)) => (c.kind, c.max_steps),
                _ => return EXIT_OK,
            };
            say!(
                "env {env}: {} (continuous observation [{}], {} actions, time limit {limit})",
                spec.kind(),
                kind.obs_names(),
                kind.n_actions(),
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

/// `ammc eval FILE AGENT …`.
pub(super) struct EvalArgs<'a> {
    /// The .amm file.
    pub file: &'a Path,
    /// The block named on the command line.
    pub block: &'a str,
    /// `--set` values.
    pub set: &'a [String],
    /// `--weights`: a file or a run directory.
    pub weights: Option<&'a Path>,
    /// `--out`.
    pub out_dir: &'a Path,
    /// `--episodes`.
    pub episodes: Option<u64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--json`.
    pub json: bool,
    /// Whether `--data` was given (a train-block option).
    pub data: bool,
}

/// `ammc eval` when `block` is an agent block: `None` when it is not one (the caller
/// evaluates it as a train block).
pub(super) fn eval(out: &Output, args: &EvalArgs<'_>) -> Option<u8> {
    let mut sources = SourceMap::new();
    let program = match load(out, args.file, args.set, &mut sources) {
        Ok(p) => p,
        Err(code) => return Some(code),
    };
    let id = program
        .lookup(crate::resolve::ModuleId(0), args.block)
        .filter(|d| program.def(*d).kind == DefKind::Agent)?;
    if args.data {
        out.usage_error("`--data` is for train blocks; an agent is evaluated on its environment");
        return Some(EXIT_USAGE);
    }
    let dqn = program::agent(&program, id)
        .ok()
        .is_some_and(|s| s.dqn.is_some());
    let weights = crate::rl::saved::weights_path(args.weights, args.out_dir, args.block, dqn);
    match crate::rl::saved::evaluate_agent(
        &program,
        &sources,
        id,
        &weights,
        args.episodes,
        args.seed,
        crate::runtime::backend::BackendKind::default(),
    ) {
        Ok(report) => {
            if args.json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                say!("{}", crate::rl::saved::render(&report).trim_end());
            }
            Some(EXIT_OK)
        }
        Err(diags) => {
            out.diags(&diags, &sources);
            Some(EXIT_DIAGNOSTICS)
        }
    }
}
