//! `ammc fmt`: files, directories (every `.amm` below them), or `-` for stdin → stdout.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Output};
use crate::source::SourceMap;

/// Where one text to format comes from.
enum Target {
    /// Named on the command line: a syntax error is an error.
    Named(PathBuf),
    /// Found under a named directory: a file that does not parse is skipped with a note
    /// (error examples are meant not to parse).
    Found(PathBuf),
    Stdin,
}

pub(super) fn fmt(out: &Output, paths: &[PathBuf], check: bool) -> u8 {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut targets = Vec::new();
    for p in &paths {
        if p.as_os_str() == "-" {
            targets.push(Target::Stdin);
        } else if p.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(p, &mut found) {
                eprintln!("error: cannot read {}: {e}", p.display());
                return EXIT_USAGE;
            }
            found.sort();
            targets.extend(found.into_iter().map(Target::Found));
        } else {
            targets.push(Target::Named(p.clone()));
        }
    }
    let mut worst = EXIT_OK;
    let mut unformatted = 0;
    for t in targets {
        let (name, bytes) = match &t {
            Target::Stdin => {
                let mut buf = Vec::new();
                let limit = crate::front::MAX_SOURCE_BYTES as u64 + 1;
                if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut buf) {
                    eprintln!("error: cannot read stdin: {e}");
                    return EXIT_USAGE;
                }
                ("<stdin>".to_string(), buf)
            }
            Target::Named(p) | Target::Found(p) => {
                let name = p.display().to_string();
                match crate::front::read_source(p) {
                    Ok(b) => (name, b),
                    Err(e) => {
                        out.diags(&[e.diag(&name)], &SourceMap::new());
                        worst = worst.max(EXIT_USAGE);
                        continue;
                    }
                }
            }
        };
        if bytes.len() > crate::front::MAX_SOURCE_BYTES {
            eprintln!("error: {name} is larger than the source limit");
            worst = worst.max(EXIT_USAGE);
            continue;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            eprintln!("error: {name} is not valid UTF-8; not formatted");
            worst = worst.max(EXIT_DIAGNOSTICS);
            continue;
        };
        let mut sources = SourceMap::new();
        let formatted = match crate::syntax::format_source(&mut sources, &name, text) {
            Ok(f) => f,
            Err(diags) => {
                if matches!(t, Target::Found(_)) {
                    eprintln!("note: {name} does not parse; left as it is");
                } else {
                    out.diags(&diags, &sources);
                    eprintln!("{name} was not formatted");
                    worst = worst.max(EXIT_DIAGNOSTICS);
                }
                continue;
            }
        };
        match t {
            Target::Stdin => {
                if check {
                    if formatted != text {
                        say!("<stdin>");
                        unformatted += 1;
                    }
                } else {
                    say_raw!("{formatted}");
                }
            }
            Target::Named(p) | Target::Found(p) => {
                if formatted == text {
                    continue;
                }
                if check {
                    say!("{}", p.display());
                    unformatted += 1;
                } else {
                    // The new file replaces the old one by rename: give it the old mode.
                    let mode = std::fs::metadata(&p).map(|m| m.permissions());
                    let written = crate::data::atomic::write_atomic(&p, formatted.as_bytes())
                        .and_then(|()| match mode {
                            Ok(mode) => std::fs::set_permissions(&p, mode),
                            Err(_) => Ok(()),
                        });
                    if let Err(e) = written {
                        eprintln!("error: cannot write {}: {e}", p.display());
                        worst = worst.max(EXIT_USAGE);
                    }
                }
            }
        }
    }
    if unformatted > 0 {
        eprintln!(
            "{unformatted} file{} would be reformatted (run `ammc fmt` without --check)",
            if unformatted == 1 { "" } else { "s" }
        );
        worst = worst.max(EXIT_DIAGNOSTICS);
    }
    worst
}

/// Every `.amm` file below `dir`, skipping hidden directories and build/run outputs.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !name.starts_with('.')
                && !matches!(name.as_ref(), "target" | "runs" | "node_modules")
            {
                walk(&path, found)?;
            }
        } else if kind.is_file() && name.ends_with(".amm") {
            found.push(path);
        }
    }
    Ok(())
}
