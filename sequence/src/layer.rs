//! Recurrent layers over whole sequences (sheet 23): a cell unrolled through time, stacked into
//! deep layers, optionally bidirectional, batch-first or time-first, with masking of the padded
//! positions of variable-length batches. Parameters are named as in PyTorch's `nn.RNN`/`nn.LSTM`/
//! `nn.GRU` (`weight_ih_l1_reverse`, ...), so a PyTorch `state_dict` loads as it is.
//!
//! The patterns of the course: **many-to-many** reads [`RnnOutput::output`] (one vector per step),
//! **many-to-one** reads [`RnnOutput::last`] (the final state of the top layer, both directions),
//! and **one-to-many** feeds each output back in one step at a time (see
//! [`crate::charlm::CharLm::sample`]).
//!
//! With `lengths`, sequence `b` is read only for its first `lengths[b]` steps: past them its state
//! is carried unchanged and its outputs are zero, so the final state of every sequence is its state
//! after its own last element (the reverse direction starts there), as with PyTorch's packed
//! sequences.
//!
//! LSTM and GRU layers run each layer and direction as one whole-sequence op
//! ([`crate::fused_seq`], [`crate::fused_gru`]) in [`Rnn::forward_with`] and
//! [`Rnn::forward_sequence`] (whole-sequence tensors in and out); RNN layers, the per-step API
//! [`Rnn::forward_steps`], and every layer after
//! [`use_fused_sequence`](crate::fused_seq::use_fused_sequence)`(false)` run step by step as a
//! candle graph.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_sequence::cell::CellKind;
//! use dls_sequence::layer::{Directions, Rnn, RnnConfig};
//! let params = Params::new(0);
//! let cfg = RnnConfig {
//!     kind: CellKind::Gru,
//!     input_size: 3,
//!     hidden_size: 5,
//!     num_layers: 2,
//!     directions: Directions::Bidirectional,
//!     ..Default::default()
//! };
//! let rnn = Rnn::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let x = Tensor::ones((4, 7, 3), DType::F32, &Device::Cpu)?; // [batch, time, features]
//! let out = rnn.forward_with(&x, None, Some(&[7, 7, 2, 0]))?;
//! assert_eq!(out.output.dims(), &[4, 7, 10]);
//! assert_eq!(out.last()?.dims(), &[4, 10]);
//! // The fourth sequence is empty: its outputs are all zero.
//! assert_eq!(out.output.get(3)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::Tensor;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::cell::{Cell, CellKind, State};
use crate::layer_seq::First;
pub use crate::layer_seq::{SequenceInput, SequenceOutput};
use crate::mask::{blend, mask_from_lengths};
use crate::{Error, Result};

/// Where the time axis is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `[batch, time, features]` (PyTorch's `batch_first=True`).
    #[default]
    BatchFirst,
    /// `[time, batch, features]` (PyTorch's default).
    TimeFirst,
}

/// One direction or two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Directions {
    /// Left to right only.
    #[default]
    Forward,
    /// Left to right and right to left, outputs concatenated (forward first).
    Bidirectional,
}

impl Directions {
    /// 1 or 2.
    pub fn count(self) -> usize {
        match self {
            Directions::Forward => 1,
            Directions::Bidirectional => 2,
        }
    }
}

/// How the first layer's input half of the gates, `x W_ihᵀ + b_ih`, is computed when the layer
/// runs step by step (the whole-sequence ops always take one matmul over all steps, which costs
/// nothing extra there since nothing is sliced per step).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputProjection {
    /// One matmul per step inside the recurrence: the equations as written, the reference.
    #[default]
    PerStep,
    /// One matmul over all time steps before the recurrence. Faster forward, but in candle's
    /// autograd each per-step slice of the product costs a whole-sequence tensor in the backward
    /// pass (`O(time²)`): use it for inference. [`crate::charlm::CharLm`] hoists through its
    /// embedding table instead, which trains fast.
    Hoisted,
}

/// Configuration of an [`Rnn`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// The cell.
    pub kind: CellKind,
    /// Features per input step.
    pub input_size: usize,
    /// Units per direction.
    pub hidden_size: usize,
    /// Stacked layers (layer `k + 1` reads layer `k`'s outputs).
    pub num_layers: usize,
    /// One direction or two.
    pub directions: Directions,
    /// Batch-first or time-first inputs and outputs.
    pub layout: Layout,
    /// How the input projection is computed.
    pub projection: InputProjection,
}

impl Default for RnnConfig {
    fn default() -> Self {
        Self {
            kind: CellKind::Lstm,
            input_size: 1,
            hidden_size: 1,
            num_layers: 1,
            directions: Directions::Forward,
            layout: Layout::BatchFirst,
            projection: InputProjection::PerStep,
        }
    }
}

/// What [`Rnn::forward_with`] returns.
#[derive(Clone, Debug)]
pub struct RnnOutput {
    /// The top layer's outputs, `[batch, time, directions·hidden]` (or time-first), zero at padded
    /// positions.
    pub output: Tensor,
    /// Final state of every layer and direction, PyTorch's order: layer 0 forward, layer 0
    /// reverse, layer 1 forward, ...
    pub states: Vec<State>,
    directions: usize,
}

impl RnnOutput {
    /// The many-to-one summary: the top layer's final hidden states, both directions concatenated,
    /// `[batch, directions·hidden]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn last(&self) -> Result<Tensor> {
        let top = self.states.len().saturating_sub(self.directions);
        let hs: Vec<Tensor> = self.states.iter().skip(top).map(|s| s.h.clone()).collect();
        Ok(Tensor::cat(&hs, 1)?)
    }
}

/// A stacked, possibly bidirectional recurrent layer.
///
/// Input `[batch, time, input_size]` (time-first: `[time, batch, input_size]`); output
/// `[batch, time, directions·hidden_size]` in the same layout.
#[derive(Clone, Debug)]
pub struct Rnn {
    cfg: RnnConfig,
    cells: Vec<Cell>,
}

impl Rnn {
    /// Builds the cells of `cfg` in `vb` (names `weight_ih_l{k}` and `weight_ih_l{k}_reverse`, ...).
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero sizes or layers.
    pub fn new(vb: VarBuilder, cfg: &RnnConfig) -> Result<Self> {
        if cfg.num_layers == 0 {
            return Err(Error::invalid("rnn config", "num_layers must be > 0"));
        }
        let d = cfg.directions.count();
        let mut cells = Vec::with_capacity(cfg.num_layers * d);
        for layer in 0..cfg.num_layers {
            let input = if layer == 0 { cfg.input_size } else { d * cfg.hidden_size };
            for dir in 0..d {
                let suffix = if dir == 0 { format!("l{layer}") } else { format!("l{layer}_reverse") };
                cells.push(Cell::new(vb.clone(), cfg.kind, input, cfg.hidden_size, &suffix)?);
            }
        }
        Ok(Self { cfg: cfg.clone(), cells })
    }

    /// The configuration.
    pub fn config(&self) -> &RnnConfig {
        &self.cfg
    }

    /// The cells, in the order of [`RnnOutput::states`].
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Zero initial states for `batch` sequences, one per layer and direction.
    ///
    /// # Errors
    /// Candle errors.
    pub fn zero_states(&self, batch: usize) -> Result<Vec<State>> {
        self.cells.iter().map(|c| c.zero_state(batch)).collect()
    }

    /// Runs the layer over `x`, from the states `init` (zero when `None`), reading sequence `b` only
    /// for its first `lengths[b]` steps when `lengths` is given.
    ///
    /// # Errors
    /// [`Error::Shape`] for an input that is not `[batch, time, input_size]` in the configured
    /// layout, a wrong number or shape of initial states, or `lengths` not of length `batch`;
    /// [`Error::Invalid`] for a length past `time`; [`Error::Empty`] for zero time steps.
    pub fn forward_with(
        &self,
        x: &Tensor,
        init: Option<&[State]>,
        lengths: Option<&[usize]>,
    ) -> Result<RnnOutput> {
        let (d0, d1, f) = x.dims3().map_err(|_| Error::shape("rnn input", "a rank-3 tensor", x.dims()))?;
        let time = match self.cfg.layout {
            Layout::BatchFirst => d1,
            Layout::TimeFirst => d0,
        };
        if f != self.cfg.input_size {
            return Err(Error::shape("rnn input features", self.cfg.input_size.to_string(), x.dims()));
        }
        // Work time-first: step t is then a contiguous slice.
        let x = match self.cfg.layout {
            Layout::BatchFirst => x.transpose(0, 1)?.contiguous()?,
            Layout::TimeFirst => x.contiguous()?,
        };
        let out = match self.cfg.projection {
            // The whole-sequence ops project all steps in one matmul whatever the setting.
            InputProjection::PerStep => self.run_sequence(First::Features(&x), init, lengths)?,
            InputProjection::Hoisted if self.fused() => {
                self.run_sequence(First::Features(&x), init, lengths)?
            }
            InputProjection::Hoisted => {
                let batch = x.dim(1)?;
                let flat = x.reshape((time * batch, f))?;
                let d = self.cfg.directions.count();
                let mut dirs = Vec::with_capacity(d);
                for cell in &self.cells[..d] {
                    dirs.push(cell.project_input(&flat)?.reshape((time, batch, ()))?);
                }
                self.run_sequence(First::Projected(&dirs, false), init, lengths)?
            }
        };
        let output = match self.cfg.layout {
            Layout::BatchFirst => out.output.transpose(0, 1)?,
            Layout::TimeFirst => out.output,
        };
        Ok(RnnOutput { output, states: out.states, directions: self.cfg.directions.count() })
    }

    /// The layer over a sequence given step by step (each step `[batch, ...]`), returning step-by-step
    /// outputs: no slicing of a whole-sequence tensor, whose backward pass in candle costs
    /// `O(time²)`. It always runs step by step as a candle graph; [`Rnn::forward_sequence`] takes
    /// and returns whole-sequence tensors and runs LSTM and GRU layers as one op each, much faster
    /// to train. See [`Rnn::forward_with`] for `init` and `lengths`.
    ///
    /// # Errors
    /// As [`Rnn::forward_with`]; [`Error::Shape`] when projected inputs are not given for every
    /// direction.
    pub fn forward_steps(
        &self,
        input: StepInput<'_>,
        init: Option<&[State]>,
        lengths: Option<&[usize]>,
    ) -> Result<StepsOutput> {
        let d = self.cfg.directions.count();
        let (time, first) = match input {
            StepInput::Features(steps) => (steps.len(), steps.first()),
            StepInput::Projected(dirs) => {
                if dirs.len() != d || dirs.iter().any(|v| v.len() != dirs[0].len()) {
                    return Err(Error::shape(
                        "projected inputs",
                        format!("{d} directions of equal length"),
                        dirs.iter().map(Vec::len).collect::<Vec<_>>(),
                    ));
                }
                (dirs[0].len(), dirs[0].first())
            }
        };
        let batch = first.ok_or_else(|| Error::Empty("rnn input has no time steps".into()))?.dim(0)?;
        let states = match init {
            Some(s) if s.len() != self.cells.len() => {
                return Err(Error::shape("initial states", format!("{} states", self.cells.len()), s.len()))
            }
            Some(s) => s.to_vec(),
            None => self.zero_states(batch)?,
        };
        let (dtype, device) = self.cells[0].dtype_device();
        let mask = match lengths {
            Some(l) => Some(mask_from_lengths(l, batch, time, dtype, &device)?),
            None => None,
        };
        let mut finals = Vec::with_capacity(self.cells.len());
        let mut below: Vec<Tensor> = Vec::new();
        for layer in 0..self.cfg.num_layers {
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let k = layer * d + dir;
                let steps = match (layer, input) {
                    (0, StepInput::Features(s)) => Steps::Features(s),
                    (0, StepInput::Projected(p)) => Steps::Projected(&p[dir]),
                    _ => Steps::Features(&below),
                };
                let (out, last) = run(&self.cells[k], steps, &states[k], mask.as_ref(), dir == 1)?;
                outs.push(out);
                finals.push(last);
            }
            below = if d == 1 {
                outs.remove(0)
            } else {
                let (fwd, rev) = (&outs[0], &outs[1]);
                fwd.iter()
                    .zip(rev)
                    .map(|(a, b)| Tensor::cat(&[a, b], 1))
                    .collect::<candle_core::Result<_>>()?
            };
        }
        Ok(StepsOutput { outputs: below, states: finals })
    }
}

/// The first layer's input to [`Rnn::forward_steps`], one tensor per time step.
#[derive(Clone, Copy, Debug)]
pub enum StepInput<'a> {
    /// Features `[batch, input_size]` per step.
    Features(&'a [Tensor]),
    /// Inputs already projected by each first-layer cell ([`Cell::project_input`]):
    /// `[batch, gates·hidden]` per step, one list per direction (forward first).
    Projected(&'a [Vec<Tensor>]),
}

/// What [`Rnn::forward_steps`] returns.
#[derive(Clone, Debug)]
pub struct StepsOutput {
    /// The top layer's output at each step, `[batch, directions·hidden]`, zero at padded steps.
    pub outputs: Vec<Tensor>,
    /// Final states, ordered as [`RnnOutput::states`].
    pub states: Vec<State>,
}

#[derive(Clone, Copy)]
enum Steps<'a> {
    Features(&'a [Tensor]),
    Projected(&'a [Tensor]),
}

/// One direction of one layer: the outputs `[batch, hidden]` at each step (in time order) and the
/// final state.
fn run(
    cell: &Cell,
    steps: Steps<'_>,
    init: &State,
    mask: Option<&Tensor>,
    reverse: bool,
) -> Result<(Vec<Tensor>, State)> {
    let time = match steps {
        Steps::Features(s) | Steps::Projected(s) => s.len(),
    };
    let mut state = init.clone();
    let mut outs: Vec<Tensor> = Vec::with_capacity(time);
    for step in 0..time {
        let t = if reverse { time - 1 - step } else { step };
        let next = match steps {
            Steps::Projected(p) => cell.step_projected(&p[t], &state)?,
            Steps::Features(x) => cell.step(&x[t], &state)?,
        };
        match mask {
            None => {
                outs.push(next.h.clone());
                state = next;
            }
            Some(m) => {
                let m = m.get(t)?; // [batch, 1]
                outs.push(next.h.broadcast_mul(&m)?);
                state = State {
                    h: blend(&next.h, &state.h, &m)?,
                    c: match (&next.c, &state.c) {
                        (Some(a), Some(b)) => Some(blend(a, b, &m)?),
                        _ => None,
                    },
                };
            }
        }
    }
    if reverse {
        outs.reverse();
    }
    Ok((outs, state))
}

impl candle_nn::Module for Rnn {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(xs, None, None).map(|o| o.output).map_err(candle_core::Error::wrap)
    }
}
