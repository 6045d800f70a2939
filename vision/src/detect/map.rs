//! Mean average precision (sheet 20's evaluation): detections are sorted by score, each is a true
//! positive when it overlaps a not yet matched ground-truth box of its class in the same image by
//! at least the IoU threshold (the best such box; COCO's greedy matching), else a false positive.
//! The precision/recall curve is summarised per class as an average precision, and the classes'
//! APs averaged (classes without ground truth are left out).
//!
//! Interpolations ([`ApMethod`]): VOC2007's 11 recall points, VOC2010's area under the
//! monotone precision envelope, and COCO's 101 recall points; [`coco_map`] averages COCO's AP over
//! the IoU thresholds 0.50, 0.55, ..., 0.95 (mAP@0.5:0.95).
//!
//! ```
//! use dls_vision::detect::boxes::BBox;
//! use dls_vision::detect::map::{mean_average_precision, ApMethod, Scored};
//! let truth = [Scored { image: 0, class: 0, score: 1.0, bbox: BBox::new(0.0, 0.0, 10.0, 10.0) }];
//! let preds = [
//!     Scored { image: 0, class: 0, score: 0.9, bbox: BBox::new(50.0, 50.0, 60.0, 60.0) }, // miss
//!     Scored { image: 0, class: 0, score: 0.8, bbox: BBox::new(1.0, 0.0, 11.0, 10.0) },   // hit
//! ];
//! let r = mean_average_precision(&preds, &truth, 0.5, ApMethod::AllPoint)?;
//! assert!((r.map - 0.5).abs() < 1e-12); // recall 1 reached at precision 1/2
//! # Ok::<(), dls_vision::Error>(())
//! ```

use std::collections::BTreeMap;

use super::boxes::BBox;
use crate::{Error, Result};

/// A box of one image: a prediction (with its score) or a ground truth (score unused).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// Which image.
    pub image: usize,
    /// Class index.
    pub class: usize,
    /// Confidence (ignored for ground truth).
    pub score: f32,
    /// The box.
    pub bbox: BBox,
}

/// How a precision/recall curve becomes one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApMethod {
    /// PASCAL VOC2007: mean over recall 0, 0.1, ..., 1 of the best precision at that recall or more.
    Voc11,
    /// PASCAL VOC2010+: the area under the precision envelope at every recall step.
    AllPoint,
    /// COCO: mean over recall 0, 0.01, ..., 1 of the envelope's precision.
    Coco101,
}

/// Average precision per class and their mean.
#[derive(Clone, Debug, PartialEq)]
pub struct MapReport {
    /// Mean over the classes that have ground truth (0 when none has).
    pub map: f64,
    /// AP by class index, for each class with ground truth.
    pub per_class: BTreeMap<usize, f64>,
}

/// The average precision of a curve given as `(recall, precision)` points in order of falling
/// score (recall non-decreasing). Extra points of the longer slice are ignored.
pub fn average_precision(recall: &[f64], precision: &[f64], method: ApMethod) -> f64 {
    let n = recall.len().min(precision.len());
    let recall = &recall[..n];
    // The envelope: best precision at this recall or any higher one.
    let mut env = precision[..n].to_vec();
    for i in (0..env.len().saturating_sub(1)).rev() {
        env[i] = env[i].max(env[i + 1]);
    }
    let at_least = |r: f64| recall.iter().position(|&x| x >= r - 1e-12).map_or(0.0, |i| env[i]);
    match method {
        ApMethod::Voc11 => (0..=10).map(|i| at_least(i as f64 / 10.0)).sum::<f64>() / 11.0,
        ApMethod::Coco101 => (0..=100).map(|i| at_least(i as f64 / 100.0)).sum::<f64>() / 101.0,
        ApMethod::AllPoint => {
            let mut area = 0.0;
            let mut prev = 0.0;
            for (r, p) in recall.iter().zip(&env) {
                area += (r - prev) * p;
                prev = *r;
            }
            area
        }
    }
}

fn check(what: &str, boxes: &[Scored]) -> Result<()> {
    match boxes.iter().position(|b| !b.bbox.is_valid() || !b.score.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Invalid {
            what: format!("{what} {i}"),
            message: format!("needs ordered, finite corners and a finite score, got {:?}", boxes[i]),
        }),
    }
}

/// The per-class precision/recall curves `(recall, precision)` at `iou_threshold`, with the
/// number of ground-truth boxes, for every class that has ground truth.
fn curves(preds: &[Scored], truths: &[Scored], iou_threshold: f64) -> BTreeMap<usize, (Vec<f64>, Vec<f64>)> {
    let mut by_class: BTreeMap<usize, usize> = BTreeMap::new();
    for t in truths {
        *by_class.entry(t.class).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for (&class, &total) in &by_class {
        let gts: Vec<&Scored> = truths.iter().filter(|t| t.class == class).collect();
        let mut used = vec![false; gts.len()];
        let mut ps: Vec<&Scored> = preds.iter().filter(|p| p.class == class).collect();
        ps.sort_by(|a, b| b.score.total_cmp(&a.score));
        let (mut tp, mut fp) = (0usize, 0usize);
        let (mut recall, mut precision) = (Vec::new(), Vec::new());
        for p in ps {
            let best = gts
                .iter()
                .enumerate()
                .filter(|(j, g)| g.image == p.image && !used[*j])
                .map(|(j, g)| (j, f64::from(g.bbox.iou(&p.bbox))))
                .filter(|(_, iou)| *iou >= iou_threshold)
                .fold(None, |best: Option<(usize, f64)>, c| match best {
                    Some(b) if b.1 >= c.1 => Some(b),
                    _ => Some(c),
                });
            match best {
                Some((j, _)) => {
                    used[j] = true;
                    tp += 1;
                }
                None => fp += 1,
            }
            recall.push(tp as f64 / total as f64);
            precision.push(tp as f64 / (tp + fp) as f64);
        }
        out.insert(class, (recall, precision));
    }
    out
}

/// mAP of `preds` against `truths` at one IoU threshold.
///
/// # Errors
/// [`Error::Invalid`] for a threshold outside `(0, 1]` or a box with inverted or non-finite
/// corners.
pub fn mean_average_precision(
    preds: &[Scored],
    truths: &[Scored],
    iou_threshold: f64,
    method: ApMethod,
) -> Result<MapReport> {
    if !(iou_threshold > 0.0 && iou_threshold <= 1.0) {
        return Err(Error::Invalid {
            what: "mAP iou threshold".into(),
            message: format!("must be in (0, 1], got {iou_threshold}"),
        });
    }
    check("prediction", preds)?;
    check("ground truth", truths)?;
    let per_class: BTreeMap<usize, f64> = curves(preds, truths, iou_threshold)
        .into_iter()
        .map(|(c, (r, p))| (c, average_precision(&r, &p, method)))
        .collect();
    let map =
        if per_class.is_empty() { 0.0 } else { per_class.values().sum::<f64>() / per_class.len() as f64 };
    Ok(MapReport { map, per_class })
}

/// COCO's headline figure, mAP@0.5:0.95: the 101-point mAP averaged over the IoU thresholds
/// 0.50, 0.55, ..., 0.95.
///
/// # Errors
/// As [`mean_average_precision`].
pub fn coco_map(preds: &[Scored], truths: &[Scored]) -> Result<f64> {
    let mut sum = 0.0;
    for i in 0..10 {
        sum += mean_average_precision(preds, truths, 0.5 + 0.05 * i as f64, ApMethod::Coco101)?.map;
    }
    Ok(sum / 10.0)
}
