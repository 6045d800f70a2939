//! The encoder: an embedding and a bidirectional recurrent layer (LSTM or GRU from
//! [`dls_sequence::layer`]) reading the source ids, with padded positions masked by length.
//!
//! Input `u32 [batch, src_len]`, output `[batch, src_len, 2·hidden]` (forward and backward states
//! concatenated, zero at padded positions) and a summary `[batch, 2·hidden]`: the forward
//! direction's state after the last real token with the backward direction's state after the
//! first. The first layer's input projection is hoisted through the embedding table (one
//! `[vocab, gates·hidden]` product per pass, rows picked per step), which is exact and saves a
//! matmul per step.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_nlp::seq2seq::Encoder;
//! use dls_sequence::cell::CellKind;
//! let params = Params::new(0);
//! let enc = Encoder::new(params.var_builder(DType::F32, &Device::Cpu), 6, 4, 3, CellKind::Gru)?;
//! let ids = Tensor::new(&[[1u32, 2, 3], [4, 5, 0]], &Device::Cpu)?;
//! let out = enc.encode(&ids, &[3, 2])?;
//! assert_eq!(out.outputs.dims(), &[2, 3, 6]);
//! // The second source's padded position is zero.
//! assert_eq!(out.outputs.get(1)?.get(2)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, VarBuilder};
use dls_sequence::cell::CellKind;
use dls_sequence::layer::{Directions, Rnn, RnnConfig, SequenceInput};

use crate::{Error, Result};

/// What [`Encoder::encode`] returns.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Per-position outputs `[batch, src_len, 2·hidden]`, zero at padded positions.
    pub outputs: Tensor,
    /// The summary `[batch, 2·hidden]` (final forward state, final backward state).
    pub summary: Tensor,
    /// Real length of each source.
    pub lengths: Vec<usize>,
}

/// Embedding → bidirectional recurrent layer: `u32 [batch, src_len]` to [`Encoded`].
#[derive(Clone, Debug)]
pub struct Encoder {
    embed: Embedding,
    rnn: Rnn,
    vocab: usize,
}

impl Encoder {
    /// Builds the encoder in `vb` (`embed.weight`, `rnn.weight_ih_l0`, `rnn.weight_ih_l0_reverse`,
    /// ...) for a source vocabulary of `vocab` ids, `embedding` features and `hidden` units per
    /// direction.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size.
    pub fn new(
        vb: VarBuilder,
        vocab: usize,
        embedding: usize,
        hidden: usize,
        kind: CellKind,
    ) -> Result<Self> {
        if vocab == 0 || embedding == 0 || hidden == 0 {
            return Err(Error::invalid(
                "encoder sizes",
                format!("must be > 0, got vocab {vocab}, embedding {embedding}, hidden {hidden}"),
            ));
        }
        let embed = candle_nn::embedding(vocab, embedding, vb.pp("embed"))?;
        let cfg = RnnConfig {
            kind,
            input_size: embedding,
            hidden_size: hidden,
            directions: Directions::Bidirectional,
            ..Default::default()
        };
        let rnn = Rnn::new(vb.pp("rnn"), &cfg).map_err(Error::from)?;
        Ok(Self { embed, rnn, vocab })
    }

    /// Features per position of the output (`2·hidden`).
    pub fn output_size(&self) -> usize {
        2 * self.rnn.config().hidden_size
    }

    /// Encodes `ids` `u32 [batch, src_len]`, reading source `b` only for its first `lengths[b]`
    /// positions.
    ///
    /// # Errors
    /// [`Error::Invalid`] for ids that are not `[batch, src_len]`, an id outside the vocabulary,
    /// or lengths that do not fit (zero, past `src_len`, not one per source); [`Error::Empty`] for
    /// no rows.
    pub fn encode(&self, ids: &Tensor, lengths: &[usize]) -> Result<Encoded> {
        let (batch, src_len) = ids.dims2().map_err(|_| {
            Error::invalid("source ids", format!("expected [batch, src_len], got {:?}", ids.dims()))
        })?;
        if batch == 0 {
            return Err(Error::Empty("source batch has no rows".into()));
        }
        if lengths.len() != batch {
            return Err(Error::length("source lengths", batch, lengths.len()));
        }
        if let Some((b, l)) = lengths.iter().enumerate().find(|(_, &l)| l == 0 || l > src_len) {
            return Err(Error::invalid(
                "source length",
                format!("source {b} has length {l}, expected 1..={src_len}"),
            ));
        }
        let ids = ids.to_dtype(DType::U32)?;
        let max = ids.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max as usize >= self.vocab {
            return Err(Error::invalid(
                "source id",
                format!("{max} is outside the vocabulary of {}", self.vocab),
            ));
        }
        let ids_tf = ids.t()?.contiguous()?;
        // Each direction's first cell projects the embedding table once; the whole-sequence op
        // picks rows by id, so no per-step tensors enter the graph.
        let tables = self.rnn.cells()[..2]
            .iter()
            .map(|cell| cell.project_input(self.embed.embeddings()).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        let out = self
            .rnn
            .forward_sequence(SequenceInput::Table { tables: &tables, ids: &ids_tf }, None, Some(lengths))
            .map_err(Error::from)?;
        let outputs = out.output.transpose(0, 1)?.contiguous()?;
        let hs: Vec<Tensor> = out.states.iter().map(|s| s.h.clone()).collect();
        let summary = Tensor::cat(&hs, 1)?;
        Ok(Encoded { outputs, summary, lengths: lengths.to_vec() })
    }
}
