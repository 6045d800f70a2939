//! Gradient checking by central differences (sheet 07).
//!
//! For every element `θ_i` of every checked variable the numeric derivative
//! `(J(θ_i + ε) - J(θ_i - ε)) / 2ε` is compared with the analytic gradient through the course's
//! relative difference `‖g - g̃‖₂ / (‖g‖₂ + ‖g̃‖₂)`: below about 1e-7 the backward pass is right,
//! above 1e-3 it is almost certainly wrong. Work in f64: in f32 the rounding error of the two
//! losses swamps the difference.
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use dls_foundations::gradcheck::gradcheck;
//! let w = Var::from_tensor(&Tensor::new(&[1.5f64, -2.0], &Device::Cpu)?)?;
//! let loss = || Ok(w.as_tensor().sqr()?.sum_all()?);
//! let report = gradcheck(loss, &[("w".to_string(), w.clone())], 1e-7)?;
//! assert!(report.relative_difference < 1e-7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor, Var};

use crate::{Error, Result};

/// The outcome of a gradient check.
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    /// Relative difference over all checked values together.
    pub relative_difference: f64,
    /// Relative difference of each variable, by name, in the order given.
    pub per_param: Vec<(String, f64)>,
    /// Number of scalar values perturbed.
    pub checked: usize,
}

impl GradCheckReport {
    /// The variable with the largest relative difference.
    pub fn worst(&self) -> Option<(&str, f64)> {
        self.per_param.iter().map(|(n, d)| (n.as_str(), *d)).max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Succeeds when every variable's difference is below `threshold`.
    ///
    /// # Errors
    /// [`Error::GradCheck`] naming the worst variable.
    pub fn check(&self, threshold: f64) -> Result<()> {
        match self.worst() {
            Some((param, difference)) if difference.is_nan() || difference >= threshold => {
                Err(Error::GradCheck { param: param.to_string(), difference, threshold })
            }
            _ => Ok(()),
        }
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    if t.elem_count() != 1 {
        return Err(Error::shape("gradient-check loss", "a scalar", t.dims()));
    }
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0])
}

fn relative(g: &[f64], approx: &[f64]) -> f64 {
    let diff: f64 = g.iter().zip(approx).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    let ng: f64 = g.iter().map(|a| a * a).sum::<f64>().sqrt();
    let na: f64 = approx.iter().map(|a| a * a).sum::<f64>().sqrt();
    if ng + na == 0.0 {
        0.0
    } else {
        diff / (ng + na)
    }
}

/// Checks autograd's gradient of `loss` with respect to `vars` (all f64) by central differences.
///
/// `loss` is called `2 N + 1` times for `N` checked values, so keep the problem small (a batch of a
/// few examples). It must be deterministic: turn dropout off, keep batch norm in one mode.
///
/// # Errors
/// [`Error::Invalid`] for a non-f64 variable, [`Error::Shape`] for a non-scalar loss, and whatever
/// `loss` returns.
pub fn gradcheck<F>(loss: F, vars: &[(String, Var)], epsilon: f64) -> Result<GradCheckReport>
where
    F: Fn() -> Result<Tensor>,
{
    let grads = loss()?.backward()?;
    let analytic: Vec<Tensor> = vars
        .iter()
        .map(|(_, v)| grads.get(v.as_tensor()).cloned().map_or_else(|| v.as_tensor().zeros_like(), Ok))
        .collect::<candle_core::Result<_>>()?;
    gradcheck_against(loss, vars, &analytic, epsilon)
}

/// Checks given analytic gradients (one tensor per variable, for instance from a hand-written
/// backward pass) against central differences of `loss`.
///
/// # Errors
/// As [`gradcheck`], plus [`Error::Shape`] when a gradient's shape differs from its variable's
/// and [`Error::Empty`] when no variable is given.
pub fn gradcheck_against<F>(
    loss: F,
    vars: &[(String, Var)],
    analytic: &[Tensor],
    epsilon: f64,
) -> Result<GradCheckReport>
where
    F: Fn() -> Result<Tensor>,
{
    if vars.is_empty() {
        return Err(Error::Empty("gradient check over no variables".into()));
    }
    if vars.len() != analytic.len() {
        return Err(Error::shape("gradient list", format!("{} gradients", vars.len()), analytic.len()));
    }
    if epsilon.is_nan() || epsilon <= 0.0 {
        return Err(Error::invalid("epsilon", format!("must be > 0, got {epsilon}")));
    }
    let mut all_g = Vec::new();
    let mut all_a = Vec::new();
    let mut per_param = Vec::with_capacity(vars.len());
    for ((name, var), grad) in vars.iter().zip(analytic) {
        if var.dtype() != DType::F64 {
            return Err(Error::invalid(
                "gradient check",
                format!("{name} is {:?}; check in f64", var.dtype()),
            ));
        }
        if grad.dims() != var.dims() {
            return Err(Error::shape(
                format!("gradient of {name}"),
                format!("{:?}", var.dims()),
                grad.dims(),
            ));
        }
        let g: Vec<f64> = grad.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
        let original = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
        let approx = central_differences(&loss, var, &original, epsilon);
        // Put the original values back even when `loss` failed part-way.
        var.set(&Tensor::from_slice(&original, var.shape(), var.device())?)?;
        let approx = approx?;
        per_param.push((name.clone(), relative(&g, &approx)));
        all_g.extend(g);
        all_a.extend(approx);
    }
    Ok(GradCheckReport { relative_difference: relative(&all_g, &all_a), per_param, checked: all_g.len() })
}

/// Numeric derivative of `loss` with respect to each element of `var` (whose values are
/// `original`); leaves `var` perturbed, the caller restores it.
fn central_differences<F>(loss: &F, var: &Var, original: &[f64], epsilon: f64) -> Result<Vec<f64>>
where
    F: Fn() -> Result<Tensor>,
{
    let mut values = original.to_vec();
    let mut approx = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        values[i] = original[i] + epsilon;
        var.set(&Tensor::from_slice(&values, var.shape(), var.device())?)?;
        let plus = scalar(&loss()?)?;
        values[i] = original[i] - epsilon;
        var.set(&Tensor::from_slice(&values, var.shape(), var.device())?)?;
        let minus = scalar(&loss()?)?;
        values[i] = original[i];
        approx.push((plus - minus) / (2.0 * epsilon));
    }
    Ok(approx)
}
