//! LeNet-5 (LeCun et al. 1998; sheet 17) in its modern form: two 5x5 convolutions with 6 and 16
//! filters, each followed by an activation and a 2x2 pool, then fully connected 120, 84 and the
//! classes. The parameters are `conv1`, `conv2`, `fc1`, `fc2`, `fc3` (`weight`, `bias`).
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use dls_foundations::Params;
//! use dls_vision::models::lenet::{LeNet5, LeNet5Config};
//! let params = Params::new(0);
//! let net = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &LeNet5Config::default())?;
//! let logits = net.forward(&Tensor::zeros((2, 1, 32, 32), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(logits.dims(), &[2, 10]);
//! assert_eq!(params.count(), 61_706); // the published figure for 32x32 inputs
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::activation::Activation;

use crate::conv::output_size;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{pool2d, Pool2dConfig, PoolKind};
use crate::{Error, Result};

/// Settings of [`LeNet5`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeNet5Config {
    /// Input channels (1 for grayscale).
    pub in_channels: usize,
    /// Input height and width.
    pub input_size: usize,
    /// Zero padding of the first convolution (2 turns 28x28 MNIST into LeNet's 32x32 geometry).
    pub padding: usize,
    /// Output classes.
    pub classes: usize,
    /// Activation after every convolution and hidden dense layer.
    pub activation: Activation,
    /// Max pooling (modern) or average pooling (closer to the original's subsampling).
    pub pool: PoolKind,
}

impl Default for LeNet5Config {
    /// 1x32x32 inputs, 10 classes, ReLU and max pooling.
    fn default() -> Self {
        Self {
            in_channels: 1,
            input_size: 32,
            padding: 0,
            classes: 10,
            activation: Activation::Relu,
            pool: PoolKind::Max,
        }
    }
}

impl LeNet5Config {
    /// The side of the feature map fed to `fc1` (5 for 32x32 inputs).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the input is too small for the two convolutions and pools.
    pub fn feature_size(&self) -> Result<usize> {
        let pad = crate::conv::Padding::Explicit { before: self.padding, after: self.padding };
        let s = output_size(self.input_size, 5, 1, 1, pad)?;
        let s = output_size(s, 2, 2, 1, crate::conv::Padding::Valid)?;
        let s = output_size(s, 5, 1, 1, crate::conv::Padding::Valid)?;
        output_size(s, 2, 2, 1, crate::conv::Padding::Valid)
    }
}

/// LeNet-5: input `[n, in_channels, input_size, input_size]`, output logits `[n, classes]`.
#[derive(Clone, Debug)]
pub struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    cfg: LeNet5Config,
}

impl LeNet5 {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero channels or classes or an input too small for the network.
    pub fn new(vb: VarBuilder, cfg: &LeNet5Config) -> Result<Self> {
        if cfg.in_channels == 0 || cfg.classes == 0 {
            return Err(Error::Invalid {
                what: "LeNet-5 config".into(),
                message: format!(
                    "{} input channels and {} classes must be > 0",
                    cfg.in_channels, cfg.classes
                ),
            });
        }
        let f = cfg.feature_size()?;
        let conv1 = Conv2d::new(vb.pp("conv1"), &Conv2dConfig::new(cfg.in_channels, 6, 5).pad(cfg.padding))?;
        let conv2 = Conv2d::new(vb.pp("conv2"), &Conv2dConfig::new(6, 16, 5))?;
        let fc1 = candle_nn::linear(16 * f * f, 120, vb.pp("fc1"))?;
        let fc2 = candle_nn::linear(120, 84, vb.pp("fc2"))?;
        let fc3 = candle_nn::linear(84, cfg.classes, vb.pp("fc3"))?;
        Ok(Self { conv1, conv2, fc1, fc2, fc3, cfg: *cfg })
    }

    /// The network's settings.
    pub fn config(&self) -> &LeNet5Config {
        &self.cfg
    }

    fn pool(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let cfg = Pool2dConfig { kind: self.cfg.pool, ..Pool2dConfig::max(2, 2, 0) };
        pool2d(x, &cfg).map_err(candle_core::Error::wrap)
    }
}

impl Module for LeNet5 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let act = &self.cfg.activation;
        let x = self.pool(&act.forward(&self.conv1.forward(x)?)?)?;
        let x = self.pool(&act.forward(&self.conv2.forward(&x)?)?)?;
        let x = x.flatten_from(1)?;
        let x = act.forward(&self.fc1.forward(&x)?)?;
        let x = act.forward(&self.fc2.forward(&x)?)?;
        self.fc3.forward(&x)
    }
}
