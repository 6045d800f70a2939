//! Limited-memory BFGS (Nocedal 1980; Nocedal & Wright, *Numerical Optimization*, algorithm 7.4)
//! for a tensor of any shape: the search direction is the gradient multiplied by an inverse-Hessian
//! estimate built from the last few steps `s = x' - x` and gradient changes `y = g' - g` (the
//! two-loop recursion), and the step length comes from a backtracking line search with the
//! Armijo condition and quadratic interpolation.
//!
//! With [`LbfgsConfig::bounds`] it is a projected method for box constraints (pixels in `[0, 1]`):
//! variables held at a bound by their gradient are left out of the direction, and each trial
//! point is clipped into the box, the Armijo test using the step actually taken.
//!
//! The vectors are kept in f64 whatever the tensor's dtype; only the objective runs in candle.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::style::lbfgs::{lbfgs, LbfgsConfig};
//! // f(x) = Σ i (x_i - 1)², minimum at x = 1.
//! let x0 = Tensor::zeros(4, candle_core::DType::F64, &Device::Cpu)?;
//! let scale = Tensor::new(&[1f64, 2., 3., 4.], &Device::Cpu)?;
//! let x = lbfgs(&x0, &LbfgsConfig::default(), |x| {
//!     let d = (x - 1.0)?;
//!     let f = (d.sqr()? * &scale)?.sum_all()?.to_scalar::<f64>()?;
//!     Ok((f, ((d * &scale)? * 2.0)?))
//! })?;
//! assert!(x.to_vec1::<f64>()?.iter().all(|v| (v - 1.0).abs() < 1e-6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;

use candle_core::{DType, Tensor};

use crate::{Error, Result};

/// Settings of [`lbfgs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Past steps remembered (10).
    pub history: usize,
    /// Most objective evaluations, the first included (100).
    pub evaluations: usize,
    /// Armijo constant: a step must lower the cost by `c1 t gᵀd` at least (1e-4).
    pub c1: f64,
    /// Stop when the largest gradient component falls below this (1e-12).
    pub gradient_tolerance: f64,
    /// Keep every value in `[lo, hi]` (none).
    pub bounds: Option<(f64, f64)>,
    /// Largest change of any one value in a step (none): a safeguard where the curvature
    /// estimate is poor, as in the first steps on a strongly non-quadratic cost.
    pub max_step: Option<f64>,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            history: 10,
            evaluations: 100,
            c1: 1e-4,
            gradient_tolerance: 1e-12,
            bounds: None,
            max_step: None,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Past steps and gradient changes with `ρ = 1 / yᵀs`, oldest first.
struct Memory {
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    size: usize,
}

impl Memory {
    fn push(&mut self, s: Vec<f64>, y: Vec<f64>) {
        let ys = dot(&y, &s);
        // Curvature condition: without it the estimate would not stay positive definite.
        if ys > 1e-10 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if self.pairs.len() == self.size {
                self.pairs.pop_front();
            }
            self.pairs.push_back((s, y, 1.0 / ys));
        }
    }

    /// `-H g` by the two-loop recursion, `H₀ = (sᵀy / yᵀy) I` from the newest pair.
    fn direction(&self, g: &[f64]) -> Vec<f64> {
        let mut q = g.to_vec();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
            alphas.push(a);
        }
        if let Some((s, y, _)) = self.pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
        }
        q.iter_mut().for_each(|v| *v = -*v);
        q
    }
}

/// Minimises `f` from `x0` and returns the best point found. `f(x)` returns the cost and its
/// gradient (same shape as `x`); it is called at most `config.evaluations` times.
///
/// # Errors
/// [`Error::Invalid`] for zero history or evaluations, a gradient of another shape, or a
/// non-finite initial cost; whatever `f` returns.
pub fn lbfgs<F>(x0: &Tensor, config: &LbfgsConfig, mut f: F) -> Result<Tensor>
where
    F: FnMut(&Tensor) -> Result<(f64, Tensor)>,
{
    let bounds_ok = config.bounds.is_none_or(|(lo, hi)| lo <= hi) && config.max_step.is_none_or(|m| m > 0.0);
    if config.history == 0 || config.evaluations == 0 || !bounds_ok {
        return Err(Error::Invalid {
            what: "L-BFGS settings".into(),
            message: format!(
                "history {} and evaluations {} must be > 0, bounds {:?} ordered, max step {:?} > 0",
                config.history, config.evaluations, config.bounds, config.max_step
            ),
        });
    }
    let (lo, hi) = config.bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    // Variables at a bound that the gradient pushes further out.
    let held = |x: f64, g: f64| (x <= lo && g > 0.0) || (x >= hi && g < 0.0);
    let (shape, dtype, device) = (x0.shape().clone(), x0.dtype(), x0.device().clone());
    let to_tensor =
        |v: &[f64]| -> Result<Tensor> { Ok(Tensor::from_slice(v, shape.clone(), &device)?.to_dtype(dtype)?) };
    let mut eval = |x: &[f64]| -> Result<(f64, Vec<f64>)> {
        let (fx, g) = f(&to_tensor(x)?)?;
        if g.shape() != &shape {
            return Err(Error::Invalid {
                what: "L-BFGS gradient".into(),
                message: format!("expected shape {shape:?}, got {:?}", g.dims()),
            });
        }
        Ok((fx, g.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?))
    };
    let mut x: Vec<f64> = x0.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    x.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
    let (mut fx, mut g) = eval(&x)?;
    if !fx.is_finite() {
        return Err(Error::Invalid { what: "L-BFGS".into(), message: format!("initial cost is {fx}") });
    }
    let mut used = 1;
    let mut memory = Memory { pairs: VecDeque::new(), size: config.history };
    let mut first = true;
    while used < config.evaluations {
        // The gradient over the free variables.
        let free: Vec<f64> = x.iter().zip(&g).map(|(&x, &g)| if held(x, g) { 0.0 } else { g }).collect();
        if free.iter().all(|v| v.abs() <= config.gradient_tolerance) {
            break;
        }
        let mut d = memory.direction(&free);
        d.iter_mut().zip(x.iter().zip(&g)).for_each(|(d, (&x, &g))| *d = if held(x, g) { 0.0 } else { *d });
        if dot(&free, &d) >= 0.0 {
            // Not a descent direction: forget the curvature and go down the gradient.
            memory.pairs.clear();
            d = free.iter().map(|v| -v).collect();
            first = true;
        }
        // The first step is scaled so that it moves by at most 1 in the 1-norm of the gradient.
        let mut t = if first { (1.0 / free.iter().map(|v| v.abs()).sum::<f64>()).min(1.0) } else { 1.0 };
        if let Some(max) = config.max_step {
            let largest = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if largest * t > max {
                t = max / largest;
            }
        }
        let mut accepted = None;
        while used < config.evaluations {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(x, d)| (x + t * d).clamp(lo, hi)).collect();
            // The directional derivative along the step actually taken (clipping shortens it).
            let gtd = xn.iter().zip(&x).zip(&g).map(|((a, b), g)| (a - b) * g).sum::<f64>() / t;
            if gtd >= 0.0 {
                // Clipping left no descent at this length; shorter steps clip less.
                t *= 0.5;
                if t < 1e-30 {
                    break;
                }
                continue;
            }
            let (fn_, gn) = eval(&xn)?;
            used += 1;
            if fn_.is_finite() && fn_ <= fx + config.c1 * t * gtd {
                accepted = Some((xn, fn_, gn));
                break;
            }
            // Minimum of the quadratic through f(x), f'(x) along d and f(x + t d), kept in [0.1 t, 0.5 t].
            let q = if fn_.is_finite() { -gtd * t * t / (2.0 * (fn_ - fx - gtd * t)) } else { 0.1 * t };
            t = q.clamp(0.1 * t, 0.5 * t);
        }
        let Some((xn, fn_, gn)) = accepted else { break };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        memory.push(s, y);
        (x, fx, g, first) = (xn, fn_, gn, false);
    }
    to_tensor(&x)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn minimises_the_rosenbrock_function() -> Result<()> {
        // f(a, b) = (1 - a)² + 100 (b - a²)², minimum 0 at (1, 1).
        let x0 = Tensor::new(&[-1.2f64, 1.0], &Device::Cpu)?;
        let config = LbfgsConfig { evaluations: 200, ..LbfgsConfig::default() };
        let mut calls = 0;
        let x = lbfgs(&x0, &config, |t| {
            calls += 1;
            let v = t.to_vec1::<f64>()?;
            let (a, b) = (v[0], v[1]);
            let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = [-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)];
            Ok((f, Tensor::new(&g, &Device::Cpu)?))
        })?;
        let v = x.to_vec1::<f64>()?;
        assert!((v[0] - 1.0).abs() < 1e-5 && (v[1] - 1.0).abs() < 1e-5, "{v:?}");
        assert!(calls <= 200);
        Ok(())
    }

    #[test]
    fn stays_inside_the_bounds() -> Result<()> {
        // f = (a - 2)² + (b + 1)² + a b on [0, 1]²: the minimum is at the corner (1, 0).
        let x0 = Tensor::new(&[0.5f64, 0.5], &Device::Cpu)?;
        let config = LbfgsConfig { evaluations: 50, bounds: Some((0.0, 1.0)), ..LbfgsConfig::default() };
        let x = lbfgs(&x0, &config, |t| {
            let v = t.to_vec1::<f64>()?;
            let (a, b) = (v[0], v[1]);
            assert!((0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b), "{v:?}");
            let f = (a - 2.0).powi(2) + (b + 1.0).powi(2) + a * b;
            Ok((f, Tensor::new(&[2.0 * (a - 2.0) + b, 2.0 * (b + 1.0) + a], &Device::Cpu)?))
        })?;
        assert_eq!(x.to_vec1::<f64>()?, [1.0, 0.0]);
        Ok(())
    }
}
