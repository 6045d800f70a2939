//! Max pooling as one pass forward and one pass backward, for any window, stride and padding.
//!
//! candle's `max_pool2d` differentiates by upsampling the output, comparing it with the input and
//! masking the upsampled gradient: five full-size passes and two temporaries, a quarter of a LeNet-5
//! training step. Here the forward writes each window's maximum, and the backward finds each
//! window's winner again, the first input equal to that maximum in row-major order (padding never
//! wins, a NaN only when the whole window is NaN), and adds the output's gradient to it. Ties therefore send the gradient
//! to one input, as PyTorch does, where candle's mask sends it to every tied input.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

/// One max-pooling call: `planes` maps of `h x w` pooled to `oh x ow` with a `k x k` window moved
/// by `s`, the input padded by `top` rows and `left` columns before the first window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MaxPoolGeometry {
    /// Batch times channels.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Window side.
    pub k: usize,
    /// Stride.
    pub s: usize,
    /// Padding rows above.
    pub top: usize,
    /// Padding columns on the left.
    pub left: usize,
}

/// Planes per rayon task; small calls stay on the calling thread's task.
const PLANES_PER_TASK: usize = 16;

impl MaxPoolGeometry {
    /// The input range covered by window `o` (0-based) along an axis of length `n`.
    #[inline(always)]
    fn span(&self, o: usize, pad: usize, n: usize) -> (usize, usize) {
        let start = (o * self.s) as isize - pad as isize;
        let clip = |a: isize| a.clamp(0, n as isize) as usize;
        (clip(start), clip(start + self.k as isize))
    }

    /// The largest value in the window of output `(i, j)`, a number before any NaN.
    #[inline(always)]
    fn window_max<T: WithDType>(&self, plane: &[T], i: usize, j: usize) -> T {
        let (r0, r1) = self.span(i, self.top, self.h);
        let (c0, c1) = self.span(j, self.left, self.w);
        let mut value = plane[r0 * self.w + c0];
        for r in r0..r1 {
            for &v in &plane[r * self.w + c0..r * self.w + c1] {
                value = [value, v][usize::from(beats(v, value))];
            }
        }
        value
    }

    /// Index within `plane` of the winner of output `(i, j)` whose maximum is `max`: the first
    /// input equal to it (independent comparisons, unlike the running maximum), or the window's
    /// first input when `max` is NaN (every input NaN).
    #[inline(always)]
    fn winner_of<T: WithDType>(&self, plane: &[T], i: usize, j: usize, max: T) -> usize {
        let (r0, r1) = self.span(i, self.top, self.h);
        let (c0, c1) = self.span(j, self.left, self.w);
        for r in r0..r1 {
            let row = r * self.w;
            if let Some(c) = plane[row + c0..row + c1].iter().position(|&v| v == max) {
                return row + c0 + c;
            }
        }
        r0 * self.w + c0
    }

    /// Whether every window is 2x2, stride 2, inside the input: LeNet's and VGG's pools, walked
    /// two rows at a time without indices.
    #[inline(always)]
    fn is_plain_2x2(&self) -> bool {
        self.k == 2
            && self.s == 2
            && self.top == 0
            && self.left == 0
            && 2 * self.oh <= self.h
            && 2 * self.ow <= self.w
    }

    /// Whether calls should stay on this thread: one thread, or too few planes to share.
    fn serial(&self) -> bool {
        self.planes <= PLANES_PER_TASK || rayon::current_num_threads() <= 1
    }

    fn forward<T: WithDType>(&self, x: &[T]) -> Vec<T> {
        let (image, out) = (self.h * self.w, self.oh * self.ow);
        let mut y = vec![T::from_f64(0.0); self.planes * out];
        let task = |(ys, xs): (&mut [T], &[T])| {
            dls_foundations::simd::wide(
                #[inline(always)]
                || {
                    for (yp, xp) in ys.chunks_mut(out).zip(xs.chunks(image)) {
                        self.forward_plane(xp, yp);
                    }
                },
            )
        };
        let (ys, xs) = (out * PLANES_PER_TASK, image * PLANES_PER_TASK);
        if self.serial() {
            y.chunks_mut(ys).zip(x.chunks(xs)).for_each(task);
        } else {
            y.par_chunks_mut(ys).zip(x.par_chunks(xs)).for_each(task);
        }
        y
    }

    #[inline(always)]
    fn forward_plane<T: WithDType>(&self, xp: &[T], yp: &mut [T]) {
        if self.is_plain_2x2() {
            // Row pairs in, one output row out, no indices: the compiler vectorises this.
            for (i, row) in yp.chunks_exact_mut(self.ow).enumerate() {
                let top = &xp[2 * i * self.w..][..2 * self.ow];
                let bottom = &xp[(2 * i + 1) * self.w..][..2 * self.ow];
                for ((o, t), b) in row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                    *o = larger(larger(larger(t[0], t[1]), b[0]), b[1]);
                }
            }
            return;
        }
        for i in 0..self.oh {
            for j in 0..self.ow {
                yp[i * self.ow + j] = self.window_max(xp, i, j);
            }
        }
    }

    fn backward<T: WithDType>(&self, x: &[T], y: &[T], dy: &[T]) -> Vec<T> {
        let (image, out) = (self.h * self.w, self.oh * self.ow);
        let mut dx = vec![T::from_f64(0.0); self.planes * image];
        let task = |dxs: &mut [T], xs: &[T], ys: &[T], dys: &[T]| {
            let planes = dxs.chunks_mut(image).zip(xs.chunks(image)).zip(ys.chunks(out).zip(dys.chunks(out)));
            dls_foundations::simd::wide(
                #[inline(always)]
                || {
                    for ((dxp, xp), (yp, dyp)) in planes {
                        self.backward_plane(xp, yp, dyp, dxp);
                    }
                },
            )
        };
        let (os, is) = (out * PLANES_PER_TASK, image * PLANES_PER_TASK);
        if self.serial() {
            let inputs = x.chunks(is).zip(y.chunks(os).zip(dy.chunks(os)));
            dx.chunks_mut(is).zip(inputs).for_each(|(dxs, (xs, (ys, dys)))| task(dxs, xs, ys, dys));
        } else {
            let inputs = x.par_chunks(is).zip(y.par_chunks(os).zip(dy.par_chunks(os)));
            dx.par_chunks_mut(is).zip(inputs).for_each(|(dxs, (xs, (ys, dys)))| task(dxs, xs, ys, dys));
        }
        dx
    }

    /// One plane's input gradient `dxp` (zero on entry).
    #[inline(always)]
    fn backward_plane<T: WithDType>(&self, xp: &[T], yp: &[T], dyp: &[T], dxp: &mut [T]) {
        if !self.is_plain_2x2() {
            for i in 0..self.oh {
                for j in 0..self.ow {
                    let o = i * self.ow + j;
                    dxp[self.winner_of(xp, i, j, yp[o])] += dyp[o];
                }
            }
            return;
        }
        // Windows do not overlap: every covered input is written once, with the output's
        // gradient where it is the window's first input equal to the maximum and zero elsewhere.
        // Independent comparisons and selects, which the compiler vectorises.
        let zero = T::from_f64(0.0);
        for i in 0..self.oh {
            let (ys, gs) = (&yp[i * self.ow..][..self.ow], &dyp[i * self.ow..][..self.ow]);
            let (upper, lower) = dxp[2 * i * self.w..][..2 * self.w].split_at_mut(self.w);
            let top = &xp[2 * i * self.w..][..2 * self.ow];
            let bottom = &xp[(2 * i + 1) * self.w..][..2 * self.ow];
            let rows = upper[..2 * self.ow].chunks_exact_mut(2).zip(lower[..2 * self.ow].chunks_exact_mut(2));
            let inputs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (((du, dl), (t, b)), (&m, &g)) in rows.zip(inputs).zip(ys.iter().zip(gs)) {
                #[allow(clippy::eq_op)]
                let first = (t[0] == m) | (m != m);
                let second = !first & (t[1] == m);
                let third = !first & !second & (b[0] == m);
                let fourth = !first & !second & !third;
                du[0] = if first { g } else { zero };
                du[1] = if second { g } else { zero };
                dl[0] = if third { g } else { zero };
                dl[1] = if fourth { g } else { zero };
            }
        }
    }
}

/// `v` when it [`beats`] `best`, else `best`.
#[inline(always)]
fn larger<T: WithDType>(best: T, v: T) -> T {
    if beats(v, best) {
        v
    } else {
        best
    }
}

/// Whether `v` takes the window from the current `best`: larger, or a number replacing a NaN.
#[inline(always)]
#[allow(clippy::eq_op)]
fn beats<T: WithDType>(v: T, best: T) -> bool {
    (v > best) | ((best != best) & (v == v))
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("max pool kernel: {what} must be contiguous"),
    }
}

/// `x [n, c, h, w] -> y [n, c, oh, ow]`; its backward is [`MaxPoolGrad`].
struct MaxPoolOp(MaxPoolGeometry);

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "dls-max-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let dims = layout.dims();
        let shape = Shape::from(&[dims[0], dims[1], g.oh, g.ow][..]);
        let y = match storage {
            CpuStorage::F32(d) => CpuStorage::F32(g.forward(contiguous(d, layout, "input")?)),
            CpuStorage::F64(d) => CpuStorage::F64(g.forward(contiguous(d, layout, "input")?)),
            _ => candle_core::bail!("max pool kernel: f32 and f64 only, got {:?}", storage.dtype()),
        };
        Ok((y, shape))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = arg.apply_op3_no_bwd(res, &grad_res.contiguous()?, &MaxPoolGrad(self.0))?;
        Ok(Some(dx))
    }
}

/// `(x, y, dy) -> dx`: each output's gradient added to its window's winner, the first input
/// equal to the output `y`.
struct MaxPoolGrad(MaxPoolGeometry);

impl CustomOp3 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "dls-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
        dys: &CpuStorage,
        dyl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let dx = match (xs, ys, dys) {
            (CpuStorage::F32(x), CpuStorage::F32(y), CpuStorage::F32(dy)) => CpuStorage::F32(g.backward(
                contiguous(x, xl, "input")?,
                contiguous(y, yl, "output")?,
                contiguous(dy, dyl, "gradient")?,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(y), CpuStorage::F64(dy)) => CpuStorage::F64(g.backward(
                contiguous(x, xl, "input")?,
                contiguous(y, yl, "output")?,
                contiguous(dy, dyl, "gradient")?,
            )),
            _ => candle_core::bail!("max pool kernel: input, output and gradient must all be f32 or f64"),
        };
        Ok((dx, xl.shape().clone()))
    }
}

/// Max-pools a contiguous `[n, c, h, w]` tensor with `geometry` (validated by the caller).
pub(crate) fn max_pool2d(x: &Tensor, geometry: MaxPoolGeometry) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPoolOp(geometry))
}
