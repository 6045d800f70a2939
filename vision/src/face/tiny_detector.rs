//! face-api's Tiny Face Detector (sheet 21): a tiny-YOLOv2-style network with depthwise-separable
//! convolutions, one class, five anchors, built from `tiny_face_detector_model-weights_manifest.json`.
//!
//! - input: the photo scaled so its longer side is the input size (a multiple of 32, e.g. 416 or
//!   608), placed at the top left of a black square ([`square_input`]); RGB 0-255 minus the mean
//!   `[117.001, 114.697, 97.404]`, divided by 256;
//! - `conv0`: 3x3 convolution with bias, VALID (416 -> 414), leaky ReLU (slope 0.1);
//! - `conv1`..`conv5`: zero-pad 1, 3x3 depthwise (no bias), 1x1 pointwise with bias, leaky ReLU;
//!   a 2x2 max pool with TensorFlow's SAME padding after each layer, stride 2 after `conv0` to
//!   `conv4` (414 -> 207 -> 104 -> 52 -> 26 -> 13) and stride 1 after `conv5`;
//! - `conv8`: 1x1 convolution with bias to `5 x 5` channels, a grid of `input / 32` cells.
//!
//! Channel `5 a + k` of cell `(row, col)` holds anchor `a`'s `(tx, ty, tw, th, objectness)`
//! ([`decode_faces`]): score `sigmoid(t4)`, centre `((col + sigmoid(tx)) / g, (row + sigmoid(ty)) / g)`
//! and size `(exp(tw) aw / g, exp(th) ah / g)` as fractions of the input square; boxes scoring above
//! the threshold go through class-agnostic NMS (IoU 0.4) and are mapped back to the photo.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::detect::Anchor;
//! use dls_vision::face::decode_faces;
//! // One anchor (2 x 3 cells) on a 2x2 grid; only cell (row 1, col 0) is confident.
//! let mut t = vec![0f32; 5 * 2 * 2];
//! t[4 * 4 + 2] = 3.0; // objectness of (row 1, col 0): sigmoid(3) = 0.953
//! let out = Tensor::from_vec(t, (5, 2, 2), &Device::Cpu)?;
//! let faces = decode_faces(&out, &[Anchor::new(2.0, 3.0)], 0.5)?;
//! assert_eq!(faces.len(), 1);
//! let b = faces[0].bbox; // centre ((0 + 0.5) / 2, (1 + 0.5) / 2), size (2 / 2, 3 / 2)
//! assert_eq!((b.x1, b.y1, b.x2, b.y2), (-0.25, 0.0, 0.75, 1.5));
//! assert!((faces[0].score - 0.952_574).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use image::imageops::FilterType;
use image::RgbImage;

use super::tfjs::TfjsWeights;
use crate::conv::Padding;
use crate::detect::{nms, Anchor, BBox, Detection, NmsConfig, NmsMode};
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{pool2d, Pool2dConfig, PoolKind};
use crate::{Error, Result};

/// Mean RGB (0-255) subtracted from the input by the Tiny Face Detector.
pub const TINY_FACE_MEAN_RGB: [f32; 3] = [117.001, 114.697, 97.404];

/// The detector's anchors `(width, height)` in grid cells.
pub const TINY_FACE_ANCHORS: [(f32, f32); 5] = [
    (1.603231, 2.094468),
    (6.041143, 7.080126),
    (2.882459, 3.518061),
    (4.266906, 5.178857),
    (9.041765, 10.66308),
];

/// Sizes of a [`TinyFaceDetector`]; the default is face-api's network.
#[derive(Clone, Debug, PartialEq)]
pub struct TinyDetectorConfig {
    /// Output channels of `conv0` to `conv5`.
    pub widths: [usize; 6],
    /// Anchors `(w, h)` in grid cells; `conv8` has 5 channels per anchor.
    pub anchors: Vec<Anchor>,
}

impl Default for TinyDetectorConfig {
    /// Widths 16, 32, 64, 128, 256, 512 and face-api's five anchors.
    fn default() -> Self {
        let anchors = TINY_FACE_ANCHORS.iter().map(|&(w, h)| Anchor::new(w, h)).collect();
        Self { widths: [16, 32, 64, 128, 256, 512], anchors }
    }
}

/// How a detection runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectConfig {
    /// Side of the network input, a multiple of 32 (larger finds smaller faces, slower).
    pub input_size: usize,
    /// Boxes scoring at or below this are dropped.
    pub score_threshold: f32,
    /// NMS drops a box overlapping a better one by more than this IoU.
    pub iou_threshold: f32,
    /// At most this many faces are returned.
    pub max_faces: usize,
}

impl Default for DetectConfig {
    /// face-api's defaults: 416, score 0.5, IoU 0.4; at most 100 faces.
    fn default() -> Self {
        Self { input_size: 416, score_threshold: 0.5, iou_threshold: 0.4, max_faces: 100 }
    }
}

/// A detected face: its box and score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    /// Where (photo pixels from [`TinyFaceDetector::detect`], input fractions from [`decode_faces`]).
    pub bbox: BBox,
    /// `sigmoid(objectness)`, in `(0, 1)`.
    pub score: f32,
}

/// Where an image goes inside a square network input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SquareAlign {
    /// At the top left, padding on the right or bottom (face-api's detectors).
    TopLeft,
    /// Centred, padding on both sides (face-api's recognition network).
    Centre,
}

/// The placement of an image inside a square input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Original `(width, height)`.
    pub original: (u32, u32),
    /// Scaled `(width, height)`: the longer side is `size`.
    pub scaled: (u32, u32),
    /// `(left, top)` of the scaled image in the square.
    pub offset: (u32, u32),
    /// Side of the square.
    pub size: u32,
}

impl Placement {
    /// The placement of a `w x h` image in a `size x size` square (scaled sides rounded, at least 1).
    pub fn new(w: u32, h: u32, size: u32, align: SquareAlign) -> Self {
        let scale = f64::from(size) / f64::from(w.max(h).max(1));
        let side = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, size.max(1));
        let scaled = (side(w), side(h));
        let offset = match align {
            SquareAlign::TopLeft => (0, 0),
            SquareAlign::Centre => (size.saturating_sub(scaled.0) / 2, size.saturating_sub(scaled.1) / 2),
        };
        Self { original: (w, h), scaled, offset, size }
    }

    /// A box in input pixels mapped to original pixels, clipped to the image.
    pub fn to_original(&self, b: &BBox) -> BBox {
        let kx = self.original.0 as f32 / self.scaled.0 as f32;
        let ky = self.original.1 as f32 / self.scaled.1 as f32;
        let (ox, oy) = (self.offset.0 as f32, self.offset.1 as f32);
        BBox::new((b.x1 - ox) * kx, (b.y1 - oy) * ky, (b.x2 - ox) * kx, (b.y2 - oy) * ky)
            .clip(self.original.0 as f32, self.original.1 as f32)
    }
}

/// Largest side [`square_input`] makes (a 4096 x 4096 input is 201 MB of f32).
pub const MAX_SQUARE_SIDE: u32 = 4096;

/// `img` scaled (bilinear, averaging when shrinking) so its longer side is `size` and placed on a
/// black `size x size` square: a `[3, size, size]` RGB tensor in `[0, 1]` and where the image went.
///
/// # Errors
/// [`Error::Invalid`] for an empty image or a `size` of 0 or above [`MAX_SQUARE_SIDE`].
pub fn square_input(img: &RgbImage, size: u32, align: SquareAlign) -> Result<(Tensor, Placement)> {
    if img.width() == 0 || img.height() == 0 || size == 0 || size > MAX_SQUARE_SIDE {
        return Err(Error::Invalid {
            what: "square input".into(),
            message: format!(
                "cannot fit a {}x{} image into {size}x{size} (sides 1..={MAX_SQUARE_SIDE})",
                img.width(),
                img.height()
            ),
        });
    }
    let p = Placement::new(img.width(), img.height(), size, align);
    let scaled = image::imageops::resize(img, p.scaled.0, p.scaled.1, FilterType::Triangle);
    let n = size as usize;
    let mut buf = vec![0f32; 3 * n * n];
    for (x, y, px) in scaled.enumerate_pixels() {
        let (x, y) = ((x + p.offset.0) as usize, (y + p.offset.1) as usize);
        for (c, v) in px.0.iter().enumerate() {
            buf[(c * n + y) * n + x] = f32::from(*v) / 255.0;
        }
    }
    Ok((Tensor::from_vec(buf, (3, n, n), &Device::Cpu)?, p))
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes the detector's raw output `[5 * anchors, g, g]` into the boxes scoring above
/// `score_threshold`, as fractions of the input square (cells in row, column, anchor order);
/// boxes with non-finite corners (an overflowing `exp`) are skipped.
///
/// # Errors
/// [`Error::Invalid`] when the output is not `[5 * anchors.len(), g, g]`.
pub fn decode_faces(out: &Tensor, anchors: &[Anchor], score_threshold: f32) -> Result<Vec<FaceBox>> {
    let a = anchors.len();
    let g = match out.dims() {
        [c, gh, gw] if a > 0 && *c == 5 * a && gh == gw && *gh > 0 => *gh,
        dims => {
            return Err(Error::Invalid {
                what: "tiny face detector output".into(),
                message: format!("expected [{}, g, g] for {a} anchors, got {dims:?}", 5 * a),
            })
        }
    };
    let v = out.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let at = |ch: usize, row: usize, col: usize| v[(ch * g + row) * g + col];
    let cells = g as f32;
    let mut faces = Vec::new();
    for row in 0..g {
        for col in 0..g {
            for (k, anchor) in anchors.iter().enumerate() {
                let ch = 5 * k;
                let score = sigmoid(at(ch + 4, row, col));
                if score.is_nan() || score <= score_threshold {
                    continue;
                }
                let cx = (col as f32 + sigmoid(at(ch, row, col))) / cells;
                let cy = (row as f32 + sigmoid(at(ch + 1, row, col))) / cells;
                let w = at(ch + 2, row, col).exp() * anchor.w / cells;
                let h = at(ch + 3, row, col).exp() * anchor.h / cells;
                let bbox = BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0);
                if bbox.is_valid() {
                    faces.push(FaceBox { bbox, score });
                }
            }
        }
    }
    Ok(faces)
}

/// A convolution layer holding the given tensors (`weight` OIHW, optional `bias`).
pub(crate) fn conv_from_tensors(weight: Tensor, bias: Option<Tensor>, cfg: &Conv2dConfig) -> Result<Conv2d> {
    let device = weight.device().clone();
    let mut tensors = HashMap::from([("weight".to_string(), weight.to_dtype(DType::F32)?.contiguous()?)]);
    if let Some(b) = bias {
        tensors.insert("bias".to_string(), b.to_dtype(DType::F32)?);
    }
    let cfg = Conv2dConfig { bias: tensors.contains_key("bias"), ..*cfg };
    Conv2d::new(VarBuilder::from_tensors(tensors, DType::F32, &device), &cfg)
}

fn leaky(x: &Tensor) -> Result<Tensor> {
    Ok(x.maximum(&(x * 0.1)?)?)
}

/// face-api's Tiny Face Detector: input `[n, 3, s, s]` RGB in `[0, 1]` (`s` a multiple of 32),
/// output `[n, 5 * anchors, s / 32, s / 32]`.
#[derive(Clone, Debug)]
pub struct TinyFaceDetector {
    conv0: Conv2d,
    separable: Vec<(Conv2d, Conv2d)>,
    conv8: Conv2d,
    anchors: Vec<Anchor>,
    mean: Tensor,
}

impl TinyFaceDetector {
    /// Names and TF shapes of every tensor a detector of `cfg` reads, in face-api's manifest order.
    pub fn expected_tensors(cfg: &TinyDetectorConfig) -> Vec<(String, Vec<usize>)> {
        let w = cfg.widths;
        let mut out = vec![("conv0/filters".into(), vec![3, 3, 3, w[0]]), ("conv0/bias".into(), vec![w[0]])];
        for i in 1..6 {
            out.push((format!("conv{i}/depthwise_filter"), vec![3, 3, w[i - 1], 1]));
            out.push((format!("conv{i}/pointwise_filter"), vec![1, 1, w[i - 1], w[i]]));
            out.push((format!("conv{i}/bias"), vec![w[i]]));
        }
        let boxes = 5 * cfg.anchors.len();
        out.push(("conv8/filters".into(), vec![1, 1, w[5], boxes]));
        out.push(("conv8/bias".into(), vec![boxes]));
        out
    }

    /// Loads face-api's detector from `tiny_face_detector_model-weights_manifest.json` (and the
    /// `.bin` beside it) onto `device`.
    ///
    /// # Errors
    /// As [`TfjsWeights::load`] and [`TinyFaceDetector::from_weights`].
    pub fn load(manifest: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::from_weights(&TfjsWeights::load(manifest, device)?, &TinyDetectorConfig::default())
    }

    /// Builds a detector of `cfg` from decoded TF.js tensors.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero width, no anchors, or a tensor that is missing or has another
    /// shape than [`TinyFaceDetector::expected_tensors`] says (naming the tensor and both shapes).
    pub fn from_weights(weights: &TfjsWeights, cfg: &TinyDetectorConfig) -> Result<Self> {
        let w = cfg.widths;
        if w.contains(&0) || cfg.anchors.is_empty() {
            return Err(Error::Invalid {
                what: "tiny face detector config".into(),
                message: format!("widths {w:?} must be > 0 and anchors non-empty"),
            });
        }
        let checked = |name: &str, shape: &[usize]| weights.get_with_shape(name, shape).cloned();
        checked("conv0/filters", &[3, 3, 3, w[0]])?;
        let conv0 = conv_from_tensors(
            weights.conv_filter_oihw("conv0/filters")?,
            Some(checked("conv0/bias", &[w[0]])?),
            &Conv2dConfig::new(3, w[0], 3),
        )?;
        let mut separable = Vec::with_capacity(5);
        for i in 1..6 {
            let (cin, cout) = (w[i - 1], w[i]);
            let dw_name = format!("conv{i}/depthwise_filter");
            let pw_name = format!("conv{i}/pointwise_filter");
            checked(&dw_name, &[3, 3, cin, 1])?;
            checked(&pw_name, &[1, 1, cin, cout])?;
            let dw_cfg = Conv2dConfig::new(cin, cin, 3).pad(1).groups(cin);
            let depthwise = conv_from_tensors(weights.depthwise_filter_oihw(&dw_name)?, None, &dw_cfg)?;
            let bias = checked(&format!("conv{i}/bias"), &[cout])?;
            let pointwise = conv_from_tensors(
                weights.conv_filter_oihw(&pw_name)?,
                Some(bias),
                &Conv2dConfig::new(cin, cout, 1),
            )?;
            separable.push((depthwise, pointwise));
        }
        let boxes = 5 * cfg.anchors.len();
        checked("conv8/filters", &[1, 1, w[5], boxes])?;
        let conv8 = conv_from_tensors(
            weights.conv_filter_oihw("conv8/filters")?,
            Some(checked("conv8/bias", &[boxes])?),
            &Conv2dConfig::new(w[5], boxes, 1),
        )?;
        let device = conv8.weight().device().clone();
        let mean = (Tensor::from_slice(&TINY_FACE_MEAN_RGB, (1, 3, 1, 1), &device)? / 256.0)?;
        Ok(Self { conv0, separable, conv8, anchors: cfg.anchors.clone(), mean })
    }

    /// The anchors, in output order.
    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// The raw output `[n, 5 * anchors, s / 32, s / 32]` for input `[n, 3, s, s]` (RGB in `[0, 1]`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for another input shape or a side that is not a positive multiple of 32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !matches!(x.dims(), [n, 3, h, w] if *n > 0 && h == w && *h >= 32 && h % 32 == 0) {
            return Err(Error::Invalid {
                what: "tiny face detector input".into(),
                message: format!("expected [n, 3, s, s] with s a multiple of 32, got {:?}", x.dims()),
            });
        }
        let x = (x.to_dtype(DType::F32)? * (255.0 / 256.0))?.broadcast_sub(&self.mean)?;
        let mut x = leaky(&self.conv0.try_forward(&x)?)?;
        let pool = |stride| Pool2dConfig { kernel: 2, stride, padding: Padding::Same, kind: PoolKind::Max };
        // A stride-2 pool after conv0 to conv4, a stride-1 pool after conv5.
        for (depthwise, pointwise) in &self.separable {
            x = pool2d(&x, &pool(2))?;
            x = leaky(&pointwise.try_forward(&depthwise.try_forward(&x)?)?)?;
        }
        let x = pool2d(&x, &pool(1))?;
        self.conv8.try_forward(&x)
    }

    /// Faces in `img`, highest score first, boxes in `img`'s pixels (clipped to it): candidates
    /// scoring above `cfg.score_threshold`, class-agnostic NMS, then boxes wholly on the padding
    /// dropped.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty image, an input size that is not a positive multiple of 32,
    /// or thresholds [`nms()`] refuses.
    pub fn detect(&self, img: &RgbImage, cfg: &DetectConfig) -> Result<Vec<FaceBox>> {
        let size =
            u32::try_from(cfg.input_size).ok().filter(|s| *s >= 32 && s % 32 == 0).ok_or_else(|| {
                Error::Invalid {
                    what: "detection input size".into(),
                    message: format!("must be a positive multiple of 32, got {}", cfg.input_size),
                }
            })?;
        let (x, placement) = square_input(img, size, SquareAlign::TopLeft)?;
        let out = self.forward(&x.unsqueeze(0)?.to_device(self.mean.device())?)?.squeeze(0)?;
        let side = size as f32;
        let candidates: Vec<Detection> = decode_faces(&out, &self.anchors, cfg.score_threshold)?
            .into_iter()
            .map(|f| {
                let b = f.bbox;
                let bbox = BBox::new(b.x1 * side, b.y1 * side, b.x2 * side, b.y2 * side);
                Detection { bbox, score: f.score, class: 0 }
            })
            .collect();
        // NMS in input pixels, as face-api does; then boxes wholly on the padding are dropped.
        let nms_cfg = NmsConfig {
            iou_threshold: cfg.iou_threshold,
            score_threshold: cfg.score_threshold,
            max_boxes: usize::MAX,
            mode: NmsMode::ClassAgnostic,
        };
        Ok(nms(&candidates, &nms_cfg)?
            .into_iter()
            .map(|d| FaceBox { bbox: placement.to_original(&d.bbox), score: d.score })
            .filter(|f| f.bbox.area() > 0.0)
            .take(cfg.max_faces)
            .collect())
    }
}
