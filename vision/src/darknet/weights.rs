//! Darknet `.weights` files: a header, then little-endian f32 arrays for each convolutional
//! layer in cfg order (biases, then with batch norm scales, rolling means and variances, then the
//! kernel in `[out, in, k, k]` order).
//!
//! The header is three i32 (major, minor, revision) and `seen`, the number of training images
//! seen: a u64 when `major * 10 + minor >= 2` and both are below 1000, otherwise a u32, exactly
//! as darknet's `load_weights_upto` reads it.

use std::path::Path;

use crate::{Error, Result};

/// The header of a `.weights` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightsHeader {
    /// Format major version.
    pub major: i32,
    /// Format minor version.
    pub minor: i32,
    /// Format revision.
    pub revision: i32,
    /// Images seen in training.
    pub seen: u64,
    /// Header length in bytes (16 or 20).
    pub len: usize,
}

/// A whole `.weights` file: its header and every float after it.
#[derive(Clone, Debug, PartialEq)]
pub struct DarknetWeights {
    /// The header.
    pub header: WeightsHeader,
    /// The values after the header.
    pub values: Vec<f32>,
    /// Where the file came from (for errors).
    pub source: String,
}

fn format_error(source: &str, offset: Option<u64>, message: String) -> Error {
    dls_foundations::Error::Format { path: source.to_string(), offset, message }.into()
}

fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a `.weights` file held in memory. `source` names it in errors.
///
/// # Errors
/// A [`dls_foundations::Error::Format`] naming `source` for a file shorter than its header or
/// whose body is not a whole number of f32 values.
pub fn parse_weights(bytes: &[u8], source: &str) -> Result<DarknetWeights> {
    let short =
        || format_error(source, None, format!("{} bytes is shorter than a weights header", bytes.len()));
    let major = i32_at(bytes, 0).ok_or_else(short)?;
    let minor = i32_at(bytes, 4).ok_or_else(short)?;
    let revision = i32_at(bytes, 8).ok_or_else(short)?;
    let wide = major * 10 + minor >= 2 && major < 1000 && minor < 1000;
    let (seen, len) = if wide {
        let b = bytes.get(12..20).ok_or_else(short)?;
        (u64::from_le_bytes(b.try_into().map_err(|_| short())?), 20)
    } else {
        (i32_at(bytes, 12).ok_or_else(short)? as u32 as u64, 16)
    };
    let body = &bytes[len..];
    if body.len() % 4 != 0 {
        return Err(format_error(
            source,
            Some((len + body.len() / 4 * 4) as u64),
            format!("{} bytes after the {len}-byte header is not a whole number of f32 values", body.len()),
        ));
    }
    let values = body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(DarknetWeights {
        header: WeightsHeader { major, minor, revision, seen, len },
        values,
        source: source.into(),
    })
}

/// Reads and parses a `.weights` file.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, then as [`parse_weights`].
pub fn read_weights(path: impl AsRef<Path>) -> Result<DarknetWeights> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: name.clone(), source })?;
    parse_weights(&bytes, &name)
}

impl DarknetWeights {
    /// Checks that the file holds exactly `expected` values (the count a cfg implies).
    ///
    /// # Errors
    /// A [`dls_foundations::Error::Format`] saying how many floats were expected and found.
    pub fn expect_len(&self, expected: usize) -> Result<()> {
        let found = self.values.len();
        if found == expected {
            return Ok(());
        }
        let what = if found < expected { "truncated" } else { "too long" };
        Err(format_error(
            &self.source,
            None,
            format!(
                "{what}: the cfg needs {expected} floats after the {}-byte header, the file has {found}",
                self.header.len
            ),
        ))
    }
}
