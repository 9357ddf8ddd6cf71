//! The front end as one call: bytes of a root file → a resolved [`Program`] or diagnostics.
//! The CLI, the tests and the fuzz target all enter here.

use std::path::Path;

use crate::diag::Diag;
use crate::resolve::{self, Override, Program};
use crate::source::SourceMap;

pub use crate::resolve::load::{MAX_SOURCE_BYTES, read_source};

/// The sources read and what became of them.
#[derive(Debug)]
pub struct FrontEnd {
    /// Every file read (root, imports, `--set` values) for rendering diagnostics.
    pub sources: SourceMap,
    /// The program, or everything wrong with it.
    pub program: Result<Program, Vec<Diag>>,
}

/// Parses and resolves a root file given as raw bytes.
pub fn front_end(
    name: &str,
    bytes: &[u8],
    path: Option<&Path>,
    overrides: &[Override],
) -> FrontEnd {
    let mut sources = SourceMap::new();
    if bytes.len() > MAX_SOURCE_BYTES {
        let d = Diag::new(
            "amm::io::too_large",
            format!(
                "`{name}` is {} bytes; the limit for a source file is {MAX_SOURCE_BYTES}",
                bytes.len()
            ),
        )
        .help("is this really an .amm file? Split large programs into modules joined with `use`");
        return FrontEnd {
            sources,
            program: Err(vec![d]),
        };
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let d = Diag::new(
                "amm::io::utf8",
                format!(
                    "`{name}` is not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
            .help("save the file as UTF-8");
            return FrontEnd {
                sources,
                program: Err(vec![d]),
            };
        }
    };
    let program = resolve::resolve(&mut sources, name, text, path, overrides);
    FrontEnd { sources, program }
}
