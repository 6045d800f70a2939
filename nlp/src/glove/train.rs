//! Fitting GloVe's weighted least squares by AdaGrad, multi-threaded without locks.
//!
//! Parameters start as in the reference tool: vectors and biases uniform in `±0.5 / vector_size`,
//! AdaGrad accumulators at 1. Every epoch shuffles the non-zero entries with a generator seeded by
//! `seed`, splits them into one contiguous slice per thread, and each thread applies
//! [`kernel::step`] to its entries on the shared parameters (Hogwild). On one
//! thread the same seed gives bit-identical vectors. The per-epoch loss reported is the mean of
//! `½ f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)²` over the entries, each taken just before its update.
//!
//! ```
//! use dls_nlp::glove::{train, Cooccurrence};
//! let records = vec![
//!     Cooccurrence { row: 0, col: 1, value: 4.0 },
//!     Cooccurrence { row: 1, col: 0, value: 4.0 },
//! ];
//! let words = vec!["a".to_string(), "b".to_string()];
//! let config = train::Config { vector_size: 2, epochs: 200, learning_rate: 0.1, ..Default::default() };
//! let model = train::train(&words, &records, &config)?;
//! assert!(model.losses[199] < 1e-4);
//! let kv = model.vectors(train::Output::Sum)?;
//! assert_eq!(kv.len(), 2);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::kernel::{self, Side, Step};
use super::Cooccurrence;
use crate::hogwild::SharedMatrix;
use crate::vectors::{io, KeyedVectors};
use crate::{Error, Result};

/// Training hyperparameters, with the reference tool's defaults (except `epochs`: it uses 25 too).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Vector dimension.
    pub vector_size: usize,
    /// Counts at or above `x_max` get full weight.
    pub x_max: f64,
    /// Exponent of the weighting below `x_max`.
    pub alpha: f64,
    /// AdaGrad's initial learning rate `η`.
    pub learning_rate: f32,
    /// Passes over the non-zero entries.
    pub epochs: usize,
    /// Bound on each vector component's gradient.
    pub grad_clip: f32,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Seed of the initialisation and of every epoch's shuffle.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vector_size: 100,
            x_max: 100.0,
            alpha: 0.75,
            learning_rate: 0.05,
            epochs: 25,
            grad_clip: 100.0,
            threads: 1,
            seed: 1,
        }
    }
}

/// Which vectors to use or save.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// The word vectors `w`.
    Word,
    /// The context vectors `w̃`.
    Context,
    /// `w + w̃`, the reference tool's recommended output (`-model 2`).
    #[default]
    Sum,
}

/// Training counts and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Non-zero entries trained on per epoch.
    pub entries: usize,
    /// Threads used.
    pub threads: usize,
    /// Wall-clock training time in seconds.
    pub seconds: f64,
}

/// A trained GloVe model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The word vectors `w`.
    pub words: KeyedVectors,
    /// The context vectors `w̃`.
    pub contexts: KeyedVectors,
    /// The word biases `b`.
    pub word_bias: Vec<f32>,
    /// The context biases `b̃`.
    pub context_bias: Vec<f32>,
    /// Mean loss per entry of each epoch.
    pub losses: Vec<f64>,
    /// Counts and time.
    pub stats: Stats,
}

impl Model {
    /// The vectors chosen by `output` (a new [`KeyedVectors`] for [`Output::Sum`]).
    ///
    /// # Errors
    /// Only if the two vector sets disagree in shape, which training never produces.
    pub fn vectors(&self, output: Output) -> Result<KeyedVectors> {
        match output {
            Output::Word => Ok(self.words.clone()),
            Output::Context => Ok(self.contexts.clone()),
            Output::Sum => {
                let data = self.words.data().iter().zip(self.contexts.data()).map(|(a, b)| a + b).collect();
                KeyedVectors::new(self.words.words().to_vec(), self.words.dim(), data)
            }
        }
    }

    /// Saves the vectors chosen by `output` in GloVe's text format.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>, output: Output) -> Result<()> {
        io::save(&self.vectors(output)?, path, io::Format::GloveText)
    }
}

fn check(config: &Config) -> Result<()> {
    let bad = |what: &str, msg: String| Err(Error::invalid(what, msg));
    if config.vector_size == 0 {
        return bad("vector_size", "must be positive".into());
    }
    if config.epochs == 0 {
        return bad("epochs", "must be positive".into());
    }
    if !(config.x_max.is_finite() && config.x_max > 0.0) {
        return bad("x_max", format!("must be positive and finite, got {}", config.x_max));
    }
    if !(config.alpha.is_finite() && config.alpha >= 0.0) {
        return bad("alpha", format!("must be non-negative and finite, got {}", config.alpha));
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return bad("learning_rate", format!("must be positive and finite, got {}", config.learning_rate));
    }
    if config.grad_clip.is_nan() || config.grad_clip <= 0.0 {
        return bad("grad_clip", format!("must be positive, got {}", config.grad_clip));
    }
    Ok(())
}

/// An entry with its training constants precomputed.
#[derive(Clone, Copy)]
struct Entry {
    row: u32,
    col: u32,
    log_x: f32,
    weight: f32,
}

/// Checks the records against the vocabulary and precomputes `log x` and `f(x)`.
fn entries(n: usize, records: &[Cooccurrence], config: &Config) -> Result<Vec<Entry>> {
    if records.is_empty() {
        return Err(Error::Empty("glove: no co-occurrence records to train on".into()));
    }
    records
        .iter()
        .enumerate()
        .map(|(k, r)| {
            if r.row as usize >= n || r.col as usize >= n {
                return Err(Error::invalid(
                    "records",
                    format!("record {k} pairs ids ({}, {}), the vocabulary has {n} words", r.row, r.col),
                ));
            }
            if !(r.value.is_finite() && r.value > 0.0) {
                return Err(Error::invalid("records", format!("record {k} has count {}", r.value)));
            }
            let weight = kernel::weight(r.value, config.x_max, config.alpha) as f32;
            Ok(Entry { row: r.row, col: r.col, log_x: r.value.ln() as f32, weight })
        })
        .collect()
}

/// Packed rows `[vector, bias, grad_sq (1.0), bias_grad_sq (1.0)]`, parameters uniform in ±0.5/dim.
fn init(rng: &mut StdRng, n: usize, dim: usize) -> Vec<f32> {
    let mut data = vec![1.0f32; n * (2 * dim + 2)];
    for row in data.chunks_exact_mut(2 * dim + 2) {
        for v in &mut row[..=dim] {
            *v = (rng.random::<f32>() - 0.5) / dim as f32;
        }
    }
    data
}

/// Applies one epoch's updates for `entries` on the shared rows, returning the summed loss.
fn run(entries: &[Entry], w: &SharedMatrix, c: &SharedMatrix, dim: usize, config: &Config) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { run_avx2(entries, w, c, dim, config) };
    }
    run_inline(entries, w, c, dim, config)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2(
    entries: &[Entry],
    w: &SharedMatrix,
    c: &SharedMatrix,
    dim: usize,
    config: &Config,
) -> f64 {
    run_inline(entries, w, c, dim, config)
}

#[inline(always)]
fn run_inline(entries: &[Entry], w: &SharedMatrix, c: &SharedMatrix, dim: usize, config: &Config) -> f64 {
    let mut loss = 0.0;
    for e in entries {
        // SAFETY: one row of each matrix at a time on this thread (see hogwild's safety argument).
        let (Some(wr), Some(cr)) = (unsafe { w.row(e.row as usize) }, unsafe { c.row(e.col as usize) })
        else {
            continue;
        };
        let (Some(word), Some(context)) = (Side::from_row(wr, dim), Side::from_row(cr, dim)) else {
            continue;
        };
        let s = Step {
            weight: e.weight,
            log_x: e.log_x,
            learning_rate: config.learning_rate,
            grad_clip: config.grad_clip,
        };
        loss += kernel::step(word, context, &s).unwrap_or(0.0);
    }
    loss
}

/// Splits packed rows into vectors and biases.
fn unpack(data: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut vectors = Vec::with_capacity(data.len() / 2);
    let mut bias = Vec::with_capacity(data.len() / (2 * dim + 2));
    for row in data.chunks_exact(2 * dim + 2) {
        vectors.extend_from_slice(&row[..dim]);
        bias.push(row[dim]);
    }
    (vectors, bias)
}

/// Trains GloVe on the co-occurrence `records` of the vocabulary `words` (ids index `words`).
///
/// # Errors
/// [`Error::Invalid`] for a bad configuration or a record with an id outside `words` or a count
/// that is not positive, [`Error::Empty`] without records or words, [`Error::Invalid`] for a repeated
/// word.
pub fn train(words: &[String], records: &[Cooccurrence], config: &Config) -> Result<Model> {
    check(config)?;
    let start = Instant::now();
    let (n, dim) = (words.len(), config.vector_size);
    if n == 0 {
        return Err(Error::Empty("glove: no words".into()));
    }
    let mut entries = entries(n, records, config)?;
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |p| p.get()),
        t => t,
    };
    let mut rng = StdRng::seed_from_u64(config.seed);
    let w = SharedMatrix::new(init(&mut rng, n, dim), 2 * dim + 2);
    let c = SharedMatrix::new(init(&mut rng, n, dim), 2 * dim + 2);
    let per_thread = entries.len().div_ceil(threads);
    let mut losses = Vec::with_capacity(config.epochs);
    for _ in 0..config.epochs {
        entries.shuffle(&mut rng);
        let total: f64 = if threads == 1 {
            run(&entries, &w, &c, dim, config)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = entries
                    .chunks(per_thread)
                    .map(|part| {
                        let (w, c) = (&w, &c);
                        scope.spawn(move || run(part, w, c, dim, config))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or(f64::NAN)).sum()
            })
        };
        losses.push(total / entries.len() as f64);
    }
    let (wv, wb) = unpack(&w.into_inner(), dim);
    let (cv, cb) = unpack(&c.into_inner(), dim);
    Ok(Model {
        words: KeyedVectors::new(words.to_vec(), dim, wv)?,
        contexts: KeyedVectors::new(words.to_vec(), dim, cv)?,
        word_bias: wb,
        context_bias: cb,
        losses,
        stats: Stats { entries: entries.len(), threads, seconds: start.elapsed().as_secs_f64() },
    })
}
