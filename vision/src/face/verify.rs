//! Face verification and identification (sheet 21) over embeddings.
//!
//! Verification ("is this the claimed person?") compares one distance with a threshold;
//! identification ("who is this?") finds the nearest of a [`Gallery`] of named embeddings and
//! accepts it only under the threshold. The threshold is chosen on a dev split of labelled pairs
//! ([`best_threshold`]); [`roc_curve`] and [`auc`] describe the whole trade-off.
//!
//! ```
//! use dls_vision::face::{auc, best_threshold};
//! // Distances of four pairs, and whether each pair is the same person.
//! let d = [0.1, 0.4, 0.3, 0.8];
//! let same = [true, true, false, false];
//! let choice = best_threshold(&d, &same)?;
//! assert_eq!(choice.accuracy, 0.75);
//! // Scores: higher means "same", so negate distances. One of four (same, different) pairs is
//! // ordered wrongly (0.4 vs 0.3): AUC = 3/4.
//! let scores: Vec<f64> = d.iter().map(|x| -x).collect();
//! assert_eq!(auc(&scores, &same)?, 0.75);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};

use crate::face::distance::Distance;
use crate::{Error, Result};

fn invalid(what: &str, message: String) -> Error {
    Error::Invalid { what: what.into(), message }
}

fn check_pairs(what: &str, values: &[f64], labels: &[bool]) -> Result<()> {
    if values.is_empty() || values.len() != labels.len() {
        return Err(invalid(
            what,
            format!("{} values for {} labels (need as many, at least one)", values.len(), labels.len()),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(what, format!("value {i} is not finite ({})", values[i])));
    }
    Ok(())
}

/// A threshold with the accuracy it reached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdChoice {
    /// Pairs with a distance `<=` this are declared the same identity.
    pub threshold: f64,
    /// Fraction of pairs classified correctly at that threshold.
    pub accuracy: f64,
}

/// Accuracy of declaring "same" when `distance <= threshold`.
///
/// # Errors
/// [`Error::Invalid`] when the lengths differ, are zero, or a distance is not finite.
pub fn accuracy_at(distances: &[f64], same: &[bool], threshold: f64) -> Result<f64> {
    check_pairs("distances", distances, same)?;
    let right = distances.iter().zip(same).filter(|&(&d, &s)| (d <= threshold) == s).count();
    Ok(right as f64 / distances.len() as f64)
}

/// The threshold of best accuracy on labelled pairs (a dev split). Candidates are the midpoints
/// between consecutive distinct distances, plus one below the smallest and one above the largest;
/// among equally accurate candidates the smallest wins.
///
/// # Errors
/// As [`accuracy_at`].
pub fn best_threshold(distances: &[f64], same: &[bool]) -> Result<ThresholdChoice> {
    check_pairs("distances", distances, same)?;
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]));
    // Threshold below everything: all pairs "different".
    let lowest = distances[order[0]];
    let mut correct = same.iter().filter(|&&s| !s).count() as i64;
    let mut best = (correct, lowest - 1.0);
    let mut k = 0;
    while k < order.len() {
        let d = distances[order[k]];
        // Move every pair at this distance to the "same" side.
        while k < order.len() && distances[order[k]] == d {
            correct += if same[order[k]] { 1 } else { -1 };
            k += 1;
        }
        let threshold = if k < order.len() { 0.5 * (d + distances[order[k]]) } else { d + 1.0 };
        if correct > best.0 {
            best = (correct, threshold);
        }
    }
    Ok(ThresholdChoice { threshold: best.1, accuracy: best.0 as f64 / distances.len() as f64 })
}

/// One point of a ROC curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RocPoint {
    /// Pairs scoring `>=` this are declared positive.
    pub threshold: f64,
    /// False-positive rate at that threshold.
    pub fpr: f64,
    /// True-positive rate at that threshold.
    pub tpr: f64,
}

/// The ROC curve of `scores` (higher means positive) against `positive` labels: one point per
/// distinct score, from the highest, after a first point `(0, 0)` at `+inf`; tied scores move
/// together (a diagonal step). For distances, pass their negatives.
///
/// # Errors
/// [`Error::Invalid`] for mismatched or empty inputs, non-finite scores, or labels of one class only.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Result<Vec<RocPoint>> {
    check_pairs("scores", scores, positive)?;
    let pos = positive.iter().filter(|&&p| p).count();
    let neg = positive.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(invalid(
            "labels",
            format!("a ROC curve needs both classes, got {pos} positive and {neg} negative"),
        ));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![RocPoint { threshold: f64::INFINITY, fpr: 0.0, tpr: 0.0 }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        while k < order.len() && scores[order[k]] == s {
            if positive[order[k]] {
                tp += 1;
            } else {
                fp += 1;
            }
            k += 1;
        }
        points.push(RocPoint { threshold: s, fpr: fp as f64 / neg as f64, tpr: tp as f64 / pos as f64 });
    }
    Ok(points)
}

/// Area under the ROC curve by the trapezoid rule: the probability that a random positive scores
/// above a random negative, ties counting one half.
///
/// # Errors
/// As [`roc_curve`].
pub fn auc(scores: &[f64], positive: &[bool]) -> Result<f64> {
    let points = roc_curve(scores, positive)?;
    Ok(points.windows(2).map(|w| (w[1].fpr - w[0].fpr) * 0.5 * (w[1].tpr + w[0].tpr)).sum())
}

/// Verification: whether two embeddings (each `[d]` or `[1, d]`) are close enough to be the same
/// identity, with their distance.
///
/// # Errors
/// [`Error::Invalid`] when the embeddings differ in size; candle errors for non-float tensors.
pub fn verify(a: &Tensor, b: &Tensor, threshold: f64, distance: Distance) -> Result<(bool, f64)> {
    let a = a.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let b = b.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let d = distance.between(&a, &b)?;
    Ok((d <= threshold, d))
}

/// The nearest gallery entry to a query.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// The entry's name.
    pub name: String,
    /// Its distance to the query.
    pub distance: f64,
}

/// A database of named embeddings for identification by nearest neighbour.
#[derive(Clone, Debug, Default)]
pub struct Gallery {
    distance: Distance,
    dim: Option<usize>,
    names: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

impl Gallery {
    /// An empty gallery comparing with `distance`.
    pub fn new(distance: Distance) -> Self {
        Self { distance, ..Self::default() }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Adds a named embedding (`[d]` or `[1, d]`; one name may have several).
    ///
    /// # Errors
    /// [`Error::Invalid`] when its size differs from the first entry's or it is empty.
    pub fn add(&mut self, name: impl Into<String>, embedding: &Tensor) -> Result<()> {
        let name = name.into();
        let v = embedding.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let dim = *self.dim.get_or_insert(v.len());
        if v.is_empty() || v.len() != dim {
            return Err(invalid("gallery entry", format!("{name}: expected {dim} values, got {}", v.len())));
        }
        self.names.push(name);
        self.embeddings.push(v);
        Ok(())
    }

    /// The nearest entry to `query`, or `None` when the gallery is empty or the nearest is farther
    /// than `threshold` (an unknown face).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the query's size differs from the gallery's.
    pub fn identify(&self, query: &Tensor, threshold: Option<f64>) -> Result<Option<Match>> {
        let q = query.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let mut best: Option<Match> = None;
        for (name, e) in self.names.iter().zip(&self.embeddings) {
            let d = self.distance.between(&q, e)?;
            if best.as_ref().is_none_or(|b| d < b.distance) {
                best = Some(Match { name: name.clone(), distance: d });
            }
        }
        Ok(best.filter(|m| threshold.is_none_or(|t| m.distance <= t)))
    }
}
