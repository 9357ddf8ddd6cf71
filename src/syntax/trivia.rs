//! What the grammar skips but a formatter must keep: `//` comments (and `///` lines that
//! are not an item's doc comment) with their byte ranges, and where the text has blank
//! lines. The AST stays comment-free; `pretty::format` places each comment in front of
//! the first node that starts after it, or at the end of the line it trailed.

/// One `//` comment as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// First byte (the first `/`).
    pub start: usize,
    /// One past the last byte (the line break is not included).
    pub end: usize,
    /// The text, `//` included, trailing whitespace removed.
    pub text: String,
    /// Whether code precedes it on its line (`x = 1  // why`).
    pub trailing: bool,
}

/// Every comment of `text` in source order, strings skipped. `text` must be a file
/// that parses (an unterminated string would hide the rest of the file).
pub fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_has_code = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line_has_code = false;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'"' if text[i..].starts_with("\"\"\"") => {
                // A triple-quoted string may span lines; what follows its end is on the
                // line where it ends.
                let end = text[i + 3..]
                    .find("\"\"\"")
                    .map_or(bytes.len(), |k| i + 6 + k);
                i = end;
                line_has_code = true;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                line_has_code = true;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |k| i + k);
                out.push(Comment {
                    start: i,
                    end,
                    text: text[i..end].trim_end().to_string(),
                    trailing: line_has_code,
                });
                i = end;
            }
            _ => {
                line_has_code = true;
                // Step over a whole UTF-8 character.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out
}

/// The start of the `///` doc comment directly above an item starting at `item_start`
/// (the lines the parser joins into `Item::doc`), if there is one.
pub fn doc_start(text: &str, item_start: usize) -> Option<usize> {
    let line_start = text[..item_start].rfind('\n')? + 1;
    if !text[line_start..item_start].trim().is_empty() {
        return None;
    }
    let mut first = None;
    let mut cursor = line_start;
    while cursor > 0 {
        let prev_start = text[..cursor - 1].rfind('\n').map_or(0, |k| k + 1);
        let line = &text[prev_start..cursor - 1];
        if !line.trim().starts_with("///") {
            break;
        }
        first = Some(prev_start + (line.len() - line.trim_start().len()));
        cursor = prev_start;
    }
    first
}

/// Whether `gap` (the text between two nodes or comments) contains an empty line.
pub fn has_blank_line(gap: &str) -> bool {
    let mut parts = gap.split('\n');
    parts.next();
    let mut middle: Vec<&str> = parts.collect();
    middle.pop();
    middle.iter().any(|l| l.trim().is_empty())
}

/// Byte offset → 0-based line number, by binary search over line starts.
#[derive(Debug)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    /// The line starts of `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_skip_strings_and_know_trailing() {
        let text = "// a\nx = \"// not\" // b\ny = \"\"\"\n// no\n\"\"\" // c\n/// d\n";
        let cs = comments(text);
        let texts: Vec<(&str, bool)> = cs.iter().map(|c| (c.text.as_str(), c.trailing)).collect();
        assert_eq!(
            texts,
            vec![
                ("// a", false),
                ("// b", true),
                ("// c", true),
                ("/// d", false)
            ]
        );
    }

    #[test]
    fn doc_start_finds_the_run_above() {
        let text = "// x\n\n/// one\n  /// two\nparam a = 1\n";
        let item = text.find("param").unwrap();
        assert_eq!(doc_start(text, item), Some(text.find("/// one").unwrap()));
        let text = "/// one\n\nparam a = 1\n";
        assert_eq!(doc_start(text, text.find("param").unwrap()), None);
    }

    #[test]
    fn blank_lines_are_empty_middle_lines() {
        assert!(has_blank_line("}\n\n  param"));
        assert!(has_blank_line("\n   \n"));
        assert!(!has_blank_line(" }\n    param"));
        assert!(!has_blank_line(""));
    }
}
