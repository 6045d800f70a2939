//! What the fused recurrent ops share: the activations in the data's own precision, a bounds-checked
//! wrapper around the `gemm` crate (the matrix product candle itself calls), and a switch that
//! runs the element-wise loops with AVX2 and FMA where the processor has them.
//!
//! f32 `exp` is our own: `2ⁿ · p(r)` with `n = round(x log₂e)`, `r = x - n ln 2` (Cody and
//! Waite's two-part `ln 2`) and `p` the degree-7 Taylor polynomial, whose truncation error on
//! `|r| ≤ ln 2 / 2` is below `6e-9` relative, under half an f32 ulp. Written with arithmetic and
//! bit moves only, it vectorises, where libm's `expf` is a call per element (it took an eighth
//! of a training step). f64 keeps the standard library's functions: it is the precision the tests
//! compare in.

use candle_core::WithDType;

use dls_foundations::buffers::Pooled;

/// A float the fused kernels run on (f32 or f64). `FMA` says whether the caller is compiled
/// for fused multiply-adds (see [`simd_dispatch`]): the f32 polynomial then uses them.
pub(crate) trait Real: WithDType + Pooled + Copy + Send + Sync + 'static {
    /// `eˣ` (the polynomial for f32, see the module header).
    fn exp_<const FMA: bool>(self) -> Self;
    /// Natural logarithm.
    fn ln_(self) -> Self;
    /// `tanh x`.
    fn tanh<const FMA: bool>(self) -> Self;
    /// `1 / (1 + e⁻ˣ)`, saturating to 0 or 1 without NaN.
    fn sigmoid<const FMA: bool>(self) -> Self;
}

/// `a b + c`, fused when `FMA` (only where the processor has the instruction: elsewhere
/// `mul_add` is a library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `eˣ` for f32 by the polynomial of the module header.
#[inline(always)]
pub(crate) fn exp_f32<const FMA: bool>(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Taylor coefficients 1/k!, k = 7 down to 2.
    const C: [f32; 6] = [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5];
    // Clamped so that 2ⁿ stays a normal f32; NaN passes through both comparisons.
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    let t = madd::<FMA>(x, std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    let mut p = C[0];
    for c in &C[1..] {
        p = madd::<FMA>(p, r, *c);
    }
    let p = madd::<FMA>(madd::<FMA>(p, r, 1.0), r, 1.0);
    let exponent = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32).wrapping_add(127) << 23;
    p * f32::from_bits(exponent as u32)
}

impl Real for f32 {
    #[inline(always)]
    fn exp_<const FMA: bool>(self) -> f32 {
        exp_f32::<FMA>(self)
    }

    #[inline(always)]
    fn ln_(self) -> f32 {
        self.ln()
    }

    /// `1 - 2 / (e²ˣ + 1)`: exact at both saturations, within a few ulps of 1 absolutely near zero.
    #[inline(always)]
    fn tanh<const FMA: bool>(self) -> f32 {
        1.0 - 2.0 / (exp_f32::<FMA>(2.0 * self) + 1.0)
    }

    #[inline(always)]
    fn sigmoid<const FMA: bool>(self) -> f32 {
        1.0 / (1.0 + exp_f32::<FMA>(-self))
    }
}

impl Real for f64 {
    #[inline(always)]
    fn exp_<const FMA: bool>(self) -> f64 {
        self.exp()
    }

    #[inline(always)]
    fn ln_(self) -> f64 {
        self.ln()
    }

    #[inline(always)]
    fn tanh<const FMA: bool>(self) -> f64 {
        f64::tanh(self)
    }

    #[inline(always)]
    fn sigmoid<const FMA: bool>(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
}

/// A row-major matrix argument: data, number of rows, row stride and column stride (in elements).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A contiguous `rows × cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The same data read as its transpose.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every index the strides reach lies in `data`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// `dst (+)= lhs @ rhs` for a contiguous row-major `dst` (`lhs.rows × rhs.cols`), on the calling
/// thread; `accumulate` adds to what `dst` holds.
///
/// # Errors
/// When the shapes disagree or a stride reaches past a buffer.
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
) -> candle_core::Result<()> {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if rhs.rows != k || dst.len() != m * n || !lhs.fits() || !rhs.fits() {
        candle_core::bail!(
            "fused kernel matmul: [{m}, {k}] @ [{}, {n}] into {} elements, or a stride past a buffer",
            rhs.rows,
            dst.len()
        );
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::zero());
        }
        return Ok(());
    }
    let one = T::one();
    // SAFETY: `fits` and the length check above keep every index the strides reach inside the
    // buffers; `dst` is exclusively borrowed and distinct from the shared inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            one,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// Whether the element-wise loops may use AVX2 and FMA (checked once per process).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Defines `$name`, which runs the `#[inline(always)]` function `$body::<T, FMA>` compiled for
/// AVX2 and FMA (with `FMA = true`) when the processor has them and for the baseline otherwise
/// (same arguments, same results up to the roundings the fused multiply-adds skip).
macro_rules! simd_dispatch {
    ($(#[$doc:meta])* fn $name:ident<T: Real>($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name<T: $crate::kernel::Real>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide<T: $crate::kernel::Real>($($arg: $ty),*) {
                    $body::<T, true>($($arg),*)
                }
                if $crate::kernel::has_avx2() {
                    // SAFETY: the processor has AVX2 and FMA (checked at run time).
                    unsafe { wide($($arg),*) };
                    return;
                }
            }
            $body::<T, false>($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

/// Adds row `src[r]` to `dst[ids[r]]` for every row (`width` wide).
#[inline(always)]
fn scatter_rows<T: Real, const FMA: bool>(dst: &mut [T], src: &[T], ids: &[u32], width: usize) {
    for (row, &id) in src.chunks_exact(width).zip(ids) {
        for (d, &v) in dst[id as usize * width..][..width].iter_mut().zip(row) {
            *d += v;
        }
    }
}

simd_dispatch! {
    /// [`scatter_rows`], vectorised where the processor allows: the gradient of a table whose
    /// rows were picked by `ids`.
    fn scatter_step<T: Real>(dst: &mut [T], src: &[T], ids: &[u32], width: usize) => scatter_rows
}

#[cfg(test)]
mod tests {
    use super::{exp_f32, matmul, Mat, Real};

    #[test]
    fn fast_exp_is_within_two_ulps_and_saturates() {
        // Exact range: |x| <= 87 (below, e^x is clamped to about e^-87).
        for i in -1990..=1990 {
            let x = i as f32 * 0.0437;
            let (got, want) = (exp_f32::<false>(x), (x as f64).exp());
            let fused = exp_f32::<true>(x) as f64;
            assert!(((fused - want) / want).abs() < 2.5e-7, "fused exp({x}) = {fused}");
            assert!(((got as f64 - want) / want).abs() < 2.5e-7, "exp({x}) = {got}, want {want}");
            let s = Real::sigmoid::<false>(x) as f64;
            assert!((s - 1.0 / (1.0 + (-x as f64).exp())).abs() < 2e-7, "sigmoid({x})");
            assert!((Real::tanh::<false>(x) as f64 - (x as f64).tanh()).abs() < 2e-7, "tanh({x})");
        }
        let (sig, tanh) = (Real::sigmoid::<false>, Real::tanh::<false>);
        assert!((0.0..1e-37).contains(&sig(-1e4f32)));
        assert_eq!((sig(1e4f32), tanh(1e4f32), tanh(-1e4f32)), (1.0, 1.0, -1.0));
        assert!(exp_f32::<false>(f32::NAN).is_nan());
    }

    #[test]
    fn matmul_reads_strides_and_accumulates() {
        // [[1, 2, 3], [4, 5, 6]] @ [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]]
        let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b_t = [1.0f64, 0.0, 1.0, 0.0, 1.0, 1.0]; // b stored transposed
        let mut dst = [1.0f64; 4];
        matmul(&mut dst, true, Mat::new(&a, 2, 3), Mat::new(&b_t, 2, 3).t()).unwrap();
        assert_eq!(dst, [5.0, 6.0, 11.0, 12.0]);
        assert!(matmul(&mut dst, false, Mat::new(&a, 2, 3), Mat::new(&b_t, 2, 3)).is_err());
    }
}
