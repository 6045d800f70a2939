//! Our own CPU kernels for the layers where candle 0.11's are slow (issue 7's profile: the
//! convolution's input gradient, a direct transposed convolution, dominated a LeNet-5 step).
//!
//! Layers use these kernels by default. [`Kernels::Candle`] selects candle's own composition
//! instead, process-wide ([`set_kernels`]) or per call (e.g.
//! [`Conv2d::forward_with`](crate::layers::Conv2d::forward_with)), so the two can be compared
//! for speed and checked against each other.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_vision::kernels::Kernels;
//! use dls_vision::layers::{Conv2d, Conv2dConfig};
//! let params = Params::new(0);
//! let conv = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &Conv2dConfig::new(2, 3, 3).pad(1))?;
//! let x = Tensor::randn(0f32, 1.0, (2, 2, 5, 5), &Device::Cpu)?;
//! let ours = conv.forward_with(&x, Kernels::Dls)?;
//! let candle = conv.forward_with(&x, Kernels::Candle)?;
//! let gap = (ours - candle)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert!(gap < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

mod conv2d;
mod im2col;
mod maxpool;
mod scratch;
mod shifted;
mod winograd;

pub(crate) use conv2d::conv2d;
pub use im2col::ConvGeometry;
pub(crate) use maxpool::{max_pool2d, MaxPoolGeometry};
pub(crate) use scratch::Scratch;

/// Which implementation a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// This crate's kernels (the default): im2col + gemm convolution with a gemm backward
    /// (Winograd F(4x4, 3x3) for 3x3 stride-1 layers with 32+ channels), and one-pass max
    /// pooling.
    Dls,
    /// candle's own ops, the reference the kernels are tested against.
    Candle,
}

static USE_CANDLE: AtomicBool = AtomicBool::new(false);

/// Chooses the kernels layers use when called through `Module::forward`, for the whole process:
/// the convolutions and max pooling here, and dls-foundations' batch norm and ReLU
/// ([`use_fused_kernel`](dls_foundations::norm::use_fused_kernel)).
pub fn set_kernels(kernels: Kernels) {
    USE_CANDLE.store(kernels == Kernels::Candle, Ordering::Relaxed);
    dls_foundations::norm::use_fused_kernel(kernels == Kernels::Dls);
    dls_foundations::activation::use_fused_relu(kernels == Kernels::Dls);
}

/// The kernels layers use now (see [`set_kernels`]).
pub fn kernels() -> Kernels {
    if USE_CANDLE.load(Ordering::Relaxed) {
        Kernels::Candle
    } else {
        Kernels::Dls
    }
}
