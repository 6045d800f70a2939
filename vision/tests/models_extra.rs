//! Network in Network, Inception/GoogLeNet and MobileNet v1: parameter counts at ImageNet size,
//! torchvision's names, ceil-mode pooling against PyTorch, gradient checks, and small variants in
//! train and eval mode.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_vision::models::count_parameters;
use dls_vision::models::inception::{max_pool_ceil, GoogLeNet, GoogLeNetConfig, Inception, InceptionSpec};
use dls_vision::models::mobilenet_v1::{MobileNetV1, MobileNetV1Config};
use dls_vision::models::nin::{Nin, NinConfig};
use dls_vision::Error;

#[test]
fn imagenet_parameter_counts_match_the_published_ones() {
    // torchvision.models.googlenet(aux_logits=False, init_weights=False): 6,624,904.
    let g = count_parameters(DType::F32, |vb| GoogLeNet::new(vb, &GoogLeNetConfig::default())).unwrap();
    assert_eq!(g.total(), 6_624_904);
    // MobileNet v1 (Keras MobileNet(alpha=1.0) trainable parameters): 4,231,976.
    let m = count_parameters(DType::F32, |vb| MobileNetV1::new(vb, &MobileNetV1Config::default())).unwrap();
    assert_eq!(m.total(), 4_231_976);
    // NiN by hand (conv k x k from c to o: c o k² + o; two 1x1 per block: 2 (o² + o)):
    //   block 1:    3·96·121 + 96 + 2(96² + 96)         =    53,568
    //   block 2:   96·256·25 + 256 + 2(256² + 256)      =   746,240
    //   block 3:   256·384·9 + 384 + 2(384² + 384)      = 1,180,800
    //   block 4: 384·1000·9 + 1000 + 2(1000² + 1000)    = 5,459,000
    //   total                                           = 7,439,608
    // (d2l's nn.Sequential NiN with 3 input channels and 1000 classes in PyTorch 2.15:
    //  sum(p.numel() for p in net.parameters()) == 7439608)
    let n = count_parameters(DType::F32, |vb| Nin::new(vb, &NinConfig::imagenet())).unwrap();
    assert_eq!(n.total(), 7_439_608);
}

#[test]
fn parameter_names_follow_torchvision() {
    let g = count_parameters(DType::F32, |vb| GoogLeNet::new(vb, &GoogLeNetConfig::default())).unwrap();
    assert_eq!(g.get("conv1.conv.weight"), Some(&[64, 3, 7, 7][..]));
    assert_eq!(g.get("conv1.bn.running_var"), Some(&[64][..]));
    assert_eq!(g.get("conv3.conv.weight"), Some(&[192, 64, 3, 3][..]));
    assert_eq!(g.get("inception3a.branch1.conv.weight"), Some(&[64, 192, 1, 1][..]));
    assert_eq!(g.get("inception3a.branch3.1.conv.weight"), Some(&[32, 16, 3, 3][..]));
    assert_eq!(g.get("inception5b.branch4.1.conv.weight"), Some(&[128, 832, 1, 1][..]));
    assert_eq!(g.get("fc.weight"), Some(&[1000, 1024][..]));
    assert!(g.get("conv1.conv.bias").is_none());
    // torchvision's state dict without aux heads: 57 BasicConv2d x (conv weight + 4 bn tensors +
    // num_batches_tracked) + fc weight and bias = 344 tensors; without the 57 counters, 287.
    assert_eq!(g.0.len(), 287);

    let m = count_parameters(DType::F32, |vb| MobileNetV1::new(vb, &MobileNetV1Config::default())).unwrap();
    assert_eq!(m.get("features.0.0.weight"), Some(&[32, 3, 3, 3][..]));
    assert_eq!(m.get("features.1.depthwise.0.weight"), Some(&[32, 1, 3, 3][..]));
    assert_eq!(m.get("features.1.pointwise.0.weight"), Some(&[64, 32, 1, 1][..]));
    assert_eq!(m.get("features.13.pointwise.1.running_mean"), Some(&[1024][..]));
    assert_eq!(m.get("classifier.1.weight"), Some(&[1000, 1024][..]));
    // 1 + 13 x 2 conv-bn pairs x 4 tensors (weight, bn weight, bias) + 2 statistics + fc 2.
    assert_eq!(m.0.len(), 27 * 5 + 2);

    let n = count_parameters(DType::F32, |vb| Nin::new(vb, &NinConfig::imagenet())).unwrap();
    assert_eq!(n.get("features.0.0.weight"), Some(&[96, 3, 11, 11][..]));
    assert_eq!(n.get("features.4.4.bias"), Some(&[384][..]));
    assert_eq!(n.get("features.7.2.weight"), Some(&[1000, 1000, 1, 1][..]));
}

#[test]
fn ceil_mode_pooling_matches_pytorch() {
    // torch: F.max_pool2d(torch.arange(42.).reshape(1, 1, H, W), 3, 2, ceil_mode=True)
    //   6x7 -> [16, 18, 20, 30, 32, 34, 37, 39, 41]; 7x6 -> [14, 16, 17, 26, 28, 29, 38, 40, 41]
    let dev = Device::Cpu;
    let x = Tensor::arange(0f32, 42.0, &dev).unwrap();
    let y = max_pool_ceil(&x.reshape((1, 1, 6, 7)).unwrap(), 3, 2).unwrap();
    assert_eq!(y.dims(), &[1, 1, 3, 3]);
    assert_eq!(
        y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        [16., 18., 20., 30., 32., 34., 37., 39., 41.]
    );
    let y = max_pool_ceil(&x.reshape((1, 1, 7, 6)).unwrap(), 3, 2).unwrap();
    assert_eq!(
        y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        [14., 16., 17., 26., 28., 29., 38., 40., 41.]
    );
    assert!(matches!(max_pool_ceil(&x.reshape((1, 1, 6, 7)).unwrap(), 8, 2), Err(Error::Invalid { .. })));
    assert!(matches!(max_pool_ceil(&x, 3, 2), Err(Error::Invalid { .. })));

    // The gradient flows to each window's maximum only (never to the -inf overhang).
    let v =
        Var::from_tensor(&(Tensor::arange(0f64, 42.0, &dev).unwrap() * 0.7).unwrap().sin().unwrap()).unwrap();
    let w = Tensor::arange(1f64, 10.0, &dev).unwrap().reshape((1, 1, 3, 3)).unwrap();
    let loss = || {
        let x = v.as_tensor().reshape((1, 1, 6, 7))?;
        Ok((max_pool_ceil(&x, 3, 2).map_err(candle_core::Error::wrap)? * &w)?.sum_all()?)
    };
    gradcheck(loss, &[("x".into(), v.clone())], 1e-6).unwrap().check(1e-8).unwrap();
}

fn input(shape: (usize, usize, usize, usize), dtype: DType) -> Tensor {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f64> = (0..n).map(|i| (0.37 * i as f64).sin()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

#[test]
fn inception_module_concatenates_branches_and_passes_gradient_check() {
    let params = Params::new(0);
    let spec = InceptionSpec { ch1x1: 2, ch3x3_reduce: 2, ch3x3: 3, ch5x5_reduce: 1, ch5x5: 2, pool_proj: 1 };
    assert_eq!(spec.out_channels(), 8);
    let vb = params.var_builder(DType::F64, &Device::Cpu);
    let m = Inception::new(&vb, 3, &spec, 5).unwrap();
    let x = Var::from_tensor(&input((2, 3, 5, 5), DType::F64)).unwrap();
    assert_eq!(m.forward_t(x.as_tensor(), false).unwrap().dims(), &[2, 8, 5, 5]);
    assert_eq!(params.get("branch3.1.conv.weight").unwrap().dims(), &[2, 1, 5, 5]);
    // In evaluation mode a fresh batch norm is x / sqrt(1 + 0.001): zeroing branch 2's last
    // convolution zeroes exactly channels 2..5 of the output.
    let w = params.get("branch2.1.conv.weight").unwrap();
    w.set(&w.zeros_like().unwrap()).unwrap();
    let y = m.forward_t(x.as_tensor(), false).unwrap();
    let per_channel = y.abs().unwrap().sum((0, 2, 3)).unwrap().to_vec1::<f64>().unwrap();
    for (c, s) in per_channel.iter().enumerate() {
        assert_eq!(*s == 0.0, (2..5).contains(&c), "channel {c}: {s}");
    }
    w.set(&input((3, 2, 3, 3), DType::F64)).unwrap();
    // Train mode (batch statistics) through every branch, the input included.
    let weights = input((2, 8, 5, 5), DType::F64);
    let loss = || Ok((m.forward_t(x.as_tensor(), true)? * &weights)?.sum_all()?);
    let mut vars = params.named_vars();
    vars.retain(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"));
    vars.push(("x".into(), x.clone()));
    gradcheck(loss, &vars, 1e-6).unwrap().check(1e-6).unwrap();
    assert!(matches!(Inception::new(&vb.pp("even"), 3, &spec, 4), Err(Error::Invalid { .. })));
}

fn finite(t: &Tensor) -> bool {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite())
}

fn runs_in_both_modes<M: ModuleT>(net: &M, params: &Params, x: &Tensor, classes: usize, bn: Option<&str>) {
    let eval = net.forward_t(x, false).unwrap();
    assert_eq!(eval.dims(), &[x.dim(0).unwrap(), classes]);
    assert!(finite(&eval));
    let train = net.forward_t(x, true).unwrap();
    assert!(finite(&train));
    assert_ne!(eval.to_vec2::<f32>().unwrap(), train.to_vec2::<f32>().unwrap());
    if let Some(name) = bn {
        // Training moved the running mean away from its initial zeros.
        let rm = params.get(name).unwrap().as_tensor().abs().unwrap().sum_all().unwrap();
        assert!(rm.to_scalar::<f32>().unwrap() > 0.0);
    }
}

#[test]
fn small_variants_run_in_train_and_eval_mode() {
    let dev = Device::Cpu;
    let params = Params::new(0);
    let cfg = GoogLeNetConfig { classes: 4, in_channels: 1, width: 0.125, ..Default::default() };
    let net = GoogLeNet::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    runs_in_both_modes(&net, &params, &input((2, 1, 32, 32), DType::F32), 4, Some("conv1.bn.running_mean"));
    assert!(net.forward_t(&input((1, 1, 16, 16), DType::F32), false).is_err());

    let params = Params::new(1);
    let cfg =
        MobileNetV1Config { classes: 3, in_channels: 1, width: 0.25, first_stride: 1, ..Default::default() };
    let net = MobileNetV1::new(params.var_builder(DType::F32, &dev), &cfg).unwrap();
    assert_eq!(params.get("features.1.pointwise.0.weight").unwrap().dims(), &[16, 8, 1, 1]);
    runs_in_both_modes(
        &net,
        &params,
        &input((2, 1, 16, 16), DType::F32),
        3,
        Some("features.0.1.running_mean"),
    );

    let params = Params::new(2);
    let net = Nin::new(params.var_builder(DType::F32, &dev), &NinConfig::small(5, 1, 4)).unwrap();
    runs_in_both_modes(&net, &params, &input((2, 1, 16, 16), DType::F32), 5, None);
    assert!(net.forward_t(&input((1, 1, 8, 8), DType::F32), false).is_err());
}

#[test]
fn bad_configs_are_errors() {
    let vb = || Params::new(0).var_builder(DType::F32, &Device::Cpu);
    let g = GoogLeNetConfig { classes: 0, ..Default::default() };
    assert!(matches!(GoogLeNet::new(vb(), &g), Err(Error::Invalid { .. })));
    let g = GoogLeNetConfig { branch3_kernel: 4, width: 0.1, ..Default::default() };
    assert!(matches!(GoogLeNet::new(vb(), &g), Err(Error::Invalid { .. })));
    let m = MobileNetV1Config { width: 0.0, ..Default::default() };
    assert!(matches!(MobileNetV1::new(vb(), &m), Err(Error::Invalid { .. })));
    let m = MobileNetV1Config { dropout: 1.0, width: 0.1, ..Default::default() };
    assert!(matches!(MobileNetV1::new(vb(), &m), Err(Error::Invalid { .. })));
    let n = NinConfig { blocks: vec![], ..NinConfig::imagenet() };
    assert!(matches!(Nin::new(vb(), &n), Err(Error::Invalid { .. })));
}
