//! Training-mode batch normalisation as one candle custom op with a hand-written backward.
//!
//! Written with tensor ops, batch norm over `[n, c, h, w]` costs about twenty passes over the
//! activations forward and backward (a permuted copy, strided reductions, four broadcast maps and
//! their gradients); profiles of a ResNet training step put a fifth of the time there. This op
//! makes two passes forward (statistics, then `y = x scale + shift`) and two backward, with the
//! standard gradient (Ioffe & Szegedy 2015), per channel over its `m = n h w` values:
//!
//! `dβ = Σ dy`, `dγ = Σ dy x̂`, `dx = γ / (σ m) (m dy - dβ - x̂ dγ)` with `x̂ = (x - μ) / σ`,
//! `σ = sqrt(var + eps)` and the biased batch variance. Sums run in f64, in eight independent
//! partial sums per channel (one running sum is a chain of dependent additions, four cycles
//! each, which held the op to a fraction of memory speed).
//!
//! With `relu` the op is batch norm followed by `max(0, ·)`: the forward writes the rectified
//! output, and the backward masks `dy` where the pre-activation `x scale + shift` (recomputed
//! with the forward's own rounding) is not positive, PyTorch's gradient at 0 included. A ResNet
//! block's graph then holds one node where it held two, and skips the ReLU's two passes and
//! candle's gradient bookkeeping for the extra node.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};

/// Per-channel batch statistics of the last forward: mean and biased variance, and the
/// `y = x scale + shift` the forward applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchStats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    scale: Vec<f64>,
    shift: Vec<f64>,
}

/// Partial sums per reduction (enough independent additions to keep the adders busy).
const LANES: usize = 8;

/// `Σ f(v)` over every value of `runs`, in f64, in [`LANES`] partial sums.
#[inline(always)]
fn lane_sum<'a, T: WithDType>(runs: impl Iterator<Item = &'a [T]>, f: impl Fn(T) -> f64) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let mut tail = 0.0;
    for run in runs {
        let mut chunks = run.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (l, &v) in lanes.iter_mut().zip(chunk) {
                *l += f(v);
            }
        }
        tail += chunks.remainder().iter().map(|&v| f(v)).sum::<f64>();
    }
    lanes.iter().sum::<f64>() + tail
}

/// `x` viewed as `[n, c, s]`: images, channels, values per channel and image.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    s: usize,
}

impl Dims {
    fn of(shape: &Shape) -> candle_core::Result<Self> {
        let d = shape.dims();
        if d.len() < 2 {
            candle_core::bail!("batch norm expects [n, c, ...], got {d:?}");
        }
        Ok(Self { n: d[0], c: d[1], s: d[2..].iter().product() })
    }

    fn m(&self) -> usize {
        self.n * self.s
    }

    /// Calls `f(i, run)` for each of channel `ch`'s `n` contiguous runs of `s` values.
    #[inline(always)]
    fn runs<'a, T>(&self, data: &'a [T], ch: usize) -> impl Iterator<Item = &'a [T]> + 'a {
        let (c, s) = (self.c, self.s);
        (0..self.n).map(move |i| &data[(i * c + ch) * s..][..s])
    }
}

#[derive(Clone, Debug)]
struct BatchNormOp {
    eps: f64,
    /// Filled by the forward; read by the backward and by the layer (running averages).
    stats: Arc<Mutex<BatchStats>>,
    grad: bool,
    /// Batch norm then `max(0, ·)`.
    relu: bool,
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("batch norm kernel needs contiguous arguments"),
    }
}

impl BatchNormOp {
    #[inline(always)]
    fn forward<T: WithDType>(&self, x: &[T], w: &[T], b: &[T], d: Dims) -> candle_core::Result<Vec<T>> {
        let m = d.m() as f64;
        let zero = T::from_f64(0.0);
        let mut stats = BatchStats::default();
        let mut y = vec![zero; x.len()];
        for ch in 0..d.c {
            let mean = lane_sum(d.runs(x, ch), |v| v.to_f64()) / m;
            let var = lane_sum(d.runs(x, ch), |v| (v.to_f64() - mean).powi(2)) / m;
            let scale = w[ch].to_f64() / (var + self.eps).sqrt();
            let shift = b[ch].to_f64() - mean * scale;
            let (scale_t, shift_t) = (T::from_f64(scale), T::from_f64(shift));
            for i in 0..d.n {
                let at = (i * d.c + ch) * d.s;
                let (ys, xs) = (&mut y[at..at + d.s], &x[at..at + d.s]);
                if self.relu {
                    for (o, v) in ys.iter_mut().zip(xs) {
                        let pre = *v * scale_t + shift_t;
                        *o = if pre > zero { pre } else { zero };
                    }
                } else {
                    for (o, v) in ys.iter_mut().zip(xs) {
                        *o = *v * scale_t + shift_t;
                    }
                }
            }
            stats.mean.push(mean);
            stats.var.push(var);
            stats.scale.push(scale);
            stats.shift.push(shift);
        }
        *self.stats.lock().map_err(|_| candle_core::Error::Msg("batch norm statistics poisoned".into()))? =
            stats;
        Ok(y)
    }

    /// `[dx | dγ | dβ]` concatenated (one storage for the three gradients).
    #[inline(always)]
    fn backward<T: WithDType>(&self, x: &[T], w: &[T], dy: &[T], d: Dims) -> candle_core::Result<Vec<T>> {
        let stats = self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("batch norm statistics poisoned".into()))?;
        let m = d.m() as f64;
        let mut out = vec![T::from_f64(0.0); x.len() + 2 * d.c];
        let (dx, rest) = out.split_at_mut(x.len());
        let (dw, db) = rest.split_at_mut(d.c);
        let zero = T::from_f64(0.0);
        for ch in 0..d.c {
            let (mean, inv) = (stats.mean[ch], 1.0 / (stats.var[ch] + self.eps).sqrt());
            // The gradient reaching the normalised value: dy, or with the ReLU dy where the
            // forward's pre-activation was positive and zero elsewhere.
            let (scale_t, shift_t) = (T::from_f64(stats.scale[ch]), T::from_f64(stats.shift[ch]));
            let relu = self.relu;
            let g = |v: T, g: T| if !relu || v * scale_t + shift_t > zero { g } else { zero };
            let pairs = || d.runs(x, ch).zip(d.runs(dy, ch));
            let (mut sum_dy, mut sum_dy_xhat) = ([0.0f64; LANES], [0.0f64; LANES]);
            for (xs, gs) in pairs() {
                let (mut xc, mut gc) = (xs.chunks_exact(LANES), gs.chunks_exact(LANES));
                for (xl, gl) in (&mut xc).zip(&mut gc) {
                    for (l, (&v, &gv)) in xl.iter().zip(gl).enumerate() {
                        let gv = g(v, gv).to_f64();
                        sum_dy[l] += gv;
                        sum_dy_xhat[l] += gv * (v.to_f64() - mean) * inv;
                    }
                }
                for (&v, &gv) in xc.remainder().iter().zip(gc.remainder()) {
                    let gv = g(v, gv).to_f64();
                    sum_dy[0] += gv;
                    sum_dy_xhat[0] += gv * (v.to_f64() - mean) * inv;
                }
            }
            let (sum_dy, sum_dy_xhat) = (sum_dy.iter().sum::<f64>(), sum_dy_xhat.iter().sum::<f64>());
            dw[ch] = T::from_f64(sum_dy_xhat);
            db[ch] = T::from_f64(sum_dy);
            // dx = k (dy - a - x̂ b) with k = γ σ⁻¹, a = dβ / m, b = dγ / m, folded into
            // dx = k dy + (x - μ) p + q so the inner loop is two multiply-adds.
            let k = w[ch].to_f64() * inv;
            let p = -k * inv * sum_dy_xhat / m;
            let q = -k * sum_dy / m - mean * p;
            let (k, p, q) = (T::from_f64(k), T::from_f64(p), T::from_f64(q));
            for i in 0..d.n {
                let at = (i * d.c + ch) * d.s;
                for ((o, &v), &gv) in dx[at..at + d.s].iter_mut().zip(&x[at..at + d.s]).zip(&dy[at..at + d.s])
                {
                    *o = k * g(v, gv) + v * p + q;
                }
            }
        }
        Ok(out)
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        if self.grad {
            "dls-batch-norm"
        } else {
            "dls-batch-norm-grad"
        }
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
        let d = Dims::of(l1.shape())?;
        let out =
            match (s1, s2, s3) {
                (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => CpuStorage::F32(
                    self.dispatch(contiguous(x, l1)?, contiguous(w, l2)?, contiguous(b, l3)?, d)?,
                ),
                (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => CpuStorage::F64(
                    self.dispatch(contiguous(x, l1)?, contiguous(w, l2)?, contiguous(b, l3)?, d)?,
                ),
                _ => candle_core::bail!("batch norm kernel: f32 or f64 arguments of one dtype only"),
            };
        let shape =
            if self.grad { l1.shape().clone() } else { Shape::from(l1.shape().elem_count() + 2 * d.c) };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !self.grad {
            candle_core::bail!("batch norm kernel: second derivatives are not implemented");
        }
        let d = Dims::of(x.shape())?;
        let op = Self { grad: false, ..self.clone() };
        let all = x.apply_op3_no_bwd(w, &grad.contiguous()?, &op)?;
        let n = x.elem_count();
        let dx = all.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = all.narrow(0, n, d.c)?;
        let db = all.narrow(0, n + d.c, d.c)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl BatchNormOp {
    /// The forward op (`grad: true`) takes `(x, γ, β)` and gives `y`; the backward reuses the
    /// same `cpu_fwd` slot with `grad: false`, taking `(x, γ, dy)` and giving `[dx | dγ | dβ]`.
    fn dispatch<T: WithDType>(&self, x: &[T], w: &[T], third: &[T], d: Dims) -> candle_core::Result<Vec<T>> {
        crate::simd::wide(
            #[inline(always)]
            || {
                if self.grad {
                    // `third` is β.
                    self.forward(x, w, third, d)
                } else {
                    // `third` is dy.
                    self.backward(x, w, third, d)
                }
            },
        )
    }
}

/// Normalises `x` `[n, c, ...]` with its own per-channel batch statistics, then scales by
/// `weight` and shifts by `bias` (both `[c]`), then with `relu` rectifies; returns the output
/// and the statistics used.
pub(crate) fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    relu: bool,
) -> candle_core::Result<(Tensor, BatchStats)> {
    let stats = Arc::new(Mutex::new(BatchStats::default()));
    let op = BatchNormOp { eps, stats: stats.clone(), grad: true, relu };
    let y = x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    let stats =
        stats.lock().map_err(|_| candle_core::Error::Msg("batch norm statistics poisoned".into()))?.clone();
    Ok((y, stats))
}
