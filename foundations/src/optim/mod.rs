//! Optimisers (sheets 06-08) and learning-rate schedules.
//!
//! [`Sgd`], [`Momentum`], [`Nesterov`], [`RmsProp`], [`Adam`] and [`AdamW`] implement candle-nn's
//! [`Optimizer`](candle_nn::Optimizer) trait, so they drop into any candle training loop, and
//! [`Stateful`], so a checkpoint can save their moments and a resumed run continue bit for bit.
//! Their update rules follow PyTorch's `torch.optim` (the tests compare against it to 1e-10 in
//! f64); [`Momentum`] also offers the course's averaged form. Variables with no gradient in a
//! step are left alone. [`AnyOptimizer`] picks one from an [`OptimizerConfig`] value, and
//! [`Schedule`] decays the learning rate from epoch to epoch.
//!
//! Adam on `f(w) = (w - 3)^2`:
//!
//! ```
//! use candle_core::{Device, Var};
//! use candle_nn::Optimizer;
//! use dls_foundations::optim::{Adam, AdamConfig};
//!
//! let w = Var::new(&[0f64], &Device::Cpu)?;
//! let mut opt = Adam::new(vec![w.clone()], AdamConfig { lr: 0.1, ..Default::default() })?;
//! for _ in 0..300 {
//!     let loss = (w.as_tensor() - 3.0)?.sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! let w = w.to_vec1::<f64>()?[0];
//! assert!((w - 3.0).abs() < 1e-3, "w = {w}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adam;
mod any;
mod common;
mod fused;
#[doc(hidden)]
pub use fused::force_reference_path;
mod momentum;
mod nesterov;
mod rmsprop;
mod schedule;
mod sgd;
mod state;

pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use any::{AnyOptimizer, OptimizerConfig};
pub use momentum::{Momentum, MomentumConfig, MomentumStyle};
pub use nesterov::{Nesterov, NesterovConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};
pub use state::{OptimizerState, Stateful};
