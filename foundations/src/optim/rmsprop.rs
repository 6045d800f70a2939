//! RMSprop: divide each step by a running root-mean-square of the gradients.
//!
//! `s = beta * s + (1 - beta) * g^2; w -= lr * g / (sqrt(s) + eps)`, starting from `s = 0`:
//! PyTorch's `RMSprop` (non-centred, no momentum), with `eps` outside the square root. The course
//! writes `beta` (often 0.999) where PyTorch writes `alpha` (default 0.99).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::common::{decay_rate, detached, float_vars, non_negative, with_l2, zeros_for};
use super::state::{pack, slot_names, OptimizerState, StateReader, Stateful};
use crate::Result;

/// Hyperparameters of [`RmsProp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmsPropConfig {
    /// Learning rate (default 0.001).
    pub lr: f64,
    /// Decay of the squared-gradient average, in `[0, 1)` (default 0.999, the course's; PyTorch: 0.99).
    pub beta: f64,
    /// Added to the root mean square to avoid dividing by zero (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        Self { lr: 0.001, beta: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// RMSprop; its state is one squared-gradient average `"s.<i>"` per variable.
#[derive(Debug)]
pub struct RmsProp {
    vars: Vec<Var>,
    square_avg: Vec<Tensor>,
    config: RmsPropConfig,
    step: u64,
}

impl RmsProp {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "rmsprop";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
}

impl Optimizer for RmsProp {
    type Config = RmsPropConfig;

    fn new(vars: Vec<Var>, config: RmsPropConfig) -> candle_core::Result<Self> {
        non_negative(Self::KIND, "lr", config.lr)?;
        decay_rate(Self::KIND, "beta", config.beta)?;
        non_negative(Self::KIND, "eps", config.eps)?;
        non_negative(Self::KIND, "weight_decay", config.weight_decay)?;
        let vars = float_vars(vars, Self::KIND)?;
        Ok(Self { square_avg: zeros_for(&vars)?, vars, config, step: 0 })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let RmsPropConfig { lr, beta, eps, weight_decay } = self.config;
        for (var, s) in self.vars.iter().zip(self.square_avg.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            let (p, g) = detached(var, grad);
            let g = with_l2(&p, g, weight_decay)?;
            *s = (s.affine(beta, 0.0)? + g.sqr()?.affine(1.0 - beta, 0.0)?)?;
            let denom = s.sqrt()?.affine(1.0, eps)?;
            var.set(&(p - (g / denom)?.affine(lr, 0.0)?)?)?;
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

impl Stateful for RmsProp {
    fn state(&self) -> Result<OptimizerState> {
        Ok(OptimizerState {
            kind: Self::KIND.to_string(),
            step: self.step,
            learning_rate: self.config.lr,
            tensors: pack(&[("s", &self.square_avg)]),
        })
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let reader = StateReader::open(state, Self::KIND, slot_names("s", self.vars.len()))?;
        self.square_avg = reader.slot("s", &self.vars)?;
        self.step = state.step;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}
