//! Verses to padded word-id tensors, and word vectors to an embedding table whose row 0 is padding.
//!
//! Ids are `1 + ` the word's row in the [`KeyedVectors`]; id [`PAD`] (0) fills the end of short
//! verses and has an all-zero vector. Words without a vector are skipped and counted, never an error.
//!
//! ```
//! use dls_nlp::classify::WordIndex;
//! use dls_nlp::vectors::KeyedVectors;
//! let kv = KeyedVectors::new(vec!["light".into(), "day".into()], 1, vec![0.5, -0.5])?;
//! let index = WordIndex::new(&kv)?;
//! assert_eq!(index.encode("Let there be light!")?, (vec![1], 3));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use dls_foundations::data::Dataset;

use crate::classify::canon::LabelledVerse;
use crate::vectors::KeyedVectors;
use crate::vocab::Tokenizer;
use crate::{Error, Result};

/// The padding id; its embedding row is zero.
pub const PAD: u32 = 0;

/// Maps words to embedding ids (`1..=words`), tokenising text as [`Tokenizer`] does.
pub struct WordIndex {
    index: HashMap<String, u32>,
    tokenizer: Tokenizer,
}

/// Counts gathered while encoding verses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Verses encoded.
    pub verses: usize,
    /// Tokens with a vector (kept, before truncation).
    pub known: usize,
    /// Tokens without a vector (skipped).
    pub unknown: usize,
    /// Verses longer than the maximum length (cut at the end).
    pub truncated: usize,
    /// Verses with no known word at all (all padding).
    pub empty: usize,
}

impl EncodeStats {
    /// The fraction of tokens skipped as unknown (0 with no tokens).
    pub fn unknown_rate(&self) -> f64 {
        let total = self.known + self.unknown;
        if total == 0 {
            0.0
        } else {
            self.unknown as f64 / total as f64
        }
    }
}

impl WordIndex {
    /// An index over the words of `vectors` (word `i` gets id `i + 1`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when there are more words than `u32` ids.
    pub fn new(vectors: &KeyedVectors) -> Result<Self> {
        let words = vectors.words();
        if words.len() >= u32::MAX as usize {
            return Err(Error::invalid("word index", format!("{} words exceed u32 ids", words.len())));
        }
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32 + 1)).collect();
        Ok(Self { index, tokenizer: Tokenizer::new() })
    }

    /// Rows of the embedding table: the words plus the padding row.
    pub fn rows(&self) -> usize {
        self.index.len() + 1
    }

    /// The id of `word` (already normalised), if it has a vector.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// The ids of the words of `text` that have a vector, and the number of words that do not.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the tokeniser fails.
    pub fn encode(&self, text: &str) -> Result<(Vec<u32>, usize)> {
        let words = self.tokenizer.words(text)?;
        let ids: Vec<u32> = words.iter().filter_map(|w| self.id(w)).collect();
        let unknown = words.len() - ids.len();
        Ok((ids, unknown))
    }

    /// Encodes `verses` as ids `u32 [n, time]` padded with [`PAD`] (time = the longest verse, at
    /// most `max_len` words; longer verses keep their first `max_len` words) and labels `u32 [n]`
    /// (the section ids).
    ///
    /// # Errors
    /// [`Error::Empty`] for no verses, [`Error::Invalid`] for `max_len == 0`, tokeniser and candle
    /// errors.
    pub fn dataset(
        &self,
        verses: &[&LabelledVerse],
        max_len: usize,
        device: &Device,
    ) -> Result<(Dataset, EncodeStats)> {
        if max_len == 0 {
            return Err(Error::invalid("max_len", "must be at least 1"));
        }
        if verses.is_empty() {
            return Err(Error::Empty("no verses to encode".into()));
        }
        let mut stats = EncodeStats { verses: verses.len(), ..Default::default() };
        let mut rows = Vec::with_capacity(verses.len());
        for v in verses {
            let (mut ids, unknown) = self.encode(&v.text)?;
            stats.known += ids.len();
            stats.unknown += unknown;
            stats.empty += usize::from(ids.is_empty());
            if ids.len() > max_len {
                stats.truncated += 1;
                ids.truncate(max_len);
            }
            rows.push(ids);
        }
        let time = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut flat = Vec::with_capacity(rows.len() * time);
        for r in &rows {
            flat.extend_from_slice(r);
            flat.extend(std::iter::repeat_n(PAD, time - r.len()));
        }
        let x = Tensor::from_vec(flat, (rows.len(), time), device)?;
        let labels: Vec<u32> = verses.iter().map(|v| v.section.id()).collect();
        let y = Tensor::from_vec(labels, verses.len(), device)?;
        Ok((Dataset::new(x, y)?, stats))
    }
}

/// The embedding table `[words + 1, dim]` of `vectors` in f32: row 0 (padding) zero, row `i + 1`
/// the vector of word `i`.
///
/// # Errors
/// Candle errors.
pub fn embedding_table(vectors: &KeyedVectors, device: &Device) -> Result<Tensor> {
    let dim = vectors.dim();
    let mut data = vec![0f32; dim];
    data.extend_from_slice(vectors.data());
    Ok(Tensor::from_vec(data, (vectors.len() + 1, dim), device)?)
}
