//! Plain stochastic gradient descent: `w -= lr * (g + weight_decay * w)`.
//!
//! On CPU the update is one in-place pass per parameter ([`fused`]); the tensor-op reference
//! (an affine, a subtraction and a copy, each over the whole parameter) takes other devices.

use candle_core::backprop::GradStore;
use candle_core::Var;
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::common::{detached, float_vars, non_negative, with_l2};
use super::fused;
use super::state::{OptimizerState, StateReader, Stateful};
use crate::Result;

/// Hyperparameters of [`Sgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SgdConfig {
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// L2 penalty added to the gradient, `g + weight_decay * w` (PyTorch's `weight_decay`; default 0).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self { lr: 0.01, weight_decay: 0.0 }
    }
}

/// Stochastic gradient descent (PyTorch's `SGD` without momentum).
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    config: SgdConfig,
    step: u64,
}

impl Sgd {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "sgd";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
}

impl Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(vars: Vec<Var>, config: SgdConfig) -> candle_core::Result<Self> {
        non_negative(Self::KIND, "lr", config.lr)?;
        non_negative(Self::KIND, "weight_decay", config.weight_decay)?;
        Ok(Self { vars: float_vars(vars, Self::KIND)?, config, step: 0 })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for var in &self.vars {
            let Some(grad) = grads.get(var) else { continue };
            if fused::supported(var) && grad.dtype() == var.dtype() {
                let update = fused::SgdUpdate { lr: self.config.lr, l2: self.config.weight_decay };
                var.as_tensor().inplace_op2(&grad.contiguous()?, &update)?;
                continue;
            }
            // Reference path (other dtypes and devices): the same arithmetic as candle ops.
            let (p, g) = detached(var, grad);
            let g = with_l2(&p, g, self.config.weight_decay)?;
            var.set(&(p - g.affine(self.config.lr, 0.0)?)?)?;
        }
        self.step += 1;
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}

impl Stateful for Sgd {
    fn state(&self) -> Result<OptimizerState> {
        Ok(OptimizerState {
            kind: Self::KIND.to_string(),
            step: self.step,
            learning_rate: self.config.lr,
            tensors: Vec::new(),
        })
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        StateReader::open(state, Self::KIND, std::iter::empty())?;
        self.step = state.step;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}
