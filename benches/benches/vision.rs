//! dls-vision: convolution forward + backward at LeNet-5's shapes, padded 3x3/2 max pooling (our
//! own op) at ResNet-stem-like shapes, and one LeNet-5 training step.
//!
//! Run: `cargo bench -p dls-benches --bench vision` (add `-- --quick` for a fast look).
//! Ids: `conv2d_fwd_bwd/lenet_conv1_b64_1x28x28_6x5x5_pad2`,
//! `conv2d_fwd_bwd/lenet_conv2_b64_6x14x14_16x5x5`, `pool_fwd_bwd/max3s2p1_b8_64x56x56`,
//! `lenet5_train_step/b64_1x28x28` (Adam, f32, one thread).

use std::time::Duration;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::{Classifier, Learner, Objective};
use dls_foundations::Params;
use dls_vision::layers::{Conv2d, Conv2dConfig};
use dls_vision::models::lenet::{LeNet5, LeNet5Config};
use dls_vision::pool::{pool2d, Pool2dConfig};

fn wave(shape: (usize, usize, usize, usize)) -> candle_core::Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    Tensor::arange(0u32, n as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .affine(0.731, 0.0)?
        .sin()?
        .reshape(shape)
}

fn conv(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let mut group = c.benchmark_group("conv2d_fwd_bwd");
    group.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (id, shape, cfg) in [
        ("lenet_conv1_b64_1x28x28_6x5x5_pad2", (64, 1, 28, 28), Conv2dConfig::new(1, 6, 5).pad(2)),
        ("lenet_conv2_b64_6x14x14_16x5x5", (64, 6, 14, 14), Conv2dConfig::new(6, 16, 5)),
    ] {
        let params = Params::new(0);
        let layer = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).expect("conv layer");
        let x = Var::from_tensor(&wave(shape).expect("input")).expect("var");
        group.bench_function(id, |b| {
            b.iter(|| {
                let y = layer.forward(x.as_tensor()).expect("forward");
                y.sum_all().expect("sum").backward().expect("backward")
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("pool_fwd_bwd");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let x = Var::from_tensor(&wave((8, 64, 56, 56)).expect("input")).expect("var");
    group.bench_function("max3s2p1_b8_64x56x56", |b| {
        b.iter(|| {
            let y = pool2d(x.as_tensor(), &Pool2dConfig::max(3, 2, 1)).expect("pool");
            y.sum_all().expect("sum").backward().expect("backward")
        })
    });
    group.finish();
}

fn lenet_step(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let mut group = c.benchmark_group("lenet5_train_step");
    group.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    let params = Params::new(0);
    let cfg = LeNet5Config { input_size: 28, padding: 2, ..Default::default() };
    let model = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).expect("lenet");
    let learner = Classifier::new(model, Objective::MultiClass);
    let mut opt = Adam::new(params.trainable(), AdamConfig::default()).expect("adam");
    let x = wave((64, 1, 28, 28)).expect("input");
    let y =
        Tensor::from_vec((0..64u32).map(|i| i % 10).collect::<Vec<u32>>(), 64, &Device::Cpu).expect("labels");
    group.bench_function("b64_1x28x28", |b| {
        b.iter(|| {
            let loss = learner.loss(&x, &y).expect("loss");
            opt.backward_step(&loss).expect("step")
        })
    });
    group.finish();
}

criterion_group!(benches, conv, lenet_step);
criterion_main!(benches);
