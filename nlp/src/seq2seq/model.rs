//! The whole model: [`Encoder`] → [`Decoder`] with attention, trained on next-token
//! cross-entropy with teacher forcing. [`Seq2Seq`] implements the foundations [`Learner`], so the
//! foundations fit loop trains it (optimisers, clipping, schedules, checkpoints).
//!
//! Data are token ids. Sources `x`: `u32 [n, src_len]`, each row its tokens followed by `pad`;
//! targets `y`: `u32 [n, tgt_len]`, each row its tokens, then `eos`, then `pad` ([`pairs_dataset`]
//! builds both). The decoder reads `bos` then the target shifted right; padded target positions do
//! not count in the loss. A source's length is one past its last non-`pad` id.
//!
//! ```
//! use candle_core::{DType, Device};
//! use dls_foundations::train::Learner;
//! use dls_foundations::Params;
//! use dls_nlp::seq2seq::model::pairs_dataset;
//! use dls_nlp::seq2seq::{Seq2Seq, Seq2SeqConfig};
//! let cfg = Seq2SeqConfig { src_vocab: 6, tgt_vocab: 5, embedding: 4, enc_hidden: 4, dec_hidden: 6,
//!     attention_size: 4, ..Default::default() };
//! let params = Params::new(0);
//! let model = Seq2Seq::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let data = pairs_dataset(&[vec![3, 4, 5], vec![3]], &[vec![3, 4], vec![4]], &cfg, &Device::Cpu)?;
//! // Untrained: the cross-entropy is near ln(5), the uniform guess over the target vocabulary.
//! let loss = model.evaluate(&data)?.loss;
//! assert!((loss - 5f64.ln()).abs() < 0.3, "{loss}");
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use dls_foundations::data::Dataset;
use dls_foundations::train::{evaluate_token_sums, Evaluation, Learner};
use dls_sequence::cell::{CellKind, State};
use serde::{Deserialize, Serialize};

use super::attention::{AttentionKind, Keys};
use super::decoder::Decoder;
use super::encoder::{Encoded, Encoder};
use super::scorer::SourceScorer;
use super::search::{beam_search, greedy, BeamConfig, Hypothesis};
use crate::{Error, Result};

/// Configuration of a [`Seq2Seq`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    /// Source vocabulary size (`pad` included).
    pub src_vocab: usize,
    /// Target vocabulary size (`pad`, `bos`, `eos` included).
    pub tgt_vocab: usize,
    /// Embedding width of both sides.
    pub embedding: usize,
    /// Encoder units per direction (its outputs have twice as many features).
    pub enc_hidden: usize,
    /// Decoder units.
    pub dec_hidden: usize,
    /// Scoring function of the attention.
    pub attention: AttentionKind,
    /// Hidden width of additive attention.
    pub attention_size: usize,
    /// Recurrent cell of both sides.
    pub cell: CellKind,
    /// Padding id (source and target).
    pub pad: u32,
    /// Start-of-sequence id fed to the decoder first.
    pub bos: u32,
    /// End-of-sequence id closing every target.
    pub eos: u32,
}

impl Default for Seq2SeqConfig {
    fn default() -> Self {
        Self {
            src_vocab: 2,
            tgt_vocab: 3,
            embedding: 32,
            enc_hidden: 64,
            dec_hidden: 128,
            attention: AttentionKind::Additive,
            attention_size: 64,
            cell: CellKind::Lstm,
            pad: 0,
            bos: 1,
            eos: 2,
        }
    }
}

/// Pads id sequences into `u32 [n, longest]` with `pad`.
///
/// # Errors
/// [`Error::Empty`] for no sequences.
pub fn pad_ids(seqs: &[Vec<u32>], pad: u32, device: &Device) -> Result<Tensor> {
    let width = seqs.iter().map(Vec::len).max().ok_or_else(|| Error::Empty("no sequences to pad".into()))?;
    let mut flat = Vec::with_capacity(seqs.len() * width);
    for s in seqs {
        flat.extend_from_slice(s);
        flat.extend(std::iter::repeat_n(pad, width - s.len()));
    }
    Ok(Tensor::from_vec(flat, (seqs.len(), width.max(1)), device)?)
}

/// The training set of `(source, target)` pairs: sources padded, targets closed with `eos` and
/// padded (see the module docs).
///
/// # Errors
/// [`Error::Length`] when the lists differ in length; [`Error::Invalid`] for an empty source or
/// ids outside the vocabularies.
pub fn pairs_dataset(
    src: &[Vec<u32>],
    tgt: &[Vec<u32>],
    cfg: &Seq2SeqConfig,
    device: &Device,
) -> Result<Dataset> {
    if src.len() != tgt.len() {
        return Err(Error::length("target sequences", src.len(), tgt.len()));
    }
    for (i, (s, t)) in src.iter().zip(tgt).enumerate() {
        if s.is_empty() || s.iter().any(|&id| id == cfg.pad || id as usize >= cfg.src_vocab) {
            return Err(Error::invalid(
                "source",
                format!("pair {i}: {s:?} must be non-empty ids in 1..{}, not pad", cfg.src_vocab),
            ));
        }
        if t.iter().any(|&id| id == cfg.pad || id as usize >= cfg.tgt_vocab) {
            return Err(Error::invalid(
                "target",
                format!("pair {i}: {t:?} must be ids below {}, not pad", cfg.tgt_vocab),
            ));
        }
    }
    let closed: Vec<Vec<u32>> = tgt.iter().map(|t| t.iter().copied().chain([cfg.eos]).collect()).collect();
    Ok(Dataset::new(pad_ids(src, cfg.pad, device)?, pad_ids(&closed, cfg.pad, device)?)?)
}

/// Encoder-decoder with attention: sources `u32 [batch, src_len]` and decoder inputs
/// `u32 [batch, tgt_len]` to logits `[batch, tgt_len, tgt_vocab]`.
#[derive(Clone, Debug)]
pub struct Seq2Seq {
    cfg: Seq2SeqConfig,
    encoder: Encoder,
    decoder: Decoder,
}

impl Seq2Seq {
    /// Builds the model in `vb` (`encoder.*`, `decoder.*`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero sizes, special ids outside the target vocabulary, or dot
    /// attention with `dec_hidden != 2·enc_hidden`.
    pub fn new(vb: VarBuilder, cfg: &Seq2SeqConfig) -> Result<Self> {
        let ids = [cfg.pad, cfg.bos, cfg.eos];
        if ids.iter().any(|&i| i as usize >= cfg.tgt_vocab) || cfg.pad as usize >= cfg.src_vocab {
            return Err(Error::invalid(
                "seq2seq config",
                format!("special ids {ids:?} must be inside the vocabularies: {cfg:?}"),
            ));
        }
        let encoder = Encoder::new(vb.pp("encoder"), cfg.src_vocab, cfg.embedding, cfg.enc_hidden, cfg.cell)?;
        let decoder = Decoder::new(
            vb.pp("decoder"),
            cfg.tgt_vocab,
            cfg.embedding,
            cfg.dec_hidden,
            encoder.output_size(),
            cfg.cell,
            cfg.attention,
            cfg.attention_size,
        )?;
        Ok(Self { cfg: cfg.clone(), encoder, decoder })
    }

    /// The configuration.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.cfg
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Real length of each source row of `src` `u32 [batch, src_len]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a row of padding only or a tensor that is not `[batch, src_len]`.
    pub fn lengths(&self, src: &Tensor) -> Result<Vec<usize>> {
        let rows = src.to_dtype(DType::U32)?.to_vec2::<u32>().map_err(|_| {
            Error::invalid("source ids", format!("expected [batch, src_len], got {:?}", src.dims()))
        })?;
        rows.iter()
            .enumerate()
            .map(|(b, r)| match r.iter().rposition(|&id| id != self.cfg.pad) {
                Some(p) => Ok(p + 1),
                None => Err(Error::invalid("source", format!("row {b} is all padding"))),
            })
            .collect()
    }

    /// Encodes `src` and prepares the decoder: the encoding, attention keys and initial state.
    ///
    /// # Errors
    /// As [`Encoder::encode`].
    pub fn encode(&self, src: &Tensor) -> Result<(Encoded, Keys, State)> {
        let encoded = self.encoder.encode(src, &self.lengths(src)?)?;
        let keys = self.decoder.keys(&encoded)?;
        let init = self.decoder.init_state(&encoded)?;
        Ok((encoded, keys, init))
    }

    /// The decoder inputs for targets `y` `[batch, tgt_len]`: `bos`, then `y` shifted right.
    fn shifted(&self, y: &Tensor) -> Result<Tensor> {
        let (batch, len) = y.dims2()?;
        if len == 0 {
            return Err(Error::Empty("targets hold no tokens".into()));
        }
        let bos = Tensor::full(self.cfg.bos, (batch, 1), y.device())?;
        Ok(Tensor::cat(&[&bos, &y.to_dtype(DType::U32)?.narrow(1, 0, len - 1)?], 1)?)
    }

    /// Teacher-forced logits `[batch, tgt_len, tgt_vocab]` for sources `src` and targets `y`
    /// (laid out as in [`pairs_dataset`]), and each step's attention weights `[batch, src_len]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for shapes or ids that do not fit.
    pub fn forward(&self, src: &Tensor, y: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        match (src.dims(), y.dims()) {
            ([b, _], [c, t]) if b == c && *t > 0 => {}
            (s, t) => {
                return Err(Error::invalid(
                    "seq2seq batch",
                    format!("expected [batch, src_len] and [batch, tgt_len], got {s:?} and {t:?}"),
                ))
            }
        }
        let (_, keys, init) = self.encode(src)?;
        self.decoder.forward(&keys, &init, &self.shifted(y)?)
    }

    /// Summed negative log-likelihood over non-pad targets (a tensor carrying gradients), the
    /// number of such targets and how many the arg-max predicts.
    fn sums(&self, x: &Tensor, y: &Tensor) -> Result<(Tensor, f64, f64)> {
        let (logits, _) = self.forward(x, y)?;
        let logits = logits.flatten_to(1)?;
        let y = y.to_dtype(DType::U32)?.flatten_all()?;
        let keep = y.ne(self.cfg.pad)?;
        let logp = candle_nn::ops::log_softmax(&logits, 1)?;
        let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
        let weight = keep.to_dtype(logits.dtype())?;
        let nll = (picked * &weight)?.sum_all()?.neg()?;
        let count = keep.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        let hits = logits.argmax(1)?.eq(&y)?.to_dtype(DType::F64)?;
        let correct = (hits * keep.to_dtype(DType::F64)?)?.sum_all()?.to_scalar::<f64>()?;
        Ok((nll, count, correct))
    }

    /// A [`Scorer`](super::search::Scorer) for one source (its ids without padding), for greedy and
    /// beam search.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty source or ids outside the vocabulary.
    pub fn scorer(&self, src: &[u32]) -> Result<SourceScorer<'_>> {
        SourceScorer::new(self, src)
    }

    /// Greedy decoding of one source.
    ///
    /// # Errors
    /// As [`Seq2Seq::scorer`] and [`greedy`].
    pub fn greedy(&self, src: &[u32], max_len: usize) -> Result<Hypothesis> {
        let cfg = BeamConfig { max_len, eos: self.cfg.eos, ..Default::default() };
        greedy(&self.scorer(src)?, &cfg)
    }

    /// Greedy decoding of a whole batch at once: `src` `u32 [batch, src_len]` (padded as in
    /// [`pairs_dataset`]) to each row's tokens, its end token included when produced within
    /// `max_len` tokens. Equal to [`Seq2Seq::greedy`] row by row, in one decoder step per position.
    ///
    /// # Errors
    /// As [`Seq2Seq::encode`]; [`Error::Invalid`] for a zero `max_len`.
    pub fn greedy_batch(&self, src: &Tensor, max_len: usize) -> Result<Vec<Vec<u32>>> {
        if max_len == 0 {
            return Err(Error::invalid("max_len", "must be > 0"));
        }
        let (_, keys, mut state) = self.encode(src)?;
        let batch = src.dim(0)?;
        let mut prev = Tensor::full(self.cfg.bos, batch, src.device())?;
        let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(max_len); batch];
        for _ in 0..max_len {
            let step = self.decoder.step(&keys, &state, &prev)?;
            prev = step.logits.argmax(1)?;
            let ids = prev.to_vec1::<u32>()?;
            let mut open = false;
            for (row, &id) in out.iter_mut().zip(&ids) {
                if row.last() != Some(&self.cfg.eos) {
                    row.push(id);
                    open |= id != self.cfg.eos;
                }
            }
            if !open {
                break;
            }
            state = step.state;
        }
        Ok(out)
    }

    /// Beam search over one source (`cfg.eos` should be the model's end id).
    ///
    /// # Errors
    /// As [`Seq2Seq::scorer`] and [`beam_search`].
    pub fn beam(&self, src: &[u32], cfg: &BeamConfig) -> Result<Vec<Hypothesis>> {
        beam_search(&self.scorer(src)?, cfg)
    }

    /// Attention weights while producing `output` (its tokens, the end token included) from `src`:
    /// one row per output token, one column per source token.
    ///
    /// # Errors
    /// As [`Seq2Seq::scorer`]; [`Error::Invalid`] for an empty output or ids outside the vocabulary.
    pub fn attention_map(&self, src: &[u32], output: &[u32]) -> Result<Vec<Vec<f32>>> {
        if output.is_empty() {
            return Err(Error::invalid("output", "no tokens"));
        }
        let scorer = self.scorer(src)?;
        let dev = self.decoder.device().clone();
        let y = Tensor::from_vec(output.to_vec(), (1, output.len()), &dev)?;
        let (_, weights) = self.decoder.forward(scorer.keys(), scorer.initial_state(), &self.shifted(&y)?)?;
        weights.iter().map(|w| Ok(w.get(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)).collect()
    }
}

impl Learner for Seq2Seq {
    fn loss(&self, x: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        let (nll, count, _) = self.sums(x, y).map_err(to_foundations)?;
        if count == 0.0 {
            return Err(dls_foundations::Error::Empty("seq2seq batch has only padding targets".into()));
        }
        Ok((nll / count)?)
    }

    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        evaluate_token_sums(
            data,
            |x, y| self.sums(x, y).map_err(to_foundations),
            "evaluation set has only padding targets",
        )
    }
}

/// The foundations error a [`Learner`] must return.
fn to_foundations(e: Error) -> dls_foundations::Error {
    match e {
        Error::Foundations(f) => f,
        Error::Candle(c) => dls_foundations::Error::Candle(c),
        Error::Empty(m) => dls_foundations::Error::Empty(m),
        other => dls_foundations::Error::invalid("seq2seq input", other.to_string()),
    }
}
