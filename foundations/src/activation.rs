//! Activation functions (sheet 03): sigmoid, tanh, ReLU, leaky ReLU, softmax.
//!
//! Every function here has a gradient in candle's autograd (checked in `tests/gradcheck.rs`); the
//! softmax is written with [`candle_nn::ops::softmax`] because the fused `softmax_last_dim` has no
//! backward pass.
//!
//! [`relu`] is one pass each way: candle differentiates `relu` as `grad * (x >= 0)` built from
//! four full-size temporaries (zeros, a comparison, a cast, a product). The gradient here is
//! `grad` where the output is positive and 0 elsewhere (0 at `x = 0`, as in PyTorch; candle
//! passes it through there). [`use_fused_relu`] switches back to candle's for comparison.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_nn::Module;
//! use dls_foundations::activation::Activation;
//! let x = Tensor::new(&[-2f32, 0.0, 3.0], &Device::Cpu)?;
//! let y = Activation::LeakyRelu.forward(&x)?.to_vec1::<f32>()?;
//! assert_eq!(y, vec![-0.02, 0.0, 3.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType, D};
use serde::{Deserialize, Serialize};

/// Slope of [`Activation::LeakyRelu`] for negative inputs.
pub const LEAKY_SLOPE: f64 = 0.01;

/// An element-wise non-linearity; input and output have the same shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(0, x)`: the default for hidden layers.
    #[default]
    Relu,
    /// `x` for `x > 0`, else `0.01 x`.
    LeakyRelu,
    /// `tanh(x)`: zero-centred, the course's choice for the shallow network.
    Tanh,
    /// `1 / (1 + e^-x)`: for binary outputs.
    Sigmoid,
    /// The identity (a linear layer).
    Identity,
}

impl Activation {
    /// Parses a name such as `"relu"`, `"leaky_relu"`, `"tanh"`, `"sigmoid"`, `"identity"`.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for an unknown name.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "relu" => Self::Relu,
            "leaky_relu" | "leakyrelu" | "leaky-relu" => Self::LeakyRelu,
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "identity" | "linear" | "none" => Self::Identity,
            other => {
                return Err(crate::Error::invalid("activation", format!("unknown activation {other:?}")))
            }
        })
    }
}

impl candle_nn::Module for Activation {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Relu => relu(xs),
            Self::LeakyRelu => candle_nn::ops::leaky_relu(xs, LEAKY_SLOPE),
            Self::Tanh => xs.tanh(),
            Self::Sigmoid => candle_nn::ops::sigmoid(xs),
            Self::Identity => Ok(xs.clone()),
        }
    }
}

/// Softmax over the last dimension, differentiable (`[.., k] -> [.., k]`, rows sum to 1).
///
/// # Errors
/// Propagates candle errors (for instance a rank-0 input).
pub fn softmax(xs: &Tensor) -> crate::Result<Tensor> {
    Ok(candle_nn::ops::softmax(xs, D::Minus1)?)
}

static FUSED_RELU: AtomicBool = AtomicBool::new(true);

/// Chooses, process-wide, whether [`relu`] (and [`Activation::Relu`]) runs the one-pass op (the
/// default) or candle's `Tensor::relu`, the reference.
pub fn use_fused_relu(fused: bool) {
    FUSED_RELU.store(fused, Ordering::Relaxed);
}

/// `max(0, x)`, same shape; differentiable. One pass forward and one backward on the CPU for f32
/// and f64 (see the module notes), candle's `relu` otherwise or when [`use_fused_relu`] is off.
///
/// # Errors
/// Propagates candle errors.
pub fn relu(xs: &Tensor) -> candle_core::Result<Tensor> {
    if fused_path(&[xs]) {
        xs.contiguous()?.apply_op1(ReluOp)
    } else {
        xs.relu()
    }
}

/// Whether the one-pass ops apply: switched on, and every tensor on the CPU in one float dtype
/// (f32 or f64).
fn fused_path(ts: &[&Tensor]) -> bool {
    let dtype = ts[0].dtype();
    FUSED_RELU.load(Ordering::Relaxed)
        && matches!(dtype, candle_core::DType::F32 | candle_core::DType::F64)
        && ts.iter().all(|t| t.device().is_cpu() && t.dtype() == dtype)
}

fn relu_map<T: WithDType>(x: &[T], layout: &Layout) -> candle_core::Result<Vec<T>> {
    let zero = T::from_f64(0.0);
    let keep = |v: T| if v > zero { v } else { zero };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(x[a..b].iter().map(|&v| keep(v)).collect()),
        None => candle_core::bail!("relu op: the input must be contiguous"),
    }
}

/// `max(0, a + b)` for two tensors of one shape (a residual block's sum and ReLU); one pass
/// each way on the CPU for f32 and f64 where [`relu`] is, else `relu(a + b)`. Both arguments
/// get the output's gradient masked by `output > 0`. Fusing saves the sum's own pass and graph
/// node (candle gives every node's gradient a zero tensor and an addition).
///
/// # Errors
/// When the shapes or dtypes differ.
pub fn add_relu(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if a.shape() != b.shape() {
        candle_core::bail!("add_relu: shapes {:?} and {:?} differ", a.dims(), b.dims());
    }
    if fused_path(&[a, b]) {
        a.contiguous()?.apply_op2(&b.contiguous()?, AddReluOp)
    } else {
        relu(&(a + b)?)
    }
}

/// `(a, b) -> max(0, a + b)`, its backward [`ReluGrad`] on the output, for both arguments.
struct AddReluOp;

fn add_relu_map<T: WithDType>(a: &[T], al: &Layout, b: &[T], bl: &Layout) -> candle_core::Result<Vec<T>> {
    let zero = T::from_f64(0.0);
    match (al.contiguous_offsets(), bl.contiguous_offsets()) {
        (Some((a0, a1)), Some((b0, b1))) => Ok(a[a0..a1]
            .iter()
            .zip(&b[b0..b1])
            .map(|(&x, &y)| {
                let s = x + y;
                if s > zero {
                    s
                } else {
                    zero
                }
            })
            .collect()),
        _ => candle_core::bail!("add_relu op: the inputs must be contiguous"),
    }
}

impl CustomOp2 for AddReluOp {
    fn name(&self) -> &'static str {
        "dls-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(add_relu_map(a, l1, b, l2)?),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(add_relu_map(a, l1, b, l2)?),
            _ => candle_core::bail!("add_relu op: f32 or f64 inputs of one dtype only"),
        };
        Ok((y, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _a: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = res.apply_op2_no_bwd(&grad_res.contiguous()?, &ReluGrad)?;
        Ok((Some(g.clone()), Some(g)))
    }
}

/// `x -> max(0, x)`, its backward [`ReluGrad`] on the output.
struct ReluOp;

impl CustomOp1 for ReluOp {
    fn name(&self) -> &'static str {
        "dls-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(relu_map(x, layout)?),
            CpuStorage::F64(x) => CpuStorage::F64(relu_map(x, layout)?),
            _ => candle_core::bail!("relu op: f32 and f64 only, got {:?}", storage.dtype()),
        };
        Ok((y, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad_res.contiguous()?, &ReluGrad)?))
    }
}

/// `(y, dy) -> dy` where `y > 0`, else 0.
struct ReluGrad;

fn relu_grad<T: WithDType>(y: &[T], yl: &Layout, dy: &[T], dyl: &Layout) -> candle_core::Result<Vec<T>> {
    let zero = T::from_f64(0.0);
    let pass = |v: T, g: T| if v > zero { g } else { zero };
    match (yl.contiguous_offsets(), dyl.contiguous_offsets()) {
        (Some((a, b)), Some((c, d))) => {
            Ok(y[a..b].iter().zip(&dy[c..d]).map(|(&v, &g)| pass(v, g)).collect())
        }
        _ => candle_core::bail!("relu grad: output and gradient must be contiguous"),
    }
}

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "dls-relu-grad"
    }

    fn cpu_fwd(
        &self,
        ys: &CpuStorage,
        yl: &Layout,
        dys: &CpuStorage,
        dyl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if yl.shape() != dyl.shape() {
            candle_core::bail!(
                "relu grad: output {:?} and gradient {:?} differ in shape",
                yl.shape(),
                dyl.shape()
            );
        }
        let dx = match (ys, dys) {
            (CpuStorage::F32(y), CpuStorage::F32(dy)) => CpuStorage::F32(relu_grad(y, yl, dy, dyl)?),
            (CpuStorage::F64(y), CpuStorage::F64(dy)) => CpuStorage::F64(relu_grad(y, yl, dy, dyl)?),
            _ => candle_core::bail!("relu grad: output and gradient must both be f32 or f64"),
        };
        Ok((dx, yl.shape().clone()))
    }
}
