//! Debiasing word vectors (Bolukbasi et al., 2016), as in the course's "Operations on word vectors".
//!
//! A bias direction `g` (e.g. `woman - man`); [`neutralize`] removes a word's component along `g`;
//! [`equalize`] makes a pair (e.g. `actor`/`actress`) symmetric about the axis orthogonal to `g`,
//! with the course's formula (which assumes roughly unit-norm vectors).
//!
//! ```
//! use dls_nlp::vectors::debias::{neutralize, projection};
//! let g = [1.0, 0.0, 0.0];
//! let e = neutralize(&[0.3, 0.5, -0.2], &g);
//! assert!(projection(&e, &g).abs() < 1e-7);
//! assert_eq!(e, [0.0, 0.5, -0.2]);
//! ```

use super::KeyedVectors;
use crate::dense::{dot, norm};
use crate::{Error, Result};

/// The mean of `vector(a) - vector(b)` over the pairs (`[("woman", "man")]` gives the course's `g`).
///
/// # Errors
/// [`Error::Empty`] without pairs, [`Error::Invalid`] for an unknown word.
pub fn bias_direction(kv: &KeyedVectors, pairs: &[(&str, &str)]) -> Result<Vec<f32>> {
    if pairs.is_empty() {
        return Err(Error::Empty("bias_direction: no word pairs".into()));
    }
    let mut g = vec![0f32; kv.dim()];
    for (a, b) in pairs {
        let (va, vb) = (kv.vector(a)?, kv.vector(b)?);
        for ((gi, x), y) in g.iter_mut().zip(va).zip(vb) {
            *gi += (x - y) / pairs.len() as f32;
        }
    }
    Ok(g)
}

/// `e·g / (|e| |g|)`: the cosine of `e` with the bias axis (0 when either is zero).
pub fn projection(e: &[f32], g: &[f32]) -> f32 {
    let d = norm(e) * norm(g);
    if d == 0.0 {
        0.0
    } else {
        dot(e, g) / d
    }
}

/// `(e·g / |g|²) g`: the component of `e` along `g`.
fn along(e: &[f32], g: &[f32]) -> Vec<f32> {
    let gg = dot(g, g);
    let s = if gg == 0.0 { 0.0 } else { dot(e, g) / gg };
    g.iter().map(|x| s * x).collect()
}

/// `e` minus its component along `g`.
pub fn neutralize(e: &[f32], g: &[f32]) -> Vec<f32> {
    e.iter().zip(along(e, g)).map(|(x, b)| x - b).collect()
}

/// The course's equalisation of a pair: both words get the same component orthogonal to `g`
/// (their mean's) and opposite components along `g`, scaled so the result is roughly unit-norm.
pub fn equalize(e1: &[f32], e2: &[f32], g: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mu: Vec<f32> = e1.iter().zip(e2).map(|(a, b)| (a + b) / 2.0).collect();
    let mu_b = along(&mu, g);
    let mu_orth: Vec<f32> = mu.iter().zip(&mu_b).map(|(a, b)| a - b).collect();
    let scale = (1.0f32 - dot(&mu_orth, &mu_orth)).abs().sqrt();
    let corrected = |e: &[f32]| -> Vec<f32> {
        let e_b = along(e, g);
        let diff: Vec<f32> = e.iter().zip(&mu_orth).zip(&mu_b).map(|((x, o), b)| x - o - b).collect();
        let n = norm(&diff);
        let n = if n == 0.0 { 1.0 } else { n };
        e_b.iter().zip(&mu_b).zip(&mu_orth).map(|((eb, mb), o)| scale * (eb - mb) / n + o).collect()
    };
    (corrected(e1), corrected(e2))
}

impl KeyedVectors {
    /// Replaces `word`'s vector by its [`neutralize`]d form.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown word, [`Error::Length`] if `g` is not `dim` long.
    pub fn neutralize_word(&mut self, word: &str, g: &[f32]) -> Result<()> {
        if g.len() != self.dim() {
            return Err(Error::length("bias direction", self.dim(), g.len()));
        }
        let e = neutralize(self.vector(word)?, g);
        self.set_vector(word, &e)
    }

    /// Replaces the vectors of `a` and `b` by their [`equalize`]d forms.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown word, [`Error::Length`] if `g` is not `dim` long.
    pub fn equalize_pair(&mut self, a: &str, b: &str, g: &[f32]) -> Result<()> {
        if g.len() != self.dim() {
            return Err(Error::length("bias direction", self.dim(), g.len()));
        }
        let (ea, eb) = equalize(self.vector(a)?, self.vector(b)?, g);
        self.set_vector(a, &ea)?;
        self.set_vector(b, &eb)
    }
}
