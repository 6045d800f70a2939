//! The trained [`Seq2Seq`] as a [`Scorer`] for one source: the encoder runs once, then each
//! [`Scorer::extend`] call advances the decoder for all hypotheses in one batch (the source's keys
//! repeated per hypothesis), so beam search costs one decoder step per output position.
//!
//! ```
//! use candle_core::{DType, Device};
//! use dls_foundations::Params;
//! use dls_nlp::seq2seq::search::{sequence_log_prob, Scorer};
//! use dls_nlp::seq2seq::{Seq2Seq, Seq2SeqConfig};
//! let cfg = Seq2SeqConfig { src_vocab: 4, tgt_vocab: 5, embedding: 3, enc_hidden: 2, dec_hidden: 3,
//!     attention_size: 2, ..Default::default() };
//! let params = Params::new(0);
//! let model = Seq2Seq::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
//! let scorer = model.scorer(&[1, 2, 3])?;
//! let (_, first) = scorer.start()?;
//! let total: f64 = first.iter().map(|lp| lp.exp()).sum();
//! assert!((total - 1.0).abs() < 1e-12); // a distribution over the 5 target ids
//! assert!(sequence_log_prob(&scorer, &[3, 2])? < 0.0);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use candle_core::{DType, Tensor};
use dls_sequence::cell::State;

use super::attention::Keys;
use super::model::Seq2Seq;
use super::search::Scorer;
use crate::{Error, Result};

/// The trained model's next-token distribution for one source (see [`Seq2Seq::scorer`]); its
/// state is the decoder's recurrent state, `[1, dec_hidden]` tensors.
#[derive(Clone, Debug)]
pub struct SourceScorer<'a> {
    model: &'a Seq2Seq,
    keys: Keys,
    init: State,
}

impl<'a> SourceScorer<'a> {
    /// Encodes `src` (ids without padding) for decoding with `model`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty source or ids outside the vocabulary.
    pub fn new(model: &'a Seq2Seq, src: &[u32]) -> Result<Self> {
        if src.is_empty() {
            return Err(Error::invalid("source", "no tokens"));
        }
        let dev = model.decoder().device().clone();
        let ids = Tensor::from_vec(src.to_vec(), (1, src.len()), &dev)?;
        let encoded = model.encoder().encode(&ids, &[src.len()])?;
        let keys = model.decoder().keys(&encoded)?;
        let init = model.decoder().init_state(&encoded)?;
        Ok(Self { model, keys, init })
    }

    /// The source's attention keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The decoder's state before the start token.
    pub fn initial_state(&self) -> &State {
        &self.init
    }

    fn run(&self, states: &[&State], tokens: Vec<u32>) -> Result<Vec<(State, Vec<f64>)>> {
        let n = states.len();
        let hs: Vec<&Tensor> = states.iter().map(|s| &s.h).collect();
        let cs: Option<Vec<&Tensor>> = states.iter().map(|s| s.c.as_ref()).collect();
        let c = match cs {
            Some(cs) => Some(Tensor::cat(&cs, 0)?),
            None => None,
        };
        let state = State { h: Tensor::cat(&hs, 0)?, c };
        let keys = if n == 1 { self.keys.clone() } else { self.keys.repeat(n)? };
        let prev = Tensor::from_vec(tokens, n, state.h.device())?;
        let step = self.model.decoder().step(&keys, &state, &prev)?;
        let logp = candle_nn::ops::log_softmax(&step.logits, 1)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let mut out = Vec::with_capacity(n);
        for (i, row) in logp.into_iter().enumerate() {
            let s = State {
                h: step.state.h.narrow(0, i, 1)?,
                c: step.state.c.as_ref().map(|c| c.narrow(0, i, 1)).transpose()?,
            };
            out.push((s, row));
        }
        Ok(out)
    }
}

impl Scorer for SourceScorer<'_> {
    type State = State;

    fn start(&self) -> Result<(State, Vec<f64>)> {
        let mut out = self.run(&[&self.init], vec![self.model.config().bos])?;
        out.pop().ok_or_else(|| Error::Empty("decoder returned no state".into()))
    }

    fn extend(&self, items: &[(&State, u32)]) -> Result<Vec<(State, Vec<f64>)>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(&(_, t)) = items.iter().find(|(_, t)| *t as usize >= self.model.config().tgt_vocab) {
            return Err(Error::invalid(
                "token",
                format!("{t} is outside the target vocabulary of {}", self.model.config().tgt_vocab),
            ));
        }
        let states: Vec<&State> = items.iter().map(|(s, _)| *s).collect();
        self.run(&states, items.iter().map(|(_, t)| *t).collect())
    }
}
