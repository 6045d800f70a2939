//! Test-time multi-crop averaging and model ensembling (sheet 19): tricks that buy a little
//! accuracy on benchmarks for extra compute at test time. [`MultiCrop`] runs one model on the
//! four corner crops and the centre crop of each image (optionally of its mirror image too:
//! torchvision's `TenCrop`) and averages the softmax outputs; [`average_probabilities`] and
//! [`majority_vote`] combine several models.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::ensemble::mean_softmax;
//! // Two models' logits for one image: softmax [0.5, 0.5] and [0.8, 0.2] average to [0.65, 0.35].
//! let a = Tensor::new(&[[0f64, 0.0]], &Device::Cpu)?;
//! let b = Tensor::new(&[[4f64.ln(), 0.0]], &Device::Cpu)?;
//! let p = mean_softmax(&[a, b])?.to_vec2::<f64>()?;
//! assert!((p[0][0] - 0.65).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, ModuleT, Tensor, D};

use crate::augment::flip_horizontal;
use crate::{Error, Result};

fn invalid(what: &str, message: String) -> Error {
    Error::Invalid { what: what.into(), message }
}

/// The mean of the softmax of several `[n, k]` logit tensors (all of one shape), `[n, k]`.
///
/// # Errors
/// [`Error::Invalid`] for an empty list, a tensor that is not 2-D, or differing shapes.
pub fn mean_softmax(logits: &[Tensor]) -> Result<Tensor> {
    let first = logits.first().ok_or_else(|| invalid("ensemble", "no outputs to average".into()))?;
    if first.rank() != 2 {
        return Err(invalid("ensemble output", format!("expected logits [n, k], got {:?}", first.dims())));
    }
    let mut sum: Option<Tensor> = None;
    for (i, l) in logits.iter().enumerate() {
        if l.dims() != first.dims() {
            return Err(invalid(
                "ensemble output",
                format!("output {i} has shape {:?}, expected {:?}", l.dims(), first.dims()),
            ));
        }
        let p = candle_nn::ops::softmax(l, D::Minus1)?;
        sum = Some(match sum {
            Some(s) => (s + p)?,
            None => p,
        });
    }
    let sum = sum.ok_or_else(|| invalid("ensemble", "no outputs to average".into()))?;
    Ok((sum / logits.len() as f64)?)
}

/// Which crops [`MultiCrop`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CropSet {
    /// Top-left, top-right, bottom-left, bottom-right, centre.
    Five,
    /// The five crops of the image, then the five crops of its mirror image (torchvision's
    /// `TenCrop`).
    Ten,
}

/// Test-time multi-crop: `size x size` crops of each image (zero-padded by `pad` on every side
/// first), run through a model in evaluation mode, softmax outputs averaged. The centre crop
/// starts at `floor((h - size) / 2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiCrop {
    /// Side of the square crops.
    pub size: usize,
    /// Zeros added on each side before cropping (with `size` = the image side, the corner crops
    /// are the image shifted by `pad` pixels and the centre crop is the image itself).
    pub pad: usize,
    /// Five or ten crops.
    pub crops: CropSet,
}

impl MultiCrop {
    /// The crops of a batch `[n, c, h, w]`, each `[n, c, size, size]`, in the order of
    /// [`CropSet`].
    ///
    /// # Errors
    /// [`Error::Invalid`] for an input that is not 4-D, a zero size, or a crop larger than the
    /// padded image.
    pub fn crops(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let (_, _, h, w) = x.dims4().map_err(|_| {
            invalid("multi-crop input", format!("expected a batch [n, c, h, w], got {:?}", x.dims()))
        })?;
        let grow = |n: usize| self.pad.checked_mul(2).and_then(|p| p.checked_add(n));
        let (Some(h), Some(w)) = (grow(h), grow(w)) else {
            return Err(invalid("multi-crop padding", format!("{} is too large", self.pad)));
        };
        if self.size == 0 || self.size > h || self.size > w {
            return Err(invalid(
                "multi-crop",
                format!("cannot take {0}x{0} crops of {h}x{w} images", self.size),
            ));
        }
        let x = x.pad_with_zeros(2, self.pad, self.pad)?.pad_with_zeros(3, self.pad, self.pad)?;
        let s = self.size;
        let corners = [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s), ((h - s) / 2, (w - s) / 2)];
        let images = match self.crops {
            CropSet::Five => vec![x],
            CropSet::Ten => {
                let flipped = flip_horizontal(&x)?;
                vec![x, flipped]
            }
        };
        let mut out = Vec::with_capacity(5 * images.len());
        for img in &images {
            for (top, left) in corners {
                out.push(img.narrow(2, top, s)?.narrow(3, left, s)?);
            }
        }
        Ok(out)
    }

    /// Class probabilities `[n, k]`: the mean over the crops of `softmax(model(crop))`.
    ///
    /// # Errors
    /// As [`MultiCrop::crops`], and the model's own errors.
    pub fn predict<M: ModuleT + ?Sized>(&self, model: &M, x: &Tensor) -> Result<Tensor> {
        let logits = self
            .crops(x)?
            .iter()
            .map(|c| model.forward_t(c, false))
            .collect::<candle_core::Result<Vec<_>>>()?;
        mean_softmax(&logits)
    }
}

/// The ensemble's class probabilities `[n, k]`: the mean of each model's softmax output (models
/// in evaluation mode).
///
/// # Errors
/// [`Error::Invalid`] for no models or models whose outputs differ in shape; the models' errors.
pub fn average_probabilities(models: &[&dyn ModuleT], x: &Tensor) -> Result<Tensor> {
    let logits = models.iter().map(|m| m.forward_t(x, false)).collect::<candle_core::Result<Vec<_>>>()?;
    mean_softmax(&logits)
}

/// Majority vote: each model votes for its most probable class; an image gets the class with
/// most votes, ties going to the tied class with the highest average probability (then the
/// smallest id). Returns one class id per image.
///
/// # Errors
/// As [`average_probabilities`].
pub fn majority_vote(models: &[&dyn ModuleT], x: &Tensor) -> Result<Vec<u32>> {
    let logits = models.iter().map(|m| m.forward_t(x, false)).collect::<candle_core::Result<Vec<_>>>()?;
    let mean = mean_softmax(&logits)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let votes = logits
        .iter()
        .map(|l| l.argmax(D::Minus1)?.to_vec1::<u32>())
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(mean.len());
    for (i, probs) in mean.iter().enumerate() {
        let mut count = vec![0usize; probs.len()];
        for v in &votes {
            if let Some(c) = v.get(i).and_then(|&c| count.get_mut(c as usize)) {
                *c += 1;
            }
        }
        let mut best = 0usize;
        for k in 1..probs.len() {
            if (count[k], probs[k]) > (count[best], probs[best]) {
                best = k;
            }
        }
        out.push(best as u32);
    }
    Ok(out)
}

/// Fraction of rows of `probs` `[n, k]` whose largest entry is at `labels[i]`.
///
/// # Errors
/// [`Error::Invalid`] when the number of labels is not `n` or `n` is 0.
pub fn accuracy(probs: &Tensor, labels: &[u32]) -> Result<f64> {
    let predicted = probs.argmax(D::Minus1)?.to_vec1::<u32>()?;
    if predicted.len() != labels.len() || labels.is_empty() {
        return Err(invalid(
            "accuracy labels",
            format!("expected {} labels, got {}", predicted.len(), labels.len()),
        ));
    }
    let hits = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(hits as f64 / labels.len() as f64)
}
