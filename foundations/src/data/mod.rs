//! In-memory data (sheets 04–05, 12): datasets, seeded mini-batches, train/dev/test splits,
//! standardization fitted on train only, and loaders for IDX (MNIST) and numeric CSV.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::data::{train_dev_test, Dataset, Standardizer};
//! use dls_foundations::SeededRng;
//! # fn main() -> dls_foundations::Result<()> {
//! let x = Tensor::arange(0f32, 20., &Device::Cpu)?.reshape((10, 2))?;
//! let y = Tensor::arange(0u32, 10, &Device::Cpu)?;
//! let split = train_dev_test(&Dataset::new(x, y)?, 0.2, 0.2, 7)?;
//! let scaler = Standardizer::fit(&split.train.x)?;
//! let train = Dataset::new(scaler.transform(&split.train.x)?, split.train.y.clone())?;
//! let rng = SeededRng::new(0);
//! let batches = train.batches(4, Some(&rng))?;
//! assert_eq!(batches.len(), 2); // 6 training rows: a batch of 4, then one of 2
//! # Ok(())
//! # }
//! ```

pub mod batches;
pub mod csv;
pub mod dataset;
pub mod idx;
pub mod split;
pub mod standardize;

pub use batches::Batches;
pub use csv::{parse_csv_f32, read_csv_f32, read_csv_f32_from};
pub use dataset::Dataset;
pub use idx::{encode_idx, load_mnist_dir, parse_idx, read_idx, IdxArray};
pub use split::{class_labels, train_dev_split, train_dev_test, train_dev_test_stratified, Split};
pub use standardize::Standardizer;
