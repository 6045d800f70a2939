//! One training step (forward, backward, optimiser update) of the foundations models.
//!
//! Run: `cargo bench -p dls-benches --bench foundations` (add `-- --quick` for a fast look).
//! Ids: `mlp_train_step/digits_64-128-64-10_b64` (Adam, the `mlp` example's default network) and
//! `mlp_train_step/mnist_784-256-128-10_b128` (the `--data` network), both f32 on one thread, plus
//! `mlp_train_step/..._bn` with batch norm.

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::{Classifier, Learner, Objective};
use dls_foundations::Params;

struct Step {
    learner: Classifier<Mlp>,
    opt: Adam,
    x: Tensor,
    y: Tensor,
}

fn setup(inputs: usize, hidden: Vec<usize>, batch: usize, batch_norm: bool) -> candle_core::Result<Step> {
    let dev = Device::Cpu;
    let params = Params::new(0);
    let cfg = MlpConfig { inputs, hidden, outputs: 10, batch_norm, ..Default::default() };
    let model = Mlp::new(params.var_builder(DType::F32, &dev), &cfg).map_err(candle_core::Error::wrap)?;
    let learner = Classifier::new(model, Objective::MultiClass);
    let opt = Adam::new(params.trainable(), AdamConfig::default())?;
    // Deterministic inputs in [-1, 1] and labels cycling through the classes.
    let x = Tensor::arange(0u32, (batch * inputs) as u32, &dev)?
        .to_dtype(DType::F32)?
        .affine(0.731, 0.0)?
        .sin()?
        .reshape((batch, inputs))?;
    let y = Tensor::from_vec((0..batch as u32).map(|i| i % 10).collect::<Vec<u32>>(), batch, &dev)?;
    Ok(Step { learner, opt, x, y })
}

fn mlp_train_step(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let mut group = c.benchmark_group("mlp_train_step");
    group.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (id, inputs, hidden, batch, bn) in [
        ("digits_64-128-64-10_b64", 64, vec![128, 64], 64, false),
        ("digits_64-128-64-10_b64_bn", 64, vec![128, 64], 64, true),
        ("mnist_784-256-128-10_b128", 784, vec![256, 128], 128, false),
    ] {
        let mut s = match setup(inputs, hidden, batch, bn) {
            Ok(s) => s,
            Err(e) => panic!("bench set-up failed: {e}"),
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(id, |b| {
            b.iter(|| {
                let loss = s.learner.loss(&s.x, &s.y).map_err(candle_core::Error::wrap)?;
                s.opt.backward_step(&loss)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mlp_train_step);
criterion_main!(benches);
