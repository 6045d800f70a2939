//! A whole GRU sequence, every time step of one layer and direction, as one candle custom op with
//! a hand-written backward through time: the GRU counterpart of [`crate::fused_seq`], chosen by
//! the same switch ([`use_fused_sequence`](crate::fused_seq::use_fused_sequence)).
//!
//! The input half of the gates, `xp = x W_ihᵀ + b_ih` for all steps, comes in precomputed (or as
//! rows of a projected table, [`GateInput::Table`]); the recurrent bias `b_hh` goes in apart,
//! because `b_hn` is multiplied by the reset gate. With `p = h W_hhᵀ + b_hh` (one gemm per step):
//!
//! - forward: `r = σ(x_r + p_r)`, `z = σ(x_z + p_z)`, `n = tanh(x_n + r p_n)`,
//!   `h' = n + z (h - n)` (PyTorch's `(1 - z) n + z h`), in one pass;
//! - backward, from `d = dout_t + dh'`: `dn* = d (1 - z)(1 - n²)`, `dr* = dn* p_n r(1-r)`,
//!   `dz* = d (h - n) z(1-z)`; the input half gets `[dr*, dz*, dn*]`, `p` gets
//!   `[dr*, dz*, dn* r]`, and `dh = d z + dp W_hh` (one gemm); block by block of steps,
//!   `dW_hh += dpᵀ h` and `db_hh += Σ dp`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_sequence::fused_gru::gru_sequence;
//! use dls_sequence::fused_seq::GateInput;
//! // One unit, zero weights and biases: r = z = 1/2 and n = tanh(x_n), so h' = n + (h - n) / 2.
//! let xp = Tensor::new(&[[[0f64, 0.0, 1.0]], [[0.0, 0.0, -1.0]]], &Device::Cpu)?; // [T, B, 3H]
//! let w_hh = Tensor::zeros((3, 1), DType::F64, &Device::Cpu)?;
//! let b_hh = Tensor::zeros(3, DType::F64, &Device::Cpu)?;
//! let h0 = Tensor::zeros((1, 1), DType::F64, &Device::Cpu)?;
//! let out = gru_sequence(GateInput::Projected(&xp), &w_hh, &b_hh, &h0, false, None)?;
//! let h1 = 0.5 * 1f64.tanh();
//! let h2 = (-1f64).tanh() + 0.5 * (h1 - (-1f64).tanh());
//! assert!((out.h.to_vec2::<f64>()?[0][0] - h2).abs() < 1e-15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::Tensor;

use crate::gru_kernel::Gru;
use crate::seq_op::{self, GateInput, Recurrence};
use crate::{Error, Result};

/// What [`gru_sequence`] returns.
#[derive(Clone, Debug)]
pub struct GruSequence {
    /// The output at every step, `[time, batch, hidden]` in time order (zero at padded steps).
    pub output: Tensor,
    /// Final hidden state `[batch, hidden]` (after each sequence's own last step).
    pub h: Tensor,
    /// The op's whole output `[time + 1, batch, hidden]`: `output`, then `h`.
    pub(crate) raw: Tensor,
}

/// A GRU over a whole sequence: the input half of the gates (gate order r, z, n;
/// `x W_ihᵀ + b_ih`), recurrent weights `w_hh` `[3 hidden, hidden]` and bias `b_hh`
/// `[3 hidden]`, initial state `h0` `[batch, hidden]`. `reverse` reads the steps from last to
/// first; `lengths` masks padded steps. Gradients reach every float input.
///
/// # Errors
/// [`Error::Shape`] when the shapes do not fit each other or `lengths` is not one per sequence,
/// [`Error::UnknownId`] for an id past the table, [`Error::Invalid`] for a length past `time` or
/// a dtype other than f32 and f64, [`Error::Empty`] for zero steps.
pub fn gru_sequence(
    input: GateInput<'_>,
    w_hh: &Tensor,
    b_hh: &Tensor,
    h0: &Tensor,
    reverse: bool,
    lengths: Option<&[usize]>,
) -> Result<GruSequence> {
    let (plan, first) = seq_op::plan(input, Gru::GATES, w_hh, reverse, lengths)?;
    seq_op::check_state("gru h0", &plan, h0, first.dtype())?;
    if b_hh.dims() != [3 * plan.hidden] || b_hh.dtype() != first.dtype() {
        return Err(Error::shape("gru recurrent bias", format!("[{}]", 3 * plan.hidden), b_hh.dims()));
    }
    let time = plan.time;
    let state = Tensor::cat(&[&h0.flatten_all()?, b_hh], 0)?;
    let out = seq_op::apply::<Gru>(plan, first, w_hh, &state)?;
    Ok(GruSequence { output: out.narrow(0, 0, time)?, h: out.get(time)?, raw: out })
}
