//! Neural style transfer (sheet 22; Gatys, Ecker & Bethge 2015): generate an image whose VGG-19
//! activations match a content photo's at one deep layer and whose Gram matrices (channel
//! correlations) match a style photo's at several layers, by gradient descent on the pixels.
//!
//! - [`vgg19`]: the feature extractor (constant weights from safetensors, validated), Caffe
//!   preprocessing, activations of chosen layers only;
//! - [`cost`]: Gram matrix, content, style and total-variation costs, with the course's
//!   normalisations;
//! - [`transfer`]: the settings ([`StyleTransfer`]) and the optimisation loop (Adam or L-BFGS);
//! - [`lbfgs`]: L-BFGS for any tensor; [`FrozenConv`]: a convolution + ReLU differentiated with
//!   respect to its input only.
//!
//! The Gram matrix of two channels over a 2-pixel map, `A = [[1, 2], [3, 4]]`, is `A Aᵀ`:
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::style::cost::gram;
//! let a = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?; // [n_C = 2, n_H n_W = 2]
//! let g = gram(&a)?.to_vec2::<f32>()?;
//! assert_eq!(g, [[5.0, 11.0], [11.0, 25.0]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cost;
mod frozen;
pub mod lbfgs;
pub mod transfer;
pub mod vgg19;

pub use frozen::FrozenConv;
pub use transfer::{fit_pair, Costs, Method, Outcome, StyleTransfer};
pub use vgg19::{deprocess, preprocess, LayerId, VggFeatures, VggFeaturesConfig, CAFFE_MEAN_BGR};
