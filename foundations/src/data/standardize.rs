//! Per-feature standardization (sheet 05, "normalizing inputs"), fitted on the training set only.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::data::Standardizer;
//! # fn main() -> dls_foundations::Result<()> {
//! let train = Tensor::new(&[[1f32, 5.], [3., 5.]], &Device::Cpu)?;
//! let s = Standardizer::fit(&train)?;
//! // Feature 0 has mean 2 and std 1; feature 1 is constant, so its std becomes 1.
//! let z = s.transform(&Tensor::new(&[[4f32, 7.]], &Device::Cpu)?)?;
//! assert_eq!(z.to_vec2::<f32>()?, vec![vec![2.0, 2.0]]);
//! # Ok(())
//! # }
//! ```

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};

/// Standard deviations at or below this are treated as zero (the feature is constant).
const ZERO_STD: f64 = 1e-12;

/// Per-feature mean and population standard deviation, fitted on one set and applied to others.
///
/// `transform(x) = (x - mean) / std`, with a zero std replaced by 1 so constant features (the
/// blank border pixels of a digit) stay 0 instead of becoming NaN.
#[derive(Clone, Debug)]
pub struct Standardizer {
    mean: Tensor,
    std: Tensor,
}

impl Standardizer {
    /// Fits on `x`, `[n, features...]`: statistics over dimension 0 only, computed in f64.
    ///
    /// The statistics are stored with the feature shape `[features...]`, in `x`'s dtype if it is
    /// a float type and in f32 otherwise.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is a scalar; [`Error::Empty`] if it has no rows.
    pub fn fit(x: &Tensor) -> Result<Self> {
        let n = match x.dims().first() {
            Some(&n) => n,
            None => return Err(Error::shape("standardizer fit input", "[n, features...]", x.dims())),
        };
        if n == 0 {
            return Err(Error::Empty("standardizer fitted on a tensor with no rows".into()));
        }
        let dtype = if x.dtype().is_float() { x.dtype() } else { DType::F32 };
        let x64 = x.to_dtype(DType::F64)?;
        let mean = x64.mean_keepdim(0)?;
        let var = x64.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
        let std = var.sqrt()?;
        let constant = std.le(ZERO_STD)?;
        let std = constant.where_cond(&std.ones_like()?, &std)?;
        Ok(Self { mean: mean.squeeze(0)?.to_dtype(dtype)?, std: std.squeeze(0)?.to_dtype(dtype)? })
    }

    /// Fits on `x` and returns it standardized, for the training set.
    ///
    /// # Errors
    /// As [`Standardizer::fit`].
    pub fn fit_transform(x: &Tensor) -> Result<(Self, Tensor)> {
        let s = Self::fit(x)?;
        let z = s.transform(x)?;
        Ok((s, z))
    }

    /// Standardizes `x`, `[m, features...]` with the fitted feature shape, using the fitted
    /// statistics. Integer inputs become the statistics' float dtype; float inputs keep theirs.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x`'s feature dimensions differ from the fitted ones.
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        let features = self.mean.dims();
        if x.dims().get(1..) != Some(features) {
            return Err(Error::shape("standardizer input", format!("[m, {features:?}] as fitted"), x.dims()));
        }
        let x = if x.dtype().is_float() { x.clone() } else { x.to_dtype(self.mean.dtype())? };
        let mean = self.mean.to_dtype(x.dtype())?.to_device(x.device())?;
        let std = self.std.to_dtype(x.dtype())?.to_device(x.device())?;
        Ok(x.broadcast_sub(&mean)?.broadcast_div(&std)?)
    }

    /// The fitted per-feature mean, shape `[features...]`.
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The fitted per-feature population standard deviation (zeros replaced by 1), shape `[features...]`.
    pub fn std(&self) -> &Tensor {
        &self.std
    }
}

impl crate::data::Split {
    /// The split with every part standardised by statistics fitted on its training part only
    /// (the course's rule: the dev and test sets see the training mean and std).
    ///
    /// # Errors
    /// As [`Standardizer::fit`] and [`Standardizer::transform`].
    pub fn standardized(&self) -> Result<(crate::data::Split, Standardizer)> {
        let s = Standardizer::fit(&self.train.x)?;
        let part = |d: &crate::data::Dataset| crate::data::Dataset::new(s.transform(&d.x)?, d.y.clone());
        Ok((
            crate::data::Split { train: part(&self.train)?, dev: part(&self.dev)?, test: part(&self.test)? },
            s,
        ))
    }
}
