//! Word-vector files: word2vec text and binary formats, GloVe text.
//!
//! * word2vec text: a header `count dim`, then `word v1 ... vdim` per line.
//! * word2vec binary: the same header line, then per word its UTF-8 bytes, a space and `dim`
//!   little-endian f32 values (the C tool adds a newline after each vector, gensim 4 does not;
//!   both are read, and a newline is written).
//! * GloVe text: no header, `word v1 ... vdim` per line.
//!
//! Malformed files are [`Error::Format`] errors naming the line (text) or byte offset (binary).
//!
//! ```
//! use dls_nlp::vectors::{io, KeyedVectors};
//! let kv = KeyedVectors::new(vec!["a".into(), "b".into()], 2, vec![0.5, -1.0, 2.0, 0.25])?;
//! let bytes = io::to_word2vec_binary(&kv);
//! let back = io::parse_word2vec_binary(&bytes, "inline")?;
//! assert_eq!(back.vector("b")?, &[2.0, 0.25]);
//! assert_eq!(std::str::from_utf8(&io::to_word2vec_text(&kv)).unwrap(), "2 2\na 0.5 -1\nb 2 0.25\n");
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::path::Path;

use super::KeyedVectors;
use crate::{Error, Result};

fn fmt_row(out: &mut String, word: &str, row: &[f32]) {
    use std::fmt::Write;
    out.push_str(word);
    for v in row {
        let _ = write!(out, " {v}");
    }
    out.push('\n');
}

/// The word2vec text format (floats printed in their shortest exact form).
pub fn to_word2vec_text(kv: &KeyedVectors) -> Vec<u8> {
    let mut out = format!("{} {}\n", kv.len(), kv.dim());
    for (w, row) in kv.words().iter().zip(kv.data().chunks_exact(kv.dim())) {
        fmt_row(&mut out, w, row);
    }
    out.into_bytes()
}

/// The GloVe text format (no header).
pub fn to_glove_text(kv: &KeyedVectors) -> Vec<u8> {
    let mut out = String::new();
    for (w, row) in kv.words().iter().zip(kv.data().chunks_exact(kv.dim())) {
        fmt_row(&mut out, w, row);
    }
    out.into_bytes()
}

/// The word2vec binary format.
pub fn to_word2vec_binary(kv: &KeyedVectors) -> Vec<u8> {
    let mut out = format!("{} {}\n", kv.len(), kv.dim()).into_bytes();
    for (w, row) in kv.words().iter().zip(kv.data().chunks_exact(kv.dim())) {
        out.extend_from_slice(w.as_bytes());
        out.push(b' ');
        row.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.push(b'\n');
    }
    out
}

fn parse_header(line: &str, name: &str) -> Result<(usize, usize)> {
    let mut it = line.split_whitespace();
    let mut field = |what: &str| -> Result<usize> {
        let tok =
            it.next().ok_or_else(|| Error::format(name, Some(1), format!("header lacks the {what}")))?;
        tok.parse()
            .map_err(|_| Error::format(name, Some(1), format!("header {what} {tok:?} is not a number")))
    };
    let (count, dim) = (field("word count")?, field("dimension")?);
    if dim == 0 {
        return Err(Error::format(name, Some(1), "header dimension is 0"));
    }
    Ok((count, dim))
}

/// Parses text lines `word v1 ... vdim`; `skip` leading lines (the header) are not vectors.
fn parse_rows(
    text: &str,
    name: &str,
    skip: usize,
    dim: Option<usize>,
    count: Option<usize>,
) -> Result<KeyedVectors> {
    let mut words = Vec::new();
    let mut data = Vec::new();
    let mut dim = dim;
    for (i, line) in text.lines().enumerate().skip(skip) {
        let line_no = i + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if count.is_some_and(|c| words.len() == c) {
            return Err(Error::format(
                name,
                Some(line_no),
                format!("more vectors than the header's {}", words.len()),
            ));
        }
        let mut fields = line.split(' ');
        let word = fields.next().unwrap_or_default();
        let start = data.len();
        for tok in fields {
            let v: f32 = tok
                .parse()
                .map_err(|_| Error::format(name, Some(line_no), format!("{tok:?} is not a number")))?;
            data.push(v);
        }
        let got = data.len() - start;
        let want = *dim.get_or_insert(got);
        if got != want || got == 0 {
            return Err(Error::format(
                name,
                Some(line_no),
                format!("expected {want} values for {word:?}, found {got}"),
            ));
        }
        words.push(word.to_string());
    }
    if let Some(c) = count {
        if words.len() != c {
            return Err(Error::format(
                name,
                None,
                format!("header promises {c} vectors, found {}", words.len()),
            ));
        }
    }
    let dim = dim.ok_or_else(|| Error::Empty(format!("{name}: no vectors")))?;
    KeyedVectors::new(words, dim, data)
        .map_err(|e| Error::format(name, None, format!("inconsistent vectors: {e}")))
}

fn utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::format(name, Some(line), format!("invalid UTF-8 at byte {at}"))
    })
}

/// Parses the word2vec text format.
///
/// # Errors
/// [`Error::Format`] for a bad header, a line with the wrong number of values or a non-number,
/// a vector count differing from the header, invalid UTF-8, or a repeated word.
pub fn parse_word2vec_text(bytes: &[u8], name: &str) -> Result<KeyedVectors> {
    let text = utf8(bytes, name)?;
    let header = text.lines().next().ok_or_else(|| Error::Empty(format!("{name}: empty file")))?;
    let (count, dim) = parse_header(header, name)?;
    parse_rows(text, name, 1, Some(dim), Some(count))
}

/// Parses the GloVe text format; the dimension is that of the first line.
///
/// # Errors
/// [`Error::Format`] for a line with a different number of values, a non-number, invalid UTF-8
/// or a repeated word; [`Error::Empty`] for a file without vectors.
pub fn parse_glove_text(bytes: &[u8], name: &str) -> Result<KeyedVectors> {
    parse_rows(utf8(bytes, name)?, name, 0, None, None)
}

/// Parses the word2vec binary format.
///
/// # Errors
/// [`Error::Format`] with the byte offset for a bad header, a header whose counts the file is too
/// short to hold, a truncated vector, a word that is not UTF-8, or a repeated word.
pub fn parse_word2vec_binary(bytes: &[u8], name: &str) -> Result<KeyedVectors> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| Error::format(name, Some(1), "no header line"))?;
    let header =
        std::str::from_utf8(&bytes[..nl]).map_err(|_| Error::format(name, Some(1), "header is not UTF-8"))?;
    let (count, dim) = parse_header(header, name)?;
    let mut pos = nl + 1;
    let row_bytes = dim.checked_mul(4).ok_or_else(|| Error::format(name, Some(1), "dimension overflows"))?;
    // Each entry needs at least one word byte, a space and the vector: refuse impossible headers
    // before allocating for them.
    let min_len = count.saturating_mul(row_bytes.saturating_add(2));
    if min_len > bytes.len() - pos {
        return Err(Error::format(
            name,
            None,
            format!("header promises {count} vectors of {dim} floats (at least {min_len} bytes) but only {} bytes follow it", bytes.len() - pos),
        ));
    }
    let mut words = Vec::with_capacity(count);
    let mut data = Vec::with_capacity(count * dim);
    for k in 0..count {
        while bytes.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
            pos += 1;
        }
        let start = pos;
        let space = bytes[start..].iter().position(|&b| b == b' ').ok_or_else(|| {
            Error::format(name, None, format!("vector {k}: no space after the word at byte {start}"))
        })?;
        let word = std::str::from_utf8(&bytes[start..start + space]).map_err(|e| {
            Error::format(
                name,
                None,
                format!("vector {k}: word is not UTF-8 at byte {}", start + e.valid_up_to()),
            )
        })?;
        pos = start + space + 1;
        let row = bytes.get(pos..pos + row_bytes).ok_or_else(|| {
            Error::format(
                name,
                None,
                format!(
                    "vector {k} ({word:?}) truncated at byte {pos}: needs {row_bytes} bytes, {} left",
                    bytes.len() - pos
                ),
            )
        })?;
        data.extend(row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        words.push(word.to_string());
        pos += row_bytes;
    }
    if let Some(extra) = bytes[pos..].iter().position(|b| !b.is_ascii_whitespace()) {
        let at = pos + extra;
        return Err(Error::format(name, None, format!("unexpected data after the last vector at byte {at}")));
    }
    KeyedVectors::new(words, dim, data)
        .map_err(|e| Error::format(name, None, format!("inconsistent vectors: {e}")))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// The on-disk formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// word2vec text (header line).
    Word2VecText,
    /// word2vec binary.
    Word2VecBinary,
    /// GloVe text (no header).
    GloveText,
}

impl Format {
    /// Guesses from the extension: `.bin` binary, `.txt` with a `count dim` first line word2vec
    /// text, otherwise GloVe text.
    pub fn guess(path: &Path, head: &[u8]) -> Self {
        if path.extension().is_some_and(|e| e == "bin") {
            return Format::Word2VecBinary;
        }
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let fields: Vec<&[u8]> = first.split(|&b| b == b' ').filter(|f| !f.is_empty()).collect();
        if fields.len() == 2 && fields.iter().all(|f| f.iter().all(u8::is_ascii_digit)) {
            Format::Word2VecText
        } else {
            Format::GloveText
        }
    }
}

/// Loads vectors from `path` in `format` (or guessed with [`Format::guess`] when `None`).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, and the parsers' errors.
pub fn load(path: impl AsRef<Path>, format: Option<Format>) -> Result<KeyedVectors> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let name = path.display().to_string();
    match format.unwrap_or_else(|| Format::guess(path, &bytes[..bytes.len().min(256)])) {
        Format::Word2VecText => parse_word2vec_text(&bytes, &name),
        Format::Word2VecBinary => parse_word2vec_binary(&bytes, &name),
        Format::GloveText => parse_glove_text(&bytes, &name),
    }
}

/// Saves `kv` to `path` in `format`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn save(kv: &KeyedVectors, path: impl AsRef<Path>, format: Format) -> Result<()> {
    let bytes = match format {
        Format::Word2VecText => to_word2vec_text(kv),
        Format::Word2VecBinary => to_word2vec_binary(kv),
        Format::GloveText => to_glove_text(kv),
    };
    write(path.as_ref(), &bytes)
}
