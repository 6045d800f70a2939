//! A network with one hidden layer (sheet 03).

use candle_core::Tensor;
use candle_nn::{Module, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::init::Init;
use crate::models::Dense;
use crate::Result;

/// Sizes and choices for a [`ShallowNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShallowConfig {
    /// Input features.
    pub inputs: usize,
    /// Hidden units (the course's `n_h = 4`).
    pub hidden: usize,
    /// Output units (1 for a binary task).
    pub outputs: usize,
    /// Hidden activation (the course uses tanh).
    pub activation: Activation,
    /// Weight initialisation (the course: small random, `randn * 0.01`).
    pub init: Init,
}

impl Default for ShallowConfig {
    fn default() -> Self {
        Self {
            inputs: 2,
            hidden: 4,
            outputs: 1,
            activation: Activation::Tanh,
            init: Init::Random { scale: 0.01 },
        }
    }
}

/// `x -> activation(x W1^T + b1) W2^T + b2`: input `[n, inputs]`, output logits `[n, outputs]`.
/// Parameters `hidden.{weight,bias}` and `output.{weight,bias}`.
#[derive(Clone, Debug)]
pub struct ShallowNet {
    hidden: Dense,
    output: Dense,
    activation: Activation,
}

impl ShallowNet {
    /// Builds the network.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a zero size.
    pub fn new(vb: VarBuilder, cfg: &ShallowConfig) -> Result<Self> {
        Ok(Self {
            hidden: Dense::new(vb.pp("hidden"), cfg.inputs, cfg.hidden, cfg.init)?,
            output: Dense::new(vb.pp("output"), cfg.hidden, cfg.outputs, cfg.init)?,
            activation: cfg.activation,
        })
    }

    /// Weight matrices of both layers, for an L2 penalty.
    pub fn weights(&self) -> Vec<Tensor> {
        vec![self.hidden.weight().clone(), self.output.weight().clone()]
    }
}

impl Module for ShallowNet {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.activation.forward(&self.hidden.forward(xs)?)?;
        self.output.forward(&h)
    }
}
