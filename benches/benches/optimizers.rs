//! One optimiser step over the parameters of an MLP 64-128-64-10 (f32, 17 226 values in six
//! tensors), for each optimiser in `dls_foundations::optim`.
//!
//! Run: `cargo bench -p dls-benches --bench optimizers` (add `-- --quick` for a fast look).
//! Ids: `optim_step/<name>`.

use std::time::Duration;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion};
use dls_foundations::optim::{
    AdamConfig, AdamWConfig, AnyOptimizer, MomentumConfig, MomentumStyle, NesterovConfig, OptimizerConfig,
    RmsPropConfig, SgdConfig,
};

/// Weight and bias shapes of the MLP 64-128-64-10.
const SHAPES: [&[usize]; 6] = [&[128, 64], &[128], &[64, 128], &[64], &[10, 64], &[10]];

/// The parameters and a fixed, deterministic gradient for each (no random numbers needed).
fn mlp_params() -> candle_core::Result<(Vec<Var>, GradStore)> {
    let dev = Device::Cpu;
    let mut vars = Vec::new();
    let mut grads = GradStore::default();
    for (i, shape) in SHAPES.iter().enumerate() {
        let n: usize = shape.iter().product();
        let ramp = Tensor::arange(0u32, n as u32, &dev)?.to_dtype(DType::F32)?;
        let var = Var::from_tensor(&ramp.affine(0.37, i as f64)?.sin()?.affine(0.1, 0.0)?.reshape(*shape)?)?;
        grads.insert(&var, ramp.affine(0.11, 0.5)?.cos()?.affine(0.01, 0.0)?.reshape(*shape)?);
        vars.push(var);
    }
    Ok((vars, grads))
}

fn configs() -> [(&'static str, OptimizerConfig); 7] {
    let torch_momentum = MomentumConfig { dampening: MomentumStyle::PyTorch, ..Default::default() };
    [
        ("sgd", OptimizerConfig::Sgd(SgdConfig::default())),
        ("momentum", OptimizerConfig::Momentum(MomentumConfig::default())),
        ("momentum_torch", OptimizerConfig::Momentum(torch_momentum)),
        ("nesterov", OptimizerConfig::Nesterov(NesterovConfig::default())),
        ("rmsprop", OptimizerConfig::RmsProp(RmsPropConfig::default())),
        ("adam", OptimizerConfig::Adam(AdamConfig::default())),
        ("adamw", OptimizerConfig::AdamW(AdamWConfig::default())),
    ]
}

fn optim_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("optim_step");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for (name, config) in configs() {
        let (vars, grads) = mlp_params().expect("building the MLP parameters");
        let mut opt = AnyOptimizer::new(vars, config).expect("building the optimiser");
        group.bench_function(name, |b| b.iter(|| opt.step(&grads).expect("optimiser step")));
    }
    group.finish();
}

criterion_group!(benches, optim_step);
criterion_main!(benches);
