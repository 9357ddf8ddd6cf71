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
    let mut f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
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
