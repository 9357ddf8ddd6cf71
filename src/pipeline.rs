//! Train blocks as a build graph. A model stage may take its weights from another train
//! block (`weights = pretrain`); running a block first brings the blocks it depends on up
//! to date, like a build system: a dependency's run is reused when its committed
//! `summary.json` says it completed with the same content hash, and rerun otherwise (or
//! with `--force`).
//!
//! The content hash of a train block covers everything that determines its results: the
//! ammc version, the backend, the instantiated model (layers, arguments, shapes), the
//! evaluated settings, the data declaration and the bytes of its files, and the hashes
//! of its weight inputs (files' bytes, producing blocks' hashes). Threads are not in it:
//! results do not depend on them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::check::{ModelSummary, WeightsSource};
use crate::run::record::{ContentHash, RunStatus, file_sha256};
use crate::run::{Event, RunContext, RunFailure};
use crate::runtime::program::{TrainJob, TrainOutcome, files, run_train};
use crate::runtime::train::StageWeights;
use crate::source::Span;

/// The checked train blocks of one program.
pub struct TrainGraph<'a> {
    summaries: &'a [ModelSummary],
    spans: HashMap<&'a str, Span>,
    hashes: HashMap<String, String>,
    /// SHA-256 of every input file read, by path as shown.
    file_hashes: HashMap<String, String>,
}

impl<'a> TrainGraph<'a> {
    /// The graph of `summaries`; `span_of` gives each block's name span (diagnostics).
    pub fn new(summaries: &'a [ModelSummary], span_of: &dyn Fn(&str) -> Span) -> TrainGraph<'a> {
        TrainGraph {
            summaries,
            spans: summaries
                .iter()
                .map(|s| (s.train.as_str(), span_of(&s.train)))
                .collect(),
            hashes: HashMap::new(),
            file_hashes: HashMap::new(),
        }
    }

    fn summary(&self, block: &str) -> Option<&'a ModelSummary> {
        self.summaries.iter().find(|s| s.train == block)
    }

    /// Blocks `block` depends on, dependencies first, without `block` itself. The checker
    /// has rejected cycles, so the walk ends; `seen` guards it anyway.
    pub fn dependencies(&self, block: &str) -> Vec<&'a str> {
        let mut order = Vec::new();
        let mut seen = vec![block.to_string()];
        let mut stack: Vec<(&str, usize)> = vec![(block, 0)];
        while let Some((b, i)) = stack.pop() {
            let Some(s) = self.summary(b) else { continue };
            match s.pretrained.get(i) {
                None => {
                    if b != block {
                        order.push(s.train.as_str());
                    }
                }
                Some(p) => {
                    stack.push((b, i + 1));
                    if let WeightsSource::Block(dep) = &p.source
                        && !seen.iter().any(|x| x == dep)
                        && let Some(d) = self.summary(dep)
                    {
                        seen.push(dep.clone());
                        stack.push((d.train.as_str(), 0));
                    }
                }
            }
        }
        order
    }

    /// The content hash of `block` (its dependencies' hashes must be known: call in
    /// dependency order).
    fn hash(&mut self, s: &ModelSummary, ctx: &RunContext) -> Result<String, RunFailure> {
        if let Some(h) = self.hashes.get(&s.train) {
            return Ok(h.clone());
        }
        let mut h = ContentHash::new();
        h.part("ammc", env!("CARGO_PKG_VERSION").as_bytes());
        h.part("backend", ctx.backend.name().as_bytes());
        h.part("input", s.input.to_string().as_bytes());
        for l in &s.layers {
            let mut layer = format!("{}|{}|{:?}|{}|{}", l.name, l.text, l.op, l.output, l.frozen);
            // Only a stage's own `init` is added, so hashes of runs without one are unchanged.
            if let Some(init) = l.init {
                layer += &format!("|{init:?}");
            }
            h.part("layer", layer.as_bytes());
        }
        // The spec's Debug form lists every evaluated setting and the data declaration.
        h.part("spec", format!("{:?}", s.spec).as_bytes());
        for path in data_files(s, &ctx.base_dir) {
            let digest = file_sha256(&path)
                .map_err(|e| RunFailure::Io(format!("cannot read {}: {e}", path.display())))?;
            h.part("data file", digest.as_bytes());
            self.file_hashes.insert(path.display().to_string(), digest);
        }
        for p in &s.pretrained {
            h.part("stage", p.stage.as_bytes());
            match &p.source {
                WeightsSource::File(f) => {
                    let path = ctx.base_dir.join(f);
                    let digest = file_sha256(&path).map_err(|e| {
                        RunFailure::Io(format!("cannot read {}: {e}", path.display()))
                    })?;
                    h.part("weights file", digest.as_bytes());
                    self.file_hashes.insert(path.display().to_string(), digest);
                }
                WeightsSource::Block(b) => {
                    let dep = self.hashes.get(b).cloned().unwrap_or_default();
                    h.part("weights block", dep.as_bytes());
                }
            }
        }
        let digest = h.finish();
        self.hashes.insert(s.train.clone(), digest.clone());
        Ok(digest)
    }

    /// Runs `block`, first bringing its dependencies up to date (reused when their runs
    /// are current, unless `force`). Only `block` itself honours `ctx.resume`.
    pub fn run(
        &mut self,
        block: &str,
        force: bool,
        ctx: &mut RunContext,
    ) -> Result<TrainOutcome, RunFailure> {
        let resume = ctx.resume;
        for dep in self.dependencies(block) {
            let Some(s) = self.summary(dep) else { continue };
            let hash = self.hash(s, ctx)?;
            let dir = ctx.out_dir.join(dep);
            if !force && is_current(&dir, &hash) {
                ctx.events.emit(Event::Reused {
                    block: dep.to_string(),
                    dir: dir.display().to_string(),
                });
                continue;
            }
            ctx.resume = false;
            let r = self.run_one(s, hash, ctx);
            ctx.resume = resume;
            r?;
        }
        let s = self
            .summary(block)
            .ok_or_else(|| RunFailure::Io(format!("no checked train block `{block}`")))?;
        let hash = self.hash(s, ctx)?;
        self.run_one(s, hash, ctx)
    }

    fn run_one(
        &self,
        s: &ModelSummary,
        hash: String,
        ctx: &mut RunContext,
    ) -> Result<TrainOutcome, RunFailure> {
        let pretrained = weight_files(s, &ctx.base_dir, &ctx.out_dir);
        let files: std::collections::BTreeMap<String, String> = data_files(s, &ctx.base_dir)
            .into_iter()
            .chain(pretrained.iter().map(|w| w.path.clone()))
            .filter_map(|p| {
                let shown = p.display().to_string();
                self.file_hashes.get(&shown).map(|h| (shown, h.clone()))
            })
            .collect();
        let inputs = serde_json::json!({
            "data": {
                "name": s.spec.data.name,
                "loader": s.spec.data.loader,
                "args": s.spec.data.args.iter().map(|(k, v)| (k.clone(), value_json(v))).collect::<serde_json::Map<_, _>>(),
            },
            "weights": s.pretrained.iter().map(|p| serde_json::json!({
                "stage": p.stage,
                "from": match &p.source {
                    WeightsSource::File(f) => serde_json::json!({"file": f}),
                    WeightsSource::Block(b) => serde_json::json!({"block": b, "hash": self.hashes.get(b)}),
                },
            })).collect::<Vec<_>>(),
            "sha256": files,
        });
        let job = TrainJob {
            model: s,
            span: self.spans[s.train.as_str()],
            pretrained,
            hash,
            inputs,
        };
        run_train(&job, ctx)
    }
}

/// Whether `dir` holds a completed run with content hash `hash`.
fn is_current(dir: &Path, hash: &str) -> bool {
    let Ok(text) = crate::run::dir::read_run_text(&dir.join(files::SUMMARY)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let completed = v
        .get("status")
        .and_then(|s| serde_json::from_value::<RunStatus>(s.clone()).ok())
        == Some(RunStatus::Completed);
    completed
        && v.get("hash").and_then(|h| h.as_str()) == Some(hash)
        && dir.join(files::MODEL).is_file()
}

/// The files a pretrained stage loads: paths relative to the `.amm` file's directory, and
/// producing blocks' `model.safetensors` under `out_dir`.
pub fn weight_files(s: &ModelSummary, base_dir: &Path, out_dir: &Path) -> Vec<StageWeights> {
    s.pretrained
        .iter()
        .map(|p| {
            let path = match &p.source {
                WeightsSource::File(f) => base_dir.join(f),
                WeightsSource::Block(b) => out_dir.join(b).join(files::MODEL),
            };
            StageWeights {
                stage: p.stage.clone(),
                backbone: p.backbone.clone(),
                path,
            }
        })
        .collect()
}

/// The files a block's data declaration reads.
fn data_files(s: &ModelSummary, base_dir: &Path) -> Vec<PathBuf> {
    // The loaders' path arguments (see `data::load`).
    const PATH_ARGS: [&str; 4] = ["path", "images", "labels", "features"];
    PATH_ARGS
        .iter()
        .filter_map(|a| match s.spec.data.args.get(*a) {
            Some(crate::resolve::Value::Str(p)) if s.spec.data.loader != "builtin.digits" => {
                Some(base_dir.join(p))
            }
            _ => None,
        })
        .collect()
}

/// An evaluated `.amm` value as JSON.
fn value_json(v: &crate::resolve::Value) -> serde_json::Value {
    use crate::resolve::Value;
    match v {
        Value::Int(i) => serde_json::json!(i),
        Value::Float(f) => serde_json::json!(f),
        Value::Bool(b) => serde_json::json!(b),
        Value::Str(s) => serde_json::json!(s),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_json).collect()),
    }
}
