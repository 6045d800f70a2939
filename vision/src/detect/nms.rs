//! Non-max suppression (sheet 20): keep the best-scoring box, drop the boxes that overlap it by
//! more than an IoU threshold, repeat. Per class (boxes of different classes never suppress each
//! other) or class-agnostic; soft-NMS (Bodla et al., 2017) decays overlapping scores instead of
//! dropping them, linearly (`s * (1 - IoU)` above the threshold) or with a Gaussian
//! (`s * exp(-IoU² / sigma)`).
//!
//! Ties in score keep their input order, so results are deterministic.

use super::boxes::Detection;
use crate::{Error, Result};

/// Whether boxes of different classes may suppress each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NmsMode {
    /// Only boxes of the same class compete (YOLO's usual post-processing).
    #[default]
    PerClass,
    /// All boxes compete, whatever their class.
    ClassAgnostic,
}

/// Settings of [`nms`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NmsConfig {
    /// A box is dropped when its IoU with a kept box is above this.
    pub iou_threshold: f32,
    /// Boxes scoring below this are dropped before suppression.
    pub score_threshold: f32,
    /// At most this many boxes are returned (over all classes).
    pub max_boxes: usize,
    /// Per class or class-agnostic.
    pub mode: NmsMode,
}

impl Default for NmsConfig {
    /// IoU 0.45, score 0.5, 100 boxes, per class.
    fn default() -> Self {
        Self { iou_threshold: 0.45, score_threshold: 0.5, max_boxes: 100, mode: NmsMode::PerClass }
    }
}

/// How soft-NMS lowers the score of a box overlapping a kept one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SoftNmsMethod {
    /// `s * (1 - IoU)` when the IoU is above the threshold, unchanged otherwise.
    Linear {
        /// IoU above which scores decay.
        iou_threshold: f32,
    },
    /// `s * exp(-IoU² / sigma)` for every overlap.
    Gaussian {
        /// Width of the penalty (0.5 in the paper).
        sigma: f32,
    },
}

/// Settings of [`soft_nms`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftNmsConfig {
    /// The decay.
    pub method: SoftNmsMethod,
    /// Boxes whose (decayed) score falls below this are dropped.
    pub score_threshold: f32,
    /// At most this many boxes are returned.
    pub max_boxes: usize,
    /// Per class or class-agnostic.
    pub mode: NmsMode,
}

fn unit(what: &str, v: f32) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::Invalid { what: what.into(), message: format!("must be in [0, 1], got {v}") })
    }
}

fn check_boxes(dets: &[Detection]) -> Result<()> {
    match dets.iter().position(|d| !d.score.is_finite() || !d.bbox.is_valid()) {
        None => Ok(()),
        Some(i) => Err(Error::Invalid {
            what: format!("detection {i}"),
            message: format!("needs a finite score and ordered, finite corners, got {:?}", dets[i]),
        }),
    }
}

fn same_group(mode: NmsMode, a: &Detection, b: &Detection) -> bool {
    mode == NmsMode::ClassAgnostic || a.class == b.class
}

/// Indices of `dets` sorted by score, highest first, ties in input order.
fn by_score(dets: &[Detection]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score).then(a.cmp(&b)));
    order
}

/// Hard non-max suppression: the kept detections, highest score first.
///
/// # Errors
/// [`Error::Invalid`] for thresholds outside `[0, 1]` or a detection with a non-finite score or
/// inverted corners.
pub fn nms(dets: &[Detection], cfg: &NmsConfig) -> Result<Vec<Detection>> {
    unit("nms iou threshold", cfg.iou_threshold)?;
    if !cfg.score_threshold.is_finite() {
        return Err(Error::Invalid {
            what: "nms score threshold".into(),
            message: format!("must be finite, got {}", cfg.score_threshold),
        });
    }
    check_boxes(dets)?;
    let mut kept: Vec<Detection> = Vec::new();
    for i in by_score(dets) {
        if kept.len() >= cfg.max_boxes {
            break;
        }
        let d = dets[i];
        if d.score < cfg.score_threshold {
            break;
        }
        let suppressed =
            kept.iter().any(|k| same_group(cfg.mode, k, &d) && k.bbox.iou(&d.bbox) > cfg.iou_threshold);
        if !suppressed {
            kept.push(d);
        }
    }
    Ok(kept)
}

/// Soft non-max suppression: every detection whose decayed score stays at or above the
/// threshold, with that decayed score, in the order they were selected (highest first).
///
/// # Errors
/// [`Error::Invalid`] for a linear threshold outside `[0, 1]`, a sigma that is not > 0, a
/// non-finite score threshold, or a bad detection (as [`nms`]).
pub fn soft_nms(dets: &[Detection], cfg: &SoftNmsConfig) -> Result<Vec<Detection>> {
    match cfg.method {
        SoftNmsMethod::Linear { iou_threshold } => unit("soft-nms iou threshold", iou_threshold)?,
        SoftNmsMethod::Gaussian { sigma } if !(sigma > 0.0 && sigma.is_finite()) => {
            return Err(Error::Invalid {
                what: "soft-nms sigma".into(),
                message: format!("must be > 0, got {sigma}"),
            })
        }
        SoftNmsMethod::Gaussian { .. } => {}
    }
    if !cfg.score_threshold.is_finite() {
        return Err(Error::Invalid {
            what: "soft-nms score threshold".into(),
            message: format!("must be finite, got {}", cfg.score_threshold),
        });
    }
    check_boxes(dets)?;
    let mut pool: Vec<Detection> = dets.iter().copied().filter(|d| d.score >= cfg.score_threshold).collect();
    let mut kept = Vec::new();
    while kept.len() < cfg.max_boxes {
        // The best remaining box (first in input order on ties).
        let Some(best) = by_score(&pool).first().copied() else { break };
        let top = pool.remove(best);
        for d in pool.iter_mut().filter(|d| same_group(cfg.mode, &top, d)) {
            let iou = top.bbox.iou(&d.bbox);
            d.score *= match cfg.method {
                SoftNmsMethod::Linear { iou_threshold } if iou > iou_threshold => 1.0 - iou,
                SoftNmsMethod::Linear { .. } => 1.0,
                SoftNmsMethod::Gaussian { sigma } => (-iou * iou / sigma).exp(),
            };
        }
        pool.retain(|d| d.score >= cfg.score_threshold);
        kept.push(top);
    }
    Ok(kept)
}
