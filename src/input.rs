//! Reading files a user names: only regular files are opened (a FIFO would block forever and
//! `/dev/zero` never ends), every read is bounded, and the memory budget — the least of the
//! machine's memory and every limit set on this process — bounds what may be allocated.
//! The front end, the data loaders and the weights reader all open files here.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// Why a file could not be read.
#[derive(Debug)]
pub enum InputError {
    /// The path names a directory, FIFO, socket or device.
    NotRegular {
        /// What it is instead (`a directory`, `a FIFO`, …).
        kind: &'static str,
    },
    /// The file is longer than the limit for what it should contain.
    TooLarge {
        /// Its length in bytes.
        len: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The operating system's error.
    Io(std::io::Error),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotRegular { kind } => write!(f, "is {kind}, not a regular file"),
            InputError::TooLarge { len, limit } => {
                write!(f, "is {len} bytes, more than the limit of {limit} bytes")
            }
            InputError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// What a path names when it is not a regular file.
fn kind_of(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_char_device() || ft.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

/// Opens a regular file (symlinks followed) and returns it with its length. The type is
/// checked before `open`, because opening a FIFO blocks until a writer appears.
pub fn open_regular(path: &Path) -> Result<(File, u64), InputError> {
    let meta = std::fs::metadata(path).map_err(InputError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotRegular { kind });
    }
    let file = File::open(path).map_err(InputError::Io)?;
    // The file may have been swapped between the two calls; check what was opened.
    let meta = file.metadata().map_err(InputError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(InputError::NotRegular { kind });
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `limit` bytes. The length is checked before
/// reading, and the read stops at `limit + 1` bytes in case the file grows meanwhile.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(InputError::TooLarge { len, limit });
    }
    let mut out = Vec::with_capacity(len as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(InputError::Io)?;
    if out.len() as u64 > limit {
        return Err(InputError::TooLarge {
            len: out.len() as u64,
            limit,
        });
    }
    Ok(out)
}

/// Which limit the memory budget comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetSource {
    /// The machine's physical memory (`MemTotal`).
    Physical,
    /// `RLIMIT_AS` (`ulimit -v`).
    AddressSpace,
    /// `RLIMIT_DATA` (`ulimit -d`).
    DataSegment,
    /// The control group's `memory.max` (v2) or `memory.limit_in_bytes` (v1).
    Cgroup,
    /// Nothing could be read; a fixed 16 GiB.
    Default,
}

/// The most memory this process should plan to allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes.
    pub bytes: u64,
    /// The limit that set it.
    pub source: BudgetSource,
}

impl MemoryBudget {
    /// "this machine's 23.5 GiB", "the 2.0 GiB address-space limit (ulimit -v)", …
    pub fn describe(&self) -> String {
        let gib = self.bytes as f64 / (1u64 << 30) as f64;
        match self.source {
            BudgetSource::Physical | BudgetSource::Default => {
                format!("this machine's {gib:.1} GiB")
            }
            BudgetSource::AddressSpace => {
                format!("the {gib:.1} GiB address-space limit of this process (ulimit -v)")
            }
            BudgetSource::DataSegment => {
                format!("the {gib:.1} GiB data-size limit of this process (ulimit -d)")
            }
            BudgetSource::Cgroup => format!("the {gib:.1} GiB memory limit of this cgroup"),
        }
    }
}

/// The least of physical memory, `RLIMIT_AS`, `RLIMIT_DATA` and the cgroup's limit (read
/// once per process).
pub fn memory_budget() -> MemoryBudget {
    static BUDGET: OnceLock<MemoryBudget> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut candidates = Vec::new();
        if let Some(kb) = read("/proc/meminfo").as_deref().and_then(mem_total_kb) {
            candidates.push((kb.saturating_mul(1024), BudgetSource::Physical));
        }
        if let Some(limits) = read("/proc/self/limits") {
            for (name, source) in [
                ("Max address space", BudgetSource::AddressSpace),
                ("Max data size", BudgetSource::DataSegment),
            ] {
                if let Some(b) = soft_limit(&limits, name) {
                    candidates.push((b, source));
                }
            }
        }
        if let Some(b) = read("/proc/self/cgroup")
            .as_deref()
            .and_then(|c| cgroup_limit(c, &|p| read(p)))
        {
            candidates.push((b, BudgetSource::Cgroup));
        }
        candidates.into_iter().min_by_key(|(b, _)| *b).map_or(
            MemoryBudget {
                bytes: 16 << 30,
                source: BudgetSource::Default,
            },
            |(bytes, source)| MemoryBudget { bytes, source },
        )
    })
}

/// `MemTotal` in kB from `/proc/meminfo`.
pub fn mem_total_kb(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
}

/// The soft limit in bytes of the row `name` of `/proc/self/limits`, `None` when unlimited.
pub fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let row = limits.lines().find(|l| l.starts_with(name))?;
    row[name.len()..].split_whitespace().next()?.parse().ok()
}

/// The smallest memory limit on the path of this process's cgroup, from the text of
/// `/proc/self/cgroup`; `read` reads a file under `/sys/fs/cgroup`. A limit applies to every
/// descendant, so each ancestor is read too.
pub fn cgroup_limit(cgroup: &str, read: &dyn Fn(&str) -> Option<String>) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut consider = |text: Option<String>| {
        // "max" (v2) and huge values (v1's "unlimited") are no limit.
        if let Some(b) = text
            .and_then(|t| t.trim().parse::<u64>().ok())
            .filter(|b| *b < 1 << 60)
        {
            best = Some(best.map_or(b, |x| x.min(b)));
        }
    };
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (root, file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir = path.trim_end_matches('/').to_string();
        loop {
            consider(read(&format!("{root}{dir}/{file}")));
            match dir.rfind('/') {
                Some(i) if !dir.is_empty() => dir.truncate(i),
                _ => break,
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_parsed() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
            Max data size             unlimited            unlimited            bytes     \n\
            Max address space         2147483648           unlimited            bytes     \n";
        assert_eq!(soft_limit(limits, "Max address space"), Some(2 << 30));
        assert_eq!(soft_limit(limits, "Max data size"), None);
        assert_eq!(
            mem_total_kb("MemTotal:       24000 kB\nMemFree: 1 kB\n"),
            Some(24000)
        );
        let files = |p: &str| match p {
            "/sys/fs/cgroup/a/b/memory.max" => Some("max\n".to_string()),
            "/sys/fs/cgroup/a/memory.max" => Some("1073741824\n".to_string()),
            "/sys/fs/cgroup/memory/x/memory.limit_in_bytes" => {
                Some("9223372036854771712\n".to_string())
            }
            _ => None,
        };
        assert_eq!(cgroup_limit("0::/a/b\n", &files), Some(1 << 30));
        assert_eq!(cgroup_limit("4:memory:/x\n", &files), None);
        assert_eq!(cgroup_limit("0::/\n", &files), None);
    }

    #[test]
    fn special_files_are_refused() {
        assert!(matches!(
            open_regular(Path::new("/dev/zero")),
            Err(InputError::NotRegular { kind: "a device" })
        ));
        assert!(matches!(
            open_regular(Path::new("/")),
            Err(InputError::NotRegular {
                kind: "a directory"
            })
        ));
    }
}
