//! Optuna's `JournalFileOpenLock` protocol: the lock is the file `<journal>.lock`, created
//! with `O_CREAT | O_EXCL`; waiting workers retry with exponential back-off (1 ms doubling
//! up to 1 s); a lock whose modification time has not changed for `grace` is considered
//! abandoned and forcibly released. Release renames the lock to a unique
//! `<journal>.lock<uuid>.rename` name before deleting it, so a worker never deletes a lock
//! that someone else has just re-created.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::tune::error::JournalError;

/// A held lock; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    lock_path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        release(&self.lock_path);
    }
}

/// The lock file path for a journal (`<journal>.lock`).
pub fn lock_path_for(journal: &Path) -> PathBuf {
    let mut s = journal.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Renames then deletes the lock (Optuna's release); errors mean it was already gone.
fn release(lock_path: &Path) {
    let mut renamed = lock_path.as_os_str().to_os_string();
    renamed.push(format!("{}.rename", super::new_uuid()));
    if fs::rename(lock_path, &renamed).is_ok() {
        let _ = fs::remove_file(&renamed);
    }
}

/// Acquires `<journal>.lock`, breaking it if it looks abandoned for `grace`, giving up after
/// `timeout`.
pub fn acquire(
    journal: &Path,
    grace: Duration,
    timeout: Duration,
) -> Result<LockGuard, JournalError> {
    let lock_path = lock_path_for(journal);
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    let mut seen_mtime: Option<SystemTime> = None;
    let mut last_change = Instant::now();
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_path)
        {
            Ok(_) => return Ok(LockGuard { lock_path }),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let mtime = match fs::metadata(&lock_path).and_then(|m| m.modified()) {
                    Ok(t) => t,
                    // Released between our attempts: retry at once.
                    Err(_) => continue,
                };
                if seen_mtime != Some(mtime) {
                    seen_mtime = Some(mtime);
                    last_change = Instant::now();
                }
                if last_change.elapsed() > grace {
                    release(&lock_path);
                    seen_mtime = None;
                    sleep = Duration::from_millis(1);
                    continue;
                }
                if start.elapsed() > timeout {
                    return Err(JournalError::LockTimeout {
                        path: lock_path.display().to_string(),
                        seconds: timeout.as_secs(),
                    });
                }
                std::thread::sleep(sleep);
                sleep = (sleep * 2).min(Duration::from_secs(1));
            }
            Err(source) => {
                return Err(JournalError::Io {
                    path: lock_path.display().to_string(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ammc-lock-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("j.journal")
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let j = scratch("excl");
        let g = acquire(&j, Duration::from_secs(30), Duration::from_secs(5)).unwrap();
        assert!(lock_path_for(&j).exists());
        let e = acquire(&j, Duration::from_secs(30), Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, JournalError::LockTimeout { .. }));
        drop(g);
        assert!(!lock_path_for(&j).exists());
        let _g = acquire(&j, Duration::from_secs(30), Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn abandoned_lock_is_broken_after_the_grace_period() {
        let j = scratch("stale");
        // A lock left behind by a dead worker.
        fs::write(lock_path_for(&j), b"").unwrap();
        let start = Instant::now();
        let g = acquire(&j, Duration::from_millis(100), Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        drop(g);
        assert!(!lock_path_for(&j).exists());
        // No `.rename` leftovers.
        let dir = j.parent().unwrap();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 0);
    }
}
