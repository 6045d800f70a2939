//! The candle side of the whole-sequence recurrent ops ([`crate::fused_seq`], [`crate::fused_gru`]):
//! validating the inputs, the forward op that runs a [`Recurrence`] and keeps its tape, and the
//! backward op that differentiates it. The loops live in `lstm_kernel.rs` and `gru_kernel.rs`.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use crate::kernel::Real;
use crate::{Error, Result};

/// The input half of a recurrent layer's gates for every step.
#[derive(Clone, Copy, Debug)]
pub enum GateInput<'a> {
    /// `xp` `[time, batch, gates·hidden]`.
    Projected(&'a Tensor),
    /// `xp[t, b] = table[ids[t, b]]`: `table` `[rows, gates·hidden]`, `ids` u32 `[time, batch]`.
    /// For a character model, the embedding table through the input weights: the op picks rows
    /// itself, so no `[time, batch, gates·hidden]` tensor and its gradient pass through the graph.
    Table {
        /// Projected rows `[rows, gates·hidden]`.
        table: &'a Tensor,
        /// Row of each step, u32 `[time, batch]`.
        ids: &'a Tensor,
    },
}

/// Fewest rows (steps × batch) one product for `dW_hh` should cover in the backward pass.
const BLOCK_ROWS: usize = 256;

/// Sizes, direction, mask and input kind of one call.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub time: usize,
    pub batch: usize,
    pub hidden: usize,
    /// Gate blocks (4 for an LSTM, 3 for a GRU).
    pub gates: usize,
    /// Steps from last to first.
    pub reverse: bool,
    /// Sequence `b` is read at times `t < lengths[b]` only.
    pub lengths: Option<Arc<[usize]>>,
    /// `None`: the first argument is `xp` `[time, batch, gates·hidden]`; `Some(ids)`: it is a
    /// table `[rows, gates·hidden]` and `xp[t, b] = table[ids[t·batch + b]]`.
    pub ids: Option<Arc<[u32]>>,
}

impl Plan {
    /// The time index of step `s`.
    pub fn time_of(&self, s: usize) -> usize {
        if self.reverse {
            self.time - 1 - s
        } else {
            s
        }
    }

    /// Which sequences read time `t`.
    pub fn active(&self, t: usize, out: &mut [bool]) {
        for (b, a) in out.iter_mut().enumerate() {
            *a = self.lengths.as_ref().is_none_or(|l| t < l[b]);
        }
    }

    /// Steps per block of the backward pass, which adds `dW_hh` (and a table's gradient) block by
    /// block of consecutive times while the block is still in cache, instead of keeping every
    /// step's gate gradients: enough steps for [`BLOCK_ROWS`] rows.
    pub fn block(&self) -> usize {
        (BLOCK_ROWS / self.batch.max(1)).clamp(1, self.time.max(1))
    }

    /// Where each sequence's `xp` row at time `t` starts in the first argument.
    pub fn input_rows(&self, t: usize, out: &mut [usize]) {
        let (b, g) = (self.batch, self.gates * self.hidden);
        for (k, o) in out.iter_mut().enumerate() {
            *o = match &self.ids {
                None => (t * b + k) * g,
                Some(ids) => ids[t * b + k] as usize * g,
            };
        }
    }
}

/// What a [`Recurrence`]'s forward pass returns: the op's result and, when kept, the tape.
pub(crate) type Forward<T, Tape> = candle_core::Result<(Vec<T>, Option<Tape>)>;

/// A recurrence over whole sequences on plain slices.
pub(crate) trait Recurrence: Send + Sync + 'static {
    /// What the forward pass keeps for the backward pass.
    type Tape<T: Real>: Send + Sync;
    /// Gate blocks per unit.
    const GATES: usize;
    /// Rows of final state after the `time` output rows of the op's result.
    const FINAL_ROWS: usize;
    /// The op's name for candle.
    const NAME: &'static str;

    /// `(first, w_hh, state) -> [outputs; final states]` and, when `save`, the tape.
    fn forward<T: Real>(
        plan: &Plan,
        first: &[T],
        w: &[T],
        state: &[T],
        save: bool,
    ) -> Forward<T, Self::Tape<T>>;

    /// The gradient of the op's result to `[d first | d w_hh | d state]`, flat, where the first
    /// argument had `first_len` elements and the state `state_len`.
    fn backward<T: Real>(
        plan: &Plan,
        tape: &Self::Tape<T>,
        grad: &[T],
        w: &[T],
        first_len: usize,
        state_len: usize,
    ) -> candle_core::Result<Vec<T>>;
}

/// Checks the input, the recurrent weights `[gates·hidden, hidden]`, the batch of the state and
/// the lengths; returns the plan and the first argument.
pub(crate) fn plan<'a>(
    input: GateInput<'a>,
    gates: usize,
    w_hh: &Tensor,
    reverse: bool,
    lengths: Option<&[usize]>,
) -> Result<(Plan, &'a Tensor)> {
    let (first, time, batch, width, ids) = match input {
        GateInput::Projected(xp) => match xp.dims() {
            &[t, b, g] => (xp, t, b, g, None),
            d => return Err(Error::shape("projected input", "[time, batch, gates·hidden]", d)),
        },
        GateInput::Table { table, ids } => {
            let (rows, g) = table
                .dims2()
                .map_err(|_| Error::shape("input table", "[rows, gates·hidden]", table.dims()))?;
            let (t, b) = ids.dims2().map_err(|_| Error::shape("ids", "[time, batch]", ids.dims()))?;
            let ids: Vec<u32> = ids.to_dtype(DType::U32)?.flatten_all()?.to_vec1()?;
            if let Some(&id) = ids.iter().find(|&&id| id as usize >= rows) {
                return Err(Error::UnknownId { id, size: rows });
            }
            (table, t, b, g, Some(Arc::from(ids)))
        }
    };
    let hidden = width / gates;
    if width % gates != 0 || hidden == 0 || w_hh.dims() != [width, hidden] {
        return Err(Error::shape("recurrent weights", format!("[{width}, {hidden}]"), w_hh.dims()));
    }
    if time == 0 {
        return Err(Error::Empty("sequence has no time steps".into()));
    }
    let dtype = first.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) || w_hh.dtype() != dtype {
        return Err(Error::invalid("dtypes", "f32 or f64 tensors of one dtype"));
    }
    let lengths = match lengths {
        None => None,
        Some(l) if l.len() != batch => {
            return Err(Error::shape("sequence lengths", format!("{batch} lengths"), l.len()))
        }
        Some(l) => match l.iter().position(|&n| n > time) {
            Some(b) => {
                return Err(Error::invalid(
                    "sequence length",
                    format!("sequence {b} has length {} > {time} steps", l[b]),
                ))
            }
            None => Some(Arc::from(l)),
        },
    };
    Ok((Plan { time, batch, hidden, gates, reverse, lengths, ids }, first))
}

/// Checks that a state tensor is `[batch, hidden]` of the plan's dtype.
pub(crate) fn check_state(what: &str, plan: &Plan, s: &Tensor, dtype: DType) -> Result<()> {
    if s.dims() != [plan.batch, plan.hidden] {
        return Err(Error::shape(what, format!("[{}, {}]", plan.batch, plan.hidden), s.dims()));
    }
    if s.dtype() != dtype {
        return Err(Error::invalid("dtypes", "f32 or f64 tensors of one dtype"));
    }
    Ok(())
}

/// Runs recurrence `R` as a candle op: `(first, w_hh, state) -> [time + FINAL_ROWS, batch,
/// hidden]`, differentiable in all three.
pub(crate) fn apply<R: Recurrence>(
    plan: Plan,
    first: &Tensor,
    w_hh: &Tensor,
    state: &Tensor,
) -> Result<Tensor> {
    let save = first.track_op() || w_hh.track_op() || state.track_op();
    let op = SeqOp::<R> { plan, save, tape: Arc::new(OnceLock::new()) };
    Ok(first.contiguous()?.apply_op3(&w_hh.contiguous()?, &state.contiguous()?, op)?)
}

/// A tape of either precision.
enum Saved<R: Recurrence> {
    F32(R::Tape<f32>),
    F64(R::Tape<f64>),
}

trait Taped: Real {
    fn wrap<R: Recurrence>(tape: R::Tape<Self>) -> Saved<R>;
    fn unwrap<R: Recurrence>(saved: &Saved<R>) -> Option<&R::Tape<Self>>;
}

impl Taped for f32 {
    fn wrap<R: Recurrence>(tape: R::Tape<Self>) -> Saved<R> {
        Saved::F32(tape)
    }
    fn unwrap<R: Recurrence>(saved: &Saved<R>) -> Option<&R::Tape<Self>> {
        match saved {
            Saved::F32(t) => Some(t),
            Saved::F64(_) => None,
        }
    }
}

impl Taped for f64 {
    fn wrap<R: Recurrence>(tape: R::Tape<Self>) -> Saved<R> {
        Saved::F64(tape)
    }
    fn unwrap<R: Recurrence>(saved: &Saved<R>) -> Option<&R::Tape<Self>> {
        match saved {
            Saved::F64(t) => Some(t),
            Saved::F32(_) => None,
        }
    }
}

/// The forward op; it keeps the tape for [`SeqGrad`].
struct SeqOp<R: Recurrence> {
    plan: Plan,
    /// Keep the tape (some argument needs a gradient).
    save: bool,
    tape: Arc<OnceLock<Saved<R>>>,
}

impl<R: Recurrence> SeqOp<R> {
    fn run<T: Taped>(&self, first: &[T], w: &[T], state: &[T]) -> candle_core::Result<Vec<T>> {
        let (out, tape) = R::forward(&self.plan, first, w, state, self.save)?;
        if let Some(tape) = tape {
            // candle runs an op's forward once; were it run again, the first tape would stay.
            let _ = self.tape.set(T::wrap::<R>(tape));
        }
        Ok(out)
    }
}

pub(crate) fn contiguous<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("fused recurrent kernel: {what} must be contiguous"),
    }
}

impl<R: Recurrence> CustomOp3 for SeqOp<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(s)) => CpuStorage::F32(self.run(
                contiguous(x, l1, "input")?,
                contiguous(w, l2, "w_hh")?,
                contiguous(s, l3, "state")?,
            )?),
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(s)) => CpuStorage::F64(self.run(
                contiguous(x, l1, "input")?,
                contiguous(w, l2, "w_hh")?,
                contiguous(s, l3, "state")?,
            )?),
            _ => candle_core::bail!("{}: f32 or f64 arguments of one dtype only", R::NAME),
        };
        let p = &self.plan;
        Ok((out, Shape::from((p.time + R::FINAL_ROWS, p.batch, p.hidden))))
    }

    fn bwd(
        &self,
        first: &Tensor,
        w_hh: &Tensor,
        state: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (nx, nw, ns) = (first.elem_count(), w_hh.elem_count(), state.elem_count());
        let op = SeqGrad::<R> { plan: self.plan.clone(), tape: self.tape.clone(), lens: (nx, nw, ns) };
        let all = grad.contiguous()?.apply_op2_no_bwd(&w_hh.contiguous()?, &op)?;
        Ok((
            Some(all.narrow(0, 0, nx)?.reshape(first.shape())?),
            Some(all.narrow(0, nx, nw)?.reshape(w_hh.shape())?),
            Some(all.narrow(0, nx + nw, ns)?.reshape(state.shape())?),
        ))
    }
}

/// The backward op: `(d result, w_hh) -> [d first | d w_hh | d state]`, flat.
struct SeqGrad<R: Recurrence> {
    plan: Plan,
    tape: Arc<OnceLock<Saved<R>>>,
    /// Elements of the first argument, the weights and the state.
    lens: (usize, usize, usize),
}

impl<R: Recurrence> SeqGrad<R> {
    fn run<T: Taped>(&self, grad: &[T], w: &[T]) -> candle_core::Result<Vec<T>> {
        let Some(tape) = self.tape.get().and_then(T::unwrap::<R>) else {
            candle_core::bail!("{}: no forward tape of this dtype to differentiate", R::NAME);
        };
        R::backward(&self.plan, tape, grad, w, self.lens.0, self.lens.2)
    }
}

impl<R: Recurrence> CustomOp2 for SeqGrad<R> {
    fn name(&self) -> &'static str {
        "dls-recurrent-sequence-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(g), CpuStorage::F32(w)) => {
                CpuStorage::F32(self.run(contiguous(g, l1, "gradient")?, contiguous(w, l2, "w_hh")?)?)
            }
            (CpuStorage::F64(g), CpuStorage::F64(w)) => {
                CpuStorage::F64(self.run(contiguous(g, l1, "gradient")?, contiguous(w, l2, "w_hh")?)?)
            }
            _ => candle_core::bail!("{}: f32 or f64 arguments of one dtype only", R::NAME),
        };
        Ok((out, Shape::from(self.lens.0 + self.lens.1 + self.lens.2)))
    }
}
