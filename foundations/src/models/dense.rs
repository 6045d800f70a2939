//! A fully connected layer whose weights start from a chosen [`Init`].

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::init::Init;
use crate::{Error, Result};

/// `y = x W^T + b`: input `[n, in]`, output `[n, out]`. Parameters `weight` `[out, in]` and
/// `bias` `[out]`, named and laid out as PyTorch's `nn.Linear`.
#[derive(Clone, Debug)]
pub struct Dense {
    inner: candle_nn::Linear,
    in_features: usize,
}

impl Dense {
    /// A layer from `in_features` to `out_features`, weights drawn by `init`, biases zero.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size; candle errors from the builder (for instance a stored
    /// weight of another shape).
    pub fn new(vb: VarBuilder, in_features: usize, out_features: usize, init: Init) -> Result<Self> {
        Self::build(vb, in_features, out_features, init, true)
    }

    /// As [`Dense::new`] without a bias: for a layer followed by batch norm, whose shift `beta`
    /// makes a bias redundant (its gradient is exactly zero).
    ///
    /// # Errors
    /// As [`Dense::new`].
    pub fn without_bias(vb: VarBuilder, in_features: usize, out_features: usize, init: Init) -> Result<Self> {
        Self::build(vb, in_features, out_features, init, false)
    }

    fn build(
        vb: VarBuilder,
        in_features: usize,
        out_features: usize,
        init: Init,
        bias: bool,
    ) -> Result<Self> {
        if in_features == 0 || out_features == 0 {
            return Err(Error::invalid(
                "dense layer",
                format!("sizes must be > 0, got {in_features} -> {out_features}"),
            ));
        }
        let w =
            vb.get_with_hints((out_features, in_features), "weight", init.hint(in_features, out_features))?;
        let b = if bias {
            Some(vb.get_with_hints(out_features, "bias", candle_nn::Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self { inner: candle_nn::Linear::new(w, b), in_features })
    }

    /// The weight matrix `[out, in]` (what L2 regularisation penalises).
    pub fn weight(&self) -> &Tensor {
        self.inner.weight()
    }
}

impl candle_nn::Module for Dense {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match xs.dims().last() {
            Some(&d) if d == self.in_features => self.inner.forward(xs),
            _ => candle_core::bail!("dense layer expects [.., {}], got {:?}", self.in_features, xs.dims()),
        }
    }
}
