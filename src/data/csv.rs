//! Numeric CSV files with a header row.
//!
//! Rules: the first non-blank line is the header; fields are separated by `,`; a field may be
//! wrapped in double quotes (`""` inside is a literal quote), but quoted fields cannot span lines;
//! surrounding spaces are ignored; blank lines are skipped; `\r\n` line ends are accepted; the file
//! may be gzip-compressed. The label column is chosen by name; the features are either the listed
//! columns (in the listed order) or every other column (in file order). Every selected field
//! must parse as a finite number; errors give `file:line:column` (1-based; the column is the byte
//! position of the field within its line).

use std::borrow::Cow;
use std::path::PathBuf;

use ndarray::Array2;

use super::dataset::Dataset;
use super::error::{DataError, SourceName};
use super::labels::{LabelOptions, RawLabels, build_labels};
use super::source::{SourceBytes, read_source};

/// Where to find a CSV file and which columns to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSource {
    /// The file (plain or gzip).
    pub path: PathBuf,
    /// Name of the label column (from the header row).
    pub label: String,
    /// Feature columns, in this order; `None` = every column except the label, in file order.
    pub features: Option<Vec<String>>,
    /// How to interpret the labels.
    pub label_options: LabelOptions,
    /// Overrides the sample shape (default `[number of features]`).
    pub sample_shape: Option<Vec<usize>>,
}

/// How the parser picks its columns.
pub(crate) enum Columns<'a> {
    /// A header row names the columns.
    ByName {
        label: &'a str,
        features: Option<&'a [String]>,
    },
    /// No header: `ncols` columns, the label at index `label`, features are all the others.
    ByIndex { label: usize, ncols: usize },
}

/// The numeric contents of a CSV file.
pub(crate) struct CsvTable {
    /// Feature values, row-major `rows × width`.
    pub features: Vec<f32>,
    /// Number of data rows.
    pub rows: usize,
    /// Features per row.
    pub width: usize,
    /// Label value per row.
    pub labels: Vec<f64>,
    /// (line, column) of each label, for error messages.
    pub label_pos: Vec<(usize, usize)>,
}

/// One field of a line: its text (unquoted) and 1-based column.
struct Field<'a> {
    text: Cow<'a, str>,
    column: usize,
}

/// Splits one line into fields.
fn split_line<'a>(
    name: &SourceName,
    line_no: usize,
    line: &'a str,
    out: &mut Vec<Field<'a>>,
) -> Result<(), DataError> {
    out.clear();
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        // Skip leading spaces of the field.
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let column = i + 1;
        if i < bytes.len() && bytes[i] == b'"' {
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                match line[j..].find('"') {
                    None => {
                        return Err(DataError::CsvSyntax {
                            file: name.clone(),
                            line: line_no,
                            column,
                            reason: "unterminated quoted field (quoted fields cannot span lines)"
                                .into(),
                        });
                    }
                    Some(k) => {
                        text.push_str(&line[j..j + k]);
                        j += k + 1;
                        if j < bytes.len() && bytes[j] == b'"' {
                            text.push('"');
                            j += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            out.push(Field {
                text: Cow::Owned(text),
                column,
            });
            if j >= bytes.len() {
                return Ok(());
            }
            if bytes[j] != b',' {
                return Err(DataError::CsvSyntax {
                    file: name.clone(),
                    line: line_no,
                    column: j + 1,
                    reason: "expected `,` after a closing quote".into(),
                });
            }
            i = j + 1;
        } else {
            let end = line[i..].find(',').map(|k| i + k).unwrap_or(bytes.len());
            out.push(Field {
                text: Cow::Borrowed(line[i..end].trim_end()),
                column,
            });
            if end >= bytes.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

fn parse_number(name: &SourceName, line: usize, field: &Field<'_>) -> Result<f64, DataError> {
    let err = |reason: &str| DataError::CsvParse {
        file: name.clone(),
        line,
        column: field.column,
        field: field.text.to_string(),
        reason: reason.into(),
    };
    if field.text.is_empty() {
        return Err(err("empty field"));
    }
    let v: f64 = field.text.parse().map_err(|_| err("not a number"))?;
    if !v.is_finite() {
        return Err(err("not a finite number"));
    }
    Ok(v)
}

/// Parses the CSV text of `source` with the given column selection.
pub(crate) fn parse_table(
    source: &SourceBytes,
    columns: Columns<'_>,
) -> Result<CsvTable, DataError> {
    let name = &source.name;
    let text = std::str::from_utf8(&source.bytes).map_err(|e| {
        let upto = &source.bytes[..e.valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        DataError::CsvSyntax {
            file: name.clone(),
            line,
            column: e.valid_up_to() - line_start + 1,
            reason: "invalid UTF-8".into(),
        }
    })?;
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());
    let mut fields: Vec<Field<'_>> = Vec::new();

    // Resolve the column plan: for each column, the feature slot it fills (if any).
    let (ncols, label_col, slots, width) = match columns {
        Columns::ByIndex { label, ncols } => {
            let slots: Vec<Option<usize>> = (0..ncols)
                .map(|c| match c.cmp(&label) {
                    std::cmp::Ordering::Less => Some(c),
                    std::cmp::Ordering::Equal => None,
                    std::cmp::Ordering::Greater => Some(c - 1),
                })
                .collect();
            (ncols, label, slots, ncols.saturating_sub(1))
        }
        Columns::ByName { label, features } => {
            let Some((line_no, header)) = lines.next() else {
                return Err(DataError::Shape {
                    context: name.to_string(),
                    reason: "the file is empty (no header row)".into(),
                });
            };
            split_line(name, line_no, header, &mut fields)?;
            let names: Vec<String> = fields.iter().map(|f| f.text.to_string()).collect();
            let available = names.join(", ");
            let find = |wanted: &str| -> Result<usize, DataError> {
                let mut hits = names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.as_str() == wanted);
                match (hits.next(), hits.next()) {
                    (Some((i, _)), None) => Ok(i),
                    (first, _) => Err(DataError::CsvColumn {
                        file: name.clone(),
                        problem: if first.is_none() { "no" } else { "duplicate" }.into(),
                        name: wanted.to_string(),
                        available: available.clone(),
                    }),
                }
            };
            let label_col = find(label)?;
            let mut slots = vec![None; names.len()];
            let width = match features {
                None => {
                    let mut k = 0;
                    for (c, slot) in slots.iter_mut().enumerate() {
                        if c != label_col {
                            *slot = Some(k);
                            k += 1;
                        }
                    }
                    k
                }
                Some(list) => {
                    for (k, f) in list.iter().enumerate() {
                        let c = find(f)?;
                        if c == label_col || slots[c].is_some() {
                            return Err(DataError::CsvColumn {
                                file: name.clone(),
                                problem: if c == label_col {
                                    "label used as feature"
                                } else {
                                    "repeated feature"
                                }
                                .into(),
                                name: f.clone(),
                                available: available.clone(),
                            });
                        }
                        slots[c] = Some(k);
                    }
                    list.len()
                }
            };
            (names.len(), label_col, slots, width)
        }
    };
    if width == 0 {
        return Err(DataError::Shape {
            context: name.to_string(),
            reason: "no feature columns selected".into(),
        });
    }

    let mut features: Vec<f32> = Vec::new();
    let mut labels: Vec<f64> = Vec::new();
    let mut label_pos: Vec<(usize, usize)> = Vec::new();
    let mut row = vec![0f32; width];
    for (line_no, line) in lines {
        split_line(name, line_no, line, &mut fields)?;
        if fields.len() != ncols {
            return Err(DataError::CsvColumns {
                file: name.clone(),
                line: line_no,
                expected: ncols,
                found: fields.len(),
            });
        }
        for (c, field) in fields.iter().enumerate() {
            if c == label_col {
                labels.push(parse_number(name, line_no, field)?);
                label_pos.push((line_no, field.column));
            } else if let Some(k) = slots[c] {
                row[k] = parse_number(name, line_no, field)? as f32;
            }
        }
        features.extend_from_slice(&row);
    }
    Ok(CsvTable {
        rows: labels.len(),
        features,
        width,
        labels,
        label_pos,
    })
}

/// Builds a dataset from a parsed table.
pub(crate) fn table_to_dataset(
    name: &SourceName,
    table: CsvTable,
    label_options: &LabelOptions,
    sample_shape: Option<Vec<usize>>,
) -> Result<Dataset, DataError> {
    let positions = table.label_pos;
    let raw = RawLabels {
        values: table.labels,
        width: 1,
        integer_typed: false,
        file: name,
    };
    let labels = build_labels(raw, label_options, &|i| match positions.get(i) {
        Some((l, c)) => format!("line {l}, column {c}"),
        None => format!("row {i}"),
    })?;
    let features =
        Array2::from_shape_vec((table.rows, table.width), table.features).map_err(|e| {
            DataError::Shape {
                context: name.to_string(),
                reason: e.to_string(),
            }
        })?;
    let ds = Dataset::new(features, vec![table.width], labels)?;
    match sample_shape {
        Some(s) => ds.reshape_samples(s),
        None => Ok(ds),
    }
}

/// Loads a dataset from a CSV file.
pub fn load(source: &CsvSource) -> Result<Dataset, DataError> {
    let bytes = read_source(&source.path)?;
    from_source(&bytes, source)
}

/// Builds a dataset from already-read CSV bytes (`source` gives the columns and options).
pub fn from_source(bytes: &SourceBytes, source: &CsvSource) -> Result<Dataset, DataError> {
    let table = parse_table(
        bytes,
        Columns::ByName {
            label: &source.label,
            features: source.features.as_deref(),
        },
    )?;
    table_to_dataset(
        &bytes.name,
        table,
        &source.label_options,
        source.sample_shape.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::labels::LabelKind;

    fn src(text: &str) -> SourceBytes {
        SourceBytes {
            name: SourceName::plain("t.csv"),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn spec(label: &str, features: Option<&[&str]>) -> CsvSource {
        CsvSource {
            path: "t.csv".into(),
            label: label.into(),
            features: features.map(|f| f.iter().map(|s| s.to_string()).collect()),
            label_options: LabelOptions::default(),
            sample_shape: None,
        }
    }

    #[test]
    fn parses_quotes_crlf_blank_lines_and_column_choice() {
        let text = "a, \"b,x\" ,y,c\r\n1,2,0,3\r\n\r\n 4 ,\"5\",1,6\n";
        let d = from_source(&src(text), &spec("y", None)).unwrap();
        assert_eq!(d.features_slice(), &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(d.labels().as_classes().unwrap().indices, vec![0, 1]);
        let d = from_source(&src(text), &spec("y", Some(&["c", "a"]))).unwrap();
        assert_eq!(d.features_slice(), &[3., 1., 6., 4.]);
        assert_eq!(d.sample_shape(), &[2]);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = from_source(&src("a,y\n1,0\n2,0\n3x,1\n"), &spec("y", None)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_parse");
        let msg = e.to_string();
        assert!(msg.starts_with("t.csv:4:1:"), "{msg}");
        let e = from_source(&src("a,y\n1,0\n2, nan\n"), &spec("y", None)).unwrap_err();
        assert!(e.to_string().starts_with("t.csv:3:4:"), "{e}");
        let e = from_source(&src("a,y\n1,0\n2\n"), &spec("y", None)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_columns");
        assert!(e.to_string().starts_with("t.csv:3:"), "{e}");
        let e = from_source(&src("a,y\n1,0\n"), &spec("label", None)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_column");
        let e = from_source(&src("a,y,a\n1,0,1\n"), &spec("y", Some(&["a"]))).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_column");
        let e = from_source(&src("a,y\n1,0\n"), &spec("y", Some(&["y"]))).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_column");
        let e = from_source(&src("a,y\n\"1,0\n"), &spec("y", None)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::csv_syntax");
        let e = from_source(&src(""), &spec("y", None)).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::shape");
    }

    #[test]
    fn label_range_error_names_the_line() {
        let mut s = spec("y", None);
        s.label_options = LabelOptions {
            kind: LabelKind::Classes,
            num_classes: Some(2),
        };
        let e = from_source(&src("a,y\n1,0\n2,1\n3,2\n"), &s).unwrap_err();
        assert_eq!(e.code_str(), "amm::data::label_range");
        assert!(e.to_string().contains("line 4, column 3"), "{e}");
        s.label_options.kind = LabelKind::Targets;
        let d = from_source(&src("a,y\n1,0.5\n2,-1\n"), &s).unwrap();
        assert!(d.num_classes().is_none());
    }
}
