//! Checks and small tensor helpers shared by the optimisers.

use candle_core::{Tensor, Var};

/// Keeps `vars`, failing on any that is not of a float dtype (it could not be updated).
pub(crate) fn float_vars(vars: Vec<Var>, kind: &str) -> candle_core::Result<Vec<Var>> {
    if let Some((i, v)) = vars.iter().enumerate().find(|(_, v)| !v.dtype().is_float()) {
        candle_core::bail!(
            "{kind} optimizer: variable {i} (shape {:?}) has dtype {:?}, expected a float dtype",
            v.dims(),
            v.dtype()
        )
    }
    Ok(vars)
}

/// Fails unless `value` is finite and at least 0.
pub(crate) fn non_negative(kind: &str, name: &str, value: f64) -> candle_core::Result<()> {
    if !value.is_finite() || value < 0.0 {
        candle_core::bail!("{kind} optimizer: {name} must be finite and >= 0, got {value}")
    }
    Ok(())
}

/// Fails unless `0 <= value < 1` (a decay rate of a moving average).
pub(crate) fn decay_rate(kind: &str, name: &str, value: f64) -> candle_core::Result<()> {
    if !(0.0..1.0).contains(&value) {
        candle_core::bail!("{kind} optimizer: {name} must be in [0, 1), got {value}")
    }
    Ok(())
}

/// The variable's value and its gradient, detached so the update records no autograd graph
/// (state tensors built from them must not keep earlier steps alive).
pub(crate) fn detached(var: &Var, grad: &Tensor) -> (Tensor, Tensor) {
    (var.as_tensor().detach(), grad.detach())
}

/// The gradient with L2 weight decay folded in, `grad + weight_decay * param` (PyTorch's form).
pub(crate) fn with_l2(param: &Tensor, grad: Tensor, weight_decay: f64) -> candle_core::Result<Tensor> {
    if weight_decay == 0.0 {
        Ok(grad)
    } else {
        grad + param.affine(weight_decay, 0.0)?
    }
}

/// A zero tensor shaped like each variable (fresh moment buffers).
pub(crate) fn zeros_for(vars: &[Var]) -> candle_core::Result<Vec<Tensor>> {
    vars.iter().map(|v| v.as_tensor().zeros_like()).collect()
}
