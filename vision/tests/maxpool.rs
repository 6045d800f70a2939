//! The one-pass max pool (`Kernels::Dls`) against the reference (`Kernels::Candle`: the generic
//! window walk) on values and gradients, its backward against central differences, its tie and
//! NaN rules, and why candle's own `max_pool2d` is not the reference.

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_vision::conv::Padding;
use dls_vision::kernels::Kernels;
use dls_vision::pool::{pool2d_with, Pool2dConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Distinct values (no ties), so every window has one winner in both implementations.
fn wave(shape: &[usize], phase: f64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.61 + phase).sin() + i as f64 * 1e-6).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// Window, stride, padding and input shape: LeNet's 2x2, ResNet's padded 3x3 stride 2, an
/// LeNet's on odd sizes (the last row and column in no window), an overlapping stride 1, SAME (asymmetric) padding, spare rows after the last window, batch 1.
fn cases() -> Vec<(&'static str, Pool2dConfig, [usize; 4])> {
    vec![
        ("2x2 stride 2", Pool2dConfig::max(2, 2, 0), [2, 3, 6, 8]),
        ("2x2 stride 2, a spare row and column", Pool2dConfig::max(2, 2, 0), [2, 2, 7, 9]),
        ("3x3 stride 2 pad 1", Pool2dConfig::max(3, 2, 1), [2, 2, 7, 9]),
        ("3x3 stride 1", Pool2dConfig::max(3, 1, 0), [1, 2, 5, 6]),
        (
            "SAME 2x2 stride 2 on odd",
            Pool2dConfig { padding: Padding::Same, ..Pool2dConfig::max(2, 2, 0) },
            [1, 3, 5, 7],
        ),
        ("3x3 stride 3 spare rows", Pool2dConfig::max(3, 3, 0), [1, 1, 10, 11]),
        ("batch 1, 1 channel, 2x2", Pool2dConfig::max(2, 2, 0), [1, 1, 4, 4]),
    ]
}

fn max_abs(t: &Tensor) -> Result<f64> {
    Ok(t.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

#[test]
fn one_pass_max_pool_matches_the_reference_values_and_gradients() -> Result<()> {
    for (name, cfg, shape) in cases() {
        let x = Var::from_tensor(&wave(&shape, 0.3)?)?;
        let mut runs = Vec::new();
        for kernels in [Kernels::Dls, Kernels::Candle] {
            let y = pool2d_with(x.as_tensor(), &cfg, kernels)?;
            let weights = wave(y.dims(), 1.7)?;
            let grads = (&y * weights)?.sum_all()?.backward()?;
            let dx = grads.get(x.as_tensor()).ok_or("no gradient for x")?.clone();
            runs.push((y, dx));
        }
        let ((y, dx), (y_ref, dx_ref)) = (&runs[0], &runs[1]);
        assert_eq!(y.dims(), y_ref.dims(), "{name}");
        assert_eq!(max_abs(&(y - y_ref)?)?, 0.0, "{name}: outputs differ");
        assert_eq!(max_abs(&(dx - dx_ref)?)?, 0.0, "{name}: gradients differ");
    }
    Ok(())
}

#[test]
fn one_pass_max_pool_passes_the_gradient_check() -> Result<()> {
    for (name, cfg, shape) in cases() {
        let x = Var::from_tensor(&wave(&shape, 0.9)?)?;
        let loss = || -> dls_foundations::Result<Tensor> {
            let y = pool2d_with(x.as_tensor(), &cfg, Kernels::Dls).map_err(candle_core::Error::wrap)?;
            let weights = wave(y.dims(), 0.4).map_err(candle_core::Error::msg)?;
            Ok((y.sqr()? * weights)?.sum_all()?)
        };
        let report = gradcheck(loss, &[("x".to_string(), x.clone())], 1e-6)?;
        assert!(report.relative_difference < 1e-8, "{name}: {report:?}");
    }
    Ok(())
}

#[test]
fn ties_send_the_gradient_to_the_first_winner_and_nan_only_wins_alone() -> Result<()> {
    let dev = Device::Cpu;
    // Window 1 is a four-way tie; window 2 has a NaN beside a 3; window 3 is all NaN.
    let x = Var::from_tensor(&Tensor::new(
        &[[[[1f32, 1., f32::NAN, 3., f32::NAN, f32::NAN], [1., 1., 2., 0., f32::NAN, f32::NAN]]]],
        &dev,
    )?)?;
    let y = pool2d_with(x.as_tensor(), &Pool2dConfig::max(2, 2, 0), Kernels::Dls)?;
    let values = y.flatten_all()?.to_vec1::<f32>()?;
    assert_eq!(values[..2], [1.0, 3.0]);
    assert!(values[2].is_nan());
    let grads = (y * Tensor::new(&[[[[10f32, 20., 30.]]]], &dev)?)?.sum_all()?.backward()?;
    let dx = grads.get(x.as_tensor()).ok_or("no gradient for x")?.flatten_all()?.to_vec1::<f32>()?;
    assert_eq!(dx, [10., 0., 0., 20., 30., 0., 0., 0., 0., 0., 0., 0.]);
    Ok(())
}

#[test]
fn f32_matches_f64() -> Result<()> {
    let x = wave(&[2, 3, 9, 9], 0.1)?;
    let cfg = Pool2dConfig::max(3, 2, 1);
    let y64 = pool2d_with(&x, &cfg, Kernels::Dls)?;
    let y32 = pool2d_with(&x.to_dtype(DType::F32)?, &cfg, Kernels::Dls)?.to_dtype(DType::F64)?;
    assert!(max_abs(&(y64 - y32)?)? < 1e-6);
    Ok(())
}

/// candle 0.11 differentiates `max_pool2d` as `upsample(grad * avg_pool(mask)) * mask`, which gives
/// a lone 2x2 winner 1/4 of the output's gradient instead of all of it: the reason `pool2d` does
/// not use it. Should a candle upgrade fix this, this test fails and the note can go.
#[test]
fn candle_max_pool_gradient_is_scaled_by_the_window_size() -> Result<()> {
    let x = Var::from_tensor(&wave(&[1, 1, 2, 2], 0.0)?)?;
    let candle = x.as_tensor().max_pool2d(2)?.sum_all()?.backward()?;
    let ours =
        pool2d_with(x.as_tensor(), &Pool2dConfig::max(2, 2, 0), Kernels::Dls)?.sum_all()?.backward()?;
    let total = |g: &candle_core::backprop::GradStore| -> Result<f64> {
        Ok(g.get(x.as_tensor()).ok_or("no gradient")?.sum_all()?.to_scalar::<f64>()?)
    };
    assert_eq!(total(&ours)?, 1.0);
    assert_eq!(total(&candle)?, 0.25);
    Ok(())
}
