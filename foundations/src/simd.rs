//! Running a kernel's loops compiled for the widest vector instructions the processor has.
//!
//! The workspace builds for the baseline x86-64 (SSE2), so the compiler vectorises element-wise
//! loops four floats wide, and a batch norm's or `col2im`'s inner loops ran at a fraction of what
//! the processor can do. [`wide`] runs a closure inside a function compiled with AVX-512 (or AVX2
//! and FMA) when the processor has them, checked once at run time; `#[inline(always)]` code the
//! closure calls is compiled again there with the wider instructions. Results do not change:
//! Rust never fuses a multiply and an add on its own, and the compiler keeps the order of float
//! additions, so only the width of independent operations differs.
//!
//! ```
//! let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
//! let y: Vec<f32> = dls_foundations::simd::wide(|| x.iter().map(|v| v * 2.0).collect());
//! assert_eq!(y[99], 198.0);
//! ```

/// The widest instruction set [`wide`] can use here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn level() -> Level {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                return Level::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f`, compiled (with the `#[inline(always)]` code it calls) for AVX-512 or AVX2 when the
/// processor has them, else as is.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    match level() {
        // SAFETY: the processor has these features (checked at run time by `level`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512(f) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2(f) },
        Level::Baseline => f(),
    }
}
