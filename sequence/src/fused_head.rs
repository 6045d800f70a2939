//! The character model's training loss as one op: the linear head over the vocabulary and the
//! softmax cross-entropy of each next character, padding targets skipped.
//!
//! Written with tensor ops this is a matmul, a broadcast add, six ops of `log_softmax`, a gather
//! and a masked sum, each allocating a `[rows, vocab]` tensor, and more than twice as many
//! backward; at the course's sizes they cost as much as the recurrence. Here:
//!
//! - forward: `l = h Wᵀ + b` (one gemm), per row `lse = m + ln Σ_j e^{l_j - m}` with `m` the row's
//!   maximum, `nll = lse - l_y`; the softmax `p` is kept for the backward pass, and the op also
//!   counts the targets and the rows whose arg-max is the target;
//! - backward, from `g = dLoss/d(Σ nll)`: `dl = g (p - onehot(y))` on counted rows (zero on
//!   padding), `dh = dl W`, `dW = dlᵀ h`, `db = Σ_rows dl` (two gemms and a column sum).

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use crate::corpus::IGNORE;
use crate::kernel::{matmul, simd_dispatch, Mat, Real};
use crate::{Error, Result};
use dls_foundations::buffers::Buf;

/// What [`head_nll`] returns.
pub(crate) struct HeadNll {
    /// Summed negative log-likelihood over counted targets, a scalar that carries gradients.
    pub nll: Tensor,
    /// Targets other than [`IGNORE`].
    pub count: f64,
    /// Counted rows whose largest logit is the target's.
    pub correct: f64,
}

/// Summed cross-entropy of `softmax(h Wᵀ + b)` against `targets`, where `h`'s first
/// `targets.len()` rows of `hidden = w.dim(1)` values are the inputs (the op reads `h` flat, so
/// trailing rows, such as the final states behind an LSTM op's outputs, are left out and get a
/// zero gradient). `w` `[vocab, hidden]`, `b` `[vocab]`; targets equal to [`IGNORE`] are skipped.
///
/// # Errors
/// [`Error::Shape`] when the sizes disagree, [`Error::UnknownId`] for a target past the
/// vocabulary, [`Error::Invalid`] for a dtype other than f32 and f64.
pub(crate) fn head_nll(h: &Tensor, w: &Tensor, b: &Tensor, targets: &[u32]) -> Result<HeadNll> {
    let (vocab, hidden) = w.dims2().map_err(|_| Error::shape("head weight", "[vocab, hidden]", w.dims()))?;
    let rows = targets.len();
    if b.dims() != [vocab] {
        return Err(Error::shape("head bias", format!("[{vocab}]"), b.dims()));
    }
    if h.elem_count() < rows * hidden || h.dims().last() != Some(&hidden) {
        return Err(Error::shape("head input", format!("at least {rows} rows of {hidden}"), h.dims()));
    }
    if let Some(&y) = targets.iter().find(|&&y| y != IGNORE && y as usize >= vocab) {
        return Err(Error::UnknownId { id: y, size: vocab });
    }
    let dtype = h.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) || w.dtype() != dtype || b.dtype() != dtype {
        return Err(Error::invalid("head dtypes", "f32 or f64 tensors of one dtype"));
    }
    let op = HeadOp {
        rows,
        hidden,
        vocab,
        targets: Arc::from(targets),
        save: h.track_op() || w.track_op() || b.track_op(),
        probs: Arc::new(OnceLock::new()),
    };
    let out = h.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, op)?;
    let stats: Vec<f64> = out.narrow(0, 1, 2)?.to_dtype(DType::F64)?.to_vec1()?;
    Ok(HeadNll { nll: out.get(0)?, count: stats[0], correct: stats[1] })
}

/// The softmax of the forward pass, in the data's precision.
enum Probs {
    F32(Buf<f32>),
    F64(Buf<f64>),
}

trait Kept: Real {
    fn wrap(p: Buf<Self>) -> Probs;
    fn unwrap(p: &Probs) -> Option<&[Self]>;
}

impl Kept for f32 {
    fn wrap(p: Buf<Self>) -> Probs {
        Probs::F32(p)
    }
    fn unwrap(p: &Probs) -> Option<&[Self]> {
        match p {
            Probs::F32(v) => Some(v),
            Probs::F64(_) => None,
        }
    }
}

impl Kept for f64 {
    fn wrap(p: Buf<Self>) -> Probs {
        Probs::F64(p)
    }
    fn unwrap(p: &Probs) -> Option<&[Self]> {
        match p {
            Probs::F64(v) => Some(v),
            Probs::F32(_) => None,
        }
    }
}

/// `(h, w, b) -> [Σ nll, count, correct]`.
struct HeadOp {
    rows: usize,
    hidden: usize,
    vocab: usize,
    targets: Arc<[u32]>,
    save: bool,
    probs: Arc<OnceLock<Probs>>,
}

/// Per row of logits: turns it into its softmax and adds to `stats` `[Σ nll, count, correct]`.
#[inline(always)]
fn softmax_rows<T: Real, const FMA: bool>(
    logits: &mut [T],
    targets: &[u32],
    vocab: usize,
    stats: &mut [f64],
) {
    for (row, &y) in logits.chunks_exact_mut(vocab).zip(targets) {
        let (mut m, mut arg) = (row[0], 0);
        for (j, &x) in row.iter().enumerate() {
            if x > m {
                (m, arg) = (x, j);
            }
        }
        let picked = row[(y as usize).min(vocab - 1)];
        for x in row.iter_mut() {
            *x = (*x - m).exp_::<FMA>();
        }
        let sum = row.iter().fold(T::zero(), |a, &x| a + x);
        let inv = T::one() / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
        if y != IGNORE {
            stats[0] += ((m + sum.ln_()) - picked).to_f64();
            stats[1] += 1.0;
            stats[2] += if arg == y as usize { 1.0 } else { 0.0 };
        }
    }
}

simd_dispatch! {
    /// [`softmax_rows`], vectorised where the processor allows.
    fn softmax_step<T: Real>(logits: &mut [T], targets: &[u32], vocab: usize, stats: &mut [f64]) => softmax_rows
}

impl HeadOp {
    fn run<T: Kept>(&self, h: &[T], w: &[T], b: &[T]) -> candle_core::Result<Vec<T>> {
        let (n, k, v) = (self.rows, self.hidden, self.vocab);
        let mut logits = Buf::with_capacity(n * v);
        for _ in 0..n {
            logits.extend_from_slice(b);
        }
        matmul(&mut logits, true, Mat::new(&h[..n * k], n, k), Mat::new(w, v, k).t())?;
        let mut stats = [0.0; 3];
        softmax_step(&mut logits, &self.targets, v, &mut stats);
        if self.save {
            // candle runs an op's forward once; were it run again, the first softmax would stay.
            let _ = self.probs.set(T::wrap(logits));
        }
        Ok(stats.iter().map(|&s| T::from_f64(s)).collect())
    }

    /// `(grad [3], h, w) -> [dh | dW | db]`, flat.
    fn grad<T: Kept>(&self, grad: &[T], h: &[T], w: &[T]) -> candle_core::Result<Vec<T>> {
        let (n, k, v) = (self.rows, self.hidden, self.vocab);
        let Some(p) = self.probs.get().and_then(T::unwrap) else {
            candle_core::bail!("head loss kernel: no forward softmax of this dtype to differentiate");
        };
        let g = grad[0];
        let mut dl = Buf::with_capacity(p.len());
        dl.extend(p.iter().map(|&x| x * g));
        for (row, &y) in dl.chunks_exact_mut(v).zip(self.targets.iter()) {
            match row.get_mut(y as usize) {
                Some(d) if y != IGNORE => *d -= g,
                _ => row.fill(T::zero()),
            }
        }
        let mut all = vec![T::zero(); h.len() + v * k + v];
        let (dh, rest) = all.split_at_mut(h.len());
        let (dw, db) = rest.split_at_mut(v * k);
        matmul(&mut dh[..n * k], false, Mat::new(&dl, n, v), Mat::new(w, v, k))?;
        matmul(dw, false, Mat::new(&dl, n, v).t(), Mat::new(&h[..n * k], n, k))?;
        for row in dl.chunks_exact(v) {
            for (d, &x) in db.iter_mut().zip(row) {
                *d += x;
            }
        }
        Ok(all)
    }
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("head loss kernel: {what} must be contiguous"),
    }
}

impl CustomOp3 for HeadOp {
    fn name(&self) -> &'static str {
        "dls-head-nll"
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
            (CpuStorage::F32(h), CpuStorage::F32(w), CpuStorage::F32(b)) => CpuStorage::F32(self.run(
                contiguous(h, l1, "h")?,
                contiguous(w, l2, "w")?,
                contiguous(b, l3, "b")?,
            )?),
            (CpuStorage::F64(h), CpuStorage::F64(w), CpuStorage::F64(b)) => CpuStorage::F64(self.run(
                contiguous(h, l1, "h")?,
                contiguous(w, l2, "w")?,
                contiguous(b, l3, "b")?,
            )?),
            _ => candle_core::bail!("head loss kernel: f32 or f64 arguments of one dtype only"),
        };
        Ok((out, Shape::from(3)))
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = HeadGrad(self);
        let all = grad.contiguous()?.apply_op3_no_bwd(&h.contiguous()?, &w.contiguous()?, &op)?;
        let (nh, nw) = (h.elem_count(), self.vocab * self.hidden);
        Ok((
            Some(all.narrow(0, 0, nh)?.reshape(h.shape())?),
            Some(all.narrow(0, nh, nw)?.reshape((self.vocab, self.hidden))?),
            Some(all.narrow(0, nh + nw, self.vocab)?),
        ))
    }
}

/// The backward op, borrowing the forward op's sizes and softmax.
struct HeadGrad<'a>(&'a HeadOp);

impl CustomOp3 for HeadGrad<'_> {
    fn name(&self) -> &'static str {
        "dls-head-nll-grad"
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
            (CpuStorage::F32(g), CpuStorage::F32(h), CpuStorage::F32(w)) => CpuStorage::F32(self.0.grad(
                contiguous(g, l1, "gradient")?,
                contiguous(h, l2, "h")?,
                contiguous(w, l3, "w")?,
            )?),
            (CpuStorage::F64(g), CpuStorage::F64(h), CpuStorage::F64(w)) => CpuStorage::F64(self.0.grad(
                contiguous(g, l1, "gradient")?,
                contiguous(h, l2, "h")?,
                contiguous(w, l3, "w")?,
            )?),
            _ => candle_core::bail!("head loss kernel: f32 or f64 arguments of one dtype only"),
        };
        let nh = l2.shape().elem_count();
        Ok((out, Shape::from(nh + self.0.vocab * self.0.hidden + self.0.vocab)))
    }
}
