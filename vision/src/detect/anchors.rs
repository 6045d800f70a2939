//! Anchor boxes (sheet 20): prior box shapes a detector predicts offsets from. A ground-truth
//! box is assigned to the anchor whose *shape* matches it best: the IoU of the two boxes with
//! their centres put together, `min(w) min(h) / (w₁h₁ + w₂h₂ - min(w) min(h))`. YOLOv2 chose its
//! anchors by k-means over the training boxes with the distance `1 - shape IoU`
//! ([`kmeans_anchors`]).

use crate::{Error, Result};

/// An anchor's width and height (in the units of the boxes it is compared with).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Anchor {
    /// An anchor `w` wide and `h` high.
    pub fn new(w: f32, h: f32) -> Self {
        Self { w, h }
    }
}

/// IoU of two box shapes `(w, h)` with their centres aligned; 0 when both are empty.
pub fn shape_iou(a: (f32, f32), b: (f32, f32)) -> f32 {
    let inter = a.0.min(b.0).max(0.0) * a.1.min(b.1).max(0.0);
    let union = a.0.max(0.0) * a.1.max(0.0) + b.0.max(0.0) * b.1.max(0.0) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Index of the anchor with the largest shape IoU with a `w x h` box (the first on ties);
/// `None` when `anchors` is empty.
pub fn best_anchor(w: f32, h: f32, anchors: &[Anchor]) -> Option<usize> {
    anchors
        .iter()
        .enumerate()
        .map(|(i, a)| (i, shape_iou((w, h), (a.w, a.h))))
        .fold(None, |best: Option<(usize, f32)>, (i, iou)| match best {
            Some((_, b)) if b >= iou => best,
            _ => Some((i, iou)),
        })
        .map(|(i, _)| i)
}

/// `k` anchors from box shapes `(w, h)` by k-means with the distance `1 - shape IoU`, starting
/// from the shapes at the `(i + 0.5) / k` quantiles of area (deterministic, no seed needed) and
/// stopping after `iterations` rounds or when no assignment changes. Returned sorted by area.
///
/// # Errors
/// [`Error::Invalid`] when `k` is 0 or larger than the number of boxes, or a shape is not
/// positive and finite.
pub fn kmeans_anchors(shapes: &[(f32, f32)], k: usize, iterations: usize) -> Result<Vec<Anchor>> {
    if k == 0 || k > shapes.len() {
        return Err(Error::Invalid {
            what: "k-means anchors".into(),
            message: format!("need 1 <= k <= {} boxes, got k = {k}", shapes.len()),
        });
    }
    if let Some(bad) = shapes.iter().find(|(w, h)| !(w.is_finite() && h.is_finite() && *w > 0.0 && *h > 0.0))
    {
        return Err(Error::Invalid {
            what: "k-means anchors".into(),
            message: format!("box shapes must be positive and finite, got {bad:?}"),
        });
    }
    let mut sorted = shapes.to_vec();
    sorted.sort_by(|a, b| (a.0 * a.1).total_cmp(&(b.0 * b.1)));
    let mut centres: Vec<(f32, f32)> =
        (0..k).map(|i| sorted[((2 * i + 1) * sorted.len() / (2 * k)).min(sorted.len() - 1)]).collect();
    let mut assign = vec![usize::MAX; shapes.len()];
    for _ in 0..iterations {
        let mut changed = false;
        for (s, a) in shapes.iter().zip(assign.iter_mut()) {
            let anchors: Vec<Anchor> = centres.iter().map(|&(w, h)| Anchor::new(w, h)).collect();
            let best = best_anchor(s.0, s.1, &anchors).unwrap_or(0);
            changed |= *a != best;
            *a = best;
        }
        if !changed {
            break;
        }
        for (j, c) in centres.iter_mut().enumerate() {
            let members: Vec<&(f32, f32)> =
                shapes.iter().zip(&assign).filter(|(_, &a)| a == j).map(|(s, _)| s).collect();
            if !members.is_empty() {
                let n = members.len() as f32;
                *c = (
                    members.iter().map(|s| s.0).sum::<f32>() / n,
                    members.iter().map(|s| s.1).sum::<f32>() / n,
                );
            }
        }
    }
    centres.sort_by(|a, b| (a.0 * a.1).total_cmp(&(b.0 * b.1)));
    Ok(centres.into_iter().map(|(w, h)| Anchor::new(w, h)).collect())
}
