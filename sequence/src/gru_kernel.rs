//! The loops of the whole-sequence GRU op ([`crate::fused_gru`]) on plain slices: the forward
//! recurrence, which records a tape, and the backward pass through time, which reads it.

use crate::kernel::{matmul, scatter_step, simd_dispatch, Mat, Real};
use crate::seq_op::{Plan, Recurrence};
use dls_foundations::buffers::Buf;

/// The GRU as a [`Recurrence`]: first argument `xp = x W_ihᵀ + b_ih`, state `[h0 | b_hh]` (flat:
/// the recurrent bias travels with the state because `b_hn` sits inside `r ⊙ (…)`), result
/// `[outputs; h_n]`.
pub(crate) struct Gru;

/// What the forward pass keeps: per step in processing order, `[r | z | n | a]` for every
/// sequence, with `a = h W_hnᵀ + b_hn`; and `h` before the step at each time, in time order.
pub(crate) struct Tape<T: Real> {
    gates: Buf<T>,
    hprev: Buf<T>,
}

impl Recurrence for Gru {
    type Tape<T: Real> = Tape<T>;
    const GATES: usize = 3;
    const FINAL_ROWS: usize = 1;
    const NAME: &'static str = "dls-gru-sequence";

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

/// One step's element-wise forward for every active row: `hp` holds `h W_hhᵀ + b_hh`, row `b`'s
/// input half is at `x[rows[b]..]`; `tape` gets `[r | z | n | a]`, and `h` is updated in place.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows<T: Real, const FMA: bool>(
    hp: &[T],
    x: &[T],
    rows: &[usize],
    tape: &mut [T],
    h: &mut [T],
    out: &mut [T],
    active: &[bool],
    n: usize,
) {
    for (b, _) in active.iter().enumerate().filter(|(_, &a)| a) {
        let x = &x[rows[b]..][..3 * n];
        let (xr, xz, xn) = (&x[..n], &x[n..2 * n], &x[2 * n..]);
        let p = &hp[b * 3 * n..][..3 * n];
        let (pr, pz, pn) = (&p[..n], &p[n..2 * n], &p[2 * n..]);
        let row = &mut tape[b * 4 * n..][..4 * n];
        let (tr, rest) = row.split_at_mut(n);
        let (tz, rest) = rest.split_at_mut(n);
        let (tn, ta) = rest.split_at_mut(n);
        let (ta, h, out) = (&mut ta[..n], &mut h[b * n..][..n], &mut out[b * n..][..n]);
        for j in 0..n {
            let r = (xr[j] + pr[j]).sigmoid::<FMA>();
            let z = (xz[j] + pz[j]).sigmoid::<FMA>();
            let cand = (xn[j] + r * pn[j]).tanh::<FMA>();
            let h_new = cand + z * (h[j] - cand);
            (tr[j], tz[j], tn[j], ta[j]) = (r, z, cand, pn[j]);
            (h[j], out[j]) = (h_new, h_new);
        }
    }
}

simd_dispatch! {
    /// [`forward_rows`], vectorised where the processor allows.
    fn forward_step<T: Real>(
        hp: &[T],
        x: &[T],
        rows: &[usize],
        tape: &mut [T],
        h: &mut [T],
        out: &mut [T],
        active: &[bool],
        n: usize,
    ) => forward_rows
}

/// The recurrence: `first` (`xp` or the table), `w` `[3 hidden, hidden]`, `state` `[h0 | b_hh]`,
/// to `[outputs; h_n]` `[time + 1, batch, hidden]`, and the tape when `save`.
fn forward<T: Real>(
    plan: &Plan,
    first: &[T],
    w: &[T],
    state: &[T],
    save: bool,
) -> candle_core::Result<(Vec<T>, Option<Tape<T>>)> {
    let Plan { time, batch: b, hidden: n, .. } = *plan;
    let (g, bn) = (3 * n, b * n);
    let (h0, bias) = state.split_at(bn);
    // W_hhᵀ laid out [hidden, 3 hidden]: the product's fast layout.
    let mut wt = Buf::with_capacity(g * n);
    for j in 0..n {
        wt.extend((0..g).map(|q| w[q * n + j]));
    }
    let mut h = h0.to_vec();
    let mut out = vec![T::zero(); (time + 1) * bn];
    // Rows of inactive sequences in `gates` are left as they are: the backward pass never reads
    // them.
    let mut gates = Buf::filled(if save { time } else { 1 } * b * 4 * n);
    let mut hprev = Buf::with_capacity(if save { time * bn } else { 0 });
    let mut hp = Buf::filled(b * g);
    let (mut active, mut rows) = (vec![true; b], vec![0; b]);
    for s in 0..time {
        let t = plan.time_of(s);
        plan.active(t, &mut active);
        plan.input_rows(t, &mut rows);
        if save {
            hprev.extend_from_slice(&h);
        }
        for row in hp.chunks_exact_mut(g) {
            row.copy_from_slice(&bias[..g]);
        }
        matmul(&mut hp, true, Mat::new(&h, b, n), Mat::new(&wt, n, g))?;
        let k = if save { s } else { 0 };
        let tape = &mut gates[k * b * 4 * n..][..b * 4 * n];
        forward_step(&hp, first, &rows, tape, &mut h, &mut out[t * bn..][..bn], &active, n);
    }
    out[time * bn..].copy_from_slice(&h);
    if !save {
        return Ok((out, None));
    }
    if plan.reverse {
        let mut in_time_order = Buf::with_capacity(hprev.len());
        in_time_order.extend(hprev.chunks(bn).rev().flatten().copied());
        hprev = in_time_order;
    }
    Ok((out, Some(Tape { gates, hprev })))
}

/// One step's element-wise backward for every active row: `dh` carries the state gradient and
/// gets `dh' z` (the gemm then adds `dhp W_hh`); `dx` gets the gradient of the input half and
/// `dhp` that of `h W_hhᵀ + b_hh`. Inactive rows keep their carry and get zeros.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows<T: Real, const FMA: bool>(
    tape: &[T],
    hprev: &[T],
    dout: &[T],
    dh: &mut [T],
    dx: &mut [T],
    dhp: &mut [T],
    active: &[bool],
    n: usize,
) {
    let one = T::one();
    for (b, &on) in active.iter().enumerate() {
        let (dx, dhp) = (&mut dx[b * 3 * n..][..3 * n], &mut dhp[b * 3 * n..][..3 * n]);
        if !on {
            dx.fill(T::zero());
            dhp.fill(T::zero());
            continue;
        }
        let a = &tape[b * 4 * n..][..4 * n];
        let (ar, az, an, aa) = (&a[..n], &a[n..2 * n], &a[2 * n..3 * n], &a[3 * n..]);
        let (xr, rest) = dx.split_at_mut(n);
        let (xz, xn) = rest.split_at_mut(n);
        let (pr, rest) = dhp.split_at_mut(n);
        let (pz, pn) = rest.split_at_mut(n);
        let (xn, pn) = (&mut xn[..n], &mut pn[..n]);
        let (hp, go, dh) = (&hprev[b * n..][..n], &dout[b * n..][..n], &mut dh[b * n..][..n]);
        for j in 0..n {
            let (r, z, cand, a) = (ar[j], az[j], an[j], aa[j]);
            let d = dh[j] + go[j];
            let dn = d * (one - z) * (one - cand * cand);
            let dr = dn * a * r * (one - r);
            let dz = d * (hp[j] - cand) * z * (one - z);
            (xr[j], xz[j], xn[j]) = (dr, dz, dn);
            (pr[j], pz[j], pn[j]) = (dr, dz, dn * r);
            dh[j] = d * z;
        }
    }
}

simd_dispatch! {
    /// [`backward_rows`], vectorised where the processor allows.
    fn backward_step<T: Real>(
        tape: &[T],
        hprev: &[T],
        dout: &[T],
        dh: &mut [T],
        dx: &mut [T],
        dhp: &mut [T],
        active: &[bool],
        n: usize,
    ) => backward_rows
}

/// Back-propagation through time: from the gradient of `[outputs; h_n]` to
/// `[d first | dW_hh | dh0 | db_hh]`, flat, where `first` had `first_len` elements.
fn backward<T: Real>(
    plan: &Plan,
    tape: &Tape<T>,
    grad: &[T],
    w: &[T],
    first_len: usize,
) -> candle_core::Result<Vec<T>> {
    let Plan { time, batch: b, hidden: n, .. } = *plan;
    let (g, bn) = (3 * n, b * n);
    let mut all = vec![T::zero(); first_len + g * n + bn + g];
    let (dfirst, rest) = all.split_at_mut(first_len);
    let (dw, rest) = rest.split_at_mut(g * n);
    let (dh, db) = rest.split_at_mut(bn);
    dh.copy_from_slice(&grad[time * bn..][..bn]);
    // The input half's gradient goes straight into a dense xp's gradient (time order), or into a
    // slab of one block of times added to the table's gradient when the block is done; the
    // gradient of h W_hhᵀ + b_hh into a slab of its own, for dW_hh and db_hh.
    let block = plan.block();
    let table = plan.ids.is_some();
    let mut slab_x = Buf::filled(if table { block * b * g } else { 0 });
    let mut slab_h = Buf::filled(block * b * g);
    let mut active = vec![true; b];
    let mut first_block = true;
    for s in (0..time).rev() {
        let t = plan.time_of(s);
        let t0 = t / block * block;
        plan.active(t, &mut active);
        let (dx, at) = if table { (&mut slab_x[..], (t - t0) * b * g) } else { (&mut dfirst[..], t * b * g) };
        let dhp = &mut slab_h[(t - t0) * b * g..][..b * g];
        let (gates, hprev) = (&tape.gates[s * b * 4 * n..][..b * 4 * n], &tape.hprev[t * bn..][..bn]);
        let dx_t = &mut dx[at..][..b * g];
        backward_step(gates, hprev, &grad[t * bn..][..bn], dh, dx_t, dhp, &active, n);
        matmul(dh, true, Mat::new(dhp, b, g), Mat::new(w, g, n))?;
        if s > 0 && plan.time_of(s - 1) / block == t / block {
            continue;
        }
        // The block of times t0.. is done: dW_hh += dHPᵀ H_prev, db_hh += Σ dHP over it.
        let rows = ((t0 + block).min(time) - t0) * b;
        let dhp_block = &slab_h[..rows * g];
        let hprev = &tape.hprev[t0 * bn..][..rows * n];
        matmul(dw, !first_block, Mat::new(dhp_block, rows, g).t(), Mat::new(hprev, rows, n))?;
        first_block = false;
        for row in dhp_block.chunks_exact(g) {
            for (d, &v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
        if let Some(ids) = &plan.ids {
            scatter_step(dfirst, &slab_x[..rows * g], &ids[t0 * b..][..rows], g);
        }
    }
    Ok(all)
}
