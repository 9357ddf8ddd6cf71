//! Syntax: `.amm` text → [`ast::File`] with spans. pest does the parsing (grammar in
//! `grammar/amm.pest`); no pest type leaves this module.

pub mod ast;
mod parse;
pub mod pretty;

pub use parse::{MAX_NESTING, is_keyword, parse_file};
