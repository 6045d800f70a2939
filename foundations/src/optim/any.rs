//! Pick an optimiser by value: for examples, command lines and hyperparameter search.
//!
//! [`OptimizerConfig`] serialises with a `kind` tag, `{"kind": "adam", "lr": 0.001, ...}`, and
//! missing fields take their defaults, so `{"kind": "momentum"}` is a complete configuration.

use candle_core::backprop::GradStore;
use candle_core::Var;
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::{
    Adam, AdamConfig, AdamW, AdamWConfig, Momentum, MomentumConfig, Nesterov, NesterovConfig, OptimizerState,
    RmsProp, RmsPropConfig, Sgd, SgdConfig, Stateful,
};
use crate::Result;

/// The configuration of any of the optimisers; its variant picks which one [`AnyOptimizer`] builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Plain gradient descent.
    Sgd(SgdConfig),
    /// Momentum (course or PyTorch style).
    Momentum(MomentumConfig),
    /// Nesterov momentum.
    Nesterov(NesterovConfig),
    /// RMSprop.
    RmsProp(RmsPropConfig),
    /// Adam with L2 weight decay.
    Adam(AdamConfig),
    /// Adam with decoupled weight decay.
    AdamW(AdamWConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(AdamConfig::default())
    }
}

impl OptimizerConfig {
    /// The optimiser's name, as written in [`OptimizerState::kind`] (`"sgd"`, ..., `"adamw"`).
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => Sgd::KIND,
            OptimizerConfig::Momentum(_) => Momentum::KIND,
            OptimizerConfig::Nesterov(_) => Nesterov::KIND,
            OptimizerConfig::RmsProp(_) => RmsProp::KIND,
            OptimizerConfig::Adam(_) => Adam::KIND,
            OptimizerConfig::AdamW(_) => AdamW::KIND,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Momentum(c) => c.lr,
            OptimizerConfig::Nesterov(c) => c.lr,
            OptimizerConfig::RmsProp(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::AdamW(c) => c.lr,
        }
    }

    /// The same configuration with learning rate `lr` (for learning-rate search).
    pub fn with_lr(mut self, lr: f64) -> Self {
        match &mut self {
            OptimizerConfig::Sgd(c) => c.lr = lr,
            OptimizerConfig::Momentum(c) => c.lr = lr,
            OptimizerConfig::Nesterov(c) => c.lr = lr,
            OptimizerConfig::RmsProp(c) => c.lr = lr,
            OptimizerConfig::Adam(c) => c.lr = lr,
            OptimizerConfig::AdamW(c) => c.lr = lr,
        }
        self
    }
}

/// Any of the optimisers, chosen at run time by an [`OptimizerConfig`].
#[derive(Debug)]
pub enum AnyOptimizer {
    /// Plain gradient descent.
    Sgd(Sgd),
    /// Momentum.
    Momentum(Momentum),
    /// Nesterov momentum.
    Nesterov(Nesterov),
    /// RMSprop.
    RmsProp(RmsProp),
    /// Adam.
    Adam(Adam),
    /// AdamW.
    AdamW(AdamW),
}

/// Runs `$body` with `$o` bound to the inner optimiser, whatever the variant.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            AnyOptimizer::Sgd($o) => $body,
            AnyOptimizer::Momentum($o) => $body,
            AnyOptimizer::Nesterov($o) => $body,
            AnyOptimizer::RmsProp($o) => $body,
            AnyOptimizer::Adam($o) => $body,
            AnyOptimizer::AdamW($o) => $body,
        }
    };
}

impl AnyOptimizer {
    /// The inner optimiser's name (`"sgd"`, ..., `"adamw"`).
    pub fn name(&self) -> &'static str {
        match self {
            AnyOptimizer::Sgd(_) => Sgd::KIND,
            AnyOptimizer::Momentum(_) => Momentum::KIND,
            AnyOptimizer::Nesterov(_) => Nesterov::KIND,
            AnyOptimizer::RmsProp(_) => RmsProp::KIND,
            AnyOptimizer::Adam(_) => Adam::KIND,
            AnyOptimizer::AdamW(_) => AdamW::KIND,
        }
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        each!(self, o => o.vars())
    }
}

impl Optimizer for AnyOptimizer {
    type Config = OptimizerConfig;

    fn new(vars: Vec<Var>, config: OptimizerConfig) -> candle_core::Result<Self> {
        Ok(match config {
            OptimizerConfig::Sgd(c) => AnyOptimizer::Sgd(Sgd::new(vars, c)?),
            OptimizerConfig::Momentum(c) => AnyOptimizer::Momentum(Momentum::new(vars, c)?),
            OptimizerConfig::Nesterov(c) => AnyOptimizer::Nesterov(Nesterov::new(vars, c)?),
            OptimizerConfig::RmsProp(c) => AnyOptimizer::RmsProp(RmsProp::new(vars, c)?),
            OptimizerConfig::Adam(c) => AnyOptimizer::Adam(Adam::new(vars, c)?),
            OptimizerConfig::AdamW(c) => AnyOptimizer::AdamW(AdamW::new(vars, c)?),
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        each!(self, o => o.step(grads))
    }

    fn learning_rate(&self) -> f64 {
        each!(self, o => o.learning_rate())
    }

    fn set_learning_rate(&mut self, lr: f64) {
        each!(self, o => o.set_learning_rate(lr))
    }
}

impl Stateful for AnyOptimizer {
    fn state(&self) -> Result<OptimizerState> {
        each!(self, o => o.state())
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        each!(self, o => o.load_state(state))
    }
}
