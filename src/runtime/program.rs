//! A `train` block as a run: load its data, train it (resuming from a checkpoint when
//! asked), stop cleanly on an interrupt or when early stopping fires, and commit
//! `<out>/<block>/` as one set of files. The CLI, the block pipeline and tests all call
//! [`run_train`]; it prints nothing and reports through [`Event`]s.
//!
//! Files of a run: `metrics.jsonl` (one line per epoch, appended), `model.safetensors`
//! (the weights evaluated at the end: the best epoch's under early stopping with
//! `restore_best`, else the last), `best.safetensors` (the best epoch's, when a metric is
//! watched), `checkpoint.safetensors` (only in an interrupted run: everything needed to
//! continue bit for bit), `curves.svg` (learning curves: train and validation loss, the
//! validation metric, the learning rate) and `summary.json` (the run record).

use std::path::PathBuf;
use std::time::Instant;

use crate::check::ModelSummary;
use crate::data::safetensors::{Tensor, serialize};
use crate::diag::Diag;
use crate::lower::lower;
use crate::run::events::Position;
use crate::run::metrics::SplitMetrics;
use crate::run::record::{RunStatus, unix_now};
use crate::run::{Event, RunContext, RunDir, RunFailure};
use crate::runtime::train::{EpochOutcome, Progress, Session, TrainError};
use crate::source::Span;

/// The file names of a train run.
pub mod files {
    /// Per-epoch records.
    pub const METRICS: &str = "metrics.jsonl";
    /// The trained model.
    pub const MODEL: &str = "model.safetensors";
    /// The best epoch's weights.
    pub const BEST: &str = "best.safetensors";
    /// Resumable state.
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    /// The run record.
    pub const SUMMARY: &str = "summary.json";
    /// Learning curves.
    pub const CURVES: &str = "curves.svg";
}

/// A checked train block, ready to run.
pub struct TrainJob<'a> {
    /// The instantiated model and the block's settings.
    pub model: &'a ModelSummary,
    /// The block's name in the source, for diagnostics.
    pub span: Span,
    /// Pretrained stages and the files their weights come from (already resolved against
    /// the `.amm` file's directory or the producing block's run).
    pub pretrained: Vec<crate::runtime::train::StageWeights>,
    /// Content hash of everything that determines the run's results.
    pub hash: String,
    /// Where the data and each input came from (recorded in the summary).
    pub inputs: serde_json::Value,
}

/// A finished (or early-stopped) train run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The committed run directory.
    pub dir: PathBuf,
    /// Final metrics by split.
    pub finals: Vec<(String, SplitMetrics)>,
    /// Epochs trained.
    pub epochs: usize,
}

/// Seconds spent per phase.
#[derive(Default, serde::Serialize)]
struct Timings {
    load: f64,
    compile: f64,
    train: f64,
    evaluate: f64,
}

/// Runs one train block; see the module documentation.
pub fn run_train(job: &TrainJob, ctx: &mut RunContext) -> Result<TrainOutcome, RunFailure> {
    // A tree head is fitted by boosting, not by the gradient loop.
    if job.model.spec.tree.is_some() {
        return crate::trees::block::run_trees(job, ctx);
    }
    let started = unix_now();
    let model = job.model;
    let spec = &model.spec;
    let block = model.train.clone();
    let mut dir =
        RunDir::open(&ctx.out_dir, &block).map_err(|e| RunFailure::io(&ctx.out_dir, &e))?;
    let io = |path: &std::path::Path, e: std::io::Error| RunFailure::io(path, &e);
    let mut timings = Timings::default();

    let t = Instant::now();
    let splits = crate::data::load(&spec.data, &ctx.base_dir).map_err(|e| {
        RunFailure::Diags(vec![
            Diag::new(e.code(), format!("cannot load `{}`: {e}", spec.data.name))
                .primary(job.span, "in this train block"),
        ])
    })?;
    timings.load = t.elapsed().as_secs_f64();
    token_ids(model, &splits)
        .map_err(|d| RunFailure::Diags(vec![d.primary(job.span, "in this train block")]))?;

    let t = Instant::now();
    let plan = lower(model, spec.batch);
    let mut session = Session::new(ctx.backend, model, &plan, &splits, &job.pretrained)
        .map_err(|e| train_failure(e, job.span))?;
    timings.compile = t.elapsed().as_secs_f64();

    let resumed_at = if ctx.resume {
        resume(&mut dir, &mut session, job)?
    } else {
        dir.reset().map_err(|e| io(dir.stage_dir(), e))?;
        None
    };
    if ctx.resume && resumed_at.is_none() {
        ctx.events.emit(Event::Line {
            block: block.clone(),
            text: format!("{block}: no checkpoint to resume from; starting from the beginning"),
        });
    }
    ctx.events.emit(Event::TrainStart {
        block: block.clone(),
        model: model.model.clone(),
        data: spec.data.name.clone(),
        train: splits.train.len(),
        val: splits.val.as_ref().map(|d| d.len()),
        test: splits.test.as_ref().map(|d| d.len()),
        batch: spec.batch,
        epochs: spec.epochs,
        parameters: model.params(),
        backend: ctx.backend.name().to_string(),
        threads: ctx.backend.threads(),
        resumed_at,
    });

    let mut best: Option<Vec<Tensor>> =
        match crate::run::dir::read_run_file(&dir.staged(files::BEST)) {
            Ok(bytes) if resumed_at.is_some() => crate::data::safetensors::deserialize(&bytes).ok(),
            _ => None,
        };
    let mut records = read_records(&dir.staged(files::METRICS));
    let mut last_checkpoint = Instant::now();
    let mut interrupted = false;
    let t = Instant::now();
    while !session.finished() {
        let events = &mut *ctx.events;
        let interrupt = ctx.interrupt.clone();
        let outcome = session
            .run_epoch(
                &mut |p| match p {
                    Progress::EpochStart { epoch, batches } => events.emit(Event::EpochStart {
                        block: block.clone(),
                        epoch,
                        epochs: spec.epochs,
                        batches,
                    }),
                    Progress::Batch { .. } => events.emit(Event::Batch {
                        block: block.clone(),
                    }),
                    Progress::EpochEnd { .. } => {}
                },
                &|| interrupt.requested(),
            )
            .map_err(|e| train_failure(e, job.span))?;
        let EpochOutcome::Done {
            record,
            verdict,
            seconds,
        } = outcome
        else {
            interrupted = true;
            break;
        };
        let line = serde_json::to_string(&record).unwrap_or_default() + "\n";
        dir.append(files::METRICS, &line)
            .map_err(|e| io(&dir.staged(files::METRICS), e))?;
        if verdict.improved {
            let tensors = session.model_tensors();
            dir.write(
                files::BEST,
                &serialize(&tensors, &model_metadata(model, &splits)),
            )
            .map_err(|e| io(&dir.staged(files::BEST), e))?;
            best = Some(tensors);
        }
        let epoch = record.epoch;
        records.push(record.clone());
        ctx.events.emit(Event::Epoch {
            block: block.clone(),
            epochs: spec.epochs,
            record,
            seconds,
            best: verdict.improved,
        });
        if let Some(lr) = verdict.lr_reduced {
            ctx.events.emit(Event::LrReduced {
                block: block.clone(),
                epoch,
                lr,
            });
        }
        if verdict.stop
            && let Some(es) = &spec.early_stop
        {
            let m = &session.state().monitor;
            ctx.events.emit(Event::EarlyStop {
                block: block.clone(),
                epoch,
                metric: es.watch.metric.clone(),
                best_epoch: m.best_epoch,
                best: m.best.unwrap_or(f64::NAN),
            });
        }
        if !session.finished() && last_checkpoint.elapsed().as_secs_f64() >= ctx.checkpoint_seconds
        {
            write_checkpoint(&mut dir, &mut session, &job.hash)?;
            last_checkpoint = Instant::now();
        }
    }
    timings.train = t.elapsed().as_secs_f64();

    if interrupted {
        write_checkpoint(&mut dir, &mut session, &job.hash)?;
        let at = Position {
            epoch: session.state().epoch + 1,
            batch: session.state().batch,
        };
        write_model(
            &dir,
            &session.model_tensors(),
            &model_metadata(model, &splits),
        )?;
        write_curves(&dir, &block, &records, session.state().monitor.best_epoch)?;
        let summary = summary(
            job,
            ctx,
            &session,
            &splits,
            RunStatus::Interrupted,
            &[],
            &timings,
            started,
        );
        dir.write(files::SUMMARY, summary.as_bytes())
            .map_err(|e| io(&dir.staged(files::SUMMARY), e))?;
        let final_dir = dir.commit().map_err(|e| io(&ctx.out_dir, e))?;
        ctx.events.emit(Event::Interrupted {
            block: block.clone(),
            at,
            resume: format!(
                "ammc run … {block} --resume continues from {}",
                final_dir.join(files::CHECKPOINT).display()
            ),
        });
        return Err(RunFailure::Interrupted);
    }

    let t = Instant::now();
    let restore = spec.early_stop.as_ref().is_some_and(|es| es.restore_best);
    let weights = match &best {
        Some(b) if restore => {
            session
                .load_model_tensors(b)
                .map_err(|e| train_failure(e, job.span))?;
            "best"
        }
        _ => "last",
    };
    let finals = session
        .evaluate_splits()
        .map_err(|e| train_failure(e, job.span))?;
    timings.evaluate = t.elapsed().as_secs_f64();
    for (split, m) in &finals {
        ctx.events.emit(Event::Final {
            block: block.clone(),
            split: split.clone(),
            metrics: m.clone(),
            weights: weights.to_string(),
        });
    }
    let trained_epochs = session.state().epoch;
    ctx.events.emit(Event::Throughput {
        block: block.clone(),
        samples_per_sec: samples_per_sec(&session, splits.train.len()),
        wall_seconds: unix_now() - started,
    });
    write_model(
        &dir,
        &session.model_tensors(),
        &model_metadata(model, &splits),
    )?;
    write_curves(&dir, &block, &records, session.state().monitor.best_epoch)?;
    let _ = std::fs::remove_file(dir.staged(files::CHECKPOINT));
    let summary = summary(
        job,
        ctx,
        &session,
        &splits,
        RunStatus::Completed,
        &finals,
        &timings,
        started,
    );
    dir.write(files::SUMMARY, summary.as_bytes())
        .map_err(|e| io(&dir.staged(files::SUMMARY), e))?;
    let final_dir = dir.commit().map_err(|e| io(&ctx.out_dir, e))?;
    let mut written: Vec<String> = std::fs::read_dir(&final_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    written.sort();
    ctx.events.emit(Event::Wrote {
        block,
        dir: final_dir.display().to_string(),
        files: written,
    });
    Ok(TrainOutcome {
        dir: final_dir,
        finals,
        epochs: trained_epochs,
    })
}

/// The epoch records a resumed run already has (its `metrics.jsonl`, truncated to the
/// checkpoint); empty for a new run.
fn read_records(path: &std::path::Path) -> Vec<crate::run::metrics::EpochRecord> {
    crate::run::dir::read_run_text(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `curves.svg`: train and validation loss, the validation metric and the learning rate
/// per epoch, with the best epoch marked.
fn write_curves(
    dir: &RunDir,
    block: &str,
    records: &[crate::run::metrics::EpochRecord],
    best_epoch: usize,
) -> Result<(), RunFailure> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let series =
        |name: &str, f: &dyn Fn(&crate::run::metrics::EpochRecord) -> Option<f64>| Series {
            name: name.to_string(),
            points: records
                .iter()
                .filter_map(|r| Some((r.epoch as f64, f(r)?)))
                .collect(),
            mark: Mark::Line,
        };
    let marker = (best_epoch > 0).then(|| (best_epoch as f64, format!("best epoch {best_epoch}")));
    let mut loss = vec![series("train", &|r| Some(r.train_loss))];
    let has_val = records.iter().any(|r| r.val.is_some());
    if has_val {
        loss.push(series("validation", &|r| r.val.as_ref().map(|v| v.loss)));
    }
    let mut panels = vec![Panel {
        title: "loss".into(),
        x_label: "epoch".into(),
        y_label: "mean loss".into(),
        series: loss,
        marker: marker.clone(),
    }];
    if has_val {
        let metric: Vec<Series> = ["accuracy", "mse", "mae"]
            .iter()
            .map(|m| series(m, &|r| r.val.as_ref().and_then(|v| v.get(m))))
            .filter(|s| !s.points.is_empty())
            .collect();
        if !metric.is_empty() {
            panels.push(Panel {
                title: "validation metrics".into(),
                x_label: "epoch".into(),
                y_label: String::new(),
                series: metric,
                marker: marker.clone(),
            });
        }
    }
    panels.push(Panel {
        title: "learning rate".into(),
        x_label: "epoch".into(),
        y_label: "lr (last step)".into(),
        series: vec![series("lr", &|r| Some(r.lr))],
        marker: None,
    });
    let text = svg(&format!("train {block}"), &panels).map_err(RunFailure::Io)?;
    dir.write(files::CURVES, text.as_bytes())
        .map_err(|e| RunFailure::io(&dir.staged(files::CURVES), &e))
}

fn samples_per_sec(session: &Session, n: usize) -> f64 {
    let s = session.state();
    let samples = n as f64 * s.epoch as f64;
    samples / s.train_seconds.max(1e-9)
}

/// The metadata of `model.safetensors`: the block and model names, the input shape and the
/// normalisation fitted on the train split (see [`crate::runtime::infer::meta`]).
pub(crate) fn model_metadata(
    model: &ModelSummary,
    splits: &crate::data::Splits,
) -> std::collections::BTreeMap<String, String> {
    use crate::runtime::infer::meta;
    let mut m = std::collections::BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("producer".to_string(), "ammc".to_string()),
        (meta::BLOCK.to_string(), model.train.clone()),
        (meta::MODEL.to_string(), model.model.clone()),
        (
            meta::INPUT_SHAPE.to_string(),
            serde_json::to_string(&model.input.0).unwrap_or_default(),
        ),
    ]);
    if let Some(n) = &splits.normalization {
        m.insert(
            meta::NORMALIZATION.to_string(),
            serde_json::to_string(n).unwrap_or_default(),
        );
    }
    m
}

fn write_model(
    dir: &RunDir,
    tensors: &[Tensor],
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<(), RunFailure> {
    if let Some(t) = tensors
        .iter()
        .find(|t| t.data.iter().any(|v| !v.is_finite()))
    {
        return Err(RunFailure::Io(format!(
            "refusing to save `{}`: tensor `{}` holds non-finite values",
            files::MODEL,
            t.name
        )));
    }
    dir.write(files::MODEL, &serialize(tensors, metadata))
        .map_err(|e| RunFailure::io(&dir.staged(files::MODEL), &e))
}

fn write_checkpoint(dir: &mut RunDir, session: &mut Session, hash: &str) -> Result<(), RunFailure> {
    // The log must be durable up to the epochs the checkpoint has seen.
    dir.sync_logs()
        .map_err(|e| RunFailure::io(&dir.staged(files::METRICS), &e))?;
    let bytes = session.checkpoint(hash);
    dir.write(files::CHECKPOINT, &bytes)
        .map_err(|e| RunFailure::io(&dir.staged(files::CHECKPOINT), &e))
}

/// Restores the newest checkpoint: a killed run's in the staging directory, else an
/// interrupted run's committed one. Returns where training continues, `None` when there is
/// nothing to resume (a fresh start).
fn resume(
    dir: &mut RunDir,
    session: &mut Session,
    job: &TrainJob,
) -> Result<Option<Position>, RunFailure> {
    let staged = dir.staged(files::CHECKPOINT);
    let committed = dir.final_dir().join(files::CHECKPOINT);
    let (path, from_final) = if staged.is_file() {
        (staged, false)
    } else if committed.is_file() {
        (committed, true)
    } else {
        dir.reset()
            .map_err(|e| RunFailure::io(dir.stage_dir(), &e))?;
        return Ok(None);
    };
    let bytes = crate::run::dir::read_run_file(&path)
        .map_err(|e| RunFailure::Io(format!("cannot read {}: {e}", path.display())))?;
    session.restore(&bytes, &job.hash).map_err(|why| {
        RunFailure::Diags(vec![
            Diag::new(
                "amm::run::resume",
                format!(
                    "cannot resume `{}` from {}: {why}",
                    job.model.train,
                    path.display()
                ),
            )
            .primary(job.span, "this train block")
            .help("run it again without `--resume` to start over"),
        ])
    })?;
    let io = |e: std::io::Error| RunFailure::io(dir_display(&path), &e);
    if from_final {
        dir.reset().map_err(io)?;
        for f in [files::METRICS, files::BEST, files::CHECKPOINT] {
            if dir.final_dir().join(f).is_file() {
                dir.restage(f).map_err(io)?;
            }
        }
    }
    // The log holds at least the checkpoint's epochs (it is synced before each checkpoint);
    // lines written after it are cut off and recomputed, bit for bit.
    let metrics = dir.staged(files::METRICS);
    let text = crate::run::dir::read_run_file(&metrics).unwrap_or_default();
    let epochs = session.state().epoch;
    let keep = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .nth(epochs.wrapping_sub(1))
        .unwrap_or(0);
    if epochs > 0 && keep == 0 {
        return Err(RunFailure::Io(format!(
            "cannot resume `{}`: {} has fewer than the checkpoint's {epochs} epochs; run without --resume",
            job.model.train,
            metrics.display()
        )));
    }
    if metrics.is_file() {
        dir.truncate(files::METRICS, keep as u64).map_err(io)?;
    }
    Ok(Some(Position {
        epoch: session.state().epoch + 1,
        batch: session.state().batch,
    }))
}

fn dir_display(p: &std::path::Path) -> &std::path::Path {
    p.parent().unwrap_or(p)
}

fn train_failure(e: TrainError, span: Span) -> RunFailure {
    RunFailure::Diags(vec![match e {
        TrainError::Diverged(d) => {
            let what = if d.in_weights {
                format!("the weights became non-finite in epoch {}", d.epoch)
            } else {
                format!("the loss became {} at epoch {}, step {}", d.loss, d.epoch, d.step)
            };
            Diag::new("amm::train::diverged", what)
                .primary(span, "while running this train block")
                .help(match &d.first_bad {
                    Some(layer) => format!("the first non-finite values appear in `{layer}`; lower the learning rate, add `clip_norm`, or normalise the data"),
                    None => "the forward pass is finite, so the loss itself overflowed; lower the learning rate or add `clip_norm`".to_string(),
                })
        }
        TrainError::Weights(m) => Diag::new("amm::weights::load", m)
            .primary(span, "in this train block")
            .help("train the producing block again, or point `weights` at a file written by `ammc run`"),
        TrainError::Op(m) => Diag::new("amm::internal::kernel", m)
            .primary(span, "in this train block")
            .help("this is a bug in ammc; please report it with this file"),
    }])
}

/// A model starting with `embedding(vocab, …)` reads its inputs as token ids: every value of
/// every split must be a whole number in `0..vocab` (checked before training, so bad data
/// is a data error naming the sample, not a failure in the middle of an epoch).
fn token_ids(model: &crate::check::ModelSummary, splits: &crate::data::Splits) -> Result<(), Diag> {
    let Some(crate::check::LayerOp::Embedding { vocab, .. }) = model.layers.first().map(|l| &l.op)
    else {
        return Ok(());
    };
    let parts = [
        ("train", Some(&splits.train)),
        ("validation", splits.val.as_ref()),
        ("test", splits.test.as_ref()),
    ];
    for (name, d) in parts {
        let Some(d) = d else { continue };
        let per = d.sample_len().max(1);
        if let Some((i, v)) = d
            .features
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.fract() == 0.0 && **v >= 0.0 && (**v as usize) < *vocab))
        {
            return Err(Diag::new(
                "amm::data::token_id",
                format!(
                    "sample {} of the {name} split holds {v} at step {}, which is not a token id in 0..{vocab}",
                    i / per,
                    i % per
                ),
            )
            .help(format!(
                "`embedding({vocab}, …)` reads whole numbers from 0 to {}: raise `vocab`, fix the data, or keep `normalize = \"none\"` (normalising changes ids)",
                vocab - 1
            )));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn summary(
    job: &TrainJob,
    ctx: &RunContext,
    session: &Session,
    splits: &crate::data::Splits,
    status: RunStatus,
    finals: &[(String, SplitMetrics)],
    timings: &Timings,
    started: f64,
) -> String {
    let model = job.model;
    let spec = &model.spec;
    let state = session.state();
    let metrics: serde_json::Map<String, serde_json::Value> = finals
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let layers: Vec<serde_json::Value> = model
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name,
                "layer": l.text,
                "output": l.output.to_string(),
                "parameters": l.params,
                "frozen": l.frozen,
            })
        })
        .collect();
    let set: serde_json::Map<String, serde_json::Value> = ctx
        .overrides
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let early_stop = spec.early_stop.as_ref().map(|es| {
        serde_json::json!({
            "metric": es.watch.metric,
            "patience": es.patience,
            "min_delta": es.watch.min_delta,
            "restore_best": es.restore_best,
            "best_epoch": state.monitor.best_epoch,
            "best": state.monitor.best,
            "stopped": state.monitor.stopped,
        })
    });
    let value = serde_json::json!({
        "status": status,
        "kind": "train",
        "train": model.train,
        "model": model.model,
        "data": spec.data.name,
        "epochs": spec.epochs,
        "epochs_completed": state.epoch,
        "batch": spec.batch,
        "seed": spec.seed,
        "parameters": model.params(),
        "trainable": model.trainable(),
        "macs": model.macs(),
        "layers": layers,
        "settings": {
            "loss": format!("{:?}", spec.loss),
            "optimizer": format!("{:?}", spec.optimizer),
            "schedule": format!("{:?}", spec.schedule),
            "clip_norm": spec.clip_norm,
            "init": format!("{:?}", spec.init),
            "early_stop": early_stop,
        },
        "samples": {
            "train": splits.train.len(),
            "val": splits.val.as_ref().map(|d| d.len()),
            "test": splits.test.as_ref().map(|d| d.len()),
        },
        "inputs": job.inputs,
        "set": set,
        "hash": job.hash,
        "ammc_version": env!("CARGO_PKG_VERSION"),
        "backend": ctx.backend.name(),
        "threads": ctx.backend.threads(),
        "metrics": metrics,
        "samples_per_sec": samples_per_sec(session, splits.train.len()),
        "seconds": timings,
        "started_unix": started,
        "wall_seconds": unix_now() - started,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
