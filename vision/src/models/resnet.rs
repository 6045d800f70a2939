//! ResNet (He et al. 2015; sheet 18): residual blocks `a[l+2] = g(z[l+2] + a[l])` with identity
//! shortcuts, and 1x1 projection shortcuts (`downsample`) where the shape changes. ResNet-18/34
//! stack basic blocks (two 3x3 convolutions), ResNet-50 bottleneck blocks (1x1, 3x3, 1x1 with 4x
//! expansion, stride on the 3x3 as torchvision's v1.5). Names follow torchvision: `conv1`, `bn1`,
//! `layer{1-4}.{i}.conv{1,2,3}`, `.bn{1,2,3}`, `.downsample.{0,1}`, `fc`.
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use dls_foundations::Params;
//! use dls_vision::models::resnet::{ResNet, ResNetConfig, Stem};
//! let params = Params::new(0);
//! let cfg = ResNetConfig { classes: 10, in_channels: 1, width: 8, stem: Stem::Small, ..ResNetConfig::resnet18() };
//! let net = ResNet::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let logits = net.forward_t(&Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?, false)?;
//! assert_eq!(logits.dims(), &[2, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::activation::add_relu;

use super::blocks::{Act, ConvBn};
use crate::layers::Conv2dConfig;
use crate::pool::{global_avg_pool, pool2d, Pool2dConfig};
use crate::{Error, Result};

/// Which residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// Two 3x3 convolutions (ResNet-18/34); expansion 1.
    Basic,
    /// 1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50 and deeper).
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// The first layers of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stem {
    /// ImageNet's 7x7 stride-2 convolution and 3x3 stride-2 max pool (224 to 56).
    ImageNet,
    /// A 3x3 stride-1 convolution and no pool, for 28x28 or 32x32 images.
    Small,
}

/// Settings of a [`ResNet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Blocks per stage (four stages).
    pub layers: [usize; 4],
    /// Block type.
    pub block: Block,
    /// Output classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Channels of the first stage (64 in the paper); stages double it.
    pub width: usize,
    /// Stem type.
    pub stem: Stem,
}

impl ResNetConfig {
    /// ResNet-18 for ImageNet (11,689,512 parameters).
    pub fn resnet18() -> Self {
        Self {
            layers: [2, 2, 2, 2],
            block: Block::Basic,
            classes: 1000,
            in_channels: 3,
            width: 64,
            stem: Stem::ImageNet,
        }
    }

    /// ResNet-34 for ImageNet (21,797,672 parameters).
    pub fn resnet34() -> Self {
        Self { layers: [3, 4, 6, 3], ..Self::resnet18() }
    }

    /// ResNet-50 for ImageNet (25,557,032 parameters).
    pub fn resnet50() -> Self {
        Self { layers: [3, 4, 6, 3], block: Block::Bottleneck, ..Self::resnet18() }
    }
}

/// One residual block. Input `[n, in, h, w]`, output `[n, planes * expansion, h / s, w / s]`.
#[derive(Clone, Debug)]
struct Residual {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Residual {
    fn new(vb: &VarBuilder, block: Block, inp: usize, planes: usize, stride: usize) -> Result<Self> {
        let out = planes * block.expansion();
        let names = |i: usize| (format!("conv{i}"), format!("bn{i}"));
        let mut convs = Vec::new();
        let specs = match block {
            Block::Basic => vec![
                (Conv2dConfig::new(inp, planes, 3).pad(1).stride(stride), Act::Relu),
                (Conv2dConfig::new(planes, planes, 3).pad(1), Act::Identity),
            ],
            Block::Bottleneck => vec![
                (Conv2dConfig::new(inp, planes, 1), Act::Relu),
                (Conv2dConfig::new(planes, planes, 3).pad(1).stride(stride), Act::Relu),
                (Conv2dConfig::new(planes, out, 1), Act::Identity),
            ],
        };
        for (i, (cfg, act)) in specs.into_iter().enumerate() {
            let (c, b) = names(i + 1);
            convs.push(ConvBn::new(vb, (&c, &b), cfg, act)?);
        }
        let downsample = if stride != 1 || inp != out {
            let cfg = Conv2dConfig::new(inp, out, 1).stride(stride);
            Some(ConvBn::new(&vb.pp("downsample"), ("0", "1"), cfg, Act::Identity)?)
        } else {
            None
        };
        Ok(Self { convs, downsample })
    }
}

impl ModuleT for Residual {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for c in &self.convs {
            y = c.forward_t(&y, train)?;
        }
        let shortcut = match &self.downsample {
            Some(d) => d.forward_t(x, train)?,
            None => x.clone(),
        };
        add_relu(&y, &shortcut)
    }
}

/// A ResNet: input `[n, in_channels, h, w]`, logits `[n, classes]` (global average pooling makes
/// any input size of at least 32x32 (ImageNet stem) or 4x4 (small stem) work).
#[derive(Clone, Debug)]
pub struct ResNet {
    stem: ConvBn,
    pool: bool,
    blocks: Vec<Residual>,
    fc: Linear,
}

impl ResNet {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes, channels, width or stage length.
    pub fn new(vb: VarBuilder, cfg: &ResNetConfig) -> Result<Self> {
        if cfg.classes == 0 || cfg.in_channels == 0 || cfg.width == 0 || cfg.layers.contains(&0) {
            return Err(Error::Invalid {
                what: "ResNet config".into(),
                message: format!("zero size in {cfg:?}"),
            });
        }
        let stem_cfg = match cfg.stem {
            Stem::ImageNet => Conv2dConfig::new(cfg.in_channels, cfg.width, 7).pad(3).stride(2),
            Stem::Small => Conv2dConfig::new(cfg.in_channels, cfg.width, 3).pad(1),
        };
        let stem = ConvBn::new(&vb, ("conv1", "bn1"), stem_cfg, Act::Relu)?;
        let mut blocks = Vec::new();
        let mut inp = cfg.width;
        for (stage, &n) in cfg.layers.iter().enumerate() {
            let planes = cfg.width << stage;
            let vb_stage = vb.pp(format!("layer{}", stage + 1));
            for i in 0..n {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                blocks.push(Residual::new(&vb_stage.pp(i.to_string()), cfg.block, inp, planes, stride)?);
                inp = planes * cfg.block.expansion();
            }
        }
        let fc = candle_nn::linear(inp, cfg.classes, vb.pp("fc"))?;
        Ok(Self { stem, pool: cfg.stem == Stem::ImageNet, blocks, fc })
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut y = self.stem.forward_t(x, train)?;
        if self.pool {
            y = pool2d(&y, &Pool2dConfig::max(3, 2, 1)).map_err(candle_core::Error::wrap)?;
        }
        for b in &self.blocks {
            y = b.forward_t(&y, train)?;
        }
        let y = global_avg_pool(&y).map_err(candle_core::Error::wrap)?;
        self.fc.forward(&y)
    }
}
