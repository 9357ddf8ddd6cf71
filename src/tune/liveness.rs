//! Whether the process that wrote a journal operation is still alive, when that can be known
//! for certain: a worker id names the process precisely enough (`ammc-<pid>@<boot id>/<pid
//! namespace>/<start time>`) that a later run on the same kernel and in the same pid
//! namespace can check `/proc`. A trial left RUNNING by a process that is gone (killed or
//! crashed) can then be retried at once instead of after the heartbeat grace period, and a
//! lock file it left can be broken at once instead of after the lock's grace period.
//!
//! Anything uncertain — another machine or container, an old-style id, no `/proc` — counts as
//! alive, and the heartbeat grace period decides as before.

use std::sync::OnceLock;

/// This process as the kernel knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    pid: u32,
    boot_id: String,
    pid_ns: String,
    start_ticks: u64,
}

impl Identity {
    fn parse(id: &str) -> Option<Identity> {
        let rest = id.strip_prefix("ammc-")?;
        let (pid, rest) = rest.split_once('@')?;
        let mut parts = rest.split('/');
        let (boot_id, pid_ns, start) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Identity {
            pid: pid.parse().ok()?,
            boot_id: boot_id.to_string(),
            pid_ns: pid_ns.to_string(),
            start_ticks: start.parse().ok()?,
        })
    }

    fn text(&self) -> String {
        format!(
            "ammc-{}@{}/{}/{}",
            self.pid, self.boot_id, self.pid_ns, self.start_ticks
        )
    }
}

/// The kernel's boot id (changes at every boot, differs between machines).
fn boot_id() -> Option<String> {
    let s = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let s = s.trim();
    (!s.is_empty() && !s.contains(['/', '@'])).then(|| s.to_string())
}

/// The inode of this process's pid namespace (`pid:[4026531836]` → `4026531836`).
fn pid_ns() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let s = link.to_str()?;
    let n = s.strip_prefix("pid:[")?.strip_suffix(']')?;
    n.chars().all(|c| c.is_ascii_digit()).then(|| n.to_string())
}

/// State letter and start time (clock ticks after boot) of a process, from `/proc/<pid>/stat`;
/// `Ok(None)` when there is no such process.
fn stat(pid: u32) -> Result<Option<(char, u64)>, ()> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    // The command name (field 2) is in parentheses and may hold anything, so fields are
    // counted from the last `)`: field 3 (state) is first, field 22 (start time) 20th.
    let after = text.rsplit_once(')').ok_or(())?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first().and_then(|s| s.chars().next()).ok_or(())?;
    let start = fields.get(19).and_then(|s| s.parse().ok()).ok_or(())?;
    Ok(Some((state, start)))
}

fn this_identity() -> Option<Identity> {
    let pid = std::process::id();
    Some(Identity {
        pid,
        boot_id: boot_id()?,
        pid_ns: pid_ns()?,
        start_ticks: stat(pid).ok()??.1,
    })
}

/// This process's worker id for journal operations and lock files.
pub fn worker_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| match this_identity() {
        Some(i) => i.text(),
        None => format!("ammc-{}", std::process::id()),
    })
    .clone()
}

/// Whether the worker that wrote `id` is certainly gone: same kernel boot and pid namespace
/// as this process, and its pid is free, reused by a later process, or a zombie.
pub fn is_dead(id: &str) -> bool {
    let (Some(other), Some(me)) = (Identity::parse(id), this_identity()) else {
        return false;
    };
    if other.boot_id != me.boot_id || other.pid_ns != me.pid_ns || other == me {
        return false;
    }
    match stat(other.pid) {
        Ok(None) => true,
        Ok(Some((state, start))) => start != other.start_ticks || matches!(state, 'Z' | 'X'),
        Err(()) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let i = Identity {
            pid: 42,
            boot_id: "3b2ab25d-bcd8-48e2-a647-f9398039b2a4".into(),
            pid_ns: "4026531836".into(),
            start_ticks: 1269763,
        };
        assert_eq!(Identity::parse(&i.text()), Some(i));
        assert_eq!(Identity::parse("ammc-42"), None);
        assert_eq!(Identity::parse("ammc-x@a/b/1"), None);
    }

    #[test]
    fn this_process_is_alive_and_unknown_ids_are_not_dead() {
        let me = worker_id();
        assert!(!is_dead(&me));
        assert!(!is_dead("ammc-1234"));
        assert!(!is_dead("f81d4fae-7dec-11d0-a765-00a0c91e6bf6-1"));
        if let Some(mut i) = Identity::parse(&me) {
            // A different start time for our pid: the pid was reused, the writer is gone.
            i.start_ticks += 1;
            assert!(is_dead(&i.text()));
            // Another kernel: cannot tell.
            i.boot_id = "00000000-0000-0000-0000-000000000000".into();
            assert!(!is_dead(&i.text()));
        }
    }

    #[test]
    fn a_finished_child_is_dead() {
        let Some(me) = Identity::parse(&worker_id()) else {
            return; // No /proc: nothing can be known.
        };
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        let Ok(Some((_, start))) = stat(child.id()) else {
            panic!("the child has a /proc entry");
        };
        let id = Identity {
            pid: child.id(),
            start_ticks: start,
            ..me
        }
        .text();
        assert!(!is_dead(&id));
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(is_dead(&id));
    }
}
