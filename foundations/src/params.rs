//! A seeded parameter store: a candle `VarMap` whose fresh variables come from our own
//! seeded stream instead of candle's unseeded CPU generator.
//!
//! Models are built the usual candle way, `Model::new(params.var_builder(..), &cfg)`; every
//! `vb.get_with_hints(shape, name, init)` that creates a new variable draws its values from the
//! [`SeededRng`] held here, in construction order, so the same seed gives the same network.
//!
//! ```
//! use candle_core::{DType, Device};
//! use dls_foundations::params::Params;
//! let a = Params::new(3);
//! let b = Params::new(3);
//! let init = candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 };
//! let wa = a.var_builder(DType::F32, &Device::Cpu).get_with_hints((2, 2), "w", init)?;
//! let wb = b.var_builder(DType::F32, &Device::Cpu).get_with_hints((2, 2), "w", init)?;
//! assert_eq!(wa.to_vec2::<f32>()?, wb.to_vec2::<f32>()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::rng::SeededRng;
use crate::{Error, Result};

/// Names of variables that hold statistics rather than learned weights (batch-norm running
/// mean and variance): they are saved and loaded but never handed to an optimiser.
pub fn is_statistic(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}

/// A seeded store of named variables.
#[derive(Clone)]
pub struct Params {
    varmap: VarMap,
    rng: SeededRng,
}

impl Params {
    /// An empty store whose new variables are drawn from a stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { varmap: VarMap::new(), rng: SeededRng::new(seed) }
    }

    /// A `VarBuilder` that creates variables in this store (or returns existing ones).
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        let backend = SeededBackend { varmap: self.varmap.clone(), rng: self.rng.clone() };
        VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
    }

    /// The underlying candle `VarMap` (shares storage with this store).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// All variables, sorted by name (a stable order for optimisers and checkpoints).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The learnable variables (everything but batch-norm statistics), sorted by name.
    pub fn trainable(&self) -> Vec<Var> {
        self.trainable_where(|_| true)
    }

    /// Learnable variables whose name satisfies `keep`, sorted by name. Used to freeze part of a
    /// network: `params.trainable_where(|n| n.starts_with("head."))` trains only the head.
    pub fn trainable_where(&self, keep: impl Fn(&str) -> bool) -> Vec<Var> {
        self.named_vars().into_iter().filter(|(n, _)| !is_statistic(n) && keep(n)).map(|(_, v)| v).collect()
    }

    /// The variable called `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when no such variable exists.
    pub fn get(&self, name: &str) -> Result<Var> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        data.get(name)
            .cloned()
            .ok_or_else(|| Error::invalid("parameter name", format!("no parameter called {name:?}")))
    }

    /// Total number of scalar values over all learnable variables.
    pub fn count(&self) -> usize {
        self.trainable().iter().map(|v| v.elem_count()).sum()
    }

    /// Saves all variables to a safetensors file (written to a temporary file, then renamed).
    ///
    /// # Errors
    /// I/O failures, reported with the path.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let tensors: Vec<(String, Tensor)> =
            self.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        crate::checkpoint::write_safetensors(path.as_ref(), &tensors, None)
    }

    /// Loads values for every variable of this store from a safetensors file.
    ///
    /// # Errors
    /// A missing tensor or a shape that differs from the variable's is an error naming it.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let (tensors, _) = crate::checkpoint::read_safetensors(path)?;
        self.assign_from(&tensors, &path.display().to_string())
    }

    /// Sets every variable from `tensors` (looked up by name); `source` names them in errors.
    pub(crate) fn assign_from(
        &self,
        tensors: &std::collections::HashMap<String, Tensor>,
        source: &str,
    ) -> Result<()> {
        self.assign_where(tensors, source, |_| true).map(|_| ())
    }

    /// Loads only the variables whose name satisfies `keep` from a safetensors file, leaving the
    /// others as they are: the transfer-learning load of a pretrained backbone under a new head.
    /// Returns how many variables were set.
    ///
    /// # Errors
    /// A kept variable missing from the file or stored with another shape is an error naming it;
    /// nothing is set then.
    pub fn load_where(&self, path: impl AsRef<Path>, keep: impl Fn(&str) -> bool) -> Result<usize> {
        let path = path.as_ref();
        let (tensors, _) = crate::checkpoint::read_safetensors(path)?;
        self.assign_where(&tensors, &path.display().to_string(), keep)
    }

    /// Copies the values of the variables whose name satisfies `keep` from another store (for
    /// instance a network pretrained on another task). Returns how many variables were copied.
    ///
    /// # Errors
    /// As [`Params::load_where`].
    pub fn copy_from(&self, other: &Params, keep: impl Fn(&str) -> bool) -> Result<usize> {
        let tensors = other.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        self.assign_where(&tensors, "the source parameters", keep)
    }

    fn assign_where(
        &self,
        tensors: &std::collections::HashMap<String, Tensor>,
        source: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        // Check every tensor before setting any, so a failed load leaves the store untouched.
        let mut pairs = Vec::new();
        for (name, var) in self.named_vars().into_iter().filter(|(n, _)| keep(n)) {
            let t = tensors
                .get(&name)
                .ok_or_else(|| Error::format(source, None, format!("no tensor named {name:?}")))?;
            if t.dims() != var.dims() {
                return Err(Error::shape(
                    format!("{name} in {source}"),
                    format!("{:?}", var.dims()),
                    t.dims(),
                ));
            }
            let value = t.to_dtype(var.dtype())?.to_device(var.device())?;
            pairs.push((var, value));
        }
        let count = pairs.len();
        for (var, t) in pairs {
            var.set(&t)?;
        }
        Ok(count)
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.named_vars().into_iter().map(|(n, _)| n).collect();
        f.debug_struct("Params").field("vars", &names).finish()
    }
}

/// The `VarBuilder` backend behind [`Params::var_builder`].
struct SeededBackend {
    varmap: VarMap,
    rng: SeededRng,
}

impl SeededBackend {
    fn sample(&self, shape: &Shape, init: Init) -> Vec<f64> {
        let n = shape.elem_count();
        let mut rng = self.rng.lock();
        let rng = &mut *rng;
        match init {
            Init::Const(c) => vec![c; n],
            Init::Randn { mean, stdev } => normal(mean, stdev, n, rng),
            Init::Uniform { lo, up } => uniform(lo, up, n, rng),
            Init::Kaiming { dist, fan, non_linearity } => {
                let std = non_linearity.gain() / (fan.for_shape(shape).max(1) as f64).sqrt();
                match dist {
                    candle_nn::init::NormalOrUniform::Normal => normal(0.0, std, n, rng),
                    candle_nn::init::NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        uniform(-b, b, n, rng)
                    }
                }
            }
        }
    }
}

fn normal(mean: f64, std: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    match Normal::new(mean, std.abs()) {
        Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
        Err(_) => vec![mean; n],
    }
}

fn uniform(lo: f64, up: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    match Uniform::new(lo.min(up), lo.max(up)) {
        Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
        Err(_) => vec![lo; n],
    }
}

impl candle_nn::var_builder::SimpleBackend for SeededBackend {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let mut data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = data.get(name) {
            if v.shape() != &s {
                candle_core::bail!("shape mismatch for parameter {name}: asked {s:?}, stored {:?}", v.shape())
            }
            return Ok(v.as_tensor().clone());
        }
        let values = self.sample(&s, h);
        let t = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        match data.get(name) {
            Some(v) => v.as_tensor().to_dtype(dtype)?.to_device(dev),
            None => candle_core::bail!("no parameter called {name} (and no shape to create it)"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().unwrap_or_else(|e| e.into_inner()).contains_key(name)
    }
}
