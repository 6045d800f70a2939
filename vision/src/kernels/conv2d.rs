//! 2-D convolution as `im2col` + gemm, forward and backward, as candle custom ops.
//!
//! candle 0.11 computes a convolution's input gradient with a direct transposed convolution that
//! runs an order of magnitude slower than a matrix product of the same size; here all three
//! products (output, input gradient, weight gradient) go through the `gemm` crate candle itself
//! uses for `matmul`:
//!
//! - forward, per image and group: `y[oc, oh ow] = W[oc, c k k] @ col[c k k, oh ow]`;
//! - input gradient: `dcol = Wᵀ @ dy`, then `col2im` adds the columns back onto `dx`;
//! - weight gradient: `dW += dy @ colᵀ`, summed over the batch.
//!
//! A 1x1 stride-1 convolution skips the copies: the image already is its column matrix. Images
//! are spread over rayon's pool in fixed chunks, and the weight gradient's per-chunk partial sums
//! are added in chunk order, so results do not depend on scheduling.
//!
//! A 3x3 stride-1 convolution with enough channels runs as Winograd F(4x4, 3x3) in all three
//! products (see `winograd/`), and a stride-1 forward with many channels on a large map skips
//! `im2col` altogether (see `shifted.rs`).
//!
//! When the weight needs a gradient and the batch's column matrices are small enough, the
//! forward keeps them (in recycled buffers) for the weight gradient, which then skips its own
//! `im2col`. A one-image block writes its product straight into the output, and reads its
//! output gradient straight from `dy`, without the gather a multi-image block needs.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};
use std::sync::{Arc, Mutex};

use dls_foundations::buffers::{Buf, Pooled};
use rayon::prelude::*;

use super::im2col::ConvGeometry;
use super::scratch::Scratch;

/// `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]` with explicit row and column strides (in elements).
///
/// # Safety
/// Every index the strides reach must lie inside the buffers behind the pointers.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (*mut T, usize, usize),
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (*const T, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const T, usize, usize),
) {
    let one = T::from_f64(1.0);
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        one,
        one,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Images per rayon task: the batch split into one chunk per thread.
pub(super) fn chunk_len(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// Runs `f` on every job: on this thread when there is only one, else on rayon's pool. Handing a
/// single job to the pool costs a wake-up and a wait on another thread for nothing (4-5% of a
/// LeNet-5 step on one thread, in futex calls).
pub(super) fn run_jobs<J: Send>(jobs: Vec<J>, f: impl Fn(J) + Sync + Send) {
    if jobs.len() <= 1 {
        jobs.into_iter().for_each(f)
    } else {
        jobs.into_par_iter().for_each(f)
    }
}

/// [`run_jobs`] collecting one result per job, in job order.
pub(super) fn map_jobs<J: Send, R: Send>(jobs: Vec<J>, f: impl Fn(J) -> R + Sync + Send) -> Vec<R> {
    if jobs.len() <= 1 {
        jobs.into_iter().map(f).collect()
    } else {
        jobs.into_par_iter().map(f).collect()
    }
}

/// Fewest output positions one gemm should cover: below this, images are put side by side in one
/// column matrix (a 4x4 map alone would make a 16-column product the kernel handles poorly).
const MIN_GEMM_COLUMNS: usize = 256;

fn slice<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("conv2d kernel: {what} must be contiguous"),
    }
}

impl ConvGeometry {
    /// Images per gemm: enough that a product spans [`MIN_GEMM_COLUMNS`] output positions.
    fn block_len(&self) -> usize {
        MIN_GEMM_COLUMNS.div_ceil(self.out_plane().max(1)).max(1)
    }

    /// Ranges of image indices `start..end` that one gemm covers, within `first..last`.
    fn blocks(&self, first: usize, last: usize) -> impl Iterator<Item = (usize, usize)> {
        let len = self.block_len();
        (first..last).step_by(len).map(move |s| (s, (s + len).min(last)))
    }

    /// Scratch values one task needs: a column matrix and gathered gradient rows for blocks of
    /// up to `cols_max` positions, and room for the shifted forward's padded image and grid.
    fn scratch_len(&self, cols_max: usize) -> usize {
        let columns = (self.col_rows() + self.cout_per_group()) * cols_max;
        if self.is_shifted() {
            columns.max(self.shifted_scratch_len())
        } else {
            columns
        }
    }

    /// Values of the kept column matrices per image: every group's `col_rows x out_plane`.
    fn kept_per_image(&self) -> usize {
        self.groups * self.col_rows() * self.out_plane()
    }

    /// Where group `g`'s column matrix of the block `start..end` lies in the kept columns of a
    /// chunk starting at image `first`: blocks in image order, groups in order within a block.
    fn kept_range(&self, first: usize, (start, end): (usize, usize), g: usize) -> std::ops::Range<usize> {
        let len = self.col_rows() * (end - start) * self.out_plane();
        let at = (start - first) * self.kept_per_image() + g * len;
        at..at + len
    }

    /// True when the block's column matrix is the image itself and nothing needs copying.
    fn reads_image(&self, (start, end): (usize, usize)) -> bool {
        self.is_pointwise() && end - start == 1
    }

    /// Group `g`'s column matrix of images `start..end` side by side (`[rows, images * plane]`).
    #[inline(always)]
    fn columns<T: WithDType>(&self, x: &[T], g: usize, (start, end): (usize, usize), col: &mut [T]) {
        let (plane, image) = (self.out_plane(), self.c * self.h * self.w);
        let ld = (end - start) * plane;
        for (j, img) in (start..end).enumerate() {
            self.im2col(&x[img * image..][..image], g, &mut col[j * plane..], ld);
        }
    }

    /// Group `g`'s output-gradient rows of images `start..end` side by side (`[opg, images *
    /// plane]`): a slice of `dy` itself for one image, else gathered into `out`.
    #[inline(always)]
    fn gather<'a, T: WithDType>(
        &self,
        dy: &'a [T],
        g: usize,
        (start, end): (usize, usize),
        out: &'a mut [T],
    ) -> &'a [T] {
        let (plane, opg) = (self.out_plane(), self.cout_per_group());
        if end - start == 1 {
            return &dy[(start * self.oc + g * opg) * plane..][..opg * plane];
        }
        let ld = (end - start) * plane;
        for (j, img) in (start..end).enumerate() {
            for o in 0..opg {
                let src = &dy[(img * self.oc + g * opg + o) * plane..][..plane];
                out[o * ld + j * plane..][..plane].copy_from_slice(src);
            }
        }
        &out[..opg * ld]
    }

    /// The output; with `keep`, every block's column matrix is also left there (laid out as
    /// [`ConvGeometry::kept_range`] says) for the weight gradient.
    fn forward<T: Scratch>(&self, x: &[T], w: &[T], bias: Option<&[T]>, keep: Option<&mut [T]>) -> Vec<T> {
        let plane = self.out_plane();
        let mut y = vec![T::from_f64(0.0); self.n * self.oc * plane];
        let per = chunk_len(self.n);
        let cols_max = self.block_len().min(per) * plane;
        let kept = keep
            .into_iter()
            .flat_map(|k| k.chunks_mut(per * self.kept_per_image()))
            .map(Some)
            .chain(std::iter::repeat_with(|| None));
        let jobs: Vec<_> = y.chunks_mut(per * self.oc * plane).zip(kept).enumerate().collect();
        run_jobs(jobs, |(chunk, (ys, kept))| {
            T::with_scratch(self.scratch_len(cols_max), |buf| {
                dls_foundations::simd::wide(
                    #[inline(always)]
                    || self.forward_chunk((x, w, bias), chunk * per, ys, kept, buf),
                )
            })
        });
        y
    }

    /// Images `first..` of the forward pass into `ys`, with `buf` as column and output space
    /// (the columns go to `kept` instead when given).
    #[inline(always)]
    fn forward_chunk<T: WithDType>(
        &self,
        (x, w, bias): (&[T], &[T], Option<&[T]>),
        first: usize,
        ys: &mut [T],
        mut kept: Option<&mut [T]>,
        buf: &mut [T],
    ) {
        let (plane, rows, opg) = (self.out_plane(), self.col_rows(), self.cout_per_group());
        let image = self.c * self.h * self.w;
        if self.is_shifted() {
            let images = x[first * image..].chunks(image).zip(ys.chunks_mut(self.oc * plane));
            for (xi, yi) in images {
                self.shifted_forward(xi, w, bias, yi, buf);
            }
            return;
        }
        let cols_max = buf.len() / (rows + opg);
        let (col, out) = buf.split_at_mut(rows * cols_max);
        for block @ (start, end) in self.blocks(first, first + ys.len() / (self.oc * plane)) {
            let cols = (end - start) * plane;
            for g in 0..self.groups {
                let src: &[T] = if self.reads_image(block) {
                    &x[start * image + g * rows * plane..][..rows * plane]
                } else {
                    let dst = match kept.as_deref_mut() {
                        Some(k) => &mut k[self.kept_range(first, block, g)],
                        None => &mut col[..rows * cols],
                    };
                    self.columns(x, g, block, dst);
                    dst
                };
                let wg = &w[g * opg * rows..][..opg * rows];
                if end - start == 1 {
                    // One image: the product goes straight into its output rows, on top of the
                    // bias.
                    let yg = &mut ys[((start - first) * self.oc + g * opg) * plane..][..opg * plane];
                    if let Some(b) = bias {
                        for (row, &v) in yg.chunks_mut(plane).zip(&b[g * opg..]) {
                            row.fill(v);
                        }
                    }
                    // SAFETY: yg holds opg x plane, wg is opg x rows, src is rows x plane.
                    unsafe {
                        gemm(
                            (opg, plane, rows),
                            (yg.as_mut_ptr(), plane, 1),
                            bias.is_some(),
                            (wg.as_ptr(), rows, 1),
                            (src.as_ptr(), plane, 1),
                        )
                    };
                    continue;
                }
                // SAFETY: out holds opg x cols, wg is opg x rows, src is rows x cols (row-major).
                unsafe {
                    gemm(
                        (opg, cols, rows),
                        (out.as_mut_ptr(), cols, 1),
                        false,
                        (wg.as_ptr(), rows, 1),
                        (src.as_ptr(), cols, 1),
                    )
                };
                for (j, img) in (start..end).enumerate() {
                    for o in 0..opg {
                        let ch = g * opg + o;
                        let b = bias.map_or(T::from_f64(0.0), |b| b[ch]);
                        let dst = &mut ys[((img - first) * self.oc + ch) * plane..][..plane];
                        for (d, v) in dst.iter_mut().zip(&out[o * cols + j * plane..][..plane]) {
                            *d = *v + b;
                        }
                    }
                }
            }
        }
    }

    fn grad_input<T: Scratch>(&self, dy: &[T], w: &[T]) -> Vec<T> {
        let plane = self.out_plane();
        let image = self.c * self.h * self.w;
        let mut dx = vec![T::from_f64(0.0); self.n * image];
        let per = chunk_len(self.n);
        let cols_max = self.block_len().min(per) * plane;
        let jobs: Vec<_> = dx.chunks_mut(per * image).enumerate().collect();
        run_jobs(jobs, |(chunk, dxs)| {
            T::with_scratch(self.scratch_len(cols_max), |buf| {
                dls_foundations::simd::wide(
                    #[inline(always)]
                    || self.grad_input_chunk(dy, w, chunk * per, dxs, buf),
                )
            })
        });
        dx
    }

    /// Images `first..` of the input gradient into `dxs`, with `buf` as column and gradient space.
    #[inline(always)]
    fn grad_input_chunk<T: WithDType>(&self, dy: &[T], w: &[T], first: usize, dxs: &mut [T], buf: &mut [T]) {
        let (plane, rows, opg) = (self.out_plane(), self.col_rows(), self.cout_per_group());
        let image = self.c * self.h * self.w;
        let cols_max = buf.len() / (rows + opg);
        let (dcol, dyb) = buf.split_at_mut(rows * cols_max);
        for (start, end) in self.blocks(first, first + dxs.len() / image) {
            let cols = (end - start) * plane;
            for g in 0..self.groups {
                let dyg = self.gather(dy, g, (start, end), dyb);
                let wg = &w[g * opg * rows..][..opg * rows];
                // SAFETY: dcol holds rows x cols; wgᵀ is rows x opg (column stride rows); dyg is opg x cols.
                unsafe {
                    gemm(
                        (rows, cols, opg),
                        (dcol.as_mut_ptr(), cols, 1),
                        false,
                        (wg.as_ptr(), 1, rows),
                        (dyg.as_ptr(), cols, 1),
                    )
                };
                for (j, img) in (start..end).enumerate() {
                    let dxi = &mut dxs[(img - first) * image..][..image];
                    self.col2im(&dcol[j * plane..], g, dxi, cols);
                }
            }
        }
    }

    /// The weight gradient, from the forward's column matrices when `kept` holds them (laid out
    /// as [`ConvGeometry::kept_range`] says), else from `x` again.
    fn grad_weight<T: Scratch>(&self, dy: &[T], x: &[T], kept: Option<&[T]>) -> Vec<T> {
        let (plane, rows, opg) = (self.out_plane(), self.col_rows(), self.cout_per_group());
        let per = chunk_len(self.n);
        let cols_max = self.block_len().min(per) * plane;
        let jobs: Vec<usize> = (0..self.n).step_by(per).collect();
        let partials = map_jobs(jobs, |first| {
            // Group g's gradient, transposed: dwt[g][r][o] = dW[g * opg + o][r]. The gemm crate
            // runs this product about 1.5x faster into a column-major destination than into a
            // row-major one at ResNet's shapes (measured; the other two products are faster
            // row-major), and the transpose back is one pass over the small weight.
            let mut dwt = vec![T::from_f64(0.0); self.oc * rows];
            let kept = kept.map(|k| &k[first * self.kept_per_image()..]);
            T::with_scratch((rows + opg) * cols_max, |buf| {
                dls_foundations::simd::wide(
                    #[inline(always)]
                    || self.grad_weight_chunk((dy, x, kept), first, per, buf, &mut dwt),
                )
            });
            dwt
        });
        self.sum_and_transpose(partials)
    }

    /// The transposed weight gradient (see [`ConvGeometry::grad_weight`]) of images
    /// `first..first + per` into `dwt`, with `buf` as column and gradient space.
    #[inline(always)]
    fn grad_weight_chunk<T: WithDType>(
        &self,
        (dy, x, kept): (&[T], &[T], Option<&[T]>),
        first: usize,
        per: usize,
        buf: &mut [T],
        dwt: &mut [T],
    ) {
        let (plane, rows, opg) = (self.out_plane(), self.col_rows(), self.cout_per_group());
        let cols_max = buf.len() / (rows + opg);
        let (col, dyb) = buf.split_at_mut(rows * cols_max);
        let image = self.c * self.h * self.w;
        for (step, block @ (start, end)) in self.blocks(first, (first + per).min(self.n)).enumerate() {
            let cols = (end - start) * plane;
            for g in 0..self.groups {
                let src: &[T] = if self.reads_image(block) {
                    &x[start * image + g * rows * plane..][..rows * plane]
                } else if let Some(k) = kept {
                    &k[self.kept_range(first, block, g)]
                } else {
                    self.columns(x, g, block, col);
                    &col[..rows * cols]
                };
                let dyg = self.gather(dy, g, block, dyb);
                let dst = &mut dwt[g * opg * rows..][..opg * rows];
                // SAFETY: dst holds opg x rows column-major (row stride 1, column stride
                // opg); dyg is opg x cols; srcᵀ is cols x rows.
                unsafe {
                    gemm(
                        (opg, rows, cols),
                        (dst.as_mut_ptr(), 1, opg),
                        step > 0,
                        (dyg.as_ptr(), cols, 1),
                        (src.as_ptr(), 1, cols),
                    )
                };
            }
        }
    }

    /// Adds the per-chunk transposed weight gradients in chunk order and transposes the sum back
    /// to `[oc, c / groups, k, k]`.
    fn sum_and_transpose<T: WithDType>(&self, partials: Vec<Vec<T>>) -> Vec<T> {
        let (rows, opg, zero) = (self.col_rows(), self.cout_per_group(), T::from_f64(0.0));
        let total = self.sum_partials(partials);
        let mut dw = vec![zero; self.oc * rows];
        for g in 0..self.groups {
            let (src, dst) =
                (&total[g * opg * rows..][..opg * rows], &mut dw[g * opg * rows..][..opg * rows]);
            dls_foundations::simd::wide(
                #[inline(always)]
                || transpose(src, (rows, opg), (opg, rows), dst),
            );
        }
        dw
    }

    /// The per-chunk weight gradients added in chunk order.
    fn sum_partials<T: WithDType>(&self, partials: Vec<Vec<T>>) -> Vec<T> {
        let mut parts = partials.into_iter();
        let mut total = parts.next().unwrap_or_else(|| vec![T::from_f64(0.0); self.oc * self.col_rows()]);
        for part in parts {
            for (t, p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        total
    }

    /// The bias gradient: `dy` summed over images and positions, per output channel.
    fn grad_bias<T: WithDType>(&self, dy: &[T]) -> Vec<T> {
        let plane = self.out_plane();
        let mut db = vec![T::from_f64(0.0); self.oc];
        for image in dy.chunks(self.oc * plane) {
            for (d, channel) in db.iter_mut().zip(image.chunks(plane)) {
                *d += lane_sum(channel);
            }
        }
        db
    }
}

/// `dst[c * dst_ld + r] = src[r * src_ld + c]` for `r < rows`, `c < cols`, in tiles: a ResNet
/// stage-4 weight (2.4M values) transposed one element at a time strides through memory on every
/// write, which took 2.7% of the training step. A tile writes one cache line in each of `TILE`
/// destination rows; with row strides of 2 KB multiples (512 floats) those lines share two cache
/// sets, and 32 of them overflowed the sets' 12 ways (the stores stalled on conflict misses).
#[inline(always)]
pub(super) fn transpose<T: Copy>(
    src: &[T],
    (rows, cols): (usize, usize),
    (src_ld, dst_ld): (usize, usize),
    dst: &mut [T],
) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * dst_ld + r] = src[r * src_ld + c];
                }
            }
        }
    }
}

/// The sum of `values`, kept in eight independent partial sums so the compiler can vectorise
/// it (a single running sum is one long dependency chain).
fn lane_sum<T: WithDType>(values: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    let tail = chunks.remainder().iter().fold(zero, |a, &v| a + v);
    lanes.iter().fold(tail, |a, &v| a + v)
}

/// Which product an op computes: its arguments and result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Product {
    /// `(x, w) -> y`, or `(x, w, b) -> y` with a bias.
    Forward,
    /// `(dy, w) -> dx`.
    GradInput,
    /// `(dy, x) -> dw`.
    GradWeight,
    /// `dy -> db`.
    GradBias,
    /// `(dy, x, w) -> dx` of a Winograd convolution, which computes the weight gradient in the
    /// same walk and leaves it in the op's [`KeptColumns`] for the `GradWeight` op that follows.
    WinogradGrads,
}

/// Most bytes of column matrices a forward pass keeps for its weight gradient. Keeping them
/// saves the backward a second `im2col`: 12% of a LeNet-5 step (5 MB and 4 MB kept; paired runs,
/// 6.0 against 6.8 ms). Larger matrices are written at memory speed rather than in cache, and
/// keeping ResNet-18's stage-3 and stage-4 columns (19 MB and 9 MB at batch 32) made its step
/// about 2% slower, so above this the backward builds them again in per-thread scratch.
const MAX_KEPT_BYTES: usize = 8 << 20;

/// What one forward call keeps for its backward (column matrices for the weight gradient, or
/// Winograd's transformed kernels for the input gradient), held until the backward takes it.
#[derive(Default)]
struct KeptColumns {
    f32: Mutex<Option<Buf<f32>>>,
    f64: Mutex<Option<Buf<f64>>>,
}

/// A float type the kernels run on: scratch space, pooled buffers, a slot in [`KeptColumns`].
trait ConvFloat: Scratch + Pooled {
    fn slot(kept: &KeptColumns) -> &Mutex<Option<Buf<Self>>>;
}

impl ConvFloat for f32 {
    fn slot(kept: &KeptColumns) -> &Mutex<Option<Buf<Self>>> {
        &kept.f32
    }
}

impl ConvFloat for f64 {
    fn slot(kept: &KeptColumns) -> &Mutex<Option<Buf<Self>>> {
        &kept.f64
    }
}

#[derive(Clone)]
struct ConvOp {
    geometry: ConvGeometry,
    product: Product,
    /// Where a forward call leaves what its backward reuses (see [`KeptColumns`]).
    kept: Option<Arc<KeptColumns>>,
}

/// The contiguous slices of up to three same-dtype arguments, or an error naming the problem.
fn slices<'a, T>(args: &[(&'a [T], &Layout)]) -> candle_core::Result<Vec<&'a [T]>> {
    args.iter().enumerate().map(|(i, (data, layout))| slice(data, layout, &format!("argument {i}"))).collect()
}

impl ConvOp {
    fn run<T: ConvFloat>(&self, args: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let g = &self.geometry;
        Ok(match (self.product, args) {
            (Product::Forward, [x, w]) => self.forward(x, w, None),
            (Product::Forward, [x, w, b]) => self.forward(x, w, Some(b)),
            (Product::GradInput, [dy, w]) if g.is_winograd() => {
                g.winograd_grad_input(dy, &self.winograd_weights(w))
            }
            (Product::GradInput, [dy, w]) => g.grad_input(dy, w),
            (Product::WinogradGrads, [dy, x, w]) => {
                let (dx, dw) = g.winograd_grads(dy, x, &self.winograd_weights(w));
                self.put_kept(Buf::from(dw));
                dx
            }
            (Product::GradWeight, [dy, x]) if g.is_winograd() => match self.take_kept::<T>(g.oc * g.c * 9) {
                // Moved out, not copied (the emptied buffer goes nowhere when dropped).
                Some(mut dw) => std::mem::take(&mut *dw),
                None => g.winograd_grad_weight(dy, x),
            },
            (Product::GradWeight, [dy, x]) => {
                let kept = self.take_kept::<T>(g.n * g.kept_per_image());
                g.grad_weight(dy, x, kept.as_ref().map(|k| &k[..]))
            }
            (Product::GradBias, [dy]) => g.grad_bias(dy),
            _ => candle_core::bail!("conv2d kernel: {} got {} arguments", self.name(), args.len()),
        })
    }

    /// What the forward left in `self.kept`, if it holds `len` values. Taken, not copied: a
    /// second backward through the same graph builds them anew.
    fn take_kept<T: ConvFloat>(&self, len: usize) -> Option<Buf<T>> {
        let kept = self.kept.as_ref().and_then(|k| T::slot(k).lock().ok()?.take());
        kept.filter(|k| k.len() == len)
    }

    /// Winograd's transformed kernels of `w`: those the forward kept, else transformed again.
    fn winograd_weights<T: ConvFloat>(&self, w: &[T]) -> Buf<T> {
        let g = &self.geometry;
        self.take_kept(g.winograd_weights_len()).unwrap_or_else(|| g.winograd_weights(w))
    }

    /// Leaves `values` in `self.kept` (when there is one) for a later op of the same call.
    fn put_kept<T: ConvFloat>(&self, values: Buf<T>) {
        if let Some(mut slot) = self.kept.as_ref().and_then(|k| T::slot(k).lock().ok()) {
            *slot = Some(values);
        }
    }

    /// The forward product, leaving what the backward can reuse in `self.kept` when there is
    /// one: the column matrices for the weight gradient, or Winograd's transformed kernels for
    /// the input gradient.
    fn forward<T: ConvFloat>(&self, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
        let g = &self.geometry;
        if g.is_winograd() {
            let u = g.winograd_weights(w);
            let y = g.winograd_forward(x, &u, bias);
            self.put_kept(u);
            return y;
        }
        let Some(kept) = &self.kept else {
            return g.forward(x, w, bias, None);
        };
        let mut columns = Buf::<T>::filled(g.n * g.kept_per_image());
        let y = g.forward(x, w, bias, Some(&mut columns[..]));
        if let Ok(mut slot) = T::slot(kept).lock() {
            *slot = Some(columns);
        }
        y
    }

    fn name(&self) -> &'static str {
        match self.product {
            Product::Forward => "dls-conv2d",
            Product::GradInput => "dls-conv2d-grad-input",
            Product::GradWeight => "dls-conv2d-grad-weight",
            Product::WinogradGrads => "dls-conv2d-winograd-grads",
            Product::GradBias => "dls-conv2d-grad-bias",
        }
    }

    fn result_shape(&self) -> Shape {
        let g = &self.geometry;
        match self.product {
            Product::Forward => Shape::from((g.n, g.oc, g.oh, g.ow)),
            Product::GradInput | Product::WinogradGrads => Shape::from((g.n, g.c, g.h, g.w)),
            Product::GradWeight => Shape::from((g.oc, g.cin_per_group(), g.k, g.k)),
            Product::GradBias => Shape::from(g.oc),
        }
    }

    fn cpu(&self, args: &[(&CpuStorage, &Layout)]) -> candle_core::Result<(CpuStorage, Shape)> {
        let f32s: Option<Vec<_>> = args
            .iter()
            .map(|(s, l)| match s {
                CpuStorage::F32(d) => Some((&d[..], *l)),
                _ => None,
            })
            .collect();
        let f64s: Option<Vec<_>> = args
            .iter()
            .map(|(s, l)| match s {
                CpuStorage::F64(d) => Some((&d[..], *l)),
                _ => None,
            })
            .collect();
        let out = match (f32s, f64s) {
            (Some(a), _) => CpuStorage::F32(self.run(&slices(&a)?)?),
            (_, Some(a)) => CpuStorage::F64(self.run(&slices(&a)?)?),
            _ => candle_core::bail!("conv2d kernel: f32 or f64 arguments of one dtype only"),
        };
        Ok((out, self.result_shape()))
    }

    /// `(dx, dw)` for the output gradient `grad`, each only when its argument is on a
    /// gradient path: candle asks a custom op for every argument's gradient, and a network's
    /// input (the first convolution's `dx`) or a frozen backbone's weights need none.
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if self.product != Product::Forward {
            candle_core::bail!("conv2d kernel: second derivatives are not implemented");
        }
        let dy = grad.contiguous()?;
        let op = |product| ConvOp { geometry: self.geometry, product, kept: self.kept.clone() };
        if self.geometry.is_winograd() && self.kept.is_some() && x.track_op() && w.track_op() {
            // One walk for both; the weight gradient comes out of the kept slot.
            let dx = dy.apply_op3_no_bwd(x, w, &op(Product::WinogradGrads))?;
            let dw = dy.apply_op2_no_bwd(x, &op(Product::GradWeight))?;
            return Ok((Some(dx), Some(dw)));
        }
        let dx = if x.track_op() { Some(dy.apply_op2_no_bwd(w, &op(Product::GradInput))?) } else { None };
        let dw = if w.track_op() { Some(dy.apply_op2_no_bwd(x, &op(Product::GradWeight))?) } else { None };
        Ok((dx, dw))
    }
}

impl CustomOp1 for ConvOp {
    fn name(&self) -> &'static str {
        ConvOp::name(self)
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu(&[(s, l)])
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        ConvOp::name(self)
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu(&[(s1, l1), (s2, l2)])
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        self.grads(x, w, grad)
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        ConvOp::name(self)
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
        self.cpu(&[(s1, l1), (s2, l2), (s3, l3)])
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, grad)?;
        let db = if b.track_op() {
            let op = ConvOp { geometry: self.geometry, product: Product::GradBias, kept: None };
            Some(grad.contiguous()?.apply_op1_no_bwd(&op)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// Convolves `x` `[n, c, h, w]` with `weight` `[oc, c / groups, k, k]` and adds `bias` `[oc]`,
/// giving `[n, oc, oh, ow]` for the sizes in `geometry` (which the caller has checked against the
/// tensors); the recorded backward goes through the same gemm kernels.
pub(crate) fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: ConvGeometry,
) -> candle_core::Result<Tensor> {
    let g = &geometry;
    // The shifted forward builds no column matrices to keep; the Winograd forward keeps its
    // transformed kernels for the input gradient.
    let copies = !(g.is_shifted() || g.is_pointwise() && g.block_len() == 1);
    let bytes = g.n * g.kept_per_image() * x.dtype().size_in_bytes();
    let keep =
        if g.is_winograd() { x.track_op() } else { weight.track_op() && copies && bytes <= MAX_KEPT_BYTES };
    let op = ConvOp { geometry, product: Product::Forward, kept: keep.then(Default::default) };
    let (x, weight) = (x.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => x.apply_op3(&weight, &b.contiguous()?, op),
        None => x.apply_op2(&weight, op),
    }
}
