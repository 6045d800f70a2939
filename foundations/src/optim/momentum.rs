//! Gradient descent with momentum, in the course's form or PyTorch's.
//!
//! The course keeps an exponentially weighted average of the gradients,
//! `v = beta * v + (1 - beta) * g; w -= lr * v`, while PyTorch's `SGD(momentum=beta)` sums them,
//! `v = beta * v + g; w -= lr * v` (its steps are `1 / (1 - beta)` times larger for the same
//! `lr`). [`MomentumStyle`] picks one. Both start from `v = 0`.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::common::{decay_rate, detached, float_vars, non_negative, with_l2, zeros_for};
use super::state::{pack, slot_names, OptimizerState, StateReader, Stateful};
use crate::Result;

/// How the velocity accumulates gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MomentumStyle {
    /// The course's average: `v = beta * v + (1 - beta) * g`.
    #[default]
    Course,
    /// PyTorch's sum (dampening 0): `v = beta * v + g`.
    PyTorch,
}

/// Hyperparameters of [`Momentum`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentumConfig {
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// Velocity decay, in `[0, 1)` (default 0.9).
    pub beta: f64,
    /// L2 penalty added to the gradient before it enters the velocity (default 0).
    pub weight_decay: f64,
    /// The course's averaged velocity or PyTorch's summed one (default [`MomentumStyle::Course`]).
    pub dampening: MomentumStyle,
}

impl Default for MomentumConfig {
    fn default() -> Self {
        Self { lr: 0.01, beta: 0.9, weight_decay: 0.0, dampening: MomentumStyle::Course }
    }
}

/// Gradient descent with momentum; its state is one velocity `"v.<i>"` per variable.
#[derive(Debug)]
pub struct Momentum {
    vars: Vec<Var>,
    velocity: Vec<Tensor>,
    config: MomentumConfig,
    step: u64,
}

impl Momentum {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "momentum";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &MomentumConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
}

impl Optimizer for Momentum {
    type Config = MomentumConfig;

    fn new(vars: Vec<Var>, config: MomentumConfig) -> candle_core::Result<Self> {
        non_negative(Self::KIND, "lr", config.lr)?;
        decay_rate(Self::KIND, "beta", config.beta)?;
        non_negative(Self::KIND, "weight_decay", config.weight_decay)?;
        let vars = float_vars(vars, Self::KIND)?;
        Ok(Self { velocity: zeros_for(&vars)?, vars, config, step: 0 })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let MomentumConfig { lr, beta, weight_decay, dampening } = self.config;
        let g_scale = match dampening {
            MomentumStyle::Course => 1.0 - beta,
            MomentumStyle::PyTorch => 1.0,
        };
        for (var, v) in self.vars.iter().zip(self.velocity.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            let (p, g) = detached(var, grad);
            let g = with_l2(&p, g, weight_decay)?;
            let g = if g_scale == 1.0 { g } else { g.affine(g_scale, 0.0)? };
            *v = (v.affine(beta, 0.0)? + g)?;
            var.set(&(p - v.affine(lr, 0.0)?)?)?;
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

impl Stateful for Momentum {
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
