//! Recurrent cells written from their equations (sheet 23): the Elman RNN, the LSTM with a forget
//! gate and the GRU, with PyTorch's gate order and parameter names so its weights load as they are.
//!
//! With `x` the input `[batch, input]`, `h` the previous hidden state `[batch, hidden]` and `σ` the
//! logistic sigmoid, each cell computes (PyTorch's `nn.RNN`, `nn.LSTM`, `nn.GRU`):
//!
//! ```text
//! RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
//! LSTM  i, f, g, o = split₄(W_ih x + b_ih + W_hh h + b_hh)      (gate order i, f, g, o)
//!       c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
//!       h' = σ(o) ⊙ tanh(c')
//! GRU   r = σ(W_ir x + b_ir + W_hr h + b_hr)                      (gate order r, z, n)
//!       z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!       n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//!       h' = (1 - z) ⊙ n + z ⊙ h
//! ```
//!
//! The weights are `weight_ih_{suffix}` `[gates·hidden, input]`, `weight_hh_{suffix}`
//! `[gates·hidden, hidden]`, `bias_ih_{suffix}` and `bias_hh_{suffix}` `[gates·hidden]`, where the
//! suffix is `l0`, `l1`, ... with `_reverse` for the backward direction of a bidirectional layer.
//! New weights are drawn, as in PyTorch, from `U(-1/√hidden, 1/√hidden)`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_sequence::cell::{Cell, CellKind};
//! let params = Params::new(0);
//! let vb = params.var_builder(DType::F32, &Device::Cpu);
//! let cell = Cell::new(vb, CellKind::Rnn, 2, 1, "l0")?;
//! // Set the weights by hand: h' = tanh(0.5 x₀ - x₁ + 2 h + 0.1).
//! params.get("weight_ih_l0")?.set(&Tensor::new(&[[0.5f32, -1.0]], &Device::Cpu)?)?;
//! params.get("weight_hh_l0")?.set(&Tensor::new(&[[2f32]], &Device::Cpu)?)?;
//! params.get("bias_ih_l0")?.set(&Tensor::new(&[0.1f32], &Device::Cpu)?)?;
//! params.get("bias_hh_l0")?.set(&Tensor::new(&[0f32], &Device::Cpu)?)?;
//! let x = Tensor::new(&[[1f32, 0.5]], &Device::Cpu)?;
//! let state = cell.step(&x, &cell.zero_state(1)?)?;
//! let h = state.h.to_vec2::<f32>()?[0][0];
//! assert!((h - 0.1f32.tanh()).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::ops::sigmoid;
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellKind {
    /// Elman RNN with a tanh non-linearity (one gate block).
    Rnn,
    /// Long short-term memory with a forget gate (four blocks: i, f, g, o).
    #[default]
    Lstm,
    /// Gated recurrent unit (three blocks: r, z, n).
    Gru,
}

impl CellKind {
    /// Number of `hidden`-sized blocks stacked in the weight matrices (1, 4 or 3).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// The lower-case name (`"rnn"`, `"lstm"`, `"gru"`).
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// The recurrent state of a cell: the hidden state `h` `[batch, hidden]` and, for an LSTM only,
/// the memory cell `c` of the same shape.
#[derive(Clone, Debug)]
pub struct State {
    /// Hidden state (the cell's output), `[batch, hidden]`.
    pub h: Tensor,
    /// Memory cell, `[batch, hidden]`; `Some` exactly for LSTM states.
    pub c: Option<Tensor>,
}

impl State {
    /// The same state cut from the autograd graph (truncated back-propagation through time).
    pub fn detach(&self) -> Self {
        Self { h: self.h.detach(), c: self.c.as_ref().map(Tensor::detach) }
    }
}

/// One recurrent cell: weights and the step function of its [`CellKind`].
#[derive(Clone, Debug)]
pub struct Cell {
    kind: CellKind,
    input_size: usize,
    hidden_size: usize,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
}

impl Cell {
    /// A cell of `kind` mapping `input_size` features to `hidden_size` units, with parameters named
    /// `weight_ih_{suffix}`, `weight_hh_{suffix}`, `bias_ih_{suffix}`, `bias_hh_{suffix}` in `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size; candle errors when `vb` holds a parameter of that name
    /// with another shape.
    pub fn new(
        vb: VarBuilder,
        kind: CellKind,
        input_size: usize,
        hidden_size: usize,
        suffix: &str,
    ) -> Result<Self> {
        if input_size == 0 || hidden_size == 0 {
            return Err(Error::invalid(
                "cell sizes",
                format!("input and hidden sizes must be > 0, got {input_size} and {hidden_size}"),
            ));
        }
        let k = 1.0 / (hidden_size as f64).sqrt();
        let init = Init::Uniform { lo: -k, up: k };
        let g = kind.gates() * hidden_size;
        let w_ih = vb.get_with_hints((g, input_size), &format!("weight_ih_{suffix}"), init)?;
        let w_hh = vb.get_with_hints((g, hidden_size), &format!("weight_hh_{suffix}"), init)?;
        let b_ih = vb.get_with_hints(g, &format!("bias_ih_{suffix}"), init)?;
        let b_hh = vb.get_with_hints(g, &format!("bias_hh_{suffix}"), init)?;
        Ok(Self { kind, input_size, hidden_size, w_ih, w_hh, b_ih, b_hh })
    }

    /// The cell's kind.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// Features per input step.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Units of the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// The all-zero state for `batch` sequences (with a zero memory cell for an LSTM).
    ///
    /// # Errors
    /// Candle errors.
    pub fn zero_state(&self, batch: usize) -> Result<State> {
        let h = Tensor::zeros((batch, self.hidden_size), self.w_hh.dtype(), self.w_hh.device())?;
        let c = (self.kind == CellKind::Lstm).then(|| h.clone());
        Ok(State { h, c })
    }

    /// The input half of the gate pre-activations, `x W_ihᵀ + b_ih`: `[n, input]` to
    /// `[n, gates·hidden]`. Computing it for all time steps at once is one matmul instead of `T`.
    ///
    /// # Errors
    /// [`Error::Shape`] unless `x` is `[n, input_size]`.
    pub fn project_input(&self, x: &Tensor) -> Result<Tensor> {
        match x.dims() {
            [_, f] if *f == self.input_size => {}
            d => return Err(Error::shape("cell input", format!("[n, {}]", self.input_size), d)),
        }
        Ok(x.matmul(&self.w_ih.t()?)?.broadcast_add(&self.b_ih)?)
    }

    /// The input projection as the whole-sequence ops take it, `[n, gates·hidden]`: for an LSTM
    /// `x W_ihᵀ + (b_ih + b_hh)`, the recurrent bias folded in (the op then adds only
    /// `h W_hhᵀ`); otherwise [`Cell::project_input`] (a GRU's `b_hn` sits inside `r ⊙ (…)`).
    pub(crate) fn project_fused(&self, x: &Tensor) -> Result<Tensor> {
        match self.fused_extra_bias() {
            Some(extra) => {
                match x.dims() {
                    [_, f] if *f == self.input_size => {}
                    d => return Err(Error::shape("cell input", format!("[n, {}]", self.input_size), d)),
                }
                Ok(x.matmul(&self.w_ih.t()?)?.broadcast_add(&(&self.b_ih + extra)?)?)
            }
            None => self.project_input(x),
        }
    }

    /// What [`Cell::project_fused`] adds to [`Cell::project_input`]: `b_hh` for an LSTM.
    pub(crate) fn fused_extra_bias(&self) -> Option<&Tensor> {
        (self.kind == CellKind::Lstm).then_some(&self.b_hh)
    }

    /// The recurrent weights `[gates·hidden, hidden]`.
    pub(crate) fn w_hh(&self) -> &Tensor {
        &self.w_hh
    }

    /// The recurrent bias `[gates·hidden]`.
    pub(crate) fn b_hh(&self) -> &Tensor {
        &self.b_hh
    }

    /// One step: input `x` `[batch, input]` and `state` to the next state.
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` or the state do not fit the cell or each other.
    pub fn step(&self, x: &Tensor, state: &State) -> Result<State> {
        self.step_projected(&self.project_input(x)?, state)
    }

    /// One step from an input already projected by [`Cell::project_input`] (`[batch, gates·hidden]`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the projection or the state do not fit the cell or each other.
    pub fn step_projected(&self, xp: &Tensor, state: &State) -> Result<State> {
        self.check_state(state, xp.dim(0)?)?;
        let g = self.kind.gates() * self.hidden_size;
        if xp.dims().get(1) != Some(&g) {
            return Err(Error::shape("projected cell input", format!("[batch, {g}]"), xp.dims()));
        }
        let hp = state.h.matmul(&self.w_hh.t()?)?.broadcast_add(&self.b_hh)?;
        match (self.kind, &state.c) {
            (CellKind::Rnn, _) => Ok(State { h: (xp + hp)?.tanh()?, c: None }),
            (CellKind::Lstm, Some(c)) => self.lstm(&(xp + hp)?, c),
            (CellKind::Gru, _) => self.gru(xp, &hp, &state.h),
            (CellKind::Lstm, None) => Err(Error::shape("lstm state", "a memory cell c", "none")),
        }
    }

    fn lstm(&self, gates: &Tensor, c: &Tensor) -> Result<State> {
        if crate::fused::fused_lstm() {
            let (h, c) = crate::fused::lstm_pointwise(gates, c)?;
            return Ok(State { h, c: Some(c) });
        }
        let n = self.hidden_size;
        let i = sigmoid(&gates.narrow(1, 0, n)?)?;
        let f = sigmoid(&gates.narrow(1, n, n)?)?;
        let g = gates.narrow(1, 2 * n, n)?.tanh()?;
        let o = sigmoid(&gates.narrow(1, 3 * n, n)?)?;
        let c = ((f * c)? + (i * g)?)?;
        let h = (o * c.tanh()?)?;
        Ok(State { h, c: Some(c) })
    }

    fn gru(&self, xp: &Tensor, hp: &Tensor, h: &Tensor) -> Result<State> {
        let n = self.hidden_size;
        let part = |t: &Tensor, k: usize| t.narrow(1, k * n, n);
        let r = sigmoid(&(part(xp, 0)? + part(hp, 0)?)?)?;
        let z = sigmoid(&(part(xp, 1)? + part(hp, 1)?)?)?;
        let cand = (part(xp, 2)? + (r * part(hp, 2)?)?)?.tanh()?;
        // (1 - z) n + z h = n + z (h - n)
        let h = (&cand + (z * (h - &cand)?)?)?;
        Ok(State { h, c: None })
    }

    fn check_state(&self, state: &State, batch: usize) -> Result<()> {
        let want = [batch, self.hidden_size];
        if state.h.dims() != want {
            return Err(Error::shape("hidden state h", format!("{want:?}"), state.h.dims()));
        }
        match (&state.c, self.kind) {
            (Some(c), CellKind::Lstm) if c.dims() != want => {
                Err(Error::shape("memory cell c", format!("{want:?}"), c.dims()))
            }
            (Some(_), CellKind::Lstm) => Ok(()),
            (None, CellKind::Lstm) => Err(Error::shape("lstm state", "a memory cell c", "none")),
            (Some(_), k) => {
                Err(Error::shape(format!("{} state", k.name()), "no memory cell", "a memory cell c"))
            }
            (None, _) => Ok(()),
        }
    }

    /// The dtype and device of the weights.
    pub fn dtype_device(&self) -> (DType, Device) {
        (self.w_hh.dtype(), self.w_hh.device().clone())
    }
}
