//! A `train` block whose model ends in a tree head, as a run: load the data, compute the
//! frozen backbone's features once (evaluation mode, on the run's backend), fit the head,
//! and commit `<out>/<block>/` as one set: `metrics.jsonl` (one line per round),
//! `model.safetensors` (the backbone's weights and the normalisation, as a neural run
//! writes them), `trees.json` (the ensemble, see [`super::ensemble`]), `curves.svg` and
//! `summary.json`. Called from [`crate::runtime::program::run_train`]; prints nothing.

use std::time::Instant;

use super::boost::{FitError, RoundRecord, Samples, fit};
use super::ensemble::Ensemble;
use super::features::{Backbone, first_not_finite, model_task, report};
use crate::data::Dataset;
use crate::diag::Diag;
use crate::run::metrics::SplitMetrics;
use crate::run::record::{RunStatus, unix_now};
use crate::run::{Event, RunContext, RunDir, RunFailure};
use crate::runtime::infer::ModelFile;
use crate::runtime::program::{TrainJob, TrainOutcome, files};

/// Runs a tree model's train block; see the module documentation.
pub fn run_trees(job: &TrainJob, ctx: &mut RunContext) -> Result<TrainOutcome, RunFailure> {
    let started = unix_now();
    let model = job.model;
    let spec = &model.spec;
    let (Some(head), Some(task)) = (spec.tree.as_ref(), model_task(model)) else {
        return Err(RunFailure::Io(format!(
            "`{}` has no tree head",
            model.train
        )));
    };
    let block = model.train.clone();
    let diag = |code: &'static str, msg: String, help: &str| {
        RunFailure::Diags(vec![
            Diag::new(code, msg)
                .primary(job.span, "in this train block")
                .help(help.to_string()),
        ])
    };
    let mut dir =
        RunDir::open(&ctx.out_dir, &block).map_err(|e| RunFailure::io(&ctx.out_dir, &e))?;
    dir.reset()
        .map_err(|e| RunFailure::io(dir.stage_dir(), &e))?;
    let t = Instant::now();
    let splits = crate::data::load(&spec.data, &ctx.base_dir).map_err(|e| {
        RunFailure::Diags(vec![
            Diag::new(e.code(), format!("cannot load `{}`: {e}", spec.data.name))
                .primary(job.span, "in this train block"),
        ])
    })?;
    let load_seconds = t.elapsed().as_secs_f64();

    // The backbone's weights as training would start from them: pretrained stages loaded
    // over the seeded initialisation (stages without weights have no parameters).
    let t = Instant::now();
    let plan = (!model.layers.is_empty()).then(|| crate::lower::lower(model, spec.batch));
    let tensors = match &plan {
        Some(plan) => {
            crate::runtime::train::Session::new(ctx.backend, model, plan, &splits, &job.pretrained)
                .map_err(|e| {
                    diag(
                        "amm::weights::load",
                        format!("{e:?}"),
                        "train the producing block again",
                    )
                })?
                .model_tensors()
        }
        None => Vec::new(),
    };
    let metadata = crate::runtime::program::model_metadata(model, &splits);
    let file = ModelFile {
        path: dir.staged(files::MODEL),
        tensors: tensors.clone(),
        normalization: splits.normalization.clone(),
        model: Some(model.model.clone()),
    };
    let mut backbone = Backbone::new(ctx.backend, model, plan.as_ref(), &file)
        .map_err(|e| RunFailure::Diags(vec![e.diag(&block, job.span)]))?;
    let named: Vec<(&str, &Dataset)> = [
        ("train", Some(&splits.train)),
        ("val", splits.val.as_ref()),
        ("test", splits.test.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, d)| Some((n, d?)))
    .collect();
    let width = model.output().elements();
    let mut features = Vec::new();
    for (name, d) in &named {
        let f = backbone
            .features(&d.features)
            .map_err(|e| RunFailure::Diags(vec![e.diag(&block, job.span)]))?;
        if let Some((sample, feature)) = first_not_finite(&f, width) {
            return Err(diag(
                "amm::trees::not_finite",
                format!(
                    "feature {feature} of {name} sample {sample} reaching the tree head is not finite"
                ),
                "the frozen backbone's weights produce NaN or infinity here: train the producing block again, or normalise the data",
            ));
        }
        features.push(f);
    }
    let features_seconds = t.elapsed().as_secs_f64();

    ctx.events.emit(Event::Line {
        block: block.clone(),
        text: format!(
            "train {block}: model `{}` on `{}` ({}), {} on {width} features, up to {} round{}, {} backend ({} thread{})",
            model.model,
            spec.data.name,
            [
                Some(format!("{} train", splits.train.len())),
                splits.val.as_ref().map(|d| format!("{} validation", d.len())),
                splits.test.as_ref().map(|d| format!("{} test", d.len())),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ")
                + " samples",
            head.kind.name(),
            head.trees,
            if head.trees == 1 { "" } else { "s" },
            ctx.backend.name(),
            ctx.backend.threads(),
            if ctx.backend.threads() == 1 { "" } else { "s" },
        ),
    });
    let samples = |i: usize| Samples {
        x: &features[i],
        features: width,
        labels: &named[i].1.labels,
    };
    let val_index = named.iter().position(|(n, _)| *n == "val");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(ctx.backend.threads().max(1))
        .build()
        .ok();
    let t = Instant::now();
    let mut lines = String::new();
    let mut round_start = Instant::now();
    let interrupt = ctx.interrupt.clone();
    let events = &mut *ctx.events;
    let fitted = fit(
        head,
        task,
        samples(0),
        val_index.map(samples),
        pool.as_ref(),
        &mut |r: &RoundRecord| {
            lines += &(serde_json::to_string(r).unwrap_or_default() + "\n");
            events.emit(Event::Round {
                block: block.clone(),
                rounds: head.trees,
                round: r.round,
                train: r.train.clone(),
                val: r.val.clone(),
                seconds: round_start.elapsed().as_secs_f64(),
            });
            round_start = Instant::now();
        },
        &|| interrupt.requested(),
    );
    let fitted = match fitted {
        Ok(f) => f,
        Err(FitError::Interrupted) => return Err(RunFailure::Interrupted),
        Err(FitError::NotFinite(round)) => {
            return Err(diag(
                "amm::train::diverged",
                format!("the tree head's outputs became non-finite in round {round}"),
                "lower `lr` or raise `l2`",
            ));
        }
    };
    let train_seconds = t.elapsed().as_secs_f64();
    dir.append(files::METRICS, &lines)
        .map_err(|e| RunFailure::io(&dir.staged(files::METRICS), &e))?;
    if fitted.stopped_early {
        let best = fitted
            .records
            .get(fitted.best_round.saturating_sub(1))
            .and_then(|r| r.val.as_ref())
            .map_or(f64::NAN, |v| v.loss);
        ctx.events.emit(Event::Line {
            block: block.clone(),
            text: format!(
                "early stop after round {}: val.loss has not improved since round {} ({best:.4}); keeping {} round{}",
                fitted.records.len(),
                fitted.best_round,
                fitted.best_round,
                if fitted.best_round == 1 { "" } else { "s" }
            ),
        });
    }

    // What is evaluated is the ensemble as saved and read back, so `ammc eval` computes
    // exactly these numbers from the files.
    let t = Instant::now();
    let json = fitted.ensemble.to_json();
    let saved = Ensemble::from_json(&json)
        .map_err(|why| RunFailure::Io(format!("the trained ensemble does not read back: {why}")))?;
    let finals: Vec<(String, SplitMetrics)> = named
        .iter()
        .zip(&features)
        .map(|((name, d), f)| {
            let r = report(&saved, f, &d.labels, 1);
            let m = SplitMetrics {
                loss: r.loss,
                accuracy: r.classification.as_ref().map(|c| c.accuracy),
                mse: r.regression.as_ref().map(|m| m.mse),
                mae: r.regression.as_ref().map(|m| m.mae),
            };
            (name.to_string(), m)
        })
        .collect();
    let evaluate_seconds = t.elapsed().as_secs_f64();
    for (split, m) in &finals {
        ctx.events.emit(Event::Final {
            block: block.clone(),
            split: split.clone(),
            metrics: m.clone(),
            // The ensemble evaluated is the one saved: every kept round.
            weights: "last".into(),
        });
    }
    ctx.events.emit(Event::Throughput {
        block: block.clone(),
        samples_per_sec: (splits.train.len() * fitted.records.len()) as f64
            / train_seconds.max(1e-9),
        wall_seconds: unix_now() - started,
    });
    dir.write(
        files::MODEL,
        &crate::data::safetensors::serialize(&tensors, &metadata),
    )
    .map_err(|e| RunFailure::io(&dir.staged(files::MODEL), &e))?;
    dir.write(super::TREES_FILE, json.as_bytes())
        .map_err(|e| RunFailure::io(&dir.staged(super::TREES_FILE), &e))?;
    match (head.kind, saved.trees.first()) {
        (crate::check::spec::TreeKind::DecisionTree, Some(tree)) => {
            // One round says little: draw the tree's metrics cut at each depth instead.
            let cut = |x: &[f32], labels: &crate::data::Labels, d: usize| {
                let k = saved.outputs();
                let mut scores = Vec::with_capacity(x.len() / width.max(1) * k);
                for row in x.chunks(width.max(1)) {
                    scores.extend_from_slice(tree.values(tree.node_at_depth(row, d)));
                }
                super::boost::metrics(saved.task, saved.link, &scores, labels)
            };
            let by_depth: Vec<RoundRecord> = (0..=tree.depth())
                .map(|d| RoundRecord {
                    round: d,
                    train: cut(&features[0], &named[0].1.labels, d),
                    val: val_index.map(|i| cut(&features[i], &named[i].1.labels, d)),
                })
                .collect();
            write_curves(&dir, &block, &by_depth, 0, "tree cut at depth")?;
        }
        _ => write_curves(
            &dir,
            &block,
            &fitted.records,
            fitted.best_round,
            "boosting round",
        )?,
    }
    let summary = serde_json::json!({
        "status": RunStatus::Completed,
        "kind": "train",
        "train": model.train,
        "model": model.model,
        "data": spec.data.name,
        "seed": spec.seed,
        "parameters": model.params(),
        "trainable": 0,
        "tree_head": head,
        "task": task,
        "features": width,
        "rounds_trained": fitted.records.len(),
        "best_round": fitted.best_round,
        "stopped_early": fitted.stopped_early,
        "trees": saved.trees.len(),
        "leaves": saved.trees.iter().map(|t| t.leaves()).sum::<usize>(),
        "layers": model.layers.iter().map(|l| serde_json::json!({
            "name": l.name, "layer": l.text, "output": l.output.to_string(),
            "parameters": l.params, "frozen": true,
        })).collect::<Vec<_>>(),
        "samples": {
            "train": splits.train.len(),
            "val": splits.val.as_ref().map(|d| d.len()),
            "test": splits.test.as_ref().map(|d| d.len()),
        },
        "inputs": job.inputs,
        "set": ctx.overrides.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "hash": job.hash,
        "ammc_version": env!("CARGO_PKG_VERSION"),
        "backend": ctx.backend.name(),
        "threads": ctx.backend.threads(),
        "metrics": finals.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        "seconds": {
            "load": load_seconds,
            "features": features_seconds,
            "train": train_seconds,
            "evaluate": evaluate_seconds,
        },
        "started_unix": started,
        "wall_seconds": unix_now() - started,
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    dir.write(files::SUMMARY, text.as_bytes())
        .map_err(|e| RunFailure::io(&dir.staged(files::SUMMARY), &e))?;
    let final_dir = dir.commit().map_err(|e| RunFailure::io(&ctx.out_dir, &e))?;
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
        epochs: fitted.records.len(),
    })
}

/// `curves.svg`: train and validation loss per round (per depth for a decision tree), and
/// accuracy (classes) or MAE (targets, whose loss is the MSE), with the kept round marked.
fn write_curves(
    dir: &RunDir,
    block: &str,
    records: &[RoundRecord],
    best_round: usize,
    x_label: &str,
) -> Result<(), RunFailure> {
    use crate::run::plot::{Mark, Panel, Series, svg};
    let series = |name: &str, f: &dyn Fn(&RoundRecord) -> Option<f64>| Series {
        name: name.to_string(),
        points: records
            .iter()
            .filter_map(|r| Some((r.round as f64, f(r)?)))
            .collect(),
        // A lone point (a tree of depth 0) would not show as a line.
        mark: if records.len() == 1 {
            Mark::Dots
        } else {
            Mark::Line
        },
    };
    let marker = (best_round > 0 && best_round < records.len())
        .then(|| (best_round as f64, format!("kept round {best_round}")));
    let metric = if records.iter().any(|r| r.train.accuracy.is_some()) {
        "accuracy"
    } else {
        "mae"
    };
    let panel = |title: &str, y: &str, m: &str| Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y.into(),
        series: [
            series("train", &|r| r.train.get(m)),
            series("validation", &|r| r.val.as_ref().and_then(|v| v.get(m))),
        ]
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect(),
        marker: marker.clone(),
    };
    let panels = vec![
        panel("loss", "mean loss", "loss"),
        panel(metric, metric, metric),
    ];
    let text = svg(&format!("train {block} (tree head)"), &panels).map_err(RunFailure::Io)?;
    dir.write(files::CURVES, text.as_bytes())
        .map_err(|e| RunFailure::io(&dir.staged(files::CURVES), &e))
}
