//! The classic convolutional networks of sheets 17–18. Parameter names follow torchvision's, so
//! its published safetensors load without renaming.
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, lenet::{LeNet5, LeNet5Config}};
//! // Counting builds the network over shape-only stand-ins: no memory for the weights.
//! let shapes = count_parameters(DType::F32, |vb| LeNet5::new(vb, &LeNet5Config::default()))?;
//! assert_eq!(shapes.total(), 61_706);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod blocks;
mod count;
pub mod inception;
pub mod lenet;
pub mod mobilenet;
pub mod mobilenet_v1;
pub mod nin;
pub mod resnet;
pub mod vgg;

pub use blocks::{dropout, Act, ConvBn};
pub use count::{count_parameters, ParameterShapes};
