//! Word-vector benchmarks: analogy questions (Mikolov et al.'s `questions-words.txt`) and word-pair
//! similarity (WordSim-353, SimLex-999), scored the way gensim's `evaluate_word_analogies` and
//! `evaluate_word_pairs` score them.
//!
//! Words are matched case-insensitively against the first `restrict_vocab` words (the most frequent
//! word wins when two differ only in case); a question or pair with an unknown word is skipped and
//! counted as out of vocabulary. Analogy accuracy is over the covered questions.
//!
//! ```
//! use dls_nlp::vectors::{eval, Analogy, KeyedVectors};
//! let words = ["man", "woman", "king", "queen"].map(String::from).to_vec();
//! let kv = KeyedVectors::new(words, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.2, 0.2, 1.0])?;
//! let questions = ": family\nman woman king queen\nman woman boy girl\n";
//! let report = eval::analogies(&kv, questions, "inline", Analogy::Add, 300_000)?;
//! assert_eq!((report.correct, report.incorrect, report.oov), (1, 0, 1));
//! assert!((report.accuracy() - 1.0).abs() < 1e-12);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use super::{Analogy, KeyedVectors};
use crate::{Error, Result};

/// Counts for one `: section` of an analogy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The section name (after the `: `).
    pub name: String,
    /// Questions answered correctly.
    pub correct: usize,
    /// Covered questions answered wrongly.
    pub incorrect: usize,
}

/// The outcome of an analogy evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalogyReport {
    /// Per-section counts, in file order.
    pub sections: Vec<Section>,
    /// Correct answers over all sections.
    pub correct: usize,
    /// Wrong answers over all sections.
    pub incorrect: usize,
    /// Questions skipped because a word is out of vocabulary.
    pub oov: usize,
}

impl AnalogyReport {
    /// Accuracy over the covered questions (0 when none is covered).
    pub fn accuracy(&self) -> f64 {
        let n = self.correct + self.incorrect;
        if n == 0 {
            0.0
        } else {
            self.correct as f64 / n as f64
        }
    }

    /// Fraction of all questions whose four words are in the vocabulary.
    pub fn covered(&self) -> f64 {
        let n = self.correct + self.incorrect + self.oov;
        if n == 0 {
            0.0
        } else {
            (self.correct + self.incorrect) as f64 / n as f64
        }
    }
}

/// Lower-cased word → original key, first (most frequent) key winning, over the first `limit` words.
fn folded(kv: &KeyedVectors, limit: usize) -> HashMap<String, &str> {
    let mut map = HashMap::new();
    for w in kv.words().iter().take(limit) {
        map.entry(w.to_lowercase()).or_insert(w.as_str());
    }
    map
}

/// Evaluates analogy questions `a b c d` (`a : b :: c : d`) given as text; `: name` lines open sections.
///
/// # Errors
/// [`Error::Format`] with the line number for a question without four words or a question before
/// any section.
pub fn analogies(
    kv: &KeyedVectors,
    text: &str,
    name: &str,
    method: Analogy,
    restrict_vocab: usize,
) -> Result<AnalogyReport> {
    let vocab = folded(kv, restrict_vocab);
    let limit = restrict_vocab.min(kv.len());
    let mut report = AnalogyReport { sections: Vec::new(), correct: 0, incorrect: 0, oov: 0 };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix(':') {
            report.sections.push(Section { name: section.trim().to_string(), correct: 0, incorrect: 0 });
            continue;
        }
        let section = report
            .sections
            .last_mut()
            .ok_or_else(|| Error::format(name, Some(i + 1), "question before the first `: section` line"))?;
        let q: Vec<String> = line.split_whitespace().map(str::to_lowercase).collect();
        if q.len() != 4 {
            return Err(Error::format(name, Some(i + 1), format!("expected 4 words, found {}", q.len())));
        }
        let keys: Option<Vec<&str>> = q.iter().map(|w| vocab.get(w).copied()).collect();
        let Some(keys) = keys else {
            report.oov += 1;
            continue;
        };
        let (a, b, c, expected) = (keys[0], keys[1], keys[2], &q[3]);
        let sims = match method {
            Analogy::Add => kv.most_similar_limited(&[b, c], &[a], 5, limit)?,
            Analogy::Mul => kv.most_similar_cosmul(&[b, c], &[a], 5, limit)?,
        };
        let ignore = [&q[0], &q[1], &q[2]];
        let predicted = sims
            .iter()
            .map(|(w, _)| w.to_lowercase())
            .find(|w| vocab.contains_key(w) && !ignore.contains(&w));
        if predicted.as_ref() == Some(expected) {
            section.correct += 1;
            report.correct += 1;
        } else {
            section.incorrect += 1;
            report.incorrect += 1;
        }
    }
    Ok(report)
}

/// The outcome of a word-pair similarity evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimilarityReport {
    /// Pearson correlation of model cosine and human score over the covered pairs.
    pub pearson: f64,
    /// Spearman rank correlation (average ranks for ties) over the covered pairs.
    pub spearman: f64,
    /// Pairs scored.
    pub pairs: usize,
    /// Pairs skipped because a word is out of vocabulary.
    pub oov: usize,
}

impl SimilarityReport {
    /// Fraction of pairs skipped, gensim's `oov_ratio` (as a fraction, not a percentage).
    pub fn oov_ratio(&self) -> f64 {
        let n = self.pairs + self.oov;
        if n == 0 {
            0.0
        } else {
            self.oov as f64 / n as f64
        }
    }
}

/// Evaluates `word1<TAB>word2<TAB>score` lines (`#` lines are comments).
///
/// # Errors
/// [`Error::Format`] with the line number for a line without three fields or a non-numeric score,
/// [`Error::Empty`] if fewer than two pairs are covered.
pub fn similarity(
    kv: &KeyedVectors,
    text: &str,
    name: &str,
    restrict_vocab: usize,
) -> Result<SimilarityReport> {
    let vocab = folded(kv, restrict_vocab);
    let (mut model, mut human, mut oov) = (Vec::new(), Vec::new(), 0);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [a, b, score] = fields[..] else {
            return Err(Error::format(
                name,
                Some(i + 1),
                format!("expected 3 tab-separated fields, found {}", fields.len()),
            ));
        };
        let score: f64 = score
            .trim()
            .parse()
            .map_err(|_| Error::format(name, Some(i + 1), format!("score {score:?} is not a number")))?;
        match (vocab.get(&a.to_lowercase()), vocab.get(&b.to_lowercase())) {
            (Some(a), Some(b)) => {
                model.push(f64::from(kv.similarity(a, b)?));
                human.push(score);
            }
            _ => oov += 1,
        }
    }
    if model.len() < 2 {
        return Err(Error::Empty(format!("{name}: fewer than two word pairs in the vocabulary")));
    }
    Ok(SimilarityReport {
        pearson: pearson(&model, &human),
        spearman: spearman(&model, &human),
        pairs: model.len(),
        oov,
    })
}

/// Pearson correlation of two equally long samples (0 when either is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n == 0.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Ranks starting at 1, ties sharing their average rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation: Pearson of the average ranks (scipy's `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}
