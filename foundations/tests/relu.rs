//! The one-pass ReLU against candle's `relu` (values and gradients), its gradient at 0 (PyTorch's
//! convention), a non-contiguous input, and the f64 gradient check; the fused `add_relu` against
//! `relu(a + b)`.

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::activation::{add_relu, relu, use_fused_relu};
use dls_foundations::gradcheck::gradcheck;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn wave(shape: &[usize], phase: f64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.61 + phase).sin()).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

#[test]
fn one_pass_relu_matches_candle_away_from_zero() -> Result<()> {
    for dtype in [DType::F64, DType::F32] {
        let x = Var::from_tensor(&wave(&[3, 5, 7], 0.2)?.to_dtype(dtype)?)?;
        let weights = wave(&[3, 5, 7], 1.3)?.to_dtype(dtype)?;
        let ours = relu(x.as_tensor())?;
        let theirs = x.as_tensor().relu()?;
        let gap =
            (&ours - &theirs)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        assert_eq!(gap, 0.0, "{dtype:?}");
        let g1 = (ours * &weights)?.sum_all()?.backward()?;
        let g2 = (theirs * &weights)?.sum_all()?.backward()?;
        let (a, b) = (g1.get(x.as_tensor()).ok_or("no grad")?, g2.get(x.as_tensor()).ok_or("no grad")?);
        let gap = (a - b)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        assert_eq!(gap, 0.0, "{dtype:?}");
    }
    Ok(())
}

#[test]
fn gradient_is_zero_at_zero_and_strided_inputs_work() -> Result<()> {
    let x = Var::from_tensor(&Tensor::new(&[[-1f64, 0.0, 2.0], [3.0, -0.5, 0.0]], &Device::Cpu)?)?;
    // The transpose is not contiguous; the op copies it first.
    let y = relu(&x.as_tensor().t()?)?;
    assert_eq!(y.to_vec2::<f64>()?, [[0.0, 3.0], [0.0, 0.0], [2.0, 0.0]]);
    let g =
        (y * Tensor::new(&[[1f64, 10.], [100., 1000.], [1e4, 1e5]], &Device::Cpu)?)?.sum_all()?.backward()?;
    let dx = g.get(x.as_tensor()).ok_or("no grad")?.to_vec2::<f64>()?;
    assert_eq!(dx, [[0.0, 0.0, 1e4], [10.0, 0.0, 0.0]]);

    // The switch selects candle's relu, which passes the gradient through at 0. Only this test
    // touches the switch (the others do not depend on the value at 0).
    let x = Var::from_tensor(&Tensor::new(&[0f64], &Device::Cpu)?)?;
    use_fused_relu(false);
    let candle = relu(x.as_tensor()).and_then(|y| y.sum_all()?.backward());
    use_fused_relu(true);
    let g = candle?.get(x.as_tensor()).ok_or("no grad")?.to_vec1::<f64>()?;
    assert_eq!(g, [1.0]);
    Ok(())
}

#[test]
fn one_pass_relu_passes_the_gradient_check() -> Result<()> {
    let x = Var::from_tensor(&wave(&[4, 9], 0.7)?)?;
    let loss = || -> dls_foundations::Result<Tensor> {
        let y = relu(x.as_tensor())?;
        Ok((y.sqr()? * wave(&[4, 9], 0.1).map_err(candle_core::Error::msg)?)?.sum_all()?)
    };
    let report = gradcheck(loss, &[("x".to_string(), x.clone())], 1e-6)?;
    assert!(report.relative_difference < 1e-8, "{report:?}");
    Ok(())
}

#[test]
fn add_relu_matches_relu_of_the_sum_and_checks_shapes() -> Result<()> {
    for dtype in [DType::F64, DType::F32] {
        let a = Var::from_tensor(&wave(&[2, 3, 4, 5], 0.2)?.to_dtype(dtype)?)?;
        let b = Var::from_tensor(&wave(&[2, 3, 4, 5], 2.9)?.affine(0.7, 0.05)?.to_dtype(dtype)?)?;
        let weights = wave(&[2, 3, 4, 5], 1.3)?.to_dtype(dtype)?;
        let fused = add_relu(a.as_tensor(), &b.as_tensor().t()?.contiguous()?.t()?)?;
        let plain = relu(&(a.as_tensor() + b.as_tensor())?)?;
        let zeros = plain.eq(0.0)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        assert!(zeros > 0.0, "the test must cut some values");
        let gap =
            (&fused - &plain)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        assert_eq!(gap, 0.0, "{dtype:?} values");
        let g1 = (fused * &weights)?.sum_all()?.backward()?;
        let g2 = (plain * &weights)?.sum_all()?.backward()?;
        for v in [&a, &b] {
            let (x, y) = (g1.get(v.as_tensor()).ok_or("no grad")?, g2.get(v.as_tensor()).ok_or("no grad")?);
            let gap = (x - y)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            assert_eq!(gap, 0.0, "{dtype:?} gradients");
        }
    }
    let err = add_relu(&wave(&[2, 3], 0.0)?, &wave(&[3, 2], 0.0)?).unwrap_err();
    assert!(err.to_string().contains("differ"), "{err}");
    Ok(())
}
