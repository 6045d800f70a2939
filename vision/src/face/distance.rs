//! Embedding distances: L2 normalisation and the pairwise distance matrix of a batch.
//!
//! The matrix is built from explicit differences `e_i - e_j` rather than from
//! `‖a‖² - 2a·b + ‖b‖²`: the diagonal is then exactly zero (no negative round-off to clamp) and
//! the gradient of the Euclidean distance stays finite there.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::face::{pairwise_distances, Distance};
//! let e = Tensor::new(&[[0f32, 0.], [3., 4.]], &Device::Cpu)?;
//! let d = pairwise_distances(&e, Distance::Euclidean)?.to_vec2::<f32>()?;
//! assert!((d[0][1] - 5.0).abs() < 1e-5);
//! let d2 = pairwise_distances(&e, Distance::SquaredEuclidean)?.to_vec2::<f32>()?;
//! assert_eq!(d2[1][0], 25.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};

use crate::{Error, Result};

/// Added under the square root of [`Distance::Euclidean`] so its gradient at zero is finite.
pub const SQRT_EPSILON: f64 = 1e-12;

/// How two embeddings are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Distance {
    /// `‖a - b‖²`, the course's and FaceNet's choice.
    #[default]
    SquaredEuclidean,
    /// `sqrt(‖a - b‖² + 1e-12)`.
    Euclidean,
}

impl Distance {
    /// The distance between two equal-length vectors, on the host.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the lengths differ.
    pub fn between(self, a: &[f32], b: &[f32]) -> Result<f64> {
        if a.len() != b.len() {
            return Err(Error::Invalid {
                what: "embedding pair".into(),
                message: format!("lengths differ: {} vs {}", a.len(), b.len()),
            });
        }
        let d2: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        Ok(match self {
            Distance::SquaredEuclidean => d2,
            Distance::Euclidean => (d2 + SQRT_EPSILON).sqrt(),
        })
    }
}

fn check_matrix(what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match t.dims() {
        [n, d] if *n > 0 && *d > 0 => Ok((*n, *d)),
        dims => Err(Error::Invalid {
            what: what.into(),
            message: format!("expected a non-empty [n, d] float tensor, got shape {dims:?}"),
        }),
    }
}

/// Scales each row to unit L2 norm: `[n, d]` -> `[n, d]`. Rows of zeros stay (almost) zero
/// (a tiny `1e-12` keeps the division finite).
///
/// # Errors
/// [`Error::Invalid`] for a tensor that is not a non-empty `[n, d]` matrix.
pub fn l2_normalize(embeddings: &Tensor) -> Result<Tensor> {
    check_matrix("embeddings", embeddings)?;
    let norm = (embeddings.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    Ok(embeddings.broadcast_div(&norm)?)
}

/// All pairwise distances of a batch: `[n, d]` -> `[n, n]`, differentiable, zero on the diagonal
/// (up to `sqrt(1e-12)` for [`Distance::Euclidean`]).
///
/// # Errors
/// [`Error::Invalid`] for a tensor that is not a non-empty `[n, d]` float matrix.
pub fn pairwise_distances(embeddings: &Tensor, distance: Distance) -> Result<Tensor> {
    let (n, d) = check_matrix("embeddings", embeddings)?;
    if !matches!(embeddings.dtype(), DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
        return Err(Error::Invalid {
            what: "embeddings".into(),
            message: format!("expected a float tensor, got {:?}", embeddings.dtype()),
        });
    }
    let a = embeddings.unsqueeze(1)?.broadcast_as((n, n, d))?;
    let b = embeddings.unsqueeze(0)?.broadcast_as((n, n, d))?;
    let d2 = (a - b)?.sqr()?.sum(2)?;
    Ok(match distance {
        Distance::SquaredEuclidean => d2,
        Distance::Euclidean => (d2 + SQRT_EPSILON)?.sqrt()?,
    })
}
