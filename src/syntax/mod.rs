//! Syntax: `.amm` text → [`ast::File`] with spans. pest does the parsing (grammar in
//! `grammar/amm.pest`); no pest type leaves this module.

pub mod ast;
mod parse;
pub mod pretty;
pub mod trivia;

pub use parse::{MAX_NESTING, is_keyword, parse_file};

use crate::diag::Diag;
use crate::source::SourceMap;

/// `ammc fmt` on one text: the canonical layout with every comment kept (see
/// [`pretty::format`]). A text that does not parse is not formatted: its parse errors are
/// returned (registered in `sources` under `name` for rendering).
pub fn format_source(sources: &mut SourceMap, name: &str, text: &str) -> Result<String, Vec<Diag>> {
    let id = sources.add(name, text);
    let file = parse_file(id, text)?;
    Ok(pretty::format(&file, text))
}
