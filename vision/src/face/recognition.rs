//! face-api's face recognition network (sheet 21): a ResNet-34-like descriptor, a TF.js port of
//! dlib's `dlib_face_recognition_resnet_model_v1`, mapping a 150x150 RGB face to 128 numbers;
//! two photos show the same person when their descriptors are less than 0.6 apart (Euclidean).
//!
//! The architecture follows the weights manifest (`face_recognition_model-weights_manifest.json`):
//! - input: RGB in `[0, 1]`, scaled to 0-255, minus the mean `[122.782, 117.001, 104.298]`,
//!   divided by 256;
//! - `conv32_down`: 7x7 convolution, stride 2, VALID padding (150 -> 72), then a 3x3 stride-2
//!   VALID max pool (-> 35);
//! - residual blocks `x + conv2(relu(conv1(x)))`, then ReLU, with 3x3 SAME convolutions:
//!   three at 32 channels, the down block `conv64_down` and three at 64, `conv128_down` and two at
//!   128, `conv256_down` and two at 256, and a last down block `conv256_down_out` at 256;
//! - a down block's `conv1` has stride 2 and VALID padding; its shortcut is a 2x2 stride-2 average
//!   pool of the input, zero-padded in channels to the block's width; when the pooled map is one
//!   pixel larger (even input sizes: 8 -> 3 vs 4), the convolution branch gets a row and a column
//!   of zeros at the bottom and right (35 -> 17, 17 -> 8, 8 -> 3 + 1, 4 -> 1 + 1);
//! - every convolution has a bias followed by a per-channel affine "scale" layer
//!   (`x * weights + biases`, dlib's frozen batch norm), folded here into the convolution;
//! - the mean over the final 2x2 map, then `fc` `[256, 128]` (no bias, no normalisation).
//!
//! [`RecognitionConfig`] keeps the block names but lets the widths, descriptor size and input size
//! change, so tests can build a small network.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_vision::face::{FaceRecognitionNet, Manifest, RecognitionConfig, TfjsWeights};
//! // A tiny network: filters 0, biases and `fc` 0.01, scale layers the identity. The stem gives
//! // 0.01 everywhere and each of the 14 blocks adds 0.01, so the final map is 0.15 and each
//! // output 0.15 * 0.01 * 2 channels = 0.003.
//! let cfg = RecognitionConfig { widths: [2, 2, 2, 2], embedding: 3, input_size: 131 };
//! let tensors = FaceRecognitionNet::expected_tensors(&cfg);
//! let entries: Vec<String> = tensors.iter().map(|(name, shape)| format!(
//!     r#"{{"name": "{name}", "shape": {shape:?}, "dtype": "float32",
//!         "quantization": {{"dtype": "uint8", "scale": 0.01, "min": 0.0}}}}"#)).collect();
//! let json = format!(r#"[{{"paths": ["w.bin"], "weights": [{}]}}]"#, entries.join(","));
//! let level = |name: &str| match name.rsplit('/').next() {
//!     Some("filters" | "biases") => 0u8, // value 0
//!     Some("weights") => 100,              // the scale: 1
//!     _ => 1,                              // biases and fc: 0.01
//! };
//! let bytes: Vec<u8> =
//!     tensors.iter().flat_map(|(name, shape)| vec![level(name); shape.iter().product()]).collect();
//! let weights = TfjsWeights::from_bytes(&Manifest::parse(&json, "demo")?, &[bytes], "demo", &Device::Cpu)?;
//! let net = FaceRecognitionNet::from_weights(&weights, &cfg)?;
//! let e = net.embed(&Tensor::ones((1, 3, 131, 131), DType::F32, &Device::Cpu)?)?.to_vec2::<f32>()?;
//! assert!(e[0].iter().all(|v| (v - 0.003).abs() < 1e-6), "{e:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use image::RgbImage;

use super::tfjs::TfjsWeights;
use super::tiny_detector::{conv_from_tensors, square_input, SquareAlign};
use crate::conv::Padding;
use crate::detect::BBox;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{pool2d, Pool2dConfig, PoolKind};
use crate::{Error, Result};

/// Mean RGB (0-255) subtracted from the input by face-api's recognition network.
pub const RECOGNITION_MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

/// face-api's threshold: descriptors closer than this (Euclidean) are the same person.
pub const SAME_PERSON_DISTANCE: f64 = 0.6;

/// Sizes of a [`FaceRecognitionNet`]; the default is face-api's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecognitionConfig {
    /// Channels of the four stages (the `conv32`, `conv64`, `conv128` and `conv256` blocks),
    /// non-decreasing.
    pub widths: [usize; 4],
    /// Length of the descriptor (`fc`'s output).
    pub embedding: usize,
    /// Height and width of the (square) input.
    pub input_size: usize,
}

impl Default for RecognitionConfig {
    /// Widths 32, 64, 128, 256; 128-d descriptors; 150x150 input.
    fn default() -> Self {
        Self { widths: [32, 64, 128, 256], embedding: 128, input_size: 150 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Residual,
    Down,
}

/// The residual blocks: name, kind, input and output channels.
fn blocks(cfg: &RecognitionConfig) -> Vec<(String, BlockKind, usize, usize)> {
    let [w0, w1, w2, w3] = cfg.widths;
    let mut out = Vec::new();
    let mut stage = |name: &str, down: Option<usize>, width: usize, repeats: usize| {
        if let Some(from) = down {
            out.push((format!("conv{name}_down"), BlockKind::Down, from, width));
        }
        for i in 1..=repeats {
            out.push((format!("conv{name}_{i}"), BlockKind::Residual, width, width));
        }
    };
    stage("32", None, w0, 3);
    stage("64", Some(w0), w1, 3);
    stage("128", Some(w1), w2, 2);
    stage("256", Some(w2), w3, 2);
    out.push(("conv256_down_out".into(), BlockKind::Down, w3, w3));
    out
}

/// A convolution with its bias and scale layer folded in, then optionally ReLU.
#[derive(Clone, Debug)]
struct ScaledConv {
    conv: Conv2d,
    relu: bool,
}

impl ScaledConv {
    /// Reads `{prefix}/conv/filters`, `/conv/bias`, `/scale/weights`, `/scale/biases`; `down`:
    /// stride 2 and VALID padding, else stride 1 and SAME.
    fn new(
        w: &TfjsWeights,
        prefix: &str,
        (cin, cout, k): (usize, usize, usize),
        down: bool,
        relu: bool,
    ) -> Result<Self> {
        let filters = w.get_with_shape(&format!("{prefix}/conv/filters"), &[k, k, cin, cout])?;
        let bias = w.get_with_shape(&format!("{prefix}/conv/bias"), &[cout])?;
        let scale = w.get_with_shape(&format!("{prefix}/scale/weights"), &[cout])?;
        let shift = w.get_with_shape(&format!("{prefix}/scale/biases"), &[cout])?;
        let oihw = filters.to_dtype(DType::F32)?.permute((3, 2, 0, 1))?;
        let scale = scale.to_dtype(DType::F32)?;
        let weight = oihw.broadcast_mul(&scale.reshape((cout, 1, 1, 1))?)?.contiguous()?;
        let bias = ((bias.to_dtype(DType::F32)? * &scale)? + shift.to_dtype(DType::F32)?)?;
        let padding = if down { Padding::Valid } else { Padding::Same };
        let cfg =
            Conv2dConfig { stride: if down { 2 } else { 1 }, padding, ..Conv2dConfig::new(cin, cout, k) };
        Ok(Self { conv: conv_from_tensors(weight, Some(bias), &cfg)?, relu })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.try_forward(x)?;
        Ok(if self.relu { y.relu()? } else { y })
    }
}

#[derive(Clone, Debug)]
struct Block {
    kind: BlockKind,
    conv1: ScaledConv,
    conv2: ScaledConv,
    out_channels: usize,
}

impl Block {
    fn new(w: &TfjsWeights, name: &str, kind: BlockKind, cin: usize, cout: usize) -> Result<Self> {
        let down = kind == BlockKind::Down;
        let conv1 = ScaledConv::new(w, &format!("{name}/conv1"), (cin, cout, 3), down, true)?;
        let conv2 = ScaledConv::new(w, &format!("{name}/conv2"), (cout, cout, 3), false, false)?;
        Ok(Self { kind, conv1, conv2, out_channels: cout })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.conv2.forward(&self.conv1.forward(x)?)?;
        let shortcut = match self.kind {
            BlockKind::Residual => return Ok((out + x)?.relu()?),
            BlockKind::Down => {
                let pool =
                    Pool2dConfig { kernel: 2, stride: 2, padding: Padding::Valid, kind: PoolKind::Avg };
                pool2d(x, &pool)?
            }
        };
        let (_, c, ph, pw) = shortcut.dims4()?;
        let shortcut = shortcut.pad_with_zeros(1, 0, self.out_channels.saturating_sub(c))?;
        let (_, _, oh, ow) = out.dims4()?;
        // VALID stride 2 gives floor((n - 1) / 2), the pool floor(n / 2): at most one short.
        let out =
            out.pad_with_zeros(2, 0, ph.saturating_sub(oh))?.pad_with_zeros(3, 0, pw.saturating_sub(ow))?;
        Ok((out + shortcut)?.relu()?)
    }
}

/// face-api's face recognition network: input `[n, 3, s, s]` RGB in `[0, 1]` (`s` = 150),
/// output `[n, 128]` descriptors.
#[derive(Clone, Debug)]
pub struct FaceRecognitionNet {
    cfg: RecognitionConfig,
    stem: ScaledConv,
    blocks: Vec<Block>,
    fc: Tensor,
    mean: Tensor,
}

impl FaceRecognitionNet {
    /// Names and TF shapes of every tensor a network of `cfg` reads, in face-api's manifest order.
    pub fn expected_tensors(cfg: &RecognitionConfig) -> Vec<(String, Vec<usize>)> {
        let conv = |prefix: &str, k: usize, cin: usize, cout: usize| {
            vec![
                (format!("{prefix}/conv/filters"), vec![k, k, cin, cout]),
                (format!("{prefix}/conv/bias"), vec![cout]),
                (format!("{prefix}/scale/weights"), vec![cout]),
                (format!("{prefix}/scale/biases"), vec![cout]),
            ]
        };
        let mut out = conv("conv32_down", 7, 3, cfg.widths[0]);
        for (name, _, cin, cout) in blocks(cfg) {
            out.extend(conv(&format!("{name}/conv1"), 3, cin, cout));
            out.extend(conv(&format!("{name}/conv2"), 3, cout, cout));
        }
        out.push(("fc".into(), vec![cfg.widths[3], cfg.embedding]));
        out
    }

    /// Loads face-api's network from `face_recognition_model-weights_manifest.json` (and the
    /// `.bin` beside it) onto `device`.
    ///
    /// # Errors
    /// As [`TfjsWeights::load`] and [`FaceRecognitionNet::from_weights`].
    pub fn load(manifest: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::from_weights(&TfjsWeights::load(manifest, device)?, &RecognitionConfig::default())
    }

    /// Builds a network of `cfg` from decoded TF.js tensors.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero or decreasing width, an input size too small for the five
    /// down-samplings, or a tensor that is missing or has another shape than
    /// [`FaceRecognitionNet::expected_tensors`] says (naming the tensor and both shapes).
    pub fn from_weights(weights: &TfjsWeights, cfg: &RecognitionConfig) -> Result<Self> {
        let w = cfg.widths;
        if w.contains(&0) || w.windows(2).any(|p| p[1] < p[0]) || cfg.embedding == 0 {
            return Err(Error::Invalid {
                what: "recognition config".into(),
                message: format!("widths {w:?} must be > 0 and non-decreasing, embedding > 0"),
            });
        }
        check_input_size(cfg.input_size)?;
        let stem = ScaledConv::new(weights, "conv32_down", (3, w[0], 7), true, true)?;
        let blocks = blocks(cfg)
            .iter()
            .map(|(name, kind, cin, cout)| Block::new(weights, name, *kind, *cin, *cout))
            .collect::<Result<_>>()?;
        let fc = weights.get_with_shape("fc", &[w[3], cfg.embedding])?.to_dtype(DType::F32)?;
        let mean = Tensor::from_slice(&RECOGNITION_MEAN_RGB, (1, 3, 1, 1), fc.device())?;
        Ok(Self { cfg: *cfg, stem, blocks, fc, mean })
    }

    /// The network's sizes.
    pub fn config(&self) -> &RecognitionConfig {
        &self.cfg
    }

    /// Descriptors `[n, embedding]` of faces `[n, 3, s, s]` (RGB in `[0, 1]`, `s` = the input size).
    ///
    /// # Errors
    /// [`Error::Invalid`] for another input shape.
    pub fn embed(&self, faces: &Tensor) -> Result<Tensor> {
        let s = self.cfg.input_size;
        if !matches!(faces.dims(), [n, 3, h, w] if *n > 0 && *h == s && *w == s) {
            return Err(Error::Invalid {
                what: "face recognition input".into(),
                message: format!("expected [n, 3, {s}, {s}] RGB in [0, 1], got {:?}", faces.dims()),
            });
        }
        let x = (faces.to_dtype(DType::F32)? * (255.0 / 256.0))?.broadcast_sub(&(&self.mean / 256.0)?)?;
        let x = self.stem.forward(&x)?;
        let pool = Pool2dConfig { kernel: 3, stride: 2, padding: Padding::Valid, kind: PoolKind::Max };
        let mut x = pool2d(&x, &pool)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        Ok(x.flatten_from(2)?.mean(D::Minus1)?.matmul(&self.fc)?)
    }

    /// Descriptors of face crops of any size: each is scaled so its longer side is the input size
    /// and centred on a black square (face-api pads to a square, then scales).
    ///
    /// # Errors
    /// [`Error::Invalid`] for no crops, an empty crop, or an input size beyond `u32`.
    pub fn embed_crops(&self, crops: &[RgbImage]) -> Result<Tensor> {
        if crops.is_empty() {
            return Err(Error::Invalid { what: "face crops".into(), message: "no crops given".into() });
        }
        let size = u32::try_from(self.cfg.input_size).map_err(|_| Error::Invalid {
            what: "recognition input size".into(),
            message: format!("{} does not fit in u32", self.cfg.input_size),
        })?;
        let inputs = crops
            .iter()
            .map(|c| Ok(square_input(c, size, SquareAlign::Centre)?.0))
            .collect::<Result<Vec<_>>>()?;
        self.embed(&Tensor::stack(&inputs, 0)?.to_device(self.fc.device())?)
    }
}

/// The stem (7x7 / 2), the pool (3x3 / 2) and four down blocks (3x3 / 2, each needing 3 pixels,
/// leaving the pool's floor(n / 2)) must fit: 103 is the smallest size that does.
fn check_input_size(s: usize) -> Result<()> {
    let mut n = s.saturating_sub(7) / 2 + 1;
    let mut ok = s >= 7 && n >= 3;
    n = n.saturating_sub(3) / 2 + 1;
    for _ in 0..4 {
        ok &= n >= 3;
        n /= 2;
    }
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "recognition input size".into(),
            message: format!("{s} is too small for the stem and four down blocks (at least 103)"),
        })
    }
}

/// The part of `img` inside `bbox` grown by `margin` times its width and height on every side
/// (a negative margin, down to -0.5, shrinks it), clipped to the image.
///
/// # Errors
/// [`Error::Invalid`] for a box with non-finite corners, a margin of -0.5 or less (or not
/// finite), or no overlap with the image.
pub fn crop_face(img: &RgbImage, bbox: &BBox, margin: f32) -> Result<RgbImage> {
    if !bbox.is_valid() || !margin.is_finite() || margin <= -0.5 {
        return Err(Error::Invalid {
            what: "face crop".into(),
            message: format!("needs an ordered, finite box and a margin > -0.5, got {bbox:?}, {margin}"),
        });
    }
    let (mx, my) = (bbox.width() * margin, bbox.height() * margin);
    let grown = BBox::new(bbox.x1 - mx, bbox.y1 - my, bbox.x2 + mx, bbox.y2 + my)
        .clip(img.width() as f32, img.height() as f32);
    let (x1, y1) = (grown.x1.floor() as u32, grown.y1.floor() as u32);
    let (x2, y2) = (grown.x2.ceil() as u32, grown.y2.ceil() as u32);
    if x2 <= x1 || y2 <= y1 {
        return Err(Error::Invalid {
            what: "face crop".into(),
            message: format!("{bbox:?} is empty or lies outside the {}x{} image", img.width(), img.height()),
        });
    }
    Ok(image::imageops::crop_imm(img, x1, y1, x2 - x1, y2 - y1).to_image())
}
