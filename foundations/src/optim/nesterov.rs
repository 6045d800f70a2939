//! Nesterov accelerated gradient in PyTorch's formulation (`SGD(momentum=beta, nesterov=True)`).
//!
//! With `g` the gradient (plus the L2 term): `v = beta * v + g; w -= lr * (g + beta * v)`, starting
//! from `v = 0`. The step looks ahead along the velocity instead of following it.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::common::{decay_rate, detached, float_vars, non_negative, with_l2, zeros_for};
use super::state::{pack, slot_names, OptimizerState, StateReader, Stateful};
use crate::Result;

/// Hyperparameters of [`Nesterov`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NesterovConfig {
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// Velocity decay, in `[0, 1)` (default 0.9).
    pub beta: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
}

impl Default for NesterovConfig {
    fn default() -> Self {
        Self { lr: 0.01, beta: 0.9, weight_decay: 0.0 }
    }
}

/// Nesterov momentum; its state is one velocity `"v.<i>"` per variable.
#[derive(Debug)]
pub struct Nesterov {
    vars: Vec<Var>,
    velocity: Vec<Tensor>,
    config: NesterovConfig,
    step: u64,
}

impl Nesterov {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "nesterov";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &NesterovConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
}

impl Optimizer for Nesterov {
    type Config = NesterovConfig;

    fn new(vars: Vec<Var>, config: NesterovConfig) -> candle_core::Result<Self> {
        non_negative(Self::KIND, "lr", config.lr)?;
        decay_rate(Self::KIND, "beta", config.beta)?;
        non_negative(Self::KIND, "weight_decay", config.weight_decay)?;
        let vars = float_vars(vars, Self::KIND)?;
        Ok(Self { velocity: zeros_for(&vars)?, vars, config, step: 0 })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let NesterovConfig { lr, beta, weight_decay } = self.config;
        for (var, v) in self.vars.iter().zip(self.velocity.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            let (p, g) = detached(var, grad);
            let g = with_l2(&p, g, weight_decay)?;
            *v = (v.affine(beta, 0.0)? + &g)?;
            let d = (g + v.affine(beta, 0.0)?)?;
            var.set(&(p - d.affine(lr, 0.0)?)?)?;
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

impl Stateful for Nesterov {
    fn state(&self) -> Result<OptimizerState> {
        Ok(OptimizerState {
            kind: Self::KIND.to_string(),
            step: self.step,
            learning_rate: self.config.lr,
            tensors: pack(&[("v", &self.velocity)]),
        })
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let reader = StateReader::open(state, Self::KIND, slot_names("v", self.vars.len()))?;
        self.velocity = reader.slot("v", &self.vars)?;
        self.step = state.step;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}
