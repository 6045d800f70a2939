//! The L-layer network of sheet 04, with the options of sheets 06–08: He/Xavier initialisation,
//! inverted dropout and batch normalisation.

use candle_core::Tensor;
use candle_nn::{Module, ModuleT, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::init::Init;
use crate::models::Dense;
use crate::norm::{BatchNorm, BatchNormConfig};
use crate::regularize::Dropout;
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Sizes and options for an [`Mlp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input features (inputs of any shape `[n, ...]` are flattened to `[n, inputs]`).
    pub inputs: usize,
    /// Units of each hidden layer, in order; empty gives a linear model.
    pub hidden: Vec<usize>,
    /// Output units: classes for softmax, 1 for a binary task.
    pub outputs: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Weight initialisation for every layer.
    pub init: Init,
    /// Batch normalisation after each hidden linear layer (before the activation); those layers
    /// then have no bias, since batch norm's shift takes its place.
    pub batch_norm: bool,
    /// Probability of keeping a hidden unit in training (1.0 turns dropout off).
    pub keep_prob: f64,
    /// Seed of the dropout masks.
    pub dropout_seed: u64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            inputs: 64,
            hidden: vec![128, 64],
            outputs: 10,
            activation: Activation::Relu,
            init: Init::He,
            batch_norm: false,
            keep_prob: 1.0,
            dropout_seed: 0,
        }
    }
}

/// One hidden block: linear, optional batch norm, activation, optional dropout.
#[derive(Clone, Debug)]
struct Block {
    linear: Dense,
    norm: Option<BatchNorm>,
    activation: Activation,
    dropout: Option<Dropout>,
}

impl ModuleT for Block {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut h = self.linear.forward(xs)?;
        if let Some(bn) = &self.norm {
            h = bn.forward_t(&h, train)?;
        }
        h = self.activation.forward(&h)?;
        match &self.dropout {
            Some(d) => d.forward_t(&h, train),
            None => Ok(h),
        }
    }
}

/// An L-layer fully connected network: input `[n, ...]` (flattened), output logits `[n, outputs]`.
/// Parameters `layers.{i}.{weight,bias}` (no bias with batch norm), `norms.{i}.{weight,bias,running_mean,running_var}` and
/// `output.{weight,bias}`.
#[derive(Clone, Debug)]
pub struct Mlp {
    blocks: Vec<Block>,
    output: Dense,
    inputs: usize,
    rng: SeededRng,
}

impl Mlp {
    /// Builds the network.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size or a `keep_prob` outside `(0, 1]`.
    pub fn new(vb: VarBuilder, cfg: &MlpConfig) -> Result<Self> {
        let rng = SeededRng::new(cfg.dropout_seed);
        let mut blocks = Vec::with_capacity(cfg.hidden.len());
        let mut width = cfg.inputs;
        for (i, &units) in cfg.hidden.iter().enumerate() {
            let lvb = vb.pp(format!("layers.{i}"));
            // Batch norm's beta replaces the bias (the course: b[l] can be dropped).
            let linear = if cfg.batch_norm {
                Dense::without_bias(lvb, width, units, cfg.init)?
            } else {
                Dense::new(lvb, width, units, cfg.init)?
            };
            let norm = if cfg.batch_norm {
                Some(BatchNorm::new(vb.pp(format!("norms.{i}")), units, &BatchNormConfig::default())?)
            } else {
                None
            };
            let dropout =
                if cfg.keep_prob < 1.0 { Some(Dropout::new(cfg.keep_prob, rng.clone())?) } else { None };
            blocks.push(Block { linear, norm, activation: cfg.activation, dropout });
            width = units;
        }
        if !(cfg.keep_prob > 0.0 && cfg.keep_prob <= 1.0) {
            return Err(Error::invalid("keep_prob", format!("must be in (0, 1], got {}", cfg.keep_prob)));
        }
        let output = Dense::new(vb.pp("output"), width, cfg.outputs, cfg.init)?;
        Ok(Self { blocks, output, inputs: cfg.inputs, rng })
    }

    /// Weight matrices of every layer (no biases, no batch-norm scales), for an L2 penalty.
    pub fn weights(&self) -> Vec<Tensor> {
        self.blocks.iter().map(|b| b.linear.weight().clone()).chain([self.output.weight().clone()]).collect()
    }

    /// The stream dropout masks are drawn from; the fit loop saves and restores it.
    pub fn rng(&self) -> &SeededRng {
        &self.rng
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let n = xs.dim(0)?;
        if xs.elem_count() != n * self.inputs {
            candle_core::bail!("mlp expects {} features per example, got shape {:?}", self.inputs, xs.dims())
        }
        let mut h = xs.reshape((n, self.inputs))?;
        for b in &self.blocks {
            h = b.forward_t(&h, train)?;
        }
        self.output.forward(&h)
    }
}
