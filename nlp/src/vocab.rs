//! Word vocabularies: a normalising word tokeniser, min-count filtering and frequency tables.
//!
//! Text is normalised (NFKC, lower case) and split into words by the `tokenizers` crate's
//! normaliser and `Whitespace` pre-tokeniser (`\w+|[^\w\s]+`); pieces without a letter or digit
//! (punctuation) are dropped. [`Vocab`] counts the words, keeps those seen at least `min_count`
//! times, sorted by decreasing count (ties by the word, so the order is deterministic), and
//! exports a `tokenizers` word-level model ([`Vocab::word_level`]).
//!
//! ```
//! use dls_nlp::vocab::{Tokenizer, Vocab};
//! let tok = Tokenizer::new();
//! assert_eq!(tok.words("God’s LIGHT, and the light.")?, ["god", "s", "light", "and", "the", "light"]);
//! let sentences = vec![tok.words("the light and the dark")?, tok.words("the light")?];
//! let vocab = Vocab::build(&sentences, 2)?;
//! assert_eq!(vocab.words(), ["the", "light"]);
//! assert_eq!(vocab.count(0), 3);
//! assert_eq!(vocab.total(), 5);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use tokenizers::normalizers::{Lowercase, Sequence, NFKC};
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

use crate::{Error, Result};

/// The unknown-word token of the exported word-level model.
pub const UNK: &str = "<unk>";

fn tok_err(e: tokenizers::Error) -> Error {
    Error::invalid("tokenizer", e.to_string())
}

/// A normalising word tokeniser: NFKC, lower case, `Whitespace` pre-tokenisation, punctuation dropped.
pub struct Tokenizer {
    normalizer: Sequence,
    pre: Whitespace,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    /// The tokeniser described in the module docs.
    pub fn new() -> Self {
        Self { normalizer: Sequence::new(vec![NFKC.into(), Lowercase.into()]), pre: Whitespace {} }
    }

    /// The words of `text`, normalised, punctuation removed.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the `tokenizers` normaliser or pre-tokeniser fails.
    pub fn words(&self, text: &str) -> Result<Vec<String>> {
        let mut normalized = NormalizedString::from(text);
        self.normalizer.normalize(&mut normalized).map_err(tok_err)?;
        let mut pre = PreTokenizedString::from(normalized);
        self.pre.pre_tokenize(&mut pre).map_err(tok_err)?;
        Ok(pre
            .get_splits(OffsetReferential::Normalized, OffsetType::Byte)
            .into_iter()
            .filter(|(piece, _, _)| piece.chars().any(char::is_alphanumeric))
            .map(|(piece, _, _)| piece.to_string())
            .collect())
    }

    /// A `tokenizers` tokenizer with this normaliser and pre-tokeniser around `vocab`'s word-level model.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the model cannot be built.
    pub fn with_vocab(&self, vocab: &Vocab) -> Result<tokenizers::Tokenizer> {
        let mut tok = tokenizers::Tokenizer::new(vocab.word_level()?);
        tok.with_normalizer(Some(self.normalizer.clone())).map_err(tok_err)?;
        tok.with_pre_tokenizer(Some(Whitespace {}));
        Ok(tok)
    }
}

/// Words kept by min-count, most frequent first, with their counts.
#[derive(Clone, Debug)]
pub struct Vocab {
    words: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
    total: u64,
}

impl Vocab {
    /// Counts the words of `sentences` and keeps those seen at least `min_count` times.
    ///
    /// # Errors
    /// [`Error::Empty`] if no word survives, [`Error::Invalid`] past `u32::MAX` words.
    pub fn build<S: AsRef<str>>(sentences: &[Vec<S>], min_count: u64) -> Result<Self> {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for s in sentences {
            for w in s {
                *counts.entry(w.as_ref()).or_default() += 1;
            }
        }
        let pairs = counts.into_iter().map(|(w, c)| (w.to_string(), c)).collect();
        Self::from_counts(pairs, min_count)
    }

    /// A vocabulary from `(word, count)` pairs, keeping counts `>= min_count`.
    ///
    /// # Errors
    /// [`Error::Empty`] if no word survives, [`Error::Invalid`] for a repeated word or past
    /// `u32::MAX` words.
    pub fn from_counts(mut pairs: Vec<(String, u64)>, min_count: u64) -> Result<Self> {
        pairs.retain(|(_, c)| *c >= min_count.max(1));
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if pairs.is_empty() {
            return Err(Error::Empty(format!("vocabulary: no word occurs at least {min_count} times")));
        }
        if pairs.len() > u32::MAX as usize {
            return Err(Error::invalid("vocabulary", format!("{} words exceed u32 ids", pairs.len())));
        }
        let mut index = HashMap::with_capacity(pairs.len());
        for (i, (w, _)) in pairs.iter().enumerate() {
            if index.insert(w.clone(), i as u32).is_some() {
                return Err(Error::invalid("vocabulary", format!("word {w:?} given twice")));
            }
        }
        let total = pairs.iter().map(|(_, c)| c).sum();
        let (words, counts) = pairs.into_iter().unzip();
        Ok(Self { words, counts, index, total })
    }

    /// The words, most frequent first (index = id).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The counts, aligned with [`Vocab::words`].
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The count of word `id` (0 for an unknown id).
    pub fn count(&self, id: usize) -> u64 {
        self.counts.get(id).copied().unwrap_or(0)
    }

    /// The number of words kept.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Always false: a vocabulary holds at least one word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Total count of the kept words (the corpus length after min-count filtering).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The id of `word`, if kept.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// Maps a tokenised sentence to ids, dropping words not in the vocabulary.
    pub fn encode<S: AsRef<str>>(&self, words: &[S]) -> Vec<u32> {
        words.iter().filter_map(|w| self.id(w.as_ref())).collect()
    }

    /// The vocabulary as a `tokenizers` word-level model; unknown words map to [`UNK`], whose id is
    /// `len()` (after the real words).
    ///
    /// # Errors
    /// [`Error::Invalid`] if `tokenizers` rejects the vocabulary.
    pub fn word_level(&self) -> Result<tokenizers::models::wordlevel::WordLevel> {
        let mut vocab: ahash::AHashMap<String, u32> =
            self.index.iter().map(|(w, &i)| (w.clone(), i)).collect();
        vocab.entry(UNK.to_string()).or_insert(self.words.len() as u32);
        tokenizers::models::wordlevel::WordLevel::builder()
            .vocab(vocab)
            .unk_token(UNK.to_string())
            .build()
            .map_err(tok_err)
    }
}
