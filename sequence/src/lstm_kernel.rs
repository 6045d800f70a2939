//! The loops of the whole-sequence LSTM op ([`crate::fused_seq`]) on plain slices: the forward
//! recurrence, which records a tape, and the backward pass through time, which reads it.

use crate::kernel::{matmul, scatter_step, simd_dispatch, Mat, Real};
use crate::seq_op::{Plan, Recurrence};
use dls_foundations::buffers::Buf;

/// The LSTM as a [`Recurrence`]: first argument `xp` (both biases in), state `[h0; c0]`, result
/// `[outputs; h_n; c_n]`.
pub(crate) struct Lstm;

impl Recurrence for Lstm {
    type Tape<T: Real> = Tape<T>;
    const GATES: usize = 4;
    const FINAL_ROWS: usize = 2;
    const NAME: &'static str = "dls-lstm-sequence";

    fn forward<T: Real>(
        plan: &Plan,
        first: &[T],
        w: &[T],
        state: &[T],
        save: bool,
    ) -> candle_core::Result<(Vec<T>, Option<Tape<T>>)> {
        forward(plan, first, w, state, save)
    }

    fn backward<T: Real>(
        plan: &Plan,
        tape: &Tape<T>,
        grad: &[T],
        w: &[T],
        first_len: usize,
        _state_len: usize,
    ) -> candle_core::Result<Vec<T>> {
        backward(plan, tape, grad, w, first_len)
    }
}

/// What the forward pass keeps for the backward pass, per step in processing order, except
/// `hprev`, in time order (so that one gemm pairs it with the gradient of `xp`).
pub(crate) struct Tape<T: Real> {
    /// `[i, f, g, o]` after their non-linearities, `[steps, batch, 4 hidden]`.
    gates: Buf<T>,
    /// `c` before each step.
    cprev: Buf<T>,
    /// `tanh c'` after each step.
    tanhc: Buf<T>,
    /// `h` before the step at each time.
    hprev: Buf<T>,
}

/// One step's element-wise forward for every active row: `z` holds `h W_hhᵀ`, the pre-activations
/// less the input half, which row `b` reads at `x[rows[b]..]`; `z` gets the gates, and `h`, `c`
/// are updated in place.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows<T: Real, const FMA: bool>(
    z: &mut [T],
    x: &[T],
    rows: &[usize],
    h: &mut [T],
    c: &mut [T],
    tanhc: &mut [T],
    out: &mut [T],
    active: &[bool],
    n: usize,
) {
    for (b, _) in active.iter().enumerate().filter(|(_, &a)| a) {
        let row = &mut z[b * 4 * n..][..4 * n];
        let (zi, rest) = row.split_at_mut(n);
        let (zf, rest) = rest.split_at_mut(n);
        let (zg, zo) = rest.split_at_mut(n);
        let (zo, h, c) = (&mut zo[..n], &mut h[b * n..][..n], &mut c[b * n..][..n]);
        let (tc, out) = (&mut tanhc[b * n..][..n], &mut out[b * n..][..n]);
        let x = &x[rows[b]..][..4 * n];
        let (xi, xf, xg, xo) = (&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..]);
        for j in 0..n {
            let (i, f) = ((zi[j] + xi[j]).sigmoid::<FMA>(), (zf[j] + xf[j]).sigmoid::<FMA>());
            let (g, o) = ((zg[j] + xg[j]).tanh::<FMA>(), (zo[j] + xo[j]).sigmoid::<FMA>());
            let c_new = f * c[j] + i * g;
            let t = c_new.tanh::<FMA>();
            (zi[j], zf[j], zg[j], zo[j]) = (i, f, g, o);
            (c[j], tc[j], h[j], out[j]) = (c_new, t, o * t, o * t);
        }
    }
}

simd_dispatch! {
    /// [`forward_rows`], vectorised where the processor allows.
    fn forward_step<T: Real>(
        z: &mut [T],
        x: &[T],
        rows: &[usize],
        h: &mut [T],
        c: &mut [T],
        tanhc: &mut [T],
        out: &mut [T],
        active: &[bool],
        n: usize,
    ) => forward_rows
}

/// The recurrence: `first` (`xp` or the table, see [`Plan::ids`]), `w` `[4 hidden, hidden]`,
/// `s0` `[h0; c0]`, to `[outputs; h_n; c_n]` `[time + 2, batch, hidden]`, and the tape when `save`.
fn forward<T: Real>(
    plan: &Plan,
    first: &[T],
    w: &[T],
    s0: &[T],
    save: bool,
) -> candle_core::Result<(Vec<T>, Option<Tape<T>>)> {
    let Plan { time, batch: b, hidden: n, .. } = *plan;
    let (g, bn) = (4 * n, b * n);
    // W_hhᵀ laid out [hidden, 4 hidden]: the product's fast layout.
    let mut wt = Buf::with_capacity(g * n);
    for j in 0..n {
        wt.extend((0..g).map(|q| w[q * n + j]));
    }
    let (mut h, mut c) = (s0[..bn].to_vec(), s0[bn..].to_vec());
    let mut out = vec![T::zero(); (time + 2) * bn];
    // Rows of inactive sequences in `gates` and `tanhc` are left as they are: the backward pass
    // never reads them.
    let steps = if save { time } else { 1 };
    let (mut gates, mut tanhc) = (Buf::filled(steps * b * g), Buf::filled(steps * bn));
    let mut cprev = Buf::with_capacity(if save { time * bn } else { 0 });
    let mut hprev = Buf::with_capacity(if save { time * bn } else { 0 });
    let (mut active, mut rows) = (vec![true; b], vec![0; b]);
    for s in 0..time {
        let t = plan.time_of(s);
        plan.active(t, &mut active);
        plan.input_rows(t, &mut rows);
        if save {
            cprev.extend_from_slice(&c);
            hprev.extend_from_slice(&h);
        }
        let k = if save { s } else { 0 };
        let (z, tc) = (&mut gates[k * b * g..][..b * g], &mut tanhc[k * bn..][..bn]);
        matmul(z, false, Mat::new(&h, b, n), Mat::new(&wt, n, g))?;
        let out_t = &mut out[t * bn..][..bn];
        forward_step(z, first, &rows, &mut h, &mut c, tc, out_t, &active, n);
    }
    out[time * bn..][..bn].copy_from_slice(&h);
    out[(time + 1) * bn..].copy_from_slice(&c);
    if !save {
        return Ok((out, None));
    }
    if plan.reverse {
        let mut in_time_order = Buf::with_capacity(hprev.len());
        in_time_order.extend(hprev.chunks(bn).rev().flatten().copied());
        hprev = in_time_order;
    }
    Ok((out, Some(Tape { gates, cprev, tanhc, hprev })))
}

/// One step's element-wise backward for every active row: `dh`, `dc` carry the state gradients
/// (`dh` is zeroed for active rows, ready for the gemm to add `dz W_hh`); `dz` gets the gradient of
/// the pre-activations. Inactive rows keep their carries and get a zero `dz`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows<T: Real, const FMA: bool>(
    gates: &[T],
    cprev: &[T],
    tanhc: &[T],
    dout: &[T],
    dh: &mut [T],
    dc: &mut [T],
    dz: &mut [T],
    active: &[bool],
    n: usize,
) {
    let one = T::one();
    for (b, &on) in active.iter().enumerate() {
        let row = &mut dz[b * 4 * n..][..4 * n];
        if !on {
            row.fill(T::zero());
            continue;
        }
        let a = &gates[b * 4 * n..][..4 * n];
        let (ai, af, ag, ao) = (&a[..n], &a[n..2 * n], &a[2 * n..3 * n], &a[3 * n..4 * n]);
        let (zi, rest) = row.split_at_mut(n);
        let (zf, rest) = rest.split_at_mut(n);
        let (zg, zo) = rest.split_at_mut(n);
        let zo = &mut zo[..n];
        let (cp, tc, go) = (&cprev[b * n..][..n], &tanhc[b * n..][..n], &dout[b * n..][..n]);
        let (dh, dc) = (&mut dh[b * n..][..n], &mut dc[b * n..][..n]);
        for j in 0..n {
            let (i, f, g, o, t) = (ai[j], af[j], ag[j], ao[j], tc[j]);
            let dhj = dh[j] + go[j];
            let dcs = dc[j] + dhj * o * (one - t * t);
            zi[j] = dcs * g * i * (one - i);
            zf[j] = dcs * cp[j] * f * (one - f);
            zg[j] = dcs * i * (one - g * g);
            zo[j] = dhj * t * o * (one - o);
            dc[j] = dcs * f;
            dh[j] = T::zero();
        }
    }
}

simd_dispatch! {
    /// [`backward_rows`], vectorised where the processor allows.
    fn backward_step<T: Real>(
        gates: &[T],
        cprev: &[T],
        tanhc: &[T],
        dout: &[T],
        dh: &mut [T],
        dc: &mut [T],
        dz: &mut [T],
        active: &[bool],
        n: usize,
    ) => backward_rows
}

/// Back-propagation through time: from the gradient of `[outputs; h_n; c_n]` to
/// `[d first | dW_hh | d[h0; c0]]`, flat, where `first` had `first_len` elements.
fn backward<T: Real>(
    plan: &Plan,
    tape: &Tape<T>,
    grad: &[T],
    w: &[T],
    first_len: usize,
) -> candle_core::Result<Vec<T>> {
    let Plan { time, batch: b, hidden: n, .. } = *plan;
    let (g, bn) = (4 * n, b * n);
    let mut all = vec![T::zero(); first_len + g * n + 2 * bn];
    let (dfirst, rest) = all.split_at_mut(first_len);
    let (dw, ds) = rest.split_at_mut(g * n);
    let (dh, dc) = ds.split_at_mut(bn);
    dh.copy_from_slice(&grad[time * bn..][..bn]);
    dc.copy_from_slice(&grad[(time + 1) * bn..][..bn]);
    // dz goes straight into the gradient of a dense xp (time order); for a table, into a slab
    // of one block whose rows are added to the table's gradient when the block is done.
    let block = plan.block();
    let table = plan.ids.is_some();
    let mut slab = Buf::filled(if table { block * b * g } else { 0 });
    let mut active = vec![true; b];
    let mut first_block = true;
    for s in (0..time).rev() {
        let t = plan.time_of(s);
        let t0 = t / block * block;
        plan.active(t, &mut active);
        let (dz, at) = if table { (&mut slab[..], (t - t0) * b * g) } else { (&mut dfirst[..], t * b * g) };
        let (gates, cprev, tanhc) = (&tape.gates[s * b * g..], &tape.cprev[s * bn..], &tape.tanhc[s * bn..]);
        let (gates, cprev, tanhc) = (&gates[..b * g], &cprev[..bn], &tanhc[..bn]);
        let dz_t = &mut dz[at..][..b * g];
        backward_step(gates, cprev, tanhc, &grad[t * bn..][..bn], dh, dc, dz_t, &active, n);
        matmul(dh, true, Mat::new(dz_t, b, g), Mat::new(w, g, n))?;
        if s > 0 && plan.time_of(s - 1) / block == t / block {
            continue;
        }
        // The block of times t0.. is done: dW_hh += dZᵀ H_prev over it.
        let rows = ((t0 + block).min(time) - t0) * b;
        let dz_block = &dz[if table { 0 } else { t0 * b * g }..][..rows * g];
        let hprev = &tape.hprev[t0 * bn..][..rows * n];
        matmul(dw, !first_block, Mat::new(dz_block, rows, g).t(), Mat::new(hprev, rows, n))?;
        first_block = false;
        if let Some(ids) = &plan.ids {
            scatter_step(dfirst, &slab[..rows * g], &ids[t0 * b..][..rows], g);
        }
    }
    Ok(all)
}
