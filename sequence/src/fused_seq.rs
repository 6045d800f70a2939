//! A whole LSTM sequence, every time step of one layer and direction, as one candle custom op with
//! a hand-written backward through time.
//!
//! Run step by step as a candle graph, an LSTM pays per step for a dozen small tensor ops forward
//! and twice as many backward, and that overhead, not arithmetic, was most of a training step at
//! the course's sizes. Here the input half of the gates, `xp = x W_ihᵀ + b_ih + b_hh` for all
//! steps, comes in precomputed (one matmul), and the op runs the recurrence itself:
//!
//! - forward, per step: `z = xp_t + h W_hhᵀ` (one gemm), then in one pass `i = σ(z_i)`,
//!   `f = σ(z_f)`, `g = tanh(z_g)`, `o = σ(z_o)`, `c' = f c + i g`, `h' = o tanh(c')`, keeping the
//!   gates, `tanh c'` and the previous `h` and `c` for the backward pass;
//! - backward, per step in reverse: `dh = dout_t + dh'`, `dc* = dc' + dh o (1 - tanh² c')`,
//!   `dz = [dc* g i(1-i), dc* c f(1-f), dc* i (1-g²), dh tanh(c') o(1-o)]`, `dc = dc* f`,
//!   `dh = dz W_hh` (one gemm); `dz` is the gradient of `xp`, and `dW_hh = Σ_t dz_tᵀ h_{t-1}` is
//!   added by one gemm per block of consecutive steps (at least 256 rows), while the block is
//!   still in cache.
//!
//! The element-wise passes run on AVX2 and FMA where the processor has them, with our own
//! vectorisable `exp` for f32 (see `kernel.rs`); tapes and scratch buffers are recycled between
//! calls (`pool.rs`) rather than handed back to the allocator each step.
//!
//! The input may also come as a table `[rows, 4 hidden]` and ids `[time, batch]`
//! ([`GateInput::Table`]): an embedding layer folded into the input weights, whose rows the op
//! picks itself, so that no `[time, batch, 4 hidden]` tensor and its gradient pass through the
//! graph (the table's gradient is gathered inside the op).
//!
//! With `lengths`, sequence `b` is read at steps `t < lengths[b]` only: elsewhere its state is
//! carried unchanged and its output is zero, as in [`crate::layer`]. The layers
//! ([`Rnn::forward_with`](crate::layer::Rnn::forward_with),
//! [`Rnn::forward_sequence`](crate::layer::Rnn::forward_sequence)) run LSTM and GRU layers through
//! these ops, one per layer and direction (the reverse direction with `reverse`), and
//! [`crate::charlm::CharLm`] computes its loss with its head and cross-entropy fused too;
//! [`use_fused_sequence`]`(false)` makes them run step by step again as a candle graph (through
//! [`crate::fused`] or the tensor-op equations), the reference the tests compare with.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_sequence::fused_seq::{lstm_sequence, GateInput};
//! // One unit, zero weights: every gate is σ(0) = 1/2 or tanh(0) = 0, so c and h stay 0
//! // unless the projected input says otherwise. Here the g gate gets 1 at both steps.
//! let xp = Tensor::new(&[[[0f64, 0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0, 0.0]]], &Device::Cpu)?; // [T, B, 4H]
//! let w_hh = Tensor::zeros((4, 1), candle_core::DType::F64, &Device::Cpu)?;
//! let zero = Tensor::zeros((1, 1), candle_core::DType::F64, &Device::Cpu)?;
//! let out = lstm_sequence(GateInput::Projected(&xp), &w_hh, &zero, &zero, false, None)?;
//! let c1 = 0.5 * 1f64.tanh(); // f c0 + i g
//! let c2 = 0.5 * c1 + c1;
//! assert!((out.c.to_vec2::<f64>()?[0][0] - c2).abs() < 1e-15);
//! assert!((out.output.to_vec3::<f64>()?[0][0][0] - 0.5 * c1.tanh()).abs() < 1e-15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Tensor;

use crate::lstm_kernel::Lstm;
pub use crate::seq_op::GateInput;
use crate::seq_op::{self, Recurrence};
use crate::Result;

static STEPWISE: AtomicBool = AtomicBool::new(false);

/// Chooses, process-wide, whether recurrent layers run a whole LSTM or GRU sequence as one op and
/// the character model's loss as one op (the default), or step by step as a candle graph and the
/// loss with tensor ops (the reference).
pub fn use_fused_sequence(fused: bool) {
    STEPWISE.store(!fused, Ordering::Relaxed);
}

/// Whether recurrent layers run whole-sequence ops now (see [`use_fused_sequence`]).
pub fn fused_sequence() -> bool {
    !STEPWISE.load(Ordering::Relaxed)
}

/// What [`lstm_sequence`] returns.
#[derive(Clone, Debug)]
pub struct LstmSequence {
    /// The output at every step, `[time, batch, hidden]` in time order (zero at padded steps).
    pub output: Tensor,
    /// Final hidden state `[batch, hidden]` (after each sequence's own last step).
    pub h: Tensor,
    /// Final memory cell `[batch, hidden]`.
    pub c: Tensor,
    /// The op's whole output `[time + 2, batch, hidden]`: `output`, then `h`, then `c`.
    pub(crate) raw: Tensor,
}

/// An LSTM over a whole sequence: the input half of the gates (gate order i, f, g, o, both
/// biases included: `x W_ihᵀ + b_ih + b_hh`), recurrent weights `w_hh` `[4 hidden, hidden]`,
/// initial state `h0`, `c0` `[batch, hidden]`. `reverse` reads the steps from last to first (the
/// backward direction of a bidirectional layer); `lengths` masks padded steps. Gradients reach
/// every float input.
///
/// # Errors
/// [`Error::Shape`](crate::Error::Shape) when the shapes do not fit each other or `lengths` is
/// not one per sequence, [`Error::UnknownId`](crate::Error::UnknownId) for an id past the table,
/// [`Error::Invalid`](crate::Error::Invalid) for a length past `time` or a dtype other than f32
/// and f64, [`Error::Empty`](crate::Error::Empty) for zero steps.
pub fn lstm_sequence(
    input: GateInput<'_>,
    w_hh: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    reverse: bool,
    lengths: Option<&[usize]>,
) -> Result<LstmSequence> {
    let (plan, first) = seq_op::plan(input, Lstm::GATES, w_hh, reverse, lengths)?;
    seq_op::check_state("lstm h0", &plan, h0, first.dtype())?;
    seq_op::check_state("lstm c0", &plan, c0, first.dtype())?;
    let time = plan.time;
    let out = seq_op::apply::<Lstm>(plan, first, w_hh, &Tensor::stack(&[h0, c0], 0)?)?;
    Ok(LstmSequence { output: out.narrow(0, 0, time)?, h: out.get(time)?, c: out.get(time + 1)?, raw: out })
}
