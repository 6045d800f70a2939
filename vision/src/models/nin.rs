//! Network in Network (Lin, Chen & Yan 2013; sheet 18): "mlpconv" blocks — a spatial
//! convolution followed by two 1x1 convolutions, each with a ReLU, i.e. a small dense network
//! applied at every pixel — and no dense classifier: the last block has one channel per class and
//! global average pooling turns each channel into a logit.
//!
//! The ImageNet network is d2l's (4 blocks of 96/256/384/classes channels with 11/5/3/3 kernels,
//! 3x3 stride-2 max pools between them, dropout 0.5 before the last block). torchvision has no NiN;
//! names follow the index of each layer in d2l's `nn.Sequential` under `features`:
//! `features.{0,2,4,7}.{0,2,4}.weight` (block, then convolution within the block).
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, nin::{Nin, NinConfig}};
//! let shapes = count_parameters(DType::F32, |vb| Nin::new(vb, &NinConfig::imagenet()))?;
//! assert_eq!(shapes.total(), 7_439_608);
//! assert_eq!(shapes.get("features.7.0.weight"), Some(&[1000, 384, 3, 3][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use dls_foundations::activation::relu;
use dls_foundations::regularize::Dropout;

use super::blocks::dropout;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{global_avg_pool, pool2d, Pool2dConfig};
use crate::{Error, Result};

/// The spatial convolution that opens one mlpconv block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NinBlockSpec {
    /// Output channels of all three convolutions (the last block's is set to the class count).
    pub out: usize,
    /// Kernel of the first convolution.
    pub kernel: usize,
    /// Stride of the first convolution.
    pub stride: usize,
    /// Symmetric padding of the first convolution.
    pub pad: usize,
}

/// Settings of a [`Nin`]: the hidden blocks, then a final block with `classes` channels that
/// uses `last_kernel` (stride 1, SAME-style padding `last_kernel / 2`).
#[derive(Clone, Debug, PartialEq)]
pub struct NinConfig {
    /// Hidden mlpconv blocks, each followed by a 3x3 stride-2 max pool.
    pub blocks: Vec<NinBlockSpec>,
    /// Kernel of the last block's first convolution.
    pub last_kernel: usize,
    /// Output classes (channels of the last block).
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Dropout probability before the last block.
    pub dropout: f64,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl NinConfig {
    /// The ImageNet network for 224x224 inputs (7,439,608 parameters with 1000 classes).
    pub fn imagenet() -> Self {
        let b = |out, kernel, stride, pad| NinBlockSpec { out, kernel, stride, pad };
        Self {
            blocks: vec![b(96, 11, 4, 0), b(256, 5, 1, 2), b(384, 3, 1, 1)],
            last_kernel: 3,
            classes: 1000,
            in_channels: 3,
            dropout: 0.5,
            seed: 0,
        }
    }

    /// A network for small images (at least 15x15): three 3x3 blocks of `width`, `2 width`,
    /// `4 width` channels, each followed by a pool (32 to 15, 7, 3; 28 to 13, 6, 2).
    pub fn small(classes: usize, in_channels: usize, width: usize) -> Self {
        let b = |out| NinBlockSpec { out, kernel: 3, stride: 1, pad: 1 };
        Self { blocks: vec![b(width), b(2 * width), b(4 * width)], classes, in_channels, ..Self::imagenet() }
    }
}

/// One mlpconv block: `[n, in, h, w]` to `[n, out, h', w']`.
#[derive(Clone, Debug)]
struct MlpConv {
    convs: [Conv2d; 3],
}

impl MlpConv {
    fn new(vb: &VarBuilder, inp: usize, spec: NinBlockSpec) -> Result<Self> {
        let first = Conv2dConfig::new(inp, spec.out, spec.kernel).stride(spec.stride).pad(spec.pad);
        let one = Conv2dConfig::new(spec.out, spec.out, 1);
        Ok(Self {
            convs: [
                Conv2d::new(vb.pp("0"), &first)?,
                Conv2d::new(vb.pp("2"), &one)?,
                Conv2d::new(vb.pp("4"), &one)?,
            ],
        })
    }
}

impl Module for MlpConv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for c in &self.convs {
            y = relu(&c.forward(&y)?)?;
        }
        Ok(y)
    }
}

/// Network in Network: input `[n, in_channels, h, w]`, logits `[n, classes]` (the spatial mean
/// of the last block's ReLU outputs, as in the paper and d2l).
#[derive(Clone, Debug)]
pub struct Nin {
    blocks: Vec<MlpConv>,
    last: MlpConv,
    drop: Dropout,
}

impl Nin {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes, channels or kernels, no hidden block, or a bad dropout.
    pub fn new(vb: VarBuilder, cfg: &NinConfig) -> Result<Self> {
        let zero = cfg.blocks.iter().any(|b| b.out == 0 || b.kernel == 0 || b.stride == 0);
        if cfg.classes == 0 || cfg.in_channels == 0 || cfg.last_kernel == 0 || cfg.blocks.is_empty() || zero {
            return Err(Error::Invalid { what: "NiN config".into(), message: format!("{cfg:?}") });
        }
        let features = vb.pp("features");
        let mut blocks = Vec::with_capacity(cfg.blocks.len());
        let mut inp = cfg.in_channels;
        for (i, spec) in cfg.blocks.iter().enumerate() {
            // d2l's Sequential: block, pool, block, pool, ..., dropout, last block.
            blocks.push(MlpConv::new(&features.pp((2 * i).to_string()), inp, *spec)?);
            inp = spec.out;
        }
        let last_spec =
            NinBlockSpec { out: cfg.classes, kernel: cfg.last_kernel, stride: 1, pad: cfg.last_kernel / 2 };
        let last = MlpConv::new(&features.pp((2 * cfg.blocks.len() + 1).to_string()), inp, last_spec)?;
        Ok(Self { blocks, last, drop: dropout(cfg.dropout, cfg.seed)? })
    }
}

impl ModuleT for Nin {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let wrap = candle_core::Error::wrap;
        let mut y = x.clone();
        for b in &self.blocks {
            y = pool2d(&b.forward(&y)?, &Pool2dConfig::max(3, 2, 0)).map_err(wrap)?;
        }
        let y = self.last.forward(&self.drop.forward_t(&y, train)?)?;
        global_avg_pool(&y).map_err(wrap)
    }
}
