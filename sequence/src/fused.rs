//! The LSTM cell's element-wise half as one candle custom op with a hand-written backward.
//!
//! Written with tensor ops, one LSTM step after its two matmuls is four slices, three sigmoids,
//! two tanh, three products and a sum, each a separate pass and graph node, and twice as many
//! backward; at the course's sizes (batch 32, hidden 128) those small ops, not the matmuls, took
//! most of a training step. Here they are one pass each way. With pre-activations `z = [zi | zf |
//! zg | zo]` (PyTorch's order) and the previous memory `c`:
//!
//! - forward: `i = σ(zi)`, `f = σ(zf)`, `g = tanh(zg)`, `o = σ(zo)`, `c' = f c + i g`,
//!   `h = o tanh(c')`; the op returns `[h | c']`;
//! - backward, from `dh` and `dc'` (the output's two halves): `dc* = dc' + dh o (1 - tanh²c')`,
//!   `dzi = dc* g i (1 - i)`, `dzf = dc* c f (1 - f)`, `dzg = dc* i (1 - g²)`,
//!   `dzo = dh tanh(c') o (1 - o)`, `dc = dc* f`. Activations are recomputed from `z`, so
//!   nothing is stored between the passes.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::kernel::{simd_dispatch, Real};

static REFERENCE: AtomicBool = AtomicBool::new(false);

/// Chooses, process-wide, whether LSTM cells run the fused element-wise op (the default) or the
/// tensor-op reference written from the equations.
pub fn use_fused_lstm(fused: bool) {
    REFERENCE.store(!fused, Ordering::Relaxed);
}

/// Whether LSTM cells run the fused op now (see [`use_fused_lstm`]).
pub fn fused_lstm() -> bool {
    !REFERENCE.load(Ordering::Relaxed)
}

/// `(batch, hidden)` of one call.
#[derive(Clone, Copy, Debug)]
struct LstmPointwise {
    batch: usize,
    hidden: usize,
    /// `false`: `(z, c) -> [h | c']`; `true`: `(z, c, d[h | c']) -> [dz | dc]` (the backward,
    /// with the output gradient appended to `c` as a third block).
    backward: bool,
}

/// The forward pass over rows: `z` `[batch, 4n]`, `c` `[batch, n]` to `out` `[batch, 2n]`.
#[inline(always)]
fn forward_rows<T: Real, const FMA: bool>(z: &[T], c: &[T], out: &mut [T], n: usize) {
    for ((z, c), out) in z.chunks_exact(4 * n).zip(c.chunks_exact(n)).zip(out.chunks_exact_mut(2 * n)) {
        let (zi, zf, zg, zo) = (&z[..n], &z[n..2 * n], &z[2 * n..3 * n], &z[3 * n..]);
        let (hs, cs) = out.split_at_mut(n);
        for j in 0..n {
            let (i, f) = (zi[j].sigmoid::<FMA>(), zf[j].sigmoid::<FMA>());
            let (g, o) = (zg[j].tanh::<FMA>(), zo[j].sigmoid::<FMA>());
            let c_new = f * c[j] + i * g;
            hs[j] = o * c_new.tanh::<FMA>();
            cs[j] = c_new;
        }
    }
}

simd_dispatch! {
    /// [`forward_rows`], vectorised where the processor allows.
    fn forward_pass<T: Real>(z: &[T], c: &[T], out: &mut [T], n: usize) => forward_rows
}

/// The backward pass over rows: `z`, `c` and the output gradient `grad` `[batch, 2n]` to `out`
/// `[batch, 5n]` (`[dz | dc]` per row); activations are recomputed from `z`.
#[inline(always)]
fn backward_rows<T: Real, const FMA: bool>(z: &[T], c: &[T], grad: &[T], out: &mut [T], n: usize) {
    let one = T::one();
    let rows = z.chunks_exact(4 * n).zip(c.chunks_exact(n)).zip(grad.chunks_exact(2 * n));
    for (((z, c), grad), out) in rows.zip(out.chunks_exact_mut(5 * n)) {
        let (zi, zf, zg, zo) = (&z[..n], &z[n..2 * n], &z[2 * n..3 * n], &z[3 * n..]);
        let (gh, gc) = (&grad[..n], &grad[n..]);
        let (dz, dc) = out.split_at_mut(4 * n);
        let (di, rest) = dz.split_at_mut(n);
        let (df, rest) = rest.split_at_mut(n);
        let (dg, d_o) = rest.split_at_mut(n);
        let (d_o, dc) = (&mut d_o[..n], &mut dc[..n]);
        for j in 0..n {
            let (i, f) = (zi[j].sigmoid::<FMA>(), zf[j].sigmoid::<FMA>());
            let (g, o) = (zg[j].tanh::<FMA>(), zo[j].sigmoid::<FMA>());
            let tc = (f * c[j] + i * g).tanh::<FMA>();
            let dh = gh[j];
            let dc_new = gc[j] + dh * o * (one - tc * tc);
            di[j] = dc_new * g * i * (one - i);
            df[j] = dc_new * c[j] * f * (one - f);
            dg[j] = dc_new * i * (one - g * g);
            d_o[j] = dh * tc * o * (one - o);
            dc[j] = dc_new * f;
        }
    }
}

simd_dispatch! {
    /// [`backward_rows`], vectorised where the processor allows.
    fn backward_pass<T: Real>(z: &[T], c: &[T], grad: &[T], out: &mut [T], n: usize) => backward_rows
}

impl LstmPointwise {
    fn run<T: Real>(&self, z: &[T], second: &[T]) -> Vec<T> {
        let (b, n) = (self.batch, self.hidden);
        if self.backward {
            let (c, grad) = second.split_at(b * n);
            let mut out = vec![T::zero(); b * 5 * n];
            backward_pass(z, c, grad, &mut out, n);
            out
        } else {
            let mut out = vec![T::zero(); b * 2 * n];
            forward_pass(z, second, &mut out, n);
            out
        }
    }
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("lstm kernel needs contiguous arguments"),
    }
}

impl CustomOp2 for LstmPointwise {
    fn name(&self) -> &'static str {
        if self.backward {
            "dls-lstm-pointwise-grad"
        } else {
            "dls-lstm-pointwise"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(z), CpuStorage::F32(c)) => {
                CpuStorage::F32(self.run(contiguous(z, l1)?, contiguous(c, l2)?))
            }
            (CpuStorage::F64(z), CpuStorage::F64(c)) => {
                CpuStorage::F64(self.run(contiguous(z, l1)?, contiguous(c, l2)?))
            }
            _ => candle_core::bail!("lstm kernel: f32 or f64 arguments of one dtype only"),
        };
        let width = if self.backward { 5 } else { 2 };
        Ok((out, Shape::from((self.batch, width * self.hidden))))
    }

    fn bwd(
        &self,
        z: &Tensor,
        c: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if self.backward {
            candle_core::bail!("lstm kernel: second derivatives are not implemented");
        }
        let (b, h) = (self.batch, self.hidden);
        // c and the output gradient travel as one `[b h + b 2h]` argument.
        let packed = Tensor::cat(&[c.flatten_all()?, grad.contiguous()?.flatten_all()?], 0)?;
        let all = z.apply_op2_no_bwd(&packed, &Self { backward: true, ..*self })?;
        Ok((Some(all.narrow(1, 0, 4 * h)?), Some(all.narrow(1, 4 * h, h)?.reshape((b, h))?)))
    }
}

/// One LSTM step's element-wise half: pre-activations `z` `[batch, 4 hidden]` (gates i, f, g, o)
/// and memory `c` `[batch, hidden]` to `(h, c')`, each `[batch, hidden]`.
pub(crate) fn lstm_pointwise(z: &Tensor, c: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let (batch, hidden) = c.dims2()?;
    let op = LstmPointwise { batch, hidden, backward: false };
    let out = z.contiguous()?.apply_op2(&c.contiguous()?, op)?;
    Ok((out.narrow(1, 0, hidden)?.contiguous()?, out.narrow(1, hidden, hidden)?.contiguous()?))
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};
    use dls_foundations::gradcheck::gradcheck;

    use super::lstm_pointwise;

    fn wave(shape: &[usize], phase: f64) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.77 + phase).sin() * 2.5).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The equations with tensor ops, as `Cell` computes them without the fused op.
    fn reference(z: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        let n = c.dim(1).unwrap();
        let sig = |t: Tensor| (t.neg().unwrap().exp().unwrap() + 1.0).unwrap().recip().unwrap();
        let i = sig(z.narrow(1, 0, n).unwrap());
        let f = sig(z.narrow(1, n, n).unwrap());
        let g = z.narrow(1, 2 * n, n).unwrap().tanh().unwrap();
        let o = sig(z.narrow(1, 3 * n, n).unwrap());
        let c = ((f * c).unwrap() + (i * g).unwrap()).unwrap();
        ((o * c.tanh().unwrap()).unwrap(), c)
    }

    #[test]
    fn fused_step_matches_the_equations_values_and_gradients() {
        let z = Var::from_tensor(&wave(&[3, 8], 0.1)).unwrap();
        let c = Var::from_tensor(&wave(&[3, 2], 0.9)).unwrap();
        let (wh, wc) = (wave(&[3, 2], 1.7), wave(&[3, 2], 2.3));
        let mut results = Vec::new();
        for fused in [true, false] {
            let (h, c2) = if fused { lstm_pointwise(&z, &c).unwrap() } else { reference(&z, &c) };
            let loss =
                ((&h * &wh).unwrap().sum_all().unwrap() + (&c2 * &wc).unwrap().sum_all().unwrap()).unwrap();
            let g = loss.backward().unwrap();
            results.push([h, c2, g.get(&z).unwrap().clone(), g.get(&c).unwrap().clone()]);
        }
        for (a, b) in results[0].iter().zip(&results[1]) {
            let gap = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            assert!(gap.to_scalar::<f64>().unwrap() < 1e-12);
        }
    }

    #[test]
    fn fused_step_passes_the_gradient_check() {
        let z = Var::from_tensor(&wave(&[2, 12], 0.4)).unwrap();
        let c = Var::from_tensor(&wave(&[2, 3], 1.1)).unwrap();
        let w = wave(&[2, 3], 0.6);
        let loss = || {
            let (h, c2) = lstm_pointwise(&z, &c)?;
            Ok(((h.sqr()? * &w)?.sum_all()? + (c2 * &w)?.sum_all()?)?)
        };
        let vars = [("z".to_string(), z.clone()), ("c".to_string(), c.clone())];
        let report = gradcheck(loss, &vars, 1e-6).unwrap();
        assert!(report.relative_difference < 1e-8, "{report:?}");
        assert_eq!(lstm_pointwise(&z, &c).unwrap().0.dtype(), DType::F64);
    }
}
