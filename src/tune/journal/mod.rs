//! Study journal in Optuna's `JournalStorage` file format (one JSON operation per line),
//! guarded by Optuna's `JournalFileOpenLock` protocol, so `optuna.storages.JournalStorage(
//! optuna.storages.journal.JournalFileBackend(path))` can load what ammc writes and several
//! ammc workers (or Optuna workers) can share one file.
//!
//! Reading needs no lock: only complete (`\n`-terminated) lines are consumed. Writing takes
//! the lock, first catches up with lines other workers appended, lets the caller decide
//! what to write from that up-to-date state ([`Journal::transact`]), appends all lines in
//! one `write` + `fsync`, and releases the lock. A partial last line (a writer killed in
//! the middle of a write) is cut off while holding the lock, which is safe because every
//! writer holds the lock while writing.

pub mod lock;
pub mod ops;
pub mod pyjson;
pub mod state;
pub mod time;

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ops::{Internal, Op, OptunaDist};
pub use state::{JournalState, ParamRecord, StudyEntry, TrialEntry};

use crate::tune::error::JournalError;

/// A random UUID-4 string (worker ids, lock release names); not seeded, never affects results.
pub fn new_uuid() -> String {
    let mut words = [0u64; 2];
    for w in words.iter_mut() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        *w = h.finish();
    }
    let (a, b) = (words[0], words[1]);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Timing of the file lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockSettings {
    /// A lock file unchanged for this long is considered abandoned (Optuna default 30 s).
    pub grace: Duration,
    /// Give up waiting after this long.
    pub timeout: Duration,
}

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            grace: Duration::from_secs(30),
            timeout: Duration::from_secs(600),
        }
    }
}

/// An open journal: its replayed state plus, unless in memory, the backing file.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    lock: LockSettings,
    offset: u64,
    lines: usize,
    state: JournalState,
    worker_id: String,
}

fn io_err(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Journal {
    /// A journal kept only in memory (no file, no lock).
    pub fn in_memory() -> Journal {
        Journal {
            path: None,
            lock: LockSettings::default(),
            offset: 0,
            lines: 0,
            state: JournalState::default(),
            worker_id: format!("{}-0", new_uuid()),
        }
    }

    /// Opens (creating it and its directory if needed) and replays the journal at `path`.
    pub fn open(path: &Path, lock: LockSettings) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let mut j = Journal {
            path: Some(path.to_path_buf()),
            lock,
            offset: 0,
            lines: 0,
            state: JournalState::default(),
            worker_id: format!("{}-0", new_uuid()),
        };
        j.read_new(false)?;
        Ok(j)
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Replayed state as of the last sync.
    pub fn state(&self) -> &JournalState {
        &self.state
    }

    /// This process's worker id (as written in every line).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Catches up with lines appended by other workers (no lock needed).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.read_new(false)
    }

    /// Under the lock: catch up, let `decide` choose operations from the current state,
    /// append them, and apply them. Returns `decide`'s second result.
    pub fn transact<T>(
        &mut self,
        decide: impl FnOnce(&JournalState) -> (Vec<Op>, T),
    ) -> Result<T, JournalError> {
        let Some(path) = self.path.clone() else {
            let (ops, out) = decide(&self.state);
            for op in &ops {
                let line = op
                    .to_line(&self.worker_id)
                    .map_err(|e| self.corrupt_self(e.to_string()))?;
                self.apply_line(line.as_bytes())?;
            }
            return Ok(out);
        };
        let _guard = lock::acquire(&path, self.lock.grace, self.lock.timeout)?;
        self.read_new(true)?;
        let (ops, out) = decide(&self.state);
        if ops.is_empty() {
            return Ok(out);
        }
        let mut text = String::new();
        for op in &ops {
            let line = op
                .to_line(&self.worker_id)
                .map_err(|e| self.corrupt_self(e.to_string()))?;
            text.push_str(&line);
            text.push('\n');
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io_err(&path, e))?;
        f.flush().map_err(|e| io_err(&path, e))?;
        f.sync_all().map_err(|e| io_err(&path, e))?;
        // We held the lock since catching up, so our lines are exactly the new tail.
        self.read_new(false)?;
        Ok(out)
    }

    /// Appends `ops` (see [`Journal::transact`]).
    pub fn append(&mut self, ops: Vec<Op>) -> Result<(), JournalError> {
        self.transact(|_| (ops, ()))
    }

    fn corrupt_self(&self, reason: String) -> JournalError {
        JournalError::Corrupt {
            path: self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "<memory>".into()),
            line: self.lines + 1,
            reason,
        }
    }

    fn apply_line(&mut self, line: &[u8]) -> Result<(), JournalError> {
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| self.corrupt_self(format!("invalid JSON: {e}")))?;
        self.state
            .apply(&v)
            .map_err(|reason| self.corrupt_self(reason))?;
        self.lines += 1;
        Ok(())
    }

    /// Reads complete lines past `offset`; with `repair` (lock held) cuts a partial tail.
    fn read_new(&mut self, repair: bool) -> Result<(), JournalError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut f = File::open(&path).map_err(|e| io_err(&path, e))?;
        f.seek(SeekFrom::Start(self.offset))
            .map_err(|e| io_err(&path, e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(|e| io_err(&path, e))?;
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + nl];
            // Tolerate `\r\n` and blank lines.
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                self.apply_line(line)?;
            }
            start += nl + 1;
            self.offset += (nl + 1) as u64;
        }
        if repair && start < buf.len() {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            f.set_len(self.offset).map_err(|e| io_err(&path, e))?;
            f.sync_all().map_err(|e| io_err(&path, e))?;
        }
        Ok(())
    }
}
