//! MobileNetV2 (Sandler et al. 2018; sheet 18): inverted residual blocks — a 1x1 expansion by
//! `t`, a 3x3 depthwise convolution, a linear 1x1 bottleneck — with a residual connection when the
//! shape is kept. Names follow torchvision (`features.{i}.conv.{j}`, `classifier.1`).
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, mobilenet::{MobileNetV2, MobileNetV2Config}};
//! let shapes = count_parameters(DType::F32, |vb| MobileNetV2::new(vb, &MobileNetV2Config::default()))?;
//! assert_eq!(shapes.total(), 3_504_872);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::regularize::Dropout;

use super::blocks::{dropout, Act, ConvBn};
use crate::layers::Conv2dConfig;
use crate::pool::global_avg_pool;
use crate::{Error, Result};

/// Settings of [`MobileNetV2`].
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV2Config {
    /// Output classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Width multiplier (1.0 = the paper's network).
    pub width: f64,
    /// Stride of the first convolution (2 for ImageNet, 1 for small images).
    pub first_stride: usize,
    /// Dropout probability before the classifier.
    pub dropout: f64,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl Default for MobileNetV2Config {
    /// The ImageNet network: 1000 classes, width 1.0 (3,504,872 parameters).
    fn default() -> Self {
        Self { classes: 1000, in_channels: 3, width: 1.0, first_stride: 2, dropout: 0.2, seed: 0 }
    }
}

/// Rounds `v` to the nearest multiple of 8, never below 90% of `v` (torchvision's `_make_divisible`).
fn divisible(v: f64) -> usize {
    let r = (((v + 4.0) / 8.0).floor() as usize * 8).max(8);
    if (r as f64) < 0.9 * v {
        r + 8
    } else {
        r
    }
}

/// Expansion `t`, channels `c`, repeats `n`, first stride `s` of the paper's table 2.
const SETTINGS: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// One inverted residual block: `[n, inp, h, w]` to `[n, out, h / s, w / s]`.
#[derive(Clone, Debug)]
struct InvertedResidual {
    layers: Vec<ConvBn>,
    residual: bool,
}

impl InvertedResidual {
    fn new(vb: &VarBuilder, inp: usize, out: usize, stride: usize, t: usize) -> Result<Self> {
        let vb = vb.pp("conv");
        let hidden = inp * t;
        let mut layers = Vec::new();
        let mut i = 0;
        if t != 1 {
            let cfg = Conv2dConfig::new(inp, hidden, 1);
            layers.push(ConvBn::new(&vb.pp(i.to_string()), ("0", "1"), cfg, Act::Relu6)?);
            i += 1;
        }
        let dw = Conv2dConfig::new(hidden, hidden, 3).pad(1).stride(stride).groups(hidden);
        layers.push(ConvBn::new(&vb.pp(i.to_string()), ("0", "1"), dw, Act::Relu6)?);
        let (conv, bn) = ((i + 1).to_string(), (i + 2).to_string());
        layers.push(ConvBn::new(&vb, (&conv, &bn), Conv2dConfig::new(hidden, out, 1), Act::Identity)?);
        Ok(Self { layers, residual: stride == 1 && inp == out })
    }
}

impl ModuleT for InvertedResidual {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for l in &self.layers {
            y = l.forward_t(&y, train)?;
        }
        if self.residual {
            y + x
        } else {
            Ok(y)
        }
    }
}

/// MobileNetV2: input `[n, in_channels, h, w]`, logits `[n, classes]`.
#[derive(Clone, Debug)]
pub struct MobileNetV2 {
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    last: ConvBn,
    drop: Dropout,
    fc: Linear,
}

impl MobileNetV2 {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes or channels, a width that is not > 0, or a bad dropout.
    pub fn new(vb: VarBuilder, cfg: &MobileNetV2Config) -> Result<Self> {
        if cfg.classes == 0
            || cfg.in_channels == 0
            || cfg.first_stride == 0
            || !(cfg.width > 0.0 && cfg.width < 64.0)
        {
            return Err(Error::Invalid { what: "MobileNetV2 config".into(), message: format!("{cfg:?}") });
        }
        let features = vb.pp("features");
        let mut inp = divisible(32.0 * cfg.width);
        let first = Conv2dConfig::new(cfg.in_channels, inp, 3).pad(1).stride(cfg.first_stride);
        let stem = ConvBn::new(&features.pp("0"), ("0", "1"), first, Act::Relu6)?;
        let mut blocks = Vec::new();
        let mut index = 1;
        for (t, c, n, s) in SETTINGS {
            let out = divisible(c as f64 * cfg.width);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                blocks.push(InvertedResidual::new(&features.pp(index.to_string()), inp, out, stride, t)?);
                inp = out;
                index += 1;
            }
        }
        let last_channels = divisible(1280.0 * cfg.width.max(1.0));
        let last_cfg = Conv2dConfig::new(inp, last_channels, 1);
        let last = ConvBn::new(&features.pp(index.to_string()), ("0", "1"), last_cfg, Act::Relu6)?;
        let fc = candle_nn::linear(last_channels, cfg.classes, vb.pp("classifier.1"))?;
        Ok(Self { stem, blocks, last, drop: dropout(cfg.dropout, cfg.seed)?, fc })
    }
}

impl ModuleT for MobileNetV2 {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut y = self.stem.forward_t(x, train)?;
        for b in &self.blocks {
            y = b.forward_t(&y, train)?;
        }
        let y = self.last.forward_t(&y, train)?;
        let y = global_avg_pool(&y).map_err(candle_core::Error::wrap)?;
        self.fc.forward(&self.drop.forward_t(&y, train)?)
    }
}
