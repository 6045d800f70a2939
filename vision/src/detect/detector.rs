//! A small YOLO-style detector trained from scratch (sheet 20): a few stages of 3x3
//! convolution + batch norm + ReLU + 2x2 max pooling shrink the image to an `S x S` grid, one more
//! [`ConvBn`] mixes the neighbourhood, and a 1x1 convolution predicts, for each cell and each of
//! `A` anchors, `tx, ty, tw, th`, an objectness logit and `C` class logits ([`yolo`](super::yolo)'s
//! layout). [`Detector`] implements foundations' [`Learner`], so the usual fit loop trains it: the
//! data set's targets are each image's boxes packed by [`pack_truths`] (`[n, max_boxes, 5]`).
//! [`evaluate`] decodes, applies NMS and scores mAP@0.5 and mAP@0.5:0.95 on a held-out split.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_vision::detect::detector::{Detector, DetectorConfig};
//! let cfg = DetectorConfig::default(); // 64x64 RGB in, 3 stages: an 8x8 grid, 3 anchors, 3 classes
//! let net = Detector::new(Params::new(0).var_builder(DType::F32, &Device::Cpu), &cfg)?;
//! let out = net.try_forward_t(&Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu)?, false)?;
//! assert_eq!(out.dims(), &[2, 3 * (5 + 3), 8, 8]);
//! assert_eq!(net.head().grid, (8, 8));
//! # Ok::<(), dls_vision::Error>(())
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::{ModuleT, VarBuilder};
use dls_foundations::data::Dataset;
use dls_foundations::train::{Evaluation, Learner};

use super::anchors::Anchor;
use super::boxes::{CenterBox, Detection};
use super::map::{coco_map, mean_average_precision, ApMethod, Scored};
use super::nms::{nms, NmsConfig, NmsMode};
use super::yolo::{decode, encode_targets, yolo_loss, Truth, YoloHead, YoloLossConfig};
use crate::layers::{Conv2d, Conv2dConfig};
use crate::models::{Act, ConvBn};
use crate::pool::{pool2d, Pool2dConfig};
use crate::{Error, Result};

/// Settings of a [`Detector`].
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Input width and height in pixels (square images); must be divisible by `2^stages`.
    pub input: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Output channels of each stage (3x3 [`ConvBn`] + ReLU + 2x2 max pool); the grid is
    /// `input / 2^len` cells wide.
    pub widths: Vec<usize>,
    /// Channels of the 3x3 [`ConvBn`] between the last stage and the 1x1 output convolution.
    pub head_width: usize,
    /// Anchor shapes in input pixels (for example from [`kmeans_anchors`](super::kmeans_anchors)).
    pub anchors: Vec<Anchor>,
    /// Number of classes `C`.
    pub classes: usize,
    /// Rows per image of the packed targets ([`pack_truths`]): the most boxes an image may have.
    pub max_boxes: usize,
    /// Weights of the loss terms.
    pub loss: YoloLossConfig,
}

impl Default for DetectorConfig {
    /// 64x64 RGB, stages of 16, 32 and 64 channels (an 8x8 grid), a 64-channel head, three
    /// anchors (12x12, 20x20, 28x28), 3 classes, 8 boxes per image, YOLO's default loss weights.
    fn default() -> Self {
        Self {
            input: 64,
            in_channels: 3,
            widths: vec![16, 32, 64],
            head_width: 64,
            anchors: vec![Anchor::new(12.0, 12.0), Anchor::new(20.0, 20.0), Anchor::new(28.0, 28.0)],
            classes: 3,
            max_boxes: 8,
            loss: YoloLossConfig::default(),
        }
    }
}

impl DetectorConfig {
    /// The output head's geometry: anchors, classes, input and the `S x S` grid.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the configuration is unusable (see [`Detector::new`]).
    pub fn head(&self) -> Result<YoloHead> {
        let bad = |message: String| Err(Error::Invalid { what: "detector config".into(), message });
        if self.input == 0 || self.in_channels == 0 || self.head_width == 0 || self.max_boxes == 0 {
            return bad(format!(
                "input, in_channels, head_width and max_boxes must be > 0, got {}, {}, {}, {}",
                self.input, self.in_channels, self.head_width, self.max_boxes
            ));
        }
        if self.widths.is_empty() || self.widths.contains(&0) || self.widths.len() > 16 {
            return bad(format!("needs 1 to 16 stages of width > 0, got {:?}", self.widths));
        }
        let stride = 1usize << self.widths.len();
        if self.input % stride != 0 {
            return bad(format!(
                "input {} is not divisible by 2^{} = {stride} (one 2x2 pool per stage)",
                self.input,
                self.widths.len()
            ));
        }
        if self.classes == 0 || self.anchors.is_empty() {
            return bad(format!(
                "needs at least one class and one anchor, got {} classes and {} anchors",
                self.classes,
                self.anchors.len()
            ));
        }
        if let Some(a) =
            self.anchors.iter().find(|a| !(a.w > 0.0 && a.h > 0.0 && a.w.is_finite() && a.h.is_finite()))
        {
            return bad(format!("anchor sizes must be positive and finite, got {a:?}"));
        }
        let s = self.input / stride;
        Ok(YoloHead {
            anchors: self.anchors.clone(),
            classes: self.classes,
            input: (self.input, self.input),
            grid: (s, s),
        })
    }
}

/// The network. Input `[n, in_channels, input, input]`, output `[n, A (5 + C), S, S]` with
/// `S = input / 2^stages` (raw logits and offsets; see [`yolo`](super::yolo) for their meaning).
/// Parameters live under `stages.{i}.conv/bn`, `neck.conv/bn` and `out`.
#[derive(Clone, Debug)]
pub struct Detector {
    stages: Vec<ConvBn>,
    neck: ConvBn,
    out: Conv2d,
    head: YoloHead,
    cfg: DetectorConfig,
}

impl Detector {
    /// Builds the network's variables in `vb`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero size or width, no stages, an input not divisible by
    /// `2^stages`, no class, no anchor or a non-positive anchor; candle errors.
    pub fn new(vb: VarBuilder, cfg: &DetectorConfig) -> Result<Self> {
        let head = cfg.head()?;
        let mut stages = Vec::with_capacity(cfg.widths.len());
        let mut prev = cfg.in_channels;
        for (i, &w) in cfg.widths.iter().enumerate() {
            let conv = Conv2dConfig::new(prev, w, 3).pad(1);
            stages.push(ConvBn::new(&vb.pp(format!("stages.{i}")), ("conv", "bn"), conv, Act::Relu)?);
            prev = w;
        }
        let neck_conv = Conv2dConfig::new(prev, cfg.head_width, 3).pad(1);
        let neck = ConvBn::new(&vb.pp("neck"), ("conv", "bn"), neck_conv, Act::Relu)?;
        let outputs = head.anchors.len() * head.channels_per_anchor();
        let out = Conv2d::new(vb.pp("out"), &Conv2dConfig::new(cfg.head_width, outputs, 1))?;
        Ok(Self { stages, neck, out, head, cfg: cfg.clone() })
    }

    /// The output head's geometry (for [`decode`] and [`encode_targets`]).
    pub fn head(&self) -> &YoloHead {
        &self.head
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// The forward pass with the input's shape checked: `[n, in_channels, input, input]` to
    /// `[n, A (5 + C), S, S]`; `train` selects batch statistics (and updates the running ones).
    ///
    /// # Errors
    /// [`Error::Invalid`] for another input shape; candle errors.
    pub fn try_forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (c, s) = (self.cfg.in_channels, self.cfg.input);
        match x.dims() {
            &[n, xc, h, w] if n > 0 && xc == c && h == s && w == s => {}
            d => {
                return Err(Error::Invalid {
                    what: "detector input".into(),
                    message: format!("expected [n > 0, {c}, {s}, {s}], got {d:?}"),
                })
            }
        }
        let mut h = x.clone();
        for stage in &self.stages {
            h = pool2d(&stage.forward_t(&h, train)?, &Pool2dConfig::max(2, 2, 0))?;
        }
        Ok(candle_core::Module::forward(&self.out, &self.neck.forward_t(&h, train)?)?)
    }

    /// Boxes found in `images` `[n, in_channels, input, input]` (evaluation mode, batches of 64):
    /// decoded at `nms.score_threshold`, clipped to the image, then non-max suppressed.
    ///
    /// # Errors
    /// As [`Detector::try_forward_t`] and [`postprocess`].
    pub fn detect(&self, images: &Tensor, nms: &NmsConfig) -> Result<Vec<Vec<Detection>>> {
        let n = images.dims().first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = (n - start).min(64);
            let pred = self.try_forward_t(&images.narrow(0, start, len)?, false)?;
            out.extend(postprocess(&pred, &self.head, nms)?);
            start += len;
        }
        Ok(out)
    }

    /// The output and loss of a batch: `x` images, `y` packed boxes ([`pack_truths`]).
    fn batch_loss(&self, x: &Tensor, y: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let targets = encode_targets(&unpack_truths(y)?, &self.head)?;
        let pred = self.try_forward_t(x, train)?;
        let loss = yolo_loss(&pred, &targets, &self.cfg.loss)?;
        Ok((pred, loss))
    }
}

impl ModuleT for Detector {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.try_forward_t(x, train).map_err(candle_core::Error::wrap)
    }
}

/// The foundations error a [`Learner`] returns.
fn to_foundations(e: Error) -> dls_foundations::Error {
    match e {
        Error::Foundations(e) => e,
        Error::Candle(e) => dls_foundations::Error::Candle(e),
        other => dls_foundations::Error::invalid("detector batch", other.to_string()),
    }
}

impl Learner for Detector {
    /// [`yolo_loss`] of the batch in training mode; `y` is `[n, max_boxes, 5]` from [`pack_truths`].
    fn loss(&self, x: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        self.batch_loss(x, y, true).map(|(_, loss)| loss).map_err(to_foundations)
    }

    /// Mean loss per image in evaluation mode, and mAP@0.5 (COCO's 101-point AP50) as the
    /// "accuracy", so that early stopping and dev curves follow detection quality.
    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        let (mut sum, mut preds, mut truths) = (0f64, Vec::new(), Vec::new());
        for batch in data.batches(64, None)? {
            let (x, y) = batch?;
            let n = x.dim(0)? as f64;
            let (pred, loss) = self.batch_loss(&x, &y, false).map_err(to_foundations)?;
            sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * n;
            preds.extend(postprocess(&pred, &self.head, &eval_nms()).map_err(to_foundations)?);
            truths.extend(unpack_truths(&y).map_err(to_foundations)?);
        }
        let scores = score_detections(&preds, &truths).map_err(to_foundations)?;
        Ok(Evaluation { loss: sum / data.len().max(1) as f64, accuracy: scores.map50 })
    }
}

/// The NMS settings used for mAP: a low score threshold (0.05) so the whole precision/recall
/// curve is seen, IoU 0.45, per class, 100 boxes.
pub fn eval_nms() -> NmsConfig {
    NmsConfig { iou_threshold: 0.45, score_threshold: 0.05, max_boxes: 100, mode: NmsMode::PerClass }
}

/// Decodes a head output `[n, A (5 + C), S, S]` into each image's detections: boxes scoring at
/// least `nms.score_threshold`, clipped to the input, then non-max suppressed with `nms`.
///
/// # Errors
/// [`Error::Invalid`] when `output` does not match `head`, or for a bad `nms` config.
pub fn postprocess(output: &Tensor, head: &YoloHead, nms_cfg: &NmsConfig) -> Result<Vec<Vec<Detection>>> {
    let (w, h) = (head.input.0 as f32, head.input.1 as f32);
    decode(output, head, nms_cfg.score_threshold)?
        .into_iter()
        .map(|dets| {
            let clipped: Vec<Detection> = dets
                .into_iter()
                .map(|d| Detection { bbox: d.bbox.clip(w, h), ..d })
                .filter(|d| d.bbox.area() > 0.0)
                .collect();
            nms(&clipped, nms_cfg)
        })
        .collect()
}

/// Detection quality over a set of images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectionScores {
    /// mAP at IoU 0.5 (COCO's 101-point interpolation, "AP50").
    pub map50: f64,
    /// mAP averaged over IoU 0.50, 0.55, ..., 0.95 (COCO's headline AP).
    pub map50_95: f64,
}

/// Scores detections `preds[i]` against the ground truth `truths[i]` of image `i`.
///
/// # Errors
/// [`Error::Invalid`] when the two lists have different lengths or a box is not finite.
pub fn score_detections(preds: &[Vec<Detection>], truths: &[Vec<Truth>]) -> Result<DetectionScores> {
    if preds.len() != truths.len() {
        return Err(Error::Invalid {
            what: "detections".into(),
            message: format!("{} images of predictions but {} of ground truth", preds.len(), truths.len()),
        });
    }
    let p: Vec<Scored> = preds
        .iter()
        .enumerate()
        .flat_map(|(image, d)| {
            d.iter().map(move |d| Scored { image, class: d.class, score: d.score, bbox: d.bbox })
        })
        .collect();
    let t: Vec<Scored> = truths
        .iter()
        .enumerate()
        .flat_map(|(image, ts)| {
            ts.iter().map(move |t| Scored { image, class: t.class, score: 1.0, bbox: t.bbox.to_corners() })
        })
        .collect();
    Ok(DetectionScores {
        map50: mean_average_precision(&p, &t, 0.5, ApMethod::Coco101)?.map,
        map50_95: coco_map(&p, &t)?,
    })
}

/// mAP@0.5 and mAP@0.5:0.95 of `detector` on a held-out split (`data.y` packed by
/// [`pack_truths`]), through [`Detector::detect`] with [`eval_nms`].
///
/// # Errors
/// As [`Detector::detect`], [`unpack_truths`] and [`score_detections`].
pub fn evaluate(detector: &Detector, data: &Dataset) -> Result<DetectionScores> {
    let preds = detector.detect(&data.x, &eval_nms())?;
    score_detections(&preds, &unpack_truths(&data.y)?)
}

/// Packs each image's boxes into `[n, max_boxes, 5]` f32 rows `(cx, cy, w, h, class)`, unused
/// rows holding class -1: a plain tensor the foundations [`Dataset`] can batch and shuffle.
///
/// # Errors
/// [`Error::Invalid`] when an image has more than `max_boxes` boxes or `max_boxes` is 0.
pub fn pack_truths(truths: &[Vec<Truth>], max_boxes: usize) -> Result<Tensor> {
    if max_boxes == 0 {
        return Err(Error::Invalid { what: "packed boxes".into(), message: "max_boxes must be > 0".into() });
    }
    let mut v = Vec::with_capacity(truths.len() * max_boxes * 5);
    for (i, ts) in truths.iter().enumerate() {
        if ts.len() > max_boxes {
            return Err(Error::Invalid {
                what: format!("boxes of image {i}"),
                message: format!("at most {max_boxes} fit, got {}", ts.len()),
            });
        }
        for t in ts {
            v.extend([t.bbox.cx, t.bbox.cy, t.bbox.w, t.bbox.h, t.class as f32]);
        }
        for _ in ts.len()..max_boxes {
            v.extend([0.0, 0.0, 0.0, 0.0, -1.0]);
        }
    }
    Ok(Tensor::from_vec(v, (truths.len(), max_boxes, 5), &Device::Cpu)?)
}

/// The inverse of [`pack_truths`]: each image's boxes, padding rows (class < 0) left out.
///
/// # Errors
/// [`Error::Invalid`] for a tensor that is not `[n, m, 5]` or a class that is not a whole number.
pub fn unpack_truths(y: &Tensor) -> Result<Vec<Vec<Truth>>> {
    if !matches!(y.dims(), &[_, _, 5]) {
        return Err(Error::Invalid {
            what: "packed boxes".into(),
            message: format!("expected [n, max_boxes, 5], got {:?}", y.dims()),
        });
    }
    let rows: Vec<Vec<Vec<f32>>> = y.to_dtype(DType::F32)?.to_vec3()?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, image) in rows.iter().enumerate() {
        let mut ts = Vec::new();
        for (j, r) in image.iter().enumerate() {
            let (cx, cy, w, h, class) = match r[..] {
                [cx, cy, w, h, class] => (cx, cy, w, h, class),
                _ => continue,
            };
            if class < 0.0 {
                continue;
            }
            if class.fract() != 0.0 || !class.is_finite() {
                return Err(Error::Invalid {
                    what: format!("packed box {j} of image {i}"),
                    message: format!("class must be a whole number, got {class}"),
                });
            }
            ts.push(Truth { bbox: CenterBox::new(cx, cy, w, h), class: class as usize });
        }
        out.push(ts);
    }
    Ok(out)
}

/// A foundations [`Dataset`] of `images` `[n, c, h, w]` with their boxes packed by
/// [`pack_truths`].
///
/// # Errors
/// As [`pack_truths`], and when the numbers of images and box lists differ.
pub fn detection_dataset(images: &Tensor, truths: &[Vec<Truth>], max_boxes: usize) -> Result<Dataset> {
    Ok(Dataset::new(images.clone(), pack_truths(truths, max_boxes)?)?)
}
