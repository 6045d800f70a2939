//! Optimiser state for checkpoints: the moments, step counts and learning rate an optimiser
//! needs to continue exactly where it stopped.
//!
//! State tensors are named `"<slot>.<index>"` (`"m.0"`, `"v.3"`), where the index is the
//! variable's position in the list the optimiser was built from. Callers keep that order stable
//! (`Params::trainable()` is sorted by name), so a state saved from one run loads into a fresh
//! optimiser built over the same variables.

use candle_core::{DType, Device, Tensor, Var};

use crate::{Error, Result};

/// Everything an optimiser needs to continue exactly where it stopped.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    /// Which optimiser wrote it (`"sgd"`, `"momentum"`, `"nesterov"`, `"rmsprop"`, `"adam"`, `"adamw"`).
    pub kind: String,
    /// Number of `step` calls made so far.
    pub step: u64,
    /// The learning rate in force when the state was taken.
    pub learning_rate: f64,
    /// Named state tensors (`"m.0"`, `"v.0"`, ...); the index is the variable's position.
    pub tensors: Vec<(String, Tensor)>,
}

impl OptimizerState {
    /// The state tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// An optimiser whose state can be saved and restored (for checkpoint and resume).
pub trait Stateful {
    /// A snapshot of the optimiser's state; later steps do not change it.
    ///
    /// # Errors
    /// Tensor errors from candle while building the snapshot.
    fn state(&self) -> Result<OptimizerState>;

    /// Replaces the optimiser's state with `state` (nothing changes when an error is returned).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a state written by another kind of optimiser, a missing or an
    /// unexpected tensor, or a non-finite learning rate; [`Error::Shape`] for a tensor whose shape
    /// differs from its variable's (the message names the tensor).
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// Names `"<prefix>.<i>"` for every variable index.
pub(crate) fn slot_names(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix}.{i}"))
}

/// Packs per-variable tensors of several slots into named pairs.
pub(crate) fn pack(slots: &[(&str, &[Tensor])]) -> Vec<(String, Tensor)> {
    slots.iter().flat_map(|(prefix, ts)| slot_names(prefix, ts.len()).zip(ts.iter().cloned())).collect()
}

/// Reads a state written by an optimiser of the expected kind, checking every tensor.
pub(crate) struct StateReader<'a> {
    state: &'a OptimizerState,
    kind: &'static str,
}

impl<'a> StateReader<'a> {
    /// Checks the kind, the learning rate and that `state` holds exactly the tensors named in
    /// `expected` (no more, no fewer).
    pub(crate) fn open(
        state: &'a OptimizerState,
        kind: &'static str,
        expected: impl IntoIterator<Item = String>,
    ) -> Result<Self> {
        if state.kind != kind {
            return Err(Error::invalid(
                "optimizer state kind",
                format!("expected {kind:?}, got {:?}", state.kind),
            ));
        }
        if !state.learning_rate.is_finite() || state.learning_rate < 0.0 {
            return Err(Error::invalid(
                "optimizer state learning rate",
                format!("expected a finite value >= 0, got {}", state.learning_rate),
            ));
        }
        let expected: Vec<String> = expected.into_iter().collect();
        if let Some(name) = expected.iter().find(|n| state.tensor(n).is_none()) {
            return Err(Error::invalid(
                format!("{kind} optimizer state"),
                format!("missing tensor {name:?} ({} variables)", expected.len()),
            ));
        }
        if let Some((name, _)) = state.tensors.iter().find(|(n, _)| !expected.contains(n)) {
            return Err(Error::invalid(
                format!("{kind} optimizer state"),
                format!("unexpected tensor {name:?} (does the optimiser have the same variables?)"),
            ));
        }
        Ok(Self { state, kind })
    }

    /// The tensors `"<prefix>.<i>"`, each checked against and converted to its variable's
    /// shape, dtype and device, and copied so the optimiser owns its storage.
    pub(crate) fn slot(&self, prefix: &str, vars: &[Var]) -> Result<Vec<Tensor>> {
        slot_names(prefix, vars.len())
            .zip(vars)
            .map(|(name, var)| self.tensor(&name, var.dims(), var.dtype(), var.device()))
            .collect()
    }

    /// The tensor `name`, checked to have shape `dims`, converted and copied.
    pub(crate) fn tensor(&self, name: &str, dims: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let t = self.state.tensor(name).ok_or_else(|| {
            Error::invalid(format!("{} optimizer state", self.kind), format!("missing tensor {name:?}"))
        })?;
        if t.dims() != dims {
            return Err(Error::shape(
                format!("{} optimizer state tensor {name:?}", self.kind),
                format!("{dims:?}"),
                t.dims(),
            ));
        }
        Ok(t.to_dtype(dtype)?.to_device(device)?.copy()?)
    }
}
