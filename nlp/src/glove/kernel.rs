//! GloVe's weighting function and the AdaGrad update of one co-occurrence entry.
//!
//! For an entry `X_ij = x` with weight `f = f(x)` the loss is `½ f (w·w̃ + b + b̃ - log x)²`. With
//! `g = f (w·w̃ + b + b̃ - log x)` its gradients are `∂/∂w = g w̃`, `∂/∂w̃ = g w`, `∂/∂b = ∂/∂b̃ = g`.
//! Each vector component's gradient is clipped to `±grad_clip`, then every parameter `θ` with
//! gradient `γ` and accumulator `G` (initialised to 1) moves by `θ -= η γ / √G`, after which
//! `G += (η γ)²`. This is the reference tool's form of AdaGrad: the accumulator sums squared
//! *scaled* steps, so the step shrinks more slowly than in textbook AdaGrad (`G += γ²`) at the
//! learning rates GloVe uses (0.05).
//!
//! ```
//! use dls_nlp::glove::kernel::{step, weight, Side, Step};
//! assert!((weight(10.0, 100.0, 0.75) - 0.1f64.powf(0.75)).abs() < 1e-12);
//! let (mut w, mut c) = ([1.0f32, 0.0], [0.5f32, 0.5]);
//! let (mut b, mut bc) = (0.0f32, 0.0f32);
//! let (mut gw, mut gc, mut gb, mut gbc) = ([1.0f32; 2], [1.0f32; 2], 1.0f32, 1.0f32);
//! let word = Side { vector: &mut w, bias: &mut b, grad_sq: &mut gw, bias_grad_sq: &mut gb };
//! let context = Side { vector: &mut c, bias: &mut bc, grad_sq: &mut gc, bias_grad_sq: &mut gbc };
//! // x = e: log x = 1, w·w̃ = 0.5, so the residual is -0.5 and the loss ½ (0.25) = 0.125.
//! let s = Step { weight: 1.0, log_x: 1.0, learning_rate: 0.1, grad_clip: 100.0 };
//! let loss = step(word, context, &s).ok_or("not finite")?;
//! assert!((loss - 0.125).abs() < 1e-7);
//! assert!((b - 0.05).abs() < 1e-7 && (w[0] - 1.025).abs() < 1e-7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// GloVe's weight `f(x) = (x / x_max)^alpha` below `x_max`, 1 from there on.
pub fn weight(x: f64, x_max: f64, alpha: f64) -> f64 {
    if x < x_max {
        (x / x_max).powf(alpha)
    } else {
        1.0
    }
}

/// One word's parameters on one side (word or context) and their AdaGrad accumulators.
pub struct Side<'a> {
    /// The vector (`w` or `w̃`).
    pub vector: &'a mut [f32],
    /// The bias (`b` or `b̃`).
    pub bias: &'a mut f32,
    /// The vector's accumulators, as long as `vector`.
    pub grad_sq: &'a mut [f32],
    /// The bias's accumulator.
    pub bias_grad_sq: &'a mut f32,
}

impl<'a> Side<'a> {
    /// Splits a packed row `[vector (dim), bias, grad_sq (dim), bias_grad_sq]` (`2 dim + 2` values).
    pub(crate) fn from_row(row: &'a mut [f32], dim: usize) -> Option<Self> {
        if row.len() != 2 * dim + 2 {
            return None;
        }
        let (params, sums) = row.split_at_mut(dim + 1);
        let (vector, bias) = params.split_at_mut(dim);
        let (grad_sq, bias_grad_sq) = sums.split_at_mut(dim);
        Some(Self { vector, bias: bias.first_mut()?, grad_sq, bias_grad_sq: bias_grad_sq.first_mut()? })
    }
}

/// The per-entry constants of an update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// `f(X_ij)`, see [`weight`].
    pub weight: f32,
    /// `log X_ij`.
    pub log_x: f32,
    /// AdaGrad's `η`.
    pub learning_rate: f32,
    /// Bound on each vector component's gradient.
    pub grad_clip: f32,
}

/// Updates `word` and `context` for one entry (see the module docs) and returns the entry's loss
/// before the update; returns `None`, changing nothing, when the residual is not finite.
#[inline(always)]
pub fn step(word: Side<'_>, context: Side<'_>, s: &Step) -> Option<f64> {
    let dim = word.vector.len().min(context.vector.len()).min(word.grad_sq.len()).min(context.grad_sq.len());
    let (w, c) = (&mut word.vector[..dim], &mut context.vector[..dim]);
    let (gw, gc) = (&mut word.grad_sq[..dim], &mut context.grad_sq[..dim]);
    let diff = crate::dense::dot(w, c) + *word.bias + *context.bias - s.log_x;
    if !diff.is_finite() {
        return None;
    }
    let g = s.weight * diff;
    let eta = s.learning_rate;
    for (((wk, ck), gwk), gck) in w.iter_mut().zip(c.iter_mut()).zip(gw.iter_mut()).zip(gc.iter_mut()) {
        let dw = eta * (g * *ck).max(-s.grad_clip).min(s.grad_clip);
        let dc = eta * (g * *wk).max(-s.grad_clip).min(s.grad_clip);
        *wk -= dw / gwk.sqrt();
        *ck -= dc / gck.sqrt();
        *gwk += dw * dw;
        *gck += dc * dc;
    }
    let db = eta * g;
    *word.bias -= db / word.bias_grad_sq.sqrt();
    *context.bias -= db / context.bias_grad_sq.sqrt();
    *word.bias_grad_sq += db * db;
    *context.bias_grad_sq += db * db;
    Some(0.5 * f64::from(g) * f64::from(diff))
}
