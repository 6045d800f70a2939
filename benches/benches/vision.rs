//! dls-vision: convolution forward + backward at LeNet-5 and ResNet shapes, padded 3x3/2 max
//! pooling (our own op), one training step of LeNet-5 and of the CIFAR-style ResNet-18, and the
//! ImageNet ResNet-18's forward pass at 224x224. Every convolution runs on this crate's im2col +
//! gemm kernels; ids ending in `_candle` run candle's own `conv2d` instead (the reference).
//!
//! Run: `cargo bench -p dls-benches --bench vision` (add `-- --quick` for a fast look).
//! Ids (f32, one thread):
//! - `conv2d_fwd_bwd/{lenet_conv1_b64_1x28x28_6x5x5_pad2, lenet_conv2_b64_6x14x14_16x5x5,
//!   resnet_3x3_b32_64x32x32, resnet_3x3s2_b32_64x32x32_128, resnet_3x3_b32_512x4x4}[_candle]`;
//! - `pool_fwd_bwd/max3s2p1_b8_64x56x56[_candle]` and `pool_fwd_bwd/max2s2_b64_6x28x28[_candle]` (one-pass
//!   max pool against the reference window walk);
//! - `lenet5_train_step/b64_1x28x28[_candle]` (ReLU, max pool, cross-entropy, SGD lr 0.01);
//! - `resnet18_train_step/cifar_b32_3x32x32[_candle]` (3x3 stem, no pool, batch norm in training
//!   mode, cross-entropy, SGD lr 0.01);
//! - `resnet18_forward/imagenet_224_b1`, `resnet18_forward/imagenet_224_b8` (evaluation mode).

use std::time::Duration;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion};
use dls_foundations::optim::{Sgd, SgdConfig};
use dls_foundations::train::{Classifier, Learner, Objective};
use dls_foundations::Params;
use dls_vision::kernels::{set_kernels, Kernels};
use dls_vision::layers::{Conv2d, Conv2dConfig};
use dls_vision::models::lenet::{LeNet5, LeNet5Config};
use dls_vision::models::resnet::{ResNet, ResNetConfig, Stem};
use dls_vision::pool::{pool2d_with, Pool2dConfig};

fn wave(shape: (usize, usize, usize, usize)) -> candle_core::Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    Tensor::arange(0u32, n as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .affine(0.731, 0.0)?
        .sin()?
        .reshape(shape)
}

fn labels(n: usize) -> Tensor {
    Tensor::from_vec((0..n as u32).map(|i| i % 10).collect::<Vec<u32>>(), n, &Device::Cpu).expect("labels")
}

/// The two kernel choices, with the suffix their ids carry.
const KERNELS: [(Kernels, &str); 2] = [(Kernels::Dls, ""), (Kernels::Candle, "_candle")];

fn conv(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let mut group = c.benchmark_group("conv2d_fwd_bwd");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (id, shape, cfg) in [
        ("lenet_conv1_b64_1x28x28_6x5x5_pad2", (64, 1, 28, 28), Conv2dConfig::new(1, 6, 5).pad(2)),
        ("lenet_conv2_b64_6x14x14_16x5x5", (64, 6, 14, 14), Conv2dConfig::new(6, 16, 5)),
        ("resnet_3x3_b32_64x32x32", (32, 64, 32, 32), Conv2dConfig::new(64, 64, 3).pad(1).no_bias()),
        (
            "resnet_3x3s2_b32_64x32x32_128",
            (32, 64, 32, 32),
            Conv2dConfig::new(64, 128, 3).pad(1).stride(2).no_bias(),
        ),
        ("resnet_3x3_b32_512x4x4", (32, 512, 4, 4), Conv2dConfig::new(512, 512, 3).pad(1).no_bias()),
    ] {
        let params = Params::new(0);
        let layer = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).expect("conv layer");
        let x = Var::from_tensor(&wave(shape).expect("input")).expect("var");
        for (kernels, suffix) in KERNELS {
            group.bench_function(format!("{id}{suffix}"), |b| {
                b.iter(|| {
                    let y = layer.forward_with(x.as_tensor(), kernels).expect("forward");
                    y.sum_all().expect("sum").backward().expect("backward")
                })
            });
        }
    }
    group.finish();
    let mut group = c.benchmark_group("pool_fwd_bwd");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (id, shape, cfg) in [
        ("max3s2p1_b8_64x56x56", (8, 64, 56, 56), Pool2dConfig::max(3, 2, 1)),
        ("max2s2_b64_6x28x28", (64, 6, 28, 28), Pool2dConfig::max(2, 2, 0)),
    ] {
        let x = Var::from_tensor(&wave(shape).expect("input")).expect("var");
        // `_candle`: the reference window walk (candle's own max_pool2d has a wrong gradient).
        for (kernels, suffix) in KERNELS {
            group.bench_function(format!("{id}{suffix}"), |b| {
                b.iter(|| {
                    let y = pool2d_with(x.as_tensor(), &cfg, kernels).expect("pool");
                    y.sum_all().expect("sum").backward().expect("backward")
                })
            });
        }
    }
    group.finish();
}

/// Times `learner`'s SGD step on `(x, y)` under both kernel choices.
fn train_step<L: Learner>(
    c: &mut Criterion,
    group: &str,
    id: &str,
    learner: &L,
    params: &Params,
    x: &Tensor,
) {
    let y = labels(x.dim(0).expect("batch"));
    let mut group = c.benchmark_group(group);
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for (kernels, suffix) in KERNELS {
        let mut opt =
            Sgd::new(params.trainable(), SgdConfig { lr: 0.01, ..Default::default() }).expect("sgd");
        group.bench_function(format!("{id}{suffix}"), |b| {
            set_kernels(kernels);
            b.iter(|| {
                let loss = learner.loss(x, &y).expect("loss");
                opt.backward_step(&loss).expect("step")
            });
            set_kernels(Kernels::Dls);
        });
    }
    group.finish();
}

fn lenet_step(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let params = Params::new(0);
    let cfg = LeNet5Config { input_size: 28, padding: 2, ..Default::default() };
    let model = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).expect("lenet");
    let learner = Classifier::new(model, Objective::MultiClass);
    let x = wave((64, 1, 28, 28)).expect("input");
    train_step(c, "lenet5_train_step", "b64_1x28x28", &learner, &params, &x);
}

fn resnet_step(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let params = Params::new(0);
    let cfg = ResNetConfig { classes: 10, stem: Stem::Small, ..ResNetConfig::resnet18() };
    let model = ResNet::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).expect("resnet");
    let learner = Classifier::new(model, Objective::MultiClass);
    let x = wave((32, 3, 32, 32)).expect("input");
    train_step(c, "resnet18_train_step", "cifar_b32_3x32x32", &learner, &params, &x);
}

fn resnet_forward(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let params = Params::new(0);
    let model =
        ResNet::new(params.var_builder(DType::F32, &Device::Cpu), &ResNetConfig::resnet18()).expect("resnet");
    let mut group = c.benchmark_group("resnet18_forward");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for batch in [1, 8] {
        let x = wave((batch, 3, 224, 224)).expect("input");
        group.bench_function(format!("imagenet_224_b{batch}"), |b| {
            b.iter(|| model.forward_t(&x, false).expect("forward"))
        });
    }
    group.finish();
}

criterion_group!(benches, conv, lenet_step, resnet_step, resnet_forward);
criterion_main!(benches);
