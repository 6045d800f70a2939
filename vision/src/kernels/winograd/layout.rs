//! Copies between NCHW images and the channels-last buffers the Winograd transforms work on.
//!
//! Both directions are a transpose of each image row (`channels x width` to `width x channels`
//! and back), done in 16x16 blocks: in f32 on a processor with AVX, each block is four 8x8
//! transposes in registers (8 loads, 24 shuffles and 8 stores each); otherwise it is copied one
//! value at a time. Written one channel row at a time, the
//! copy into channels-last order was about 6% of a ResNet-18 training step.

use candle_core::WithDType;

/// Values per side of a transposed block.
const BLOCK: usize = 16;

/// `dst[(y + top) * cols + x + left][ci] = src[ci][y][x]` (`dst` rows of `ld` values) for the
/// image positions that fall inside the `rows x cols` grid; every other value of `dst` (borders,
/// padding lanes) is zero.
#[inline(always)]
pub(super) fn to_channels_last<T: WithDType>(
    src: &[T],
    (ch, h, w): (usize, usize, usize),
    dst: &mut [T],
    (rows, cols, ld): (usize, usize, usize),
    (top, left): (usize, usize),
) {
    let dst = &mut dst[..rows * cols * ld];
    let used = h.min(rows.saturating_sub(top));
    let width = w.min(cols.saturating_sub(left));
    dst[..top.min(rows) * cols * ld].fill(T::zero());
    dst[(top + used).min(rows) * cols * ld..].fill(T::zero());
    let fast = Transposer::new::<T>();
    for y in 0..used {
        let row = &mut dst[(y + top) * cols * ld..][..cols * ld];
        row[..left * ld].fill(T::zero());
        row[(left + width) * ld..].fill(T::zero());
        let line = &mut row[left * ld..][..width * ld];
        let plane = h * w;
        for c0 in (0..ch).step_by(BLOCK) {
            for x0 in (0..width).step_by(BLOCK) {
                // Rows of the block: channels c0.. at x0..; columns: positions x0.. at c0...
                let from = &src[(c0 * h + y) * w + x0..];
                let to = &mut line[x0 * ld + c0..];
                let (cn, xn) = ((ch - c0).min(BLOCK), (width - x0).min(BLOCK));
                fast.transpose(from, plane, to, ld, (cn, xn));
            }
        }
        if ld > ch {
            for pad in line.chunks_mut(ld) {
                pad[ch..].fill(T::zero());
            }
        }
    }
}

/// `dst[ci][y][x] = src[(y + top) * cols + x + left][ci] (+ bias[ci])` for every image position;
/// positions past the `rows x cols` grid get zero (or the bias).
#[inline(always)]
pub(super) fn from_channels_last<T: WithDType>(
    src: &[T],
    (rows, cols, ld): (usize, usize, usize),
    (top, left): (usize, usize),
    dst: &mut [T],
    (ch, h, w): (usize, usize, usize),
    bias: Option<&[T]>,
) {
    let used = h.min(rows.saturating_sub(top));
    let width = w.min(cols.saturating_sub(left));
    let fast = Transposer::new::<T>();
    let plane = h * w;
    for y in 0..h {
        if y < used {
            let line = &src[((y + top) * cols + left) * ld..][..width * ld];
            for x0 in (0..width).step_by(BLOCK) {
                for c0 in (0..ch).step_by(BLOCK) {
                    // Rows of the block: positions x0.. at c0..; columns: channels c0.. at x0...
                    let from = &line[x0 * ld + c0..];
                    let to = &mut dst[(c0 * h + y) * w + x0..];
                    let (xn, cn) = ((width - x0).min(BLOCK), (ch - c0).min(BLOCK));
                    fast.transpose(from, ld, to, plane, (xn, cn));
                }
            }
        }
        let filled = if y < used { width } else { 0 };
        for ci in 0..ch {
            let out = &mut dst[(ci * h + y) * w..][..w];
            let b = bias.map_or(T::zero(), |b| b[ci]);
            out[filled..].fill(b);
            if bias.is_some() {
                for v in &mut out[..filled] {
                    *v += b;
                }
            }
        }
    }
}

/// Transposes blocks of up to 16x16 values, on AVX registers (as four 8x8 blocks) for whole f32
/// blocks when the processor has them.
#[derive(Clone, Copy)]
struct Transposer {
    avx_f32: bool,
}

impl Transposer {
    #[inline(always)]
    fn new<T: 'static>() -> Self {
        let f32 = std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>();
        #[cfg(target_arch = "x86_64")]
        let avx = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        Transposer { avx_f32: f32 && avx }
    }

    /// `dst[j * dst_ld + i] = src[i * src_ld + j]` for `i < n`, `j < m`.
    #[inline(always)]
    fn transpose<T: WithDType>(
        self,
        src: &[T],
        src_ld: usize,
        dst: &mut [T],
        dst_ld: usize,
        (n, m): (usize, usize),
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.avx_f32 && n == BLOCK && m == BLOCK {
            let (src, dst) = (&src[..(BLOCK - 1) * src_ld + BLOCK], &mut dst[..(BLOCK - 1) * dst_ld + BLOCK]);
            let (src, dst) = (src.as_ptr().cast::<f32>(), dst.as_mut_ptr().cast::<f32>());
            for (bi, bj) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                // SAFETY: T is f32 (checked in `new`), the processor has AVX (likewise), and
                // the slices just cut hold every row of every quarter read or written.
                unsafe {
                    transpose8_f32(src.add(bi * src_ld + bj), src_ld, dst.add(bj * dst_ld + bi), dst_ld)
                };
            }
            return;
        }
        for i in 0..n {
            let row = &src[i * src_ld..][..m];
            for (j, &v) in row.iter().enumerate() {
                dst[j * dst_ld + i] = v;
            }
        }
    }
}

/// An 8x8 f32 transpose in AVX registers: pairs of rows interleaved by 32-bit values, then by
/// 64-bit pairs, then 128-bit halves exchanged.
///
/// # Safety
/// The processor must have AVX; `src` must hold 8 rows of 8 values `src_ld` apart and `dst`
/// likewise `dst_ld` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose8_f32(src: *const f32, src_ld: usize, dst: *mut f32, dst_ld: usize) {
    use std::arch::x86_64::*;
    let mut r = [_mm256_setzero_ps(); 8];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm256_loadu_ps(src.add(i * src_ld));
    }
    let mut t = [_mm256_setzero_ps(); 8];
    for i in (0..8).step_by(2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for i in (0..8).step_by(4) {
        r[i] = _mm256_shuffle_ps::<0x44>(t[i], t[i + 2]);
        r[i + 1] = _mm256_shuffle_ps::<0xEE>(t[i], t[i + 2]);
        r[i + 2] = _mm256_shuffle_ps::<0x44>(t[i + 1], t[i + 3]);
        r[i + 3] = _mm256_shuffle_ps::<0xEE>(t[i + 1], t[i + 3]);
    }
    for j in 0..4 {
        t[j] = _mm256_permute2f128_ps::<0x20>(r[j], r[j + 4]);
        t[j + 4] = _mm256_permute2f128_ps::<0x31>(r[j], r[j + 4]);
    }
    for (i, v) in t.iter().enumerate() {
        _mm256_storeu_ps(dst.add(i * dst_ld), *v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_transposed_whole_and_partial() {
        let (src_ld, dst_ld) = (21, 19);
        let src: Vec<f32> = (0..16 * src_ld).map(|i| i as f32).collect();
        for (n, m) in [(16, 16), (16, 5), (3, 16), (1, 1)] {
            let mut dst = vec![-1.0f32; 16 * dst_ld];
            Transposer::new::<f32>().transpose(&src, src_ld, &mut dst, dst_ld, (n, m));
            for i in 0..16 {
                for j in 0..16 {
                    let want = if i < n && j < m { src[i * src_ld + j] } else { -1.0 };
                    assert_eq!(dst[j * dst_ld + i], want, "({i}, {j}) of a {n}x{m} block");
                }
            }
        }
    }

    #[test]
    fn images_go_channels_last_and_back() {
        // 20 channels (a whole block and a partial one), 5x18 (a whole block of positions and a
        // partial one), into a 7x21 grid with one row and two columns of padding before.
        let (ch, h, w) = (20, 5, 18);
        let image: Vec<f32> = (0..ch * h * w).map(|i| (i as f32).sin()).collect();
        let (rows, cols, ld) = (7, 21, 32);
        let mut grid = vec![f32::NAN; rows * cols * ld];
        to_channels_last(&image, (ch, h, w), &mut grid, (rows, cols, ld), (1, 2));
        for y in 0..rows {
            for x in 0..cols {
                for c in 0..ld {
                    let inside = (1..=h).contains(&y) && (2..2 + w).contains(&x) && c < ch;
                    let want = if inside { image[(c * h + y - 1) * w + x - 2] } else { 0.0 };
                    assert_eq!(grid[(y * cols + x) * ld + c], want, "({y}, {x}, {c})");
                }
            }
        }
        let bias: Vec<f32> = (0..ch).map(|c| c as f32).collect();
        let mut back = vec![f32::NAN; ch * h * w];
        from_channels_last(&grid, (rows, cols, ld), (1, 2), &mut back, (ch, h, w), Some(&bias));
        for (i, (b, v)) in back.iter().zip(&image).enumerate() {
            assert_eq!(*b, v + bias[i / (h * w)], "value {i}");
        }
    }
}
