//! One worker's pass over a chunk of sentences: subsampling, the dynamic window, and the
//! skip-gram or CBOW negative-sampling updates on the shared matrices.

use std::ops::Range;

use super::kernel::{sigmoid_table, step_with};
use super::sampling::{Lcg, NoiseTable, SigmoidTable};
use super::{Architecture, Config};
use crate::dense::axpy;
use crate::hogwild::SharedMatrix;

/// What every worker reads: the configuration, the two weight matrices, the sampling tables.
pub(crate) struct Shared<'a> {
    pub(crate) config: &'a Config,
    pub(crate) syn0: &'a SharedMatrix,
    pub(crate) syn1: &'a SharedMatrix,
    pub(crate) noise: NoiseTable,
    pub(crate) keep: Vec<f32>,
    pub(crate) sentences: &'a [Vec<u32>],
    pub(crate) total_words: u64,
}

/// A worker's scratch buffers.
pub(crate) struct State {
    kept: Vec<usize>,
    acc: Vec<f32>,
    hidden: Vec<f32>,
}

impl State {
    pub(crate) fn new(dim: usize) -> Self {
        Self { kept: Vec::new(), acc: vec![0.0; dim], hidden: vec![0.0; dim] }
    }
}

impl Shared<'_> {
    /// Trains on `sentences` (a chunk) with the learning rate for `done` words already processed;
    /// returns how many words survived subsampling.
    ///
    /// On x86-64 CPUs with AVX2 the same code is compiled a second time with 256-bit vectors and
    /// chosen at run time (results then differ from the SSE2 build in the last bits, but are as
    /// deterministic on one machine).
    pub(crate) fn run(&self, st: &mut State, sentences: Range<usize>, done: u64, seed: u64) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.run_avx2(st, sentences, done, seed) };
        }
        self.run_inline(st, sentences, done, seed)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, st: &mut State, sentences: Range<usize>, done: u64, seed: u64) -> u64 {
        self.run_inline(st, sentences, done, seed)
    }

    #[inline(always)]
    fn run_inline(&self, st: &mut State, sentences: Range<usize>, done: u64, seed: u64) -> u64 {
        let c = self.config;
        let progress = (done as f64 / self.total_words.max(1) as f64).min(1.0) as f32;
        let alpha = (c.alpha - (c.alpha - c.min_alpha) * progress).max(c.min_alpha);
        let mut rng = Lcg::new(seed);
        let table = sigmoid_table();
        let mut kept_total = 0;
        for s in self.sentences.get(sentences).unwrap_or_default() {
            st.kept.clear();
            for &w in s {
                let w = w as usize;
                if self.keep.get(w).is_some_and(|&p| p >= 1.0 || p >= rng.unit()) {
                    st.kept.push(w);
                }
            }
            kept_total += st.kept.len() as u64;
            for i in 0..st.kept.len() {
                let b = rng.below(c.window as u64) as usize;
                let reach = c.window - b;
                let lo = i.saturating_sub(reach);
                let hi = (i + reach + 1).min(st.kept.len());
                match c.sg {
                    Architecture::SkipGram => {
                        for j in lo..hi {
                            if j != i {
                                self.skipgram_pair(st, table, &mut rng, st.kept[i], st.kept[j], alpha);
                            }
                        }
                    }
                    Architecture::Cbow => self.cbow(st, table, &mut rng, i, lo..hi, alpha),
                }
            }
        }
        kept_total
    }

    /// Negative sampling for target `word` from hidden vector `st.hidden`, accumulating into `st.acc`.
    #[inline(always)]
    fn targets(
        &self,
        hidden: &[f32],
        acc: &mut [f32],
        table: &SigmoidTable,
        rng: &mut Lcg,
        word: usize,
        alpha: f32,
    ) {
        acc.iter_mut().for_each(|v| *v = 0.0);
        for d in 0..=self.config.negative {
            let (target, label) = if d == 0 {
                (word, 1.0)
            } else {
                let t = self.noise.sample(rng);
                if t == word {
                    continue;
                }
                (t, 0.0)
            };
            // SAFETY: one output row at a time on this thread; `hidden` is a worker buffer or an
            // input row (the other matrix). See hogwild's safety argument for cross-thread races.
            if let Some(u) = unsafe { self.syn1.row(target) } {
                step_with(table, hidden, u, label, alpha, acc);
            }
        }
    }

    /// Skip-gram as gensim: the context word's input vector predicts the centre word.
    #[inline(always)]
    fn skipgram_pair(
        &self,
        st: &mut State,
        table: &SigmoidTable,
        rng: &mut Lcg,
        centre: usize,
        context: usize,
        alpha: f32,
    ) {
        // SAFETY: the only input row held on this thread; output rows come from the other matrix.
        let Some(h) = (unsafe { self.syn0.row(context) }) else { return };
        let State { acc, .. } = st;
        self.targets(h, acc, table, rng, centre, alpha);
        axpy(1.0, acc, h);
    }

    /// CBOW: the mean (or sum) of the context's input vectors predicts the centre word.
    #[inline(always)]
    fn cbow(
        &self,
        st: &mut State,
        table: &SigmoidTable,
        rng: &mut Lcg,
        i: usize,
        window: Range<usize>,
        alpha: f32,
    ) {
        let State { kept, acc, hidden } = st;
        hidden.iter_mut().for_each(|v| *v = 0.0);
        let mut count = 0usize;
        for j in window.clone() {
            if j == i {
                continue;
            }
            // SAFETY: read one input row at a time, released before the next.
            if let Some(row) = unsafe { self.syn0.row(kept[j]) } {
                axpy(1.0, row, hidden);
                count += 1;
            }
        }
        if count == 0 {
            return;
        }
        let inv = 1.0 / count as f32;
        if self.config.cbow_mean {
            hidden.iter_mut().for_each(|v| *v *= inv);
        }
        self.targets(hidden, acc, table, rng, kept[i], alpha);
        if !self.config.cbow_mean {
            acc.iter_mut().for_each(|v| *v *= inv);
        }
        for j in window {
            if j != i {
                // SAFETY: one input row at a time.
                if let Some(row) = unsafe { self.syn0.row(kept[j]) } {
                    axpy(1.0, acc, row);
                }
            }
        }
    }
}
