//! The geometry of one convolution call and the two copies that turn it into matrix products:
//! `im2col` lays every receptive field of one image out as a column, and `col2im` scatters such
//! columns back onto the image, adding where fields overlap (the backward of `im2col`).
//!
//! Column layout, for one image and one channel group: row `(ci * k + ki) * k + kj` holds
//! input channel `ci`'s tap `(ki, kj)` for every output position `oi * ow + oj`, so the
//! convolution is `weight[out, cin k k] @ col[cin k k, oh ow]`, already in NCHW order.

use candle_core::WithDType;

/// Sizes of one 2-D convolution: input `[n, c, h, w]`, kernel `[oc, c / groups, k, k]`, output
/// `[n, oc, oh, ow]`, with `top`/`left` zero rows/columns of padding before the image (padding
/// after it is implied by `oh`/`ow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub oc: usize,
    /// Kernel height and width.
    pub k: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Step between kernel positions.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Zero rows above the image.
    pub top: usize,
    /// Zero columns left of the image.
    pub left: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ConvGeometry {
    /// Input channels per group.
    pub fn cin_per_group(&self) -> usize {
        self.c / self.groups
    }

    /// Output channels per group.
    pub fn cout_per_group(&self) -> usize {
        self.oc / self.groups
    }

    /// Rows of one group's column matrix: `c / groups * k * k`.
    pub fn col_rows(&self) -> usize {
        self.cin_per_group() * self.k * self.k
    }

    /// Output positions per image: `oh * ow`.
    pub fn out_plane(&self) -> usize {
        self.oh * self.ow
    }

    /// True when the column matrix is the image itself (a 1x1, stride-1, unpadded convolution),
    /// so no copy is needed.
    pub fn is_pointwise(&self) -> bool {
        self.k == 1
            && self.stride == 1
            && self.top == 0
            && self.left == 0
            && self.oh == self.h
            && self.ow == self.w
    }

    /// Output columns `oj` whose input column `oj * stride + tap - pad` lies inside `0..size`,
    /// as a half-open range (empty when none does).
    #[inline(always)]
    fn valid_range(&self, tap: usize, pad: usize, size: usize, out: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let offset = tap as isize - pad as isize; // input index = o * s + offset
        let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s };
        let hi = if size as isize - offset <= 0 { 0 } else { ((size as isize - 1 - offset) / s + 1).max(0) };
        let lo = (lo as usize).min(out);
        (lo, (hi as usize).clamp(lo, out))
    }

    /// Writes group `g`'s columns of one image `x` (`[c, h, w]`) into `col`: row `r` at
    /// `col[r * ld..][..oh * ow]` (`ld = oh * ow` for one image alone; larger when several images
    /// share one column matrix side by side).
    #[inline(always)]
    pub fn im2col<T: WithDType>(&self, x: &[T], g: usize, col: &mut [T], ld: usize) {
        let (k, plane, zero) = (self.k, self.out_plane(), T::from_f64(0.0));
        let cpg = self.cin_per_group();
        for ci in 0..cpg {
            let xc = &x[(g * cpg + ci) * self.h * self.w..][..self.h * self.w];
            for ki in 0..k {
                let (r_lo, r_hi) = self.valid_range(ki * self.dilation, self.top, self.h, self.oh);
                for kj in 0..k {
                    let (c_lo, c_hi) = self.valid_range(kj * self.dilation, self.left, self.w, self.ow);
                    let row = &mut col[((ci * k + ki) * k + kj) * ld..][..plane];
                    for oi in 0..self.oh {
                        let out = &mut row[oi * self.ow..][..self.ow];
                        if oi < r_lo || oi >= r_hi || c_lo >= c_hi {
                            out.iter_mut().for_each(|o| *o = zero);
                            continue;
                        }
                        let ih = oi * self.stride + ki * self.dilation - self.top;
                        let src = &xc[ih * self.w..][..self.w];
                        out[..c_lo].iter_mut().for_each(|o| *o = zero);
                        out[c_hi..].iter_mut().for_each(|o| *o = zero);
                        let iw0 = c_lo * self.stride + kj * self.dilation - self.left;
                        let n = c_hi - c_lo;
                        if self.stride == 1 {
                            copy_short(&mut out[c_lo..c_hi], &src[iw0..iw0 + n]);
                        } else if n > 0 {
                            copy_strided(
                                &mut out[c_lo..c_hi],
                                &src[iw0..iw0 + (n - 1) * self.stride + 1],
                                self.stride,
                            );
                        }
                    }
                }
            }
        }
    }

    /// Adds group `g`'s columns `col` (laid out as [`ConvGeometry::im2col`] writes them, row
    /// stride `ld`) back onto one image's gradient `dx` (`[c, h, w]`): the adjoint of `im2col`.
    #[inline(always)]
    pub fn col2im<T: WithDType>(&self, col: &[T], g: usize, dx: &mut [T], ld: usize) {
        let (k, plane) = (self.k, self.out_plane());
        let cpg = self.cin_per_group();
        for ci in 0..cpg {
            let dxc = &mut dx[(g * cpg + ci) * self.h * self.w..][..self.h * self.w];
            for ki in 0..k {
                let (r_lo, r_hi) = self.valid_range(ki * self.dilation, self.top, self.h, self.oh);
                for kj in 0..k {
                    let (c_lo, c_hi) = self.valid_range(kj * self.dilation, self.left, self.w, self.ow);
                    if c_lo >= c_hi {
                        continue;
                    }
                    let row = &col[((ci * k + ki) * k + kj) * ld..][..plane];
                    for oi in r_lo..r_hi {
                        let src = &row[oi * self.ow + c_lo..oi * self.ow + c_hi];
                        let ih = oi * self.stride + ki * self.dilation - self.top;
                        let iw0 = c_lo * self.stride + kj * self.dilation - self.left;
                        let dst = &mut dxc[ih * self.w..][..self.w];
                        if self.stride == 1 {
                            for (d, v) in dst[iw0..iw0 + src.len()].iter_mut().zip(src) {
                                *d += *v;
                            }
                        } else {
                            for (d, v) in dst[iw0..].iter_mut().step_by(self.stride).zip(src) {
                                *d += *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dst[j] = src[j * stride]`, with `src` exactly `(dst.len() - 1) * stride + 1` long. Whole
/// strides go as fixed-size chunks, which compile to shuffles; `step_by` compiled to one checked
/// scalar copy per value, and with the stride-2 convolutions of a small ResNet that loop was a
/// fifth of a training profile.
#[inline(always)]
fn copy_strided<T: Copy>(dst: &mut [T], src: &[T], stride: usize) {
    let Some((last, head)) = dst.split_last_mut() else { return };
    *last = src[src.len() - 1];
    if stride == 2 {
        for (d, pair) in head.iter_mut().zip(src.chunks_exact(2)) {
            *d = pair[0];
        }
    } else {
        for (d, step) in head.iter_mut().zip(src.chunks_exact(stride)) {
            *d = step[0];
        }
    }
}

/// `dst = src` for the short rows im2col moves (a LeNet row is 10-28 values): eight at a time as
/// fixed-size arrays, which compile to a few vector moves, where `copy_from_slice` calls `memmove`
/// and that call cost more than the copy (a fifth of a LeNet-5 step in the profile).
#[inline(always)]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    if dst.len() >= 128 {
        dst.copy_from_slice(src);
        return;
    }
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (a, b) in (&mut d).zip(&mut s) {
        if let (Ok(a), Ok(b)) = (<&mut [T; 8]>::try_from(a), <&[T; 8]>::try_from(b)) {
            *a = *b;
        }
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a = *b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(h: usize, w: usize, k: usize, stride: usize, pad: usize, dilation: usize) -> ConvGeometry {
        let span = dilation * (k - 1) + 1;
        ConvGeometry {
            n: 1,
            c: 2,
            h,
            w,
            oc: 1,
            k,
            oh: (h + 2 * pad - span) / stride + 1,
            ow: (w + 2 * pad - span) / stride + 1,
            stride,
            dilation,
            top: pad,
            left: pad,
            groups: 1,
        }
    }

    /// The column entry computed straight from the definition.
    fn naive(g: &ConvGeometry, x: &[f64], row: usize, pos: usize) -> f64 {
        let (ci, ki, kj) = (row / (g.k * g.k), row / g.k % g.k, row % g.k);
        let (oi, oj) = (pos / g.ow, pos % g.ow);
        let ih = (oi * g.stride + ki * g.dilation) as isize - g.top as isize;
        let iw = (oj * g.stride + kj * g.dilation) as isize - g.left as isize;
        if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
            0.0
        } else {
            x[(ci * g.h + ih as usize) * g.w + iw as usize]
        }
    }

    #[test]
    fn im2col_matches_the_definition_and_col2im_is_its_adjoint() {
        for (h, w, k, s, p, d) in
            [(5, 4, 3, 1, 1, 1), (7, 6, 3, 2, 1, 1), (6, 7, 2, 3, 0, 1), (9, 8, 3, 2, 2, 2)]
        {
            let g = geometry(h, w, k, s, p, d);
            let x: Vec<f64> = (0..g.c * h * w).map(|i| (i as f64 * 0.37).sin()).collect();
            let mut col = vec![0.0; g.col_rows() * g.out_plane()];
            g.im2col(&x, 0, &mut col, g.out_plane());
            for r in 0..g.col_rows() {
                for q in 0..g.out_plane() {
                    assert_eq!(
                        col[r * g.out_plane() + q],
                        naive(&g, &x, r, q),
                        "{h}x{w} k{k} s{s} p{p} d{d}"
                    );
                }
            }
            // <im2col(x), c> == <x, col2im(c)> for any c.
            let c: Vec<f64> = (0..col.len()).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut back = vec![0.0; x.len()];
            g.col2im(&c, 0, &mut back, g.out_plane());
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
        }
    }
}
