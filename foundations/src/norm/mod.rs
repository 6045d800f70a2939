//! Batch normalisation with running statistics (sheet 08's "batch norm", train vs eval).
//!
//! In training the layer normalises with the batch's own mean and (biased) variance and updates
//! exponential running averages (PyTorch's convention: `momentum = 0.1`, unbiased variance in the
//! running estimate); in evaluation it uses the running averages, so a single example gets the same
//! output whatever batch it sits in. Parameter names follow PyTorch: `weight` (gamma), `bias`
//! (beta), `running_mean`, `running_var`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::ModuleT;
//! use dls_foundations::{norm::{BatchNorm, BatchNormConfig}, Params};
//! let params = Params::new(0);
//! let bn = BatchNorm::new(params.var_builder(DType::F32, &Device::Cpu), 1, &BatchNormConfig::default())?;
//! let x = Tensor::new(&[[1f32], [3.0]], &Device::Cpu)?;
//! let y = bn.forward_t(&x, true)?.to_vec2::<f32>()?;
//! assert!((y[0][0] + 1.0).abs() < 1e-3 && (y[1][0] - 1.0).abs() < 1e-3);
//! // running mean moved 10% of the way from 0 towards the batch mean 2
//! assert!((bn.running_mean().to_vec1::<f32>()?[0] - 0.2).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Tensor, Var};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod fused;

static REFERENCE: AtomicBool = AtomicBool::new(false);

/// Chooses, process-wide, whether [`BatchNorm`]'s `forward_t` runs the fused kernel (the
/// default) or the tensor-op reference. Benches use it to compare the two.
pub fn use_fused_kernel(fused: bool) {
    REFERENCE.store(!fused, Ordering::Relaxed);
}

/// Whether [`BatchNorm`] runs the fused kernel now (see [`use_fused_kernel`]).
pub fn fused_kernel() -> bool {
    !REFERENCE.load(Ordering::Relaxed)
}

/// Batch-norm settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Weight of the new batch in the running averages.
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self { eps: 1e-5, momentum: 0.1 }
    }
}

/// Batch normalisation over features: input `[n, c]` or `[n, c, ...]` (statistics per channel `c`
/// over every other dimension); output has the input's shape.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    channels: usize,
    cfg: BatchNormConfig,
}

impl BatchNorm {
    /// A batch-norm layer over `channels` features, gamma = 1 and beta = 0.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero channels or settings outside `eps > 0`, `0 <= momentum <= 1`.
    pub fn new(vb: VarBuilder, channels: usize, cfg: &BatchNormConfig) -> Result<Self> {
        if channels == 0 || cfg.eps.is_nan() || cfg.eps <= 0.0 || !(0.0..=1.0).contains(&cfg.momentum) {
            return Err(Error::invalid("batch norm", format!("{channels} channels with {cfg:?}")));
        }
        let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?;
        let running_mean = vb.get_with_hints(channels, "running_mean", candle_nn::Init::Const(0.0))?;
        let running_var = vb.get_with_hints(channels, "running_var", candle_nn::Init::Const(1.0))?;
        Ok(Self {
            weight,
            bias,
            running_mean: Var::from_tensor(&running_mean)?,
            running_var: Var::from_tensor(&running_var)?,
            channels,
            cfg: *cfg,
        })
    }

    /// The running mean used in evaluation.
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running (unbiased) variance used in evaluation.
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// Shape `[1, c, 1, ...]` that broadcasts a per-channel vector against the input.
    fn channel_shape(&self, rank: usize) -> Vec<usize> {
        let mut s = vec![1; rank];
        s[1] = self.channels;
        s
    }
}

impl candle_nn::ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_with(xs, train, fused_kernel())
    }
}

impl BatchNorm {
    /// The forward pass, on the fused kernel (one custom op with a hand-written
    /// backward) or on candle tensor ops (the reference). Both update the running averages in
    /// training mode and agree to float rounding.
    ///
    /// # Errors
    /// When `xs` is not `[n, channels, ...]`, or in training with a single value per channel.
    pub fn forward_with(&self, xs: &Tensor, train: bool, fused: bool) -> candle_core::Result<Tensor> {
        self.forward_inner(xs, train, fused, false)
    }

    /// Batch norm followed by `max(0, ·)`, the pair that ends most convolution blocks, on the
    /// kernel [`use_fused_kernel`] chose (see [`BatchNorm::forward_relu_with`]).
    ///
    /// # Errors
    /// As [`BatchNorm::forward_with`].
    pub fn forward_relu_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_relu_with(xs, train, fused_kernel())
    }

    /// Batch norm followed by `max(0, ·)`. In training on the fused kernel the two are one op
    /// (one output, one node in the graph, the ReLU's mask recomputed in the backward);
    /// otherwise [`BatchNorm::forward_with`] then [`relu`](crate::activation::relu), with the same
    /// values and gradients.
    ///
    /// # Errors
    /// As [`BatchNorm::forward_with`].
    pub fn forward_relu_with(&self, xs: &Tensor, train: bool, fused: bool) -> candle_core::Result<Tensor> {
        if fused && train {
            return self.forward_inner(xs, train, fused, true);
        }
        crate::activation::relu(&self.forward_inner(xs, train, fused, false)?)
    }

    fn forward_inner(
        &self,
        xs: &Tensor,
        train: bool,
        fused: bool,
        relu: bool,
    ) -> candle_core::Result<Tensor> {
        let dims = xs.dims();
        if dims.len() < 2 || dims[1] != self.channels {
            candle_core::bail!("batch norm expects [n, {}, ...], got {dims:?}", self.channels)
        }
        if !fused {
            return self.forward_reference(xs, train);
        }
        let m = xs.elem_count() / self.channels;
        let shape = self.channel_shape(dims.len());
        if !train {
            let scale = (self.running_var.as_tensor() + self.cfg.eps)?.sqrt()?.recip()?.mul(&self.weight)?;
            let shift = (&self.bias - self.running_mean.as_tensor().mul(&scale)?)?;
            return xs
                .broadcast_mul(&scale.reshape(shape.as_slice())?)?
                .broadcast_add(&shift.reshape(shape.as_slice())?);
        }
        if m < 2 {
            candle_core::bail!("batch norm in training needs more than one value per channel, got {m}")
        }
        let (y, stats) = fused::batch_norm_train(xs, &self.weight, &self.bias, self.cfg.eps, relu)?;
        let (dtype, device) = (self.running_mean.dtype(), self.running_mean.device().clone());
        let mean = Tensor::from_vec(stats.mean, self.channels, &device)?.to_dtype(dtype)?;
        let unbiased = Tensor::from_vec(stats.var, self.channels, &device)?.to_dtype(dtype)?
            * (m as f64 / (m as f64 - 1.0));
        self.update_running(&mean, &unbiased?)?;
        Ok(y)
    }

    fn update_running(&self, mean: &Tensor, unbiased_var: &Tensor) -> candle_core::Result<()> {
        let momentum = self.cfg.momentum;
        let new_mean = ((self.running_mean.as_tensor() * (1.0 - momentum))? + (mean * momentum)?)?;
        let new_var = ((self.running_var.as_tensor() * (1.0 - momentum))? + (unbiased_var * momentum)?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)
    }

    /// The forward pass written with candle tensor ops.
    fn forward_reference(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let dims = xs.dims();
        let shape = self.channel_shape(dims.len());
        // Move channels last and flatten: [m, c] where m counts every other position.
        let perm: Vec<usize> = std::iter::once(0).chain(2..dims.len()).chain(std::iter::once(1)).collect();
        let (mean, var) = if train {
            let flat = xs.permute(perm.as_slice())?.reshape(((), self.channels))?;
            let m = flat.dim(0)?;
            if m < 2 {
                candle_core::bail!("batch norm in training needs more than one value per channel, got {m}")
            }
            let mean = flat.mean(0)?;
            let var = flat.broadcast_sub(&mean)?.sqr()?.mean(0)?;
            let unbiased = (var.detach() * (m as f64 / (m as f64 - 1.0)))?;
            self.update_running(&mean.detach(), &unbiased)?;
            (mean, var)
        } else {
            (self.running_mean.as_tensor().clone(), self.running_var.as_tensor().clone())
        };
        let inv_std = (var + self.cfg.eps)?.sqrt()?.recip()?.reshape(shape.as_slice())?;
        let normed = xs.broadcast_sub(&mean.reshape(shape.as_slice())?)?.broadcast_mul(&inv_std)?;
        normed
            .broadcast_mul(&self.weight.reshape(shape.as_slice())?)?
            .broadcast_add(&self.bias.reshape(shape.as_slice())?)
    }
}
