//! A convolution followed by a ReLU whose weights are constants, differentiated with respect to its
//! input only: the building block of a feature extractor that optimises an image, not a network.
//!
//! [`crate::layers::Conv2d`] records a custom op whose backward always computes the weight and bias
//! gradients too (candle asks every custom op for all its arguments' gradients), which for style
//! transfer would be most of the backward's work thrown away. Here, with [`ConvGeometry`]'s
//! `im2col`/`col2im` copies run over channels in parallel and the products on `gemm`'s threads:
//!
//! - forward: `y = relu(W[oc, c k k] @ col[c k k, oh ow] + b)`;
//! - backward: `dcol = Wᵀ @ (dy ⊙ [y > 0])`, then `col2im` adds the columns onto `dx`.
//!
//! Output rows are processed in bands whose column matrix (about 4 MB) stays in cache between
//! the copy and the product: for VGG's conv1_2 at 256x170 the whole matrix would be 100 MB, and
//! banding took that layer's forward from 93 to 49 ms (2 threads, on a machine shared with builds). (Computing `dx` instead as a convolution of the
//! masked `dy` with flipped, transposed kernels was measured too: 612 against 547 ms over one of
//! each VGG-19 layer shape.)

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::kernels::ConvGeometry;
use crate::kernels::Scratch;
use crate::{Error, Result};

/// The constant weights in the dtype the layer computes in.
#[derive(Debug)]
enum Weights {
    F32 { w: Vec<f32>, b: Vec<f32> },
    F64 { w: Vec<f64>, b: Vec<f64> },
}

#[derive(Debug)]
struct Inner {
    weights: Weights,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    pad: usize,
}

/// A stride-1 `k x k` convolution with symmetric zero padding, then a ReLU, with constant weights.
/// Input `[n, c, h, w]`, output `[n, oc, h + 2 pad - k + 1, w + 2 pad - k + 1]`; f32 or f64.
#[derive(Clone, Debug)]
pub struct FrozenConv {
    inner: Arc<Inner>,
}

fn invalid(what: &str, message: String) -> Error {
    Error::Invalid { what: what.into(), message }
}

impl FrozenConv {
    /// A layer from `weight` `[oc, c, k, k]` (f32 or f64) and `bias` `[oc]` (converted to the
    /// weight's dtype), padding `pad` on every side.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a weight that is not square `[oc, c, k, k]` of f32 or f64, a bias of
    /// another length, or `pad >= k`.
    pub fn new(weight: &Tensor, bias: &Tensor, pad: usize) -> Result<Self> {
        let (oc, c, kh, kw) = weight.dims4().map_err(|_| {
            invalid("frozen conv weight", format!("expected [oc, c, k, k], got {:?}", weight.dims()))
        })?;
        if kh != kw || kh == 0 || oc == 0 || c == 0 || pad >= kh {
            return Err(invalid(
                "frozen conv weight",
                format!("expected a square kernel larger than the padding {pad}, got {:?}", weight.dims()),
            ));
        }
        if bias.dims() != [oc] {
            return Err(invalid("frozen conv bias", format!("expected [{oc}], got {:?}", bias.dims())));
        }
        let bias = bias.to_dtype(weight.dtype())?;
        let weights = match weight.dtype() {
            candle_core::DType::F32 => {
                Weights::F32 { w: weight.flatten_all()?.to_vec1()?, b: bias.to_vec1()? }
            }
            candle_core::DType::F64 => {
                Weights::F64 { w: weight.flatten_all()?.to_vec1()?, b: bias.to_vec1()? }
            }
            other => {
                return Err(invalid("frozen conv weight", format!("expected f32 or f64, got {other:?}")));
            }
        };
        let inner = Inner { weights, in_channels: c, out_channels: oc, kernel: kh, pad };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.inner.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.inner.out_channels
    }

    /// `relu(conv(x) + b)` for `x` `[n, c, h, w]` of the weights' dtype.
    ///
    /// # Errors
    /// [`Error::Invalid`] for another shape or dtype, or a map smaller than the kernel.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = &self.inner;
        let bad = || {
            invalid(
                "frozen conv input",
                format!(
                    "expected [n, {}, h, w] of {:?}, got {:?} of {:?}",
                    s.in_channels,
                    self.dtype(),
                    x.dims(),
                    x.dtype()
                ),
            )
        };
        let (n, c, h, w) = x.dims4().map_err(|_| bad())?;
        if c != s.in_channels || x.dtype() != self.dtype() {
            return Err(bad());
        }
        if h + 2 * s.pad < s.kernel || w + 2 * s.pad < s.kernel {
            return Err(invalid(
                "frozen conv input",
                format!("{h}x{w} is smaller than the {0}x{0} kernel", s.kernel),
            ));
        }
        let geometry = ConvGeometry {
            n,
            c,
            h,
            w,
            oc: s.out_channels,
            k: s.kernel,
            oh: h + 2 * s.pad + 1 - s.kernel,
            ow: w + 2 * s.pad + 1 - s.kernel,
            stride: 1,
            dilation: 1,
            top: s.pad,
            left: s.pad,
            groups: 1,
        };
        Ok(x.contiguous()?.apply_op1(ConvReluOp { inner: self.inner.clone(), geometry })?)
    }

    fn dtype(&self) -> candle_core::DType {
        match self.inner.weights {
            Weights::F32 { .. } => candle_core::DType::F32,
            Weights::F64 { .. } => candle_core::DType::F64,
        }
    }
}

/// `dst[m, n] = lhs[m, k] @ rhs[k, n]` on `gemm`'s threads, with explicit row strides (`dst`,
/// `rhs`) and row and column strides (`lhs`, so it can be read transposed), in elements.
fn matmul<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (&mut [T], usize),
    (lhs, lhs_rs, lhs_cs): (&[T], usize, usize),
    (rhs, rhs_rs): (&[T], usize),
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let fits = dst.len() > (m - 1) * dst_rs + n - 1
        && lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs
        && rhs.len() > (k - 1) * rhs_rs + n - 1;
    assert!(fits, "frozen conv: matmul buffers too small");
    let threads = rayon::current_num_threads();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let one = T::from_f64(1.0);
    // SAFETY: the assert above keeps every index the strides reach inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
            rhs_rs as isize,
            one,
            one,
            false,
            false,
            false,
            par,
        )
    }
}

/// Values in one band's column matrix: about 4 MB of f32, so that it is still in cache when the
/// product reads it (a whole 256x170 image's first-block column matrix is 100 MB).
const BAND_VALUES: usize = 1 << 20;

/// Output rows per band: [`BAND_VALUES`] worth of columns, at least 256 columns.
fn band_rows(g: &ConvGeometry) -> usize {
    ((BAND_VALUES / g.col_rows().max(1)).max(256) / g.ow.max(1)).clamp(1, g.oh.max(1))
}

/// Bands of output rows `r0..r1`, each with the geometry of one channel's input rows it reads and
/// the first of those rows.
fn bands(g: &ConvGeometry) -> impl Iterator<Item = (usize, usize, ConvGeometry, usize)> + '_ {
    let step = band_rows(g);
    (0..g.oh).step_by(step).map(move |r0| {
        let r1 = (r0 + step).min(g.oh);
        let lo = r0.saturating_sub(g.top);
        let hi = (r1 + g.k - 1).saturating_sub(g.top).min(g.h);
        let band = ConvGeometry {
            n: 1,
            c: 1,
            h: hi - lo,
            oc: 1,
            oh: r1 - r0,
            top: g.top.saturating_sub(r0),
            groups: 1,
            ..*g
        };
        (r0, r1, band, lo)
    })
}

/// `y = conv(x, w)` for every image, band by band; `col` holds one band's column matrix.
fn conv_into<T: WithDType>(g: &ConvGeometry, x: &[T], w: &[T], col: &mut [T], y: &mut [T]) {
    let (plane, rows) = (g.out_plane(), g.col_rows());
    let (hw, kk) = (g.h * g.w, g.k * g.k);
    for (xi, yi) in x.chunks(g.c * hw).zip(y.chunks_mut(g.oc * plane)) {
        for (r0, r1, band, lo) in bands(g) {
            let cols = (r1 - r0) * g.ow;
            col[..rows * cols].par_chunks_mut(kk * cols).enumerate().for_each(|(ci, cb)| {
                band.im2col(&xi[ci * hw + lo * g.w..][..band.h * g.w], 0, cb, cols);
            });
            matmul((g.oc, cols, rows), (&mut yi[r0 * g.ow..], plane), (w, rows, 1), (col, cols));
        }
    }
}

fn forward<T: Scratch>(g: &ConvGeometry, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
    let (plane, zero) = (g.out_plane(), T::from_f64(0.0));
    let mut y = vec![zero; g.n * g.oc * plane];
    T::with_scratch(g.col_rows() * band_rows(g) * g.ow, |col| conv_into(g, x, w, col, &mut y));
    y.par_chunks_mut(plane).enumerate().for_each(|(i, ch)| {
        let bias = b[i % g.oc];
        for v in ch.iter_mut() {
            let z = *v + bias;
            *v = if z > zero { z } else { zero };
        }
    });
    y
}

/// The input gradient `col2im(Wᵀ @ (dy ⊙ [y > 0]))`, band by band; bands one after another, as
/// neighbouring bands add onto shared input rows.
fn grad_input<T: Scratch>(g: &ConvGeometry, dy: &[T], y: &[T], w: &[T]) -> Vec<T> {
    let (plane, rows, zero) = (g.out_plane(), g.col_rows(), T::from_f64(0.0));
    let (hw, kk) = (g.h * g.w, g.k * g.k);
    let mut dx = vec![zero; g.n * g.c * hw];
    T::with_scratch(g.oc * plane + rows * band_rows(g) * g.ow, |buf| {
        let (masked, dcol) = buf.split_at_mut(g.oc * plane);
        for ((dyi, yi), dxi) in
            dy.chunks(g.oc * plane).zip(y.chunks(g.oc * plane)).zip(dx.chunks_mut(g.c * hw))
        {
            masked.par_chunks_mut(plane).zip(dyi.par_chunks(plane).zip(yi.par_chunks(plane))).for_each(
                |(m, (d, o))| {
                    for ((m, d), o) in m.iter_mut().zip(d).zip(o) {
                        *m = if *o > zero { *d } else { zero };
                    }
                },
            );
            for (r0, r1, band, lo) in bands(g) {
                let cols = (r1 - r0) * g.ow;
                matmul((rows, cols, g.oc), (dcol, cols), (w, 1, rows), (&masked[r0 * g.ow..], plane));
                dxi.par_chunks_mut(hw).zip(dcol[..rows * cols].par_chunks(kk * cols)).for_each(|(dc, cb)| {
                    band.col2im(cb, 0, &mut dc[lo * g.w..][..band.h * g.w], cols);
                });
            }
        }
    });
    dx
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("frozen conv: arguments must be contiguous"),
    }
}

/// The forward op: `x -> relu(conv(x) + b)`, recording [`GradInputOp`] as its backward.
struct ConvReluOp {
    inner: Arc<Inner>,
    geometry: ConvGeometry,
}

impl CustomOp1 for ConvReluOp {
    fn name(&self) -> &'static str {
        "dls-frozen-conv-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let out = match (s, &self.inner.weights) {
            (CpuStorage::F32(x), Weights::F32 { w, b, .. }) => {
                CpuStorage::F32(forward(g, contiguous(x, l)?, w, b))
            }
            (CpuStorage::F64(x), Weights::F64 { w, b, .. }) => {
                CpuStorage::F64(forward(g, contiguous(x, l)?, w, b))
            }
            _ => candle_core::bail!("frozen conv: the input's dtype differs from the weights'"),
        };
        Ok((out, Shape::from((g.n, g.oc, g.oh, g.ow))))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let op = GradInputOp { inner: self.inner.clone(), geometry: self.geometry };
        Ok(Some(dy.contiguous()?.apply_op2_no_bwd(&y.contiguous()?, &op)?))
    }
}

/// The backward op: `(dy, y) -> dx`.
struct GradInputOp {
    inner: Arc<Inner>,
    geometry: ConvGeometry,
}

impl CustomOp2 for GradInputOp {
    fn name(&self) -> &'static str {
        "dls-frozen-conv-relu-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let out = match (s1, s2, &self.inner.weights) {
            (CpuStorage::F32(dy), CpuStorage::F32(y), Weights::F32 { w, .. }) => {
                CpuStorage::F32(grad_input(g, contiguous(dy, l1)?, contiguous(y, l2)?, w))
            }
            (CpuStorage::F64(dy), CpuStorage::F64(y), Weights::F64 { w, .. }) => {
                CpuStorage::F64(grad_input(g, contiguous(dy, l1)?, contiguous(y, l2)?, w))
            }
            _ => candle_core::bail!("frozen conv: the gradient's dtype differs from the weights'"),
        };
        Ok((out, Shape::from((g.n, g.c, g.h, g.w))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Module, Tensor, Var};
    use candle_nn::VarBuilder;

    use super::*;
    use crate::layers::{Conv2d, Conv2dConfig};

    /// The same layer on the crate's `Conv2d` (the reference), plus a ReLU.
    fn reference(w: &Tensor, b: &Tensor, pad: usize) -> Conv2d {
        let (oc, c, k, _) = w.dims4().unwrap_or_default();
        let map = [("weight".to_string(), w.clone()), ("bias".to_string(), b.clone())].into_iter().collect();
        let vb = VarBuilder::from_tensors(map, w.dtype(), w.device());
        Conv2d::new(vb, &Conv2dConfig::new(c, oc, k).pad(pad)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn matches_conv2d_forward_and_input_gradient() -> Result<()> {
        let dev = Device::Cpu;
        // The last three have 512 * 9 column rows, so bands of 256 columns: 3, 2 and 2 bands.
        let cases = [
            (3, 5, 3, 1, 6, 7),
            (4, 2, 1, 0, 3, 3),
            (2, 3, 3, 0, 5, 4),
            (512, 2, 3, 1, 40, 16),
            (512, 3, 3, 0, 41, 12),
            (512, 2, 3, 2, 30, 10),
        ];
        for (c, oc, k, pad, h, w) in cases {
            let wt = Tensor::randn(0f64, 0.5, (oc, c, k, k), &dev)?;
            let b = Tensor::randn(0f64, 0.2, oc, &dev)?;
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, c, h, w), &dev)?)?;
            let ours = FrozenConv::new(&wt, &b, pad)?;
            let (oh, ow) = (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
            let geometry = ConvGeometry {
                n: 2,
                c,
                h,
                w,
                oc,
                k,
                oh,
                ow,
                stride: 1,
                dilation: 1,
                top: pad,
                left: pad,
                groups: 1,
            };
            assert_eq!(bands(&geometry).count(), if c == 512 { oh.div_ceil(256 / ow) } else { 1 });
            let theirs = reference(&wt, &b, pad);
            let y1 = ours.forward(x.as_tensor())?;
            let y2 = theirs.forward(x.as_tensor())?.relu()?;
            let gap = (&y1 - &y2)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(gap < 1e-12, "forward gap {gap}");
            let probe = Tensor::randn(0f64, 1.0, y1.dims(), &dev)?;
            let g1 = (y1 * &probe)?.sum_all()?.backward()?;
            let g2 = (y2 * &probe)?.sum_all()?.backward()?;
            let (g1, g2) = (g1.get(&x).cloned(), g2.get(&x).cloned());
            let (Some(g1), Some(g2)) = (g1, g2) else { panic!("no input gradient") };
            let gap = (g1 - g2)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(gap < 1e-12, "gradient gap {gap}");
        }
        let f32_layer = FrozenConv::new(
            &Tensor::ones((1, 1, 3, 3), DType::F32, &dev)?,
            &Tensor::zeros(1, DType::F32, &dev)?,
            1,
        )?;
        let err = f32_layer.forward(&Tensor::ones((1, 1, 4, 4), DType::F64, &dev)?);
        assert!(err.is_err_and(|e| e.to_string().contains("F64")));
        Ok(())
    }
}
