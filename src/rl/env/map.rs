//! Grid maps drawn as text (frozen_lake custom maps, grid), shared parsing and layout.

use crate::rl::error::RlError;

/// What occupies one cell of a grid map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Start cell `S` (walkable).
    Start,
    /// Walkable floor (`.` in grid maps, `F` in frozen_lake maps).
    Floor,
    /// Wall `#`: moves into it leave the agent where it is.
    Wall,
    /// Hole `H`: entering it ends the episode.
    Hole,
    /// Goal `G`: entering it ends the episode successfully.
    Goal,
    /// Cliff cell of cliff_walking: entering it sends the agent back to the start.
    Cliff,
}

impl Cell {
    /// The letter used when drawing a policy: `S`, `G`, `H`, `#`, `C`; `None` for floor, which
    /// shows the policy's arrow instead.
    pub fn letter(self) -> Option<char> {
        match self {
            Cell::Start => Some('S'),
            Cell::Goal => Some('G'),
            Cell::Hole => Some('H'),
            Cell::Wall => Some('#'),
            Cell::Cliff => Some('C'),
            Cell::Floor => None,
        }
    }
}

/// A rectangular map of cells, row-major (state index of cell `(r, c)` is `r * cols + c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridMap {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` cells, row-major.
    pub cells: Vec<Cell>,
}

impl GridMap {
    /// Parses a map drawing. Each non-blank line is one row; whitespace anywhere in a line
    /// (indentation, spaces between cells) is ignored, as are blank lines; every other
    /// character must appear in `alphabet`. Requires a rectangular map with at least one `S`
    /// and one `G` cell.
    pub fn parse(text: &str, alphabet: &[(char, Cell)]) -> Result<GridMap, RlError> {
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
                return Err(RlError::RaggedMap {
                    row: rows,
                    expected: cols,
                    found: row.len(),
                });
            }
            for (i, ch) in row.into_iter().enumerate() {
                let cell = alphabet
                    .iter()
                    .find(|(c, _)| *c == ch)
                    .map(|(_, cell)| *cell)
                    .ok_or_else(|| RlError::BadMapChar {
                        ch,
                        row: rows,
                        col: i + 1,
                        allowed: describe_alphabet(alphabet),
                    })?;
                cells.push(cell);
            }
        }
        if rows == 0 {
            return Err(RlError::EmptyMap);
        }
        if !cells.contains(&Cell::Start) {
            return Err(RlError::MissingStart);
        }
        if !cells.contains(&Cell::Goal) {
            return Err(RlError::MissingGoal);
        }
        Ok(GridMap { rows, cols, cells })
    }

    /// The cell at row `r`, column `c`.
    pub fn at(&self, r: usize, c: usize) -> Cell {
        self.cells[r * self.cols + c]
    }

    /// State indices of all cells of kind `cell`, in row-major order.
    pub fn indices_of(&self, cell: Cell) -> Vec<usize> {
        (0..self.cells.len())
            .filter(|&i| self.cells[i] == cell)
            .collect()
    }
}

/// `S`, `.`, … as a readable list for error messages.
fn describe_alphabet(alphabet: &[(char, Cell)]) -> String {
    alphabet
        .iter()
        .map(|(c, cell)| format!("`{c}` ({cell:?})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A map plus how action indices map to compass directions, so a policy can be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridLayout {
    /// The map.
    pub map: GridMap,
    /// Arrow drawn for each action index, e.g. `['←', '↓', '→', '↑']` for frozen_lake.
    pub arrows: Vec<char>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHA: &[(char, Cell)] = &[
        ('S', Cell::Start),
        ('.', Cell::Floor),
        ('#', Cell::Wall),
        ('H', Cell::Hole),
        ('G', Cell::Goal),
    ];

    #[test]
    fn whitespace_and_indentation_are_ignored() {
        let m = GridMap::parse("\n    S . #\n    . H G\n  ", ALPHA).unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.at(0, 2), Cell::Wall);
        assert_eq!(m.at(1, 1), Cell::Hole);
        assert_eq!(m.indices_of(Cell::Goal), vec![5]);
    }

    #[test]
    fn errors() {
        assert_eq!(GridMap::parse("  \n ", ALPHA), Err(RlError::EmptyMap));
        assert_eq!(GridMap::parse(". G", ALPHA), Err(RlError::MissingStart));
        assert_eq!(GridMap::parse("S .", ALPHA), Err(RlError::MissingGoal));
        assert_eq!(
            GridMap::parse("S . .\n. G", ALPHA),
            Err(RlError::RaggedMap {
                row: 2,
                expected: 3,
                found: 2
            })
        );
        match GridMap::parse("S x G", ALPHA) {
            Err(RlError::BadMapChar { ch, row, col, .. }) => {
                assert_eq!((ch, row, col), ('x', 1, 2))
            }
            other => panic!("{other:?}"),
        }
    }
}
