//! Train / dev / test splits (sheet 04) and the train-dev set (sheet 12), all seeded.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::data::{train_dev_test, Dataset};
//! # fn main() -> dls_foundations::Result<()> {
//! let x = Tensor::arange(0f32, 100., &Device::Cpu)?.reshape((100, 1))?;
//! let y = Tensor::zeros(100, candle_core::DType::U32, &Device::Cpu)?;
//! let split = train_dev_test(&Dataset::new(x, y)?, 0.1, 0.2, 42)?;
//! assert_eq!((split.train.len(), split.dev.len(), split.test.len()), (70, 10, 20));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use candle_core::{DType, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::dataset::Dataset;
use crate::error::{Error, Result};

/// The three parts of a split: fit on `train`, choose on `dev`, report on `test`.
#[derive(Clone, Debug)]
pub struct Split {
    /// The training set.
    pub train: Dataset,
    /// The development (hold-out, validation) set.
    pub dev: Dataset,
    /// The test set.
    pub test: Dataset,
}

/// Shuffles `ds` with `seed` and cuts it into train, dev and test parts.
///
/// The dev and test sizes are `round(n * fraction)`; train gets the rest.
///
/// # Errors
/// [`Error::Invalid`] if a fraction is not in `[0, 1)` or they sum to 1 or more;
/// [`Error::Empty`] naming the part that would get no rows.
pub fn train_dev_test(ds: &Dataset, dev_fraction: f64, test_fraction: f64, seed: u64) -> Result<Split> {
    check_fractions(dev_fraction, test_fraction)?;
    let n = ds.len();
    let mut order = row_ids(n)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let n_dev = part_size(n, dev_fraction);
    let n_test = part_size(n, test_fraction);
    let (test, rest) = order.split_at(n_test.min(n));
    let (dev, train) = rest.split_at(n_dev.min(rest.len()));
    build_split(ds, train, dev, test, n, dev_fraction, test_fraction)
}

/// Like [`train_dev_test`], but each class keeps its proportion in every part.
///
/// Labels are read from `y`, which must be `[n]` or `[n, 1]` holding non-negative whole numbers
/// (u32 class ids or 0.0/1.0 binary targets). Each class is shuffled with `seed` and cut with
/// the same rounding as [`train_dev_test`]; each part is then shuffled so classes interleave.
///
/// # Errors
/// As [`train_dev_test`], plus [`Error::Shape`] / [`Error::Invalid`] if `y` is not a label column.
pub fn train_dev_test_stratified(
    ds: &Dataset,
    dev_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<Split> {
    check_fractions(dev_fraction, test_fraction)?;
    let labels = class_labels(&ds.y)?;
    let n = labels.len();
    // A map, not a vector indexed by label: a stray label of 4e9 must not allocate 4e9 classes.
    let mut by_class: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, &c) in row_ids(n)?.iter().zip(&labels) {
        by_class.entry(c).or_default().push(*i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for rows in by_class.values_mut() {
        rows.shuffle(&mut rng);
        let n_c = rows.len();
        let n_test = part_size(n_c, test_fraction).min(n_c);
        let n_dev = part_size(n_c, dev_fraction).min(n_c - n_test);
        let (te, rest) = rows.split_at(n_test);
        let (dv, tr) = rest.split_at(n_dev);
        test.extend_from_slice(te);
        dev.extend_from_slice(dv);
        train.extend_from_slice(tr);
    }
    for part in [&mut train, &mut dev, &mut test] {
        part.shuffle(&mut rng);
    }
    build_split(ds, &train, &dev, &test, n, dev_fraction, test_fraction)
}

/// Carves a "train-dev" set out of the training set (sheet 12): same distribution as train,
/// not trained on, so the train → train-dev gap measures variance and the train-dev → dev gap
/// measures data mismatch.
///
/// Returns `(train, train_dev)` with `round(n * train_dev_fraction)` rows in `train_dev`.
///
/// # Errors
/// [`Error::Invalid`] if the fraction is not in `(0, 1)`; [`Error::Empty`] naming the part that
/// would get no rows.
pub fn train_dev_split(train: &Dataset, train_dev_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    if !(train_dev_fraction > 0.0 && train_dev_fraction < 1.0) {
        return Err(Error::invalid(
            "train_dev_fraction",
            format!("must be in (0, 1), got {train_dev_fraction}"),
        ));
    }
    let n = train.len();
    let mut order = row_ids(n)?;
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_td = part_size(n, train_dev_fraction).min(n);
    let (td, tr) = order.split_at(n_td);
    let part = |ids: &[u32], name: &str| {
        if ids.is_empty() {
            Err(Error::Empty(format!(
                "{name} part of the train-dev split ({n} rows, train_dev_fraction {train_dev_fraction})"
            )))
        } else {
            train.select(ids)
        }
    };
    Ok((part(tr, "train")?, part(td, "train-dev")?))
}

/// Class ids from a `[n]` or `[n, 1]` target tensor of non-negative whole numbers.
///
/// # Errors
/// [`Error::Shape`] for any other shape; [`Error::Invalid`] for a negative, fractional or
/// non-finite value, or one past `u32::MAX`.
pub fn class_labels(y: &Tensor) -> Result<Vec<u32>> {
    let n = match y.dims() {
        [n] | [n, 1] => *n,
        other => return Err(Error::shape("class labels", "[n] or [n, 1]", other)),
    };
    if y.dtype() == DType::U32 {
        return Ok(y.reshape(n)?.to_vec1::<u32>()?);
    }
    let values = y.reshape(n)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
                Ok(v as u32)
            } else {
                Err(Error::invalid(
                    "class labels",
                    format!("row {i} holds {v}, not a class id (0, 1, 2, ...)"),
                ))
            }
        })
        .collect()
}

fn check_fractions(dev: f64, test: f64) -> Result<()> {
    for (name, f) in [("dev_fraction", dev), ("test_fraction", test)] {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::invalid(name, format!("must be in [0, 1), got {f}")));
        }
    }
    if dev + test >= 1.0 {
        return Err(Error::invalid(
            "split fractions",
            format!(
                "dev_fraction + test_fraction must be below 1 to leave a training set, got {dev} + {test}"
            ),
        ));
    }
    Ok(())
}

fn part_size(n: usize, fraction: f64) -> usize {
    (n as f64 * fraction).round() as usize
}

fn row_ids(n: usize) -> Result<Vec<u32>> {
    let n = u32::try_from(n).map_err(|_| {
        Error::invalid("dataset", format!("{n} rows is more than a split supports (u32::MAX)"))
    })?;
    Ok((0..n).collect())
}

fn build_split(
    ds: &Dataset,
    train: &[u32],
    dev: &[u32],
    test: &[u32],
    n: usize,
    dev_fraction: f64,
    test_fraction: f64,
) -> Result<Split> {
    let part = |ids: &[u32], name: &str| {
        if ids.is_empty() {
            Err(Error::Empty(format!(
                "{name} part of the split ({n} rows, dev_fraction {dev_fraction}, test_fraction {test_fraction})"
            )))
        } else {
            ds.select(ids)
        }
    };
    Ok(Split { train: part(train, "train")?, dev: part(dev, "dev")?, test: part(test, "test")? })
}
