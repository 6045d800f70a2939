//! Batch normalisation: batch statistics in training, running statistics against PyTorch, running
//! statistics in evaluation, and shape errors.
//!
//! The running statistics were printed by PyTorch 2.15 (CPU, float64):
//!
//! ```python
//! import torch
//! torch.set_default_dtype(torch.float64)
//! bn = torch.nn.BatchNorm1d(2, momentum=0.1, eps=1e-5)
//! x1 = torch.tensor([[1.0, -2.0], [3.0, 0.0], [2.0, 5.0], [-1.0, 1.0]])
//! x2 = torch.tensor([[0.5, 2.0], [1.5, -1.0], [4.0, 3.0]])
//! bn.train(); bn(x1); bn(x2)
//! print(bn.running_mean.tolist(), bn.running_var.tolist())
//! bn2 = torch.nn.BatchNorm2d(2, momentum=0.1, eps=1e-5)
//! a = torch.arange(24.0).reshape(2, 2, 2, 3).sin() * 3.0
//! b = torch.arange(24.0).reshape(2, 2, 2, 3).cos() * 2.0 + 1.0
//! bn2.train(); bn2(a); bn2(b)
//! print(bn2.running_mean.tolist(), bn2.running_var.tolist())
//! ```

use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::ModuleT;
use dls_foundations::norm::{BatchNorm, BatchNormConfig};
use dls_foundations::{Error, Params};

const TORCH_1D_MEAN: [f64; 2] = [0.3125, 0.22333333333333333];
const TORCH_1D_VAR: [f64; 2] = [1.3975, 2.0233333333333334];
const TORCH_2D_MEAN: [f64; 2] = [0.10448385791470698, 0.10854653046516902];
const TORCH_2D_VAR: [f64; 2] = [1.4655251898268786, 1.4603515914282588];

fn layer(channels: usize) -> Result<(Params, BatchNorm)> {
    let params = Params::new(0);
    let bn =
        BatchNorm::new(params.var_builder(DType::F64, &Device::Cpu), channels, &BatchNormConfig::default())?;
    Ok((params, bn))
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

/// Per-channel mean and biased variance of `[n, c]` data.
fn column_stats(y: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
    let mean = y.mean(0)?;
    let var = y.broadcast_sub(&mean)?.sqr()?.mean(0)?;
    Ok((mean.to_vec1()?, var.to_vec1()?))
}

/// `sin` (or `cos`) of `arange(24)` shaped `[2, 2, 2, 3]`, times `scale` plus `shift`.
fn image_batch(scale: f64, shift: f64, cosine: bool) -> Result<Tensor> {
    let t = Tensor::arange(0f64, 24.0, &Device::Cpu)?.reshape((2, 2, 2, 3))?;
    let t = if cosine { t.cos()? } else { t.sin()? };
    Ok(t.affine(scale, shift)?)
}

#[test]
fn training_output_has_zero_mean_and_unit_variance_per_feature() -> Result<()> {
    let (_, bn) = layer(3)?;
    let x = Tensor::new(
        &[[1.0f64, 10.0, -5.0], [2.0, 30.0, -5.5], [4.0, 20.0, -4.0], [9.0, 0.0, -7.0]],
        &Device::Cpu,
    )?;
    let (mean, var) = column_stats(&bn.forward_t(&x, true)?)?;
    assert_close(&mean, &[0.0; 3], 1e-12);
    // var / (var + eps): within 1e-4 of 1 for these spreads
    assert_close(&var, &[1.0; 3], 1e-4);
    Ok(())
}

#[test]
fn training_output_is_normalised_per_channel_for_images() -> Result<()> {
    let (_, bn) = layer(2)?;
    let y = bn.forward_t(&image_batch(3.0, 0.0, false)?, true)?;
    assert_eq!(y.dims(), &[2, 2, 2, 3]);
    // channels last, flattened: [n*h*w, c]
    let flat = y.permute((0, 2, 3, 1))?.reshape(((), 2))?;
    let (mean, var) = column_stats(&flat)?;
    assert_close(&mean, &[0.0; 2], 1e-12);
    assert_close(&var, &[1.0; 2], 1e-4);
    Ok(())
}

#[test]
fn running_statistics_match_pytorch_batchnorm1d() -> Result<()> {
    let (params, bn) = layer(2)?;
    let x1 = Tensor::new(&[[1.0f64, -2.0], [3.0, 0.0], [2.0, 5.0], [-1.0, 1.0]], &Device::Cpu)?;
    let x2 = Tensor::new(&[[0.5f64, 2.0], [1.5, -1.0], [4.0, 3.0]], &Device::Cpu)?;
    bn.forward_t(&x1, true)?;
    bn.forward_t(&x2, true)?;
    assert_close(&bn.running_mean().to_vec1::<f64>()?, &TORCH_1D_MEAN, 1e-12);
    assert_close(&bn.running_var().to_vec1::<f64>()?, &TORCH_1D_VAR, 1e-12);
    // the statistics live in the parameter store (so they are saved with the weights)
    assert_close(&params.get("running_mean")?.to_vec1::<f64>()?, &TORCH_1D_MEAN, 1e-12);
    assert_close(&params.get("running_var")?.to_vec1::<f64>()?, &TORCH_1D_VAR, 1e-12);
    Ok(())
}

#[test]
fn running_statistics_match_pytorch_batchnorm2d() -> Result<()> {
    let (_, bn) = layer(2)?;
    bn.forward_t(&image_batch(3.0, 0.0, false)?, true)?;
    bn.forward_t(&image_batch(2.0, 1.0, true)?, true)?;
    assert_close(&bn.running_mean().to_vec1::<f64>()?, &TORCH_2D_MEAN, 1e-12);
    assert_close(&bn.running_var().to_vec1::<f64>()?, &TORCH_2D_VAR, 1e-12);
    Ok(())
}

#[test]
fn evaluation_uses_running_statistics() -> Result<()> {
    let (_, bn) = layer(2)?;
    let x1 = Tensor::new(&[[1.0f64, -2.0], [3.0, 0.0], [2.0, 5.0], [-1.0, 1.0]], &Device::Cpu)?;
    let x2 = Tensor::new(&[[0.5f64, 2.0], [1.5, -1.0], [4.0, 3.0]], &Device::Cpu)?;
    bn.forward_t(&x1, true)?;
    bn.forward_t(&x2, true)?;
    let before = bn.running_mean().to_vec1::<f64>()?;
    // a single example gives the same output alone or inside a batch
    let alone = bn.forward_t(&x2.narrow(0, 1, 1)?, false)?.to_vec2::<f64>()?;
    let batch = bn.forward_t(&x2, false)?.to_vec2::<f64>()?;
    assert_eq!(alone[0], batch[1]);
    // and it is (x - running_mean) / sqrt(running_var + eps)
    let want: Vec<f64> = [1.5, -1.0]
        .iter()
        .zip(TORCH_1D_MEAN.iter().zip(TORCH_1D_VAR))
        .map(|(x, (m, v))| (x - m) / (v + 1e-5).sqrt())
        .collect();
    assert_close(&alone[0], &want, 1e-12);
    // evaluation leaves the running statistics alone
    assert_eq!(bn.running_mean().to_vec1::<f64>()?, before);
    Ok(())
}

#[test]
fn gamma_and_beta_scale_and_shift_the_normalised_values() -> Result<()> {
    let (params, bn) = layer(1)?;
    params.get("weight")?.set(&Tensor::new(&[2.0f64], &Device::Cpu)?)?;
    params.get("bias")?.set(&Tensor::new(&[3.0f64], &Device::Cpu)?)?;
    let x = Tensor::new(&[[1.0f64], [5.0]], &Device::Cpu)?;
    let y: Vec<f64> = bn.forward_t(&x, true)?.flatten_all()?.to_vec1()?;
    // normalised values are -+1 (up to eps): times 2 plus 3
    let s = 2.0 / (1.0 + 1e-5 / 4.0f64).sqrt();
    assert_close(&y, &[3.0 - s, 3.0 + s], 1e-12);
    Ok(())
}

#[test]
fn wrong_channel_counts_and_tiny_batches_are_errors() -> Result<()> {
    let (_, bn) = layer(2)?;
    for shape in [vec![4, 3], vec![4, 3, 2, 2], vec![2]] {
        let x = Tensor::zeros(shape.as_slice(), DType::F64, &Device::Cpu)?;
        let err = bn.forward_t(&x, false).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("batch norm expects [n, 2, ...]"), "{shape:?}: {err}");
    }
    let one = Tensor::zeros((1, 2), DType::F64, &Device::Cpu)?;
    let err = bn.forward_t(&one, true).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("more than one value per channel"), "{err}");
    // one example is fine in evaluation
    assert_eq!(bn.forward_t(&one, false)?.dims(), &[1, 2]);
    Ok(())
}

#[test]
fn invalid_settings_are_rejected() -> Result<()> {
    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let bad = [
        (0, BatchNormConfig::default()),
        (3, BatchNormConfig { eps: 0.0, momentum: 0.1 }),
        (3, BatchNormConfig { eps: f64::NAN, momentum: 0.1 }),
        (3, BatchNormConfig { eps: 1e-5, momentum: 1.5 }),
        (3, BatchNormConfig { eps: 1e-5, momentum: -0.1 }),
    ];
    for (channels, cfg) in bad {
        match BatchNorm::new(vb.clone(), channels, &cfg) {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "batch norm"),
            other => panic!("{channels} {cfg:?}: expected Error::Invalid, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn batch_norm_works_in_f32_over_the_last_dimension_kept() -> Result<()> {
    let params = Params::new(0);
    let bn = BatchNorm::new(params.var_builder(DType::F32, &Device::Cpu), 2, &BatchNormConfig::default())?;
    let x = Tensor::new(&[[[1f32, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], &Device::Cpu)?;
    let y = bn.forward_t(&x, true)?;
    // [n, c, l]: channel 0 sees 1, 2, 5, 6 (mean 3.5), channel 1 sees 3, 4, 7, 8 (mean 5.5)
    let per_channel: Vec<f32> = y.transpose(0, 1)?.flatten_from(1)?.mean(D::Minus1)?.to_vec1()?;
    assert!(per_channel.iter().all(|m| m.abs() < 1e-6), "{per_channel:?}");
    let rm: Vec<f32> = bn.running_mean().to_vec1()?;
    assert!((rm[0] - 0.35).abs() < 1e-6 && (rm[1] - 0.55).abs() < 1e-6, "{rm:?}");
    Ok(())
}
