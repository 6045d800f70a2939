//! Attention over encoder outputs (sheet 28): at each decoder step a query `s` (the decoder's
//! hidden state) scores every source position `j` against its encoder output `h_j`; a softmax over
//! the real (unpadded) positions turns the scores into weights `α_j`, and the context is
//! `c = Σ_j α_j h_j`.
//!
//! ```text
//! Additive (Bahdanau et al. 2015)   e_j = vᵀ tanh(W_q s + W_k h_j + b)
//! General  (Luong et al. 2015)      e_j = sᵀ W_a h_j
//! Dot      (Luong et al. 2015)      e_j = sᵀ h_j          (query and key sizes must be equal)
//! ```
//!
//! Padded positions get a score of -1e9 before the softmax, so their weight is exactly zero and
//! nothing the encoder wrote there can reach the context. The key-side products (`W_k h_j`,
//! `W_a h_j`) do not depend on the step, so [`Attention::prepare`] computes them once per source
//! batch.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_nlp::seq2seq::{Attention, AttentionKind};
//! let params = Params::new(0);
//! let vb = params.var_builder(DType::F32, &Device::Cpu);
//! let att = Attention::new(vb, AttentionKind::Dot, 2, 2, 0)?;
//! // One source of three positions, the last one padding.
//! let h = Tensor::new(&[[[1f32, 0.0], [0.0, 1.0], [5.0, 5.0]]], &Device::Cpu)?;
//! let keys = att.prepare(&h, &[2])?;
//! let (context, weights) = att.attend(&keys, &Tensor::new(&[[1f32, 0.0]], &Device::Cpu)?)?;
//! let w = weights.to_vec2::<f32>()?;
//! // Scores 1 and 0: weights e/(e+1) and 1/(e+1); the padded position gets none.
//! let e = std::f32::consts::E;
//! assert!((w[0][0] - e / (e + 1.0)).abs() < 1e-6 && w[0][2] == 0.0);
//! assert!((context.to_vec2::<f32>()?[0][1] - 1.0 / (e + 1.0)).abs() < 1e-6);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The score added at padded positions before the softmax (its exponential is exactly zero).
const MASKED: f64 = -1e9;

/// Which scoring function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttentionKind {
    /// Bahdanau's `vᵀ tanh(W_q s + W_k h + b)`, a one-hidden-layer network of width `size`.
    #[default]
    Additive,
    /// Luong's general (multiplicative) score `sᵀ W_a h`.
    General,
    /// Luong's dot score `sᵀ h`; no parameters, query and key sizes must match.
    Dot,
}

/// Encoder outputs made ready for [`Attention::attend`]: the values, their step-independent
/// projection and the mask of real positions.
#[derive(Clone, Debug)]
pub struct Keys {
    /// Encoder outputs `h`, `[batch, src_len, key_size]`.
    pub values: Tensor,
    /// `W_k h + b` (additive, `[batch, src_len, size]`), `h W_aᵀ` (general, `[batch, src_len,
    /// query_size]`) or `h` itself (dot).
    projected: Tensor,
    /// `u8 [batch, src_len]`, 1 at real positions.
    pub mask: Tensor,
    /// The filler score of padded positions, `[batch, src_len]`.
    filler: Tensor,
}

impl Keys {
    /// Source positions (padded length).
    ///
    /// # Errors
    /// Candle errors.
    pub fn src_len(&self) -> Result<usize> {
        Ok(self.values.dim(1)?)
    }

    /// The same keys repeated for `n` hypotheses of a batch of one source (beam search): `[1, ...]`
    /// to `[n, ...]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless the batch holds exactly one source.
    pub fn repeat(&self, n: usize) -> Result<Keys> {
        if self.values.dim(0)? != 1 {
            return Err(Error::invalid(
                "attention keys",
                format!("repeat needs a batch of 1, got {:?}", self.values.dims()),
            ));
        }
        let rep = |t: &Tensor| -> Result<Tensor> {
            let mut dims = t.dims().to_vec();
            dims[0] = n;
            Ok(t.broadcast_as(dims)?.contiguous()?)
        };
        Ok(Keys {
            values: rep(&self.values)?,
            projected: rep(&self.projected)?,
            mask: rep(&self.mask)?,
            filler: rep(&self.filler)?,
        })
    }
}

/// One attention layer: query `[batch, query_size]` and keys `[batch, src_len, key_size]` to a
/// context `[batch, key_size]` and weights `[batch, src_len]`.
#[derive(Clone, Debug)]
pub struct Attention {
    kind: AttentionKind,
    query_size: usize,
    key_size: usize,
    /// Additive: `W_q` `[size, query]`; general: `W_a` `[query, key]`.
    w_query: Option<Tensor>,
    /// Additive: `W_k` `[size, key]`, `b` `[size]`, `v` `[size, 1]`.
    w_key: Option<(Tensor, Tensor, Tensor)>,
}

impl Attention {
    /// Builds the layer in `vb`: additive `query.weight`, `key.weight`, `key.bias`, `v`; general
    /// `weight`; dot nothing. `size` is the additive layer's hidden width (ignored otherwise).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size, or dot attention with `query_size != key_size`.
    pub fn new(
        vb: VarBuilder,
        kind: AttentionKind,
        query_size: usize,
        key_size: usize,
        size: usize,
    ) -> Result<Self> {
        let bad_size = query_size == 0 || key_size == 0 || (kind == AttentionKind::Additive && size == 0);
        if bad_size {
            return Err(Error::invalid(
                "attention sizes",
                format!("must be > 0, got query {query_size}, key {key_size}, size {size}"),
            ));
        }
        let uniform = |fan_in: usize| {
            let k = 1.0 / (fan_in as f64).sqrt();
            Init::Uniform { lo: -k, up: k }
        };
        let (w_query, w_key) = match kind {
            AttentionKind::Additive => {
                let wq = vb.get_with_hints((size, query_size), "query.weight", uniform(query_size))?;
                let wk = vb.get_with_hints((size, key_size), "key.weight", uniform(key_size))?;
                let b = vb.get_with_hints(size, "key.bias", uniform(key_size))?;
                let v = vb.get_with_hints((size, 1), "v", uniform(size))?;
                (Some(wq), Some((wk, b, v)))
            }
            AttentionKind::General => {
                (Some(vb.get_with_hints((query_size, key_size), "weight", uniform(key_size))?), None)
            }
            AttentionKind::Dot if query_size != key_size => {
                return Err(Error::invalid(
                    "dot attention",
                    format!("query size {query_size} must equal key size {key_size}"),
                ))
            }
            AttentionKind::Dot => (None, None),
        };
        Ok(Self { kind, query_size, key_size, w_query, w_key })
    }

    /// The scoring function.
    pub fn kind(&self) -> AttentionKind {
        self.kind
    }

    /// Precomputes the key side for encoder outputs `values` `[batch, src_len, key_size]` of
    /// which sequence `b` is real for its first `lengths[b]` positions.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a wrong shape, `lengths` not of length `batch`, or a length of zero or
    /// past `src_len`.
    pub fn prepare(&self, values: &Tensor, lengths: &[usize]) -> Result<Keys> {
        let (batch, src_len, k) = values.dims3().map_err(|_| {
            Error::invalid(
                "attention keys",
                format!("expected [batch, src_len, {}], got {:?}", self.key_size, values.dims()),
            )
        })?;
        if k != self.key_size {
            return Err(Error::invalid(
                "attention keys",
                format!("expected {} features, got {:?}", self.key_size, values.dims()),
            ));
        }
        if lengths.len() != batch {
            return Err(Error::length("attention source lengths", batch, lengths.len()));
        }
        if let Some((b, l)) = lengths.iter().enumerate().find(|(_, &l)| l == 0 || l > src_len) {
            return Err(Error::invalid(
                "source length",
                format!("sequence {b} has length {l}, expected 1..={src_len}"),
            ));
        }
        let mask: Vec<u8> =
            lengths.iter().flat_map(|&l| (0..src_len).map(move |j| u8::from(j < l))).collect();
        let mask = Tensor::from_vec(mask, (batch, src_len), values.device())?;
        let filler = Tensor::full(MASKED, (batch, src_len), values.device())?.to_dtype(values.dtype())?;
        let values = values.contiguous()?;
        let projected = match (&self.w_query, &self.w_key) {
            (_, Some((wk, b, _))) => values.broadcast_matmul(&wk.t()?)?.broadcast_add(b)?,
            (Some(wa), None) => values.broadcast_matmul(&wa.t()?)?,
            (None, None) => values.clone(),
        };
        Ok(Keys { values, projected, mask, filler })
    }

    /// The context `[batch, key_size]` and attention weights `[batch, src_len]` for `query`
    /// `[batch, query_size]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the query does not fit the layer or the keys' batch.
    pub fn attend(&self, keys: &Keys, query: &Tensor) -> Result<(Tensor, Tensor)> {
        let batch = keys.values.dim(0)?;
        if query.dims() != [batch, self.query_size] {
            return Err(Error::invalid(
                "attention query",
                format!("expected [{batch}, {}], got {:?}", self.query_size, query.dims()),
            ));
        }
        let scores = self.scores(keys, query)?;
        let scores = keys.mask.where_cond(&scores, &keys.filler)?;
        let weights = candle_nn::ops::softmax(&scores, 1)?;
        let context = weights.unsqueeze(1)?.matmul(&keys.values)?.squeeze(1)?;
        Ok((context, weights))
    }

    /// Raw scores `[batch, src_len]` before masking.
    fn scores(&self, keys: &Keys, query: &Tensor) -> Result<Tensor> {
        let (batch, src_len) = (keys.values.dim(0)?, keys.values.dim(1)?);
        match (&self.w_query, &self.w_key) {
            (Some(wq), Some((_, _, v))) => {
                let q = query.matmul(&wq.t()?)?.unsqueeze(1)?;
                let e = keys.projected.broadcast_add(&q)?.tanh()?;
                let size = v.dim(0)?;
                Ok(e.reshape((batch * src_len, size))?.matmul(v)?.reshape((batch, src_len))?)
            }
            _ => {
                // General: (h W_aᵀ) s, dot: h s, both one batched product.
                Ok(keys.projected.matmul(&query.unsqueeze(2)?)?.squeeze(2)?)
            }
        }
    }
}
