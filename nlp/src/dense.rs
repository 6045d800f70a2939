//! Small dense f32 kernels (dot product, `y += a x`, norms) shared by the word-vector code.
//!
//! Eight independent accumulators let the compiler keep the loop in SIMD registers; a single
//! running sum would serialise on the floating-point add latency.

/// `x · y` over the common length.
#[inline(always)]
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0f32; 8];
    let xc = x.chunks_exact(8);
    let yc = y.chunks_exact(8);
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (a, b) in xr.iter().zip(yr) {
        s += a * b;
    }
    s
}

/// `y += a * x` over the common length.
#[inline(always)]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// The Euclidean norm of `x`.
#[inline(always)]
pub(crate) fn norm(x: &[f32]) -> f32 {
    dot(x, x).sqrt()
}

/// `x / |x|`, or `x` unchanged when its norm is zero.
pub(crate) fn unit(x: &[f32]) -> Vec<f32> {
    let n = norm(x);
    if n > 0.0 {
        x.iter().map(|v| v / n).collect()
    } else {
        x.to_vec()
    }
}
