//! Max and average pooling with any kernel, stride and padding (sheet 15), and global average
//! pooling (sheet 18).
//!
//! candle's own pools take no padding and only differentiate when kernel == stride (and candle
//! 0.11's max-pool gradient is scaled by 1 / window size), so pools run here as a candle
//! `CustomOp1` with a hand-written backward: max pooling sends each output's gradient to the (first) input that won
//! its window; average pooling spreads it evenly over the window. Padded positions never win a
//! max; for averages they count as zeros ([`PoolKind::Avg`], PyTorch's default) or are left out
//! ([`PoolKind::AvgValid`], TensorFlow's SAME).
//!
//! Max pooling runs on [`kernels`](crate::kernels)' one-pass op unless
//! [`Kernels::Candle`](crate::kernels::Kernels) is selected, which keeps the composition above as
//! the reference.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::conv::Padding;
//! use dls_vision::pool::{pool2d, Pool2dConfig, PoolKind};
//! let x = Tensor::arange(0f32, 16.0, &Device::Cpu)?.reshape((1, 1, 4, 4))?;
//! let cfg = Pool2dConfig { kernel: 3, stride: 2, padding: Padding::Explicit { before: 1, after: 1 }, kind: PoolKind::Max };
//! let y = pool2d(&x, &cfg)?;
//! assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [5.0, 7.0, 13.0, 15.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};

use crate::conv::{output_size, padding_amounts, Padding};
use crate::kernels::{kernels, max_pool2d, Kernels, MaxPoolGeometry};
use crate::{Error, Result};

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value in the window (padding never wins).
    Max,
    /// The mean over the whole window, padding counted as zeros (PyTorch's default).
    Avg,
    /// The mean over the window's positions inside the input (TensorFlow's SAME averaging).
    AvgValid,
}

/// Settings of a pooling layer (square windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dConfig {
    /// Window height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding of the input.
    pub padding: Padding,
    /// Max or average.
    pub kind: PoolKind,
}

impl Pool2dConfig {
    /// Max pooling with window `kernel`, stride `stride`, symmetric padding `pad`.
    pub fn max(kernel: usize, stride: usize, pad: usize) -> Self {
        Self { kernel, stride, padding: Padding::Explicit { before: pad, after: pad }, kind: PoolKind::Max }
    }

    /// Average pooling (padding counted) with window `kernel`, stride `stride`, padding `pad`.
    pub fn avg(kernel: usize, stride: usize, pad: usize) -> Self {
        Self { kind: PoolKind::Avg, ..Self::max(kernel, stride, pad) }
    }
}

/// Geometry of one pooling call along both axes.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    k: usize,
    s: usize,
    top: usize,
    left: usize,
    kind: PoolKind,
}

impl Geometry {
    /// Input rows and columns covered by output `(i, j)`, clipped to the input.
    fn window(&self, i: usize, j: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let r0 = (i * self.s) as isize - self.top as isize;
        let c0 = (j * self.s) as isize - self.left as isize;
        let clip = |a: isize, n: usize| a.clamp(0, n as isize) as usize;
        let rows = clip(r0, self.h)..clip(r0 + self.k as isize, self.h);
        let cols = clip(c0, self.w)..clip(c0 + self.k as isize, self.w);
        (rows, cols)
    }

    fn divisor(&self, rows: &std::ops::Range<usize>, cols: &std::ops::Range<usize>) -> f64 {
        match self.kind {
            PoolKind::AvgValid => (rows.len() * cols.len()) as f64,
            _ => (self.k * self.k) as f64,
        }
    }

    /// Calls `visit(output_index, input_index, weight)` for every (output, contributing input)
    /// pair: the arg-max for max pooling, every window member with weight 1 / divisor otherwise.
    fn for_each<T: WithDType>(&self, x: &[T], mut visit: impl FnMut(usize, usize, f64)) {
        for p in 0..self.planes {
            let plane = &x[p * self.h * self.w..(p + 1) * self.h * self.w];
            for i in 0..self.oh {
                for j in 0..self.ow {
                    let o = (p * self.oh + i) * self.ow + j;
                    let (rows, cols) = self.window(i, j);
                    if self.kind == PoolKind::Max {
                        let mut best: Option<(usize, f64)> = None;
                        for r in rows.clone() {
                            for c in cols.clone() {
                                let v = plane[r * self.w + c].to_f64();
                                if best.is_none_or(|(_, b)| v > b || (b.is_nan() && !v.is_nan())) {
                                    best = Some((r * self.w + c, v));
                                }
                            }
                        }
                        if let Some((idx, _)) = best {
                            visit(o, p * self.h * self.w + idx, 1.0);
                        }
                    } else {
                        let weight = 1.0 / self.divisor(&rows, &cols);
                        for r in rows.clone() {
                            for c in cols.clone() {
                                visit(o, p * self.h * self.w + r * self.w + c, weight);
                            }
                        }
                    }
                }
            }
        }
    }

    fn forward<T: WithDType>(&self, x: &[T]) -> Vec<T> {
        let mut out = vec![0f64; self.planes * self.oh * self.ow];
        if self.kind == PoolKind::Max {
            out.fill(f64::NEG_INFINITY);
        }
        self.for_each(x, |o, i, wgt| {
            let v = x[i].to_f64();
            if self.kind == PoolKind::Max {
                out[o] = v;
            } else {
                out[o] += wgt * v;
            }
        });
        out.into_iter().map(T::from_f64).collect()
    }

    fn backward<T: WithDType>(&self, x: &[T], grad: &[T]) -> Vec<T> {
        let mut gx = vec![0f64; self.planes * self.h * self.w];
        self.for_each(x, |o, i, wgt| gx[i] += wgt * grad[o].to_f64());
        gx.into_iter().map(T::from_f64).collect()
    }
}

struct PoolOp(Geometry);

fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("pool2d needs a contiguous input"),
    }
}

impl CustomOp1 for PoolOp {
    fn name(&self) -> &'static str {
        "dls-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let dims = layout.dims();
        let shape = Shape::from(&[dims[0], dims[1], g.oh, g.ow][..]);
        let out = match storage {
            CpuStorage::F32(d) => CpuStorage::F32(g.forward(contiguous(d, layout)?)),
            CpuStorage::F64(d) => CpuStorage::F64(g.forward(contiguous(d, layout)?)),
            _ => candle_core::bail!("pool2d supports f32 and f64 inputs only"),
        };
        Ok((out, shape))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = &self.0;
        let (x, grad) = (arg.contiguous()?.flatten_all()?, grad_res.contiguous()?.flatten_all()?);
        let gx = match arg.dtype() {
            candle_core::DType::F32 => {
                let v = g.backward(&x.to_vec1::<f32>()?, &grad.to_vec1::<f32>()?);
                Tensor::from_vec(v, arg.shape(), arg.device())?
            }
            _ => {
                let v = g.backward(&x.to_vec1::<f64>()?, &grad.to_dtype(candle_core::DType::F64)?.to_vec1()?);
                Tensor::from_vec(v, arg.shape(), arg.device())?.to_dtype(arg.dtype())?
            }
        };
        Ok(Some(gx))
    }
}

/// Pools `x` `[n, c, h, w]` to `[n, c, h', w']`, `h' = output_size(h, kernel, stride, 1, padding)`.
///
/// # Errors
/// [`Error::Invalid`] for a non-4-D input, a zero kernel or stride, padding of half the kernel or
/// more (a window could then hold only padding), or a window larger than the padded input.
pub fn pool2d(x: &Tensor, cfg: &Pool2dConfig) -> Result<Tensor> {
    pool2d_with(x, cfg, kernels())
}

/// [`pool2d`] with the implementation chosen for this call rather than by
/// [`set_kernels`](crate::kernels::set_kernels): [`Kernels::Dls`] runs max pooling as one pass
/// each way, [`Kernels::Candle`] as the generic window walk (the reference; candle's own
/// `max_pool2d` is not used, its gradient being scaled by 1 / window size). Average pooling is the
/// same either way.
///
/// # Errors
/// As [`pool2d`].
pub fn pool2d_with(x: &Tensor, cfg: &Pool2dConfig, kernels: Kernels) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4().map_err(|_| Error::Invalid {
        what: "pooling input".into(),
        message: format!("expected [n, c, h, w], got {:?}", x.dims()),
    })?;
    let (top, bottom) = padding_amounts(h, cfg.kernel, cfg.stride, 1, cfg.padding)?;
    let (left, right) = padding_amounts(w, cfg.kernel, cfg.stride, 1, cfg.padding)?;
    if top.max(bottom).max(left).max(right) * 2 > cfg.kernel {
        return Err(Error::Invalid {
            what: "pooling padding".into(),
            message: format!(
                "padding ({top}, {bottom}, {left}, {right}) exceeds half the kernel {}",
                cfg.kernel
            ),
        });
    }
    let oh = output_size(h, cfg.kernel, cfg.stride, 1, cfg.padding)?;
    let ow = output_size(w, cfg.kernel, cfg.stride, 1, cfg.padding)?;
    if cfg.kind == PoolKind::Max && kernels == Kernels::Dls {
        let geometry =
            MaxPoolGeometry { planes: n * c, h, w, oh, ow, k: cfg.kernel, s: cfg.stride, top, left };
        return Ok(max_pool2d(x, geometry)?);
    }
    let plain = top + bottom + left + right == 0
        && cfg.kernel == cfg.stride
        && h % cfg.kernel == 0
        && w % cfg.kernel == 0;
    // candle's average pool is exact (and differentiable) in this case. Its max pool is not used:
    // candle 0.11 scales a window winner's gradient by (winners / window size), 1/4 for a 2x2
    // window with one maximum, where the derivative is 1.
    if plain && cfg.kind != PoolKind::Max {
        return Ok(x.avg_pool2d(cfg.kernel)?);
    }
    let geometry =
        Geometry { planes: n * c, h, w, oh, ow, k: cfg.kernel, s: cfg.stride, top, left, kind: cfg.kind };
    Ok(x.contiguous()?.apply_op1(PoolOp(geometry))?)
}

/// A pooling layer: [`pool2d`] as a `Module`. Input `[n, c, h, w]`, output `[n, c, h', w']`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d(pub Pool2dConfig);

impl candle_core::Module for Pool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        pool2d(x, &self.0).map_err(candle_core::Error::wrap)
    }
}

/// Global average pooling: `[n, c, h, w]` to `[n, c]`, the mean of each channel's map.
///
/// # Errors
/// [`Error::Invalid`] for a non-4-D input.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4().map_err(|_| Error::Invalid {
        what: "global pooling input".into(),
        message: format!("expected [n, c, h, w], got {:?}", x.dims()),
    })?;
    Ok(x.reshape((n, c, h * w))?.mean(2)?)
}

/// PyTorch's adaptive average pooling: `[n, c, h, w]` to `[n, c, out, out]`, output cell `i`
/// averaging input rows `floor(i h / out) .. ceil((i + 1) h / out)` (and likewise columns).
/// Returns the input unchanged when it already has the requested size.
///
/// # Errors
/// [`Error::Invalid`] for a non-4-D input, `out == 0`, or an input smaller than `out`.
pub fn adaptive_avg_pool(x: &Tensor, out: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4().map_err(|_| Error::Invalid {
        what: "adaptive pooling input".into(),
        message: format!("expected [n, c, h, w], got {:?}", x.dims()),
    })?;
    if out == 0 || h < out || w < out {
        return Err(Error::Invalid {
            what: "adaptive pooling".into(),
            message: format!("cannot pool {h}x{w} to {out}x{out}"),
        });
    }
    if h == out && w == out {
        return Ok(x.clone());
    }
    let bins = |n: usize| (0..out).map(move |i| (i * n / out, ((i + 1) * n).div_ceil(out)));
    let mut rows = Vec::with_capacity(out);
    for (r0, r1) in bins(h) {
        let band = x.narrow(2, r0, r1 - r0)?;
        let cells = bins(w)
            .map(|(c0, c1)| band.narrow(3, c0, c1 - c0)?.mean_keepdim(2)?.mean_keepdim(3))
            .collect::<candle_core::Result<Vec<_>>>()?;
        rows.push(Tensor::cat(&cells, 3)?);
    }
    Ok(Tensor::cat(&rows, 2)?)
}
