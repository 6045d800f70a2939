//! Temperature sampling from logits (sheet 24's sampling of new names).
//!
//! Temperature `τ` divides the logits before the softmax: `τ < 1` sharpens the distribution toward
//! the most likely character, `τ > 1` flattens it, and `τ = 0` is greedy (always the arg-max).
//!
//! ```
//! use dls_foundations::SeededRng;
//! use dls_sequence::sample::{sample_index, softmax_with_temperature};
//! let p = softmax_with_temperature(&[0.0, (3f32).ln()], 1.0)?;
//! assert!((p[1] - 0.75).abs() < 1e-6);
//! let rng = SeededRng::new(0);
//! assert_eq!(sample_index(&[1.0, 5.0, 2.0], 0.0, &mut *rng.lock())?, 1);
//! # Ok::<(), dls_sequence::Error>(())
//! ```

use rand::Rng;

use crate::{Error, Result};

/// The softmax of `logits / temperature`, in f64 (for `temperature > 0`).
///
/// # Errors
/// [`Error::Invalid`] for a temperature that is not finite and positive or a logit that is not
/// finite; [`Error::Empty`] with no logits.
pub fn softmax_with_temperature(logits: &[f32], temperature: f64) -> Result<Vec<f64>> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::invalid("temperature", format!("must be finite and > 0 here, got {temperature}")));
    }
    check(logits)?;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = logits.iter().map(|&z| ((z as f64 - max) / temperature).exp()).collect();
    let sum: f64 = e.iter().sum();
    Ok(e.into_iter().map(|v| v / sum).collect())
}

/// Draws an index from the softmax of `logits / temperature`; `temperature == 0` returns the
/// arg-max (the first one on ties).
///
/// # Errors
/// As [`softmax_with_temperature`] (a negative temperature is invalid).
pub fn sample_index<R: Rng + ?Sized>(logits: &[f32], temperature: f64, rng: &mut R) -> Result<usize> {
    if temperature == 0.0 {
        check(logits)?;
        let mut best = 0;
        for (i, &z) in logits.iter().enumerate() {
            if z > logits[best] {
                best = i;
            }
        }
        return Ok(best);
    }
    let p = softmax_with_temperature(logits, temperature)?;
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, &pi) in p.iter().enumerate() {
        acc += pi;
        if u < acc {
            return Ok(i);
        }
    }
    // Rounding left `acc` a hair below 1: take the last index with non-zero probability.
    Ok(p.iter().rposition(|&pi| pi > 0.0).unwrap_or(0))
}

fn check(logits: &[f32]) -> Result<()> {
    if logits.is_empty() {
        return Err(Error::Empty("no logits to sample from".into()));
    }
    if let Some(i) = logits.iter().position(|z| !z.is_finite()) {
        return Err(Error::invalid("logits", format!("logit {i} is {}", logits[i])));
    }
    Ok(())
}
