//! Model 1 of the course's Emojify: the average of a sentence's word vectors into a softmax layer.

use candle_core::{DType, Tensor};
use candle_nn::{Linear, Module, ModuleT, VarBuilder};

use crate::classify::embed::{check_ids, wrap, WordEmbedding};
use crate::classify::encode::PAD;
use crate::{Error, Result};

/// Mean word vector → linear layer: ids `u32 [batch, time]` (padded with [`PAD`]) to logits
/// `[batch, classes]`. Softmax is left to the loss.
#[derive(Clone, Debug)]
pub struct AverageClassifier {
    embed: WordEmbedding,
    head: Linear,
}

impl AverageClassifier {
    /// A classifier over `embed` into `classes` logits; the layer is `head.weight`
    /// `[classes, dim]` and `head.bias` `[classes]` in `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero classes; candle errors from `vb`.
    pub fn new(vb: VarBuilder, embed: WordEmbedding, classes: usize) -> Result<Self> {
        if classes == 0 {
            return Err(Error::invalid("classes", "need at least one class"));
        }
        let head = candle_nn::linear(embed.dim(), classes, vb.pp("head"))?;
        Ok(Self { embed, head })
    }

    /// The mean of the non-padding word vectors of each sequence, `[batch, dim]` (zero for a
    /// sequence of padding only).
    ///
    /// # Errors
    /// [`Error::Invalid`] for ids that are not `[batch, time]` or not in the table.
    pub fn average(&self, ids: &Tensor) -> Result<Tensor> {
        check_ids(ids, self.embed.rows())?;
        let (batch, time) = ids.dims2()?;
        let ids = ids.to_dtype(DType::U32)?;
        let vectors = self.embed.lookup(&ids.flatten_all()?)?.reshape((batch, time, self.embed.dim()))?;
        let mask = ids.ne(PAD)?.to_dtype(self.embed.dtype())?; // [batch, time]
        let sum = vectors.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?; // [batch, dim]
        let count = mask.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?; // [batch, 1]
        Ok(sum.broadcast_div(&count)?)
    }

    /// Logits `[batch, classes]` for ids `[batch, time]`.
    ///
    /// # Errors
    /// As [`AverageClassifier::average`].
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.head.forward(&self.average(ids)?)?)
    }
}

impl ModuleT for AverageClassifier {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        self.logits(xs).map_err(wrap)
    }
}
