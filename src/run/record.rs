//! What identifies a run and what its record says about it: content hashes (a block's
//! run is reused only while the hash of everything that determines its results is
//! unchanged) and the status of `summary.json`.

use sha2::{Digest, Sha256};

/// How a run ended, as recorded in `summary.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran to its end (including an early stop).
    Completed,
    /// Stopped by SIGINT/SIGTERM; `--resume` continues it.
    Interrupted,
}

/// Seconds since the Unix epoch (0 when the clock is before it).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Builds a content hash from named parts; the order of parts matters.
#[derive(Clone, Default)]
pub struct ContentHash(Sha256);

impl ContentHash {
    /// An empty hash.
    pub fn new() -> ContentHash {
        ContentHash::default()
    }

    /// Adds a named part (names and lengths are hashed too, so parts cannot run together).
    pub fn part(&mut self, name: &str, bytes: &[u8]) -> &mut ContentHash {
        for chunk in [name.as_bytes(), bytes] {
            self.0.update((chunk.len() as u64).to_le_bytes());
            self.0.update(chunk);
        }
        self
    }

    /// The hash as 64 hex digits.
    pub fn finish(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

/// The SHA-256 of a file's bytes as hex, read in blocks.
pub fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    // Never open a FIFO or device: opening one can block forever.
    let (mut f, _) =
        crate::input::open_regular(path).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One run directory as `ammc runs` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunListing {
    /// The block (directory name).
    pub block: String,
    /// `train`, `agent` or `tune`.
    pub kind: String,
    /// `completed`, `interrupted`, or `partial` for a staging directory a killed run left.
    pub status: String,
    /// Epochs (train), episodes (agent) or trials (tune) done.
    pub progress: String,
    /// The headline result (test metrics, greedy evaluation, best value).
    pub result: String,
    /// Wall seconds, when recorded.
    pub seconds: Option<f64>,
    /// Content hash prefix, for train runs.
    pub hash: Option<String>,
}

/// Lists the runs under `out`: committed run directories and the staging directories of
/// killed runs, sorted by block name.
pub fn list_runs(out: &std::path::Path) -> std::io::Result<Vec<RunListing>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(block) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
        {
            rows.push(RunListing {
                block: block.to_string(),
                kind: "train".to_string(),
                status: "partial".to_string(),
                progress: super::dir::read_run_text(&entry.path().join("metrics.jsonl"))
                    .map(|m| format!("{} epochs", m.lines().count()))
                    .unwrap_or_default(),
                result: "killed or running; --resume continues it".to_string(),
                seconds: None,
                hash: None,
            });
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        let dir = entry.path();
        let summary = super::dir::read_run_text(&dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let best = super::dir::read_run_text(&dir.join("best.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        rows.push(match (summary, best) {
            (Some(s), _) if s.get("agent").is_some() => RunListing {
                block: name,
                kind: "agent".to_string(),
                status: "completed".to_string(),
                progress: format!("{} episodes", s["episodes"]),
                result: format!(
                    "greedy return {:.4}, success {:.4}",
                    s["eval"]["mean_return"].as_f64().unwrap_or(f64::NAN),
                    s["eval"]["success_rate"].as_f64().unwrap_or(f64::NAN)
                ),
                seconds: s["train_seconds"].as_f64(),
                hash: None,
            },
            (Some(s), _) => {
                let test = s["metrics"]["test"]
                    .as_object()
                    .or_else(|| s["metrics"]["val"].as_object())
                    .map(|m| {
                        let mut keys: Vec<_> = m.iter().collect();
                        keys.sort_by_key(|(k, _)| k.as_str());
                        keys.iter()
                            .map(|(k, v)| format!("{k} {:.4}", v.as_f64().unwrap_or(f64::NAN)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                // A tree head trains in boosting rounds, not epochs (`crate::trees::block`).
                let progress = match s.get("tree_head") {
                    Some(head) => format!(
                        "{}/{} rounds, {} kept",
                        s["rounds_trained"], head["trees"], s["best_round"]
                    ),
                    None => format!(
                        "{}/{} epochs",
                        s.get("epochs_completed").unwrap_or(&s["epochs"]),
                        s["epochs"]
                    ),
                };
                RunListing {
                    block: name,
                    kind: "train".to_string(),
                    status: s["status"].as_str().unwrap_or("completed").to_string(),
                    progress,
                    result: test,
                    seconds: s["wall_seconds"].as_f64(),
                    hash: s["hash"].as_str().map(|h| h.chars().take(12).collect()),
                }
            }
            (None, Some(b)) => RunListing {
                block: name,
                kind: "tune".to_string(),
                status: "completed".to_string(),
                progress: format!("{} trials", b["trials"]),
                result: format!("best value {}", b["best"]["value"]),
                seconds: None,
                hash: None,
            },
            (None, None) => continue,
        });
    }
    rows.sort_by(|a, b| a.block.cmp(&b.block));
    Ok(rows)
}
