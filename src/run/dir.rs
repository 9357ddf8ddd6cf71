//! A run's directory, written as a set.
//!
//! A run writes into a staging directory beside its final one (`<out>/.<block>.partial/`)
//! and only a finished or interrupted run is committed: the staging directory is
//! atomically exchanged with `<out>/<block>/` (`renameat2(RENAME_EXCHANGE)`), then the old
//! run is deleted. So after a kill at any moment `<out>/<block>/` holds the complete old run
//! or the complete new one, and anything half-written is in the clearly marked `.partial`
//! directory, where `--resume` finds its last checkpoint.
//!
//! Per-epoch logs are appended (linear in the run's length), not rewritten; a torn last
//! line can only be in the staging directory, and resume truncates to the checkpoint.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::data::atomic::write_atomic;

/// The staging and final directories of one block's run.
pub struct RunDir {
    out: PathBuf,
    final_dir: PathBuf,
    stage: PathBuf,
    appended: Vec<(String, File)>,
}

impl RunDir {
    /// Prepares `<out>/.<block>.partial/`, creating `out`, keeping what a killed run left
    /// there (for `--resume`) but removing stray temporary files. Creating it is the probe
    /// that `--out` is writable, before any work is done.
    pub fn open(out: &Path, block: &str) -> io::Result<RunDir> {
        std::fs::create_dir_all(out)?;
        let stage = out.join(format!(".{block}.partial"));
        std::fs::create_dir_all(&stage)?;
        let dir = RunDir {
            out: out.to_path_buf(),
            final_dir: out.join(block),
            stage,
            appended: Vec::new(),
        };
        dir.remove_temporaries()?;
        // A write probe: a read-only or full file system fails here, not after training.
        dir.write(".probe", b"ok")?;
        std::fs::remove_file(dir.stage.join(".probe"))?;
        Ok(dir)
    }

    fn remove_temporaries(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.stage)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp.") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Empties the staging directory: a new run starts.
    pub fn reset(&mut self) -> io::Result<()> {
        self.appended.clear();
        std::fs::remove_dir_all(&self.stage)?;
        std::fs::create_dir_all(&self.stage)
    }

    /// The committed run, `<out>/<block>/`.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// The staging directory.
    pub fn stage_dir(&self) -> &Path {
        &self.stage
    }

    /// A file of the run being written.
    pub fn staged(&self, name: &str) -> PathBuf {
        self.stage.join(name)
    }

    /// Writes a whole file into the staging directory atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        write_atomic(&self.stage.join(name), bytes)
    }

    /// Appends `text` to a staged log file and flushes it (it is fsynced at checkpoints and
    /// at commit, not per line: a torn tail is cut off on resume).
    pub fn append(&mut self, name: &str, text: &str) -> io::Result<()> {
        let idx = match self.appended.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.stage.join(name))?;
                self.appended.push((name.to_string(), f));
                self.appended.len() - 1
            }
        };
        let f = &mut self.appended[idx].1;
        f.write_all(text.as_bytes())?;
        f.flush()
    }

    /// Makes every appended log durable (before a checkpoint refers to its length).
    pub fn sync_logs(&self) -> io::Result<()> {
        for (_, f) in &self.appended {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Cuts a staged log back to `len` bytes (resuming from a checkpoint taken then).
    pub fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.appended.retain(|(n, _)| n != name);
        let f = OpenOptions::new().write(true).open(self.stage.join(name))?;
        f.set_len(len)?;
        f.sync_all()
    }

    /// Copies a committed file into staging (resuming an interrupted, committed run).
    pub fn restage(&mut self, name: &str) -> io::Result<()> {
        self.appended.retain(|(n, _)| n != name);
        let bytes = read_run_file(&self.final_dir.join(name))?;
        self.write(name, &bytes)
    }

    /// Commits the staged run as `<out>/<block>/`, atomically replacing the previous one.
    pub fn commit(self) -> io::Result<PathBuf> {
        self.sync_logs()?;
        sync_dir(&self.stage);
        let RunDir {
            out,
            final_dir,
            stage,
            ..
        } = self;
        match std::fs::symlink_metadata(&final_dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::rename(&stage, &final_dir)?,
            Err(e) => return Err(e),
            Ok(m) if !m.is_dir() => {
                return Err(io::Error::other(format!(
                    "{} exists and is not a directory",
                    final_dir.display()
                )));
            }
            Ok(_) => {
                let exchanged = rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &stage,
                    rustix::fs::CWD,
                    &final_dir,
                    rustix::fs::RenameFlags::EXCHANGE,
                );
                if exchanged.is_err() {
                    // File systems without RENAME_EXCHANGE: move the old run aside first.
                    // A kill between the two renames leaves it in `.<block>.old`.
                    let old = out.join(format!(
                        ".{}.old",
                        final_dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ));
                    let _ = std::fs::remove_dir_all(&old);
                    std::fs::rename(&final_dir, &old)?;
                    std::fs::rename(&stage, &final_dir)?;
                    let _ = std::fs::remove_dir_all(&old);
                } else {
                    // `stage` now names the previous run.
                    let _ = std::fs::remove_dir_all(&stage);
                }
            }
        }
        sync_dir(&out);
        Ok(final_dir)
    }
}

/// Reads a file of a run directory: regular files only (never blocks on a FIFO someone put
/// there) and at most the memory budget.
pub fn read_run_file(path: &Path) -> io::Result<Vec<u8>> {
    crate::input::read_bounded(path, crate::input::memory_budget().bytes)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// [`read_run_file`] as text.
pub fn read_run_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_run_file(path)?).map_err(|e| io::Error::other(e.to_string()))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_the_old_run_as_a_set() {
        let tmp = std::env::temp_dir().join(format!("ammc-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut d = RunDir::open(&tmp, "fit").unwrap();
        d.append("log.jsonl", "1\n").unwrap();
        d.write("a", b"old").unwrap();
        d.commit().unwrap();
        let mut d = RunDir::open(&tmp, "fit").unwrap();
        d.reset().unwrap();
        d.append("log.jsonl", "2\n").unwrap();
        // Not committed yet: the old run is intact.
        assert_eq!(std::fs::read(tmp.join("fit/a")).unwrap(), b"old");
        assert_eq!(std::fs::read(tmp.join("fit/log.jsonl")).unwrap(), b"1\n");
        d.write("b", b"new").unwrap();
        d.commit().unwrap();
        assert!(!tmp.join("fit/a").exists());
        assert_eq!(std::fs::read(tmp.join("fit/b")).unwrap(), b"new");
        assert_eq!(std::fs::read(tmp.join("fit/log.jsonl")).unwrap(), b"2\n");
        assert!(!tmp.join(".fit.partial").exists());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
