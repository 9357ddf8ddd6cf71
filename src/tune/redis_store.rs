//! Study storage in Optuna's `JournalRedisBackend` layout: the operations are the journal's,
//! stored one per key (`<prefix>:log:<n>`, n from 0) with the last number in
//! `<prefix>:log_number` (−1 when empty), so `JournalStorage(JournalRedisBackend(url))`, its
//! workers and optuna-dashboard share the study with ammc's workers on any machine that
//! reaches the server. Optuna appends with one atomic script per operation (INCR the number,
//! SET the log); ammc decides what to append after reading the new operations and appends
//! in a MULTI/EXEC guarded by WATCH on the number, retrying when anyone appended in between:
//! the same "claim after reading the tail" as the file journal's lock.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::journal::{JournalError, Replay, apply};

/// A Redis server and key prefix holding a study journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Optuna's `prefix` (empty by default).
    pub prefix: String,
}

/// An open Redis journal.
pub struct RedisJournal {
    target: RedisTarget,
    worker_id: String,
    conn: Mutex<State>,
}

struct State {
    conn: redis::Connection,
    /// Operations replayed so far (the number of the next to read).
    next: i64,
    replay: Replay,
}

/// How long connecting may take before the study fails with a clear error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RedisJournal {
    /// Connects.
    pub fn open(target: &RedisTarget) -> Result<RedisJournal, JournalError> {
        let fail = |e: redis::RedisError| redis_error(target, e);
        let client = redis::Client::open(target.url.as_str()).map_err(fail)?;
        let conn = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(fail)?;
        Ok(RedisJournal {
            target: target.clone(),
            worker_id: super::liveness::worker_id(),
            conn: Mutex::new(State {
                conn,
                next: 0,
                replay: Replay::default(),
            }),
        })
    }

    fn key_number(&self) -> String {
        format!("{}:log_number", self.target.prefix)
    }

    fn key_log(&self, n: i64) -> String {
        format!("{}:log:{n}", self.target.prefix)
    }

    /// Reads the operations appended since the last read.
    fn catch_up(&self, s: &mut State) -> Result<i64, JournalError> {
        let fail = |e: redis::RedisError| redis_error(&self.target, e);
        let last: Option<i64> = redis::cmd("GET")
            .arg(self.key_number())
            .query(&mut s.conn)
            .map_err(fail)?;
        let last = last.unwrap_or(-1);
        if s.next <= last {
            let keys: Vec<String> = (s.next..=last).map(|n| self.key_log(n)).collect();
            let logs: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut s.conn)
                .map_err(fail)?;
            for (i, log) in logs.into_iter().enumerate() {
                let n = s.next + i as i64;
                let format = |reason: String| JournalError::Format {
                    path: format!("{} {}", self.target.url, self.key_log(n)).into(),
                    line: n as usize + 1,
                    reason,
                };
                // Optuna's scripts set the number and the log together, so a missing log is a
                // damaged journal, not one being written.
                let log = log.ok_or_else(|| format("the operation is missing".into()))?;
                let v: Json = serde_json::from_str(&log).map_err(|e| format(e.to_string()))?;
                apply(&mut s.replay, &v).map_err(format)?;
            }
            s.next = last + 1;
        }
        Ok(last)
    }

    /// Everything the journal holds now, replayed.
    pub fn replay(&self) -> Result<Replay, JournalError> {
        self.transact(|r| Ok::<_, JournalError>((Vec::new(), r.clone())))
    }

    /// See [`super::journal::Journal::transact`].
    pub fn transact<T, E: From<JournalError>>(
        &self,
        mut decide: impl FnMut(&Replay) -> Result<(Vec<Json>, T), E>,
    ) -> Result<T, E> {
        let mut s = self.conn.lock().map_err(|_| {
            redis_error(
                &self.target,
                redis::RedisError::from(std::io::Error::other("connection poisoned")),
            )
        })?;
        let fail = |e: redis::RedisError| redis_error(&self.target, e);
        loop {
            redis::cmd("WATCH")
                .arg(self.key_number())
                .query::<()>(&mut s.conn)
                .map_err(fail)?;
            let last = self.catch_up(&mut s)?;
            let (ops, out) = decide(&s.replay)?;
            if ops.is_empty() {
                redis::cmd("UNWATCH")
                    .query::<()>(&mut s.conn)
                    .map_err(fail)?;
                return Ok(out);
            }
            let mut p = redis::pipe();
            p.atomic();
            for (i, o) in ops.iter().enumerate() {
                let mut o = o.clone();
                if let Some(m) = o.as_object_mut() {
                    m.insert("worker_id".into(), json!(self.worker_id));
                }
                p.cmd("SET")
                    .arg(self.key_log(last + 1 + i as i64))
                    .arg(o.to_string())
                    .ignore();
            }
            p.cmd("SET")
                .arg(self.key_number())
                .arg(last + ops.len() as i64)
                .ignore();
            // EXEC answers nil when the number changed since WATCH: someone appended, so
            // read their operations and decide again.
            let done: Option<()> = p.query(&mut s.conn).map_err(fail)?;
            if done.is_some() {
                return Ok(out);
            }
        }
    }
}

fn redis_error(target: &RedisTarget, e: redis::RedisError) -> JournalError {
    JournalError::Redis {
        url: target.url.clone(),
        message: e.to_string(),
    }
}
