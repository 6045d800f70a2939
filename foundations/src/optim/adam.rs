//! Adam and AdamW: momentum and RMSprop together, with bias-corrected moments.
//!
//! For each variable, at its `t`-th update (PyTorch's order of operations, so results match
//! `torch.optim.Adam`/`AdamW`):
//!
//! ```text
//! m = m + (1 - beta1) (g - m)            v = beta2 v + (1 - beta2) g^2
//! w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! [`Adam`] folds its `weight_decay` into the gradient as an L2 term (`g + wd * w`); [`AdamW`]
//! decouples it, shrinking the weights first (`w *= 1 - lr * wd`) and leaving the moments alone.
//! As in PyTorch, `t` counts the updates each variable actually received: a variable with no
//! gradient in a step is skipped and its count does not advance.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::common::{decay_rate, detached, float_vars, non_negative, with_l2, zeros_for};
use super::fused;
use super::state::{pack, slot_names, OptimizerState, StateReader, Stateful};
use crate::{Error, Result};

/// Hyperparameters of [`Adam`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    /// Learning rate (default 0.001).
    pub lr: f64,
    /// Decay of the gradient average, in `[0, 1)` (default 0.9).
    pub beta1: f64,
    /// Decay of the squared-gradient average, in `[0, 1)` (default 0.999).
    pub beta2: f64,
    /// Added to the denominator to avoid dividing by zero (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient, `g + weight_decay * w` (default 0).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// Hyperparameters of [`AdamW`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamWConfig {
    /// Learning rate (default 0.001).
    pub lr: f64,
    /// Decay of the gradient average, in `[0, 1)` (default 0.9).
    pub beta1: f64,
    /// Decay of the squared-gradient average, in `[0, 1)` (default 0.999).
    pub beta2: f64,
    /// Added to the denominator to avoid dividing by zero (default 1e-8).
    pub eps: f64,
    /// Decoupled decay: each step first scales the weights by `1 - lr * weight_decay` (default 0.01).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// Hyperparameters of one update, shared by both variants.
#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    l2: f64,
    decoupled: f64,
}

impl Hyper {
    fn validate(&self, kind: &str) -> candle_core::Result<()> {
        non_negative(kind, "lr", self.lr)?;
        decay_rate(kind, "beta1", self.beta1)?;
        decay_rate(kind, "beta2", self.beta2)?;
        non_negative(kind, "eps", self.eps)?;
        non_negative(kind, "weight_decay", self.l2)?;
        non_negative(kind, "weight_decay", self.decoupled)
    }
}

/// The moments and per-variable step counts both variants keep.
#[derive(Debug)]
struct Moments {
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    counts: Vec<u64>,
    step: u64,
}

impl Moments {
    fn new(vars: Vec<Var>, kind: &str) -> candle_core::Result<Self> {
        let vars = float_vars(vars, kind)?;
        let counts = vec![0; vars.len()];
        Ok(Self { m: zeros_for(&vars)?, v: zeros_for(&vars)?, vars, counts, step: 0 })
    }

    fn step(&mut self, grads: &GradStore, h: Hyper) -> candle_core::Result<()> {
        let w1 = 1.0 - h.beta1;
        let slots = self.m.iter_mut().zip(self.v.iter_mut()).zip(self.counts.iter_mut());
        for (var, ((m, v), count)) in self.vars.iter().zip(slots) {
            let Some(grad) = grads.get(var) else { continue };
            *count += 1;
            let t = *count as f64;
            let step_size = h.lr / (1.0 - h.beta1.powf(t));
            let bias2_sqrt = (1.0 - h.beta2.powf(t)).sqrt();
            if fused::supported(var) && grad.dtype() == var.dtype() && m.is_contiguous() && v.is_contiguous()
            {
                let (p, g) = (var.as_tensor(), grad.contiguous()?);
                m.inplace_op3(&g, p, &fused::FirstMoment { w1, l2: h.l2 })?;
                v.inplace_op3(&g, p, &fused::SecondMoment { beta2: h.beta2, l2: h.l2 })?;
                let update = fused::Parameter {
                    step_size,
                    inv_bias2_sqrt: 1.0 / bias2_sqrt,
                    eps: h.eps,
                    decay: h.lr * h.decoupled,
                };
                p.inplace_op3(m, v, &update)?;
                continue;
            }
            // Reference path (other dtypes and devices): the same arithmetic as candle ops.
            let (p, g) = detached(var, grad);
            let p = if h.decoupled == 0.0 { p } else { p.affine(1.0 - h.lr * h.decoupled, 0.0)? };
            let g = with_l2(&p, g, h.l2)?;
            // torch.lerp's two branches, for the same rounding as exp_avg.lerp_(grad, 1 - beta1).
            let diff = (&g - &*m)?;
            *m =
                if w1 < 0.5 { (&*m + diff.affine(w1, 0.0)?)? } else { (&g - diff.affine(1.0 - w1, 0.0)?)? };
            *v = (v.affine(h.beta2, 0.0)? + g.sqr()?.affine(1.0 - h.beta2, 0.0)?)?;
            let denom = v.sqrt()?.affine(1.0 / bias2_sqrt, h.eps)?;
            var.set(&(p - (&*m / denom)?.affine(step_size, 0.0)?)?)?;
        }
        self.step += 1;
        Ok(())
    }

    fn state(&self, kind: &str, lr: f64) -> Result<OptimizerState> {
        let counts: Vec<f64> = self.counts.iter().map(|&c| c as f64).collect();
        let counts = Tensor::from_vec(counts, self.counts.len(), &Device::Cpu)?;
        // Copies: the fused update writes into m and v in place, and an exported state must not change.
        let copy = |ts: &[Tensor]| ts.iter().map(Tensor::copy).collect::<candle_core::Result<Vec<_>>>();
        let (m, v) = (copy(&self.m)?, copy(&self.v)?);
        let mut tensors = pack(&[("m", &m), ("v", &v)]);
        tensors.push(("step".to_string(), counts));
        Ok(OptimizerState { kind: kind.to_string(), step: self.step, learning_rate: lr, tensors })
    }

    /// Loads `state`, returning its learning rate.
    fn load(&mut self, state: &OptimizerState, kind: &'static str) -> Result<f64> {
        let n = self.vars.len();
        let names = slot_names("m", n).chain(slot_names("v", n)).chain(std::iter::once("step".to_string()));
        let reader = StateReader::open(state, kind, names)?;
        // Own copies, for the same reason as in `state`.
        let own = |ts: Vec<Tensor>| {
            ts.iter().map(|t| t.contiguous()?.copy()).collect::<candle_core::Result<Vec<_>>>()
        };
        let m = own(reader.slot("m", &self.vars)?)?;
        let v = own(reader.slot("v", &self.vars)?)?;
        let counts = reader.tensor("step", &[n], DType::F64, &Device::Cpu)?.to_vec1::<f64>()?;
        let counts = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if c.is_finite() && c >= 0.0 && c.fract() == 0.0 {
                    Ok(c as u64)
                } else {
                    Err(Error::invalid(
                        format!("{kind} optimizer state tensor \"step\""),
                        format!("entry {i} must be a whole number >= 0, got {c}"),
                    ))
                }
            })
            .collect::<Result<Vec<u64>>>()?;
        (self.m, self.v, self.counts, self.step) = (m, v, counts, state.step);
        Ok(state.learning_rate)
    }
}

/// Adam with L2 weight decay; state `"m.<i>"`, `"v.<i>"` and the per-variable counts `"step"`.
#[derive(Debug)]
pub struct Adam {
    moments: Moments,
    config: AdamConfig,
}

impl Adam {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "adam";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.moments.vars
    }

    fn hyper(&self) -> Hyper {
        let c = &self.config;
        Hyper { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, l2: c.weight_decay, decoupled: 0.0 }
    }
}

impl Optimizer for Adam {
    type Config = AdamConfig;

    fn new(vars: Vec<Var>, config: AdamConfig) -> candle_core::Result<Self> {
        let opt = Self { moments: Moments::new(vars, Self::KIND)?, config };
        opt.hyper().validate(Self::KIND)?;
        Ok(opt)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let h = self.hyper();
        self.moments.step(grads, h)
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}

impl Stateful for Adam {
    fn state(&self) -> Result<OptimizerState> {
        self.moments.state(Self::KIND, self.config.lr)
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.config.lr = self.moments.load(state, Self::KIND)?;
        Ok(())
    }
}

/// AdamW (decoupled weight decay); state `"m.<i>"`, `"v.<i>"` and the per-variable counts `"step"`.
#[derive(Debug)]
pub struct AdamW {
    moments: Moments,
    config: AdamWConfig,
}

impl AdamW {
    /// The name written into [`OptimizerState::kind`].
    pub const KIND: &'static str = "adamw";

    /// The current hyperparameters (the learning rate follows `set_learning_rate`).
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// The variables this optimiser updates, in the order used to name its state.
    pub fn vars(&self) -> &[Var] {
        &self.moments.vars
    }

    fn hyper(&self) -> Hyper {
        let c = &self.config;
        Hyper { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, l2: 0.0, decoupled: c.weight_decay }
    }
}

impl Optimizer for AdamW {
    type Config = AdamWConfig;

    fn new(vars: Vec<Var>, config: AdamWConfig) -> candle_core::Result<Self> {
        let opt = Self { moments: Moments::new(vars, Self::KIND)?, config };
        opt.hyper().validate(Self::KIND)?;
        Ok(opt)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let h = self.hyper();
        self.moments.step(grads, h)
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}

impl Stateful for AdamW {
    fn state(&self) -> Result<OptimizerState> {
        self.moments.state(Self::KIND, self.config.lr)
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.config.lr = self.moments.load(state, Self::KIND)?;
        Ok(())
    }
}
