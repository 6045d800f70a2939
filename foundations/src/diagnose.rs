//! Bias, variance and data-mismatch diagnosis against a human-level baseline (sheets 05 and 12),
//! and error-analysis tallies over misclassified dev examples (sheet 11).
//!
//! Human-level error stands in for Bayes error. The gap from it to training error is the
//! *avoidable bias*; from training to training-dev (or dev) error the *variance*; from
//! training-dev to dev error the *data mismatch*; from dev to test error *overfitting to the dev
//! set*. The largest gap says what to work on next.
//!
//! ```
//! use dls_foundations::diagnose::{diagnose, ErrorRates, Verdict};
//! let rates = ErrorRates { human: 0.01, train: 0.08, train_dev: None, dev: 0.10, test: None };
//! let d = diagnose(&rates)?;
//! assert!((d.avoidable_bias - 0.07).abs() < 1e-12);
//! assert!((d.variance - 0.02).abs() < 1e-12);
//! assert_eq!(d.verdict, Verdict::HighAvoidableBias);
//! # Ok::<(), dls_foundations::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Gaps no larger than this (half a percentage point) count as small in [`diagnose`].
pub const DEFAULT_BALANCED_THRESHOLD: f64 = 0.005;

/// Error rates of one model, as fractions in `[0, 1]` (0.08 is 8 %).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRates {
    /// Human-level error, the proxy for Bayes error (use the best human performance available).
    pub human: f64,
    /// Error on the training set.
    pub train: f64,
    /// Error on a training-dev set (held-out data from the training distribution), if there is one.
    pub train_dev: Option<f64>,
    /// Error on the dev set.
    pub dev: f64,
    /// Error on the test set, if measured.
    pub test: Option<f64>,
}

/// The problem to work on first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Training error is far above human level: the model underfits.
    HighAvoidableBias,
    /// Held-out error is far above training error: the model overfits.
    HighVariance,
    /// Dev error is far above training-dev error: dev data differs from training data.
    DataMismatch,
    /// Test error is far above dev error: the dev set has been overfitted by tuning.
    DevOverfitting,
    /// Every gap is within the threshold.
    Balanced,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::HighAvoidableBias => "high avoidable bias",
            Verdict::HighVariance => "high variance",
            Verdict::DataMismatch => "data mismatch",
            Verdict::DevOverfitting => "overfitting to the dev set",
            Verdict::Balanced => "balanced",
        })
    }
}

/// The gaps between successive error rates, the verdict and the course's advice for it.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// The rates diagnosed.
    pub rates: ErrorRates,
    /// Training error minus human-level error (negative once the model beats the human baseline).
    pub avoidable_bias: f64,
    /// Training-dev error minus training error, or dev minus training error without a training-dev set.
    pub variance: f64,
    /// Dev error minus training-dev error (only with a training-dev set).
    pub data_mismatch: Option<f64>,
    /// Test error minus dev error (only with a test error).
    pub dev_overfitting: Option<f64>,
    /// The largest gap above the threshold, or [`Verdict::Balanced`].
    pub verdict: Verdict,
    /// What the course suggests trying for the verdict.
    pub advice: Vec<String>,
}

/// [`diagnose_with`] with [`DEFAULT_BALANCED_THRESHOLD`].
///
/// # Errors
/// As [`diagnose_with`].
pub fn diagnose(rates: &ErrorRates) -> Result<Diagnosis> {
    diagnose_with(rates, DEFAULT_BALANCED_THRESHOLD)
}

/// Computes the gaps and names the largest one as the verdict; when no gap exceeds `threshold`
/// the verdict is [`Verdict::Balanced`]. Equal gaps are broken in the course's order of work:
/// bias, then variance, then mismatch, then dev overfitting.
///
/// # Errors
/// [`Error::Invalid`] naming the field when a rate is NaN or outside `[0, 1]`, or when
/// `threshold` is negative or not finite.
pub fn diagnose_with(rates: &ErrorRates, threshold: f64) -> Result<Diagnosis> {
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(Error::invalid("threshold", format!("expected a finite value >= 0, got {threshold}")));
    }
    let fields = [
        ("human", Some(rates.human)),
        ("train", Some(rates.train)),
        ("train_dev", rates.train_dev),
        ("dev", Some(rates.dev)),
        ("test", rates.test),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::invalid(
                    format!("error rate `{name}`"),
                    format!("expected a fraction in [0, 1], got {v}"),
                ));
            }
        }
    }
    let avoidable_bias = rates.train - rates.human;
    let variance = rates.train_dev.unwrap_or(rates.dev) - rates.train;
    let data_mismatch = rates.train_dev.map(|td| rates.dev - td);
    let dev_overfitting = rates.test.map(|t| t - rates.dev);

    let candidates = [
        (Verdict::HighAvoidableBias, Some(avoidable_bias)),
        (Verdict::HighVariance, Some(variance)),
        (Verdict::DataMismatch, data_mismatch),
        (Verdict::DevOverfitting, dev_overfitting),
    ];
    let mut verdict = Verdict::Balanced;
    let mut largest = threshold;
    for (v, gap) in candidates {
        if let Some(g) = gap {
            if g > largest {
                largest = g;
                verdict = v;
            }
        }
    }
    let mut advice = advice_for(verdict);
    if avoidable_bias < 0.0 {
        advice.push(
            "training error is below the human-level estimate: the avoidable bias is unknown; \
             look for a better estimate of Bayes error (expert panels) before chasing bias"
                .into(),
        );
    }
    Ok(Diagnosis {
        rates: rates.clone(),
        avoidable_bias,
        variance,
        data_mismatch,
        dev_overfitting,
        verdict,
        advice,
    })
}

/// The course's remedies for each problem.
pub fn advice_for(verdict: Verdict) -> Vec<String> {
    let lines: &[&str] = match verdict {
        Verdict::HighAvoidableBias => &[
            "train a bigger network (more layers or hidden units)",
            "train longer or use a better optimiser (momentum, RMSProp, Adam)",
            "search for a better architecture or hyperparameters",
        ],
        Verdict::HighVariance => &[
            "get more training data",
            "regularise: L2, dropout, data augmentation",
            "search for a better architecture or hyperparameters",
        ],
        Verdict::DataMismatch => &[
            "do error analysis to see how dev data differs from training data",
            "make training data more like dev data (e.g. artificial data synthesis)",
            "collect more training data like the dev set",
        ],
        Verdict::DevOverfitting => &["get a bigger dev set"],
        Verdict::Balanced => &[
            "no gap stands out: do error analysis on dev errors, or compare with a better human-level estimate",
        ],
    };
    lines.iter().map(|s| s.to_string()).collect()
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// One line of the report: set name, its error rate (if measured), and the gap to the line
/// before with the gap's name.
type Row<'a> = (&'a str, Option<f64>, Option<(f64, &'a str)>);

/// A report table: each error rate, the gap to the one before it and that gap's name, the
/// verdict and the advice.
impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.rates;
        let rows: [Row<'_>; 5] = [
            ("human-level", Some(r.human), None),
            ("training", Some(r.train), Some((self.avoidable_bias, "avoidable bias"))),
            ("training-dev", r.train_dev, r.train_dev.map(|_| (self.variance, "variance"))),
            (
                "dev",
                Some(r.dev),
                match self.data_mismatch {
                    Some(m) => Some((m, "data mismatch")),
                    None => Some((self.variance, "variance")),
                },
            ),
            ("test", r.test, self.dev_overfitting.map(|g| (g, "dev overfitting"))),
        ];
        writeln!(f, "{:<14}{:>9}{:>10}  gap", "set", "error", "")?;
        for (name, rate, gap) in rows {
            let Some(rate) = rate else { continue };
            match gap {
                Some((g, label)) => writeln!(f, "{name:<14}{:>9}{:>10}  {label}", pct(rate), pct(g))?,
                None => writeln!(f, "{name:<14}{:>9}", pct(rate))?,
            }
        }
        writeln!(f, "verdict: {}", self.verdict)?;
        for a in &self.advice {
            writeln!(f, "  - {a}")?;
        }
        Ok(())
    }
}

/// One row of an [`ErrorAnalysis`] table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TagCount {
    /// The tag (a category of error such as "dog", "blurry", "mislabelled").
    pub tag: String,
    /// How many examined examples carry the tag.
    pub count: usize,
    /// `count` over the number of examples examined.
    pub share_of_errors: f64,
}

/// Tallies of hand-assigned tags over misclassified dev examples (sheet 11's spreadsheet).
///
/// Each examined example gets any number of tags; an example may carry several, so shares can
/// sum past 1. Mislabelled examples are just another tag.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ErrorAnalysis {
    examples: BTreeMap<usize, BTreeSet<String>>,
}

impl ErrorAnalysis {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that misclassified example `example_id` was examined and carries `tags`.
    /// Recording the same id again adds its new tags without counting the example twice;
    /// an example with no tags still counts as examined.
    pub fn record(&mut self, example_id: usize, tags: &[&str]) {
        let set = self.examples.entry(example_id).or_default();
        set.extend(tags.iter().map(|t| t.to_string()));
    }

    /// The number of distinct examples examined.
    pub fn total_examined(&self) -> usize {
        self.examples.len()
    }

    /// Each tag's count and share of the examined errors, most frequent first (ties by name).
    pub fn table(&self) -> Vec<TagCount> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for tags in self.examples.values() {
            for t in tags {
                *counts.entry(t.as_str()).or_default() += 1;
            }
        }
        let total = self.total_examined();
        let mut rows: Vec<TagCount> = counts
            .into_iter()
            .map(|(tag, count)| TagCount {
                tag: tag.to_string(),
                count,
                share_of_errors: share(count, total),
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.tag.cmp(&b.tag)));
        rows
    }

    /// The ceiling on improvement from fixing `tag`: the share of examined errors that carry it
    /// (0 for an unknown tag or when nothing was examined).
    pub fn ceiling(&self, tag: &str) -> f64 {
        let count = self.examples.values().filter(|t| t.contains(tag)).count();
        share(count, self.total_examined())
    }

    /// The error rate left if every error carrying `tag` were fixed, starting from `error`
    /// (sheet 11: fixing dogs that are 5 % of errors takes 10 % error to 9.5 % at best).
    pub fn error_after_fixing(&self, tag: &str, error: f64) -> f64 {
        error * (1.0 - self.ceiling(tag))
    }

    /// The ids of the examined examples carrying `tag`, in increasing order.
    pub fn examples_with(&self, tag: &str) -> Vec<usize> {
        self.examples.iter().filter(|(_, t)| t.contains(tag)).map(|(&id, _)| id).collect()
    }
}

fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// An aligned table of tags, counts and shares, most frequent first.
impl fmt::Display for ErrorAnalysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.table();
        let width = rows.iter().map(|r| r.tag.len()).chain(["tag".len()]).max().unwrap_or(3);
        writeln!(f, "{:<width$}  {:>6}  {:>7}", "tag", "count", "share")?;
        for r in &rows {
            writeln!(f, "{:<width$}  {:>6}  {:>6.1}%", r.tag, r.count, r.share_of_errors * 100.0)?;
        }
        writeln!(f, "examined: {}", self.total_examined())
    }
}
