//! Architectures: parameter counts at ImageNet size equal torchvision's published figures
//! (`sum(p.numel() for p in torchvision.models.X().parameters())`), names follow torchvision, and
//! small variants run forward in train and eval mode.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_vision::models::count_parameters;
use dls_vision::models::lenet::{LeNet5, LeNet5Config};
use dls_vision::models::mobilenet::{MobileNetV2, MobileNetV2Config};
use dls_vision::models::resnet::{ResNet, ResNetConfig, Stem};
use dls_vision::models::vgg::{Feature, Vgg, VggConfig};
use dls_vision::pool::adaptive_avg_pool;
use dls_vision::Error;

#[test]
fn imagenet_parameter_counts_match_torchvision() {
    let resnet = |cfg: ResNetConfig| count_parameters(DType::F32, |vb| ResNet::new(vb, &cfg)).unwrap();
    assert_eq!(resnet(ResNetConfig::resnet18()).total(), 11_689_512);
    assert_eq!(resnet(ResNetConfig::resnet34()).total(), 21_797_672);
    assert_eq!(resnet(ResNetConfig::resnet50()).total(), 25_557_032);
    let vgg = |cfg: VggConfig| count_parameters(DType::F32, |vb| Vgg::new(vb, &cfg)).unwrap();
    assert_eq!(vgg(VggConfig::vgg16()).total(), 138_357_544);
    assert_eq!(vgg(VggConfig::alexnet()).total(), 61_100_840);
    let mobile =
        count_parameters(DType::F32, |vb| MobileNetV2::new(vb, &MobileNetV2Config::default())).unwrap();
    assert_eq!(mobile.total(), 3_504_872);
}

#[test]
fn parameter_names_follow_torchvision() {
    let r50 = count_parameters(DType::F32, |vb| ResNet::new(vb, &ResNetConfig::resnet50())).unwrap();
    assert_eq!(r50.get("conv1.weight"), Some(&[64, 3, 7, 7][..]));
    assert_eq!(r50.get("layer1.0.downsample.0.weight"), Some(&[256, 64, 1, 1][..]));
    assert_eq!(r50.get("layer3.5.bn3.running_var"), Some(&[1024][..]));
    assert_eq!(r50.get("layer4.0.conv2.weight"), Some(&[512, 512, 3, 3][..]));
    assert_eq!(r50.get("fc.weight"), Some(&[1000, 2048][..]));
    let r18 = count_parameters(DType::F32, |vb| ResNet::new(vb, &ResNetConfig::resnet18())).unwrap();
    assert!(r18.get("layer1.0.downsample.0.weight").is_none());
    assert_eq!(r18.get("layer2.0.downsample.1.weight"), Some(&[128][..]));
    // torchvision's resnet18 state dict holds 122 tensors, 20 of them num_batches_tracked buffers:
    // stem 1 conv + 4 bn, 8 blocks x (2 conv + 8 bn), 3 downsamples x 5, fc 2 = 102.
    assert_eq!(r18.0.len(), 122 - 20);
    let alex = count_parameters(DType::F32, |vb| Vgg::new(vb, &VggConfig::alexnet())).unwrap();
    let names: Vec<&str> = alex.0.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "classifier.1.bias",
            "classifier.1.weight",
            "classifier.4.bias",
            "classifier.4.weight",
            "classifier.6.bias",
            "classifier.6.weight",
            "features.0.bias",
            "features.0.weight",
            "features.10.bias",
            "features.10.weight",
            "features.3.bias",
            "features.3.weight",
            "features.6.bias",
            "features.6.weight",
            "features.8.bias",
            "features.8.weight",
        ]
    );
    let m = count_parameters(DType::F32, |vb| MobileNetV2::new(vb, &MobileNetV2Config::default())).unwrap();
    assert_eq!(m.get("features.0.0.weight"), Some(&[32, 3, 3, 3][..]));
    assert_eq!(m.get("features.1.conv.0.0.weight"), Some(&[32, 1, 3, 3][..]));
    assert_eq!(m.get("features.1.conv.1.weight"), Some(&[16, 32, 1, 1][..]));
    assert_eq!(m.get("features.2.conv.1.0.weight"), Some(&[96, 1, 3, 3][..]));
    assert_eq!(m.get("features.2.conv.3.running_mean"), Some(&[24][..]));
    assert_eq!(m.get("features.18.1.weight"), Some(&[1280][..]));
    assert_eq!(m.get("classifier.1.weight"), Some(&[1000, 1280][..]));
}

fn input(shape: (usize, usize, usize, usize)) -> Tensor {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f32> = (0..n).map(|i| (0.37 * i as f32).sin()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn finite(t: &Tensor) -> bool {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite())
}

#[test]
fn small_variants_run_in_train_and_eval_mode() {
    let dev = Device::Cpu;
    let x = input((2, 1, 28, 28));
    let params = Params::new(0);
    let cfg =
        ResNetConfig { classes: 10, in_channels: 1, width: 4, stem: Stem::Small, ..ResNetConfig::resnet18() };
    let net = ResNet::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    for train in [true, false] {
        let y = net.forward_t(&x, train).unwrap();
        assert_eq!(y.dims(), &[2, 10]);
        assert!(finite(&y));
    }
    // Training updates the batch-norm running mean; evaluation then uses it.
    let rm = params.get("bn1.running_mean").unwrap().as_tensor().abs().unwrap().sum_all().unwrap();
    assert!(rm.to_scalar::<f32>().unwrap() > 0.0);

    let params = Params::new(1);
    let cfg =
        ResNetConfig { classes: 3, in_channels: 1, width: 4, stem: Stem::Small, ..ResNetConfig::resnet50() };
    let net = ResNet::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    assert_eq!(net.forward_t(&input((2, 1, 12, 12)), true).unwrap().dims(), &[2, 3]);

    let params = Params::new(2);
    let cfg =
        MobileNetV2Config { classes: 5, in_channels: 1, width: 0.25, first_stride: 1, ..Default::default() };
    let net = MobileNetV2::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    for train in [true, false] {
        assert_eq!(net.forward_t(&input((2, 1, 16, 16)), train).unwrap().dims(), &[2, 5]);
    }

    let params = Params::new(3);
    let features = vec![
        Feature::Conv { out: 4, kernel: 3, stride: 1, pad: 1 },
        Feature::Pool { kernel: 3, stride: 2 },
        Feature::Conv { out: 8, kernel: 3, stride: 1, pad: 1 },
    ];
    let cfg =
        VggConfig { features, pooled: 3, hidden: 16, classes: 4, in_channels: 1, ..VggConfig::alexnet() };
    let net = Vgg::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    let eval = net.forward_t(&x, false).unwrap();
    assert_eq!(eval.dims(), &[2, 4]);
    // Evaluation is deterministic; training applies dropout and differs.
    assert_eq!(eval.to_vec2::<f32>().unwrap(), net.forward_t(&x, false).unwrap().to_vec2::<f32>().unwrap());
    assert_ne!(eval.to_vec2::<f32>().unwrap(), net.forward_t(&x, true).unwrap().to_vec2::<f32>().unwrap());
}

#[test]
fn lenet_fits_28x28_with_padding_and_rejects_tiny_inputs() {
    let params = Params::new(0);
    let cfg = LeNet5Config { input_size: 28, padding: 2, ..Default::default() };
    let net = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).unwrap();
    assert_eq!(net.forward_t(&input((3, 1, 28, 28)), false).unwrap().dims(), &[3, 10]);
    assert_eq!(params.count(), 61_706);
    let tiny = LeNet5Config { input_size: 8, ..Default::default() };
    let err = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu).pp("t"), &tiny);
    assert!(matches!(err, Err(Error::Invalid { .. })));
}

#[test]
fn adaptive_pool_matches_pytorch_bins_and_gradient_check() {
    // torch: F.adaptive_avg_pool2d(torch.arange(25.).reshape(1, 1, 5, 5), 3)
    //   -> [[3, 4.5, 6], [10.5, 12, 13.5], [18, 19.5, 21]]
    let x = Tensor::arange(0f64, 25.0, &Device::Cpu).unwrap().reshape((1, 1, 5, 5)).unwrap();
    let y = adaptive_avg_pool(&x, 3).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    assert_eq!(y, [3.0, 4.5, 6.0, 10.5, 12.0, 13.5, 18.0, 19.5, 21.0]);
    let v = Var::from_tensor(&(x / 7.0).unwrap().sin().unwrap()).unwrap();
    let w = Tensor::arange(1f64, 10.0, &Device::Cpu).unwrap().reshape((1, 1, 3, 3)).unwrap();
    let loss =
        || Ok((adaptive_avg_pool(v.as_tensor(), 3).map_err(candle_core::Error::wrap)? * &w)?.sum_all()?);
    gradcheck(loss, &[("x".into(), v.clone())], 1e-6).unwrap().check(1e-8).unwrap();
    assert!(matches!(adaptive_avg_pool(v.as_tensor(), 6), Err(Error::Invalid { .. })));
}
