//! Convolution layers (sheets 14–16, 18): a general 2-D convolution with stride, padding (SAME,
//! VALID or explicit, asymmetric allowed), dilation and groups on top of candle's `conv2d`; the
//! 1x1 ("network in network") convolution; and MobileNet's depthwise-separable convolution.
//!
//! Parameters are called `weight` `[out, in / groups, k, k]` and `bias` `[out]`, as in PyTorch,
//! and start from PyTorch's default uniform `±1/sqrt(fan_in)`.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use dls_foundations::Params;
//! use dls_vision::conv::Padding;
//! use dls_vision::layers::{Conv2d, Conv2dConfig};
//! let params = Params::new(0);
//! let cfg = Conv2dConfig { stride: 2, padding: Padding::Same, ..Conv2dConfig::new(3, 8, 3) };
//! let conv = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let y = conv.forward(&Tensor::zeros((2, 3, 7, 7), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(y.dims(), &[2, 8, 4, 4]); // SAME: ceil(7 / 2) = 4
//! assert_eq!(params.count(), 8 * 3 * 3 * 3 + 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::conv::{output_size, padding_amounts, Padding};
use crate::kernels::{self, ConvGeometry, Kernels};
use crate::{Error, Result};

/// Settings of a [`Conv2d`] (square kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Step between kernel positions.
    pub stride: usize,
    /// How the input is padded.
    pub padding: Padding,
    /// Spacing between kernel taps (1 = an ordinary convolution).
    pub dilation: usize,
    /// Channel groups: `in_channels` for a depthwise convolution.
    pub groups: usize,
    /// Whether the layer adds a learned bias (off before a batch norm).
    pub bias: bool,
}

impl Conv2dConfig {
    /// A stride-1, VALID, ungrouped convolution with a bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: Padding::Valid,
            dilation: 1,
            groups: 1,
            bias: true,
        }
    }

    /// The same convolution with symmetric padding `p`.
    pub fn pad(self, p: usize) -> Self {
        Self { padding: Padding::Explicit { before: p, after: p }, ..self }
    }

    /// The same convolution with stride `s`.
    pub fn stride(self, s: usize) -> Self {
        Self { stride: s, ..self }
    }

    /// The same convolution without a bias.
    pub fn no_bias(self) -> Self {
        Self { bias: false, ..self }
    }

    /// The same convolution split into `g` groups.
    pub fn groups(self, g: usize) -> Self {
        Self { groups: g, ..self }
    }

    fn validate(&self) -> Result<()> {
        let c = self;
        let ok = c.in_channels > 0
            && c.out_channels > 0
            && c.groups > 0
            && c.in_channels % c.groups == 0
            && c.out_channels % c.groups == 0;
        if !ok {
            return Err(Error::Invalid {
                what: "convolution channels".into(),
                message: format!(
                    "in {} and out {} must be > 0 and divisible by groups {}",
                    c.in_channels, c.out_channels, c.groups
                ),
            });
        }
        // Checks kernel, stride and dilation.
        padding_amounts(1, c.kernel, c.stride, c.dilation, Padding::Valid)?;
        Ok(())
    }
}

/// A 2-D convolution: input `[n, in, h, w]`, output `[n, out, h', w']` with
/// `h' = output_size(h, kernel, stride, dilation, padding)`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: Conv2dConfig,
}

impl Conv2d {
    /// A convolution with parameters `weight` and (optionally) `bias` under `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero sizes or channels not divisible by `groups`; candle errors
    /// when `vb` holds a tensor of another shape under that name.
    pub fn new(vb: VarBuilder, cfg: &Conv2dConfig) -> Result<Self> {
        cfg.validate()?;
        let fan_in = cfg.in_channels / cfg.groups * cfg.kernel * cfg.kernel;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let shape = (cfg.out_channels, cfg.in_channels / cfg.groups, cfg.kernel, cfg.kernel);
        let weight = vb.get_with_hints(shape, "weight", init)?;
        let bias = if cfg.bias { Some(vb.get_with_hints(cfg.out_channels, "bias", init)?) } else { None };
        Ok(Self { weight, bias, cfg: *cfg })
    }

    /// The layer's settings.
    pub fn config(&self) -> &Conv2dConfig {
        &self.cfg
    }

    /// The kernel, `[out, in / groups, k, k]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Output `(h', w')` for an input of `(h, w)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the kernel does not fit the padded input.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let c = &self.cfg;
        Ok((
            output_size(h, c.kernel, c.stride, c.dilation, c.padding)?,
            output_size(w, c.kernel, c.stride, c.dilation, c.padding)?,
        ))
    }

    /// The forward pass with errors of this crate (shape errors name the layer's expectation),
    /// on the process-wide kernels ([`kernels::kernels`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an input that is not `[n, in, h, w]` or too small for the kernel.
    pub fn try_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, kernels::kernels())
    }

    /// The forward pass on the given kernels: this crate's im2col + gemm op, or candle's
    /// `conv2d` (the reference).
    ///
    /// # Errors
    /// As [`Conv2d::try_forward`].
    pub fn forward_with(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let c = &self.cfg;
        let (n, ch, h, w) = x.dims4().map_err(|_| shape_error(c, x))?;
        if ch != c.in_channels {
            return Err(shape_error(c, x));
        }
        let (oh, ow) = self.output_hw(h, w)?;
        let (top, bottom) = padding_amounts(h, c.kernel, c.stride, c.dilation, c.padding)?;
        let (left, right) = padding_amounts(w, c.kernel, c.stride, c.dilation, c.padding)?;
        let y = match kernels {
            Kernels::Dls => {
                let geometry = ConvGeometry {
                    n,
                    c: ch,
                    h,
                    w,
                    oc: c.out_channels,
                    k: c.kernel,
                    oh,
                    ow,
                    stride: c.stride,
                    dilation: c.dilation,
                    top,
                    left,
                    groups: c.groups,
                };
                // The bias is added inside the kernel, and its gradient summed there too.
                return Ok(kernels::conv2d(x, &self.weight, self.bias.as_ref(), geometry)?);
            }
            Kernels::Candle => {
                // Rows and columns after the last window: candle's conv2d backward assumes there
                // are none in one axis when there are none in the other, so cut them off first.
                let span = c.dilation * (c.kernel - 1) + 1;
                let spare_h = (h + top + bottom - span) % c.stride;
                let spare_w = (w + left + right - span) % c.stride;
                let symmetric = top == bottom && left == right && top == left;
                let (x, pad) = if symmetric && spare_h == 0 && spare_w == 0 {
                    (x.clone(), top)
                } else {
                    let x = x.pad_with_zeros(2, top, bottom)?.pad_with_zeros(3, left, right)?;
                    (
                        x.narrow(2, 0, h + top + bottom - spare_h)?.narrow(
                            3,
                            0,
                            w + left + right - spare_w,
                        )?,
                        0,
                    )
                };
                x.conv2d(&self.weight, pad, c.stride, c.dilation, c.groups)?
            }
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, c.out_channels, 1, 1))?)?,
            None => y,
        })
    }
}

fn shape_error(c: &Conv2dConfig, x: &Tensor) -> Error {
    Error::Invalid {
        what: "convolution input".into(),
        message: format!("expected [n, {}, h, w], got {:?}", c.in_channels, x.dims()),
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.try_forward(x).map_err(candle_core::Error::wrap)
    }
}

/// A 1x1 convolution (sheet 18's "network in network"): mixes channels at every pixel.
/// Input `[n, in, h, w]`, output `[n, out, h, w]`.
///
/// # Errors
/// As [`Conv2d::new`].
pub fn pointwise(vb: VarBuilder, in_channels: usize, out_channels: usize, bias: bool) -> Result<Conv2d> {
    Conv2d::new(vb, &Conv2dConfig { bias, ..Conv2dConfig::new(in_channels, out_channels, 1) })
}

/// MobileNet v1's depthwise-separable convolution: a `k x k` depthwise convolution (one filter
/// per channel, `groups = in`) under `depthwise`, then a 1x1 convolution under `pointwise`.
/// Input `[n, in, h, w]`, output `[n, out, h', w']`. It costs
/// `in k² + in out` weights instead of `in out k²`.
#[derive(Clone, Debug)]
pub struct DepthwiseSeparable {
    depthwise: Conv2d,
    pointwise: Conv2d,
}

impl DepthwiseSeparable {
    /// Depthwise `kernel x kernel` with `stride` and `padding`, then pointwise to `out` channels.
    ///
    /// # Errors
    /// As [`Conv2d::new`].
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    ) -> Result<Self> {
        let dw = Conv2dConfig {
            stride,
            padding,
            groups: in_channels,
            ..Conv2dConfig::new(in_channels, in_channels, kernel)
        };
        let depthwise = Conv2d::new(vb.pp("depthwise"), &dw)?;
        let pointwise = pointwise(vb.pp("pointwise"), in_channels, out_channels, true)?;
        Ok(Self { depthwise, pointwise })
    }
}

impl Module for DepthwiseSeparable {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.pointwise.forward(&self.depthwise.forward(x)?)
    }
}
