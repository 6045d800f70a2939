//! YOLO's output grid (sheet 20): target encoding, decoding and a loss.
//!
//! A head looks at an image `input` pixels wide through a `grid` of cells. Its output is
//! `[n, A (5 + C), gh, gw]`: for each of the `A` anchors, channels `tx, ty, tw, th`, an
//! objectness logit and `C` class logits (darknet's layout). A box is decoded as
//! `cx = (col + σ(tx)) · input_w / gw`, `w = anchor_w · e^tw` (likewise `cy`, `h`), its
//! objectness `σ(to)` and class score `σ(to) σ(tc)`.
//!
//! Encoding does the reverse for ground truth: the cell holding the box centre and the anchor of
//! best shape IoU are responsible; their targets are the centre's offset inside the cell, the log
//! of the size over the anchor's, objectness 1 and the one-hot class. [`yolo_loss`] compares a
//! prediction with those targets (YOLOv3's terms; see its doc).

use candle_core::{DType, Device, Tensor};

use super::anchors::{best_anchor, Anchor};
use super::boxes::{CenterBox, Detection};
use crate::{Error, Result};

/// The geometry of one YOLO output head.
#[derive(Clone, Debug, PartialEq)]
pub struct YoloHead {
    /// Anchor shapes in input pixels.
    pub anchors: Vec<Anchor>,
    /// Number of classes `C`.
    pub classes: usize,
    /// Network input `(width, height)` in pixels.
    pub input: (usize, usize),
    /// Grid `(columns, rows)`.
    pub grid: (usize, usize),
}

/// A ground-truth box in input pixels with its class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    /// The box, centre format, input pixels.
    pub bbox: CenterBox,
    /// Class index.
    pub class: usize,
}

impl YoloHead {
    /// Channels per anchor, `5 + C`.
    pub fn channels_per_anchor(&self) -> usize {
        5 + self.classes
    }

    fn cell_size(&self) -> (f32, f32) {
        (self.input.0 as f32 / self.grid.0 as f32, self.input.1 as f32 / self.grid.1 as f32)
    }

    fn validate(&self) -> Result<()> {
        let ok = !self.anchors.is_empty()
            && self.classes > 0
            && self.anchors.iter().all(|a| a.w > 0.0 && a.h > 0.0 && a.w.is_finite() && a.h.is_finite())
            && self.input.0 > 0
            && self.input.1 > 0
            && self.grid.0 > 0
            && self.grid.1 > 0;
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid {
                what: "yolo head".into(),
                message: format!("needs anchors > 0, classes and a non-empty input and grid, got {self:?}"),
            })
        }
    }

    /// Checks that `head` is `[n, A (5 + C), gh, gw]` and returns `n`.
    fn check_output(&self, head: &Tensor) -> Result<usize> {
        self.validate()?;
        let want = self.anchors.len() * self.channels_per_anchor();
        match head.dims() {
            &[n, c, h, w] if c == want && h == self.grid.1 && w == self.grid.0 => Ok(n),
            d => Err(Error::Invalid {
                what: "yolo head output".into(),
                message: format!("expected [n, {want}, {}, {}], got {d:?}", self.grid.1, self.grid.0),
            }),
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes a head output into detections per image: every (box, class) pair whose score
/// `σ(objectness) σ(class)` is at least `score_threshold`, boxes in input pixels (corner format).
///
/// # Errors
/// [`Error::Invalid`] when `head` does not have the shape the head describes.
pub fn decode(head: &Tensor, cfg: &YoloHead, score_threshold: f32) -> Result<Vec<Vec<Detection>>> {
    let n = cfg.check_output(head)?;
    let (gw, gh) = cfg.grid;
    let per = cfg.channels_per_anchor();
    let v: Vec<f32> = head.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (sx, sy) = cfg.cell_size();
    let plane = gh * gw;
    let mut out = Vec::with_capacity(n);
    for b in 0..n {
        let mut dets = Vec::new();
        for (a, anchor) in cfg.anchors.iter().enumerate() {
            let base = (b * cfg.anchors.len() + a) * per * plane;
            let at = |k: usize, cell: usize| v[base + k * plane + cell];
            for cell in 0..plane {
                let obj = sigmoid(at(4, cell));
                if obj < score_threshold {
                    continue;
                }
                let (row, col) = (cell / gw, cell % gw);
                let bbox = CenterBox {
                    cx: (col as f32 + sigmoid(at(0, cell))) * sx,
                    cy: (row as f32 + sigmoid(at(1, cell))) * sy,
                    w: anchor.w * at(2, cell).exp(),
                    h: anchor.h * at(3, cell).exp(),
                }
                .to_corners();
                for class in 0..cfg.classes {
                    let score = obj * sigmoid(at(5 + class, cell));
                    if score >= score_threshold && bbox.is_valid() {
                        dets.push(Detection { bbox, score, class });
                    }
                }
            }
        }
        out.push(dets);
    }
    Ok(out)
}

/// Encoded ground truth for a batch, laid out like the head output.
#[derive(Clone, Debug, PartialEq)]
pub struct YoloTargets {
    n: usize,
    values: Vec<f32>,
    mask: Vec<f32>,
    head: YoloHead,
    truths: Vec<Vec<Truth>>,
}

/// Encodes each image's boxes (`truths[i]` for image `i`): the cell holding the centre and the
/// anchor of best shape IoU get the box. When two boxes land on the same anchor and cell, the
/// later one wins (as in darknet).
///
/// # Errors
/// [`Error::Invalid`] for a bad head, a class `>= C`, a box with a non-positive or non-finite
/// size, or a centre outside the input.
pub fn encode_targets(truths: &[Vec<Truth>], cfg: &YoloHead) -> Result<YoloTargets> {
    cfg.validate()?;
    let (gw, gh) = cfg.grid;
    let (na, per, plane) = (cfg.anchors.len(), cfg.channels_per_anchor(), gw * gh);
    let (sx, sy) = cfg.cell_size();
    let n = truths.len();
    let mut values = vec![0f32; n * na * per * plane];
    let mut mask = vec![0f32; n * na * plane];
    for (b, boxes) in truths.iter().enumerate() {
        for (i, t) in boxes.iter().enumerate() {
            let CenterBox { cx, cy, w, h } = t.bbox;
            let inside = cx >= 0.0 && cy >= 0.0 && cx < cfg.input.0 as f32 && cy < cfg.input.1 as f32;
            if t.class >= cfg.classes || !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) || !inside {
                return Err(Error::Invalid {
                    what: format!("truth {i} of image {b}"),
                    message: format!(
                        "needs a class < {}, a positive size and a centre inside {:?}, got {t:?}",
                        cfg.classes, cfg.input
                    ),
                });
            }
            let col = ((cx / sx) as usize).min(gw - 1);
            let row = ((cy / sy) as usize).min(gh - 1);
            let a = best_anchor(w, h, &cfg.anchors).unwrap_or(0);
            let cell = row * gw + col;
            let base = (b * na + a) * per * plane;
            let mut set = |k: usize, value: f32| values[base + k * plane + cell] = value;
            set(0, cx / sx - col as f32);
            set(1, cy / sy - row as f32);
            set(2, (w / cfg.anchors[a].w).ln());
            set(3, (h / cfg.anchors[a].h).ln());
            set(4, 1.0);
            for c in 0..cfg.classes {
                set(5 + c, if c == t.class { 1.0 } else { 0.0 });
            }
            mask[(b * na + a) * plane + cell] = 1.0;
        }
    }
    Ok(YoloTargets { n, values, mask, head: cfg.clone(), truths: truths.to_vec() })
}

impl YoloTargets {
    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the batch has no images.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Targets, row-major `[n, A, 5 + C, gh, gw]`: offsets `tx, ty` in `[0, 1)`, `tw, th` (log
    /// size ratios), objectness, one-hot classes; zeros where no box is assigned.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Row-major `[n, A, gh, gw]`: 1 for the (anchor, cell) pairs responsible for a box, else 0.
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }

    /// The head the targets were encoded for.
    pub fn head(&self) -> &YoloHead {
        &self.head
    }

    fn dims(&self) -> (usize, usize, usize, usize, usize) {
        let h = &self.head;
        (self.n, h.anchors.len(), h.channels_per_anchor(), h.grid.1, h.grid.0)
    }

    /// The targets as a tensor `[n, A, 5 + C, gh, gw]`.
    ///
    /// # Errors
    /// Candle errors (allocation).
    pub fn values_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.values, self.dims(), device)?.to_dtype(dtype)?)
    }

    /// The responsibility mask as a tensor `[n, A, 1, gh, gw]`.
    ///
    /// # Errors
    /// Candle errors (allocation).
    pub fn mask_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        let (n, a, _, h, w) = self.dims();
        Ok(Tensor::from_slice(&self.mask, (n, a, 1, h, w), device)?.to_dtype(dtype)?)
    }

    /// A head output `[n, A (5 + C), gh, gw]` that decodes back to exactly the encoded boxes:
    /// logits `±confidence` for objectness and classes, `logit(t)` for the offsets (clamped to
    /// `[1e-4, 1 - 1e-4]`), the log sizes as they are. Useful to test decoders and losses.
    ///
    /// # Errors
    /// Candle errors (allocation).
    pub fn ideal_output(&self, confidence: f32) -> Result<Tensor> {
        let (n, a, per, h, w) = self.dims();
        let plane = h * w;
        let mut out = vec![0f32; self.values.len()];
        for (i, o) in out.iter_mut().enumerate() {
            let (cell, k, na) = (i % plane, (i / plane) % per, i / (plane * per));
            let responsible = self.mask[na * plane + cell] > 0.0;
            let t = self.values[i];
            *o = match k {
                0 | 1 => {
                    let t = t.clamp(1e-4, 1.0 - 1e-4);
                    (t / (1.0 - t)).ln()
                }
                2 | 3 => t,
                _ if responsible && t > 0.5 => confidence,
                _ => -confidence,
            };
        }
        Ok(Tensor::from_vec(out, (n, a * per, h, w), &Device::Cpu)?)
    }
}

/// Weights of [`yolo_loss`]'s terms and YOLOv3's ignore rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YoloLossConfig {
    /// Box terms (centre and size), the paper's `λ_coord`.
    pub coord: f64,
    /// Objectness of cells with no box, the paper's `λ_noobj`.
    pub noobj: f64,
    /// Objectness of responsible cells.
    pub obj: f64,
    /// Class terms.
    pub class: f64,
    /// A prediction that is not responsible for a box but overlaps one by more than this IoU
    /// pays no no-object penalty (YOLOv3's `ignore_thresh`, 0.7); 1 turns the rule off.
    pub ignore_iou: f32,
}

impl Default for YoloLossConfig {
    /// YOLOv1's `λ_coord = 5`, `λ_noobj = 0.5`, others 1; YOLOv3's ignore IoU 0.7.
    fn default() -> Self {
        Self { coord: 5.0, noobj: 0.5, obj: 1.0, class: 1.0, ignore_iou: 0.7 }
    }
}

/// `[n, A, 1, gh, gw]`: 1 where the no-object term applies (not responsible, and the predicted
/// box overlaps no truth of its image by more than `ignore_iou`).
fn noobj_mask(pred: &Tensor, targets: &YoloTargets, ignore_iou: f32) -> Result<Tensor> {
    let (n, na, per, gh, gw) = targets.dims();
    let plane = gh * gw;
    let v: Vec<f32> = pred.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (sx, sy) = targets.head.cell_size();
    let mut keep = vec![0f32; n * na * plane];
    for (b, truths) in targets.truths.iter().enumerate().take(n) {
        for (a, anchor) in targets.head.anchors.iter().enumerate() {
            let base = (b * na + a) * per * plane;
            for cell in 0..plane {
                let i = (b * na + a) * plane + cell;
                if targets.mask[i] > 0.0 {
                    continue;
                }
                let (row, col) = (cell / gw, cell % gw);
                let guess = CenterBox {
                    cx: (col as f32 + sigmoid(v[base + cell])) * sx,
                    cy: (row as f32 + sigmoid(v[base + plane + cell])) * sy,
                    w: anchor.w * v[base + 2 * plane + cell].exp(),
                    h: anchor.h * v[base + 3 * plane + cell].exp(),
                };
                let best = truths.iter().map(|t| t.bbox.iou(&guess)).fold(0f32, f32::max);
                keep[i] = if ignore_iou < 1.0 && best > ignore_iou { 0.0 } else { 1.0 };
            }
        }
    }
    Ok(Tensor::from_vec(keep, (n, na, 1, gh, gw), pred.device())?.to_dtype(pred.dtype())?)
}

/// `log(1 + e^{-|x|}) + max(x, 0) - x t`: binary cross-entropy on logits without overflow.
fn bce_logits(x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
    let soft = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    soft + x.relu()? - x.mul(t)?
}

/// The YOLO loss of a head output `pred` `[n, A (5 + C), gh, gw]` against `targets`, summed over
/// the grid and averaged over the batch. For responsible (anchor, cell) pairs:
/// `λ_coord [(σ(tx) - x)² + (σ(ty) - y)² + (tw - w)² + (th - h)²]`, objectness cross-entropy
/// towards 1 and a per-class sigmoid cross-entropy (YOLOv3); for the others, `λ_noobj` times the
/// objectness cross-entropy towards 0, except where the prediction already overlaps a truth by
/// more than `cfg.ignore_iou` (YOLOv3). Differentiable in `pred` (gradient-checked in the tests;
/// the ignore mask is a constant of the step, as in darknet).
///
/// # Errors
/// [`Error::Invalid`] when `pred` does not match the targets' head.
pub fn yolo_loss(pred: &Tensor, targets: &YoloTargets, cfg: &YoloLossConfig) -> Result<Tensor> {
    let n = targets.head.check_output(pred)?;
    if n != targets.n {
        return Err(Error::Invalid {
            what: "yolo loss".into(),
            message: format!("prediction batch {n} but targets for {} images", targets.n),
        });
    }
    let (n, a, per, h, w) = targets.dims();
    let p = pred.reshape((n, a, per, h, w))?;
    let t = targets.values_tensor(pred.dtype(), pred.device())?;
    let m = targets.mask_tensor(pred.dtype(), pred.device())?;
    let sig_xy = (p.narrow(2, 0, 2)?.neg()?.exp()? + 1.0)?.recip()?;
    let xy = sig_xy.sub(&t.narrow(2, 0, 2)?)?.sqr()?.broadcast_mul(&m)?.sum_all()?;
    let wh = p.narrow(2, 2, 2)?.sub(&t.narrow(2, 2, 2)?)?.sqr()?.broadcast_mul(&m)?.sum_all()?;
    let obj_ce = bce_logits(&p.narrow(2, 4, 1)?, &m)?;
    let obj = obj_ce.mul(&m)?.sum_all()?;
    let noobj = obj_ce.mul(&noobj_mask(pred, targets, cfg.ignore_iou)?)?.sum_all()?;
    let class =
        bce_logits(&p.narrow(2, 5, per - 5)?, &t.narrow(2, 5, per - 5)?)?.broadcast_mul(&m)?.sum_all()?;
    let total = ((((xy + wh)? * cfg.coord)? + (obj * cfg.obj)?)? + (noobj * cfg.noobj)?)?;
    let total = (total + (class * cfg.class)?)?;
    Ok((total / n.max(1) as f64)?)
}
