//! Random numbers and sampling tables for word2vec: the C tool's linear congruential generator, the
//! unigram^0.75 noise distribution (a cumulative table searched by bisection, as gensim does),
//! frequent-word subsampling probabilities and the sigmoid lookup table.

/// The word2vec LCG: `x <- x * 25214903917 + 11 (mod 2^48)`; cheap and good enough for sampling.
#[derive(Clone, Debug)]
pub(crate) struct Lcg(u64);

impl Lcg {
    /// A generator started from `seed` (scrambled by SplitMix64 so nearby seeds differ).
    pub(crate) fn new(seed: u64) -> Self {
        Lcg(splitmix64(seed) & 0xFFFF_FFFF_FFFF)
    }

    /// The next 48-bit state.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(25_214_903_917).wrapping_add(11) & 0xFFFF_FFFF_FFFF;
        self.0
    }

    /// A uniform integer in `[0, n)` for `n > 0` (0 for `n == 0`).
    #[inline(always)]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 16).checked_rem(n).unwrap_or(0)
    }

    /// A uniform float in `[0, 1)`.
    #[inline(always)]
    pub(crate) fn unit(&mut self) -> f32 {
        ((self.next() >> 24) as f32) / ((1u64 << 24) as f32)
    }
}

/// SplitMix64: a bijective scrambler used to derive per-chunk and per-word seeds.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The noise distribution `P(w) ∝ count(w)^exponent`, sampled in O(1) with Vose's alias method:
/// bucket `i` (uniform) keeps word `i` with probability `keep[i] / 2^32`, else gives `alias[i]`.
/// (gensim bisects a cumulative table; the distribution is the same, the draw cheaper.)
pub(crate) struct NoiseTable {
    keep: Vec<u64>,
    alias: Vec<u32>,
}

impl NoiseTable {
    /// Builds the table from word counts (ids must fit in u32).
    pub(crate) fn new(counts: &[u64], exponent: f64) -> Self {
        let n = counts.len();
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(exponent)).collect();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let mut keep = vec![1u64 << 32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (scaled[s] * (1u64 << 32) as f64) as u64;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { keep, alias }
    }

    /// Draws a word id from one 32-bit random number: the bucket from its high part times `n`,
    /// the coin from the fraction.
    #[inline(always)]
    pub(crate) fn sample(&self, rng: &mut Lcg) -> usize {
        let r = (rng.next() >> 16) & 0xFFFF_FFFF;
        let x = r * self.keep.len() as u64;
        let (i, frac) = ((x >> 32) as usize, x & 0xFFFF_FFFF);
        match (self.keep.get(i), self.alias.get(i)) {
            (Some(&k), Some(&a)) if frac >= k => a as usize,
            _ => i,
        }
    }

    /// The probability of drawing word `i` (for tests).
    #[cfg(test)]
    fn probability(&self, i: usize) -> f64 {
        let n = self.keep.len() as f64;
        let own = self.keep.get(i).map_or(0.0, |&k| k as f64 / (1u64 << 32) as f64);
        let from: f64 = (0..self.keep.len())
            .filter(|&j| self.alias[j] as usize == i && j != i)
            .map(|j| 1.0 - self.keep[j] as f64 / (1u64 << 32) as f64)
            .sum();
        (own + from) / n
    }
}

/// gensim's keep probabilities: `(sqrt(c / t) + 1) t / c` capped at 1, with `t = sample * total`
/// (all 1 when `sample <= 0`).
pub(crate) fn keep_probabilities(counts: &[u64], sample: f64) -> Vec<f32> {
    let total: u64 = counts.iter().sum();
    let t = sample * total as f64;
    counts
        .iter()
        .map(|&c| {
            if sample <= 0.0 || c == 0 {
                1.0
            } else {
                let c = c as f64;
                (((c / t).sqrt() + 1.0) * t / c).min(1.0) as f32
            }
        })
        .collect()
}

/// Arguments beyond ±`MAX_EXP` are not trained on (the original's rule).
pub(crate) const MAX_EXP: f32 = 6.0;
const EXP_TABLE_SIZE: usize = 1000;

/// The logistic function tabulated on `[-MAX_EXP, MAX_EXP)` in 1000 steps, as in word2vec.c.
pub(crate) struct SigmoidTable([f32; EXP_TABLE_SIZE]);

impl SigmoidTable {
    /// Fills the table.
    pub(crate) fn new() -> Self {
        let mut t = [0f32; EXP_TABLE_SIZE];
        for (i, v) in t.iter_mut().enumerate() {
            let x = ((i as f64 / EXP_TABLE_SIZE as f64) * 2.0 - 1.0) * f64::from(MAX_EXP);
            *v = (1.0 / (1.0 + (-x).exp())) as f32;
        }
        Self(t)
    }

    /// `σ(x)` for `|x| < MAX_EXP`, `None` outside (no update).
    #[inline(always)]
    pub(crate) fn get(&self, x: f32) -> Option<f32> {
        if !(x > -MAX_EXP && x < MAX_EXP) {
            return None;
        }
        let i = ((x + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
        self.0.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_table_has_the_unigram_power_distribution() {
        let counts = [100u64, 30, 7, 1, 1, 0];
        let table = NoiseTable::new(&counts, 0.75);
        let total: f64 = counts.iter().map(|&c| (c as f64).powf(0.75)).sum();
        for (i, &c) in counts.iter().enumerate() {
            let want = (c as f64).powf(0.75) / total;
            assert!(
                (table.probability(i) - want).abs() < 1e-8,
                "word {i}: {} vs {want}",
                table.probability(i)
            );
        }
        let mut rng = Lcg::new(5);
        let mut hits = [0usize; 6];
        for _ in 0..200_000 {
            hits[table.sample(&mut rng)] += 1;
        }
        // 100^0.75 / total = 31.623 / 50.750 = 0.6231
        assert!((hits[0] as f64 / 200_000.0 - 0.6231).abs() < 0.01, "{hits:?}");
        assert_eq!(hits[5], 0);
    }
}
