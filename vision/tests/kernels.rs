//! The im2col + gemm convolution against candle's `conv2d` (values and both gradients) on odd
//! shapes, and its own backward against central differences in f64.

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_vision::conv::Padding;
use dls_vision::kernels::Kernels;
use dls_vision::layers::{Conv2d, Conv2dConfig};

fn wave(shape: &[usize], phase: f64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.61 + phase).sin()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

/// Layer settings covering stride, asymmetric SAME padding, dilation, groups, depthwise, 1x1 and
/// a stride that leaves rows after the last window; with the input shape each runs on.
fn cases() -> Vec<(&'static str, Conv2dConfig, [usize; 4])> {
    let base = Conv2dConfig::new(4, 6, 3);
    vec![
        ("3x3 pad 1", base.pad(1), [2, 4, 7, 6]),
        ("3x3 stride 2 pad 1", base.pad(1).stride(2), [3, 4, 9, 8]),
        (
            "SAME stride 2 (asymmetric)",
            Conv2dConfig { stride: 2, padding: Padding::Same, ..base },
            [2, 4, 8, 8],
        ),
        ("5x5 stride 3 spare rows", Conv2dConfig::new(4, 6, 5).stride(3), [1, 4, 12, 10]),
        ("dilation 2", Conv2dConfig { dilation: 2, ..base.pad(2) }, [2, 4, 7, 7]),
        ("groups 2", base.pad(1).groups(2), [2, 4, 5, 5]),
        ("depthwise stride 2", Conv2dConfig::new(4, 4, 3).pad(1).stride(2).groups(4), [2, 4, 7, 7]),
        ("1x1", Conv2dConfig::new(4, 6, 1), [2, 4, 5, 3]),
        ("1x1 stride 2", Conv2dConfig::new(4, 6, 1).stride(2), [2, 4, 6, 6]),
        ("batch 1, 1 channel", Conv2dConfig::new(1, 2, 5).pad(2), [1, 1, 6, 6]),
        ("no bias", base.pad(1).no_bias(), [5, 4, 4, 4]),
    ]
}

/// Settings that take the shifted-product path (stride 1, 32+ input channels, 256+ outputs per
/// image): ResNet's 3x3, a 5x5 on a map wider than tall, no padding, asymmetric SAME padding,
/// dilation 2, no bias.
fn shifted_cases() -> Vec<(&'static str, Conv2dConfig, [usize; 4])> {
    let base = Conv2dConfig::new(32, 5, 3);
    vec![
        ("shifted 3x3 pad 1", base.pad(1), [3, 32, 16, 16]),
        ("shifted 5x5 pad 2", Conv2dConfig::new(32, 4, 5).pad(2), [1, 32, 16, 19]),
        ("shifted 3x3 unpadded", base, [2, 32, 18, 17]),
        (
            "shifted SAME 4x4",
            Conv2dConfig { padding: Padding::Same, ..Conv2dConfig::new(32, 3, 4) },
            [1, 32, 16, 16],
        ),
        ("shifted dilation 2", Conv2dConfig { dilation: 2, ..base.pad(2) }, [2, 32, 16, 16]),
        ("shifted no bias, odd channels", Conv2dConfig::new(33, 5, 3).pad(1).no_bias(), [1, 33, 17, 16]),
    ]
}

/// Settings that take the Winograd F(4x4, 3x3) path (3x3, stride 1, 32+ input and output
/// channels, 32+ output tiles over the batch): batches over two blocks of images, maps that leave
/// partial tiles, channel counts that leave padding lanes, padding 0 to 2, a single output
/// position per image.
fn winograd_cases() -> Vec<(&'static str, Conv2dConfig, [usize; 4])> {
    let base = Conv2dConfig::new(32, 32, 3);
    vec![
        ("winograd pad 1, two blocks", base.pad(1), [5, 32, 32, 32]),
        ("winograd partial tiles, odd channels", Conv2dConfig::new(33, 35, 3).no_bias(), [8, 33, 7, 10]),
        ("winograd pad 2", base.pad(2), [8, 32, 5, 6]),
        ("winograd one output", base, [32, 32, 3, 3]),
        (
            "winograd SAME",
            Conv2dConfig { padding: Padding::Same, ..Conv2dConfig::new(40, 48, 3) },
            [4, 40, 9, 9],
        ),
    ]
}

#[test]
fn dls_kernel_matches_candle_values_and_gradients() {
    for (name, cfg, shape) in cases().into_iter().chain(shifted_cases()).chain(winograd_cases()) {
        let params = Params::new(3);
        let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
        let x = Var::from_tensor(&wave(&shape, 0.3, DType::F64)).unwrap();
        let mut grads = Vec::new();
        let mut outputs = Vec::new();
        for kernels in [Kernels::Dls, Kernels::Candle] {
            let y = conv.forward_with(x.as_tensor(), kernels).unwrap();
            // A loss that weights every output differently, so a misplaced gradient shows.
            let weights = wave(y.dims(), 1.7, DType::F64);
            let g = (y.clone() * weights).unwrap().sum_all().unwrap().backward().unwrap();
            let mut these = vec![g.get(x.as_tensor()).unwrap().clone()];
            for var in params.trainable() {
                these.push(g.get(var.as_tensor()).unwrap().clone());
            }
            grads.push(these);
            outputs.push(y);
        }
        assert_eq!(outputs[0].dims(), outputs[1].dims(), "{name}");
        let gap = (&outputs[0] - &outputs[1])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(gap < 1e-12, "{name}: outputs differ by {gap}");
        for (a, b) in grads[0].iter().zip(&grads[1]) {
            let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(gap < 1e-11, "{name}: gradients differ by {gap}");
        }
    }
}

#[test]
fn dls_kernel_backward_passes_the_gradient_check() {
    for (name, cfg, shape) in [cases()[1], cases()[2], cases()[5], cases()[6]]
        .map(|(n, c, s)| (n, c, [1.max(s[0] / 2), s[1], s[2], s[3]]))
        .into_iter()
        .chain([
            ("shifted, small", Conv2dConfig::new(32, 2, 3).pad(1), [1, 32, 16, 16]),
            ("winograd, small", Conv2dConfig::new(32, 32, 3).pad(1), [32, 32, 2, 2]),
        ])
    {
        let params = Params::new(5);
        let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
        let x = Var::from_tensor(&wave(&shape, 0.9, DType::F64)).unwrap();
        let mut vars = vec![("x".to_string(), x.clone())];
        // The Winograd case's 9216 weights, each perturbed twice on a 32-tile batch (its least),
        // took half a minute in the test build; its weight gradient is checked against candle's
        // to 1e-11 by the tests above, so here only the input and the bias are perturbed.
        let winograd = name.starts_with("winograd");
        let checked = params.trainable().into_iter().filter(|v| !winograd || v.rank() < 4);
        vars.extend(checked.enumerate().map(|(i, v)| (format!("param{i}"), v)));
        let loss = || {
            let y = conv.forward_with(x.as_tensor(), Kernels::Dls).map_err(candle_core::Error::wrap)?;
            Ok((y.sqr()? * wave(y.dims(), 0.4, DType::F64))?.sum_all()?)
        };
        let report = gradcheck(loss, &vars, 1e-6).unwrap();
        assert!(report.relative_difference < 1e-8, "{name}: {report:?}");
    }
}

#[test]
fn dls_kernel_runs_in_f32_close_to_candle() {
    let cfg = Conv2dConfig::new(3, 8, 3).pad(1).stride(2);
    let params = Params::new(1);
    let conv = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).unwrap();
    let x = wave(&[4, 3, 11, 11], 0.2, DType::F32);
    let ours = conv.forward_with(&x, Kernels::Dls).unwrap();
    let reference = conv.forward_with(&x, Kernels::Candle).unwrap();
    let gap = (ours - reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(gap < 1e-5, "{gap}");
}

/// Winograd's transforms scale values by up to 8 and back, so in f32 its results carry more
/// rounding than `im2col`'s: they must still agree with candle's to 1e-5 of each result's scale.
#[test]
fn winograd_runs_in_f32_close_to_candle() {
    let cfg = Conv2dConfig::new(64, 64, 3).pad(1);
    let params = Params::new(2);
    let conv = Conv2d::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).unwrap();
    let x = Var::from_tensor(&wave(&[2, 64, 16, 16], 0.2, DType::F32)).unwrap();
    let mut results = Vec::new();
    for kernels in [Kernels::Dls, Kernels::Candle] {
        let y = conv.forward_with(x.as_tensor(), kernels).unwrap();
        let g = (y.clone() * wave(y.dims(), 1.1, DType::F32)).unwrap().sum_all().unwrap().backward().unwrap();
        let mut these = vec![y, g.get(x.as_tensor()).unwrap().clone()];
        these.extend(params.trainable().iter().map(|v| g.get(v.as_tensor()).unwrap().clone()));
        results.push(these);
    }
    for (what, (ours, reference)) in
        ["output", "dx", "dw", "db"].iter().zip(results[0].iter().zip(&results[1]))
    {
        let scale = reference.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let gap = (ours - reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(gap < 1e-5 * scale, "{what}: gap {gap} at scale {scale}");
    }
}

#[test]
fn only_arguments_on_a_gradient_path_get_gradients() {
    // im2col, and Winograd (whose weight gradient alone takes its own walk).
    for (cfg, shape) in [
        (Conv2dConfig::new(2, 3, 3).pad(1), [2, 2, 5, 5]),
        (Conv2dConfig::new(32, 32, 3).pad(1), [8, 32, 6, 5]),
    ] {
        only_weight_gradients_match(cfg, shape);
    }
}

fn only_weight_gradients_match(cfg: Conv2dConfig, shape: [usize; 4]) {
    let params = Params::new(2);
    let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
    // A plain input tensor: the network's first layer, whose input gradient nobody needs.
    let x = wave(&shape, 0.3, DType::F64);
    let mut with_input = Vec::new();
    for kernels in [Kernels::Dls, Kernels::Candle] {
        let grads =
            conv.forward_with(&x, kernels).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
        if kernels == Kernels::Dls {
            assert!(grads.get(&x).is_none(), "an input gradient was computed for a plain tensor");
        }
        with_input.push(
            params.trainable().iter().map(|v| grads.get(v.as_tensor()).unwrap().clone()).collect::<Vec<_>>(),
        );
    }
    for (a, b) in with_input[0].iter().zip(&with_input[1]) {
        let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(gap < 1e-11, "{gap}");
    }
}

/// A Winograd forward keeps its transformed kernels, which the first backward takes (computing
/// both gradients in one walk); a second backward through the same graph transforms them again.
/// Both backwards must give candle's gradients.
#[test]
fn winograd_gradients_from_kept_kernels_equal_the_ones_built_again() {
    let cfg = Conv2dConfig::new(32, 40, 3).pad(1);
    let params = Params::new(6);
    let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
    let x = Var::from_tensor(&wave(&[5, 32, 32, 31], 0.5, DType::F64)).unwrap();
    let weight = params.trainable().into_iter().find(|v| v.rank() == 4).unwrap();
    let gradients = |y: Tensor| {
        let loss = (&y * wave(y.dims(), 1.3, DType::F64)).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        [x.as_tensor(), weight.as_tensor()].map(|t| grads.get(t).unwrap().clone())
    };
    let expected = gradients(conv.forward_with(x.as_tensor(), Kernels::Candle).unwrap());
    let y = conv.forward_with(x.as_tensor(), Kernels::Dls).unwrap();
    let loss = (&y * wave(y.dims(), 1.3, DType::F64)).unwrap().sum_all().unwrap();
    for what in ["kept", "rebuilt"] {
        let grads = loss.backward().unwrap();
        for (name, t, want) in [("dx", x.as_tensor(), &expected[0]), ("dw", weight.as_tensor(), &expected[1])]
        {
            let got = grads.get(t).unwrap();
            let gap = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(gap < 1e-11, "{what} kernels, {name}: {gap}");
        }
    }
}

#[test]
fn weight_gradient_from_kept_columns_equals_the_one_built_again() {
    // The forward keeps its column matrices for the first backward, which takes them; a second
    // backward through the same graph builds them again from the input. Both must agree, on a
    // one-image block (28x28 output) and on several images per block (4x4 output).
    for (cfg, shape) in [
        (Conv2dConfig::new(1, 6, 5).pad(2), [3, 1, 28, 28]),
        (Conv2dConfig::new(3, 4, 3).stride(2), [5, 3, 9, 9]),
    ] {
        let params = Params::new(4);
        let conv = Conv2d::new(params.var_builder(DType::F64, &Device::Cpu), &cfg).unwrap();
        let x = wave(&shape, 0.5, DType::F64);
        let y = conv.forward_with(&x, Kernels::Dls).unwrap();
        let loss = (&y * wave(y.dims(), 1.1, DType::F64)).unwrap().sum_all().unwrap();
        let weight = params.trainable().into_iter().find(|v| v.rank() == 4).unwrap();
        let first = loss.backward().unwrap().get(weight.as_tensor()).unwrap().clone();
        let second = loss.backward().unwrap().get(weight.as_tensor()).unwrap().clone();
        let reference = conv.forward_with(&x, Kernels::Candle).unwrap();
        let loss = (&reference * wave(y.dims(), 1.1, DType::F64)).unwrap().sum_all().unwrap();
        let expected = loss.backward().unwrap().get(weight.as_tensor()).unwrap().clone();
        for (what, got) in [("kept", &first), ("rebuilt", &second)] {
            let gap =
                (got - &expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(gap < 1e-11, "{what} columns, {shape:?}: {gap}");
        }
    }
}
