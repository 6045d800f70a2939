//! VGG-16 (Simonyan & Zisserman 2014; sheet 17) and AlexNet (Krizhevsky et al. 2012) in
//! torchvision's layout: a `features` sequence of convolutions, ReLUs and max pools, adaptive
//! average pooling, and a `classifier` of dense layers with dropout. Parameter names are the
//! sequence indices torchvision uses (`features.0`, ..., `classifier.6`).
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, vgg::{Vgg, VggConfig}};
//! let shapes = count_parameters(DType::F32, |vb| Vgg::new(vb, &VggConfig::vgg16()))?;
//! assert_eq!(shapes.total(), 138_357_544);
//! assert_eq!(shapes.get("features.28.weight"), Some(&[512, 512, 3, 3][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::activation::relu;
use dls_foundations::regularize::Dropout;

use super::blocks::dropout;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{adaptive_avg_pool, pool2d, Pool2dConfig};
use crate::{Error, Result};

/// One entry of a `features` sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// A convolution to `out` channels (kernel, stride, padding), followed by a ReLU.
    Conv {
        /// Output channels.
        out: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Symmetric padding.
        pad: usize,
    },
    /// Max pooling (kernel, stride).
    Pool {
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
}

/// Settings of a [`Vgg`]-style network.
#[derive(Clone, Debug, PartialEq)]
pub struct VggConfig {
    /// The `features` sequence.
    pub features: Vec<Feature>,
    /// Side of the adaptive average pool before the classifier (7 for VGG, 6 for AlexNet).
    pub pooled: usize,
    /// Width of the two hidden dense layers.
    pub hidden: usize,
    /// Output classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Dropout probability in the classifier.
    pub dropout: f64,
    /// Whether dropout comes before each hidden dense layer (AlexNet) or after (VGG).
    pub dropout_first: bool,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl VggConfig {
    /// VGG-16 for 224x224 ImageNet (138,357,544 parameters).
    pub fn vgg16() -> Self {
        let conv = |out| Feature::Conv { out, kernel: 3, stride: 1, pad: 1 };
        let pool = Feature::Pool { kernel: 2, stride: 2 };
        let mut features = Vec::new();
        for (width, n) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
            features.extend(std::iter::repeat_n(conv(width), n));
            features.push(pool);
        }
        Self {
            features,
            pooled: 7,
            hidden: 4096,
            classes: 1000,
            in_channels: 3,
            dropout: 0.5,
            dropout_first: false,
            seed: 0,
        }
    }

    /// AlexNet as torchvision builds it for 224x224 ImageNet (61,100,840 parameters).
    pub fn alexnet() -> Self {
        let conv = |out, kernel, stride, pad| Feature::Conv { out, kernel, stride, pad };
        let pool = Feature::Pool { kernel: 3, stride: 2 };
        let features = vec![
            conv(64, 11, 4, 2),
            pool,
            conv(192, 5, 1, 2),
            pool,
            conv(384, 3, 1, 1),
            conv(256, 3, 1, 1),
            conv(256, 3, 1, 1),
            pool,
        ];
        Self { features, pooled: 6, dropout_first: true, ..Self::vgg16() }
    }
}

#[derive(Clone, Debug)]
enum Layer {
    Conv(Conv2d),
    Pool(Pool2dConfig),
}

/// A plain convolutional network: input `[n, in_channels, h, w]`, logits `[n, classes]`.
#[derive(Clone, Debug)]
pub struct Vgg {
    features: Vec<Layer>,
    pooled: usize,
    fc: [Linear; 3],
    drop: [Dropout; 2],
    dropout_first: bool,
}

impl Vgg {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero sizes or a dropout outside `[0, 1)`.
    pub fn new(vb: VarBuilder, cfg: &VggConfig) -> Result<Self> {
        if cfg.classes == 0 || cfg.in_channels == 0 || cfg.hidden == 0 || cfg.pooled == 0 {
            return Err(Error::Invalid {
                what: "VGG config".into(),
                message: format!("zero size in {cfg:?}"),
            });
        }
        let mut features = Vec::new();
        let (mut index, mut channels) = (0, cfg.in_channels);
        for f in &cfg.features {
            match *f {
                Feature::Conv { out, kernel, stride, pad } => {
                    let c = Conv2dConfig::new(channels, out, kernel).stride(stride).pad(pad);
                    features.push(Layer::Conv(Conv2d::new(vb.pp(format!("features.{index}")), &c)?));
                    channels = out;
                    index += 2; // the convolution and its ReLU
                }
                Feature::Pool { kernel, stride } => {
                    features.push(Layer::Pool(Pool2dConfig::max(kernel, stride, 0)));
                    index += 1;
                }
            }
        }
        let flat = channels * cfg.pooled * cfg.pooled;
        // torchvision: VGG = [Linear, ReLU, Dropout] x 2 + Linear; AlexNet = [Dropout, Linear, ReLU] x 2 + Linear.
        let idx = if cfg.dropout_first { [1, 4, 6] } else { [0, 3, 6] };
        let sizes = [(flat, cfg.hidden), (cfg.hidden, cfg.hidden), (cfg.hidden, cfg.classes)];
        let mut fc = Vec::with_capacity(3);
        for (i, (a, b)) in idx.iter().zip(sizes) {
            fc.push(candle_nn::linear(a, b, vb.pp(format!("classifier.{i}")))?);
        }
        let fc: [Linear; 3] = fc.try_into().map_err(|_| Error::Invalid {
            what: "VGG classifier".into(),
            message: "expected three dense layers".into(),
        })?;
        let drop = [dropout(cfg.dropout, cfg.seed)?, dropout(cfg.dropout, cfg.seed.wrapping_add(1))?];
        Ok(Self { features, pooled: cfg.pooled, fc, drop, dropout_first: cfg.dropout_first })
    }
}

impl ModuleT for Vgg {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let wrap = candle_core::Error::wrap;
        let mut y = x.clone();
        for layer in &self.features {
            y = match layer {
                Layer::Conv(c) => relu(&c.forward(&y)?)?,
                Layer::Pool(p) => pool2d(&y, p).map_err(wrap)?,
            };
        }
        let mut y = adaptive_avg_pool(&y, self.pooled).map_err(wrap)?.flatten_from(1)?;
        for (fc, drop) in self.fc[..2].iter().zip(&self.drop) {
            y = if self.dropout_first {
                relu(&fc.forward(&drop.forward_t(&y, train)?)?)?
            } else {
                drop.forward_t(&relu(&fc.forward(&y)?)?, train)?
            };
        }
        self.fc[2].forward(&y)
    }
}
