//! NumPy's legacy `np.random.seed` / `np.random.randn` stream, so the course's data sets can be
//! rebuilt point for point.
//!
//! `np.random.seed(s)` initialises a 32-bit Mersenne Twister with `init_genrand(s)`; `randn` draws
//! pairs by the polar Box–Muller method from doubles built of 53 random bits (27 + 26 from two
//! outputs), caching the second value of each pair. The Mersenne Twister comes from `rand_mt`.

use rand_mt::Mt;

/// A reproduction of NumPy's legacy `RandomState` normal stream.
pub(crate) struct NumpyLegacy {
    mt: Mt,
    cached: Option<f64>,
}

impl NumpyLegacy {
    /// The stream `np.random.seed(seed)` starts.
    pub(crate) fn new(seed: u32) -> Self {
        Self { mt: Mt::new(seed), cached: None }
    }

    /// A double in `[0, 1)` from 53 random bits, as NumPy's `random_sample`.
    fn next_double(&mut self) -> f64 {
        let a = (self.mt.next_u32() >> 5) as f64;
        let b = (self.mt.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// One standard normal sample, as NumPy's legacy `randn`.
    pub(crate) fn randn(&mut self) -> f64 {
        if let Some(g) = self.cached.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.next_double() - 1.0;
            let x2 = 2.0 * self.next_double() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached = Some(f * x1);
                return f * x2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy() {
        // python -c "import numpy as np; np.random.seed(1); print(repr(np.random.randn(3)))"
        // array([ 1.62434536, -0.61175641, -0.52817175])
        let mut r = NumpyLegacy::new(1);
        let got: Vec<f64> = (0..3).map(|_| r.randn()).collect();
        for (g, want) in got.iter().zip([1.62434536, -0.61175641, -0.52817175]) {
            assert!((g - want).abs() < 1e-8, "{got:?}");
        }
    }
}
