//! [`Batches`]: the mini-batch iterator behind [`Dataset::batches`].
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::{data::Dataset, SeededRng};
//! # fn main() -> dls_foundations::Result<()> {
//! let x = Tensor::arange(0f32, 10., &Device::Cpu)?.reshape((10, 1))?;
//! let y = Tensor::arange(0u32, 10, &Device::Cpu)?;
//! let ds = Dataset::new(x, y)?;
//! let sizes: Vec<usize> =
//!     ds.batches(4, Some(&SeededRng::new(0)))?.map(|b| b.map(|(_, y)| y.dims()[0])).collect::<Result<_, _>>()?;
//! assert_eq!(sizes, vec![4, 4, 2]);
//! # Ok(())
//! # }
//! ```

use candle_core::Tensor;
use rand::seq::SliceRandom;

use crate::data::dataset::{select_rows, Dataset};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// An iterator over `(x, y)` mini-batches of one epoch; the last batch may be partial.
///
/// Batches are `[b, features...]` and `[b, targets...]` with `b <= batch_size`. In order, a batch
/// is a cheap view ([`Tensor::narrow`]); shuffled, it is gathered with `index_select`.
/// [`ExactSizeIterator::len`] gives the number of batches still to come.
#[derive(Debug)]
pub struct Batches {
    x: Tensor,
    y: Tensor,
    order: Option<Vec<u32>>,
    batch_size: usize,
    n: usize,
    next_row: usize,
}

impl Batches {
    /// Batches over `ds`; with `shuffle`, one permutation is drawn from the stream now.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `batch_size` is 0 or the dataset has more than `u32::MAX` rows
    /// (only when shuffling).
    pub fn new(ds: &Dataset, batch_size: usize, shuffle: Option<&SeededRng>) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1, got 0"));
        }
        let n = ds.len();
        let order = match shuffle {
            None => None,
            Some(rng) => {
                let n32 = u32::try_from(n).map_err(|_| {
                    Error::invalid("dataset", format!("{n} rows is more than a shuffle supports (u32::MAX)"))
                })?;
                let mut order: Vec<u32> = (0..n32).collect();
                order.shuffle(&mut *rng.lock());
                Some(order)
            }
        };
        Ok(Self { x: ds.x.clone(), y: ds.y.clone(), order, batch_size, n, next_row: 0 })
    }

    /// Total number of batches in the epoch, `ceil(n / batch_size)`, however many were consumed.
    pub fn num_batches(&self) -> usize {
        self.n.div_ceil(self.batch_size)
    }

    /// The row order of this epoch (`None` when not shuffled: rows come in order).
    pub fn order(&self) -> Option<&[u32]> {
        self.order.as_deref()
    }

    fn batch(&self, start: usize, len: usize) -> Result<(Tensor, Tensor)> {
        match &self.order {
            None => Ok((self.x.narrow(0, start, len)?, self.y.narrow(0, start, len)?)),
            Some(order) => {
                let idx = order.get(start..start + len).ok_or_else(|| {
                    Error::invalid(
                        "batch range",
                        format!("{start}..{} past {} rows", start + len, order.len()),
                    )
                })?;
                select_rows(&self.x, &self.y, idx)
            }
        }
    }
}

impl Iterator for Batches {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_row >= self.n {
            return None;
        }
        let start = self.next_row;
        let len = self.batch_size.min(self.n - start);
        self.next_row += len;
        Some(self.batch(start, len))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.n - self.next_row.min(self.n)).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}

impl std::iter::FusedIterator for Batches {}
