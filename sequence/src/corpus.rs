//! Character-level training data (sheet 24): lines such as names turned into padded next-character
//! datasets, long texts cut into windows for truncated back-propagation through time, and the
//! unigram baseline a language model must beat.
//!
//! For a line `"bob"`, input and target are the course's `x = ⟨end⟩ b o b` and
//! `y = b o b ⟨end⟩`: the model sees the end marker first and must predict every character and the
//! final end marker. Shorter lines are padded with the end marker in `x` and [`IGNORE`] in `y`.
//!
//! ```
//! use dls_sequence::corpus::{lines_dataset, unigram_perplexity};
//! use dls_sequence::vocab::CharVocab;
//! let vocab = CharVocab::from_text("ab\nb\n")?;
//! let data = lines_dataset(&["ab", "b"], &vocab)?;
//! assert_eq!(data.x.to_vec2::<u32>()?, vec![vec![0, 1, 2], vec![0, 2, 0]]);
//! let ignore = dls_sequence::corpus::IGNORE;
//! assert_eq!(data.y.to_vec2::<u32>()?, vec![vec![1, 2, 0], vec![2, 0, ignore]]);
//! // Targets a b ⟨end⟩ b ⟨end⟩: with add-one smoothing p(end) = 3/8, p(a) = 2/8, p(b) = 3/8.
//! let ppl = unigram_perplexity(&data.y, &data.y, vocab.len())?;
//! let want = (-(2.0 * (3f64 / 8.0).ln() + (2f64 / 8.0).ln() + 2.0 * (3f64 / 8.0).ln()) / 5.0).exp();
//! assert!((ppl - want).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Device, Tensor};
use dls_foundations::data::Dataset;

use crate::vocab::CharVocab;
use crate::{Error, Result};

/// Target id of padded positions: ignored by the loss and the metrics.
pub const IGNORE: u32 = u32::MAX;

/// A next-character dataset of `lines` (without line breaks): `x` and `y` both `u32 [n, T]` with
/// `T` the longest line's length plus one.
///
/// # Errors
/// [`Error::Empty`] with no lines; [`Error::UnknownChar`] for a character not in `vocab` (a line
/// break inside a line is one, as it is the end marker).
pub fn lines_dataset(lines: &[&str], vocab: &CharVocab) -> Result<Dataset> {
    if lines.is_empty() {
        return Err(Error::Empty("no lines to build a dataset from".into()));
    }
    let encoded: Vec<Vec<u32>> = lines
        .iter()
        .map(|l| {
            if let Some(position) = l.chars().position(|c| c == crate::vocab::END) {
                return Err(Error::UnknownChar { ch: crate::vocab::END, position });
            }
            vocab.encode(l)
        })
        .collect::<Result<_>>()?;
    let t = encoded.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let n = encoded.len();
    let (mut x, mut y) = (Vec::with_capacity(n * t), Vec::with_capacity(n * t));
    for ids in &encoded {
        x.push(0);
        x.extend_from_slice(ids);
        y.extend_from_slice(ids);
        y.push(0);
        x.extend(std::iter::repeat_n(0, t - 1 - ids.len()));
        y.extend(std::iter::repeat_n(IGNORE, t - 1 - ids.len()));
    }
    let x = Tensor::from_vec(x, (n, t), &Device::Cpu)?;
    let y = Tensor::from_vec(y, (n, t), &Device::Cpu)?;
    Ok(Dataset::new(x, y)?)
}

/// Consecutive, non-overlapping windows of a long id stream: row `r` is `x = ids[rw .. rw + w]`,
/// `y = ids[rw + 1 .. rw + w + 1]` (the leftover tail shorter than a window is dropped).
///
/// # Errors
/// [`Error::Invalid`] for `window == 0`; [`Error::Empty`] when `ids` holds fewer than `window + 1`
/// ids.
pub fn windows_dataset(ids: &[u32], window: usize) -> Result<Dataset> {
    if window == 0 {
        return Err(Error::invalid("window", "must be > 0"));
    }
    let rows = ids.len().saturating_sub(1) / window;
    if rows == 0 {
        return Err(Error::Empty(format!("{} ids are fewer than one window of {window} + 1", ids.len())));
    }
    let mut x = Vec::with_capacity(rows * window);
    let mut y = Vec::with_capacity(rows * window);
    for r in 0..rows {
        let s = r * window;
        x.extend_from_slice(&ids[s..s + window]);
        y.extend_from_slice(&ids[s + 1..s + window + 1]);
    }
    let x = Tensor::from_vec(x, (rows, window), &Device::Cpu)?;
    let y = Tensor::from_vec(y, (rows, window), &Device::Cpu)?;
    Ok(Dataset::new(x, y)?)
}

/// Counts of each id among the targets `y` (any shape of `u32`), [`IGNORE`] skipped.
///
/// # Errors
/// [`Error::UnknownId`] for an id `>= vocab_size` other than [`IGNORE`].
pub fn target_counts(y: &Tensor, vocab_size: usize) -> Result<Vec<u64>> {
    let mut counts = vec![0u64; vocab_size];
    for id in y.flatten_all()?.to_vec1::<u32>()? {
        if id == IGNORE {
            continue;
        }
        let slot = counts.get_mut(id as usize).ok_or(Error::UnknownId { id, size: vocab_size })?;
        *slot += 1;
    }
    Ok(counts)
}

/// Per-character perplexity on targets `dev` of the unigram model fitted on targets `train`
/// (character frequencies with add-one smoothing): the baseline a language model must beat.
///
/// # Errors
/// [`Error::Empty`] when `dev` has no targets; [`Error::UnknownId`] as [`target_counts`].
pub fn unigram_perplexity(train: &Tensor, dev: &Tensor, vocab_size: usize) -> Result<f64> {
    let fit = target_counts(train, vocab_size)?;
    let total = fit.iter().sum::<u64>() as f64 + vocab_size as f64;
    let test = target_counts(dev, vocab_size)?;
    let n: u64 = test.iter().sum();
    if n == 0 {
        return Err(Error::Empty("no dev targets for the unigram perplexity".into()));
    }
    let nll: f64 = fit.iter().zip(&test).map(|(&f, &c)| -(c as f64) * ((f as f64 + 1.0) / total).ln()).sum();
    Ok((nll / n as f64).exp())
}
