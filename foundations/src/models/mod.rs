//! Fully connected models of sheets 02–04: logistic regression, the shallow network and the
//! L-layer network, built from [`Dense`] layers.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::ModuleT;
//! use dls_foundations::{models::{Mlp, MlpConfig}, Params};
//! let params = Params::new(0);
//! let cfg = MlpConfig { inputs: 4, hidden: vec![8], outputs: 3, ..Default::default() };
//! let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let logits = mlp.forward_t(&Tensor::zeros((5, 4), DType::F32, &Device::Cpu)?, false)?;
//! assert_eq!(logits.dims(), &[5, 3]);
//! assert_eq!(params.count(), 4 * 8 + 8 + 8 * 3 + 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dense;
mod logistic;
mod mlp;
mod shallow;

pub use dense::Dense;
pub use logistic::LogisticRegression;
pub use mlp::{Mlp, MlpConfig};
pub use shallow::{ShallowConfig, ShallowNet};
