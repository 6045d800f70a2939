//! Numeric CSV: every field a number, every row the same width, errors with line numbers.
//!
//! Files may be gzip-compressed (detected by the `1f 8b` magic). Blank lines are skipped; fields
//! are separated by commas and trimmed; there is no quoting (numeric data needs none). A field is
//! anything Rust's `f32` parser accepts, so `nan` and `inf` are read as such.
//!
//! ```
//! use dls_foundations::data::read_csv_f32_from;
//! # fn main() -> dls_foundations::Result<()> {
//! let rows = read_csv_f32_from("a,b\n1,2.5\n3,-4\n".as_bytes(), true, "inline")?;
//! assert_eq!(rows, vec![vec![1.0, 2.5], vec![3.0, -4.0]]);
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// Reads a numeric CSV file (raw or gzip) into rows of `f32`, skipping a header line if asked.
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened; [`Error::Format`] naming the file and line for
/// an unreadable line, a field that is not a number, or a row whose width differs from the first.
pub fn read_csv_f32(path: impl AsRef<Path>, has_header: bool) -> Result<Vec<Vec<f32>>> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let mut file = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    let gzip = file.fill_buf().map_err(|e| Error::io(path, e))?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        read_csv_f32_from(BufReader::new(GzDecoder::new(file)), has_header, &name)
    } else {
        read_csv_f32_from(file, has_header, &name)
    }
}

/// Reads numeric CSV from bytes (raw or gzip); `name` is used in error messages.
///
/// # Errors
/// As [`read_csv_f32_from`].
pub fn parse_csv_f32(bytes: &[u8], has_header: bool, name: &str) -> Result<Vec<Vec<f32>>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_csv_f32_from(BufReader::new(GzDecoder::new(bytes)), has_header, name)
    } else {
        read_csv_f32_from(bytes, has_header, name)
    }
}

/// Reads numeric CSV (uncompressed) from any buffered reader; `name` is used in error messages.
///
/// # Errors
/// [`Error::Format`] naming `name` and the 1-based line for an unreadable line (bad UTF-8, a
/// corrupt stream), a field that is not a number, or a row whose width differs from the first.
pub fn read_csv_f32_from(mut reader: impl BufRead, has_header: bool, name: &str) -> Result<Vec<Vec<f32>>> {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let mut width: Option<(usize, usize)> = None; // (fields, line it was set on)
    let mut offset = 0u64;
    let mut header_pending = has_header;
    let mut line = String::new();
    for lineno in 1.. {
        line.clear();
        let start = offset;
        let read = reader
            .read_line(&mut line)
            .map_err(|e| Error::format(name, Some(start), format!("line {lineno}: {e}")))?;
        if read == 0 {
            break;
        }
        offset += read as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if header_pending {
            header_pending = false;
            continue;
        }
        let row = text
            .split(',')
            .enumerate()
            .map(|(c, field)| {
                let field = field.trim();
                field.parse::<f32>().map_err(|_| {
                    let msg = format!("line {lineno}, column {}: {field:?} is not a number", c + 1);
                    Error::format(name, Some(start), msg)
                })
            })
            .collect::<Result<Vec<f32>>>()?;
        match width {
            None => width = Some((row.len(), lineno)),
            Some((w, first)) if w != row.len() => {
                let msg = format!("line {lineno}: {} fields, expected {w} as on line {first}", row.len());
                return Err(Error::format(name, Some(start), msg));
            }
            Some(_) => {}
        }
        rows.push(row);
    }
    Ok(rows)
}
