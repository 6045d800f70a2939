//! The Bible corpus format: one verse per line, `reference<TAB>text`, optionally gzip-compressed.
//!
//! `../shared/data/text/web-en.txt.gz` (the World English Bible, about 980k words) and the excerpt
//! shipped in `nlp/data/` both use it.
//!
//! ```
//! let verses = dls_nlp::corpus::parse_verses("Gen 1:1\tIn the beginning.\nGen 1:2\tThe earth.\n".as_bytes(), "inline")?;
//! assert_eq!(verses.len(), 2);
//! assert_eq!(verses[1].reference, "Gen 1:2");
//! assert_eq!(verses[1].book(), "Gen");
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::{Error, Result};

/// One line of the corpus: a verse reference such as `Gen 1:1` and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verse {
    /// The reference, `Book chapter:verse`.
    pub reference: String,
    /// The verse's text.
    pub text: String,
}

impl Verse {
    /// The book abbreviation: the reference up to its last space (`1Ki 2:3` gives `1Ki`).
    pub fn book(&self) -> &str {
        self.reference.rsplit_once(' ').map_or(self.reference.as_str(), |(book, _)| book)
    }
}

/// Parses `reference<TAB>text` lines; empty lines are skipped. `name` labels errors.
///
/// # Errors
/// [`Error::Format`] with the 1-based line number for a line without a tab or with invalid UTF-8,
/// [`Error::Io`] if reading fails.
pub fn parse_verses(reader: impl Read, name: &str) -> Result<Vec<Verse>> {
    let mut reader = BufReader::new(reader);
    let mut verses = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::io(name, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = std::str::from_utf8(&buf).map_err(|e| {
            Error::format(name, Some(line_no), format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let (reference, text) = line.split_once('\t').ok_or_else(|| {
            Error::format(name, Some(line_no), "expected `reference<TAB>text`, found no tab")
        })?;
        verses.push(Verse { reference: reference.to_string(), text: text.to_string() });
    }
    Ok(verses)
}

/// Reads a verse file, gunzipping it when it starts with the gzip magic bytes.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read or is a corrupt gzip stream, and the errors of
/// [`parse_verses`].
pub fn read_verses(path: impl AsRef<Path>) -> Result<Vec<Verse>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        parse_verses(flate2::read::GzDecoder::new(bytes.as_slice()), &name)
    } else {
        parse_verses(bytes.as_slice(), &name)
    }
}
