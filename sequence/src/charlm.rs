//! A character language model (sheet 24): embedding, a recurrent layer and a linear head over the
//! vocabulary, trained on next-character prediction with truncated back-propagation through time,
//! sampled one character at a time with a temperature.
//!
//! [`CharLm`] implements the foundations [`Learner`], so the foundations fit loop trains it, with
//! gradient clipping, learning-rate schedules and checkpoints to resume from. Inputs and targets are
//! `u32 [batch, time]` (see [`crate::corpus`]); targets equal to [`IGNORE`] are padding.
//! [`Evaluation::loss`] is the mean negative log-likelihood per character, so the per-character
//! perplexity is its exponential, and [`Evaluation::accuracy`] the next-character accuracy.
//!
//! Training runs fast paths (see [`crate::fused_seq`]): the recurrent layer picks rows of the
//! embedding table already multiplied through its input weights inside one whole-sequence op, and
//! the head and the cross-entropy are one more op (`fused_head.rs`), so a training step is a
//! handful of graph nodes whatever the sequence length.
//!
//! ```
//! use candle_core::{DType, Device};
//! use dls_foundations::Params;
//! use dls_sequence::charlm::{CharLm, CharLmConfig};
//! use dls_sequence::corpus::lines_dataset;
//! use dls_sequence::vocab::CharVocab;
//! let vocab = CharVocab::from_text("abc")?;
//! let params = Params::new(0);
//! let cfg = CharLmConfig { vocab_size: vocab.len(), embedding: 4, hidden: 8, ..Default::default() };
//! let lm = CharLm::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! // Untrained, every next character is about equally likely: perplexity near the vocabulary size.
//! let ppl = lm.perplexity(&lines_dataset(&["abc", "cab"], &vocab)?)?;
//! assert!((ppl - 4.0).abs() < 0.5, "{ppl}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};
use dls_foundations::data::Dataset;
use dls_foundations::train::{evaluate_token_sums, Evaluation, Learner};
use dls_foundations::SeededRng;
use serde::{Deserialize, Serialize};

use crate::cell::{CellKind, State};
pub use crate::corpus::IGNORE;
use crate::fused_head::head_nll;
use crate::fused_seq::fused_sequence;
use crate::layer::{InputProjection, Rnn, RnnConfig, StepInput};
use crate::layer_seq::First;
use crate::sample::sample_index;
use crate::vocab::{CharVocab, END};
use crate::{Error, Result};

/// Configuration of a [`CharLm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharLmConfig {
    /// Vocabulary size (the end marker included).
    pub vocab_size: usize,
    /// Embedding width.
    pub embedding: usize,
    /// Hidden units of the recurrent layer.
    pub hidden: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// The recurrent cell.
    pub kind: CellKind,
    /// Truncated back-propagation through time: gradients flow back at most this many steps (the
    /// state is carried forward across chunks, detached); `None` back-propagates through the whole
    /// row.
    pub bptt: Option<usize>,
    /// Input projection of the first recurrent layer: [`InputProjection::Hoisted`] (the default
    /// here) multiplies the whole embedding table through the input weights once per forward pass
    /// (`[vocab, gates·hidden]`) and picks rows per step; [`InputProjection::PerStep`] embeds and
    /// projects each step, the equations as written.
    pub projection: InputProjection,
}

impl Default for CharLmConfig {
    fn default() -> Self {
        Self {
            vocab_size: 2,
            embedding: 32,
            hidden: 128,
            num_layers: 1,
            kind: CellKind::Lstm,
            bptt: None,
            projection: InputProjection::Hoisted,
        }
    }
}

/// How [`CharLm::sample`] generates.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    /// Text to start from (part of the result).
    pub prefix: String,
    /// Stop after this many characters (prefix included) if the end marker has not come.
    pub max_len: usize,
    /// Softmax temperature (0 = greedy).
    pub temperature: f64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self { prefix: String::new(), max_len: 40, temperature: 1.0 }
    }
}

/// Embedding → recurrent layer → linear head: `u32 [batch, time]` ids to logits
/// `[batch, time, vocab]`.
#[derive(Clone, Debug)]
pub struct CharLm {
    cfg: CharLmConfig,
    embed: Embedding,
    rnn: Rnn,
    head: Linear,
}

impl CharLm {
    /// Builds the model in `vb`: `embed.weight`, `rnn.weight_ih_l0`, ..., `head.weight`,
    /// `head.bias`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero sizes or a zero `bptt`.
    pub fn new(vb: VarBuilder, cfg: &CharLmConfig) -> Result<Self> {
        if cfg.vocab_size == 0 || cfg.embedding == 0 || cfg.hidden == 0 || cfg.bptt == Some(0) {
            return Err(Error::invalid("char lm config", format!("sizes and bptt must be > 0: {cfg:?}")));
        }
        let embed = candle_nn::embedding(cfg.vocab_size, cfg.embedding, vb.pp("embed"))?;
        let rnn_cfg = RnnConfig {
            kind: cfg.kind,
            input_size: cfg.embedding,
            hidden_size: cfg.hidden,
            num_layers: cfg.num_layers,
            ..Default::default()
        };
        let rnn = Rnn::new(vb.pp("rnn"), &rnn_cfg)?;
        let head = candle_nn::linear(cfg.hidden, cfg.vocab_size, vb.pp("head"))?;
        Ok(Self { cfg: cfg.clone(), embed, rnn, head })
    }

    /// The configuration.
    pub fn config(&self) -> &CharLmConfig {
        &self.cfg
    }

    /// Logits `[batch, time, vocab]` for ids `u32 [batch, time]`, starting from `init` (zero
    /// states when `None`), and the final states.
    ///
    /// # Errors
    /// [`Error::Shape`] unless `ids` is `[batch, time]`; [`Error::UnknownId`] for an id outside
    /// the vocabulary; errors of [`Rnn::forward_with`].
    pub fn forward(&self, ids: &Tensor, init: Option<&[State]>) -> Result<(Tensor, Vec<State>)> {
        let (logits, states) = self.forward_time_first(ids, init)?;
        Ok((logits.transpose(0, 1)?, states))
    }

    /// [`CharLm::forward`] with time-first logits `[time, batch, vocab]`.
    fn forward_time_first(&self, ids: &Tensor, init: Option<&[State]>) -> Result<(Tensor, Vec<State>)> {
        let (h, (time, batch), states) = self.top_time_first(ids, init)?;
        let h = h.narrow(0, 0, time)?.reshape((time * batch, ()))?;
        // The head as one [time·batch, hidden] product.
        let logits = self.head.forward(&h)?;
        Ok((logits.reshape((time, batch, ()))?, states))
    }

    /// The top recurrent layer's outputs for ids `[batch, time]`, time-first: a tensor `[steps,
    /// batch, hidden]` whose first `time` steps are the outputs (on the fused path, the whole
    /// output of the LSTM op, final states behind the outputs, so that the loss reads it without a
    /// slice in the graph), `(time, batch)`, and the final states.
    fn top_time_first(
        &self,
        ids: &Tensor,
        init: Option<&[State]>,
    ) -> Result<(Tensor, (usize, usize), Vec<State>)> {
        if ids.rank() != 2 {
            return Err(Error::shape("char lm input", "u32 ids [batch, time]", ids.dims()));
        }
        let ids = ids.to_dtype(DType::U32)?;
        let max = ids.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max as usize >= self.cfg.vocab_size {
            return Err(Error::UnknownId { id: max, size: self.cfg.vocab_size });
        }
        let ids_tf = ids.t()?.contiguous()?;
        let (time, batch) = ids_tf.dims2()?;
        // Projecting the table pays off once a pass reads at least as many ids as it has rows
        // (not when sampling one character at a time).
        let hoist = self.cfg.projection == InputProjection::Hoisted && time * batch >= self.cfg.vocab_size;
        if self.rnn.fused() {
            // Whole-sequence tensors: the op picks rows of the projected table itself (or one
            // embedding lookup for all steps), one op per layer.
            let out = if hoist {
                let table = self.rnn.cells()[0].project_fused(self.embed.embeddings())?;
                self.rnn.run_sequence(First::Table(&[table], &ids_tf, true), init, None)?
            } else {
                let x = self.embed.forward(&ids_tf)?;
                self.rnn.run_sequence(First::Features(&x), init, None)?
            };
            return Ok((out.top.unwrap_or(out.output), (time, batch), out.states));
        }
        // Step by step from the ids (which carry no gradient), so no whole-sequence tensor is
        // sliced.
        let out = if hoist {
            // One matmul projects every embedding row through all gates: a [vocab, gates·hidden]
            // table whose rows are picked per step.
            let table = self.rnn.cells()[0].project_input(self.embed.embeddings())?;
            let steps: Vec<Tensor> = (0..time)
                .map(|t| table.index_select(&ids_tf.get(t)?, 0))
                .collect::<candle_core::Result<_>>()?;
            self.rnn.forward_steps(StepInput::Projected(&[steps]), init, None)?
        } else {
            let steps: Vec<Tensor> =
                (0..time).map(|t| self.embed.forward(&ids_tf.get(t)?)).collect::<candle_core::Result<_>>()?;
            self.rnn.forward_steps(StepInput::Features(&steps), init, None)?
        };
        Ok((Tensor::stack(&out.outputs, 0)?, (time, batch), out.states))
    }

    /// Summed negative log-likelihood (a tensor carrying gradients), number of targets and number
    /// of correct arg-max predictions, over `x`, `y` in chunks of `bptt` steps.
    fn sums(&self, x: &Tensor, y: &Tensor) -> Result<(Tensor, f64, f64)> {
        if x.dims() != y.dims() || x.rank() != 2 {
            return Err(Error::shape("char lm targets", format!("{:?} like the inputs", x.dims()), y.dims()));
        }
        let t = x.dim(1)?;
        let k = self.cfg.bptt.map_or(t, |k| k.min(t)).max(1);
        let (mut nll, mut count, mut correct) = (None::<Tensor>, 0.0, 0.0);
        let mut states: Option<Vec<State>> = None;
        let mut start = 0;
        while start < t {
            let len = k.min(t - start);
            let (x, y) = (x.narrow(1, start, len)?, y.narrow(1, start, len)?);
            let targets = y.to_dtype(DType::U32)?.t()?.contiguous()?.flatten_all()?;
            let ((s, n, c), last) = match (fused_sequence(), self.head.bias()) {
                (true, Some(bias)) => {
                    // The head and the cross-entropy as one op on the top layer's raw output.
                    let (h, _, last) = self.top_time_first(&x, states.as_deref())?;
                    let r = head_nll(&h, self.head.weight(), bias, &targets.to_vec1::<u32>()?)?;
                    ((r.nll, r.count, r.correct), last)
                }
                _ => {
                    let (logits, last) = self.forward_time_first(&x, states.as_deref())?;
                    (masked_nll(&logits.flatten_to(1)?, &targets)?, last)
                }
            };
            nll = Some(match nll {
                Some(a) => (a + s)?,
                None => s,
            });
            count += n;
            correct += c;
            states = Some(last.iter().map(State::detach).collect());
            start += len;
        }
        let nll = nll.ok_or_else(|| Error::Empty("char lm batch has no time steps".into()))?;
        Ok((nll, count, correct))
    }

    /// Per-character perplexity over `data`: `exp` of the mean negative log-likelihood.
    ///
    /// # Errors
    /// As [`Learner::evaluate`].
    pub fn perplexity(&self, data: &Dataset) -> Result<f64> {
        Ok(self.evaluate(data)?.loss.exp())
    }

    /// Generates text one character at a time (one-to-many): the model reads the end marker, then
    /// the prefix, then each character it samples, until it samples the end marker or reaches
    /// `max_len` characters. Draws come from `rng`, so a seeded stream gives the same text.
    ///
    /// # Errors
    /// [`Error::UnknownChar`] for a prefix character not in `vocab`; [`Error::Invalid`] for a
    /// negative or non-finite temperature or a vocabulary of another size than the model's.
    pub fn sample(&self, vocab: &CharVocab, cfg: &SampleConfig, rng: &SeededRng) -> Result<String> {
        if vocab.len() != self.cfg.vocab_size {
            return Err(Error::invalid(
                "vocabulary",
                format!("has {} ids, the model {}", vocab.len(), self.cfg.vocab_size),
            ));
        }
        let prefix = vocab.encode(&cfg.prefix)?;
        let mut text = cfg.prefix.clone();
        let dev = self.head.weight().device();
        let mut input: Vec<u32> = std::iter::once(0).chain(prefix.iter().copied()).collect();
        let mut states: Option<Vec<State>> = None;
        let mut produced = prefix.len();
        while produced < cfg.max_len {
            let ids = Tensor::from_vec(input.clone(), (1, input.len()), dev)?;
            let (logits, last) = self.forward(&ids, states.as_deref())?;
            states = Some(last);
            let row: Vec<f32> = logits.get(0)?.get(input.len() - 1)?.to_dtype(DType::F32)?.to_vec1()?;
            let id = sample_index(&row, cfg.temperature, &mut *rng.lock())? as u32;
            if id == 0 {
                break;
            }
            text.extend(vocab.decode(&[id])?.chars().filter(|&c| c != END));
            input = vec![id];
            produced += 1;
        }
        Ok(text)
    }
}

/// Sum over non-ignored targets of `-log softmax(logits)[y]`, their count and the number of
/// correct arg-max predictions; `logits` `[n, vocab]`, `y` `u32 [n]`.
fn masked_nll(logits: &Tensor, y: &Tensor) -> Result<(Tensor, f64, f64)> {
    let y = y.to_dtype(DType::U32)?;
    let keep = y.ne(IGNORE)?;
    let safe = keep.where_cond(&y, &y.zeros_like()?)?;
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let picked = logp.gather(&safe.unsqueeze(1)?, 1)?.squeeze(1)?;
    let weight = keep.to_dtype(logits.dtype())?;
    let nll = (picked * &weight)?.sum_all()?.neg()?;
    let count = keep.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let hits = logits.argmax(1)?.eq(&safe)?.to_dtype(DType::F64)?;
    let correct = (hits * keep.to_dtype(DType::F64)?)?.sum_all()?.to_scalar::<f64>()?;
    Ok((nll, count, correct))
}

impl Learner for CharLm {
    fn loss(&self, x: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        let (nll, count, _) = self.sums(x, y).map_err(to_foundations)?;
        if count == 0.0 {
            return Err(dls_foundations::Error::Empty("char lm batch has only padding".into()));
        }
        Ok((nll / count)?)
    }

    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        evaluate_token_sums(
            data,
            |x, y| self.sums(x, y).map_err(to_foundations),
            "evaluation set has only padding",
        )
    }
}

/// The foundations error a [`Learner`] must return.
fn to_foundations(e: Error) -> dls_foundations::Error {
    match e {
        Error::Foundations(f) => f,
        Error::Candle(c) => dls_foundations::Error::Candle(c),
        Error::Empty(m) => dls_foundations::Error::Empty(m),
        Error::Shape { what, expected, got } => dls_foundations::Error::Shape { what, expected, got },
        other => dls_foundations::Error::invalid("char lm input", other.to_string()),
    }
}
