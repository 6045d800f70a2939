//! BLEU (sheet 28), reproducing sacrebleu 2.6.0: its tokenisers, smoothing methods, effective
//! order, closest-reference rule and signature, agreeing with it to 1e-9.
//!
//! References come as *streams*, as in sacrebleu: `refs[k][i]` is the k-th reference of segment
//! `i`, so each stream has one line per hypothesis.
//!
//! ```
//! use dls_nlp::bleu::{corpus_bleu, sentence_bleu};
//!
//! let hyps = ["The cat sat on the mat.", "It is raining today"];
//! let refs = [["The cat sat on a mat.", "Today it is raining."]];
//! let corpus = corpus_bleu(&hyps, &refs)?;
//! assert!((corpus.score - 35.59306358805563).abs() < 1e-9);
//! assert_eq!((corpus.sys_len, corpus.ref_len), (11, 12));
//! assert_eq!(corpus.signature(), "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
//!
//! let sentence = sentence_bleu("It is raining today", &["Today it is raining."])?;
//! assert!((sentence.score - 24.880469496253564).abs() < 1e-9);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

mod ngram;
mod score;
mod synthetic;
mod tokenize;
mod unicode;

use std::path::Path;

use rayon::prelude::*;

pub use ngram::BleuStats;
pub use score::{BleuScore, Signature, Smooth, SACREBLEU_VERSION};
pub use synthetic::synthetic_corpus;
pub use tokenize::Tokenizer;

use crate::{Error, Result};

/// The largest n-gram order supported (and sacrebleu's default).
pub const MAX_ORDER: usize = 4;

/// Segments per parallel work unit when scoring a corpus.
const CHUNK: usize = 512;

/// How BLEU is computed; the defaults are sacrebleu's corpus BLEU defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BleuConfig {
    /// Tokeniser applied to hypotheses and references (default `13a`).
    pub tokenizer: Tokenizer,
    /// Smoothing method (default `exp`).
    pub smooth: Smooth,
    /// Lowercase hypotheses and references before tokenising (default no).
    pub lowercase: bool,
    /// Average only over the orders the hypothesis has n-grams of (sacrebleu's
    /// `use_effective_order`); meant for sentence BLEU (default no).
    pub effective_order: bool,
    /// Largest n-gram order, 1..=4 (default 4).
    pub max_ngram_order: usize,
}

impl Default for BleuConfig {
    fn default() -> Self {
        Self {
            tokenizer: Tokenizer::default(),
            smooth: Smooth::default(),
            lowercase: false,
            effective_order: false,
            max_ngram_order: MAX_ORDER,
        }
    }
}

impl BleuConfig {
    /// sacrebleu's `sentence_bleu` defaults: the corpus defaults with the effective order on.
    pub fn sentence() -> Self {
        Self { effective_order: true, ..Self::default() }
    }
}

/// A BLEU scorer with a fixed configuration.
#[derive(Clone, Debug)]
pub struct Bleu {
    config: BleuConfig,
}

/// Buffers reused across the segments of one work unit.
#[derive(Default)]
struct Workspace {
    counter: ngram::Counter,
    hyp: String,
    refs: Vec<String>,
    a: String,
    b: String,
}

impl Bleu {
    /// A scorer for `config`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `max_ngram_order` is not in 1..=4 or the smoothing value is
    /// negative or not finite.
    pub fn new(config: BleuConfig) -> Result<Self> {
        if !(1..=MAX_ORDER).contains(&config.max_ngram_order) {
            return Err(Error::invalid(
                "max_ngram_order",
                format!("expected 1..={MAX_ORDER}, got {}", config.max_ngram_order),
            ));
        }
        config.smooth.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &BleuConfig {
        &self.config
    }

    /// The signature of a score computed with `nrefs` reference streams.
    pub fn signature(&self, nrefs: usize) -> Signature {
        Signature {
            nrefs,
            lowercase: self.config.lowercase,
            effective_order: self.config.effective_order,
            tokenizer: self.config.tokenizer,
            smooth: self.config.smooth,
        }
    }

    /// A line as BLEU sees it: lowercased if configured, trailing whitespace removed, tokenised
    /// (sacrebleu's `BLEU._preprocess_segment`).
    pub fn preprocess(&self, line: &str) -> String {
        let lower = self.config.lowercase.then(|| line.to_lowercase());
        self.config.tokenizer.tokenize(unicode::py_rstrip(lower.as_deref().unwrap_or(line)))
    }

    /// Writes the preprocessed `line` into `out` in a form whose whitespace-split words are the
    /// tokens (without sacrebleu's final re-joining, which does not change them).
    fn preprocess_into(&self, line: &str, out: &mut String, a: &mut String, b: &mut String) {
        let lower = self.config.lowercase.then(|| line.to_lowercase());
        let text = unicode::py_rstrip(lower.as_deref().unwrap_or(line));
        let words = self.config.tokenizer.words(text, a, b);
        out.clear();
        out.push_str(words);
    }

    /// The statistics of segment `i` (whose references are `refs[k][i]`).
    fn segment_stats<R, S>(&self, hyp: &str, refs: &[R], i: usize, ws: &mut Workspace) -> BleuStats
    where
        R: AsRef<[S]>,
        S: AsRef<str>,
    {
        ws.refs.resize_with(refs.len(), String::new);
        for (stream, buf) in refs.iter().zip(ws.refs.iter_mut()) {
            let line = stream.as_ref().get(i).map_or("", |s| s.as_ref());
            self.preprocess_into(line, buf, &mut ws.a, &mut ws.b);
        }
        self.preprocess_into(hyp, &mut ws.hyp, &mut ws.a, &mut ws.b);
        let refs = ws.refs.iter().map(String::as_str);
        ws.counter.segment(&ws.hyp, refs, self.config.max_ngram_order)
    }

    /// Sufficient statistics of a corpus: per-segment statistics summed over segments.
    ///
    /// `refs[k][i]` is the k-th reference of hypothesis `i`. Segments are processed in parallel.
    ///
    /// # Errors
    /// [`Error::Empty`] for no hypotheses or no reference streams; [`Error::Length`] when a
    /// reference stream does not have one line per hypothesis.
    pub fn corpus_stats<H, R, S>(&self, hyps: &[H], refs: &[R]) -> Result<BleuStats>
    where
        H: AsRef<str> + Sync,
        R: AsRef<[S]> + Sync,
        S: AsRef<str>,
    {
        check_streams(hyps.len(), refs)?;
        let stats = hyps
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut ws = Workspace::default();
                let mut sum = BleuStats::default();
                for (j, hyp) in chunk.iter().enumerate() {
                    sum += self.segment_stats(hyp.as_ref(), refs, c * CHUNK + j, &mut ws);
                }
                sum
            })
            .reduce(BleuStats::default, |mut a, b| {
                a += b;
                a
            });
        Ok(stats)
    }

    /// Corpus BLEU of `hyps` against the reference streams `refs` (`refs[k][i]` is the k-th
    /// reference of hypothesis `i`), as sacrebleu's `BLEU.corpus_score`.
    ///
    /// # Errors
    /// As [`Bleu::corpus_stats`].
    pub fn corpus_score<H, R, S>(&self, hyps: &[H], refs: &[R]) -> Result<BleuScore>
    where
        H: AsRef<str> + Sync,
        R: AsRef<[S]> + Sync,
        S: AsRef<str>,
    {
        let stats = self.corpus_stats(hyps, refs)?;
        Ok(self.score_stats(&stats, refs.len()))
    }

    /// BLEU of one hypothesis against its references, as sacrebleu's `BLEU.sentence_score`.
    ///
    /// # Errors
    /// [`Error::Empty`] when `refs` is empty.
    pub fn sentence_score<S: AsRef<str>>(&self, hyp: &str, refs: &[S]) -> Result<BleuScore> {
        if refs.is_empty() {
            return Err(Error::Empty("references: a sentence needs at least one reference".into()));
        }
        let streams: Vec<[&str; 1]> = refs.iter().map(|r| [r.as_ref()]).collect();
        let stats = self.segment_stats(hyp, &streams, 0, &mut Workspace::default());
        Ok(self.score_stats(&stats, refs.len()))
    }

    /// The score of already-summed statistics (for bootstrap resampling or incremental scoring).
    pub fn score_stats(&self, stats: &BleuStats, nrefs: usize) -> BleuScore {
        score::score_from_stats(stats, self.config.max_ngram_order, self.signature(nrefs))
    }
}

/// Checks that there are segments, reference streams, and one reference line per segment.
fn check_streams<R: AsRef<[S]>, S>(n_hyps: usize, refs: &[R]) -> Result<()> {
    if n_hyps == 0 {
        return Err(Error::Empty("hypotheses: the corpus has no segments".into()));
    }
    if refs.is_empty() {
        return Err(Error::Empty("references: at least one reference stream is needed".into()));
    }
    for (k, stream) in refs.iter().enumerate() {
        let got = stream.as_ref().len();
        if got != n_hyps {
            return Err(Error::length(
                format!("reference stream {k} (one line per hypothesis)"),
                n_hyps,
                got,
            ));
        }
    }
    Ok(())
}

/// The lines of a UTF-8 text file as sacrebleu's command line reads them: split on `\n` only, a
/// final newline does not start another line (trailing whitespace is left for [`Bleu`] to strip).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the line of the first
/// invalid UTF-8 byte.
pub fn read_lines(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes().get(..at).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + 1;
        Error::format(path.display().to_string(), Some(line), format!("invalid UTF-8 at byte {at}"))
    })?;
    Ok(text.split_terminator('\n').map(str::to_owned).collect())
}

/// Corpus BLEU with sacrebleu's defaults (`13a`, `exp` smoothing, mixed case).
///
/// # Errors
/// As [`Bleu::corpus_stats`].
pub fn corpus_bleu<H, R, S>(hyps: &[H], refs: &[R]) -> Result<BleuScore>
where
    H: AsRef<str> + Sync,
    R: AsRef<[S]> + Sync,
    S: AsRef<str>,
{
    Bleu::new(BleuConfig::default())?.corpus_score(hyps, refs)
}

/// Sentence BLEU with sacrebleu's `sentence_bleu` defaults (`exp` smoothing, effective order).
///
/// # Errors
/// [`Error::Empty`] when `refs` is empty.
pub fn sentence_bleu<S: AsRef<str>>(hyp: &str, refs: &[S]) -> Result<BleuScore> {
    Bleu::new(BleuConfig::sentence())?.sentence_score(hyp, refs)
}
