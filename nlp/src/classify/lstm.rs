//! Model 2 of the course's Emojify: an LSTM over the word vectors, its last state into softmax.

use std::collections::HashMap;

use candle_core::Tensor;
use candle_nn::{Linear, Module, ModuleT, VarBuilder};
use dls_sequence::cell::CellKind;
use dls_sequence::layer::{Directions, InputProjection, Rnn, RnnConfig, SequenceInput, StepInput};

use crate::classify::embed::{check_ids, wrap, WordEmbedding};
use crate::classify::encode::PAD;
use crate::{Error, Result};

/// Settings of an [`LstmClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct LstmClassifierConfig {
    /// LSTM units per direction.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub num_layers: usize,
    /// One direction or both (the last states of both are concatenated).
    pub directions: Directions,
    /// Number of classes.
    pub classes: usize,
    /// [`InputProjection::Hoisted`] (the default) multiplies the vectors of the batch's distinct
    /// words through the first layer's input weights once per forward pass (`[distinct,
    /// 4·hidden]`) and picks rows per step; [`InputProjection::PerStep`] looks up and projects each
    /// step's vectors, the equations as written. Both give the same logits; hoisting trained the
    /// verse LSTM about a third faster.
    pub projection: InputProjection,
}

impl Default for LstmClassifierConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            num_layers: 1,
            directions: Directions::Forward,
            classes: 2,
            projection: InputProjection::Hoisted,
        }
    }
}

/// Word vectors → LSTM (many-to-one) → linear layer: ids `u32 [batch, time]` (padded at the end with
/// [`PAD`]) to logits `[batch, classes]`.
///
/// Each sequence is read up to its last non-padding id (masking through the layer's `lengths`, so
/// the state used is the one after the sequence's own last word); a batch is run only for as many
/// steps as its longest sequence. Parameters: `lstm.weight_ih_l0`, ... (PyTorch's `nn.LSTM`
/// names) and `head.weight`, `head.bias`.
#[derive(Clone, Debug)]
pub struct LstmClassifier {
    embed: WordEmbedding,
    rnn: Rnn,
    head: Linear,
    directions: usize,
    projection: InputProjection,
}

impl LstmClassifier {
    /// Builds the LSTM and the head in `vb` over `embed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero hidden units, layers or classes.
    pub fn new(vb: VarBuilder, embed: WordEmbedding, cfg: &LstmClassifierConfig) -> Result<Self> {
        if cfg.hidden == 0 || cfg.num_layers == 0 || cfg.classes == 0 {
            return Err(Error::invalid("lstm classifier config", format!("sizes must be > 0: {cfg:?}")));
        }
        let rnn_cfg = RnnConfig {
            kind: CellKind::Lstm,
            input_size: embed.dim(),
            hidden_size: cfg.hidden,
            num_layers: cfg.num_layers,
            directions: cfg.directions,
            ..Default::default()
        };
        let rnn = Rnn::new(vb.pp("lstm"), &rnn_cfg).map_err(Error::from)?;
        let d = cfg.directions.count();
        let head = candle_nn::linear(d * cfg.hidden, cfg.classes, vb.pp("head"))?;
        Ok(Self { embed, rnn, head, directions: d, projection: cfg.projection })
    }

    /// The many-to-one summary of each sequence: the top layer's final hidden states (both
    /// directions concatenated), `[batch, directions·hidden]`; zero for a sequence of padding only.
    ///
    /// # Errors
    /// [`Error::Invalid`] for ids that are not `[batch, time]` or not in the table.
    pub fn encode(&self, ids: &Tensor) -> Result<Tensor> {
        let rows = check_ids(ids, self.embed.rows())?;
        let lengths: Vec<usize> =
            rows.iter().map(|r| r.iter().rposition(|&id| id != PAD).map_or(0, |p| p + 1)).collect();
        let time = lengths.iter().copied().max().unwrap_or(0).max(1);
        // Gather the batch's distinct words once: per-step lookups then index a [distinct, ...] table
        // whose backward pass is small, not the whole vocabulary's.
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut distinct: Vec<u32> = Vec::new();
        let mut columns: Vec<Vec<u32>> = vec![Vec::with_capacity(rows.len()); time];
        for row in &rows {
            for (t, column) in columns.iter_mut().enumerate() {
                let id = row.get(t).copied().unwrap_or(PAD);
                let next = distinct.len() as u32;
                let l = *local.entry(id).or_insert(next);
                if l == next {
                    distinct.push(id);
                }
                column.push(l);
            }
        }
        let device = self.embed.table().device();
        let sub = self.embed.lookup(&Tensor::new(distinct.as_slice(), device)?)?; // [distinct, dim]
        let states = match self.projection {
            // One [batch, ...] input per step: no slicing of a whole-sequence tensor in the backward pass.
            InputProjection::PerStep => {
                let steps: Vec<Tensor> = columns
                    .iter()
                    .map(|c| sub.index_select(&Tensor::new(c.as_slice(), device)?, 0))
                    .collect::<candle_core::Result<_>>()?;
                self.rnn.forward_steps(StepInput::Features(&steps), None, Some(&lengths)).map(|o| o.states)
            }
            // Each direction's first cell projects the batch's distinct words once; the
            // whole-sequence op picks their rows by local id.
            InputProjection::Hoisted => {
                let tables = self
                    .rnn
                    .cells()
                    .iter()
                    .take(self.directions)
                    .map(|cell| cell.project_input(&sub).map_err(Error::from))
                    .collect::<Result<Vec<_>>>()?;
                let ids = Tensor::new(columns.concat(), device)?.reshape((time, rows.len()))?;
                self.rnn
                    .forward_sequence(
                        SequenceInput::Table { tables: &tables, ids: &ids },
                        None,
                        Some(&lengths),
                    )
                    .map(|o| o.states)
            }
        }
        .map_err(Error::from)?;
        let top = states.len().saturating_sub(self.directions);
        let hs: Vec<Tensor> = states.iter().skip(top).map(|s| s.h.clone()).collect();
        Ok(Tensor::cat(&hs, 1)?)
    }

    /// Logits `[batch, classes]` for ids `[batch, time]`.
    ///
    /// # Errors
    /// As [`LstmClassifier::encode`].
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.head.forward(&self.encode(ids)?)?)
    }
}

impl ModuleT for LstmClassifier {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        self.logits(xs).map_err(wrap)
    }
}
