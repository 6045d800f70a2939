//! What the fit loop trains: a [`Learner`] gives a batch loss and an evaluation.

use candle_core::{DType, Tensor};
use candle_nn::ModuleT;

use crate::data::Dataset;
use crate::rng::SeededRng;
use crate::{loss, regularize, Error, Result};

/// Loss and accuracy of a model over a whole data set, in evaluation mode.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Mean loss per example (without regularisation terms).
    pub loss: f64,
    /// Fraction of examples classified correctly.
    pub accuracy: f64,
}

/// Something the fit loop can train.
pub trait Learner {
    /// Training-mode loss of one batch, regularisation terms included (a scalar tensor).
    ///
    /// # Errors
    /// Shape mismatches between the batch and the model, and candle errors.
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor>;

    /// Evaluation-mode loss and accuracy over `data`.
    ///
    /// # Errors
    /// As [`Learner::loss`].
    fn evaluate(&self, data: &Dataset) -> Result<Evaluation>;

    /// Random streams used in training (dropout masks), saved in checkpoints.
    fn rngs(&self) -> Vec<SeededRng> {
        Vec::new()
    }
}

/// [`Learner::evaluate`] for a model scored per token with padding left out (a language model, a
/// seq2seq decoder): `sums(x, y)` gives a batch's summed negative log-likelihood, the number of
/// scored tokens and how many of them the model's top guess got right; the evaluation is the mean
/// per token over `data` in batches of 256.
///
/// # Errors
/// Errors of `sums` or the data, and [`Error::Empty`] with `empty` when no token is scored.
pub fn evaluate_token_sums(
    data: &Dataset,
    sums: impl Fn(&Tensor, &Tensor) -> Result<(Tensor, f64, f64)>,
    empty: &str,
) -> Result<Evaluation> {
    let (mut nll, mut count, mut correct) = (0.0, 0.0, 0.0);
    for batch in data.batches(256, None)? {
        let (x, y) = batch?;
        let (s, n, c) = sums(&x, &y)?;
        nll += s.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        count += n;
        correct += c;
    }
    if count == 0.0 {
        return Err(Error::Empty(empty.into()));
    }
    Ok(Evaluation { loss: nll / count, accuracy: correct / count })
}

/// The kind of targets a [`Classifier`] is trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Objective {
    /// Softmax over `k` logits, labels `u32 [n]`.
    MultiClass,
    /// One sigmoid logit, targets `f32 [n, 1]` holding 0 or 1.
    Binary,
}

/// A [`ModuleT`] producing logits, trained with cross-entropy and an optional L2 penalty.
pub struct Classifier<M> {
    model: M,
    objective: Objective,
    l2: Option<(f64, Vec<Tensor>)>,
    rngs: Vec<SeededRng>,
    eval_batch: usize,
}

impl<M: ModuleT> Classifier<M> {
    /// Wraps `model` with the loss for `objective`.
    pub fn new(model: M, objective: Objective) -> Self {
        Self { model, objective, l2: None, rngs: Vec::new(), eval_batch: 1024 }
    }

    /// Adds the course's `lambda / (2 m) * sum ||W||^2` over `weights` to the training loss.
    pub fn with_l2(mut self, lambda: f64, weights: Vec<Tensor>) -> Self {
        if lambda > 0.0 {
            self.l2 = Some((lambda, weights));
        }
        self
    }

    /// Registers a random stream of the model (its dropout) to be checkpointed.
    pub fn with_rng(mut self, rng: SeededRng) -> Self {
        self.rngs.push(rng);
        self
    }

    /// The wrapped model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Logits for `x` in evaluation mode.
    ///
    /// # Errors
    /// Candle errors (for instance a wrong input shape).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.model.forward_t(x, false)?)
    }

    fn data_loss(&self, logits: &Tensor, y: &Tensor) -> Result<Tensor> {
        match self.objective {
            Objective::MultiClass => loss::cross_entropy(logits, y),
            Objective::Binary => loss::binary_cross_entropy_with_logits(logits, y),
        }
    }

    /// Number of correct predictions in a batch.
    fn correct(&self, logits: &Tensor, y: &Tensor) -> Result<f64> {
        let hits = match self.objective {
            Objective::MultiClass => logits.argmax(1)?.eq(&y.to_dtype(DType::U32)?)?,
            Objective::Binary => logits.gt(0.0)?.eq(&y.gt(0.5)?)?,
        };
        Ok(hits.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?)
    }
}

impl<M: ModuleT> Learner for Classifier<M> {
    fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let logits = self.model.forward_t(x, true)?;
        let data = self.data_loss(&logits, y)?;
        match &self.l2 {
            Some((lambda, w)) => Ok((data + regularize::l2_penalty(w, *lambda, x.dim(0)?)?)?),
            None => Ok(data),
        }
    }

    fn evaluate(&self, data: &Dataset) -> Result<Evaluation> {
        if data.is_empty() {
            return Err(Error::Empty("evaluation set".into()));
        }
        let (mut loss_sum, mut correct) = (0f64, 0f64);
        for batch in data.batches(self.eval_batch, None)? {
            let (x, y) = batch?;
            let n = x.dim(0)? as f64;
            let logits = self.model.forward_t(&x, false)?;
            loss_sum += self.data_loss(&logits, &y)?.to_dtype(DType::F64)?.to_scalar::<f64>()? * n;
            correct += self.correct(&logits, &y)?;
        }
        let n = data.len() as f64;
        Ok(Evaluation { loss: loss_sum / n, accuracy: correct / n })
    }

    fn rngs(&self) -> Vec<SeededRng> {
        self.rngs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn token_sums_are_averaged_over_scored_tokens_across_batches() -> Result<()> {
        // 300 rows: two batches (256 + 44). Row i scores i % 3 tokens, nll 0.5 each, one correct.
        let x = Tensor::arange(0u32, 300, &Device::Cpu)?;
        let data = Dataset::new(x.clone(), x)?;
        let sums = |x: &Tensor, _: &Tensor| -> Result<(Tensor, f64, f64)> {
            let ids = x.to_vec1::<u32>()?;
            let n: f64 = ids.iter().map(|&i| f64::from(i % 3)).sum();
            let c = ids.iter().filter(|&&i| i % 3 > 0).count() as f64;
            Ok((Tensor::new(0.5 * n as f32, &Device::Cpu)?, n, c))
        };
        let e = evaluate_token_sums(&data, sums, "no tokens")?;
        // 100 rows each score 0, 1 and 2 tokens: 300 tokens, 200 correct.
        assert!((e.loss - 0.5).abs() < 1e-12 && (e.accuracy - 200.0 / 300.0).abs() < 1e-12, "{e:?}");
        let none = |x: &Tensor, _: &Tensor| Ok((x.zeros_like()?.sum_all()?.to_dtype(DType::F32)?, 0.0, 0.0));
        let err = evaluate_token_sums(&data, none, "no tokens").unwrap_err().to_string();
        assert!(err.contains("no tokens"), "{err}");
        Ok(())
    }
}
