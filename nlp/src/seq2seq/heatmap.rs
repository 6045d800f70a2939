//! Attention weights drawn as a heat-map PNG: one row per output token, one column per source
//! token, each weight a square cell coloured from dark blue (0) through teal and green to yellow
//! (1), a viridis-like ramp. Labels are left to the caller (the `dates` example prints the source
//! and output beside the file).
//!
//! ```
//! use dls_nlp::seq2seq::heatmap::heatmap;
//! let img = heatmap(&[vec![1.0, 0.0], vec![0.25, 0.75]], 4)?;
//! assert_eq!(img.dimensions(), (8, 8));
//! // Weight 1 is yellow, weight 0 dark blue.
//! assert_eq!(img.get_pixel(0, 0).0, [253, 231, 37]);
//! assert_eq!(img.get_pixel(4, 0).0, [68, 1, 84]);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::{Error, Result};

/// Anchors of the colour ramp at 0, 0.25, 0.5, 0.75, 1 (viridis's end and quarter points).
const RAMP: [[f32; 3]; 5] =
    [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];

/// The colour of `v`, clamped to `[0, 1]`.
pub fn colour(v: f32) -> Rgb<u8> {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let x = v * (RAMP.len() - 1) as f32;
    let i = (x.floor() as usize).min(RAMP.len() - 2);
    let f = x - i as f32;
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    Rgb([0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8))
}

/// The heat-map of `weights` (rows of equal length, values in `[0, 1]`), `cell` pixels per weight.
///
/// # Errors
/// [`Error::Empty`] for no rows or columns; [`Error::Invalid`] for ragged rows, a zero `cell` or an
/// image past 16,384 pixels a side.
pub fn heatmap(weights: &[Vec<f32>], cell: usize) -> Result<RgbImage> {
    let cols = weights.first().map_or(0, Vec::len);
    if weights.is_empty() || cols == 0 {
        return Err(Error::Empty("attention heat-map has no weights".into()));
    }
    if let Some((r, row)) = weights.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(Error::invalid(
            "heat-map rows",
            format!("row {r} has {} weights, row 0 has {cols}", row.len()),
        ));
    }
    let (w, h) = (cols * cell, weights.len() * cell);
    if cell == 0 || w > 16_384 || h > 16_384 {
        return Err(Error::invalid("heat-map size", format!("{w}x{h} pixels with cells of {cell}")));
    }
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let (r, c) = (y as usize / cell, x as usize / cell);
        colour(weights.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0.0))
    }))
}

/// Draws [`heatmap`] and writes it to `path` as PNG.
///
/// # Errors
/// As [`heatmap`]; [`Error::Io`] when the file cannot be written.
pub fn write_heatmap(weights: &[Vec<f32>], cell: usize, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let img = heatmap(weights, cell)?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, ImageFormat::Png)
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    dls_foundations::checkpoint::write_atomically(path, bytes.get_ref())?;
    Ok(())
}
