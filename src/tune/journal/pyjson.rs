//! JSON output that matches Python's `json.dumps` byte for byte where it matters: floats
//! use Python's `repr` spelling (`1e-05`, `10.0`, `1e+16`), so journals written by ammc
//! look exactly like Optuna's.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// Python `repr(float)` for a finite `f64` (`NaN`/`Infinity` as Python's JSON writes them).
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr.
    let e = format!("{x:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let (int_part, frac) = if digits.len() > int_len {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            } else {
                (format!("{digits:0<int_len$}"), "0".to_string())
            };
            format!("{sign}{int_part}.{frac}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// Compact JSON formatter (`separators=(",", ":")`) with Python float spelling.
#[derive(Debug, Clone, Copy, Default)]
pub struct PyFormatter;

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(py_float(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Python's default `ensure_ascii=True` escapes every non-ASCII character.
        writer.write_all(ascii_escape(fragment).as_bytes())
    }
}

/// Escapes non-ASCII characters as `\uXXXX` (UTF-16 units), like Python's `json.dumps`.
fn ascii_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// Serialises `value` compactly with Python float spelling.
pub fn to_line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, PyFormatter);
    value.serialize(&mut ser)?;
    // serde_json only emits UTF-8.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Python `json.dumps(obj)` default spelling (`", "` and `": "` separators) of a scalar
/// JSON value, for the distribution strings Optuna embeds.
pub fn py_scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        serde_json::Value::Null => "null".into(),
        other => {
            // Strings and bools: serde_json's spelling equals Python's except that Python
            // escapes non-ASCII by default (`ensure_ascii=True`).
            ascii_escape(&other.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_python_repr() {
        let cases = [
            (-5.0, "-5.0"),
            (10.0, "10.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (0.1, "0.1"),
            (2.5122187464086054, "2.5122187464086054"),
            (1e16, "1e+16"),
            (1.2345e100, "1.2345e+100"),
            (123456789012345.6, "123456789012345.6"),
            (0.0, "0.0"),
            (-0.00017980555914197123, "-0.00017980555914197123"),
            (5e-324, "5e-324"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float(x), want, "{x:e}");
        }
    }
}
