//! # dls-vision
//!
//! Sheets 14–22 of the Deep Learning Specialization on candle: convolutional networks, detection,
//! face recognition and style transfer. This first module holds the convolution arithmetic of
//! sheets 14–16; the layers and architectures follow (see the project's issues).

pub mod conv;
pub mod error;

pub use error::{Error, Result};
