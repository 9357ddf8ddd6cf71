//! Where a study lives: a journal file shared by every worker, or memory (a study without
//! a journal). Both take Optuna journal operations and give back the replay, so the study
//! logic is one piece of code whatever the storage.

use std::sync::Mutex;

use serde_json::{Value as Json, json};

use super::journal::{self, Journal, JournalError, Replay};

/// A study's storage.
pub(super) enum Store {
    /// A journal file (shared with other processes).
    File(Journal),
    /// A Redis server (shared with other processes and machines).
    Redis(super::redis_store::RedisJournal),
    /// This process only.
    Memory {
        /// The operations applied so far.
        replay: Mutex<Replay>,
        /// Written into each operation, as a journal does.
        worker_id: String,
    },
}

impl Store {
    /// In memory.
    pub fn memory() -> Store {
        Store::Memory {
            replay: Mutex::new(Replay::default()),
            worker_id: super::liveness::worker_id(),
        }
    }

    /// Whether other processes can see the study (and so need heartbeats).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::File(_) | Store::Redis(_))
    }

    /// Appends operations.
    pub fn append(&self, ops: &[Json]) -> Result<(), JournalError> {
        // `decide` may run again (Redis retries when someone appended meanwhile).
        self.transact(|_| Ok::<_, JournalError>((ops.to_vec(), ())))
    }

    /// See [`Journal::transact`]: `decide` sees every operation so far and its operations are
    /// appended before anyone else's.
    pub fn transact<T, E: From<JournalError>>(
        &self,
        mut decide: impl FnMut(&Replay) -> Result<(Vec<Json>, T), E>,
    ) -> Result<T, E> {
        match self {
            Store::File(j) => j.transact(decide),
            Store::Redis(r) => r.transact(decide),
            Store::Memory { replay, worker_id } => {
                let mut r = replay.lock().map_err(|_| JournalError::Io {
                    path: "<memory>".into(),
                    source: std::io::Error::other("study state poisoned"),
                })?;
                let (ops, out) = decide(&r)?;
                for mut o in ops {
                    if let Some(m) = o.as_object_mut() {
                        m.insert("worker_id".into(), json!(worker_id));
                    }
                    // Operations are built by this crate; one it cannot apply is a bug that
                    // the journal round-trip tests would catch, so it is reported, not hidden.
                    journal::apply(&mut r, &o).map_err(|reason| JournalError::Format {
                        path: "<memory>".into(),
                        line: 0,
                        reason,
                    })?;
                }
                Ok(out)
            }
        }
    }
}
