//! Atomic file replacement.
//!
//! A process killed while saving weights or a Q-table must not leave a half-written file where
//! a good one was. [`write_atomic`] writes to a temporary file in the *same directory* (so the
//! final `rename` never crosses a file system), flushes it to disk with `fsync`, renames it over
//! the target (atomic on POSIX), then fsyncs the directory so the rename itself is durable.
//! Whatever the moment of a crash, the target holds the old contents, does not exist (if it did
//! not before), or holds the complete new contents. A crash may leave a stray
//! `.NAME.tmp-PID-N` file beside it, never a partial target.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::DataError;

/// Per-process counter so concurrent writers in one process never share a temporary name.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Atomically replaces (or creates) `path` with `bytes`. The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_atomic_with(path, bytes, |_| Ok(()))
}

/// [`write_atomic`] with a hook run after the temporary file is written and before it is
/// synced and renamed. Tests use it to inject a failure at the worst moment; a hook error
/// aborts the write, removing the temporary file and leaving `path` untouched.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    before_commit: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), DataError> {
    let file_name = path.file_name().ok_or_else(|| DataError::Config {
        what: "output path".into(),
        reason: format!("`{}` does not name a file", path.display()),
    })?;
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{n}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| DataError::from_io(&tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| DataError::from_io(&tmp, e))?;
        before_commit(&tmp).map_err(|e| DataError::from_io(&tmp, e))?;
        f.sync_all().map_err(|e| DataError::from_io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| DataError::from_io(path, e))
    })();
    if result.is_err() {
        // Best effort: the temporary may not exist (open failed); nothing else to do then.
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

/// Makes a rename durable by syncing its directory. Not every platform or file system allows
/// opening or syncing a directory; the data itself is already synced, so failures are ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creates_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, b"first").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        write_atomic(&p, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second, longer");
        assert_eq!(entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn failure_before_commit_keeps_old_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, b"new contents", |tmp| {
            // The temporary holds the new bytes but the target is still the old file.
            assert_eq!(std::fs::read(tmp).unwrap(), b"new contents");
            assert_eq!(
                std::fs::read(dir.path().join("w.safetensors")).unwrap(),
                b"old"
            );
            Err(std::io::Error::other("simulated crash"))
        })
        .unwrap_err();
        assert_eq!(err.code_str(), "amm::data::io");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["w.safetensors"]);
        // And when there was no file before, there is still none.
        let q = dir.path().join("fresh.npy");
        assert!(write_atomic_with(&q, b"x", |_| Err(std::io::Error::other("boom"))).is_err());
        assert!(!q.exists());
    }

    #[test]
    fn missing_directory_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/f.bin");
        assert_eq!(
            write_atomic(&p, b"x").unwrap_err().code_str(),
            "amm::data::not_found"
        );
    }
}
