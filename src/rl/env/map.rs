//! Map drawings shared by `frozen_lake` and `grid`: rows on separate lines, one character
//! per cell. Whitespace between cells and leading indentation are ignored, blank lines
//! are skipped.

use crate::rl::error::RlError;

/// Largest map accepted (cells, e.g. 256 x 256); bounds the table's memory (about 0.5 KB
/// per cell) and is far beyond what a tabular agent learns in a run.
pub const MAX_CELLS: usize = 1 << 16;

/// A parsed, rectangular map.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Cells, row-major.
    pub cells: Vec<char>,
}

impl Map {
    /// Parses a drawing whose cells must be among `allowed`; `allowed_help` says which.
    pub fn parse(text: &str, allowed: &str, allowed_help: &str) -> Result<Map, RlError> {
        let mut cells = Vec::new();
        let mut rows = 0;
        let mut cols = 0;
        for line in text.lines() {
            let row: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
            if row.is_empty() {
                continue;
            }
            rows += 1;
            if rows == 1 {
                cols = row.len();
            } else if row.len() != cols {
                return Err(RlError::MapRagged {
                    row: rows,
                    len: row.len(),
                    expected: cols,
                });
            }
            if let Some((col, &cell)) = row.iter().enumerate().find(|(_, c)| !allowed.contains(**c))
            {
                return Err(RlError::MapCell {
                    row: rows,
                    col: col + 1,
                    cell,
                    allowed: allowed_help.to_string(),
                });
            }
            cells.extend(row);
            if cells.len() > MAX_CELLS {
                return Err(RlError::MapTooLarge {
                    cells: cells.len(),
                    limit: MAX_CELLS,
                });
            }
        }
        if rows == 0 {
            return Err(RlError::MapEmpty);
        }
        for needed in ['S', 'G'] {
            if !cells.contains(&needed) {
                return Err(RlError::MapMissing { cell: needed });
            }
        }
        Ok(Map { rows, cols, cells })
    }

    /// The cell at (row, col).
    pub fn at(&self, row: usize, col: usize) -> char {
        self.cells[row * self.cols + col]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_indented_spaced_rows() {
        let m = Map::parse("\n    S . #\n    . H G\n", "SG#H.", "").unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.at(1, 2), 'G');
    }

    #[test]
    fn rejects_bad_maps() {
        assert!(matches!(
            Map::parse("S . .\n. G", "SG#H.", ""),
            Err(RlError::MapRagged {
                row: 2,
                len: 2,
                expected: 3
            })
        ));
        assert!(matches!(
            Map::parse("S x G", "SG#H.", ""),
            Err(RlError::MapCell {
                row: 1,
                col: 2,
                cell: 'x',
                ..
            })
        ));
        assert_eq!(
            Map::parse(". . G", "SG#H.", ""),
            Err(RlError::MapMissing { cell: 'S' })
        );
        assert_eq!(
            Map::parse("S . .", "SG#H.", ""),
            Err(RlError::MapMissing { cell: 'G' })
        );
        assert_eq!(Map::parse("  \n ", "SG#H.", ""), Err(RlError::MapEmpty));
    }
}
