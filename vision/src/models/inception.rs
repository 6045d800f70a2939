//! The Inception module and GoogLeNet (Szegedy et al. 2014; sheet 18). An Inception module runs
//! four branches side by side on the same input — a 1x1 convolution; a 1x1 "bottleneck" then a
//! 3x3; a 1x1 bottleneck then a larger convolution; a 3x3 stride-1 max pool then a 1x1
//! projection — and concatenates their outputs along the channels, so the network chooses its
//! filter sizes by learning. The 1x1 bottlenecks keep the cost down.
//!
//! GoogLeNet follows torchvision (`aux_logits=False`, no `transform_input`): every convolution
//! is a bias-free `BasicConv2d` (`.conv`, then batch norm `.bn` with eps 0.001, then a ReLU), the
//! max pools use PyTorch's `ceil_mode=True`, and the "5x5" branch uses a 3x3 kernel as
//! torchvision's weights do (set [`GoogLeNetConfig::branch3_kernel`] to 5 for the paper's).
//! Names: `conv1..3`, `inception{3a..5b}.branch{1..4}`, `fc`.
//!
//! ```
//! use candle_core::DType;
//! use dls_vision::models::{count_parameters, inception::{GoogLeNet, GoogLeNetConfig}};
//! let shapes = count_parameters(DType::F32, |vb| GoogLeNet::new(vb, &GoogLeNetConfig::default()))?;
//! assert_eq!(shapes.total(), 6_624_904);
//! assert_eq!(shapes.get("inception4e.branch2.1.conv.weight"), Some(&[320, 160, 3, 3][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use dls_foundations::norm::{BatchNorm, BatchNormConfig};
use dls_foundations::regularize::Dropout;

use super::blocks::dropout;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{global_avg_pool, pool2d, Pool2dConfig};
use crate::{Error, Result};

/// torchvision's `BasicConv2d`: bias-free convolution `.conv`, batch norm `.bn` (eps 0.001), ReLU.
#[derive(Clone, Debug)]
struct BasicConv {
    conv: Conv2d,
    bn: BatchNorm,
}

impl BasicConv {
    fn new(vb: &VarBuilder, cfg: Conv2dConfig) -> Result<Self> {
        let conv = Conv2d::new(vb.pp("conv"), &cfg.no_bias())?;
        let bn_cfg = BatchNormConfig { eps: 1e-3, ..Default::default() };
        Ok(Self { conv, bn: BatchNorm::new(vb.pp("bn"), cfg.out_channels, &bn_cfg)? })
    }
}

impl ModuleT for BasicConv {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.bn.forward_relu_t(&self.conv.forward(x)?, train)
    }
}

/// Max pooling with PyTorch's `ceil_mode=True` and no padding: `[n, c, h, w]` to
/// `[n, c, ceil((h - k) / s) + 1, ...]`. The last window may hang over the bottom and right
/// edges; it then takes the maximum of the pixels it covers.
///
/// # Errors
/// [`Error::Invalid`] for a non-4-D input, a zero kernel or stride, a stride larger than the
/// kernel, or an input smaller than the kernel.
pub fn max_pool_ceil(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4().map_err(|_| Error::Invalid {
        what: "pooling input".into(),
        message: format!("expected [n, c, h, w], got {:?}", x.dims()),
    })?;
    if kernel == 0 || stride == 0 || stride > kernel || h < kernel || w < kernel {
        return Err(Error::Invalid {
            what: "ceil-mode pooling".into(),
            message: format!("kernel {kernel}, stride {stride} on a {h}x{w} input"),
        });
    }
    let extra = |len: usize| ((len - kernel).div_ceil(stride)) * stride + kernel - len;
    let (eh, ew) = (extra(h), extra(w));
    let mut x = x.clone();
    // The overhanging rows and columns hold -inf, which never wins a max.
    if eh > 0 {
        let fill = Tensor::zeros((n, c, eh, w), x.dtype(), x.device())?.affine(0.0, f64::NEG_INFINITY)?;
        x = Tensor::cat(&[&x, &fill], 2)?;
    }
    if ew > 0 {
        let fill =
            Tensor::zeros((n, c, h + eh, ew), x.dtype(), x.device())?.affine(0.0, f64::NEG_INFINITY)?;
        x = Tensor::cat(&[&x, &fill], 3)?;
    }
    pool2d(&x, &Pool2dConfig::max(kernel, stride, 0))
}

/// Channel counts of one Inception module (torchvision's argument order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InceptionSpec {
    /// Branch 1: 1x1 convolution.
    pub ch1x1: usize,
    /// Branch 2: 1x1 bottleneck ...
    pub ch3x3_reduce: usize,
    /// ... then 3x3 convolution.
    pub ch3x3: usize,
    /// Branch 3: 1x1 bottleneck ...
    pub ch5x5_reduce: usize,
    /// ... then the "5x5" convolution (kernel [`GoogLeNetConfig::branch3_kernel`]).
    pub ch5x5: usize,
    /// Branch 4: 3x3 max pool, then 1x1 projection.
    pub pool_proj: usize,
}

impl InceptionSpec {
    /// Channels of the concatenated output.
    pub fn out_channels(&self) -> usize {
        self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj
    }

    /// Every count multiplied by `width` and rounded (at least 1).
    pub fn scaled(&self, width: f64) -> Self {
        let s = |c: usize| ((c as f64 * width).round() as usize).max(1);
        Self {
            ch1x1: s(self.ch1x1),
            ch3x3_reduce: s(self.ch3x3_reduce),
            ch3x3: s(self.ch3x3),
            ch5x5_reduce: s(self.ch5x5_reduce),
            ch5x5: s(self.ch5x5),
            pool_proj: s(self.pool_proj),
        }
    }
}

/// An Inception module: input `[n, in, h, w]`, output `[n, spec.out_channels(), h, w]`, the four
/// branches concatenated in order 1x1, 3x3, 5x5, pool.
#[derive(Clone, Debug)]
pub struct Inception {
    branch1: BasicConv,
    branch2: [BasicConv; 2],
    branch3: [BasicConv; 2],
    branch4: BasicConv,
}

impl Inception {
    /// The module under `vb` (`branch1.conv`, `branch2.{0,1}`, `branch3.{0,1}`, `branch4.1`);
    /// `kernel` is branch 3's second kernel (odd; 3 in torchvision, 5 in the paper).
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero channels or an even kernel.
    pub fn new(vb: &VarBuilder, in_channels: usize, spec: &InceptionSpec, kernel: usize) -> Result<Self> {
        if kernel % 2 == 0 {
            return Err(Error::Invalid {
                what: "Inception branch 3 kernel".into(),
                message: format!("must be odd to keep the size, got {kernel}"),
            });
        }
        let one = |vb: VarBuilder, out| BasicConv::new(&vb, Conv2dConfig::new(in_channels, out, 1));
        let b2 = vb.pp("branch2");
        let b3 = vb.pp("branch3");
        Ok(Self {
            branch1: one(vb.pp("branch1"), spec.ch1x1)?,
            branch2: [
                one(b2.pp("0"), spec.ch3x3_reduce)?,
                BasicConv::new(&b2.pp("1"), Conv2dConfig::new(spec.ch3x3_reduce, spec.ch3x3, 3).pad(1))?,
            ],
            branch3: [
                one(b3.pp("0"), spec.ch5x5_reduce)?,
                BasicConv::new(
                    &b3.pp("1"),
                    Conv2dConfig::new(spec.ch5x5_reduce, spec.ch5x5, kernel).pad(kernel / 2),
                )?,
            ],
            branch4: one(vb.pp("branch4").pp("1"), spec.pool_proj)?,
        })
    }
}

impl ModuleT for Inception {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let b1 = self.branch1.forward_t(x, train)?;
        let b2 = self.branch2[1].forward_t(&self.branch2[0].forward_t(x, train)?, train)?;
        let b3 = self.branch3[1].forward_t(&self.branch3[0].forward_t(x, train)?, train)?;
        let pooled = pool2d(x, &Pool2dConfig::max(3, 1, 1)).map_err(candle_core::Error::wrap)?;
        let b4 = self.branch4.forward_t(&pooled, train)?;
        Tensor::cat(&[b1, b2, b3, b4], 1)
    }
}

/// The nine modules of GoogLeNet: name and [`InceptionSpec`] counts in torchvision's order.
const MODULES: [(&str, [usize; 6]); 9] = [
    ("inception3a", [64, 96, 128, 16, 32, 32]),
    ("inception3b", [128, 128, 192, 32, 96, 64]),
    ("inception4a", [192, 96, 208, 16, 48, 64]),
    ("inception4b", [160, 112, 224, 24, 64, 64]),
    ("inception4c", [128, 128, 256, 24, 64, 64]),
    ("inception4d", [112, 144, 288, 32, 64, 64]),
    ("inception4e", [256, 160, 320, 32, 128, 128]),
    ("inception5a", [256, 160, 320, 32, 128, 128]),
    ("inception5b", [384, 192, 384, 48, 128, 128]),
];

/// Settings of [`GoogLeNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct GoogLeNetConfig {
    /// Output classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Multiplier of every channel count (1.0 = the paper's network).
    pub width: f64,
    /// Kernel of each module's third branch (3 as torchvision, 5 as the paper).
    pub branch3_kernel: usize,
    /// Dropout probability before the classifier.
    pub dropout: f64,
    /// Seed of the dropout masks.
    pub seed: u64,
}

impl Default for GoogLeNetConfig {
    /// torchvision's ImageNet network: 1000 classes (6,624,904 parameters).
    fn default() -> Self {
        Self { classes: 1000, in_channels: 3, width: 1.0, branch3_kernel: 3, dropout: 0.2, seed: 0 }
    }
}

/// GoogLeNet: input `[n, in_channels, h, w]` (224x224 on ImageNet; at least 32x32), logits
/// `[n, classes]`. Stem 7x7/2 conv, 3x3/2 pool, 1x1 and 3x3 convs, 3x3/2 pool; modules 3a-3b,
/// pool, 4a-4e, 2x2/2 pool, 5a-5b; global average pooling, dropout, `fc`.
#[derive(Clone, Debug)]
pub struct GoogLeNet {
    stem: [BasicConv; 3],
    modules: Vec<Inception>,
    drop: Dropout,
    fc: Linear,
}

impl GoogLeNet {
    /// Builds the network under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes or channels, a width that is not in `(0, 64)`, an even
    /// branch-3 kernel, or a bad dropout.
    pub fn new(vb: VarBuilder, cfg: &GoogLeNetConfig) -> Result<Self> {
        if cfg.classes == 0 || cfg.in_channels == 0 || !(cfg.width > 0.0 && cfg.width < 64.0) {
            return Err(Error::Invalid { what: "GoogLeNet config".into(), message: format!("{cfg:?}") });
        }
        let s = |c: usize| ((c as f64 * cfg.width).round() as usize).max(1);
        let stem = [
            BasicConv::new(&vb.pp("conv1"), Conv2dConfig::new(cfg.in_channels, s(64), 7).stride(2).pad(3))?,
            BasicConv::new(&vb.pp("conv2"), Conv2dConfig::new(s(64), s(64), 1))?,
            BasicConv::new(&vb.pp("conv3"), Conv2dConfig::new(s(64), s(192), 3).pad(1))?,
        ];
        let mut modules = Vec::with_capacity(MODULES.len());
        let mut inp = s(192);
        for (name, [a, b, c, d, e, f]) in MODULES {
            let spec = InceptionSpec {
                ch1x1: a,
                ch3x3_reduce: b,
                ch3x3: c,
                ch5x5_reduce: d,
                ch5x5: e,
                pool_proj: f,
            }
            .scaled(cfg.width);
            modules.push(Inception::new(&vb.pp(name), inp, &spec, cfg.branch3_kernel)?);
            inp = spec.out_channels();
        }
        let fc = candle_nn::linear(inp, cfg.classes, vb.pp("fc"))?;
        Ok(Self { stem, modules, drop: dropout(cfg.dropout, cfg.seed)?, fc })
    }
}

impl ModuleT for GoogLeNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let pool = |y: &Tensor, k: usize| max_pool_ceil(y, k, 2).map_err(candle_core::Error::wrap);
        let mut y = pool(&self.stem[0].forward_t(x, train)?, 3)?;
        y = self.stem[2].forward_t(&self.stem[1].forward_t(&y, train)?, train)?;
        y = pool(&y, 3)?;
        for (i, m) in self.modules.iter().enumerate() {
            y = m.forward_t(&y, train)?;
            // After 3b a 3x3/2 pool, after 4e a 2x2/2 pool.
            if i == 1 {
                y = pool(&y, 3)?;
            } else if i == 6 {
                y = pool(&y, 2)?;
            }
        }
        let y = global_avg_pool(&y).map_err(candle_core::Error::wrap)?;
        self.fc.forward(&self.drop.forward_t(&y, train)?)
    }
}
