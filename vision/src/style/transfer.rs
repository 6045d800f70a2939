//! The style-transfer loop: start from the content image plus seeded noise and change the image
//! itself, not the network, to lower `α J_content + β J_style + tv_weight TV` ([`super::cost`]).
//!
//! Two optimisers: Adam (the course's; the image is clipped to `[0, 1]` after every step) and
//! L-BFGS ([`super::lbfgs`], projected onto `[0, 1]`), which usually reaches a lower cost for the
//! same number of forward-backward passes.
//!
//! ```
//! use std::collections::HashMap;
//! use candle_core::{DType, Device, Tensor};
//! use dls_vision::style::{LayerId, StyleTransfer, VggFeatures, VggFeaturesConfig};
//! let dev = Device::Cpu;
//! // A two-layer stand-in for VGG-19 (which `VggFeatures::vgg19(path, DType::F32)` loads).
//! let cfg = VggFeaturesConfig { in_channels: 3, blocks: vec![(4, 1), (4, 1)] };
//! let mut tensors = HashMap::new();
//! for (id, c, oc) in cfg.layers() {
//!     let w = (Tensor::arange(0f32, (oc * c * 9) as f32, &dev)?.sin()? * 0.01)?.reshape((oc, c, 3, 3))?;
//!     tensors.insert(format!("{}.weight", id.tensor_prefix()), w);
//!     tensors.insert(format!("{}.bias", id.tensor_prefix()), Tensor::full(0.1f32, oc, &dev)?);
//! }
//! let net = VggFeatures::from_tensors(&tensors, &cfg, DType::F32, "example")?;
//! let content = (Tensor::arange(0f32, 192.0, &dev)?.reshape((3, 8, 8))? / 192.0)?;
//! let style = content.affine(-1.0, 1.0)?;
//! let st = StyleTransfer {
//!     content_layer: LayerId::new(2, 1),
//!     style_layers: vec![(LayerId::new(1, 1), 1.0)],
//!     iterations: 20,
//!     ..StyleTransfer::default()
//! };
//! let out = st.run(&net, &content, &style, |i, costs| println!("{i}: {}", costs.total))?;
//! let first = out.initial_costs().map_or(0.0, |c| c.total);
//! assert!(out.final_costs.total < 0.5 * first);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor, Var};
use candle_nn::Optimizer;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::SeededRng;
use image::imageops::FilterType;
use image::DynamicImage;
use rand::Rng;

use super::cost::{content_cost, gram, style_cost, total_variation};
use super::lbfgs::{lbfgs, LbfgsConfig};
use super::vgg19::{preprocess, LayerId, VggFeatures};
use crate::io::{image_to_tensor, ColorMode};
use crate::{Error, Result};

/// How the image is optimised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Adam with [`StyleTransfer::learning_rate`], clipping to `[0, 1]` after each step.
    Adam,
    /// L-BFGS remembering `history` steps, with a backtracking line search, kept in `[0, 1]`;
    /// each cost evaluation counts as one of [`StyleTransfer::iterations`].
    Lbfgs {
        /// Number of past steps kept for the curvature estimate.
        history: usize,
    },
}

/// Settings of a style transfer (defaults: the course's layers and weights).
#[derive(Clone, Debug, PartialEq)]
pub struct StyleTransfer {
    /// Layer whose activations carry the content (`conv4_2`).
    pub content_layer: LayerId,
    /// Style layers and their weights λ (`conv1_1` ... `conv5_1`, 0.2 each).
    pub style_layers: Vec<(LayerId, f64)>,
    /// Weight α of the content cost (10).
    pub alpha: f64,
    /// Weight β of the style cost (40).
    pub beta: f64,
    /// Weight of the total-variation cost of the `[0, 1]` image (0: the course has none; with
    /// the course's α and β on VGG-19's Caffe-scale activations it takes about 1e5 to matter).
    pub tv_weight: f64,
    /// Optimiser steps (Adam) or cost evaluations (L-BFGS).
    pub iterations: usize,
    /// Adam's learning rate, on the `[0, 1]` pixel scale (0.02).
    pub learning_rate: f64,
    /// The optimiser.
    pub method: Method,
    /// L-BFGS: the most any pixel may change in one step (0.1 on the `[0, 1]` scale).
    pub max_step: f64,
    /// Seed of the initial noise.
    pub seed: u64,
    /// The initial image is the content plus uniform noise in `[-noise, noise]`, clipped (0.25).
    pub noise: f64,
    /// Longer side of the images in pixels (256); see [`fit_pair`].
    pub size: usize,
}

impl Default for StyleTransfer {
    fn default() -> Self {
        let style = [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)].map(|(b, c)| (LayerId::new(b, c), 0.2));
        Self {
            content_layer: LayerId::new(4, 2),
            style_layers: style.to_vec(),
            alpha: 10.0,
            beta: 40.0,
            tv_weight: 0.0,
            iterations: 200,
            learning_rate: 0.02,
            method: Method::Adam,
            max_step: 0.1,
            seed: 0,
            noise: 0.25,
            size: 256,
        }
    }
}

/// The costs of one image: the three parts unweighted, and the weighted total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// `α content + β style + tv_weight tv`.
    pub total: f64,
    /// `J_content`.
    pub content: f64,
    /// `J_style = Σ λ_l J_style^[l]`.
    pub style: f64,
    /// Total variation of the `[0, 1]` image.
    pub tv: f64,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The generated image, RGB `[3, h, w]` in `[0, 1]`.
    pub image: Tensor,
    /// Costs at each evaluation, starting with the initial image.
    pub history: Vec<Costs>,
    /// Costs of the returned image.
    pub final_costs: Costs,
}

impl Outcome {
    /// Costs of the initial (noisy) image.
    pub fn initial_costs(&self) -> Option<Costs> {
        self.history.first().copied()
    }
}

/// The fixed targets of one run and the cost of any image against them.
struct Objective<'a> {
    net: &'a VggFeatures,
    cfg: &'a StyleTransfer,
    layers: Vec<LayerId>,
    content: Tensor,
    grams: Vec<Tensor>,
    lambdas: Vec<f64>,
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl<'a> Objective<'a> {
    fn new(net: &'a VggFeatures, cfg: &'a StyleTransfer, content: &Tensor, style: &Tensor) -> Result<Self> {
        let mut layers = vec![cfg.content_layer];
        layers.extend(cfg.style_layers.iter().map(|(l, _)| *l));
        let c = net.features(&preprocess(&content.unsqueeze(0)?)?, &layers[..1])?;
        let s = net.features(&preprocess(&style.unsqueeze(0)?)?, &layers[1..])?;
        let content = c.into_iter().next().map(|t| t.detach()).ok_or_else(|| Error::Invalid {
            what: "content features".into(),
            message: "none computed".into(),
        })?;
        let grams = s.iter().map(|a| Ok(gram(a)?.detach())).collect::<Result<Vec<_>>>()?;
        let lambdas = cfg.style_layers.iter().map(|(_, w)| *w).collect();
        Ok(Self { net, cfg, layers, content, grams, lambdas })
    }

    /// The total cost as a tensor (for backward) and its parts, of an RGB `[3, h, w]` image.
    fn evaluate(&self, image: &Tensor) -> Result<(Tensor, Costs)> {
        let feats = self.net.features(&preprocess(&image.unsqueeze(0)?)?, &self.layers)?;
        let (a_c, a_s) = feats.split_first().ok_or_else(|| Error::Invalid {
            what: "generated features".into(),
            message: "none computed".into(),
        })?;
        let jc = content_cost(&self.content, a_c)?;
        let js = style_cost(&self.grams, a_s, &self.lambdas)?;
        let tv = total_variation(image)?;
        let c = self.cfg;
        let total = ((&jc * c.alpha)? + (&js * c.beta)? + (&tv * c.tv_weight)?)?;
        let costs =
            Costs { total: scalar(&total)?, content: scalar(&jc)?, style: scalar(&js)?, tv: scalar(&tv)? };
        Ok((total, costs))
    }
}

impl StyleTransfer {
    /// Checks the settings against `net`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a layer `net` lacks, no style layer, a negative or non-finite
    /// weight, a learning rate, step or noise out of range, zero iterations, or L-BFGS without history.
    pub fn validate(&self, net: &VggFeatures) -> Result<()> {
        let bad = |what: &str, message: String| Err(Error::Invalid { what: what.into(), message });
        let layers = std::iter::once(self.content_layer).chain(self.style_layers.iter().map(|(l, _)| *l));
        if let Some(l) = layers.clone().find(|l| !net.has_layer(*l)) {
            return bad("style transfer layer", format!("{l} is not in the network"));
        }
        let weights =
            [self.alpha, self.beta, self.tv_weight].into_iter().chain(self.style_layers.iter().map(|w| w.1));
        if self.style_layers.is_empty() || weights.clone().any(|w| !w.is_finite() || w < 0.0) {
            return bad(
                "style transfer weights",
                format!("need style layers and finite weights >= 0: {self:?}"),
            );
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.learning_rate) || !positive(self.max_step) || !(0.0..=1.0).contains(&self.noise) {
            return bad(
                "style transfer settings",
                format!(
                    "learning rate {} and max step {} must be > 0, noise {} in [0, 1]",
                    self.learning_rate, self.max_step, self.noise
                ),
            );
        }
        if self.iterations == 0 || self.method == (Method::Lbfgs { history: 0 }) {
            return bad("style transfer settings", "need iterations > 0 (and L-BFGS history > 0)".into());
        }
        Ok(())
    }

    /// The initial image: `content` plus seeded uniform noise in `[-noise, noise]`, clipped to `[0, 1]`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn initial_image(&self, content: &Tensor) -> Result<Tensor> {
        let rng = SeededRng::new(self.seed);
        let mut rng = rng.lock();
        let n = content.elem_count();
        let noise: Vec<f64> = (0..n)
            .map(|_| if self.noise > 0.0 { rng.random_range(-self.noise..self.noise) } else { 0.0 })
            .collect();
        let noise = Tensor::from_vec(noise, content.shape(), content.device())?.to_dtype(content.dtype())?;
        Ok((content + noise)?.clamp(0.0, 1.0)?)
    }

    /// Optimises an image that keeps `content`'s content in `style`'s style; both RGB
    /// `[3, h, w]` in `[0, 1]`, of the network's dtype (they need not share a size: only Gram
    /// matrices of the style image are used, with the generated image's normalisation).
    /// `on_step(i, costs)` sees the costs of each evaluation `i`, the initial image's first.
    ///
    /// # Errors
    /// As [`StyleTransfer::validate`]; [`Error::Invalid`] for images of another shape or dtype,
    /// or too small for the network's pools.
    pub fn run(
        &self,
        net: &VggFeatures,
        content: &Tensor,
        style: &Tensor,
        mut on_step: impl FnMut(usize, &Costs),
    ) -> Result<Outcome> {
        self.validate(net)?;
        let objective = Objective::new(net, self, content, style)?;
        let var = Var::from_tensor(&self.initial_image(content)?)?;
        let mut history = Vec::with_capacity(self.iterations + 1);
        match self.method {
            Method::Adam => {
                let config = AdamConfig { lr: self.learning_rate, ..AdamConfig::default() };
                let mut adam = Adam::new(vec![var.clone()], config)?;
                for i in 0..self.iterations {
                    let (total, costs) = objective.evaluate(var.as_tensor())?;
                    on_step(i, &costs);
                    history.push(costs);
                    adam.step(&total.backward()?)?;
                    var.set(&var.as_tensor().clamp(0.0, 1.0)?)?;
                }
            }
            Method::Lbfgs { history: memory } => {
                let config = LbfgsConfig {
                    history: memory,
                    evaluations: self.iterations,
                    bounds: Some((0.0, 1.0)),
                    max_step: Some(self.max_step),
                    ..LbfgsConfig::default()
                };
                let mut i = 0;
                let best = lbfgs(var.as_tensor(), &config, |x: &Tensor| {
                    let x = Var::from_tensor(x)?;
                    let (total, costs) = objective.evaluate(x.as_tensor())?;
                    on_step(i, &costs);
                    history.push(costs);
                    i += 1;
                    let grads = total.backward()?;
                    let g =
                        grads.get(x.as_tensor()).cloned().map_or_else(|| x.as_tensor().zeros_like(), Ok)?;
                    Ok((costs.total, g))
                })?;
                var.set(&best.clamp(0.0, 1.0)?)?;
            }
        }
        let (_, final_costs) = objective.evaluate(var.as_tensor())?;
        Ok(Outcome { image: var.as_tensor().detach(), history, final_costs })
    }
}

/// The two images at the working size: the content resized so its longer side is `size` (aspect
/// kept), the style centre-cropped to the content's aspect ratio and resized to the same
/// `[3, h, w]`; RGB f32 in `[0, 1]`.
///
/// # Errors
/// [`Error::Invalid`] for `size` outside `32..=16384` (VGG-19 pools four times before conv5_1)
/// or an empty image.
pub fn fit_pair(content: &DynamicImage, style: &DynamicImage, size: usize) -> Result<(Tensor, Tensor)> {
    let (cw, ch) = (content.width() as usize, content.height() as usize);
    let (sw, sh) = (style.width() as usize, style.height() as usize);
    if !(32..=16_384).contains(&size) || cw.min(ch).min(sw).min(sh) == 0 {
        return Err(Error::Invalid {
            what: "style transfer images".into(),
            message: format!("size {size} must be in 32..=16384; images {cw}x{ch} and {sw}x{sh}"),
        });
    }
    let scale = size as f64 / cw.max(ch) as f64;
    let (w, h) = (((cw as f64 * scale).round() as u32).max(16), ((ch as f64 * scale).round() as u32).max(16));
    let c = content.resize_exact(w, h, FilterType::Lanczos3);
    // Crop the style to w:h around its centre.
    let (crop_w, crop_h) = if sw * h as usize > sh * w as usize {
        ((sh * w as usize / h as usize).max(1), sh)
    } else {
        (sw, (sw * h as usize / w as usize).max(1))
    };
    let s =
        style.crop_imm(((sw - crop_w) / 2) as u32, ((sh - crop_h) / 2) as u32, crop_w as u32, crop_h as u32);
    let s = s.resize_exact(w, h, FilterType::Lanczos3);
    Ok((image_to_tensor(&c, ColorMode::Rgb)?, image_to_tensor(&s, ColorMode::Rgb)?))
}
