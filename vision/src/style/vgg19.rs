//! A VGG feature extractor for style transfer: the convolutional part of VGG-19 (Simonyan &
//! Zisserman 2014) with constant weights, read from a safetensors file whose tensors are named
//! `block{b}_conv{i}.weight` (OIHW) and `.bias`, as Keras names them.
//!
//! Inputs use Caffe's preprocessing, which the Keras VGG weights were trained with: channels in
//! BGR order, values in 0-255, minus the per-channel mean [`CAFFE_MEAN_BGR`] ([`preprocess`];
//! [`deprocess`] undoes it). Every convolution is 3x3 with padding 1 and a ReLU; a 2x2 max pool
//! follows each block.
//!
//! This is not [`crate::models::vgg::Vgg`]: that one is a trainable classifier with torchvision's
//! parameter names; this one has Keras' names, no classifier, frozen weights
//! ([`FrozenConv`]), and hands back intermediate activations.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::style::{preprocess, LayerId};
//! // Pure red becomes BGR (0, 0, 255) minus the mean.
//! let red = Tensor::new(&[1f32, 0., 0.], &Device::Cpu)?.reshape((3, 1, 1))?;
//! let bgr = preprocess(&red)?.flatten_all()?.to_vec1::<f32>()?;
//! assert!((bgr[2] - (255.0 - 123.68)).abs() < 1e-4 && (bgr[0] + 103.939).abs() < 1e-4);
//! assert_eq!("block4_conv2".parse::<LayerId>()?, LayerId::new(4, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};

use super::frozen::FrozenConv;
use crate::pool::{pool2d, Pool2dConfig};
use crate::{Error, Result};

/// Caffe's per-channel ImageNet mean in BGR order, on the 0-255 scale.
pub const CAFFE_MEAN_BGR: [f64; 3] = [103.939, 116.779, 123.68];

/// One convolution of the network: `conv{block}_{conv}` (1-based), i.e. the tensors
/// `block{block}_conv{conv}.*`. Activations are taken after the layer's ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId {
    /// Block, from 1 (blocks are separated by max pools).
    pub block: usize,
    /// Convolution within the block, from 1.
    pub conv: usize,
}

impl LayerId {
    /// `conv{block}_{conv}`.
    pub const fn new(block: usize, conv: usize) -> Self {
        Self { block, conv }
    }

    /// The prefix of this layer's tensors in the weights file, `block{b}_conv{i}`.
    pub fn tensor_prefix(&self) -> String {
        format!("block{}_conv{}", self.block, self.conv)
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conv{}_{}", self.block, self.conv)
    }
}

impl FromStr for LayerId {
    type Err = Error;

    /// Parses the course's `conv4_2` or Keras' `block4_conv2`.
    fn from_str(s: &str) -> Result<Self> {
        let parsed = if let Some(rest) = s.strip_prefix("block") {
            rest.split_once("_conv")
        } else {
            s.strip_prefix("conv").and_then(|rest| rest.split_once('_'))
        };
        let number = |t: &str| t.parse::<usize>().ok().filter(|&n| n > 0);
        match parsed.and_then(|(b, c)| Some((number(b)?, number(c)?))) {
            Some((block, conv)) => Ok(Self { block, conv }),
            None => Err(Error::Invalid {
                what: "layer name".into(),
                message: format!("expected conv<block>_<conv> or block<block>_conv<conv>, got {s:?}"),
            }),
        }
    }
}

/// The shape of a VGG-style feature extractor: per block, its width and number of convolutions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VggFeaturesConfig {
    /// Input channels (3).
    pub in_channels: usize,
    /// `(output channels, convolutions)` of each block.
    pub blocks: Vec<(usize, usize)>,
}

impl VggFeaturesConfig {
    /// VGG-19's 16 convolutions: 64x2, 128x2, 256x4, 512x4, 512x4.
    pub fn vgg19() -> Self {
        Self { in_channels: 3, blocks: vec![(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)] }
    }

    /// The layers in order, each with its `(in, out)` channels.
    pub fn layers(&self) -> Vec<(LayerId, usize, usize)> {
        let mut out = Vec::new();
        let mut c = self.in_channels;
        for (b, &(width, convs)) in self.blocks.iter().enumerate() {
            for i in 0..convs {
                out.push((LayerId::new(b + 1, i + 1), c, width));
                c = width;
            }
        }
        out
    }
}

impl Default for VggFeaturesConfig {
    fn default() -> Self {
        Self::vgg19()
    }
}

/// The convolutional layers of a VGG network with constant weights.
/// Input `[n, in_channels, h, w]`, preprocessed ([`preprocess`]); see [`VggFeatures::features`].
#[derive(Clone, Debug)]
pub struct VggFeatures {
    config: VggFeaturesConfig,
    /// One entry per block, one [`FrozenConv`] per convolution.
    blocks: Vec<Vec<FrozenConv>>,
}

fn weights_error(source: &str, message: String) -> Error {
    Error::Invalid { what: format!("VGG weights {source}"), message }
}

/// `t` as `dtype`, when it holds floats.
fn float_tensor(t: &Tensor, name: &str, dtype: DType, source: &str) -> Result<Tensor> {
    match t.dtype() {
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Ok(t.to_dtype(dtype)?),
        other => Err(weights_error(
            source,
            format!("tensor {name} has dtype {other:?}; expected a float (f16, bf16, f32 or f64)"),
        )),
    }
}

impl VggFeatures {
    /// VGG-19 from the safetensors file at `path`, computing in `dtype` (f32 or f64).
    ///
    /// # Errors
    /// As [`VggFeatures::load`].
    pub fn vgg19(path: impl AsRef<Path>, dtype: DType) -> Result<Self> {
        Self::load(path, &VggFeaturesConfig::vgg19(), dtype)
    }

    /// The network `config` from the safetensors file at `path` (float tensors of any width,
    /// converted to `dtype`, f32 or f64). Tensors the network does not use are ignored.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] naming the file when it is
    /// not safetensors, and naming the tensor when one is missing, has another shape, or does
    /// not hold floats.
    pub fn load(path: impl AsRef<Path>, config: &VggFeaturesConfig, dtype: DType) -> Result<Self> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Io { path: source.clone(), source: e })?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| weights_error(&source, format!("not a readable safetensors file: {e}")))?;
        Self::from_tensors(&tensors, config, dtype, &source)
    }

    /// The network `config` from named tensors; `source` names them in errors.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a missing tensor, a wrong shape or a non-float dtype (naming the
    /// tensor and `source`), a `dtype` other than f32 or f64, or an empty `config`.
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        config: &VggFeaturesConfig,
        dtype: DType,
        source: &str,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(weights_error(source, format!("compute dtype must be f32 or f64, got {dtype:?}")));
        }
        if config.in_channels == 0
            || config.blocks.is_empty()
            || config.blocks.iter().any(|&(w, n)| w == 0 || n == 0)
        {
            return Err(weights_error(source, format!("empty layer in {config:?}")));
        }
        let get = |name: String, shape: &[usize]| -> Result<Tensor> {
            let t =
                tensors.get(&name).ok_or_else(|| weights_error(source, format!("missing tensor {name}")))?;
            if t.dims() != shape {
                return Err(weights_error(
                    source,
                    format!("tensor {name}: expected shape {shape:?}, got {:?}", t.dims()),
                ));
            }
            float_tensor(t, &name, dtype, source)
        };
        let mut blocks: Vec<Vec<FrozenConv>> = vec![Vec::new(); config.blocks.len()];
        for (id, c, oc) in config.layers() {
            let prefix = id.tensor_prefix();
            let w = get(format!("{prefix}.weight"), &[oc, c, 3, 3])?;
            let b = get(format!("{prefix}.bias"), &[oc])?;
            if let Some(block) = blocks.get_mut(id.block - 1) {
                block.push(FrozenConv::new(&w, &b, 1)?);
            }
        }
        Ok(Self { config: config.clone(), blocks })
    }

    /// The network's shape.
    pub fn config(&self) -> &VggFeaturesConfig {
        &self.config
    }

    /// Whether `layer` exists in this network.
    pub fn has_layer(&self, layer: LayerId) -> bool {
        layer.block >= 1
            && self.blocks.get(layer.block - 1).is_some_and(|b| layer.conv >= 1 && layer.conv <= b.len())
    }

    /// The activations (after ReLU) of `layers`, in the order asked, for `x` `[n, c, h, w]`
    /// (preprocessed). Activations of `conv{b}_{i}` are `[n, width_b, h / 2^(b-1), w / 2^(b-1)]`
    /// (sizes rounded down at each pool). Nothing past the deepest requested layer is computed.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown layer, an empty list, or an input of the wrong shape or
    /// dtype, or too small for the pools on the way.
    pub fn features(&self, x: &Tensor, layers: &[LayerId]) -> Result<Vec<Tensor>> {
        if let Some(bad) = layers.iter().find(|l| !self.has_layer(**l)) {
            return Err(Error::Invalid {
                what: "VGG layer".into(),
                message: format!("{bad} is not in this network ({:?})", self.config.blocks),
            });
        }
        let Some(&deepest) = layers.iter().max() else {
            return Err(Error::Invalid { what: "VGG layers".into(), message: "no layer requested".into() });
        };
        let mut found: Vec<Option<Tensor>> = vec![None; layers.len()];
        let mut h = x.clone();
        'blocks: for (b, block) in self.blocks.iter().enumerate() {
            if b > 0 {
                h = pool2d(&h, &Pool2dConfig::max(2, 2, 0))?;
            }
            for (i, conv) in block.iter().enumerate() {
                h = conv.forward(&h)?;
                let id = LayerId::new(b + 1, i + 1);
                for (slot, _) in found.iter_mut().zip(layers).filter(|(_, l)| **l == id) {
                    *slot = Some(h.clone());
                }
                if id == deepest {
                    break 'blocks;
                }
            }
        }
        found
            .into_iter()
            .zip(layers)
            .map(|(t, l)| {
                t.ok_or_else(|| Error::Invalid {
                    what: "VGG layer".into(),
                    message: format!("{l} was not reached"),
                })
            })
            .collect()
    }
}

/// The channel axis of `[3, h, w]` or `[n, 3, h, w]`.
fn channel_axis(x: &Tensor, what: &str) -> Result<usize> {
    let axis = match x.rank() {
        3 => 0,
        4 => 1,
        _ => usize::MAX,
    };
    if axis == usize::MAX || x.dim(axis)? != 3 {
        return Err(Error::Invalid {
            what: what.into(),
            message: format!("expected [3, h, w] or [n, 3, h, w], got {:?}", x.dims()),
        });
    }
    Ok(axis)
}

/// The three channels in reverse order (RGB <-> BGR); differentiable.
fn swap_rb(x: &Tensor, axis: usize) -> Result<Tensor> {
    Ok(Tensor::cat(&[x.narrow(axis, 2, 1)?, x.narrow(axis, 1, 1)?, x.narrow(axis, 0, 1)?], axis)?)
}

fn mean(x: &Tensor, axis: usize) -> Result<Tensor> {
    let shape: &[usize] = if axis == 0 { &[3, 1, 1] } else { &[1, 3, 1, 1] };
    Ok(Tensor::new(&CAFFE_MEAN_BGR, x.device())?.to_dtype(x.dtype())?.reshape(shape)?)
}

/// Caffe preprocessing of an RGB image in `[0, 1]`, `[3, h, w]` or `[n, 3, h, w]`: BGR order,
/// times 255, minus [`CAFFE_MEAN_BGR`]. Differentiable, so the image itself can be optimised.
///
/// # Errors
/// [`Error::Invalid`] for a shape without three channels.
pub fn preprocess(rgb: &Tensor) -> Result<Tensor> {
    let axis = channel_axis(rgb, "image to preprocess")?;
    Ok(swap_rb(&(rgb * 255.0)?, axis)?.broadcast_sub(&mean(rgb, axis)?)?)
}

/// The inverse of [`preprocess`]: a Caffe-preprocessed BGR tensor back to RGB in `[0, 1]`
/// (not clamped).
///
/// # Errors
/// [`Error::Invalid`] for a shape without three channels.
pub fn deprocess(bgr: &Tensor) -> Result<Tensor> {
    let axis = channel_axis(bgr, "image to deprocess")?;
    Ok((swap_rb(&bgr.broadcast_add(&mean(bgr, axis)?)?, axis)? / 255.0)?)
}
