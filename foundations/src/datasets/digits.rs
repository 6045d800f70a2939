//! The UCI optical handwritten digits (the set scikit-learn ships as `load_digits`), embedded.
//!
//! 1797 images of 8x8 pixels with values 0..=16, labels 0..=9. Small enough to ship inside the
//! crate, so examples and tests train on real data without a download.
//!
//! ```
//! use dls_foundations::datasets::digits;
//! # fn main() -> dls_foundations::Result<()> {
//! let ds = digits()?;
//! assert_eq!(ds.x.dims(), &[1797, 64]);
//! assert_eq!(ds.x.max_all()?.to_scalar::<f32>()?, 16.0);
//! # Ok(())
//! # }
//! ```

use candle_core::{Device, Tensor};

use crate::data::{parse_csv_f32, Dataset};
use crate::error::{Error, Result};

/// The gzipped CSV: 1797 rows of 64 pixel values then the label, no header.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Number of images in [`digits`].
pub const DIGITS_ROWS: usize = 1797;
/// Pixels per image (8 x 8).
pub const DIGITS_FEATURES: usize = 64;
/// Number of classes (the digits 0 to 9).
pub const DIGITS_CLASSES: usize = 10;

/// The digits set on the CPU: `x` f32 `[1797, 64]` with raw pixel values 0..=16 (not scaled),
/// `y` u32 `[1797]` with labels 0..=9.
///
/// # Errors
/// [`Error::Format`] if the embedded file is corrupt (it is checked: shape, pixel range, labels).
pub fn digits() -> Result<Dataset> {
    let name = "embedded digits.csv.gz";
    let rows = parse_csv_f32(DIGITS_CSV_GZ, false, name)?;
    if rows.len() != DIGITS_ROWS {
        return Err(Error::format(name, None, format!("expected {DIGITS_ROWS} rows, got {}", rows.len())));
    }
    let mut x = Vec::with_capacity(DIGITS_ROWS * DIGITS_FEATURES);
    let mut y = Vec::with_capacity(DIGITS_ROWS);
    for (i, row) in rows.iter().enumerate() {
        let (label, pixels) = match row.split_last() {
            Some((l, p)) if p.len() == DIGITS_FEATURES => (*l, p),
            _ => {
                let msg =
                    format!("row {}: expected {} fields, got {}", i + 1, DIGITS_FEATURES + 1, row.len());
                return Err(Error::format(name, None, msg));
            }
        };
        if let Some(p) = pixels.iter().find(|p| !(0.0..=16.0).contains(*p)) {
            return Err(Error::format(name, None, format!("row {}: pixel {p} outside 0..=16", i + 1)));
        }
        if !(label.fract() == 0.0 && (0.0..DIGITS_CLASSES as f32).contains(&label)) {
            return Err(Error::format(name, None, format!("row {}: label {label} is not a digit", i + 1)));
        }
        x.extend_from_slice(pixels);
        y.push(label as u32);
    }
    let x = Tensor::from_vec(x, (DIGITS_ROWS, DIGITS_FEATURES), &Device::Cpu)?;
    let y = Tensor::from_vec(y, DIGITS_ROWS, &Device::Cpu)?;
    Dataset::new(x, y)
}
