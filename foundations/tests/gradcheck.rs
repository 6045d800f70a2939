//! Gradient checking (sheet 07): autograd passes on the models of sheets 02-08 (the L-layer network
//! with batch norm on real digits), on every activation, loss and layer we own, and the check
//! catches a deliberately wrong backward pass, both through autograd and against a hand-written one.

use std::cell::Cell;

use anyhow::Result;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Shape, Tensor, Var};
use candle_nn::ModuleT;
use dls_foundations::activation::{softmax, Activation};
use dls_foundations::data::Standardizer;
use dls_foundations::datasets::{digits, moons};
use dls_foundations::gradcheck::{gradcheck, gradcheck_against};
use dls_foundations::init::Init;
use dls_foundations::loss::{
    binary_cross_entropy_with_logits, cross_entropy, masked_binary_cross_entropy, mse,
};
use dls_foundations::models::{Dense, LogisticRegression, Mlp, MlpConfig, ShallowConfig, ShallowNet};
use dls_foundations::norm::{BatchNorm, BatchNormConfig};
use dls_foundations::params::is_statistic;
use dls_foundations::regularize::l2_penalty;
use dls_foundations::{Error, Params};

/// The course's threshold: below it the backward pass is right.
const PASS: f64 = 1e-7;
/// Step of the central differences (see the note in `mlp_with_batch_norm_on_digits`).
const EPS: f64 = 1e-6;

/// The learnable variables of `params` with their names, for [`gradcheck`].
fn learnable(params: &Params) -> Vec<(String, Var)> {
    params.named_vars().into_iter().filter(|(n, _)| !is_statistic(n)).collect()
}

/// `[n, k]` fixed, irregular weights in `[-1, 1]` so that summed outputs have non-trivial gradients.
fn weights(n: usize, k: usize) -> Result<Tensor> {
    Ok(Tensor::arange(1f64, (n * k + 1) as f64, &Device::Cpu)?.affine(1.7, 0.3)?.sin()?.reshape((n, k))?)
}

/// `n` moons examples in f64: features `[n, 2]`, targets `[n, 1]`.
fn moons64(n: usize) -> Result<(Tensor, Tensor)> {
    let d = moons(n, 0.2, 4)?;
    Ok((d.x.to_dtype(DType::F64)?, d.y.to_dtype(DType::F64)?))
}

#[test]
fn mlp_with_batch_norm_on_digits() -> Result<()> {
    // ten standardised digits through 64-8-6-10 with batch norm in training mode and ReLU.
    // With EPS = 1e-6 the rounding error of the two losses (~1e-16 / EPS per entry) and the
    // truncation error (~EPS^2) both stay far below 1e-7; no pre-activation lies within EPS of a
    // ReLU kink for this batch (the check would show it as a jump of the relative difference).
    let data = digits()?;
    let (_, x) = Standardizer::fit_transform(&data.x)?;
    let x = x.narrow(0, 0, 10)?.to_dtype(DType::F64)?;
    let y = data.y.narrow(0, 0, 10)?;
    let params = Params::new(3);
    let cfg = MlpConfig {
        inputs: 64,
        hidden: vec![8, 6],
        outputs: 10,
        activation: Activation::Relu,
        init: Init::He,
        batch_norm: true,
        keep_prob: 1.0,
        dropout_seed: 0,
    };
    let mlp = Mlp::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
    let vars = learnable(&params);
    let loss = || cross_entropy(&mlp.forward_t(&x, true)?, &y);
    let report = gradcheck(loss, &vars, EPS)?;
    assert_eq!(report.checked, 64 * 8 + 8 + 8 + 8 * 6 + 6 + 6 + 6 * 10 + 10);
    assert!(report.relative_difference < PASS, "{report:?}");
    report.check(PASS)?;
    // every parameter, batch-norm scales and shifts included, was checked
    let names: Vec<&str> = report.per_param.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"norms.1.weight") && names.contains(&"norms.0.bias"), "{names:?}");
    Ok(())
}

#[test]
fn logistic_regression_and_shallow_net_with_binary_loss() -> Result<()> {
    let (x, y) = moons64(12)?;
    // logistic regression starts at w = 0, b = 0: every logit sits on the |z| kink of the stable loss
    let params = Params::new(0);
    let model = LogisticRegression::new(params.var_builder(DType::F64, &Device::Cpu), 2)?;
    let loss = || binary_cross_entropy_with_logits(&model.forward(&x)?, &y);
    let report = gradcheck(loss, &learnable(&params), EPS)?;
    assert!(report.relative_difference < PASS, "logistic: {report:?}");

    let params = Params::new(1);
    let cfg = ShallowConfig { init: Init::Xavier, ..Default::default() };
    let net = ShallowNet::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
    let penalty = |w: &[Tensor]| l2_penalty(w, 0.3, 12);
    let loss = || Ok((binary_cross_entropy_with_logits(&net.forward(&x)?, &y)? + penalty(&net.weights())?)?);
    let report = gradcheck(loss, &learnable(&params), EPS)?;
    assert_eq!(report.checked, 4 * 2 + 4 + 4 + 1);
    assert!(report.relative_difference < PASS, "shallow: {report:?}");
    Ok(())
}

#[test]
fn every_activation_softmax_and_loss_has_a_correct_gradient() -> Result<()> {
    let c = weights(2, 3)?;
    // inputs stay away from the ReLU kink at 0
    let x = Var::new(&[[-1.3f64, -0.4, 0.2], [0.9, 1.7, -2.2]], &Device::Cpu)?;
    let vars = [("x".to_string(), x.clone())];
    for act in
        [Activation::Relu, Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid, Activation::Identity]
    {
        let loss = || Ok((act.forward(x.as_tensor())? * &c)?.sum_all()?);
        let report = gradcheck(loss, &vars, EPS)?;
        assert!(report.relative_difference < PASS, "{act:?}: {report:?}");
    }
    let targets = Tensor::new(&[[1f64, 0.0, 1.0], [0.0, 0.0, 1.0]], &Device::Cpu)?;
    let mask = Tensor::new(&[[1f64, 1.0, 0.0], [0.0, 1.0, 1.0]], &Device::Cpu)?;
    let labels = Tensor::new(&[2u32, 0], &Device::Cpu)?;
    type Case<'a> = (&'a str, Box<dyn Fn() -> dls_foundations::Result<Tensor> + 'a>);
    let cases: Vec<Case> = vec![
        ("softmax", Box::new(|| Ok((softmax(x.as_tensor())? * &c)?.sum_all()?))),
        ("cross-entropy", Box::new(|| cross_entropy(x.as_tensor(), &labels))),
        ("bce", Box::new(|| binary_cross_entropy_with_logits(x.as_tensor(), &targets))),
        ("masked bce", Box::new(|| masked_binary_cross_entropy(x.as_tensor(), &targets, &mask))),
        ("mse", Box::new(|| mse(x.as_tensor(), &c))),
        ("l2", Box::new(|| l2_penalty(&[x.as_tensor().clone()], 0.5, 4))),
    ];
    for (name, loss) in cases {
        let report = gradcheck(loss, &vars, EPS)?;
        assert!(report.relative_difference < PASS, "{name}: {report:?}");
    }
    Ok(())
}

#[test]
fn batch_norm_over_images_has_a_correct_gradient() -> Result<()> {
    let params = Params::new(0);
    let bn = BatchNorm::new(params.var_builder(DType::F64, &Device::Cpu), 2, &BatchNormConfig::default())?;
    params.get("weight")?.set(&Tensor::new(&[1.5f64, -0.7], &Device::Cpu)?)?;
    let x = Var::from_tensor(&weights(6, 4)?.affine(2.0, 0.5)?.reshape((2, 2, 2, 3))?)?;
    let c = weights(4, 6)?.reshape((2, 2, 2, 3))?;
    let mut vars = learnable(&params);
    vars.push(("x".to_string(), x.clone()));
    for train in [true, false] {
        let loss = || Ok((bn.forward_t(x.as_tensor(), train)? * &c)?.sum_all()?);
        let report = gradcheck(loss, &vars, EPS)?;
        assert!(report.relative_difference < PASS, "train {train}: {report:?}");
    }
    Ok(())
}

/// tanh as a custom op with a hand-written backward pass: correct (`1 - y^2`) or with the
/// classic bug (`1 - y`).
struct HandTanh {
    correct: bool,
}

impl CustomOp1 for HandTanh {
    fn name(&self) -> &'static str {
        if self.correct {
            "hand-tanh"
        } else {
            "hand-tanh-buggy"
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F64(data), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("{} takes a contiguous f64 tensor", self.name())
        };
        let out = data[start..end].iter().map(|v| v.tanh()).collect();
        Ok((CpuStorage::F64(out), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let local = if self.correct { res.sqr()?.affine(-1.0, 1.0)? } else { res.affine(-1.0, 1.0)? };
        Ok(Some((grad * local)?))
    }
}

/// A 2-5-1 network whose hidden activation is [`HandTanh`]; returns the report of its check.
fn check_hand_tanh(correct: bool) -> Result<dls_foundations::gradcheck::GradCheckReport> {
    let (x, y) = moons64(10)?;
    let params = Params::new(2);
    let vb = params.var_builder(DType::F64, &Device::Cpu);
    let hidden = Dense::new(vb.pp("hidden"), 2, 5, Init::Xavier)?;
    let output = Dense::new(vb.pp("output"), 5, 1, Init::Xavier)?;
    let loss = || {
        let h = hidden.forward(&x)?.apply_op1(HandTanh { correct })?;
        binary_cross_entropy_with_logits(&output.forward(&h)?, &y)
    };
    Ok(gradcheck(loss, &learnable(&params), EPS)?)
}

#[test]
fn a_wrong_backward_pass_is_caught_and_named() -> Result<()> {
    let good = check_hand_tanh(true)?;
    assert!(good.relative_difference < PASS, "{good:?}");
    good.check(PASS)?;

    let bad = check_hand_tanh(false)?;
    assert!(bad.relative_difference > 1e-3, "{bad:?}");
    // the output layer sits after the bug: its gradient is still right
    for (name, diff) in &bad.per_param {
        if name.starts_with("output.") {
            assert!(*diff < PASS, "{name}: {diff}");
        } else {
            assert!(*diff > 1e-3, "{name}: {diff}");
        }
    }
    match bad.check(PASS) {
        Err(Error::GradCheck { param, difference, threshold }) => {
            assert!(param.starts_with("hidden."), "{param}");
            assert!(difference > 1e-3);
            assert_eq!(threshold, PASS);
        }
        other => panic!("expected Error::GradCheck, got {other:?}"),
    }
    Ok(())
}

/// Hand-written backward of logistic regression: `dW = (A - Y)^T X / m`, `db = sum(A - Y) / m`,
/// optionally with the classic bug of a missing `1 / m`.
fn logistic_backward(
    model: &LogisticRegression,
    x: &Tensor,
    y: &Tensor,
    scale_by_m: bool,
) -> Result<Vec<Tensor>> {
    let m = if scale_by_m { x.dim(0)? as f64 } else { 1.0 };
    let dz = (candle_nn::ops::sigmoid(&model.forward(x)?)? - y)?;
    let dw = (dz.t()?.matmul(x)? / m)?;
    let db = (dz.sum(0)? / m)?;
    Ok(vec![db, dw])
}

#[test]
fn gradcheck_against_a_hand_written_backward_pass() -> Result<()> {
    let (x, y) = moons64(8)?;
    let params = Params::new(0);
    let model = LogisticRegression::new(params.var_builder(DType::F64, &Device::Cpu), 2)?;
    params.get("weight")?.set(&Tensor::new(&[[0.8f64, -1.1]], &Device::Cpu)?)?;
    let vars = learnable(&params);
    assert_eq!(vars[0].0, "bias");
    let loss = || binary_cross_entropy_with_logits(&model.forward(&x)?, &y);

    let right = gradcheck_against(loss, &vars, &logistic_backward(&model, &x, &y, true)?, EPS)?;
    assert!(right.relative_difference < PASS, "{right:?}");

    let wrong = gradcheck_against(loss, &vars, &logistic_backward(&model, &x, &y, false)?, EPS)?;
    // a gradient 8 times too large: |8g - g| / (8|g| + |g|) = 7 / 9
    assert!((wrong.relative_difference - 7.0 / 9.0).abs() < 1e-6, "{wrong:?}");
    assert!(matches!(wrong.check(PASS), Err(Error::GradCheck { .. })));
    Ok(())
}

#[test]
fn gradcheck_refuses_f32_bad_shapes_and_bad_epsilon() -> Result<()> {
    let w32 = Var::new(&[1f32, 2.0], &Device::Cpu)?;
    let loss32 = || Ok(w32.as_tensor().sqr()?.sum_all()?);
    match gradcheck(loss32, &[("w".to_string(), w32.clone())], EPS) {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "gradient check");
            assert!(message.contains('w') && message.contains("F32"), "{message}");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    let w = Var::new(&[1f64, 2.0], &Device::Cpu)?;
    let vars = [("w".to_string(), w.clone())];
    let not_scalar = || Ok(w.as_tensor().sqr()?);
    assert!(matches!(gradcheck(not_scalar, &vars, EPS), Err(Error::Shape { .. })));
    let loss = || Ok(w.as_tensor().sqr()?.sum_all()?);
    let wrong_shape = [Tensor::zeros(3, DType::F64, &Device::Cpu)?];
    match gradcheck_against(loss, &vars, &wrong_shape, EPS) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, "gradient of w"),
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    assert!(matches!(gradcheck_against(loss, &vars, &[], EPS), Err(Error::Shape { .. })));
    for eps in [0.0, -1e-6, f64::NAN] {
        assert!(matches!(gradcheck(loss, &vars, eps), Err(Error::Invalid { .. })), "eps {eps}");
    }
    Ok(())
}

#[test]
fn checked_variables_get_their_values_back() -> Result<()> {
    let w = Var::new(&[0.3f64, -1.7, 2.5], &Device::Cpu)?;
    let before = w.as_tensor().to_vec1::<f64>()?;
    let vars = [("w".to_string(), w.clone())];
    gradcheck(|| Ok(w.as_tensor().powf(3.0)?.sum_all()?), &vars, EPS)?;
    assert_eq!(w.as_tensor().to_vec1::<f64>()?, before);
    // also when the loss fails part-way through the perturbations
    let calls = Cell::new(0);
    let flaky = || {
        calls.set(calls.get() + 1);
        if calls.get() > 3 {
            return Err(Error::invalid("loss", "failed on purpose"));
        }
        Ok(w.as_tensor().sqr()?.sum_all()?)
    };
    assert!(matches!(gradcheck(flaky, &vars, EPS), Err(Error::Invalid { .. })));
    assert_eq!(w.as_tensor().to_vec1::<f64>()?, before);
    Ok(())
}
