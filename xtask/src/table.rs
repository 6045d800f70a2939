//! Plain-text tables for the terminal, shared by `tour` and `bench`.
//!
//! Columns are padded to their widest cell (counted in characters, so `µs` lines up); text columns
//! are left-aligned and number columns right-aligned.

/// How a column's cells are aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Pad on the right (text).
    Left,
    /// Pad on the left (numbers).
    Right,
}

/// A table with a header row, built row by row and rendered to a string.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these `(header, alignment)` columns and no rows.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells render empty, extra cells are dropped.
    pub fn push(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text: header, a rule of dashes, then the rows, each line ending in a newline.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((cell, &w), align)| {
                    let pad = " ".repeat(w.saturating_sub(width(cell)));
                    match align {
                        Align::Left => format!("{cell}{pad}"),
                        Align::Right => format!("{pad}{cell}"),
                    }
                })
                .collect();
            let mut text = parts.join("  ").trim_end().to_string();
            text.push('\n');
            text
        };
        let mut out = line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_text_left_and_numbers_right() {
        let mut t = Table::new(&[("name", Align::Left), ("median", Align::Right), ("unit", Align::Left)]);
        t.push(vec!["optim_step/adam".into(), "12.50".into(), "µs".into()]);
        t.push(vec!["x".into(), "3.00".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name             median  unit");
        assert_eq!(lines[1], "---------------  ------  ----");
        assert_eq!(lines[2], "optim_step/adam   12.50  µs");
        assert_eq!(lines[3], "x                  3.00");
        assert_eq!(lines.len(), 4);
    }
}
