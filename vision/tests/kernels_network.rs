//! Whole networks on this crate's kernels against candle's own ops, in f64: a ResNet whose first
//! stage takes the Winograd convolution (32 channels at 16x16) after the ImageNet stem's 3x3
//! stride-2 max pool (its later stages, with few tiles, take im2col), with batch norm + ReLU fused and the residual sum + ReLU fused; and LeNet-5,
//! whose convolutions keep their column matrices for the weight gradient and whose pools take
//! the 2x2 walk. Outputs and every parameter's gradient must agree.
//! (Its own test binary: the kernel switch is process-wide.)

use candle_core::{DType, Device, ModuleT, Tensor};
use dls_foundations::train::{Classifier, Learner, Objective};
use dls_foundations::Params;
use dls_vision::kernels::{set_kernels, Kernels};
use dls_vision::models::lenet::{LeNet5, LeNet5Config};
use dls_vision::models::resnet::{ResNet, ResNetConfig, Stem};

fn wave(shape: &[usize], phase: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37 + phase).sin()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_gap(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap()
}

/// The training-mode output and every parameter's gradient of the cross-entropy loss.
fn run<M: ModuleT + Clone>(
    model: &M,
    params: &Params,
    x: &Tensor,
    kernels: Kernels,
) -> (Tensor, Vec<Tensor>) {
    set_kernels(kernels);
    let labels = Tensor::new(&[1u32, 7, 3], &Device::Cpu).unwrap();
    let learner = Classifier::new(model.clone(), Objective::MultiClass);
    let out = model.forward_t(x, true).unwrap();
    let grads = learner.loss(x, &labels).unwrap().backward().unwrap();
    let grads = params.trainable().iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect();
    set_kernels(Kernels::Dls);
    (out, grads)
}

fn assert_same(name: &str, ours: (Tensor, Vec<Tensor>), reference: (Tensor, Vec<Tensor>)) {
    let gap = max_gap(&ours.0, &reference.0);
    assert!(gap < 1e-9, "{name}: outputs differ by {gap}");
    assert_eq!(ours.1.len(), reference.1.len());
    for (i, (a, b)) in ours.1.iter().zip(&reference.1).enumerate() {
        let scale =
            b.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap().max(1e-3);
        let gap = max_gap(a, b);
        assert!(gap < 1e-8 * scale, "{name}: gradient {i} differs by {gap} (scale {scale})");
    }
}

#[test]
fn networks_on_dls_kernels_match_candle_ops() {
    let params = Params::new(7);
    let cfg = ResNetConfig {
        layers: [1, 1, 1, 1],
        classes: 10,
        width: 32,
        stem: Stem::ImageNet,
        ..ResNetConfig::resnet18()
    };
    let resnet = ResNet::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
    let x = wave(&[3, 3, 64, 64], 0.4);
    let ours = run(&resnet, &params, &x, Kernels::Dls);
    assert_same("resnet", ours, run(&resnet, &params, &x, Kernels::Candle));

    let params = Params::new(8);
    let cfg = LeNet5Config { input_size: 28, padding: 2, ..Default::default() };
    let lenet = LeNet5::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
    let x = wave(&[3, 1, 28, 28], 1.1);
    let ours = run(&lenet, &params, &x, Kernels::Dls);
    assert_same("lenet5", ours, run(&lenet, &params, &x, Kernels::Candle));
}
