//! word2vec (Mikolov et al., 2013): skip-gram and CBOW with negative sampling, trained with
//! lock-free multi-threaded SGD as the original tool and gensim do.
//!
//! The recipe is gensim's: a unigram^0.75 noise table, frequent-word subsampling with threshold
//! `sample`, a dynamic window (each position draws a reduced window in `1..=window`), a learning rate
//! decaying linearly from `alpha` to `min_alpha` over all epochs (constant within a chunk of about
//! `batch_words` words), input vectors initialised uniform in `±1 / vector_size` (gensim 4; word2vec.c uses ±0.5), output vectors at
//! zero. Every chunk of every epoch draws its random numbers from a generator seeded by
//! `(seed, epoch, chunk)`, so one thread with a fixed seed reproduces its result exactly; with
//! several threads only the interleaving of updates varies ([`hogwild`](self) explains the races).
//!
//! ```
//! use dls_nlp::vocab::Vocab;
//! use dls_nlp::word2vec::{train, Architecture, Config};
//! let text = ["a b c d", "b c d a", "c d a b"].repeat(30);
//! let sentences: Vec<Vec<&str>> = text.iter().map(|s| s.split(' ').collect()).collect();
//! let vocab = Vocab::build(&sentences, 1)?;
//! let ids: Vec<Vec<u32>> = sentences.iter().map(|s| vocab.encode(s)).collect();
//! let config = Config { vector_size: 8, window: 2, sample: 0.0, epochs: 2, sg: Architecture::SkipGram, ..Config::default() };
//! let model = train(&vocab, &ids, &config)?;
//! assert_eq!(model.vectors.len(), 4);
//! assert_eq!(model.stats.words, 2 * 360);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

pub mod kernel;
mod sampling;
mod worker;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::hogwild::SharedMatrix;
use crate::vectors::KeyedVectors;
use crate::vocab::Vocab;
use crate::{Error, Result};
use sampling::{keep_probabilities, splitmix64, Lcg, NoiseTable};

/// Which word predicts which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Architecture {
    /// Continuous bag of words: the context predicts the centre word (gensim `sg=0`, its default).
    #[default]
    Cbow,
    /// Skip-gram: the centre word predicts each context word (gensim `sg=1`).
    SkipGram,
}

/// Hyperparameters, with gensim's names and defaults (except `threads`, gensim's `workers=3`).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// CBOW or skip-gram.
    pub sg: Architecture,
    /// Vector dimension.
    pub vector_size: usize,
    /// Maximum distance between the centre and a context word.
    pub window: usize,
    /// Noise words per positive example.
    pub negative: usize,
    /// Exponent of the noise distribution.
    pub ns_exponent: f64,
    /// Subsampling threshold (0 disables).
    pub sample: f64,
    /// Initial learning rate.
    pub alpha: f32,
    /// Final learning rate.
    pub min_alpha: f32,
    /// Passes over the corpus.
    pub epochs: usize,
    /// CBOW: average the context vectors (true) or sum them.
    pub cbow_mean: bool,
    /// Words per work chunk.
    pub batch_words: usize,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sg: Architecture::Cbow,
            vector_size: 100,
            window: 5,
            negative: 5,
            ns_exponent: 0.75,
            sample: 1e-3,
            alpha: 0.025,
            min_alpha: 1e-4,
            epochs: 5,
            cbow_mean: true,
            batch_words: 10_000,
            threads: 1,
            seed: 1,
        }
    }
}

/// Training counts and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Corpus words processed, over all epochs (before subsampling).
    pub words: u64,
    /// Words kept by subsampling and trained on.
    pub effective_words: u64,
    /// Wall-clock training time in seconds (tables and initialisation included).
    pub seconds: f64,
    /// Threads used.
    pub threads: usize,
}

impl Stats {
    /// Corpus words per second, the figure gensim logs as "raw words".
    pub fn words_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.words as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A trained model: input vectors keyed by word, output (context) vectors and statistics.
#[derive(Clone, Debug)]
pub struct Model {
    /// The word vectors (the input embedding, as gensim's `wv`).
    pub vectors: KeyedVectors,
    /// The negative-sampling output weights, `[vocab, vector_size]` row-major (gensim's `syn1neg`).
    pub output: Vec<f32>,
    /// Counts and time.
    pub stats: Stats,
}

fn check(config: &Config) -> Result<()> {
    let bad = |what: &str, msg: &str| Err(Error::invalid(what, msg));
    if config.vector_size == 0 {
        return bad("vector_size", "must be positive");
    }
    if config.window == 0 {
        return bad("window", "must be positive");
    }
    if config.negative == 0 {
        return bad("negative", "only negative sampling is implemented: use at least 1");
    }
    if config.epochs == 0 {
        return bad("epochs", "must be positive");
    }
    if !(config.alpha > 0.0 && config.min_alpha >= 0.0 && config.min_alpha <= config.alpha) {
        return bad("alpha", "need alpha > 0 and 0 <= min_alpha <= alpha");
    }
    if !(config.sample >= 0.0 && config.ns_exponent.is_finite()) {
        return bad("sample", "must be non-negative (and ns_exponent finite)");
    }
    Ok(())
}

/// A run of sentences trained as one unit of work.
#[derive(Clone, Debug)]
struct Chunk {
    sentences: std::ops::Range<usize>,
    words_before: u64,
}

fn chunks(sentences: &[Vec<u32>], batch_words: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut start, mut words, mut before) = (0, 0u64, 0u64);
    for (i, s) in sentences.iter().enumerate() {
        words += s.len() as u64;
        if words >= batch_words.max(1) as u64 {
            out.push(Chunk { sentences: start..i + 1, words_before: before });
            before += words;
            (start, words) = (i + 1, 0);
        }
    }
    if start < sentences.len() {
        out.push(Chunk { sentences: start..sentences.len(), words_before: before });
    }
    out
}

/// Trains word2vec on `sentences` of word ids from `vocab` (see [`Vocab::encode`]).
///
/// # Errors
/// [`Error::Invalid`] for a bad configuration or a word id outside `vocab`, [`Error::Empty`] for a
/// corpus without words.
pub fn train(vocab: &Vocab, sentences: &[Vec<u32>], config: &Config) -> Result<Model> {
    check(config)?;
    let start = Instant::now();
    let n = vocab.len();
    for (i, s) in sentences.iter().enumerate() {
        if let Some(&bad) = s.iter().find(|&&w| w as usize >= n) {
            return Err(Error::invalid(
                "sentences",
                format!("sentence {i} has word id {bad}, vocabulary has {n}"),
            ));
        }
    }
    let total: u64 = sentences.iter().map(|s| s.len() as u64).sum();
    if total == 0 {
        return Err(Error::Empty("word2vec: the corpus has no in-vocabulary words".into()));
    }
    let dim = config.vector_size;
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |p| p.get()),
        t => t,
    };
    // Input vectors: uniform in ±1/dim (gensim 4), each word from its own seeded generator.
    let mut syn0 = vec![0f32; n * dim];
    for (w, row) in syn0.chunks_exact_mut(dim).enumerate() {
        let mut rng = Lcg::new(config.seed ^ splitmix64(w as u64));
        row.iter_mut().for_each(|v| *v = (2.0 * rng.unit() - 1.0) / dim as f32);
    }
    let syn0 = SharedMatrix::new(syn0, dim);
    let syn1 = SharedMatrix::new(vec![0f32; n * dim], dim);
    let shared = worker::Shared {
        config,
        syn0: &syn0,
        syn1: &syn1,
        noise: NoiseTable::new(vocab.counts(), config.ns_exponent),
        keep: keep_probabilities(vocab.counts(), config.sample),
        sentences,
        total_words: total * config.epochs as u64,
    };
    let work = chunks(sentences, config.batch_words);
    let jobs = work.len() * config.epochs;
    let next = AtomicUsize::new(0);
    let effective = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = worker::State::new(dim);
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= jobs {
                        break;
                    }
                    let (epoch, k) = (job / work.len(), job % work.len());
                    let Some(chunk) = work.get(k) else { break };
                    let done = epoch as u64 * total + chunk.words_before;
                    let seed = splitmix64(config.seed ^ splitmix64(((epoch as u64) << 32) | k as u64));
                    let kept = shared.run(&mut state, chunk.sentences.clone(), done, seed);
                    effective.fetch_add(kept, Ordering::Relaxed);
                }
            });
        }
    });
    let (syn0, syn1) = (syn0.into_inner(), syn1.into_inner());
    let vectors = KeyedVectors::new(vocab.words().to_vec(), dim, syn0)?;
    let stats = Stats {
        words: total * config.epochs as u64,
        effective_words: effective.into_inner(),
        seconds: start.elapsed().as_secs_f64(),
        threads,
    };
    Ok(Model { vectors, output: syn1, stats })
}
