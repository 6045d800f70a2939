//! Decoding (sheet 27): greedy search and beam search over any next-token model.
//!
//! A [`Scorer`] gives the log-probabilities of the next token after a prefix; the trained
//! [`super::Seq2Seq`] implements it through [`super::SourceScorer`], and [`TableScorer`]
//! plays back a hand-made distribution (used in tests and the docs).
//!
//! **Beam search** of width `k` keeps the `k` most probable prefixes. At each step every live
//! prefix is extended by its best tokens and the best `k - f` extensions survive, where `f`
//! hypotheses have already ended: a hypothesis that emits the end token (or reaches `max_len`
//! tokens) leaves the beam for the n-best list, and the beam narrows. Search stops early once all
//! `k` hypotheses have ended, and always after `max_len` tokens (the end token counts; hypotheses
//! cut there are returned with `ended == false`).
//!
//! Ranking within a step uses the summed log-probability (all live prefixes have the same length).
//! The n-best list is sorted by the **length-normalised** score, since plain log-probabilities
//! favour short outputs; with `n` the number of tokens produced (the end token included):
//!
//! ```text
//! LengthPenalty::None         score = log P
//! LengthPenalty::Power(α)     score = log P / n^α                 (the course's 1/Ty^α, α ≈ 0.7)
//! LengthPenalty::Gnmt(α)      score = log P / ((5 + n) / 6)^α     (Wu et al. 2016, GNMT)
//! ```
//!
//! ```
//! use dls_nlp::seq2seq::search::{greedy, BeamConfig, TableScorer};
//! let scorer = TableScorer::new(2, vec![(vec![], vec![0.25, 0.75]), (vec![1], vec![1.0, 0.0])])?;
//! let out = greedy(&scorer, &BeamConfig { eos: 0, ..Default::default() })?;
//! assert_eq!(out.tokens, vec![1, 0]);
//! assert!((out.log_prob - 0.75f64.ln()).abs() < 1e-12);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A model of the next token: the log-probabilities over the vocabulary after each prefix.
pub trait Scorer {
    /// Whatever the model carries from one token to the next (a recurrent state, the prefix).
    type State: Clone;

    /// The state before any token and the log-probabilities of the first token.
    ///
    /// # Errors
    /// The model's errors.
    fn start(&self) -> Result<(Self::State, Vec<f64>)>;

    /// For each `(state, token)`: the state after reading `token` and the log-probabilities of the
    /// token after it. Implementations may score the items as one batch.
    ///
    /// # Errors
    /// The model's errors, such as a token outside its vocabulary.
    fn extend(&self, items: &[(&Self::State, u32)]) -> Result<Vec<(Self::State, Vec<f64>)>>;
}

/// How the n-best list is ranked (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum LengthPenalty {
    /// The summed log-probability.
    #[default]
    None,
    /// `log P / n^α`.
    Power(f64),
    /// `log P / ((5 + n) / 6)^α`.
    Gnmt(f64),
}

impl LengthPenalty {
    /// The normalised score of a sequence of `len` tokens with summed log-probability `log_prob`.
    pub fn score(self, log_prob: f64, len: usize) -> f64 {
        let n = len.max(1) as f64;
        match self {
            LengthPenalty::None => log_prob,
            LengthPenalty::Power(a) => log_prob / n.powf(a),
            LengthPenalty::Gnmt(a) => log_prob / ((5.0 + n) / 6.0).powf(a),
        }
    }
}

/// Settings of [`greedy`] and [`beam_search`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeamConfig {
    /// Beam width `k` (greedy ignores it); also the most hypotheses returned.
    pub width: usize,
    /// The most tokens generated, the end token included.
    pub max_len: usize,
    /// The end-of-sequence token.
    pub eos: u32,
    /// Ranking of the n-best list.
    pub penalty: LengthPenalty,
}

impl Default for BeamConfig {
    fn default() -> Self {
        Self { width: 3, max_len: 50, eos: 2, penalty: LengthPenalty::None }
    }
}

impl BeamConfig {
    fn check(&self, greedy: bool) -> Result<()> {
        if (!greedy && self.width == 0) || self.max_len == 0 {
            return Err(Error::invalid(
                "beam config",
                format!("width and max_len must be > 0, got {} and {}", self.width, self.max_len),
            ));
        }
        Ok(())
    }
}

/// A generated sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// The tokens, the end token included when it was produced.
    pub tokens: Vec<u32>,
    /// Summed log-probability of the tokens.
    pub log_prob: f64,
    /// Length-normalised score (what the n-best list is sorted by).
    pub score: f64,
    /// Whether the sequence ended with the end token (`false`: cut at `max_len`).
    pub ended: bool,
}

impl Hypothesis {
    fn new(tokens: Vec<u32>, log_prob: f64, cfg: &BeamConfig) -> Self {
        let ended = tokens.last() == Some(&cfg.eos);
        let score = cfg.penalty.score(log_prob, tokens.len());
        Self { tokens, log_prob, score, ended }
    }

    /// The tokens without the end token.
    pub fn content(&self) -> &[u32] {
        if self.ended {
            &self.tokens[..self.tokens.len().saturating_sub(1)]
        } else {
            &self.tokens
        }
    }
}

fn pick(row: &[f64], token: u32) -> Result<f64> {
    row.get(token as usize).copied().ok_or_else(|| {
        Error::invalid("token", format!("{token} is outside the scorer's {} log-probabilities", row.len()))
    })
}

fn argmax(row: &[f64]) -> Result<u32> {
    let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)));
    best.map(|(i, _)| i as u32).ok_or_else(|| Error::Empty("scorer returned no log-probabilities".into()))
}

/// Greedy decoding: the most probable token at every step, until the end token or `max_len`.
///
/// # Errors
/// [`Error::Invalid`] for a zero `max_len`; the scorer's errors.
pub fn greedy<S: Scorer>(scorer: &S, cfg: &BeamConfig) -> Result<Hypothesis> {
    cfg.check(true)?;
    let (mut state, mut row) = scorer.start()?;
    let (mut tokens, mut log_prob) = (Vec::new(), 0.0);
    loop {
        let token = argmax(&row)?;
        log_prob += pick(&row, token)?;
        tokens.push(token);
        if token == cfg.eos || tokens.len() >= cfg.max_len {
            break;
        }
        let mut next = scorer.extend(&[(&state, token)])?;
        (state, row) = next.pop().ok_or_else(|| Error::Empty("scorer returned no state".into()))?;
    }
    Ok(Hypothesis::new(tokens, log_prob, cfg))
}

/// The summed log-probability the scorer gives `tokens` (forced decoding).
///
/// # Errors
/// [`Error::Empty`] for no tokens; the scorer's errors.
pub fn sequence_log_prob<S: Scorer>(scorer: &S, tokens: &[u32]) -> Result<f64> {
    let (first, rest) = tokens.split_first().ok_or_else(|| Error::Empty("no tokens to score".into()))?;
    let (mut state, row) = scorer.start()?;
    let mut total = pick(&row, *first)?;
    let mut prev = *first;
    for &t in rest {
        let mut next = scorer.extend(&[(&state, prev)])?;
        let (s, row) = next.pop().ok_or_else(|| Error::Empty("scorer returned no state".into()))?;
        total += pick(&row, t)?;
        state = s;
        prev = t;
    }
    Ok(total)
}

struct Live<S> {
    tokens: Vec<u32>,
    log_prob: f64,
    state: S,
    next: Vec<f64>,
}

/// Beam search of width `cfg.width`: the n-best list (at most `width` hypotheses), sorted by
/// normalised score, best first.
///
/// # Errors
/// [`Error::Invalid`] for a zero width or `max_len`; the scorer's errors.
pub fn beam_search<S: Scorer>(scorer: &S, cfg: &BeamConfig) -> Result<Vec<Hypothesis>> {
    cfg.check(false)?;
    let (state, next) = scorer.start()?;
    let mut live = vec![Live { tokens: Vec::new(), log_prob: 0.0, state, next }];
    let mut done: Vec<Hypothesis> = Vec::with_capacity(cfg.width);
    while !live.is_empty() && done.len() < cfg.width {
        let width = cfg.width - done.len();
        // (log P, beam, token), the best `width` tokens of each live beam.
        let mut cands: Vec<(f64, usize, u32)> = Vec::with_capacity(live.len() * width);
        for (b, beam) in live.iter().enumerate() {
            let mut order: Vec<u32> = (0..beam.next.len() as u32).collect();
            order.sort_by(|&x, &y| beam.next[y as usize].total_cmp(&beam.next[x as usize]).then(x.cmp(&y)));
            cands
                .extend(order.into_iter().take(width).map(|t| (beam.log_prob + beam.next[t as usize], b, t)));
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        cands.truncate(width);
        let mut grow: Vec<(usize, u32, f64)> = Vec::with_capacity(cands.len());
        for (lp, b, t) in cands {
            let len = live[b].tokens.len() + 1;
            if t == cfg.eos || len >= cfg.max_len {
                let mut tokens = live[b].tokens.clone();
                tokens.push(t);
                done.push(Hypothesis::new(tokens, lp, cfg));
            } else {
                grow.push((b, t, lp));
            }
        }
        if grow.is_empty() {
            break;
        }
        let items: Vec<(&S::State, u32)> = grow.iter().map(|&(b, t, _)| (&live[b].state, t)).collect();
        let states = scorer.extend(&items)?;
        if states.len() != grow.len() {
            return Err(Error::length("scorer states", grow.len(), states.len()));
        }
        live = grow
            .into_iter()
            .zip(states)
            .map(|((b, t, lp), (state, next))| {
                let mut tokens = live[b].tokens.clone();
                tokens.push(t);
                Live { tokens, log_prob: lp, state, next }
            })
            .collect();
    }
    done.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(done)
}

/// A next-token table for tests and demonstrations: the probabilities after each listed prefix;
/// any prefix not listed gets the uniform distribution.
#[derive(Clone, Debug)]
pub struct TableScorer {
    vocab: usize,
    rows: HashMap<Vec<u32>, Vec<f64>>,
}

impl TableScorer {
    /// A table over `vocab` tokens from `(prefix, probabilities)` rows.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero vocabulary or a row that is not a distribution over `vocab`
    /// tokens (wrong length, negative entries, sum not 1 within 1e-6).
    pub fn new(vocab: usize, rows: Vec<(Vec<u32>, Vec<f64>)>) -> Result<Self> {
        if vocab == 0 {
            return Err(Error::invalid("table scorer", "vocabulary is empty"));
        }
        let mut map = HashMap::with_capacity(rows.len());
        for (prefix, p) in rows {
            let sum: f64 = p.iter().sum();
            if p.len() != vocab || p.iter().any(|x| x.is_nan() || *x < 0.0) || (sum - 1.0).abs() > 1e-6 {
                return Err(Error::invalid(
                    "table scorer row",
                    format!("after {prefix:?}: expected {vocab} probabilities summing to 1, got {p:?}"),
                ));
            }
            map.insert(prefix, p.iter().map(|x| x.ln()).collect());
        }
        Ok(Self { vocab, rows: map })
    }

    fn row(&self, prefix: &[u32]) -> Vec<f64> {
        self.rows.get(prefix).cloned().unwrap_or_else(|| vec![-(self.vocab as f64).ln(); self.vocab])
    }
}

impl Scorer for TableScorer {
    type State = Vec<u32>;

    fn start(&self) -> Result<(Vec<u32>, Vec<f64>)> {
        Ok((Vec::new(), self.row(&[])))
    }

    fn extend(&self, items: &[(&Vec<u32>, u32)]) -> Result<Vec<(Vec<u32>, Vec<f64>)>> {
        items
            .iter()
            .map(|&(prefix, t)| {
                if t as usize >= self.vocab {
                    return Err(Error::invalid(
                        "token",
                        format!("{t} is outside the table's {} tokens", self.vocab),
                    ));
                }
                let mut p = prefix.clone();
                p.push(t);
                let row = self.row(&p);
                Ok((p, row))
            })
            .collect()
    }
}
