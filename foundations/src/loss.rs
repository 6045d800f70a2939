//! Cost functions (sheets 02–03, 13): binary and multi-class cross-entropy, mean squared error and
//! the masked multi-task loss.
//!
//! The binary loss is written in its numerically stable form
//! `max(z, 0) - z y + log(1 + e^-|z|)`, so logits of ±100 give finite losses and gradients
//! (candle's `binary_cross_entropy_with_logit` overflows around ±50).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::loss::binary_cross_entropy_with_logits;
//! let z = Tensor::new(&[[0f32], [100.0]], &Device::Cpu)?;
//! let y = Tensor::new(&[[1f32], [0.0]], &Device::Cpu)?;
//! let l = binary_cross_entropy_with_logits(&z, &y)?.to_scalar::<f32>()?;
//! assert!((l - (std::f32::consts::LN_2 + 100.0) / 2.0).abs() < 1e-4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};

use crate::{Error, Result};

fn same_shape(what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::shape(what, format!("targets shaped like the logits {:?}", a.dims()), b.dims()));
    }
    if a.elem_count() == 0 {
        return Err(Error::Empty(format!("{what}: no examples")));
    }
    Ok(())
}

/// Element-wise stable binary cross-entropy of logits `z` against 0/1 targets `y` (same shape).
fn bce_terms(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let y = y.to_dtype(z.dtype())?;
    let softplus_neg_abs = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok(((z.relu()? - (z * y)?)? + softplus_neg_abs)?)
}

/// Mean binary cross-entropy of logits (`[n, k]`) against 0/1 targets of the same shape.
///
/// # Errors
/// [`Error::Shape`] when shapes differ, [`Error::Empty`] on an empty batch.
pub fn binary_cross_entropy_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_shape("binary cross-entropy", logits, targets)?;
    Ok(bce_terms(logits, targets)?.mean_all()?)
}

/// Mean softmax cross-entropy of logits `[n, k]` against class ids (`u32 [n]`, each `< k`).
///
/// # Errors
/// [`Error::Shape`] for wrong ranks or batch sizes, [`Error::Invalid`] for a class id `>= k`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (n, k) =
        logits.dims2().map_err(|_| Error::shape("cross-entropy logits", "[n, classes]", logits.dims()))?;
    if labels.dims() != [n] {
        return Err(Error::shape("cross-entropy labels", format!("[{n}]"), labels.dims()));
    }
    if n == 0 {
        return Err(Error::Empty("cross-entropy: no examples".into()));
    }
    let labels = labels.to_dtype(DType::U32)?;
    let max = labels.max(0)?.to_scalar::<u32>()?;
    if max as usize >= k {
        return Err(Error::invalid("class label", format!("label {max} but the logits have {k} classes")));
    }
    Ok(candle_nn::loss::cross_entropy(logits, &labels)?)
}

/// Mean squared error between predictions and targets of the same shape.
///
/// # Errors
/// [`Error::Shape`] when shapes differ, [`Error::Empty`] on an empty batch.
pub fn mse(pred: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_shape("mean squared error", pred, targets)?;
    Ok((pred - targets.to_dtype(pred.dtype())?)?.sqr()?.mean_all()?)
}

/// Multi-task loss (sheet 13): independent sigmoid outputs, one per task, where some labels are
/// missing. `mask` is 1 where a label is present and 0 where it is not; the loss is the mean over
/// present labels only, so a missing label contributes neither loss nor gradient.
///
/// `logits`, `targets` and `mask` are all `[n, tasks]`.
///
/// # Errors
/// [`Error::Shape`] when shapes differ, [`Error::Empty`] when no label is present at all.
pub fn masked_binary_cross_entropy(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    same_shape("multi-task targets", logits, targets)?;
    same_shape("multi-task mask", logits, mask)?;
    let mask = mask.to_dtype(logits.dtype())?;
    let present = mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if present <= 0.0 {
        return Err(Error::Empty("multi-task loss: every label is masked out".into()));
    }
    // Missing labels may be stored as anything (NaN included): replace them before the loss.
    let safe_targets = mask.where_cond_zero(targets)?;
    let terms = (bce_terms(logits, &safe_targets)? * &mask)?;
    Ok((terms.sum_all()? / present)?)
}

/// `where_cond` helper: keep `t` where the mask is non-zero, 0 elsewhere (NaN-safe).
trait WhereZero {
    fn where_cond_zero(&self, t: &Tensor) -> candle_core::Result<Tensor>;
}

impl WhereZero for Tensor {
    fn where_cond_zero(&self, t: &Tensor) -> candle_core::Result<Tensor> {
        let t = t.to_dtype(self.dtype())?;
        self.ne(0.0)?.where_cond(&t, &t.zeros_like()?)
    }
}
