//! Pieces shared by the architectures: convolution + batch norm (+ activation) and dropout.

use candle_core::{ModuleT, Tensor};
use candle_nn::VarBuilder;
use dls_foundations::activation::relu;
use dls_foundations::norm::{BatchNorm, BatchNormConfig};
use dls_foundations::regularize::Dropout;
use dls_foundations::SeededRng;

use crate::layers::{Conv2d, Conv2dConfig};
use crate::{Error, Result};

/// The activation after a [`ConvBn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// None (a linear bottleneck).
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `min(max(0, x), 6)` (MobileNet).
    Relu6,
}

impl Act {
    /// Applies the activation.
    ///
    /// # Errors
    /// Candle errors.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Act::Identity => Ok(x.clone()),
            Act::Relu => relu(x),
            Act::Relu6 => x.clamp(0f32, 6f32),
        }
    }
}

/// A bias-free convolution under `{vb}.{conv}`, batch norm under `{vb}.{bn}`, then an activation
/// (torchvision's `Conv2dNormActivation` when the names are `"0"` and `"1"`).
/// Input `[n, in, h, w]`, output `[n, out, h', w']`.
#[derive(Clone, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    act: Act,
}

impl ConvBn {
    /// Builds the pair; `cfg.bias` is ignored (batch norm supplies the shift).
    ///
    /// # Errors
    /// As [`Conv2d::new`] and [`BatchNorm::new`].
    pub fn new(vb: &VarBuilder, names: (&str, &str), cfg: Conv2dConfig, act: Act) -> Result<Self> {
        let conv = Conv2d::new(vb.pp(names.0), &cfg.no_bias())?;
        let bn = BatchNorm::new(vb.pp(names.1), cfg.out_channels, &BatchNormConfig::default())?;
        Ok(Self { conv, bn, act })
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = candle_core::Module::forward(&self.conv, x)?;
        match self.act {
            // One op in training: the ReLU's own pass and graph node are folded into the norm's.
            Act::Relu => self.bn.forward_relu_t(&y, train),
            act => act.apply(&self.bn.forward_t(&y, train)?),
        }
    }
}

/// Dropout that drops with probability `p` (torchvision's convention), seeded.
///
/// # Errors
/// [`Error::Invalid`] for `p` outside `[0, 1)`.
pub fn dropout(p: f64, seed: u64) -> Result<Dropout> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Invalid {
            what: "dropout".into(),
            message: format!("p must be in [0, 1), got {p}"),
        });
    }
    Ok(Dropout::new(1.0 - p, SeededRng::new(seed))?)
}
