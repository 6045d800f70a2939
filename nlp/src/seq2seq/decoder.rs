//! The attention decoder. At step `t`, with `s_{t-1}` the previous decoder state and `y_{t-1}`
//! the previous target token (the start token at `t = 1`):
//!
//! ```text
//! c_t, α_t = attention(query s_{t-1}, keys h_1..h_Tx)
//! s_t      = cell([embed(y_{t-1}); c_t], s_{t-1})          (LSTM or GRU)
//! logits_t = W_o [s_t; c_t] + b_o
//! s_0      = tanh(W_b [h→_Tx; h←_1] + b_b)                 (an LSTM's memory starts at zero)
//! ```
//!
//! Training feeds the reference tokens as `y_{t-1}` (teacher forcing, [`Decoder::forward`]);
//! generation feeds back its own choices one [`Decoder::step`] at a time. Shapes: keys from
//! [`super::Attention::prepare`], ids `u32 [batch]` per step, logits `[batch, vocab]`, attention
//! weights `[batch, src_len]`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_nlp::seq2seq::{AttentionKind, Decoder, Encoder};
//! use dls_sequence::cell::CellKind;
//! let params = Params::new(0);
//! let vb = params.var_builder(DType::F32, &Device::Cpu);
//! let enc = Encoder::new(vb.pp("encoder"), 5, 4, 3, CellKind::Lstm)?;
//! let dec = Decoder::new(vb.pp("decoder"), 7, 4, 8, 6, CellKind::Lstm, AttentionKind::Additive, 5)?;
//! let encoded = enc.encode(&Tensor::new(&[[1u32, 2, 3]], &Device::Cpu)?, &[3])?;
//! let keys = dec.keys(&encoded)?;
//! let inputs = Tensor::new(&[[1u32, 4]], &Device::Cpu)?; // start token, then the first target
//! let (logits, weights) = dec.forward(&keys, &dec.init_state(&encoded)?, &inputs)?;
//! assert_eq!(logits.dims(), &[1, 2, 7]);
//! let total: f32 = weights[0].sum_all()?.to_scalar()?;
//! assert!((total - 1.0).abs() < 1e-6); // one source, weights sum to one
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};
use dls_sequence::cell::{Cell, CellKind, State};

use super::attention::{Attention, AttentionKind, Keys};
use super::encoder::Encoded;
use crate::{Error, Result};

/// One decoder step's results.
#[derive(Clone, Debug)]
pub struct Step {
    /// Next-token logits `[batch, vocab]`.
    pub logits: Tensor,
    /// The new state.
    pub state: State,
    /// Attention weights used at this step, `[batch, src_len]`.
    pub weights: Tensor,
}

/// Embedding, attention, recurrent cell and output layer of the target side.
#[derive(Clone, Debug)]
pub struct Decoder {
    embed: Embedding,
    cell: Cell,
    attention: Attention,
    bridge: Linear,
    out: Linear,
    vocab: usize,
}

impl Decoder {
    /// Builds the decoder in `vb` (`embed`, `cell.weight_ih_l0`..., `attention`, `bridge`, `out`)
    /// for `vocab` target ids, `embedding` features, `hidden` units, encoder outputs of `key_size`
    /// features and an attention of `kind` (additive width `attention_size`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size, or dot attention with `hidden != key_size`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vb: VarBuilder,
        vocab: usize,
        embedding: usize,
        hidden: usize,
        key_size: usize,
        kind: CellKind,
        attention: AttentionKind,
        attention_size: usize,
    ) -> Result<Self> {
        if vocab == 0 || embedding == 0 {
            return Err(Error::invalid(
                "decoder sizes",
                format!("must be > 0, got vocab {vocab}, embedding {embedding}"),
            ));
        }
        let attention = Attention::new(vb.pp("attention"), attention, hidden, key_size, attention_size)?;
        let embed = candle_nn::embedding(vocab, embedding, vb.pp("embed"))?;
        let cell = Cell::new(vb.pp("cell"), kind, embedding + key_size, hidden, "l0").map_err(Error::from)?;
        let bridge = candle_nn::linear(key_size, hidden, vb.pp("bridge"))?;
        let out = candle_nn::linear(hidden + key_size, vocab, vb.pp("out"))?;
        Ok(Self { embed, cell, attention, bridge, out, vocab })
    }

    /// Size of the target vocabulary.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The device of the weights.
    pub fn device(&self) -> &Device {
        self.embed.embeddings().device()
    }

    /// The attention layer.
    pub fn attention(&self) -> &Attention {
        &self.attention
    }

    /// The encoder outputs prepared for attention (padded positions masked).
    ///
    /// # Errors
    /// As [`Attention::prepare`].
    pub fn keys(&self, encoded: &Encoded) -> Result<Keys> {
        self.attention.prepare(&encoded.outputs, &encoded.lengths)
    }

    /// The initial state `s_0` from the encoder's summary.
    ///
    /// # Errors
    /// Candle errors when the summary does not have the encoder's output size.
    pub fn init_state(&self, encoded: &Encoded) -> Result<State> {
        let h = self.bridge.forward(&encoded.summary)?.tanh()?;
        let c = match self.cell.kind() {
            CellKind::Lstm => Some(h.zeros_like()?),
            _ => None,
        };
        Ok(State { h, c })
    }

    /// One step from `state` after token `prev` (`u32 [batch]`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an id outside the vocabulary or shapes that do not fit the keys.
    pub fn step(&self, keys: &Keys, state: &State, prev: &Tensor) -> Result<Step> {
        let (context, weights) = self.attention.attend(keys, &state.h)?;
        let x = Tensor::cat(&[&self.embed.forward(prev)?, &context], 1)?;
        let state = self.cell.step(&x, state).map_err(Error::from)?;
        let logits = self.out.forward(&Tensor::cat(&[&state.h, &context], 1)?)?;
        Ok(Step { logits, state, weights })
    }

    /// Teacher forcing: logits `[batch, tgt_len, vocab]` when `inputs` (`u32 [batch, tgt_len]`:
    /// the start token, then the reference shifted right) are fed in, and each step's attention
    /// weights `[batch, src_len]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for inputs that are not `[batch, tgt_len]` with ids in the vocabulary;
    /// [`Error::Empty`] for no rows or no steps.
    pub fn forward(&self, keys: &Keys, init: &State, inputs: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        let (batch, tgt_len) = inputs.dims2().map_err(|_| {
            Error::invalid("decoder inputs", format!("expected [batch, tgt_len], got {:?}", inputs.dims()))
        })?;
        if batch == 0 || tgt_len == 0 {
            return Err(Error::Empty(format!("decoder inputs {:?} hold no tokens", inputs.dims())));
        }
        let inputs = inputs.to_dtype(DType::U32)?;
        let max = inputs.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max as usize >= self.vocab {
            return Err(Error::invalid(
                "target id",
                format!("{max} is outside the vocabulary of {}", self.vocab),
            ));
        }
        let inputs = inputs.t()?.contiguous()?;
        let mut state = init.clone();
        let (mut logits, mut weights) = (Vec::with_capacity(tgt_len), Vec::with_capacity(tgt_len));
        for t in 0..tgt_len {
            let step = self.step(keys, &state, &inputs.get(t)?)?;
            logits.push(step.logits);
            weights.push(step.weights);
            state = step.state;
        }
        Ok((Tensor::stack(&logits, 1)?, weights))
    }
}
