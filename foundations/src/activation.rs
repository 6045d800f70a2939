//! Activation functions (sheet 03): sigmoid, tanh, ReLU, leaky ReLU, softmax.
//!
//! Every function here has a gradient in candle's autograd (checked in `tests/gradcheck.rs`); the
//! softmax is written with [`candle_nn::ops::softmax`] because the fused `softmax_last_dim` has no
//! backward pass.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_nn::Module;
//! use dls_foundations::activation::Activation;
//! let x = Tensor::new(&[-2f32, 0.0, 3.0], &Device::Cpu)?;
//! let y = Activation::LeakyRelu.forward(&x)?.to_vec1::<f32>()?;
//! assert_eq!(y, vec![-0.02, 0.0, 3.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// Slope of [`Activation::LeakyRelu`] for negative inputs.
pub const LEAKY_SLOPE: f64 = 0.01;

/// An element-wise non-linearity; input and output have the same shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(0, x)`: the default for hidden layers.
    #[default]
    Relu,
    /// `x` for `x > 0`, else `0.01 x`.
    LeakyRelu,
    /// `tanh(x)`: zero-centred, the course's choice for the shallow network.
    Tanh,
    /// `1 / (1 + e^-x)`: for binary outputs.
    Sigmoid,
    /// The identity (a linear layer).
    Identity,
}

impl Activation {
    /// Parses a name such as `"relu"`, `"leaky_relu"`, `"tanh"`, `"sigmoid"`, `"identity"`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for an unknown name.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "relu" => Self::Relu,
            "leaky_relu" | "leakyrelu" | "leaky-relu" => Self::LeakyRelu,
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "identity" | "linear" | "none" => Self::Identity,
            other => {
                return Err(crate::Error::invalid("activation", format!("unknown activation {other:?}")))
            }
        })
    }
}

impl candle_nn::Module for Activation {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Relu => xs.relu(),
            Self::LeakyRelu => candle_nn::ops::leaky_relu(xs, LEAKY_SLOPE),
            Self::Tanh => xs.tanh(),
            Self::Sigmoid => candle_nn::ops::sigmoid(xs),
            Self::Identity => Ok(xs.clone()),
        }
    }
}

/// Softmax over the last dimension, differentiable (`[.., k] -> [.., k]`, rows sum to 1).
///
/// # Errors
/// Propagates candle errors (for instance a rank-0 input).
pub fn softmax(xs: &Tensor) -> crate::Result<Tensor> {
    Ok(candle_nn::ops::softmax(xs, D::Minus1)?)
}
