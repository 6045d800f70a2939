//! Convolution and pooling layers: forward values against PyTorch, backward by f64 gradient checks
//! on odd shapes.
//!
//! The PyTorch figures come from (torch 2.x, CPU, float64):
//! ```python
//! import torch, torch.nn.functional as F
//! def det(shape, a):
//!     n = 1
//!     for s in shape: n *= s
//!     return torch.sin(a * torch.arange(n, dtype=torch.float64)).reshape(shape)
//! x = det((1, 4, 7, 6), 0.37); w = det((6, 2, 3, 3), 0.91); b = det((6,), 1.3)
//! y = F.conv2d(x, w, b, stride=2, padding=2, dilation=2, groups=2)      # y.flatten()[:8], y.sum()
//! w2 = det((3, 4, 3, 3), 0.53)
//! y2 = F.conv2d(F.pad(x, (0, 1, 1, 1)), w2, None, stride=2)            # TF SAME, stride 2
//! p = F.max_pool2d(x, 3, 2, 1); a = F.avg_pool2d(x, 3, 2, 1)
//! a2 = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
//! ```

use candle_core::{DType, Device, Module, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_vision::conv::Padding;
use dls_vision::layers::{pointwise, Conv2d, Conv2dConfig, DepthwiseSeparable};
use dls_vision::pool::{global_avg_pool, pool2d, Pool2dConfig, PoolKind};
use dls_vision::Error;

fn det(shape: &[usize], a: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (a * i as f64).sin()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < tol, "index {i}: got {g}, want {w}");
    }
}

/// A conv layer in f64 whose weights are replaced by `weight` (and `bias`).
fn conv_with(cfg: &Conv2dConfig, weight: Tensor, bias: Option<Tensor>) -> (Params, Conv2d) {
    let params = Params::new(0);
    let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), cfg).unwrap();
    params.get("weight").unwrap().set(&weight).unwrap();
    if let Some(b) = bias {
        params.get("bias").unwrap().set(&b).unwrap();
    }
    (params, conv)
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

#[test]
fn grouped_dilated_strided_conv_matches_pytorch() {
    let cfg = Conv2dConfig { stride: 2, dilation: 2, groups: 2, ..Conv2dConfig::new(4, 6, 3).pad(2) };
    let (_, conv) = conv_with(&cfg, det(&[6, 2, 3, 3], 0.91), Some(det(&[6], 1.3)));
    let y = conv.forward(&det(&[1, 4, 7, 6], 0.37)).unwrap();
    assert_eq!(y.dims(), &[1, 6, 4, 3]);
    let v = values(&y);
    close(&v[..8], &[-0.654166, 0.845374, 2.91274, 1.196808, -0.509636, -0.7839, -1.313172, 0.343947], 1e-5);
    close(&[v.iter().sum()], &[-1.989863], 1e-5);
}

#[test]
fn same_padding_with_stride_pads_asymmetrically_like_tensorflow() {
    let cfg = Conv2dConfig { stride: 2, padding: Padding::Same, bias: false, ..Conv2dConfig::new(4, 3, 3) };
    let (_, conv) = conv_with(&cfg, det(&[3, 4, 3, 3], 0.53), None);
    let y = conv.forward(&det(&[1, 4, 7, 6], 0.37)).unwrap();
    assert_eq!(y.dims(), &[1, 3, 4, 3]);
    let v = values(&y);
    close(&v[..4], &[1.098159, 1.649908, 0.934126, -2.368707], 1e-5);
    close(&[v.iter().sum()], &[1.400401], 1e-5);
}

#[test]
fn pooling_with_padding_matches_pytorch() {
    let x = det(&[1, 4, 7, 6], 0.37);
    let max = values(&pool2d(&x, &Pool2dConfig::max(3, 2, 1)).unwrap());
    close(&max[..6], &[0.796565, 0.895699, 0.995881, 0.796565, 0.996476, 0.996476], 1e-6);
    close(&[max.iter().sum()], &[40.356551], 1e-5);
    let avg = values(&pool2d(&x, &Pool2dConfig::avg(3, 2, 1)).unwrap());
    close(&avg[..6], &[0.186914, 0.272105, 0.14834, 0.0455, 0.059412, 0.023645], 1e-6);
    close(&[avg.iter().sum()], &[0.210251], 1e-5);
    let valid = Pool2dConfig { kind: PoolKind::AvgValid, ..Pool2dConfig::avg(3, 2, 1) };
    let avg_valid = values(&pool2d(&x, &valid).unwrap());
    close(&avg_valid[..3], &[0.420556, 0.408158, 0.22251], 1e-6);
    close(&[avg_valid.iter().sum()], &[0.375407], 1e-5);
}

#[test]
fn global_average_pool_is_the_channel_mean() {
    let x = Tensor::arange(0f64, 24.0, &Device::Cpu).unwrap().reshape((2, 3, 2, 2)).unwrap();
    let y = global_avg_pool(&x).unwrap();
    assert_eq!(y.dims(), &[2, 3]);
    close(&values(&y), &[1.5, 5.5, 9.5, 13.5, 17.5, 21.5], 1e-12);
}

/// Checks d(sum(f(x) * r))/d(x and params) for a fixed random-looking `r`.
fn check(f: impl Fn(&Tensor) -> candle_core::Result<Tensor>, x: &Var, params: &Params) -> f64 {
    let r = det(f(x.as_tensor()).unwrap().dims(), 1.7);
    let loss = || Ok((f(x.as_tensor())? * &r)?.sum_all()?);
    let mut vars = vec![("x".to_string(), x.clone())];
    vars.extend(params.named_vars());
    let report = gradcheck(loss, &vars, 1e-6).unwrap();
    report.check(1e-7).unwrap();
    report.relative_difference
}

#[test]
fn conv_backward_passes_gradient_check_on_odd_shapes() {
    let x = Var::from_tensor(&det(&[2, 4, 7, 5], 0.61)).unwrap();
    for cfg in [
        Conv2dConfig { stride: 2, dilation: 2, groups: 2, ..Conv2dConfig::new(4, 6, 3).pad(2) },
        Conv2dConfig { stride: 2, padding: Padding::Same, ..Conv2dConfig::new(4, 3, 3) },
        Conv2dConfig { stride: 3, ..Conv2dConfig::new(4, 2, 2).pad(1) },
    ] {
        let params = Params::new(1);
        let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
        let d = check(|x| conv.forward(x), &x, &params);
        assert!(d < 1e-7, "{cfg:?}: {d}");
    }
}

#[test]
fn pointwise_and_depthwise_separable_pass_gradient_check() {
    let x = Var::from_tensor(&det(&[2, 3, 5, 4], 0.43)).unwrap();
    let params = Params::new(2);
    let pw = pointwise(params.var_builder(DType::F64, &Device::Cpu).pp("pw"), 3, 5, false).unwrap();
    check(|x| pw.forward(x), &x, &params);
    let params = Params::new(3);
    let vb = params.var_builder(DType::F64, &Device::Cpu);
    let ds = DepthwiseSeparable::new(vb, 3, 4, 3, 2, Padding::Same).unwrap();
    assert_eq!(ds.forward(x.as_tensor()).unwrap().dims(), &[2, 4, 3, 2]);
    // depthwise 3*1*3*3 + 3, pointwise 4*3 + 4
    assert_eq!(params.count(), 27 + 3 + 12 + 4);
    check(|x| ds.forward(x), &x, &params);
}

#[test]
fn pool_backward_passes_gradient_check_on_odd_shapes() {
    let x = Var::from_tensor(&det(&[2, 3, 7, 6], 0.71)).unwrap();
    let none = Params::new(0);
    for cfg in [
        Pool2dConfig::max(3, 2, 1),
        Pool2dConfig::avg(3, 2, 1),
        Pool2dConfig { kind: PoolKind::AvgValid, ..Pool2dConfig::avg(3, 2, 1) },
        Pool2dConfig { padding: Padding::Same, ..Pool2dConfig::max(2, 2, 0) },
        Pool2dConfig::max(2, 1, 0),
        Pool2dConfig::avg(3, 3, 0),
    ] {
        let d = check(|x| pool2d(x, &cfg).map_err(candle_core::Error::wrap), &x, &none);
        assert!(d < 1e-7, "{cfg:?}: {d}");
    }
    let d = check(|x| global_avg_pool(x).map_err(candle_core::Error::wrap), &x, &none);
    assert!(d < 1e-7);
}

#[test]
fn bad_shapes_are_errors_that_say_what_was_expected() {
    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let grouped = Conv2d::new(vb.pp("a"), &Conv2dConfig::new(3, 4, 3).groups(2));
    assert!(matches!(grouped, Err(Error::Invalid { .. })));
    let conv = Conv2d::new(vb.pp("b"), &Conv2dConfig::new(3, 4, 5)).unwrap();
    let wrong_channels = conv.try_forward(&Tensor::zeros((1, 2, 8, 8), DType::F32, &Device::Cpu).unwrap());
    let msg = wrong_channels.unwrap_err().to_string();
    assert!(msg.contains("expected [n, 3, h, w], got [1, 2, 8, 8]"), "{msg}");
    let too_small = conv.try_forward(&Tensor::zeros((1, 3, 4, 4), DType::F32, &Device::Cpu).unwrap());
    assert!(matches!(too_small, Err(Error::Invalid { .. })));
    let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(pool2d(&x, &Pool2dConfig::max(2, 2, 2)), Err(Error::Invalid { .. })));
    assert!(matches!(
        pool2d(&x.flatten_all().unwrap(), &Pool2dConfig::max(2, 2, 0)),
        Err(Error::Invalid { .. })
    ));
}
