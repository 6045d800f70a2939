//! Cost functions: the stable binary cross-entropy, softmax cross-entropy against PyTorch, mean
//! squared error and the masked multi-task loss.
//!
//! The cross-entropy reference numbers come from PyTorch 2.15 (CPU, float64):
//!
//! ```python
//! import torch
//! torch.set_default_dtype(torch.float64)
//! logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0]], requires_grad=True)
//! labels = torch.tensor([0, 2, 1])
//! loss = torch.nn.functional.cross_entropy(logits, labels)
//! loss.backward()
//! print(repr(loss.item()), logits.grad.tolist())
//! ```

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::loss::{
    binary_cross_entropy_with_logits, cross_entropy, masked_binary_cross_entropy, mse,
};
use dls_foundations::Error;

const TORCH_CE: f64 = 0.430903251527349;
const TORCH_CE_GRAD: [[f64; 3]; 3] = [
    [-0.07146765513690803, 0.013037524423562482, 0.05843013071334556],
    [0.10020320178524245, 0.11074166451111578, -0.21094486629635817],
    [0.00028929376496320165, -0.01608419814807723, 0.01579490438311406],
];

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn grad_of(loss: &Tensor, var: &Var) -> Result<Vec<f64>> {
    let grads = loss.backward()?;
    let g = grads.get(var.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient"))?;
    Ok(g.flatten_all()?.to_vec1::<f64>()?)
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

#[test]
fn bce_with_logits_equals_the_naive_formula_at_moderate_logits() -> Result<()> {
    let z = [-3.0, -0.7, 0.0, 0.4, 2.5, 5.0];
    let y = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let n = z.len() as f64;
    let naive: f64 = z
        .iter()
        .zip(&y)
        .map(|(&z, &y)| -(y * sigmoid(z).ln() + (1.0 - y) * (1.0 - sigmoid(z)).ln()))
        .sum::<f64>()
        / n;
    let zv = Var::from_tensor(&Tensor::new(&z, &Device::Cpu)?.reshape((6, 1))?)?;
    let yt = Tensor::new(&y, &Device::Cpu)?.reshape((6, 1))?;
    let loss = binary_cross_entropy_with_logits(zv.as_tensor(), &yt)?;
    assert!((loss.to_scalar::<f64>()? - naive).abs() < 1e-12, "{loss} vs {naive}");
    // d loss / d z = (sigmoid(z) - y) / n, including at the kink z = 0
    let want: Vec<f64> = z.iter().zip(&y).map(|(&z, &y)| (sigmoid(z) - y) / n).collect();
    assert_close(&grad_of(&loss, &zv)?, &want, 1e-12);
    Ok(())
}

#[test]
fn bce_with_logits_is_finite_at_plus_minus_one_hundred() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let z = Var::from_tensor(
            &Tensor::new(&[[100.0f64], [-100.0], [100.0], [-100.0]], &Device::Cpu)?.to_dtype(dtype)?,
        )?;
        let y = Tensor::new(&[[0.0f64], [1.0], [1.0], [0.0]], &Device::Cpu)?.to_dtype(dtype)?;
        let loss = binary_cross_entropy_with_logits(z.as_tensor(), &y)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        // two confidently wrong examples cost 100 each, two confidently right ones ~e^-100
        assert!((value - 50.0).abs() < 1e-4, "{dtype:?}: {value}");
        let grads = loss.backward()?;
        let g = grads.get(z.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient"))?;
        let g: Vec<f64> = g.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
        assert_close(&g, &[0.25, -0.25, 0.0, 0.0], 1e-6);
    }
    Ok(())
}

#[test]
fn bce_rejects_mismatched_shapes_and_empty_batches() -> Result<()> {
    let z = Tensor::zeros((4, 1), DType::F32, &Device::Cpu)?;
    match binary_cross_entropy_with_logits(&z, &Tensor::zeros(4, DType::F32, &Device::Cpu)?) {
        Err(Error::Shape { what, got, .. }) => {
            assert_eq!(what, "binary cross-entropy");
            assert_eq!(got, "[4]");
        }
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    let empty = Tensor::zeros((0, 1), DType::F32, &Device::Cpu)?;
    assert!(matches!(binary_cross_entropy_with_logits(&empty, &empty), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn cross_entropy_matches_pytorch_in_value_and_gradient() -> Result<()> {
    let logits = Var::new(&[[2.0f64, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0]], &Device::Cpu)?;
    let labels = Tensor::new(&[0u32, 2, 1], &Device::Cpu)?;
    let loss = cross_entropy(logits.as_tensor(), &labels)?;
    assert!((loss.to_scalar::<f64>()? - TORCH_CE).abs() < 1e-12);
    let want: Vec<f64> = TORCH_CE_GRAD.iter().flatten().copied().collect();
    assert_close(&grad_of(&loss, &logits)?, &want, 1e-12);
    // i64 labels are accepted too
    let labels64 = Tensor::new(&[0i64, 2, 1], &Device::Cpu)?;
    let again = cross_entropy(logits.as_tensor(), &labels64)?.to_scalar::<f64>()?;
    assert!((again - TORCH_CE).abs() < 1e-12);
    Ok(())
}

#[test]
fn cross_entropy_reports_bad_labels_and_shapes() -> Result<()> {
    let logits = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    match cross_entropy(&logits, &Tensor::new(&[0u32, 3], &Device::Cpu)?) {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "class label");
            assert!(message.contains("label 3") && message.contains("3 classes"), "{message}");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    match cross_entropy(&logits, &Tensor::new(&[0u32, 1, 2], &Device::Cpu)?) {
        Err(Error::Shape { what, expected, got }) => {
            assert_eq!(what, "cross-entropy labels");
            assert_eq!((expected.as_str(), got.as_str()), ("[2]", "[3]"));
        }
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    let flat = Tensor::zeros(3, DType::F32, &Device::Cpu)?;
    match cross_entropy(&flat, &Tensor::new(&[0u32], &Device::Cpu)?) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, "cross-entropy logits"),
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    let empty = Tensor::zeros((0, 3), DType::F32, &Device::Cpu)?;
    let no_labels = Tensor::zeros(0, DType::U32, &Device::Cpu)?;
    assert!(matches!(cross_entropy(&empty, &no_labels), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn mse_is_the_mean_of_squared_differences() -> Result<()> {
    let p = Tensor::new(&[[1.0f64, 2.0], [3.0, 4.0]], &Device::Cpu)?;
    let t = Tensor::new(&[[0.0f64, 2.0], [5.0, 3.0]], &Device::Cpu)?;
    assert_eq!(mse(&p, &t)?.to_scalar::<f64>()?, (1.0 + 0.0 + 4.0 + 1.0) / 4.0);
    assert!(matches!(mse(&p, &t.reshape(4)?), Err(Error::Shape { .. })));
    Ok(())
}

const MASK: [[f64; 3]; 3] = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]];
const LOGITS: [[f64; 3]; 3] = [[0.5, -1.0, 2.0], [1.5, -0.3, 0.0], [-2.0, 0.8, 3.0]];
const TARGETS: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]];

/// Loss value and gradient of the masked loss for the given targets.
fn masked(targets: [[f64; 3]; 3]) -> Result<(f64, Vec<f64>)> {
    let logits = Var::new(&LOGITS, &Device::Cpu)?;
    let t = Tensor::new(&targets, &Device::Cpu)?;
    let m = Tensor::new(&MASK, &Device::Cpu)?;
    let loss = masked_binary_cross_entropy(logits.as_tensor(), &t, &m)?;
    Ok((loss.to_scalar::<f64>()?, grad_of(&loss, &logits)?))
}

#[test]
fn masked_loss_equals_hand_computation_over_present_labels() -> Result<()> {
    let bce = |z: f64, y: f64| -(y * sigmoid(z).ln() + (1.0 - y) * (1.0 - sigmoid(z)).ln());
    let mut sum = 0.0;
    let mut want_grad = Vec::new();
    for i in 0..3 {
        for j in 0..3 {
            if MASK[i][j] == 1.0 {
                sum += bce(LOGITS[i][j], TARGETS[i][j]);
                want_grad.push((sigmoid(LOGITS[i][j]) - TARGETS[i][j]) / 6.0);
            } else {
                want_grad.push(0.0);
            }
        }
    }
    let (loss, grad) = masked(TARGETS)?;
    assert!((loss - sum / 6.0).abs() < 1e-12, "{loss} vs {}", sum / 6.0);
    assert_close(&grad, &want_grad, 1e-12);
    Ok(())
}

#[test]
fn masked_entries_change_neither_loss_nor_gradient() -> Result<()> {
    let (loss, grad) = masked(TARGETS)?;
    let mut flipped = TARGETS;
    let mut missing = TARGETS;
    for i in 0..3 {
        for j in 0..3 {
            if MASK[i][j] == 0.0 {
                flipped[i][j] = 1.0 - flipped[i][j];
                missing[i][j] = f64::NAN;
            }
        }
    }
    for other in [flipped, missing] {
        let (l, g) = masked(other)?;
        assert_eq!(l.to_bits(), loss.to_bits());
        assert_eq!(g, grad);
    }
    Ok(())
}

#[test]
fn masked_loss_with_every_label_missing_is_empty() -> Result<()> {
    let z = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    let t = Tensor::ones((2, 3), DType::F32, &Device::Cpu)?;
    let none = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    assert!(matches!(masked_binary_cross_entropy(&z, &t, &none), Err(Error::Empty(_))));
    match masked_binary_cross_entropy(&z, &t, &Tensor::ones((2, 2), DType::F32, &Device::Cpu)?) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, "multi-task mask"),
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    match masked_binary_cross_entropy(&z, &t.reshape(6)?, &none) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, "multi-task targets"),
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    Ok(())
}
