//! The fused batch-norm kernel against the tensor-op reference: outputs, all three gradients and
//! the running averages, on 2-D and 4-D inputs, in training and evaluation; and its backward
//! against central differences.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::norm::{BatchNorm, BatchNormConfig};
use dls_foundations::Params;

fn wave(shape: &[usize], phase: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37 + phase).sin() * 2.0 + 0.5).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_gap(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap()
}

/// A 3-channel f64 batch norm with non-trivial γ and β, so their gradients and the scaling are
/// exercised.
fn three_channel_norm() -> (Params, BatchNorm) {
    let params = Params::new(0);
    let bn =
        BatchNorm::new(params.var_builder(DType::F64, &Device::Cpu), 3, &BatchNormConfig::default()).unwrap();
    for (i, v) in params.trainable().iter().enumerate() {
        v.set(&wave(&[3], i as f64 + 0.2)).unwrap();
    }
    (params, bn)
}

#[test]
fn fused_batch_norm_matches_the_reference() {
    for shape in [vec![6, 3], vec![4, 3, 5, 2], vec![1, 3, 4, 4], vec![3, 3, 1], vec![2, 3, 6, 5]] {
        let mut runs = Vec::new();
        for fused in [true, false] {
            let (params, bn) = three_channel_norm();
            let x = Var::from_tensor(&wave(&shape, 0.1)).unwrap();
            let y = bn.forward_with(x.as_tensor(), true, fused).unwrap();
            let y2 = bn.forward_with(&x.as_tensor().affine(0.5, 1.0).unwrap(), true, fused).unwrap();
            let loss = ((&y * wave(&shape, 2.0)).unwrap() + y2).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            let mut grads = vec![g.get(x.as_tensor()).unwrap().clone()];
            grads.extend(params.trainable().iter().map(|v| g.get(v.as_tensor()).unwrap().clone()));
            let eval = bn.forward_with(x.as_tensor(), false, fused).unwrap();
            runs.push((y, grads, bn.running_mean().clone(), bn.running_var().clone(), eval));
        }
        let (a, b) = (&runs[0], &runs[1]);
        assert!(max_gap(&a.0, &b.0) < 1e-12, "{shape:?} output");
        for (ga, gb) in a.1.iter().zip(&b.1) {
            assert!(max_gap(ga, gb) < 1e-11, "{shape:?} gradient {}", max_gap(ga, gb));
        }
        assert!(max_gap(&a.2, &b.2) < 1e-12, "{shape:?} running mean");
        assert!(max_gap(&a.3, &b.3) < 1e-12, "{shape:?} running var");
        assert!(max_gap(&a.4, &b.4) < 1e-12, "{shape:?} evaluation output");
    }
}

#[test]
fn fused_batch_norm_backward_passes_the_gradient_check() {
    let params = Params::new(1);
    let bn =
        BatchNorm::new(params.var_builder(DType::F64, &Device::Cpu), 2, &BatchNormConfig::default()).unwrap();
    let x = Var::from_tensor(&wave(&[3, 2, 3, 2], 0.7)).unwrap();
    let mut vars = vec![("x".to_string(), x.clone())];
    vars.extend(params.trainable().into_iter().enumerate().map(|(i, v)| (format!("param{i}"), v)));
    let weights = wave(&[3, 2, 3, 2], 1.3);
    let loss = || Ok((bn.forward_with(x.as_tensor(), true, true)?.sqr()? * &weights)?.sum_all()?);
    let report = gradcheck(loss, &vars, 1e-6).unwrap();
    assert!(report.relative_difference < 1e-8, "{report:?}");
}

#[test]
fn fused_batch_norm_is_the_default_and_rejects_bad_input() {
    assert!(dls_foundations::norm::fused_kernel());
    let params = Params::new(0);
    let bn =
        BatchNorm::new(params.var_builder(DType::F32, &Device::Cpu), 3, &BatchNormConfig::default()).unwrap();
    let err = bn.forward_t(&Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap(), true).unwrap_err();
    assert!(err.to_string().contains("[n, 3, ...]"), "{err}");
    let err = bn.forward_t(&Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap(), true).unwrap_err();
    assert!(err.to_string().contains("more than one value"), "{err}");
}

#[test]
fn fused_batch_norm_relu_matches_norm_then_relu() {
    for shape in [vec![6, 3], vec![2, 3, 6, 5], vec![1, 3, 4, 4]] {
        let mut runs = Vec::new();
        for fused in [true, false] {
            let (params, bn) = three_channel_norm();
            let x = Var::from_tensor(&wave(&shape, 0.1)).unwrap();
            let y = bn.forward_relu_with(x.as_tensor(), true, fused).unwrap();
            let g = (&y * wave(&shape, 2.0)).unwrap().sum_all().unwrap().backward().unwrap();
            let mut grads = vec![g.get(x.as_tensor()).unwrap().clone()];
            grads.extend(params.trainable().iter().map(|v| g.get(v.as_tensor()).unwrap().clone()));
            runs.push((y, grads));
        }
        let (a, b) = (&runs[0], &runs[1]);
        let zeros =
            a.0.eq(0.0).unwrap().to_dtype(DType::F64).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(zeros > 0.0 && zeros < a.0.elem_count() as f64, "{shape:?}: the ReLU must cut some values");
        assert!(max_gap(&a.0, &b.0) < 1e-12, "{shape:?} output");
        for (ga, gb) in a.1.iter().zip(&b.1) {
            assert!(max_gap(ga, gb) < 1e-11, "{shape:?} gradient {}", max_gap(ga, gb));
        }
    }
}

#[test]
fn fused_batch_norm_relu_passes_the_gradient_check() {
    let params = Params::new(1);
    let bn =
        BatchNorm::new(params.var_builder(DType::F64, &Device::Cpu), 2, &BatchNormConfig::default()).unwrap();
    let x = Var::from_tensor(&wave(&[3, 2, 3, 2], 0.7)).unwrap();
    let mut vars = vec![("x".to_string(), x.clone())];
    vars.extend(params.trainable().into_iter().enumerate().map(|(i, v)| (format!("param{i}"), v)));
    let weights = wave(&[3, 2, 3, 2], 1.3);
    let loss = || Ok((bn.forward_relu_with(x.as_tensor(), true, true)?.sqr()? * &weights)?.sum_all()?);
    let report = gradcheck(loss, &vars, 1e-6).unwrap();
    assert!(report.relative_difference < 1e-8, "{report:?}");
}
