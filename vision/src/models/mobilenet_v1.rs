//! MobileNet v1 (Howard et al. 2017; sheet 18): a 3x3 convolution, then thirteen
//! depthwise-separable blocks — a 3x3 depthwise convolution (one filter per channel) and a 1x1
//! pointwise convolution, each followed by batch norm and ReLU — global average pooling and one
//! dense layer. A separable block costs `c k² + c c'` weights instead of `c c' k²`.
//!
//! torchvision has no MobileNet v1; names follow its MobileNetV2 layout: `features.0.{0,1}` for
//! the first convolution and batch norm, `features.{i}.depthwise.{0,1}` and
//! `features.{i}.pointwise.{0,1}` for block `i`, `classifier.1` for the dense layer (after
//! dropout). Convolutions have no bias, as in the paper.
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, mobilenet_v1::{MobileNetV1, MobileNetV1Config}};
//! let shapes = count_parameters(DType::F32, |vb| MobileNetV1::new(vb, &MobileNetV1Config::default()))?;
//! assert_eq!(shapes.total(), 4_231_976);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::regularize::Dropout;

use super::blocks::{dropout, Act, ConvBn};
use crate::layers::Conv2dConfig;
use crate::pool::global_avg_pool;
use crate::{Error, Result};

/// Settings of [`MobileNetV1`].
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV1Config {
    /// Output classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Width multiplier α: every layer has `floor(α c)` channels (at least 1).
    pub width: f64,
    /// Stride of the first convolution (2 for ImageNet, 1 for small images).
    pub first_stride: usize,
    /// Dropout probability before the classifier (Keras uses 0.001).
    pub dropout: f64,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl Default for MobileNetV1Config {
    /// The ImageNet network: 1000 classes, width 1.0 (4,231,976 parameters).
    fn default() -> Self {
        Self { classes: 1000, in_channels: 3, width: 1.0, first_stride: 2, dropout: 0.001, seed: 0 }
    }
}

/// Output channels and stride of the paper's thirteen separable blocks (table 1).
const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// One separable block: `[n, in, h, w]` to `[n, out, h / s, w / s]`.
#[derive(Clone, Debug)]
struct Separable {
    depthwise: ConvBn,
    pointwise: ConvBn,
}

impl Separable {
    fn new(vb: &VarBuilder, inp: usize, out: usize, stride: usize) -> Result<Self> {
        let dw = Conv2dConfig::new(inp, inp, 3).pad(1).stride(stride).groups(inp);
        Ok(Self {
            depthwise: ConvBn::new(&vb.pp("depthwise"), ("0", "1"), dw, Act::Relu)?,
            pointwise: ConvBn::new(
                &vb.pp("pointwise"),
                ("0", "1"),
                Conv2dConfig::new(inp, out, 1),
                Act::Relu,
            )?,
        })
    }
}

impl ModuleT for Separable {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.pointwise.forward_t(&self.depthwise.forward_t(x, train)?, train)
    }
}

/// MobileNet v1: input `[n, in_channels, h, w]` (224x224 on ImageNet, reduced 32x by the strides),
/// logits `[n, classes]`.
#[derive(Clone, Debug)]
pub struct MobileNetV1 {
    stem: ConvBn,
    blocks: Vec<Separable>,
    drop: Dropout,
    fc: Linear,
}

impl MobileNetV1 {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes, channels or stride, a width outside `(0, 64)`, or a
    /// bad dropout.
    pub fn new(vb: VarBuilder, cfg: &MobileNetV1Config) -> Result<Self> {
        if cfg.classes == 0
            || cfg.in_channels == 0
            || cfg.first_stride == 0
            || !(cfg.width > 0.0 && cfg.width < 64.0)
        {
            return Err(Error::Invalid { what: "MobileNetV1 config".into(), message: format!("{cfg:?}") });
        }
        let ch = |c: usize| ((c as f64 * cfg.width) as usize).max(1);
        let features = vb.pp("features");
        let mut inp = ch(32);
        let first = Conv2dConfig::new(cfg.in_channels, inp, 3).pad(1).stride(cfg.first_stride);
        let stem = ConvBn::new(&features.pp("0"), ("0", "1"), first, Act::Relu)?;
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        for (i, (out, stride)) in BLOCKS.into_iter().enumerate() {
            blocks.push(Separable::new(&features.pp((i + 1).to_string()), inp, ch(out), stride)?);
            inp = ch(out);
        }
        let fc = candle_nn::linear(inp, cfg.classes, vb.pp("classifier.1"))?;
        Ok(Self { stem, blocks, drop: dropout(cfg.dropout, cfg.seed)?, fc })
    }
}

impl ModuleT for MobileNetV1 {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut y = self.stem.forward_t(x, train)?;
        for b in &self.blocks {
            y = b.forward_t(&y, train)?;
        }
        let y = global_avg_pool(&y).map_err(candle_core::Error::wrap)?;
        self.fc.forward(&self.drop.forward_t(&y, train)?)
    }
}
