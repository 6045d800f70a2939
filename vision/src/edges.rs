//! Sheet 14's edge detection: the course's 3x3 vertical filter `[[1, 0, -1]; 3]`, its transpose
//! for horizontal edges, and the gradient magnitude of both, convolved over grayscale images.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::edges::{detect, Direction};
//! // The course's 6x6 picture: bright left half, dark right half.
//! let row = [10f32, 10.0, 10.0, 0.0, 0.0, 0.0];
//! let img = Tensor::new(&[[row; 6]], &Device::Cpu)?.unsqueeze(0)?; // [1, 1, 6, 6]
//! let edges = detect(&img, Direction::Vertical, false)?; // VALID: 4x4
//! assert_eq!(edges.flatten_all()?.to_vec1::<f32>()?[..4], [0.0, 30.0, 30.0, 0.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// Which edges a filter responds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Left-to-right changes: `[[1, 0, -1]; 3]`.
    Vertical,
    /// Top-to-bottom changes: the transpose.
    Horizontal,
}

/// The 3x3 filter for `direction`, shaped `[1, 1, 3, 3]` (f32).
///
/// # Errors
/// Candle errors (none in practice).
pub fn kernel(direction: Direction) -> Result<Tensor> {
    let v = Tensor::new(&[[1f32, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]], &Device::Cpu)?;
    let k = match direction {
        Direction::Vertical => v,
        Direction::Horizontal => v.t()?.contiguous()?,
    };
    Ok(k.reshape((1, 1, 3, 3))?)
}

fn check(gray: &Tensor) -> Result<()> {
    match gray.dims() {
        [_, 1, h, w] if *h >= 3 && *w >= 3 => Ok(()),
        d => Err(Error::Invalid {
            what: "edge-detection input".into(),
            message: format!("expected grayscale [n, 1, h >= 3, w >= 3], got {d:?}"),
        }),
    }
}

/// Convolves `gray` `[n, 1, h, w]` with the filter for `direction`: `[n, 1, h - 2, w - 2]`, or
/// `[n, 1, h, w]` when `same` pads by one pixel.
///
/// # Errors
/// [`Error::Invalid`] for another shape.
pub fn detect(gray: &Tensor, direction: Direction, same: bool) -> Result<Tensor> {
    check(gray)?;
    let k = kernel(direction)?.to_dtype(gray.dtype())?;
    Ok(gray.conv2d(&k, usize::from(same), 1, 1, 1)?)
}

/// `sqrt(vertical² + horizontal²)` with SAME padding, scaled so the largest value is 1 (an
/// all-flat image gives zeros). Input and output `[n, 1, h, w]`.
///
/// # Errors
/// [`Error::Invalid`] for another shape.
pub fn magnitude(gray: &Tensor) -> Result<Tensor> {
    let v = detect(gray, Direction::Vertical, true)?;
    let h = detect(gray, Direction::Horizontal, true)?;
    let m = (v.sqr()? + h.sqr()?)?.sqrt()?;
    let top = m.max_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    Ok(if top > 0.0 { (m / top)? } else { m })
}
