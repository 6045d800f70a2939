//! Logistic regression as a one-neuron network (sheet 02).

use candle_core::Tensor;
use candle_nn::{Module, VarBuilder};

use crate::init::Init;
use crate::models::Dense;
use crate::Result;

/// `z = x w + b`: input `[n, features]`, output logits `[n, 1]` (apply a sigmoid for probabilities;
/// train with [`crate::loss::binary_cross_entropy_with_logits`]).
#[derive(Clone, Debug)]
pub struct LogisticRegression {
    linear: Dense,
}

impl LogisticRegression {
    /// A model over `features` inputs, weights zero as in the course (the loss is convex, so zero
    /// initialisation is fine here).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for zero features.
    pub fn new(vb: VarBuilder, features: usize) -> Result<Self> {
        Ok(Self { linear: Dense::new(vb, features, 1, Init::Zeros)? })
    }

    /// The weights `[1, features]`.
    pub fn weight(&self) -> &Tensor {
        self.linear.weight()
    }
}

impl Module for LogisticRegression {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.linear.forward(xs)
    }
}
