//! How `ammc run` shows a run: [`Renderer`] turns [`Event`]s into lines on stdout (flushed
//! as they happen, whatever stdout is), a progress bar on a terminal's stderr, or one JSON
//! object per event (`--json`).

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::Event;
use crate::run::events::EventSink;
use crate::run::metrics::SplitMetrics;

/// How much and in which form to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Lines for people, with a progress bar on a terminal.
    Human,
    /// Only results: no progress bar, no per-epoch lines.
    Quiet,
    /// One JSON object per event on stdout.
    Json,
}

/// Prints events as they arrive.
pub struct Renderer {
    mode: Mode,
    bars: bool,
    bar: Option<ProgressBar>,
    best_noted: bool,
    window_header: bool,
}

impl Renderer {
    /// A renderer for `mode`; progress bars only when stderr is a terminal.
    pub fn new(mode: Mode) -> Renderer {
        Renderer {
            mode,
            bars: mode == Mode::Human && std::io::stderr().is_terminal(),
            bar: None,
            best_noted: false,
            window_header: false,
        }
    }

    fn line(&self, text: &str) {
        // Each line is written and flushed at once; a closed stdout (`| head`) is ignored.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn human(&mut self, event: Event) {
        let quiet = self.mode == Mode::Quiet;
        match event {
            Event::TrainStart {
                block,
                model,
                data,
                train,
                val,
                test,
                batch,
                epochs,
                parameters,
                backend,
                threads,
                resumed_at,
            } => {
                let mut sizes = format!("{train} train");
                if let Some(v) = val {
                    sizes += &format!(" / {v} validation");
                }
                if let Some(t) = test {
                    sizes += &format!(" / {t} test");
                }
                let threads = if backend == "jit" {
                    format!(" ({threads} thread{})", if threads == 1 { "" } else { "s" })
                } else {
                    String::new()
                };
                let resumed = resumed_at.map_or(String::new(), |p| {
                    if p.batch == 0 {
                        format!("; resumed at epoch {}", p.epoch)
                    } else {
                        format!("; resumed in epoch {} after batch {}", p.epoch, p.batch)
                    }
                });
                self.line(&format!(
                    "train {block}: model `{model}` on `{data}` ({sizes} samples), batch {batch}, {epochs} epochs, {parameters} parameters, {backend} backend{threads}{resumed}"
                ));
            }
            Event::EpochStart {
                epoch,
                epochs,
                batches,
                ..
            } if self.bars => {
                let b = ProgressBar::new(batches as u64);
                b.set_style(
                    ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} batches")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                b.set_message(format!("{epoch}/{epochs}"));
                self.bar = Some(b);
            }
            Event::Batch { .. } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
            }
            Event::Epoch {
                epochs,
                record,
                seconds,
                best,
                ..
            } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                if !quiet {
                    let val = record
                        .val
                        .as_ref()
                        .map_or(String::new(), |v| format!("  val {}", metrics_text(v)));
                    let mark = if best { "  *" } else { "" };
                    self.line(&format!(
                        "epoch {:>3}/{epochs}  train loss {:.4}{val}  lr {:.2e}  {seconds:.2}s{mark}",
                        record.epoch, record.train_loss, record.lr
                    ));
                }
            }
            Event::Round {
                rounds,
                round,
                train,
                val,
                seconds,
                ..
            } if !quiet => {
                let val = val
                    .as_ref()
                    .map_or(String::new(), |v| format!("  val {}", metrics_text(v)));
                self.line(&format!(
                    "round {round:>3}/{rounds}  train {}{val}  {seconds:.2}s",
                    metrics_text(&train)
                ));
            }
            Event::LrReduced { epoch, lr, .. } if !quiet => {
                self.line(&format!(
                    "epoch {epoch:>3}: no improvement, learning rate reduced to {lr:.2e}"
                ));
            }
            Event::EarlyStop {
                epoch,
                metric,
                best_epoch,
                best,
                ..
            } => self.line(&format!(
                "early stop after epoch {epoch}: {metric} has not improved since epoch {best_epoch} ({best:.4})"
            )),
            Event::Final {
                split,
                metrics,
                weights,
                ..
            } => {
                if weights == "best" && !self.best_noted {
                    self.best_noted = true;
                    self.line("final metrics with the best epoch's weights:");
                }
                self.line(&format!("{split:>5}: {}", metrics_text(&metrics)));
            }
            Event::Throughput {
                samples_per_sec,
                wall_seconds,
                ..
            } => self.line(&format!(
                "throughput {samples_per_sec:.0} samples/s, wall time {wall_seconds:.2}s"
            )),
            Event::Checkpoint { .. } => {}
            Event::Interrupted { block, at, resume } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                self.line(&format!(
                    "{block}: interrupted in epoch {} after {} batches; {resume}",
                    at.epoch, at.batch
                ));
            }
            Event::Reused { block, dir } => {
                self.line(&format!("{block}: up to date in {dir}, reused (--force reruns it)"))
            }
            Event::Wrote { dir, files, .. } => {
                self.line(&format!("wrote {dir}/{{{}}}", files.join(", ")))
            }
            Event::Line { text, .. } => self.line(&text),
            Event::Trial {
                number,
                state,
                value,
                error,
                ..
            } if !quiet => self.line(&format!(
                "  trial {number:>3}  {state:<8}  {}",
                value.map_or_else(|| error.unwrap_or_default(), |v| format!("{v:.6}"))
            )),
            Event::AgentStart {
                block,
                algorithm,
                env,
                env_kind,
                shape,
                budget,
                alpha,
                gamma,
                seed,
            } => {
                self.window_header = false;
                self.line(&format!(
                    "agent {block}: {algorithm} on `{env}` ({env_kind}, {shape}), {budget}{}, gamma {gamma}, seed {seed}",
                    alpha.map(|a| format!(", alpha {a}")).unwrap_or_default()
                ));
            }
            Event::AgentProgress {
                done,
                total,
                unit,
                epsilon,
                recent_return,
                ..
            } if self.bars => {
                let b = self.bar.get_or_insert_with(|| {
                    let b = ProgressBar::new(total);
                    b.set_style(
                        ProgressStyle::with_template(&format!(
                            "[{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}"
                        ))
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b
                });
                b.set_position(done);
                b.set_message(format!("ε {epsilon:.3}, return ≈ {recent_return:.3}"));
            }
            Event::Window {
                first,
                last,
                mean_return,
                success_rate,
                ..
            } => {
                if quiet {
                    return;
                }
                if let Some(b) = &self.bar {
                    b.suspend(|| {});
                }
                if !self.window_header {
                    self.window_header = true;
                    self.line(&format!(
                        "{:>17}  {:>12}  {:>8}",
                        "episodes", "mean return", "success"
                    ));
                }
                let line = format!(
                    "{:>17}  {mean_return:>12.4}  {success_rate:>8.3}",
                    format!("{first}-{last}")
                );
                match &self.bar {
                    Some(b) => b.suspend(|| self.line(&line)),
                    None => self.line(&line),
                }
            }
            Event::Evaluation {
                episodes,
                mean_return,
                std_return,
                success_rate,
                mean_steps,
                ..
            } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                self.line(&format!(
                    "greedy evaluation over {episodes} episodes: return {mean_return:.4} ± {std_return:.4}, success rate {success_rate:.4}, mean length {mean_steps:.1} steps"
                ));
            }
            Event::Policy { map, .. } => {
                self.line("greedy policy:");
                self.line(map.trim_end_matches('\n'));
            }
            Event::AgentThroughput {
                episodes,
                steps,
                seconds,
                steps_per_sec,
                ..
            } => self.line(&format!(
                "{episodes} episodes, {steps} steps in {seconds:.2}s ({:.1}M steps/s)",
                steps_per_sec / 1e6
            )),
            _ => {}
        }
    }
}

impl EventSink for Renderer {
    fn emit(&mut self, event: Event) {
        match self.mode {
            Mode::Json => {
                if !matches!(
                    event,
                    Event::Batch { .. } | Event::EpochStart { .. } | Event::AgentProgress { .. }
                ) {
                    self.line(&serde_json::to_string(&event).unwrap_or_default());
                }
            }
            Mode::Human | Mode::Quiet => self.human(event),
        }
    }
}

/// `loss 0.1234  accuracy 0.9700` for one split.
pub fn metrics_text(m: &SplitMetrics) -> String {
    let mut s = format!("loss {:.4}", m.loss);
    if let Some(a) = m.accuracy {
        s += &format!("  accuracy {a:.4}");
    }
    if let Some(v) = m.mse {
        s += &format!("  mse {v:.4}");
    }
    if let Some(v) = m.mae {
        s += &format!("  mae {v:.4}");
    }
    s
}

pub use crate::run::RunFailure;
