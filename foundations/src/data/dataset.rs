//! [`Dataset`]: features and targets held as two tensors that share their first dimension.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::data::Dataset;
//! # fn main() -> dls_foundations::Result<()> {
//! let x = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &Device::Cpu)?;
//! let y = Tensor::new(&[0u32, 1, 0], &Device::Cpu)?;
//! let ds = Dataset::new(x, y)?;
//! let last = ds.select(&[2])?;
//! assert_eq!(last.x.to_vec2::<f32>()?, vec![vec![5.0, 6.0]]);
//! assert_eq!(ds.len(), 3);
//! # Ok(())
//! # }
//! ```

use candle_core::{Device, Tensor};

use crate::data::batches::Batches;
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// Features and targets held as tensors; row i of `x` goes with row i of `y`.
///
/// `x` is `[n, features...]` and `y` is `[n, targets...]` (for example `[n]` u32 class labels or
/// `[n, 1]` f32 binary targets). Cloning is cheap: candle tensors share their storage.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Features, `[n, features...]`.
    pub x: Tensor,
    /// Targets, `[n, targets...]`.
    pub y: Tensor,
}

impl Dataset {
    /// Pairs features with targets.
    ///
    /// # Errors
    /// [`Error::Shape`] if either tensor is a scalar or their first dimensions differ;
    /// [`Error::Empty`] if there are no rows.
    pub fn new(x: Tensor, y: Tensor) -> Result<Self> {
        let nx = rows_of(&x, "dataset features x")?;
        let ny = rows_of(&y, "dataset targets y")?;
        if nx != ny {
            return Err(Error::shape(
                "dataset targets y",
                format!("first dimension {nx} (the number of rows of x {:?})", x.dims()),
                y.dims(),
            ));
        }
        if nx == 0 {
            return Err(Error::Empty("dataset has no rows".into()));
        }
        Ok(Self { x, y })
    }

    /// Number of rows (examples).
    pub fn len(&self) -> usize {
        self.x.dims().first().copied().unwrap_or(0)
    }

    /// Whether there are no rows (never true for a dataset built with [`Dataset::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one example's features (`x`'s dimensions after the first).
    pub fn feature_dims(&self) -> &[usize] {
        self.x.dims().get(1..).unwrap_or(&[])
    }

    /// The rows at `idx`, in that order (repeats allowed).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first index that is out of range; [`Error::Empty`] if `idx`
    /// is empty.
    pub fn select(&self, idx: &[u32]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= n) {
            return Err(Error::invalid(
                "row index",
                format!("{bad} is out of range for a dataset of {n} rows"),
            ));
        }
        if idx.is_empty() {
            return Err(Error::Empty("no row indices to select".into()));
        }
        let (x, y) = select_rows(&self.x, &self.y, idx)?;
        Dataset::new(x, y)
    }

    /// Mini-batches of `batch_size` rows (the last one partial), in order or shuffled.
    ///
    /// With `shuffle = Some(rng)` one permutation is drawn from `rng` per call, so calling this once
    /// per epoch on the same stream gives a new, reproducible order each epoch.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `batch_size` is 0.
    pub fn batches(&self, batch_size: usize, shuffle: Option<&SeededRng>) -> Result<Batches> {
        Batches::new(self, batch_size, shuffle)
    }

    /// A copy of the dataset on `device`.
    ///
    /// # Errors
    /// Fails if candle cannot move the tensors to `device`.
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        Ok(Self { x: self.x.to_device(device)?, y: self.y.to_device(device)? })
    }
}

/// Rows `idx` of `x` and `y` (indices already checked by the caller).
pub(crate) fn select_rows(x: &Tensor, y: &Tensor, idx: &[u32]) -> Result<(Tensor, Tensor)> {
    let ids = Tensor::from_slice(idx, idx.len(), x.device())?;
    let x = x.index_select(&ids, 0)?;
    let ids = if y.device().same_device(x.device()) { ids } else { ids.to_device(y.device())? };
    let y = y.index_select(&ids, 0)?;
    Ok((x, y))
}

fn rows_of(t: &Tensor, what: &str) -> Result<usize> {
    t.dims().first().copied().ok_or_else(|| Error::shape(what, "at least one dimension [n, ...]", t.dims()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_rows_are_a_shape_error() -> Result<()> {
        let x = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu)?;
        let y = Tensor::zeros(4, candle_core::DType::U32, &Device::Cpu)?;
        assert!(matches!(Dataset::new(x.clone(), y), Err(Error::Shape { .. })));
        let scalar = Tensor::new(1f32, &Device::Cpu)?;
        assert!(matches!(Dataset::new(x, scalar), Err(Error::Shape { .. })));
        let e = Tensor::zeros((0, 2), candle_core::DType::F32, &Device::Cpu)?;
        let ey = Tensor::zeros(0, candle_core::DType::U32, &Device::Cpu)?;
        assert!(matches!(Dataset::new(e, ey), Err(Error::Empty(_))));
        Ok(())
    }

    #[test]
    fn select_checks_range() -> Result<()> {
        let x = Tensor::new(&[[1f32], [2.], [3.]], &Device::Cpu)?;
        let y = Tensor::new(&[0u32, 1, 2], &Device::Cpu)?;
        let ds = Dataset::new(x, y)?;
        let s = ds.select(&[2, 0, 2])?;
        assert_eq!(s.y.to_vec1::<u32>()?, vec![2, 0, 2]);
        match ds.select(&[1, 3]) {
            Err(Error::Invalid { message, .. }) => assert!(message.contains('3'), "{message}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert!(matches!(ds.select(&[]), Err(Error::Empty(_))));
        Ok(())
    }
}
