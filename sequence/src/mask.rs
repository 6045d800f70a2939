//! Masks for variable-length batches: which steps of each padded sequence are real.
//!
//! ```
//! use candle_core::{DType, Device};
//! use dls_sequence::mask::mask_from_lengths;
//! let m = mask_from_lengths(&[3, 1], 2, 3, DType::F32, &Device::Cpu)?; // [time, batch, 1]
//! assert_eq!(m.squeeze(2)?.to_vec2::<f32>()?, vec![vec![1.0, 1.0], vec![1.0, 0.0], vec![1.0, 0.0]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// `m ⊙ new + (1 - m) ⊙ old` with `m` `[batch, 1]` of zeros and ones: `old + m ⊙ (new - old)`.
pub(crate) fn blend(new: &Tensor, old: &Tensor, m: &Tensor) -> Result<Tensor> {
    Ok((old + (new - old)?.broadcast_mul(m)?)?)
}

/// The `[time, batch, 1]` mask of ones for `t < lengths[b]`.
///
/// # Errors
/// [`Error::Shape`] unless `lengths` has `batch` entries; [`Error::Invalid`] for a length > `time`.
pub fn mask_from_lengths(
    lengths: &[usize],
    batch: usize,
    time: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    if lengths.len() != batch {
        return Err(Error::shape("sequence lengths", format!("{batch} lengths"), lengths.len()));
    }
    if let Some((b, &l)) = lengths.iter().enumerate().find(|(_, &l)| l > time) {
        return Err(Error::invalid("sequence length", format!("sequence {b} has length {l} > {time} steps")));
    }
    let values: Vec<f32> =
        (0..time).flat_map(|t| lengths.iter().map(move |&l| if t < l { 1.0 } else { 0.0 })).collect();
    Ok(Tensor::from_vec(values, (time, batch, 1), device)?.to_dtype(dtype)?)
}
