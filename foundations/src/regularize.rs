//! Regularisation and training safety (sheets 06–07): the L2 penalty, inverted dropout, early
//! stopping and gradient clipping.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_foundations::regularize::l2_penalty;
//! let w = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
//! // lambda / (2 m) * sum w^2 = 0.1 / 20 * 30
//! let p = l2_penalty(&[w], 0.1, 10)?.to_scalar::<f32>()?;
//! assert!((p - 0.15).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::{Error, Result};

/// The course's L2 cost term `lambda / (2 m) * sum ||W||_F^2` over the given weight matrices
/// (biases are usually left out). Returns a scalar tensor that carries gradients.
///
/// # Errors
/// [`Error::Invalid`] for a negative `lambda` or `m == 0`; [`Error::Empty`] with no weights.
pub fn l2_penalty(weights: &[Tensor], lambda: f64, m: usize) -> Result<Tensor> {
    if lambda.is_nan() || lambda < 0.0 || m == 0 {
        return Err(Error::invalid(
            "l2 penalty",
            format!("needs lambda >= 0 and m > 0, got {lambda} and {m}"),
        ));
    }
    let mut iter = weights.iter();
    let first = iter.next().ok_or_else(|| Error::Empty("l2 penalty over no weights".into()))?;
    let mut sum = first.sqr()?.sum_all()?;
    for w in iter {
        sum = (sum + w.sqr()?.sum_all()?)?;
    }
    Ok((sum * (lambda / (2.0 * m as f64)))?)
}

/// Inverted dropout: in training, zero each unit with probability `1 - keep_prob` and scale the
/// survivors by `1 / keep_prob`, so evaluation needs no rescaling. Masks come from a seeded stream.
#[derive(Clone, Debug)]
pub struct Dropout {
    keep_prob: f64,
    rng: SeededRng,
}

impl Dropout {
    /// A dropout layer keeping each unit with probability `keep_prob` in `(0, 1]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `keep_prob` is outside `(0, 1]`.
    pub fn new(keep_prob: f64, rng: SeededRng) -> Result<Self> {
        if !(keep_prob > 0.0 && keep_prob <= 1.0) {
            return Err(Error::invalid("keep_prob", format!("must be in (0, 1], got {keep_prob}")));
        }
        Ok(Self { keep_prob, rng })
    }

    /// The probability of keeping a unit.
    pub fn keep_prob(&self) -> f64 {
        self.keep_prob
    }

    /// The random stream the masks are drawn from (saved in checkpoints).
    pub fn rng(&self) -> &SeededRng {
        &self.rng
    }
}

impl candle_nn::ModuleT for Dropout {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if !train || self.keep_prob >= 1.0 {
            return Ok(xs.clone());
        }
        let n = xs.elem_count();
        // Built in f64 and converted once, so an f64 network gets the exact scale 1 / keep_prob.
        let scale = 1.0 / self.keep_prob;
        let mask: Vec<f64> = {
            let mut rng = self.rng.lock();
            (0..n).map(|_| if rng.random::<f64>() < self.keep_prob { scale } else { 0.0 }).collect()
        };
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
        xs * mask
    }
}

/// Gradient clipping (sheet 07's remedy for exploding gradients).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Clip {
    /// Clamp every gradient element into `[-v, v]`.
    Value(f64),
    /// Rescale all gradients together so their global L2 norm is at most this value.
    Norm(f64),
}

/// Global L2 norm of the gradients of `vars` (vars without a gradient are skipped).
///
/// # Errors
/// Propagates candle errors.
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut total = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
    }
    Ok(total.sqrt())
}

/// Applies `clip` to the gradients of `vars` in place; returns the global norm before clipping.
///
/// # Errors
/// [`Error::Invalid`] for a non-positive threshold; candle errors otherwise.
pub fn clip_gradients(grads: &mut GradStore, vars: &[Var], clip: Clip) -> Result<f64> {
    let norm = grad_norm(grads, vars)?;
    match clip {
        Clip::Value(v) if v > 0.0 => {
            for var in vars {
                if let Some(g) = grads.get(var.as_tensor()) {
                    let clipped = g.clamp(-v, v)?;
                    grads.insert(var.as_tensor(), clipped);
                }
            }
        }
        Clip::Norm(max) if max > 0.0 => {
            if norm > max {
                let scale = max / (norm + 1e-12);
                for var in vars {
                    if let Some(g) = grads.get(var.as_tensor()) {
                        let scaled = (g * scale)?;
                        grads.insert(var.as_tensor(), scaled);
                    }
                }
            }
        }
        other => {
            return Err(Error::invalid("gradient clip", format!("threshold must be > 0, got {other:?}")))
        }
    }
    Ok(norm)
}

/// Early stopping on a dev metric where higher is better (sheet 06).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Stop once this many epochs in a row bring no improvement (Keras's meaning).
    pub patience: usize,
    /// Smallest increase that counts as an improvement.
    pub min_delta: f64,
    /// Best value seen so far.
    pub best: Option<f64>,
    /// Epoch (0-based) of the best value.
    pub best_epoch: usize,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without an improvement larger than `min_delta`.
    pub fn new(patience: usize, min_delta: f64) -> Self {
        Self { patience, min_delta, best: None, best_epoch: 0, bad_epochs: 0 }
    }

    /// Records `value` for `epoch`; returns whether it is a new best.
    pub fn record(&mut self, epoch: usize, value: f64) -> bool {
        let improved = match self.best {
            None => value.is_finite(),
            Some(b) => value > b + self.min_delta,
        };
        if improved {
            self.best = Some(value);
            self.best_epoch = epoch;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        improved
    }

    /// Whether training should stop now.
    pub fn should_stop(&self) -> bool {
        self.patience > 0 && self.bad_epochs >= self.patience
    }
}
