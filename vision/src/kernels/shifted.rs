//! The forward of a stride-1 convolution as `k²` shifted matrix products over a padded image,
//! with no `im2col`.
//!
//! With the image zero-padded to `hp x wp` (`hp = oh + (k-1) d`, `wp = ow + (k-1) d`) and the
//! output computed on the same row width `wp`, tap `(ki, kj)` reads every input channel at one
//! fixed offset `ki d wp + kj d` from the output position. Each tap is then one product with
//! uniform strides,
//!
//! `grid[o, p] += W[o, :, ki, kj] @ xp[:, p + offset]`, for `p` over `oh x wp` positions,
//!
//! whose right operand is the padded image itself, so the gemm's own packing is the only copy
//! (where `im2col` writes `k²` copies of the image first and the gemm then reads them again). The
//! last `(k-1) d` columns of each grid row fall past the image and are dropped.
//!
//! Measured on ResNet's 3x3 convolution at 64x32x32, batch 32 (forward and backward, the
//! fastest of four alternating runs each): 82.8 ms with `im2col` everywhere, 78.7 ms with this
//! forward. The same walk run backwards for the input gradient (in place of `col2im`) and for
//! the weight gradient measured 84.0 and 83.1 ms, no better than the column matrices, so the
//! backward keeps them: the gemm's packing of the shifted operand and its edge tiles cost what
//! the copies saved.
//!
//! It applies where each tap's product is large: enough input channels (the inner dimension)
//! and a map wide enough that the dropped columns are few (a 3x3 kernel at 32x32 and 16x16: 6%
//! and 12% extra columns). 3x3 kernels with 32+ output channels, ResNet's among them, take the
//! Winograd path instead (`winograd/`), which needs a quarter of the multiplications; this one
//! serves larger kernels and 3x3 kernels with few output channels.

use candle_core::WithDType;

use super::conv2d::gemm;
use super::im2col::ConvGeometry;

/// Fewest input channels for the shifted path: each tap's product has this inner dimension.
const MIN_CHANNELS: usize = 32;

/// Fewest output positions per image for the shifted path (one image per product).
const MIN_POSITIONS: usize = 256;

impl ConvGeometry {
    /// Whether this convolution runs as shifted products: stride 1, one group, a kernel larger
    /// than 1x1, at least [`MIN_CHANNELS`] input channels and [`MIN_POSITIONS`] outputs per image.
    pub(super) fn is_shifted(&self) -> bool {
        self.stride == 1
            && self.groups == 1
            && self.k > 1
            && self.c >= MIN_CHANNELS
            && self.out_plane() >= MIN_POSITIONS
    }

    /// Padded height and width: every window of a stride-1 convolution fits inside.
    fn padded(&self) -> (usize, usize) {
        let span = (self.k - 1) * self.dilation;
        (self.oh + span, self.ow + span)
    }

    /// Values of a padded image: its `c` planes plus the slack the last tap's dropped columns
    /// read past the end.
    fn padded_len(&self) -> usize {
        let (hp, wp) = self.padded();
        self.c * hp * wp + (self.k - 1) * self.dilation
    }

    /// Output positions on the padded row width: `oh x wp`.
    fn grid_plane(&self) -> usize {
        self.oh * self.padded().1
    }

    /// Scratch values one image's forward needs: a padded image and an output-sized grid.
    pub(super) fn shifted_scratch_len(&self) -> usize {
        self.padded_len() + self.oc * self.grid_plane()
    }

    /// Offset of tap `t = ki k + kj` in the padded image.
    fn tap_offset(&self, t: usize) -> usize {
        let (ki, kj) = (t / self.k, t % self.k);
        (ki * self.padded().1 + kj) * self.dilation
    }

    /// One image `[c, h, w]` into `xp` (`padded_len` values), zero around it.
    #[inline(always)]
    fn pad_image<T: WithDType>(&self, x: &[T], xp: &mut [T]) {
        let (hp, wp) = self.padded();
        xp.fill(T::from_f64(0.0));
        let width = self.w.min(wp.saturating_sub(self.left));
        for ci in 0..self.c {
            for ih in 0..self.h.min(hp.saturating_sub(self.top)) {
                let src = &x[(ci * self.h + ih) * self.w..][..width];
                xp[(ci * hp + ih + self.top) * wp + self.left..][..width].copy_from_slice(src);
            }
        }
    }

    /// One image's output `y` (`[oc, oh, ow]`) from `x` (`[c, h, w]`), with `buf`
    /// ([`ConvGeometry::shifted_scratch_len`] values) as scratch.
    #[inline(always)]
    pub(super) fn shifted_forward<T: WithDType>(
        &self,
        x: &[T],
        w: &[T],
        bias: Option<&[T]>,
        y: &mut [T],
        buf: &mut [T],
    ) {
        let (hp, wp) = self.padded();
        let (rows, kk, n) = (self.col_rows(), self.k * self.k, self.grid_plane());
        let (xp, grid) = buf.split_at_mut(self.padded_len());
        self.pad_image(x, xp);
        for t in 0..kk {
            let off = self.tap_offset(t);
            // SAFETY: grid holds oc x n; W's tap t is oc x c (row stride rows, column stride
            // kk); xp from off holds c rows of n at stride hp wp, the last ending within the
            // slack (off + (c-1) hp wp + n <= padded_len).
            unsafe {
                gemm(
                    (self.oc, n, self.c),
                    (grid.as_mut_ptr(), n, 1),
                    t > 0,
                    (w[t..].as_ptr(), rows, kk),
                    (xp[off..].as_ptr(), hp * wp, 1),
                )
            };
        }
        let plane = self.out_plane();
        for o in 0..self.oc {
            let b = bias.map_or(T::from_f64(0.0), |b| b[o]);
            let out = y[o * plane..][..plane].chunks_exact_mut(self.ow);
            for (dst, src) in out.zip(grid[o * n..][..n].chunks_exact(wp)) {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = v + b;
                }
            }
        }
    }
}
