//! Keyed word vectors: cosine similarity, nearest neighbours, analogies, the odd one out.
//!
//! [`KeyedVectors`] follows gensim's `KeyedVectors` semantics: queries average the unit-normalised
//! vectors of their words, input words are excluded from the answers, 3CosAdd is `most_similar`
//! and 3CosMul is `most_similar_cosmul` (Levy and Goldberg, 2014). Submodules: [`io`] (word2vec
//! text and binary, GloVe text), [`eval`] (analogy and similarity benchmarks), [`debias`].
//!
//! ```
//! use dls_nlp::vectors::{Analogy, KeyedVectors};
//! let words = ["man", "woman", "king", "queen"].map(String::from).to_vec();
//! let kv = KeyedVectors::new(words, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.2, 0.2, 1.0])?;
//! assert!((kv.similarity("man", "woman")? - 0.0).abs() < 1e-6);
//! assert_eq!(kv.analogy("man", "woman", "king", Analogy::Add)?, "queen");
//! # Ok::<(), dls_nlp::Error>(())
//! ```

pub mod debias;
pub mod eval;
pub mod io;

use std::collections::HashMap;

use crate::dense::{dot, norm, unit};
use crate::{Error, Result};

/// How an analogy `a : b :: c : ?` is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Analogy {
    /// 3CosAdd: the word closest to `b - a + c` (unit vectors), gensim's `most_similar`.
    Add,
    /// 3CosMul: maximises `cos'(x,b) cos'(x,c) / (cos'(x,a) + 1e-6)` with `cos' = (1 + cos) / 2`,
    /// gensim's `most_similar_cosmul`.
    Mul,
}

/// Words and their `dim`-dimensional vectors, row-major, with cached unit-norm copies.
#[derive(Clone, Debug)]
pub struct KeyedVectors {
    words: Vec<String>,
    index: HashMap<String, usize>,
    dim: usize,
    data: Vec<f32>,
    unit: Vec<f32>,
}

fn missing(word: &str) -> Error {
    Error::invalid("word", format!("{word:?} is not in the vocabulary"))
}

impl KeyedVectors {
    /// Vectors for `words`: `data` holds `words.len() * dim` values, row `i` for word `i`.
    ///
    /// # Errors
    /// [`Error::Length`] if `data` has the wrong length, [`Error::Invalid`] for `dim == 0` or a
    /// repeated word.
    pub fn new(words: Vec<String>, dim: usize, data: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("dim", "vectors must have at least one dimension"));
        }
        if data.len() != words.len() * dim {
            return Err(Error::length("vector data", words.len() * dim, data.len()));
        }
        let mut index = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if index.insert(w.clone(), i).is_some() {
                return Err(Error::invalid("words", format!("{w:?} appears twice")));
            }
        }
        let unit = data.chunks_exact(dim).flat_map(unit).collect();
        Ok(Self { words, index, dim, data, unit })
    }

    /// The words, in row order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The vector size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All vectors, row-major `[len, dim]`.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The row of `word`, if present.
    pub fn id(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The vector of `word`, if present.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        self.id(word).and_then(|i| self.data.get(i * self.dim..(i + 1) * self.dim))
    }

    /// The vector of `word`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `word` is unknown.
    pub fn vector(&self, word: &str) -> Result<&[f32]> {
        self.get(word).ok_or_else(|| missing(word))
    }

    fn unit_row(&self, i: usize) -> &[f32] {
        &self.unit[i * self.dim..(i + 1) * self.dim]
    }

    fn unit_of(&self, word: &str) -> Result<&[f32]> {
        self.id(word).map(|i| self.unit_row(i)).ok_or_else(|| missing(word))
    }

    /// Replaces the vector of `word`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `word` is unknown, [`Error::Length`] if `v` is not `dim` long.
    pub fn set_vector(&mut self, word: &str, v: &[f32]) -> Result<()> {
        let i = self.id(word).ok_or_else(|| missing(word))?;
        if v.len() != self.dim {
            return Err(Error::length("vector", self.dim, v.len()));
        }
        let d = self.dim;
        self.data[i * d..(i + 1) * d].copy_from_slice(v);
        self.unit[i * d..(i + 1) * d].copy_from_slice(&unit(v));
        Ok(())
    }

    /// Cosine similarity of two words.
    ///
    /// # Errors
    /// [`Error::Invalid`] if either word is unknown.
    pub fn similarity(&self, a: &str, b: &str) -> Result<f32> {
        Ok(dot(self.unit_of(a)?, self.unit_of(b)?))
    }

    /// Cosine similarity of every word to the unit vector `query`, restricted to the first `limit` rows.
    fn scores(&self, query: &[f32], limit: usize) -> Vec<f32> {
        self.unit.chunks_exact(self.dim).take(limit).map(|row| dot(row, query)).collect()
    }

    fn top(&self, scores: &[f32], exclude: &[usize], topn: usize) -> Vec<(String, f32)> {
        let mut order: Vec<usize> = (0..scores.len()).filter(|i| !exclude.contains(i)).collect();
        let key = |i: &usize| scores.get(*i).copied().unwrap_or(f32::NEG_INFINITY);
        let k = topn.min(order.len());
        if k == 0 {
            return Vec::new();
        }
        order.select_nth_unstable_by(k - 1, |a, b| key(b).total_cmp(&key(a)));
        order.truncate(k);
        order.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.cmp(b)));
        order.into_iter().map(|i| (self.words[i].clone(), key(&i))).collect()
    }

    fn ids(&self, words: &[&str]) -> Result<Vec<usize>> {
        words.iter().map(|w| self.id(w).ok_or_else(|| missing(w))).collect()
    }

    /// The `topn` words closest (cosine) to the mean of the unit vectors of `positive` minus those of
    /// `negative`, excluding the query words; `limit` restricts candidates to the first rows (the most
    /// frequent words for a trained vocabulary), as gensim's `restrict_vocab`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if a word is unknown or no word is given.
    pub fn most_similar_limited(
        &self,
        positive: &[&str],
        negative: &[&str],
        topn: usize,
        limit: usize,
    ) -> Result<Vec<(String, f32)>> {
        if positive.is_empty() && negative.is_empty() {
            return Err(Error::invalid("query", "most_similar needs at least one word"));
        }
        let pos = self.ids(positive)?;
        let neg = self.ids(negative)?;
        let mut mean = vec![0f32; self.dim];
        for (&i, sign) in pos.iter().map(|i| (i, 1.0)).chain(neg.iter().map(|i| (i, -1.0))) {
            crate::dense::axpy(sign, self.unit_row(i), &mut mean);
        }
        let n = (pos.len() + neg.len()) as f32;
        mean.iter_mut().for_each(|v| *v /= n);
        let query = unit(&mean);
        let scores = self.scores(&query, limit);
        let exclude: Vec<usize> = pos.into_iter().chain(neg).collect();
        Ok(self.top(&scores, &exclude, topn))
    }

    /// [`KeyedVectors::most_similar_limited`] over the whole vocabulary (3CosAdd for analogies).
    ///
    /// # Errors
    /// As [`KeyedVectors::most_similar_limited`].
    pub fn most_similar(
        &self,
        positive: &[&str],
        negative: &[&str],
        topn: usize,
    ) -> Result<Vec<(String, f32)>> {
        self.most_similar_limited(positive, negative, topn, self.len())
    }

    /// 3CosMul neighbours: `prod_p cos'(x,p) / (prod_n cos'(x,n) + 1e-6)`, `cos' = (1 + cos) / 2`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if a word is unknown or `positive` is empty.
    pub fn most_similar_cosmul(
        &self,
        positive: &[&str],
        negative: &[&str],
        topn: usize,
        limit: usize,
    ) -> Result<Vec<(String, f32)>> {
        if positive.is_empty() {
            return Err(Error::invalid("query", "most_similar_cosmul needs a positive word"));
        }
        let pos = self.ids(positive)?;
        let neg = self.ids(negative)?;
        let shifted = |i: usize| -> Vec<f32> {
            self.scores(self.unit_row(i), limit).into_iter().map(|c| (1.0 + c) / 2.0).collect()
        };
        let mut num = vec![1f32; limit.min(self.len())];
        for &p in &pos {
            num.iter_mut().zip(shifted(p)).for_each(|(a, b)| *a *= b);
        }
        let mut den = vec![1f32; num.len()];
        for &q in &neg {
            den.iter_mut().zip(shifted(q)).for_each(|(a, b)| *a *= b);
        }
        let scores: Vec<f32> = num.iter().zip(&den).map(|(a, b)| a / (b + 1e-6)).collect();
        let exclude: Vec<usize> = pos.into_iter().chain(neg).collect();
        Ok(self.top(&scores, &exclude, topn))
    }

    /// Answers `a : b :: c : ?` (e.g. `man : king :: woman : queen`).
    ///
    /// # Errors
    /// [`Error::Invalid`] if a word is unknown or every word is a query word.
    pub fn analogy(&self, a: &str, b: &str, c: &str, method: Analogy) -> Result<String> {
        let best = match method {
            Analogy::Add => self.most_similar(&[b, c], &[a], 1)?,
            Analogy::Mul => self.most_similar_cosmul(&[b, c], &[a], 1, self.len())?,
        };
        best.into_iter()
            .next()
            .map(|(w, _)| w)
            .ok_or_else(|| Error::invalid("query", "no candidate word outside the query"))
    }

    /// The word least similar to the mean of the others' unit vectors (gensim's `doesnt_match`);
    /// unknown words are ignored.
    ///
    /// # Errors
    /// [`Error::Empty`] if none of `words` is known.
    pub fn doesnt_match(&self, words: &[&str]) -> Result<String> {
        let known: Vec<(&str, usize)> = words.iter().filter_map(|w| self.id(w).map(|i| (*w, i))).collect();
        if known.is_empty() {
            return Err(Error::Empty("doesnt_match: none of the words is in the vocabulary".into()));
        }
        let mut mean = vec![0f32; self.dim];
        for &(_, i) in &known {
            crate::dense::axpy(1.0, self.unit_row(i), &mut mean);
        }
        let query = unit(&mean);
        let mut best = (known[0].0, f32::INFINITY);
        for &(w, i) in &known {
            let s = dot(self.unit_row(i), &query);
            if s < best.1 {
                best = (w, s);
            }
        }
        Ok(best.0.to_string())
    }

    /// The Euclidean norm of `word`'s vector.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `word` is unknown.
    pub fn norm(&self, word: &str) -> Result<f32> {
        Ok(norm(self.vector(word)?))
    }
}
