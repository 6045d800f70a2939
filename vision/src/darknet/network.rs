//! A darknet network built from a parsed cfg and its weights (YOLOv3-tiny and kin): convolution
//! with batch norm folded into it (`γ / sqrt(var + 1e-6)` scales the kernel, as darknet's
//! inference normalises), leaky / linear / logistic activations, max pooling padded as darknet
//! pads (including the size-2 stride-1 pool that keeps the size), nearest upsampling, routes and
//! YOLO heads. Inference only.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use super::cfg::{CfgActivation, ConvSpec, DarknetConfig, LayerSpec};
use super::weights::DarknetWeights;
use crate::conv::Padding;
use crate::detect::YoloHead;
use crate::layers::{Conv2d, Conv2dConfig};
use crate::pool::{pool2d, Pool2dConfig, PoolKind};
use crate::{Error, Result};

/// darknet's batch-norm epsilon at inference.
const BN_EPS: f32 = 1e-6;

#[derive(Clone, Debug)]
enum Layer {
    Conv(Conv2d, CfgActivation),
    MaxPool(Pool2dConfig),
    Upsample(usize),
    Route(Vec<usize>),
    Yolo,
}

/// A darknet network. Input `[n, channels, height, width]` (the cfg's `[net]` size, RGB in
/// `[0, 1]`); output one raw tensor per YOLO head, `[n, A (5 + C), gh, gw]` (see
/// [`crate::detect::yolo`]).
#[derive(Clone, Debug)]
pub struct Darknet {
    layers: Vec<Layer>,
    heads: Vec<YoloHead>,
    input: (usize, usize, usize),
}

/// Output `(channels, height, width)` of every layer, checking the cfg's geometry.
fn shapes(cfg: &DarknetConfig) -> Result<Vec<(usize, usize, usize)>> {
    let mut out: Vec<(usize, usize, usize)> = Vec::with_capacity(cfg.layers.len());
    let mut prev = (cfg.net.channels, cfg.net.height, cfg.net.width);
    let bad =
        |line: usize, message: String| Error::Invalid { what: format!("cfg layer at line {line}"), message };
    for (line, spec) in &cfg.layers {
        let (c, h, w) = prev;
        let next = match spec {
            LayerSpec::Convolutional(s) if s.size == 0 || s.stride == 0 || s.filters == 0 => {
                return Err(bad(
                    *line,
                    format!("convolution needs a size, stride and filters > 0, got {s:?}"),
                ))
            }
            LayerSpec::MaxPool { size, stride, .. } if *size == 0 || *stride == 0 => {
                return Err(bad(*line, format!("pool needs a size and stride > 0, got {size}, {stride}")))
            }
            LayerSpec::Upsample { stride: 0 } => return Err(bad(*line, "upsample stride 0".to_string())),
            LayerSpec::Yolo(y) if y.anchors.is_empty() || y.classes == 0 => {
                return Err(bad(*line, "yolo head needs anchors and classes".to_string()))
            }
            LayerSpec::Convolutional(s) => {
                let o = |n: usize| (n + 2 * s.padding).checked_sub(s.size).map(|v| v / s.stride + 1);
                match (o(h), o(w)) {
                    (Some(oh), Some(ow)) => (s.filters, oh, ow),
                    _ => return Err(bad(*line, format!("kernel {} does not fit {h}x{w}", s.size))),
                }
            }
            LayerSpec::MaxPool { size, stride, padding } => {
                let o = |n: usize| (n + padding).checked_sub(*size).map(|v| v / stride + 1);
                match (o(h), o(w)) {
                    (Some(oh), Some(ow))
                        if padding / 2 * 2 < *size && (padding - padding / 2) * 2 <= *size =>
                    {
                        (c, oh, ow)
                    }
                    _ => return Err(bad(*line, format!("pool {size} with padding {padding} on {h}x{w}"))),
                }
            }
            LayerSpec::Upsample { stride } => (c, h * stride, w * stride),
            LayerSpec::Route { layers } => {
                let parts: Vec<(usize, usize, usize)> =
                    layers.iter().filter_map(|&i| out.get(i).copied()).collect();
                let Some(&(_, rh, rw)) = parts.first().filter(|_| parts.len() == layers.len()) else {
                    return Err(bad(*line, format!("route to {layers:?} from layer {}", out.len())));
                };
                if parts.iter().any(|p| p.1 != rh || p.2 != rw) {
                    return Err(bad(*line, format!("route joins maps of different sizes {parts:?}")));
                }
                (parts.iter().map(|p| p.0).sum(), rh, rw)
            }
            LayerSpec::Yolo(y) => {
                let want = y.anchors.len() * (5 + y.classes);
                if c != want {
                    return Err(bad(*line, format!("yolo head needs {want} input channels, got {c}")));
                }
                prev
            }
        };
        out.push(next);
        prev = next;
    }
    Ok(out)
}

/// Number of f32 values a convolution takes from the weights file.
fn conv_len(s: &ConvSpec, in_c: usize) -> usize {
    let stats = if s.batch_normalize { 4 } else { 1 };
    s.filters * stats + s.filters * in_c * s.size * s.size
}

impl DarknetConfig {
    /// Number of f32 values its weights file must hold after the header.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the layer geometry does not work out (see [`Darknet::new`]).
    pub fn weights_len(&self) -> Result<usize> {
        let shapes = shapes(self)?;
        let mut total = 0;
        for (i, (_, spec)) in self.layers.iter().enumerate() {
            if let LayerSpec::Convolutional(s) = spec {
                let in_c = if i == 0 { self.net.channels } else { shapes[i - 1].0 };
                total += conv_len(s, in_c);
            }
        }
        Ok(total)
    }
}

fn conv_layer(s: &ConvSpec, in_c: usize, v: &[f32], device: &Device) -> Result<Conv2d> {
    let n = s.filters;
    let biases = &v[..n];
    let (scale, shift): (Vec<f32>, Vec<f32>) = if s.batch_normalize {
        let (gamma, mean, var) = (&v[n..2 * n], &v[2 * n..3 * n], &v[3 * n..4 * n]);
        (0..n)
            .map(|o| {
                let k = gamma[o] / (var[o] + BN_EPS).sqrt();
                (k, biases[o] - mean[o] * k)
            })
            .unzip()
    } else {
        (vec![1.0; n], biases.to_vec())
    };
    let kernel = &v[if s.batch_normalize { 4 * n } else { n }..];
    let per = in_c * s.size * s.size;
    let folded: Vec<f32> = kernel.iter().enumerate().map(|(i, w)| w * scale[i / per]).collect();
    let tensors = HashMap::from([
        ("weight".to_string(), Tensor::from_vec(folded, (n, in_c, s.size, s.size), device)?),
        ("bias".to_string(), Tensor::from_vec(shift, n, device)?),
    ]);
    let cfg = Conv2dConfig::new(in_c, n, s.size).pad(s.padding).stride(s.stride);
    Conv2d::new(VarBuilder::from_tensors(tensors, DType::F32, device), &cfg)
}

impl Darknet {
    /// Builds the network of `cfg` with the values of `weights` (f32, on `device`).
    ///
    /// # Errors
    /// A format error saying how many floats were expected and found when the weights do not
    /// match the cfg; [`Error::Invalid`] when the cfg's geometry does not work out (a kernel
    /// larger than its input, a route joining maps of different sizes, a head whose input does
    /// not have `A (5 + C)` channels).
    pub fn new(cfg: &DarknetConfig, weights: &DarknetWeights, device: &Device) -> Result<Self> {
        weights.expect_len(cfg.weights_len()?)?;
        let shapes = shapes(cfg)?;
        let mut layers = Vec::with_capacity(cfg.layers.len());
        let mut heads = Vec::new();
        let mut at = 0;
        for (i, (_, spec)) in cfg.layers.iter().enumerate() {
            let in_shape =
                if i == 0 { (cfg.net.channels, cfg.net.height, cfg.net.width) } else { shapes[i - 1] };
            layers.push(match spec {
                LayerSpec::Convolutional(s) => {
                    let len = conv_len(s, in_shape.0);
                    let conv = conv_layer(s, in_shape.0, &weights.values[at..at + len], device)?;
                    at += len;
                    Layer::Conv(conv, s.activation)
                }
                LayerSpec::MaxPool { size, stride, padding } => Layer::MaxPool(Pool2dConfig {
                    kernel: *size,
                    stride: *stride,
                    padding: Padding::Explicit { before: padding / 2, after: padding - padding / 2 },
                    kind: PoolKind::Max,
                }),
                LayerSpec::Upsample { stride } => Layer::Upsample(*stride),
                LayerSpec::Route { layers } => Layer::Route(layers.clone()),
                LayerSpec::Yolo(y) => {
                    heads.push(YoloHead {
                        anchors: y.anchors.clone(),
                        classes: y.classes,
                        input: (cfg.net.width, cfg.net.height),
                        grid: (in_shape.2, in_shape.1),
                    });
                    Layer::Yolo
                }
            });
        }
        Ok(Self { layers, heads, input: (cfg.net.channels, cfg.net.height, cfg.net.width) })
    }

    /// The detection heads, in cfg order (the order of [`Darknet::forward`]'s outputs).
    pub fn heads(&self) -> &[YoloHead] {
        &self.heads
    }

    /// The input the network expects, `(channels, height, width)`.
    pub fn input(&self) -> (usize, usize, usize) {
        self.input
    }

    /// Runs the network: one raw output per YOLO head.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an input that is not `[n, channels, height, width]`.
    pub fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let (c, h, w) = self.input;
        match x.dims() {
            &[_, xc, xh, xw] if (xc, xh, xw) == (c, h, w) => {}
            d => {
                return Err(Error::Invalid {
                    what: "darknet input".into(),
                    message: format!("expected [n, {c}, {h}, {w}], got {d:?}"),
                })
            }
        }
        let mut outputs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        let mut heads = Vec::new();
        let mut cur = x.clone();
        for layer in &self.layers {
            cur = match layer {
                Layer::Conv(conv, act) => {
                    let y = conv.forward(&cur)?;
                    match act {
                        CfgActivation::Leaky => y.maximum(&(&y * 0.1)?)?,
                        CfgActivation::Linear => y,
                        CfgActivation::Logistic => candle_nn::ops::sigmoid(&y)?,
                    }
                }
                Layer::MaxPool(p) => pool2d(&cur, p)?,
                Layer::Upsample(s) => {
                    let (_, _, h, w) = cur.dims4()?;
                    cur.upsample_nearest2d(h * s, w * s)?
                }
                Layer::Route(ids) => {
                    let parts: Vec<&Tensor> = ids.iter().map(|&i| &outputs[i]).collect();
                    Tensor::cat(&parts, 1)?
                }
                Layer::Yolo => {
                    heads.push(cur.clone());
                    cur
                }
            };
            outputs.push(cur.clone());
        }
        Ok(heads)
    }
}
