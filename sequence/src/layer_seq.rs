//! [`Rnn::forward_sequence`]: a recurrent layer over whole-sequence tensors, time-first, run by the
//! whole-sequence ops of [`crate::fused_seq`] where they apply (LSTM layers, unless
//! [`use_fused_sequence`](crate::fused_seq::use_fused_sequence)`(false)`) and step by step
//! otherwise. Nothing is sliced per step on the fused path, so the backward pass costs `O(time)`
//! however the first layer's input projection is done: one matmul per layer and direction for all
//! steps, the op, and a concatenation of the two directions.

use candle_core::Tensor;

use crate::cell::{Cell, CellKind, State};
use crate::fused_gru::gru_sequence;
use crate::fused_seq::{fused_sequence, lstm_sequence, GateInput};
use crate::layer::{Rnn, StepInput};
use crate::{Error, Result};

/// The first layer's input to [`Rnn::forward_sequence`], time-first.
#[derive(Clone, Copy, Debug)]
pub enum SequenceInput<'a> {
    /// Features `[time, batch, input_size]`.
    Features(&'a Tensor),
    /// Inputs already projected by each first-layer cell ([`Cell::project_input`]),
    /// `[time, batch, gates·hidden]`, one per direction (forward first).
    Projected(&'a [Tensor]),
    /// Rows of tables, one per direction, projected by each first-layer cell
    /// ([`Cell::project_input`] of an embedding table: `[rows, gates·hidden]`), picked by u32
    /// `ids` `[time, batch]`. The fused ops pick the rows themselves, so no `[time, batch,
    /// gates·hidden]` tensor passes through the graph: the fastest way to train on embeddings.
    Table {
        /// Projected rows, one table per direction (forward first).
        tables: &'a [Tensor],
        /// Row of each step, u32 `[time, batch]`.
        ids: &'a Tensor,
    },
}

/// What [`Rnn::forward_sequence`] returns.
#[derive(Clone, Debug)]
pub struct SequenceOutput {
    /// The top layer's outputs `[time, batch, directions·hidden]`, zero at padded steps.
    pub output: Tensor,
    /// Final states, ordered as [`RnnOutput::states`](crate::layer::RnnOutput::states).
    pub states: Vec<State>,
    /// A one-direction fused top layer's whole op output `[time + 2, batch, hidden]` (outputs,
    /// then the final `h` and `c`), for consumers that read the outputs without slicing them.
    pub(crate) top: Option<Tensor>,
}

/// The first layer's input as the layers take it.
#[derive(Clone, Copy)]
pub(crate) enum First<'a> {
    Features(&'a Tensor),
    /// Projected per direction: by [`Cell::project_fused`] when `true`, by
    /// [`Cell::project_input`] otherwise.
    Projected(&'a [Tensor], bool),
    /// Rows of a table per direction, projected as for `Projected`, picked by u32 ids
    /// `[time, batch]`.
    Table(&'a [Tensor], &'a Tensor, bool),
}

/// [`Cell::project_fused`] for a time-first `x` `[time, batch, features]`.
fn project(cell: &Cell, x: &Tensor) -> Result<Tensor> {
    let (time, batch, f) = x.dims3()?;
    Ok(cell.project_fused(&x.reshape((time * batch, f))?)?.reshape((time, batch, ()))?)
}

impl Rnn {
    /// Whether this layer runs whole-sequence ops now.
    pub(crate) fn fused(&self) -> bool {
        matches!(self.config().kind, CellKind::Lstm | CellKind::Gru) && fused_sequence()
    }

    /// The layer over whole-sequence tensors, time-first whatever the configured layout: the fast
    /// path for training (see the module header). See [`Rnn::forward_with`] for `init` and
    /// `lengths`.
    ///
    /// # Errors
    /// [`Error::Shape`] for features that are not `[time, batch, input_size]`, projections or
    /// tables that are not `[time, batch, gates·hidden]` or `[rows, gates·hidden]` for every
    /// direction, a wrong number or shape of initial states, or `lengths` not of length `batch`;
    /// [`Error::UnknownId`] for an id past a table; [`Error::Invalid`] for a length past `time`;
    /// [`Error::Empty`] for zero time steps.
    pub fn forward_sequence(
        &self,
        input: SequenceInput<'_>,
        init: Option<&[State]>,
        lengths: Option<&[usize]>,
    ) -> Result<SequenceOutput> {
        let first = match input {
            SequenceInput::Features(x) => First::Features(x),
            SequenceInput::Projected(p) => First::Projected(p, false),
            SequenceInput::Table { tables, ids } => First::Table(tables, ids, false),
        };
        self.run_sequence(first, init, lengths)
    }

    /// [`Rnn::forward_sequence`] for any [`First`] input.
    pub(crate) fn run_sequence(
        &self,
        first: First<'_>,
        init: Option<&[State]>,
        lengths: Option<&[usize]>,
    ) -> Result<SequenceOutput> {
        let cfg = self.config();
        let d = cfg.directions.count();
        let (time, batch) = match first {
            First::Features(x) => match x.dims() {
                &[t, b, f] if f == cfg.input_size => (t, b),
                got => {
                    let want = format!("[time, batch, {}]", cfg.input_size);
                    return Err(Error::shape("rnn input features", want, got));
                }
            },
            First::Projected(p, _) => {
                let width = cfg.kind.gates() * cfg.hidden_size;
                let dims = p.first().map(|t| t.dims().to_vec()).unwrap_or_default();
                match dims[..] {
                    [t, b, w] if w == width && p.len() == d && p.iter().all(|x| x.dims() == dims) => (t, b),
                    _ => {
                        let want = format!("{d} tensors [time, batch, {width}]");
                        let got: Vec<_> = p.iter().map(|t| t.dims().to_vec()).collect();
                        return Err(Error::shape("projected inputs", want, got));
                    }
                }
            }
            First::Table(tables, ids, _) => {
                let width = cfg.kind.gates() * cfg.hidden_size;
                let fits = |t: &Tensor| matches!(t.dims(), &[_, w] if w == width);
                match ids.dims() {
                    &[t, b] if tables.len() == d && tables.iter().all(fits) => (t, b),
                    got => {
                        let want = format!("{d} tables [rows, {width}] and ids [time, batch]");
                        let tables: Vec<_> = tables.iter().map(|t| t.dims().to_vec()).collect();
                        return Err(Error::shape("projected tables", want, (tables, got)));
                    }
                }
            }
        };
        if time == 0 {
            return Err(Error::Empty("rnn input has no time steps".into()));
        }
        if !self.fused() {
            return self.step_by_step(first, time, init, lengths);
        }
        let cells = self.cells();
        let states = match init {
            Some(s) if s.len() != cells.len() => {
                return Err(Error::shape("initial states", format!("{} states", cells.len()), s.len()))
            }
            Some(s) => s.to_vec(),
            None => self.zero_states(batch)?,
        };
        let mut finals = Vec::with_capacity(cells.len());
        let (mut below, mut top): (Option<Tensor>, Option<Tensor>) = (None, None);
        for layer in 0..cfg.num_layers {
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let k = layer * d + dir;
                let cell = &cells[k];
                let xp = match (&below, first) {
                    (Some(x), _) | (None, First::Features(x)) => project(cell, x)?,
                    (None, First::Projected(p, false) | First::Table(p, _, false)) => {
                        match cell.fused_extra_bias() {
                            Some(extra) => p[dir].broadcast_add(extra)?,
                            None => p[dir].clone(),
                        }
                    }
                    (None, First::Projected(p, true) | First::Table(p, _, true)) => p[dir].clone(),
                };
                let input = match (&below, first) {
                    (None, First::Table(_, ids, _)) => GateInput::Table { table: &xp, ids },
                    _ => GateInput::Projected(&xp),
                };
                let (state, reverse) = (&states[k], dir == 1);
                let (output, raw, last) = match (cfg.kind, &state.c) {
                    (CellKind::Lstm, Some(c0)) => {
                        let run = lstm_sequence(input, cell.w_hh(), &state.h, c0, reverse, lengths)?;
                        (run.output, run.raw, State { h: run.h, c: Some(run.c) })
                    }
                    (CellKind::Lstm, None) => {
                        return Err(Error::shape("lstm state", "a memory cell c", "none"));
                    }
                    (_, None) => {
                        let run = gru_sequence(input, cell.w_hh(), cell.b_hh(), &state.h, reverse, lengths)?;
                        (run.output, run.raw, State { h: run.h, c: None })
                    }
                    (_, Some(_)) => {
                        return Err(Error::shape("gru state", "no memory cell", "a memory cell c"));
                    }
                };
                outs.push(output);
                top = Some(raw);
                finals.push(last);
            }
            below = Some(if d == 1 { outs.remove(0) } else { Tensor::cat(&outs, 2)? });
        }
        let output = below.ok_or_else(|| Error::invalid("rnn config", "num_layers must be > 0"))?;
        Ok(SequenceOutput { output, states: finals, top: top.filter(|_| d == 1) })
    }

    /// The reference path: per-step slices through [`Rnn::forward_steps`], outputs stacked.
    fn step_by_step(
        &self,
        first: First<'_>,
        time: usize,
        init: Option<&[State]>,
        lengths: Option<&[usize]>,
    ) -> Result<SequenceOutput> {
        let steps = |x: &Tensor| (0..time).map(|t| x.get(t)).collect::<candle_core::Result<Vec<_>>>();
        let out = match first {
            First::Features(x) => self.forward_steps(StepInput::Features(&steps(x)?), init, lengths)?,
            First::Projected(p, biased) | First::Table(p, _, biased) => {
                let mut dirs = Vec::with_capacity(p.len());
                for (x, cell) in p.iter().zip(self.cells()) {
                    // The cells add b_hh themselves.
                    let x = match (biased, cell.fused_extra_bias()) {
                        (true, Some(extra)) => x.broadcast_sub(extra)?,
                        _ => x.clone(),
                    };
                    dirs.push(match first {
                        First::Table(_, ids, _) => (0..time)
                            .map(|t| x.index_select(&ids.get(t)?, 0))
                            .collect::<candle_core::Result<Vec<_>>>()?,
                        _ => steps(&x)?,
                    });
                }
                self.forward_steps(StepInput::Projected(&dirs), init, lengths)?
            }
        };
        Ok(SequenceOutput { output: Tensor::stack(&out.outputs, 0)?, states: out.states, top: None })
    }
}
