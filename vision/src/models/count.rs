//! Parameter counting without allocating the weights: a `VarBuilder` backend that records every
//! requested name and shape and hands back a broadcast scalar zero of that shape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use dls_foundations::params::is_statistic;

use crate::Result;

/// Names and shapes of every tensor a model asked its `VarBuilder` for, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterShapes(pub BTreeMap<String, Vec<usize>>);

impl ParameterShapes {
    /// Learnable values: every tensor except batch-norm running statistics (torchvision's
    /// `sum(p.numel() for p in model.parameters())`).
    pub fn total(&self) -> usize {
        self.0.iter().filter(|(n, _)| !is_statistic(n)).map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// The shape recorded under `name`.
    pub fn get(&self, name: &str) -> Option<&[usize]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<BTreeMap<String, Vec<usize>>>>);

impl SimpleBackend for Recorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = map.get(name) {
            if old.as_slice() != s.dims() {
                candle_core::bail!("{name} requested as {:?} and as {:?}", old, s.dims())
            }
        }
        map.insert(name.to_string(), s.dims().to_vec());
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("parameter counting cannot provide {name} without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// Builds a model with `build` over a recording `VarBuilder` and returns the shapes it asked for.
/// No weight memory is allocated, so ImageNet-size networks count in milliseconds.
///
/// # Errors
/// Whatever `build` returns.
pub fn count_parameters<T, E>(
    dtype: DType,
    build: impl FnOnce(VarBuilder) -> std::result::Result<T, E>,
) -> Result<ParameterShapes>
where
    crate::Error: From<E>,
{
    let recorder = Recorder::default();
    let vb = VarBuilder::from_backend(Box::new(recorder.clone()), dtype, Device::Cpu);
    build(vb)?;
    let map = recorder.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(ParameterShapes(map))
}
