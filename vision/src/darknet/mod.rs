//! Darknet models (sheet 20's YOLO, as published): the `.cfg` parser ([`cfg`](mod@cfg)), the
//! `.weights` reader ([`weights`]), the network they describe ([`network`], YOLOv3-tiny and
//! similar), darknet's letterbox preprocessing ([`letterbox`](mod@letterbox)), and the whole
//! photo-to-boxes pipeline ([`detect_image`]).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_vision::darknet::{parse_cfg, parse_weights, Darknet};
//! let cfg = parse_cfg("[net]\nwidth=4\nheight=4\nchannels=1\n\
//!     [convolutional]\nfilters=6\nsize=1\nactivation=linear\n\
//!     [maxpool]\nsize=2\nstride=2\n\
//!     [yolo]\nmask=0\nanchors=2,2\nclasses=1\n", "tiny.cfg")?;
//! assert_eq!(cfg.weights_len()?, 12); // 6 biases and 6 1x1 kernels
//! let mut file = vec![0u8; 20]; // version 0.2.0: a 20-byte header
//! file[4] = 2;
//! for v in [0f32, 0.0, 0.0, 0.0, 0.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
//!     file.extend(v.to_le_bytes());
//! }
//! let net = Darknet::new(&cfg, &parse_weights(&file, "tiny.weights")?, &Device::Cpu)?;
//! assert_eq!(net.heads()[0].grid, (2, 2));
//! let out = net.forward(&Tensor::ones((1, 1, 4, 4), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(out[0].dims(), &[1, 6, 2, 2]);
//! // Objectness channel: bias 0.5 + kernel 5 times the input 1.
//! assert_eq!(out[0].get(0)?.get(4)?.flatten_all()?.to_vec1::<f32>()?, [5.5; 4]);
//! # Ok::<(), dls_vision::Error>(())
//! ```

pub mod cfg;
pub mod letterbox;
pub mod network;
pub mod pipeline;
pub mod weights;

pub use cfg::{parse_cfg, CfgActivation, ConvSpec, DarknetConfig, LayerSpec, NetSpec, YoloSpec};
pub use letterbox::{letterbox, Letterbox};
pub use network::Darknet;
pub use pipeline::detect_image;
pub use weights::{parse_weights, read_weights, DarknetWeights, WeightsHeader};

use std::path::Path;

use candle_core::Device;

use crate::{Error, Result};

/// Reads a cfg file and its weights file and builds the network on `device`.
///
/// # Errors
/// [`Error::Io`] for unreadable files, then as [`parse_cfg`], [`read_weights`] and [`Darknet::new`].
pub fn load(cfg: impl AsRef<Path>, weights: impl AsRef<Path>, device: &Device) -> Result<Darknet> {
    let cfg = cfg.as_ref();
    let name = cfg.display().to_string();
    let text = std::fs::read_to_string(cfg).map_err(|source| Error::Io { path: name.clone(), source })?;
    let parsed = parse_cfg(&text, &name)?;
    Darknet::new(&parsed, &read_weights(weights)?, device)
}
