//! A lexer for editor questions: identifiers and punctuation with byte ranges, strings,
//! numbers and comments kept apart, on any text (also one that does not parse).

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A name or keyword.
    Ident,
    /// A number.
    Number,
    /// A string literal.
    Str,
    /// A `//` comment.
    Comment,
    /// One punctuation character.
    Punct(char),
}

/// One token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Every token of `text` in order (whitespace dropped).
pub fn lex(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            TokenKind::Ident
        } else if b.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.'))
            {
                i += 1;
            }
            TokenKind::Number
        } else if text[i..].starts_with("\"\"\"") {
            i = text[i + 3..]
                .find("\"\"\"")
                .map_or(bytes.len(), |k| i + 6 + k);
            TokenKind::Str
        } else if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            TokenKind::Str
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(bytes.len(), |k| i + k);
            TokenKind::Comment
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            i += ch.len_utf8();
            TokenKind::Punct(ch)
        };
        out.push(Token {
            kind,
            start,
            end: i.min(bytes.len()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_comments_hide_names() {
        let text = "a = f(\"b // c\") // d e\nx.y é";
        let names: Vec<&str> = lex(text)
            .iter()
            .filter(|t| t.kind == TokenKind::Ident)
            .map(|t| &text[t.start..t.end])
            .collect();
        assert_eq!(names, ["a", "f", "x", "y"]);
    }
}
