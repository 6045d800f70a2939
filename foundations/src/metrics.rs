//! Single-number evaluation metrics (sheet 10): accuracy, precision, recall, F1 and the
//! confusion matrix they all come from.
//!
//! The course's advice is to pick one optimising metric (accuracy, or F1 when classes are skewed)
//! so that two models can be compared at a glance; these functions give that number.
//!
//! ```
//! use dls_foundations::metrics::{binary_scores, ConfusionMatrix};
//! let pred = [0, 1, 1, 2, 2, 2];
//! let truth = [0, 1, 2, 2, 2, 0];
//! let cm = ConfusionMatrix::from_predictions(&pred, &truth, 3)?;
//! assert!((cm.accuracy() - 4.0 / 6.0).abs() < 1e-12);
//! assert!((cm.precision(2)? - 2.0 / 3.0).abs() < 1e-12);
//! let s = binary_scores(&[true, true, false, false], &[true, false, true, false])?;
//! assert!((s.f1 - 0.5).abs() < 1e-12);
//! # Ok::<(), dls_foundations::Error>(())
//! ```

use std::fmt;

use candle_core::{DType, Tensor, D};
use serde::Serialize;

use crate::{Error, Result};

/// Checks that two slices have the same, non-zero length.
fn check_pair(what: &str, pred_len: usize, truth_len: usize) -> Result<()> {
    if pred_len != truth_len {
        return Err(Error::shape(what, format!("as many predictions as labels ({truth_len})"), pred_len));
    }
    if pred_len == 0 {
        return Err(Error::Empty(format!("{what}: no predictions")));
    }
    Ok(())
}

/// The fraction of positions where `pred` equals `truth`.
///
/// # Errors
/// [`Error::Shape`] when the lengths differ, [`Error::Empty`] when both are empty.
pub fn accuracy(pred: &[u32], truth: &[u32]) -> Result<f64> {
    check_pair("accuracy", pred.len(), truth.len())?;
    let correct = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / pred.len() as f64)
}

/// The index of the largest entry of each row: logits `[n, k]` (any float dtype) -> `n` class ids.
///
/// Ties go to the lowest index.
///
/// # Errors
/// [`Error::Shape`] when `logits` is not rank 2 or has no columns.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    let (_, k) = logits.dims2().map_err(|_| Error::shape("argmax_rows logits", "[n, k]", logits.dims()))?;
    if k == 0 {
        return Err(Error::shape("argmax_rows logits", "[n, k] with k >= 1", logits.dims()));
    }
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

/// Accuracy of a classifier's raw outputs against its labels.
///
/// * multi-class: `logits` `[n, k]` with `k > 1` and integer labels (`u8`, `u32` or `i64`) `[n]`;
///   the prediction is the row's argmax.
/// * binary: `logits` `[n, 1]` with float labels `[n, 1]` or `[n]` holding 0 or 1; the prediction
///   is positive when the logit is `> 0` (a sigmoid output above 0.5).
///
/// # Errors
/// [`Error::Shape`] for shapes that do not match, [`Error::Invalid`] for a label outside the classes
/// (or not 0/1 in the binary case) or labels of the wrong dtype, [`Error::Empty`] when `n == 0`.
pub fn accuracy_from_logits(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    let (n, k) = logits.dims2().map_err(|_| Error::shape("accuracy logits", "[n, k]", logits.dims()))?;
    if k == 0 {
        return Err(Error::shape("accuracy logits", "[n, k] with k >= 1", logits.dims()));
    }
    if n == 0 {
        return Err(Error::Empty("accuracy_from_logits: no rows".into()));
    }
    if k == 1 {
        let ok_shape = labels.dims() == [n, 1] || labels.dims() == [n];
        if !ok_shape {
            return Err(Error::shape("binary labels", format!("[{n}, 1] or [{n}]"), labels.dims()));
        }
        if !labels.dtype().is_float() {
            return Err(Error::invalid(
                "binary labels",
                format!("expected a float dtype, got {:?}", labels.dtype()),
            ));
        }
        let z = logits.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let y = labels.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let mut correct = 0usize;
        for (i, (zi, yi)) in z.iter().zip(&y).enumerate() {
            let truth = if *yi == 1.0 {
                true
            } else if *yi == 0.0 {
                false
            } else {
                return Err(Error::invalid("binary labels", format!("label {i} is {yi}, expected 0 or 1")));
            };
            if (*zi > 0.0) == truth {
                correct += 1;
            }
        }
        return Ok(correct as f64 / n as f64);
    }
    if labels.dims() != [n] {
        return Err(Error::shape("class labels", format!("[{n}]"), labels.dims()));
    }
    let truth: Vec<u32> = match labels.dtype() {
        DType::U8 | DType::U32 | DType::I64 => {
            let wide = labels.to_dtype(DType::I64)?.to_vec1::<i64>()?;
            let mut out = Vec::with_capacity(n);
            for (i, &t) in wide.iter().enumerate() {
                match u32::try_from(t) {
                    Ok(c) if (c as usize) < k => out.push(c),
                    _ => {
                        return Err(Error::invalid(
                            "class labels",
                            format!("label {i} is {t}, expected 0..{k}"),
                        ))
                    }
                }
            }
            out
        }
        other => {
            return Err(Error::invalid("class labels", format!("expected u8, u32 or i64, got {other:?}")));
        }
    };
    accuracy(&argmax_rows(logits)?, &truth)
}

/// Counts of (true class, predicted class) pairs for a `classes`-way classifier.
///
/// Rows are true classes, columns predicted classes. Per-class precision, recall and F1 follow
/// the binary rule of [`binary_scores`]: a ratio whose denominator is zero is defined as 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
    labels: Option<Vec<String>>,
}

impl ConfusionMatrix {
    /// An empty `classes x classes` matrix.
    pub fn new(classes: usize) -> Self {
        Self { classes, counts: vec![0; classes * classes], labels: None }
    }

    /// A matrix filled from parallel slices of predicted and true class ids.
    ///
    /// # Errors
    /// [`Error::Shape`] for slices of different lengths, [`Error::Empty`] when they are empty,
    /// [`Error::Invalid`] for a class id `>= classes`.
    pub fn from_predictions(pred: &[u32], truth: &[u32], classes: usize) -> Result<Self> {
        check_pair("confusion matrix", pred.len(), truth.len())?;
        let mut cm = Self::new(classes);
        for (&p, &t) in pred.iter().zip(truth) {
            cm.add(p, t)?;
        }
        Ok(cm)
    }

    /// Names the classes for [`Display`](fmt::Display) (one label per class).
    ///
    /// # Errors
    /// [`Error::Shape`] when the number of labels is not the number of classes.
    pub fn with_labels<S: AsRef<str>>(mut self, labels: &[S]) -> Result<Self> {
        if labels.len() != self.classes {
            return Err(Error::shape(
                "confusion matrix labels",
                format!("{} labels", self.classes),
                labels.len(),
            ));
        }
        self.labels = Some(labels.iter().map(|s| s.as_ref().to_string()).collect());
        Ok(self)
    }

    /// Records one example predicted as `pred` whose true class is `truth`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when either id is `>= classes`.
    pub fn add(&mut self, pred: u32, truth: u32) -> Result<()> {
        let (p, t) =
            (self.class(pred as usize, "predicted class")?, self.class(truth as usize, "true class")?);
        let cell = t * self.classes + p;
        if let Some(c) = self.counts.get_mut(cell) {
            *c += 1;
        }
        Ok(())
    }

    fn class(&self, c: usize, what: &str) -> Result<usize> {
        if c < self.classes {
            Ok(c)
        } else {
            Err(Error::invalid(what, format!("class {c} is out of range 0..{}", self.classes)))
        }
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The number of examples recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// How many examples of true class `truth` were predicted as `pred`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when either id is `>= classes`.
    pub fn get(&self, truth: usize, pred: usize) -> Result<u64> {
        let (t, p) = (self.class(truth, "true class")?, self.class(pred, "predicted class")?);
        Ok(self.cell(t, p))
    }

    fn cell(&self, t: usize, p: usize) -> u64 {
        self.counts.get(t * self.classes + p).copied().unwrap_or(0)
    }

    /// True positives, predicted positives and actual positives of class `c` (in range).
    fn tallies(&self, c: usize) -> (u64, u64, u64) {
        let tp = self.cell(c, c);
        let predicted = (0..self.classes).map(|t| self.cell(t, c)).sum();
        let actual = (0..self.classes).map(|p| self.cell(c, p)).sum();
        (tp, predicted, actual)
    }

    /// Precision of class `c`: of the examples predicted as `c`, the fraction that are `c`
    /// (0 when nothing was predicted as `c`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `c >= classes`.
    pub fn precision(&self, c: usize) -> Result<f64> {
        let (tp, predicted, _) = self.tallies(self.class(c, "class")?);
        Ok(ratio(tp, predicted))
    }

    /// Recall of class `c`: of the examples of class `c`, the fraction predicted as `c`
    /// (0 when there are none).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `c >= classes`.
    pub fn recall(&self, c: usize) -> Result<f64> {
        let (tp, _, actual) = self.tallies(self.class(c, "class")?);
        Ok(ratio(tp, actual))
    }

    /// F1 of class `c`, the harmonic mean of its precision and recall (0 when both are 0).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `c >= classes`.
    pub fn f1(&self, c: usize) -> Result<f64> {
        Ok(f1(self.precision(c)?, self.recall(c)?))
    }

    /// The unweighted mean of the per-class F1 scores over all classes (0 with no classes).
    pub fn macro_f1(&self) -> f64 {
        if self.classes == 0 {
            return 0.0;
        }
        let sum: f64 = (0..self.classes)
            .map(|c| {
                let (tp, predicted, actual) = self.tallies(c);
                f1(ratio(tp, predicted), ratio(tp, actual))
            })
            .sum();
        sum / self.classes as f64
    }

    /// The fraction of recorded examples on the diagonal (0 when nothing was recorded).
    pub fn accuracy(&self) -> f64 {
        let diag: u64 = (0..self.classes).map(|c| self.cell(c, c)).sum();
        ratio(diag, self.total())
    }

    fn label(&self, c: usize) -> String {
        match &self.labels {
            Some(l) => l.get(c).cloned().unwrap_or_else(|| c.to_string()),
            None => c.to_string(),
        }
    }
}

/// An aligned table: one row per true class, one column per predicted class.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let corner = "truth \\ pred";
        let labels: Vec<String> = (0..self.classes).map(|c| self.label(c)).collect();
        let first = labels.iter().map(String::len).chain([corner.len()]).max().unwrap_or(0);
        let width = labels
            .iter()
            .map(String::len)
            .chain(self.counts.iter().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1);
        write!(f, "{corner:<first$}")?;
        for l in &labels {
            write!(f, "  {l:>width$}")?;
        }
        writeln!(f)?;
        for (t, l) in labels.iter().enumerate() {
            write!(f, "{l:<first$}")?;
            for p in 0..self.classes {
                write!(f, "  {:>width$}", self.cell(t, p))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Precision, recall and F1 of a binary classifier.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BinaryScores {
    /// Of the predicted positives, the fraction that are positive (0 with no predicted positives).
    pub precision: f64,
    /// Of the actual positives, the fraction predicted positive (0 with no actual positives).
    pub recall: f64,
    /// The harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Precision, recall and F1 of binary predictions against the truth (`true` = positive class).
///
/// Edge cases are defined rather than NaN: a classifier that predicts no positives has
/// precision 0; with no actual positives recall is 0; F1 is 0 when precision and recall are both 0.
///
/// # Errors
/// [`Error::Shape`] when the lengths differ, [`Error::Empty`] when both are empty.
pub fn binary_scores(pred: &[bool], truth: &[bool]) -> Result<BinaryScores> {
    check_pair("binary_scores", pred.len(), truth.len())?;
    let (mut tp, mut predicted, mut actual) = (0u64, 0u64, 0u64);
    for (&p, &t) in pred.iter().zip(truth) {
        tp += u64::from(p && t);
        predicted += u64::from(p);
        actual += u64::from(t);
    }
    let (precision, recall) = (ratio(tp, predicted), ratio(tp, actual));
    Ok(BinaryScores { precision, recall, f1: f1(precision, recall) })
}
