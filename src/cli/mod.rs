//! The command line: `ammc check`, `ammc run` and friends. Parses arguments (clap), drives
//! the pipeline, renders diagnostics, and maps outcomes to exit codes:
//! 0 success, 1 diagnostics in the program, 2 usage or I/O errors (and unavailable features).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{self, Diag};
use crate::front::front_end;
use crate::resolve::{self, Override, Program};
use crate::source::SourceMap;

mod agent;
mod run;
mod tune;

/// Exit code: everything went well.
pub const EXIT_OK: u8 = 0;
/// Exit code: the program has errors (diagnostics were printed).
pub const EXIT_DIAGNOSTICS: u8 = 1;
/// Exit code: bad usage, unreadable files, or a feature that is not available.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "ammc",
    version,
    about = "Compile and run .amm machine-learning pipelines"
)]
struct Cli {
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--backend` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    /// Cranelift-compiled kernels (default).
    Jit,
    /// The ndarray reference interpreter.
    Reference,
}

/// `ammc emit` targets.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum EmitKind {
    /// Cranelift IR of every generated kernel.
    Clif,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse, resolve and check files without running anything.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the resolved program (params after --set, where each name comes from).
        #[arg(long)]
        print: bool,
        /// Print the model summaries as JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Print the kernel plan (forward, backward, update) of every trained model.
        #[arg(long)]
        plan: bool,
        /// Override a param: --set name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Run a train, agent or tune block (all runnable blocks in order if no target is given).
    Run {
        /// The .amm file.
        file: PathBuf,
        /// The block to run.
        target: Option<String>,
        /// Override a param: --set name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Directory for run outputs (`<out>/<block>/…`).
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Only print results: no progress bar, no per-epoch lines.
        #[arg(long)]
        quiet: bool,
        /// What executes training: Cranelift-compiled kernels or the ndarray reference.
        #[arg(long, value_enum, default_value_t = BackendChoice::Jit)]
        backend: BackendChoice,
        /// Worker threads of the JIT backend (default: all cores). Results are identical
        /// for any count.
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
    /// Print generated code: `ammc emit clif FILE [TRAIN]` prints the Cranelift IR of every
    /// kernel the JIT compiles for a train block.
    Emit {
        /// What to print.
        #[arg(value_enum)]
        what: EmitKind,
        /// The .amm file.
        file: PathBuf,
        /// The train block (default: the first).
        target: Option<String>,
        /// Override a param: --set name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Describe an env block; `--transitions` prints its table as JSON (Gymnasium's P layout).
    Inspect {
        /// The .amm file.
        file: PathBuf,
        /// The env block.
        env: String,
        /// Print the transition table {state: {action: [[prob, next, reward, terminated]]}}.
        #[arg(long)]
        transitions: bool,
        /// Override a param: --set name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let out = Output { color };
    let code = match cli.command {
        Command::Check {
            files,
            print,
            json,
            plan,
            set,
        } => check(&out, &files, CheckOutput { print, json, plan }, &set),
        Command::Run {
            file,
            target,
            set,
            out: out_dir,
            quiet,
            backend,
            threads,
        } => {
            let backend = match backend {
                BackendChoice::Reference => crate::runtime::backend::BackendKind::Reference,
                BackendChoice::Jit => crate::runtime::backend::BackendKind::Jit {
                    threads: threads
                        .unwrap_or_else(crate::runtime::backend::default_threads)
                        .max(1),
                },
            };
            run(
                &out,
                &file,
                target.as_deref(),
                &set,
                &out_dir,
                quiet,
                backend,
            )
        }
        Command::Emit {
            what: EmitKind::Clif,
            file,
            target,
            set,
        } => emit_clif(&out, &file, target.as_deref(), &set),
        Command::Inspect {
            file,
            env,
            transitions,
            set,
        } => agent::inspect(&out, &file, &env, transitions, &set),
    };
    ExitCode::from(code)
}

/// How to print.
struct Output {
    color: bool,
}

impl Output {
    fn diags(&self, diags: &[Diag], sources: &SourceMap) {
        let width = terminal_width();
        eprint!("{}", diag::render(diags, sources, self.color, width));
        let n = diags.len();
        eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
    }

    fn usage_error(&self, msg: &str) {
        eprintln!("error: {msg}");
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Parses `--set name=value` flags.
fn overrides(set: &[String]) -> Result<Vec<Override>, String> {
    set.iter()
        .map(|s| match s.split_once('=') {
            Some((n, v)) if !n.trim().is_empty() => Ok(Override {
                name: n.trim().to_string(),
                value: v.to_string(),
            }),
            _ => Err(format!("`--set {s}` must have the form name=value")),
        })
        .collect()
}

/// Reads and resolves one file; `Err` carries the exit code after printing.
fn load(out: &Output, path: &Path, set: &[String], sources: &mut SourceMap) -> Result<Program, u8> {
    let overrides = overrides(set).map_err(|e| {
        out.usage_error(&e);
        EXIT_USAGE
    })?;
    let bytes = std::fs::read(path).map_err(|e| {
        out.usage_error(&format!("cannot read `{}`: {e}", path.display()));
        EXIT_USAGE
    })?;
    let name = path.display().to_string();
    let fe = front_end(&name, &bytes, Some(path), &overrides);
    *sources = fe.sources;
    fe.program.map_err(|diags| {
        out.diags(&diags, sources);
        EXIT_DIAGNOSTICS
    })
}

/// What `ammc check` prints besides diagnostics.
#[derive(Clone, Copy)]
struct CheckOutput {
    print: bool,
    json: bool,
    plan: bool,
}

fn check(out: &Output, files: &[PathBuf], what: CheckOutput, set: &[String]) -> u8 {
    let CheckOutput { print, json, plan } = what;
    let mut worst = EXIT_OK;
    let mut all = Vec::new();
    for f in files {
        let mut sources = SourceMap::new();
        let program = match load(out, f, set, &mut sources) {
            Ok(p) => p,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        if print {
            print!("{}", resolve::dump::dump(&program));
        }
        worst = worst.max(agent::check_rl(out, &program, &sources));
        match crate::check::check(&program, &sources) {
            Ok(summaries) => {
                if !json {
                    for s in &summaries {
                        println!("{}", crate::check::render_table(s));
                        if plan {
                            println!("{}", crate::lower::lower(s, s.batch));
                        }
                    }
                }
                all.extend(summaries);
            }
            Err(diags) => {
                out.diags(&diags, &sources);
                worst = worst.max(EXIT_DIAGNOSTICS);
            }
        }
    }
    if json {
        println!("{:#}", crate::check::render_json(&all));
    }
    worst
}

fn run(
    out: &Output,
    file: &Path,
    target: Option<&str>,
    set: &[String],
    out_dir: &Path,
    quiet: bool,
    backend: crate::runtime::backend::BackendKind,
) -> u8 {
    let mut sources = SourceMap::new();
    let program = match load(out, file, set, &mut sources) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runnables = program.runnables();
    let chosen: Vec<_> = match target {
        Some(t) => match runnables.iter().find(|d| program.def(**d).name == t) {
            Some(d) => vec![*d],
            None => {
                let names: Vec<&str> = runnables
                    .iter()
                    .map(|d| program.def(*d).name.as_str())
                    .collect();
                let hint = diag::suggest(t, names.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                out.usage_error(&format!(
                    "no runnable block `{t}` in {}{hint}; runnable blocks: {}",
                    file.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
                return EXIT_USAGE;
            }
        },
        None => runnables,
    };
    if chosen.is_empty() {
        out.usage_error(&format!(
            "{} has no train, agent or tune block to run",
            file.display()
        ));
        return EXIT_USAGE;
    }
    let summaries = match crate::check::check(&program, &sources) {
        Ok(s) => s,
        Err(diags) => {
            out.diags(&diags, &sources);
            return EXIT_DIAGNOSTICS;
        }
    };
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let settings = run::RunSettings {
        out_dir,
        base_dir,
        quiet,
        backend,
    };
    for id in chosen {
        let def = program.def(id);
        let span = def.item.name().map_or(def.item.span, |n| n.span);
        let result = match def.kind {
            crate::resolve::DefKind::Train => {
                match summaries.iter().find(|s| s.train == def.name) {
                    Some(model) => run::run_train(model, span, &settings),
                    None => {
                        out.usage_error(&format!("`train {}` reads a file-backed dataset whose shape is not known yet; this version of ammc runs builtin.digits and synthetic data", def.name));
                        return EXIT_USAGE;
                    }
                }
            }
            crate::resolve::DefKind::Agent => agent::run_agent(&program, id, &settings),
            crate::resolve::DefKind::Tune => {
                let overrides = overrides(set).unwrap_or_default();
                tune::run_tune(&program, id, file, &overrides, &settings)
            }
            kind => {
                out.usage_error(&format!(
                    "running `{} {}` is not available yet in this version of ammc (the file checks without errors)",
                    kind.keyword(),
                    def.name
                ));
                return EXIT_USAGE;
            }
        };
        match result {
            Ok(()) => {}
            Err(run::RunFailure::Diags(d)) => {
                out.diags(&d, &sources);
                return EXIT_DIAGNOSTICS;
            }
            Err(run::RunFailure::Io(m)) => {
                out.usage_error(&m);
                return EXIT_USAGE;
            }
        }
    }
    EXIT_OK
}

/// `ammc emit clif`: compiles the plan of one train block and prints every function's IR.
fn emit_clif(out: &Output, file: &Path, target: Option<&str>, set: &[String]) -> u8 {
    let mut sources = SourceMap::new();
    let program = match load(out, file, set, &mut sources) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let summaries = match crate::check::check(&program, &sources) {
        Ok(s) => s,
        Err(diags) => {
            out.diags(&diags, &sources);
            return EXIT_DIAGNOSTICS;
        }
    };
    let model = match target {
        Some(t) => summaries.iter().find(|s| s.train == t),
        None => summaries.first(),
    };
    let Some(model) = model else {
        let names: Vec<&str> = summaries.iter().map(|s| s.train.as_str()).collect();
        out.usage_error(&format!(
            "no train block {} in {}; train blocks: {}",
            target.map_or(String::new(), |t| format!("`{t}`")),
            file.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
        return EXIT_USAGE;
    };
    let plan = crate::lower::lower(model, model.spec.batch);
    let options = crate::jit::JitOptions {
        capture_ir: true,
        ..crate::jit::JitOptions::default()
    };
    let ex = match crate::runtime::compiled::JitExecutor::with_options(&plan, 0, 1, options) {
        Ok(ex) => ex,
        Err(e) => {
            out.usage_error(&format!("cannot compile `{}`: {e}", model.train));
            return EXIT_USAGE;
        }
    };
    let stats = ex.stats();
    let mut text = format!(
        "; train {}: batch {}, {} Cranelift functions for {} plan kernels, compiled in {:.1} ms\n",
        model.train,
        plan.batch,
        stats.functions,
        stats.compiled_kernels,
        stats.time.as_secs_f64() * 1000.0
    );
    let fallback = ex.reference_kernels();
    if !fallback.is_empty() {
        text += &format!(
            "; run by the reference ops (no generator yet): {}\n",
            fallback.join(", ")
        );
    }
    for f in ex.ir() {
        text += &format!("\n; {}\n{}", f.symbol, f.text);
    }
    use std::io::Write;
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
    EXIT_OK
}
