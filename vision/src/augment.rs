//! Data augmentation (sheet 19): new training images from old ones by transformations that keep
//! the label — horizontal flips, random crops of a zero-padded image (small shifts), and colour
//! jitter (brightness, contrast, saturation, as torchvision's `ColorJitter` defines them).
//!
//! Everything works on batches `[n, c, h, w]` of images with values in `[0, 1]`, draws one random
//! choice per image from a [`SeededRng`] (the same seed gives the same batch), and has a
//! deterministic core ([`flip_horizontal`], [`pad_and_crop`], [`adjust_brightness`], ...) that
//! takes the choices explicitly. [`Augment`] chains steps into a pipeline; [`Augmented`] wraps
//! any [`Learner`] so the fit loop trains on augmented batches and evaluates on clean ones.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::augment::flip_horizontal;
//! let x = Tensor::new(&[[[[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]]]], &Device::Cpu)?; // [1, 1, 2, 3]
//! let y = flip_horizontal(&x)?;
//! assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::Tensor;
use dls_foundations::data::Dataset;
use dls_foundations::train::{Evaluation, Learner};
use dls_foundations::SeededRng;
use rand::Rng;

use crate::{Error, Result};

fn dims4(x: &Tensor) -> Result<(usize, usize, usize, usize)> {
    x.dims4().map_err(|_| Error::Invalid {
        what: "augmentation input".into(),
        message: format!("expected a batch [n, c, h, w], got {:?}", x.dims()),
    })
}

fn invalid(what: &str, message: String) -> Error {
    Error::Invalid { what: what.into(), message }
}

/// Per-image factors as a `[n, 1, 1, 1]` tensor of `x`'s dtype.
fn per_image(x: &Tensor, factors: &[f64]) -> Result<Tensor> {
    let n = dims4(x)?.0;
    if factors.len() != n {
        return Err(invalid(
            "augmentation factors",
            format!("expected {n} (one per image), got {}", factors.len()),
        ));
    }
    Ok(Tensor::from_slice(factors, (n, 1, 1, 1), x.device())?.to_dtype(x.dtype())?)
}

/// Mirrors every image left to right: `[n, c, h, w]` to the same shape, column `j` to `w - 1 - j`.
///
/// # Errors
/// [`Error::Invalid`] for an input that is not 4-D.
pub fn flip_horizontal(x: &Tensor) -> Result<Tensor> {
    let w = dims4(x)?.3;
    let idx: Vec<u32> = (0..w as u32).rev().collect();
    Ok(x.index_select(&Tensor::new(idx, x.device())?, 3)?)
}

/// Flips the images whose entry of `flip` is true (one entry per image).
///
/// # Errors
/// [`Error::Invalid`] for an input that is not 4-D or a mask of another length.
pub fn flip_where(x: &Tensor, flip: &[bool]) -> Result<Tensor> {
    let (n, ..) = dims4(x)?;
    if flip.len() != n {
        return Err(invalid("flip mask", format!("expected {n} entries, got {}", flip.len())));
    }
    let mask: Vec<u8> = flip.iter().map(|&f| u8::from(f)).collect();
    let mask = Tensor::from_vec(mask, (n, 1, 1, 1), x.device())?.broadcast_as(x.shape())?;
    Ok(mask.where_cond(&flip_horizontal(x)?, x)?)
}

/// Pads every image with `pad` zeros on each side, then cuts the original `h x w` back out with
/// its top-left corner at `offsets[i] = (dy, dx)` of the padded image (`0..=2 pad` each; `(pad,
/// pad)` gives the image back). Output `[n, c, h, w]`.
///
/// # Errors
/// [`Error::Invalid`] for an input that is not 4-D, or offsets of the wrong count or range.
pub fn pad_and_crop(x: &Tensor, pad: usize, offsets: &[(usize, usize)]) -> Result<Tensor> {
    let (n, _, h, w) = dims4(x)?;
    if offsets.len() != n {
        return Err(invalid("crop offsets", format!("expected {n} (one per image), got {}", offsets.len())));
    }
    let max = pad.saturating_mul(2);
    if let Some((i, o)) = offsets.iter().enumerate().find(|(_, o)| o.0 > max || o.1 > max) {
        return Err(invalid("crop offsets", format!("offset {o:?} of image {i} is outside 0..={max}")));
    }
    if n == 0 || pad == 0 {
        return Ok(x.clone());
    }
    let padded = x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?;
    let crops = offsets
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| padded.narrow(0, i, 1)?.narrow(2, dy, h)?.narrow(3, dx, w))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&crops, 0)?)
}

/// Grey level of each pixel: `[n, 3, h, w]` to `[n, 1, h, w]` with ITU-R 601 weights
/// `0.299 r + 0.587 g + 0.114 b` (torchvision's `rgb_to_grayscale`); a 1-channel batch is
/// returned as it is.
///
/// # Errors
/// [`Error::Invalid`] for an input that is not 4-D or has neither 1 nor 3 channels.
pub fn grayscale(x: &Tensor) -> Result<Tensor> {
    match dims4(x)?.1 {
        1 => Ok(x.clone()),
        3 => {
            let weights = Tensor::new(&[0.299f64, 0.587, 0.114], x.device())?.to_dtype(x.dtype())?;
            Ok(x.broadcast_mul(&weights.reshape((1, 3, 1, 1))?)?.sum_keepdim(1)?)
        }
        c => Err(invalid("colour image", format!("expected 1 or 3 channels, got {c}"))),
    }
}

/// Brightness: image `i` times `factors[i]`, clamped to `[0, 1]`.
///
/// # Errors
/// [`Error::Invalid`] for an input that is not 4-D or a factor count other than `n`.
pub fn adjust_brightness(x: &Tensor, factors: &[f64]) -> Result<Tensor> {
    Ok(x.broadcast_mul(&per_image(x, factors)?)?.clamp(0f32, 1f32)?)
}

/// Contrast: image `i` blended with its mean grey level `m`, `f x + (1 - f) m`, clamped to
/// `[0, 1]` (factor 0 gives a flat grey image, 1 the image itself).
///
/// # Errors
/// As [`grayscale`], and a factor count other than `n`.
pub fn adjust_contrast(x: &Tensor, factors: &[f64]) -> Result<Tensor> {
    let (n, ..) = dims4(x)?;
    let f = per_image(x, factors)?;
    let mean = grayscale(x)?.reshape((n, ()))?.mean_keepdim(1)?.reshape((n, 1, 1, 1))?;
    blend(x, &mean, &f)
}

/// Saturation: image `i` blended with its own grey version `g`, `f x + (1 - f) g`, clamped to
/// `[0, 1]` (factor 0 gives grey). The identity on 1-channel images.
///
/// # Errors
/// As [`grayscale`], and a factor count other than `n`.
pub fn adjust_saturation(x: &Tensor, factors: &[f64]) -> Result<Tensor> {
    let f = per_image(x, factors)?;
    if x.dim(1)? == 1 {
        return Ok(x.clone());
    }
    blend(x, &grayscale(x)?, &f)
}

/// `f x + (1 - f) other`, clamped to `[0, 1]` (`other` and `f` broadcast).
fn blend(x: &Tensor, other: &Tensor, f: &Tensor) -> Result<Tensor> {
    let rest = f.affine(-1.0, 1.0)?;
    Ok((x.broadcast_mul(f)? + other.broadcast_mul(&rest)?.broadcast_as(x.shape())?)?.clamp(0f32, 1f32)?)
}

/// Colour jitter strengths: each factor is drawn uniformly from `[max(0, 1 - s), 1 + s]` per
/// image (torchvision's `ColorJitter(brightness, contrast, saturation)`); 0 leaves that property
/// alone. Applied in the order brightness, contrast, saturation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ColorJitter {
    /// Brightness strength.
    pub brightness: f64,
    /// Contrast strength.
    pub contrast: f64,
    /// Saturation strength (no effect on 1-channel images).
    pub saturation: f64,
}

/// One step of an [`Augment`] pipeline; each draws independently for every image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// Flip left to right with probability `p`.
    Flip {
        /// Probability of flipping an image.
        p: f64,
    },
    /// Pad by `pad` zeros and crop back at a uniformly drawn offset (a shift of up to `pad`).
    Crop {
        /// Padding on each side.
        pad: usize,
    },
    /// Colour jitter.
    Jitter(ColorJitter),
}

impl Step {
    fn validate(&self) -> Result<()> {
        let bad = match *self {
            Step::Flip { p } => !(0.0..=1.0).contains(&p),
            Step::Crop { .. } => false,
            Step::Jitter(j) => {
                ![j.brightness, j.contrast, j.saturation].iter().all(|s| s.is_finite() && *s >= 0.0)
            }
        };
        if bad {
            return Err(invalid(
                "augmentation step",
                format!("{self:?}: probabilities in [0, 1], strengths >= 0"),
            ));
        }
        Ok(())
    }

    /// Applies the step to a batch, drawing from `rng`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an input that is not 4-D, a colour jitter (contrast or saturation)
    /// on images with neither 1 nor 3 channels, or a step outside its range.
    pub fn apply(&self, x: &Tensor, rng: &SeededRng) -> Result<Tensor> {
        self.validate()?;
        let (n, ..) = dims4(x)?;
        let mut r = rng.lock();
        match *self {
            Step::Flip { p } => {
                let flips: Vec<bool> = (0..n).map(|_| r.random::<f64>() < p).collect();
                drop(r);
                flip_where(x, &flips)
            }
            Step::Crop { pad } => {
                let mut draw = || r.random_range(0..=pad.saturating_mul(2));
                let offsets: Vec<(usize, usize)> = (0..n).map(|_| (draw(), draw())).collect();
                drop(r);
                pad_and_crop(x, pad, &offsets)
            }
            Step::Jitter(j) => {
                let mut factors = |s: f64| -> Vec<f64> {
                    (0..n)
                        .map(|_| if s > 0.0 { r.random_range((1.0 - s).max(0.0)..=1.0 + s) } else { 1.0 })
                        .collect()
                };
                let (b, c, s) = (factors(j.brightness), factors(j.contrast), factors(j.saturation));
                drop(r);
                let mut y = x.clone();
                if j.brightness > 0.0 {
                    y = adjust_brightness(&y, &b)?;
                }
                if j.contrast > 0.0 {
                    y = adjust_contrast(&y, &c)?;
                }
                if j.saturation > 0.0 {
                    y = adjust_saturation(&y, &s)?;
                }
                Ok(y)
            }
        }
    }
}

/// A seeded augmentation pipeline: its steps applied in order to every batch.
#[derive(Clone, Debug)]
pub struct Augment {
    steps: Vec<Step>,
    rng: SeededRng,
}

impl Augment {
    /// An empty pipeline (the identity) drawing from a stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { steps: Vec::new(), rng: SeededRng::new(seed) }
    }

    /// The pipeline with `step` appended.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a flip probability outside `[0, 1]` or a negative or non-finite
    /// jitter strength.
    pub fn then(mut self, step: Step) -> Result<Self> {
        step.validate()?;
        self.steps.push(step);
        Ok(self)
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The random stream (to save in a checkpoint).
    pub fn rng(&self) -> &SeededRng {
        &self.rng
    }

    /// Augments a batch `[n, c, h, w]` (same shape out).
    ///
    /// # Errors
    /// As [`Step::apply`].
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        dims4(x)?;
        let mut y = x.clone();
        for s in &self.steps {
            y = s.apply(&y, &self.rng)?;
        }
        Ok(y)
    }
}

/// A [`Learner`] whose training batches go through an [`Augment`] first; evaluation sees the
/// data unchanged. The pipeline's stream is checkpointed with the learner's own.
pub struct Augmented<L> {
    inner: L,
    augment: Augment,
}

impl<L: Learner> Augmented<L> {
    /// Wraps `inner`.
    pub fn new(inner: L, augment: Augment) -> Self {
        Self { inner, augment }
    }

    /// The wrapped learner.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Unwraps the learner (after training).
    pub fn into_inner(self) -> L {
        self.inner
    }
}

fn to_foundations(e: Error) -> dls_foundations::Error {
    match e {
        Error::Foundations(e) => e,
        Error::Candle(e) => dls_foundations::Error::Candle(e),
        other => dls_foundations::Error::invalid("augmentation", other.to_string()),
    }
}

impl<L: Learner> Learner for Augmented<L> {
    fn loss(&self, x: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        let x = self.augment.apply(x).map_err(to_foundations)?;
        self.inner.loss(&x, y)
    }

    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        self.inner.evaluate(data)
    }

    fn rngs(&self) -> Vec<SeededRng> {
        let mut r = self.inner.rngs();
        r.push(self.augment.rng.clone());
        r
    }
}
