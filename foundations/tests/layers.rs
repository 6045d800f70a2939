//! Activations, weight initialisation, the dense layer and the shapes, parameter names and counts of
//! the fully connected models.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, ModuleT};
use dls_foundations::activation::{softmax, Activation, LEAKY_SLOPE};
use dls_foundations::init::Init;
use dls_foundations::models::{Dense, LogisticRegression, Mlp, MlpConfig, ShallowConfig, ShallowNet};
use dls_foundations::{Error, Params};

const XS: [f64; 5] = [-2.0, -0.5, 0.0, 0.5, 2.0];

fn apply(act: Activation, xs: &[f64]) -> Result<Vec<f64>> {
    let x = Tensor::new(xs, &Device::Cpu)?;
    Ok(act.forward(&x)?.to_vec1::<f64>()?)
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

fn names(params: &Params) -> Vec<(String, Vec<usize>)> {
    params.named_vars().into_iter().map(|(n, v)| (n, v.dims().to_vec())).collect()
}

#[test]
fn activations_have_their_textbook_values() -> Result<()> {
    assert_close(&apply(Activation::Relu, &XS)?, &[0.0, 0.0, 0.0, 0.5, 2.0], 0.0);
    assert_close(&apply(Activation::LeakyRelu, &XS)?, &[-0.02, -0.005, 0.0, 0.5, 2.0], 1e-15);
    assert_close(&apply(Activation::Identity, &XS)?, &XS, 0.0);
    // tanh(0.5) = 0.46211715726000974, tanh(2) = 0.9640275800758169
    let tanh = [-0.9640275800758169, -0.46211715726000974, 0.0, 0.46211715726000974, 0.9640275800758169];
    assert_close(&apply(Activation::Tanh, &XS)?, &tanh, 1e-12);
    // sigmoid(2) = 1 / (1 + e^-2) = 0.8807970779778823, sigmoid(0.5) = 0.6224593312018546
    let sig = [0.11920292202211755, 0.3775406687981454, 0.5, 0.6224593312018546, 0.8807970779778823];
    assert_close(&apply(Activation::Sigmoid, &XS)?, &sig, 1e-12);
    // sigmoid saturates without overflow
    assert_close(&apply(Activation::Sigmoid, &[-800.0, 800.0])?, &[0.0, 1.0], 1e-300);
    Ok(())
}

#[test]
fn leaky_relu_slope_is_one_hundredth_in_value_and_gradient() -> Result<()> {
    assert_eq!(LEAKY_SLOPE, 0.01);
    let x = Var::new(&[-3.0f64, -0.25, 0.25, 3.0], &Device::Cpu)?;
    let y = Activation::LeakyRelu.forward(x.as_tensor())?;
    assert_close(&y.to_vec1::<f64>()?, &[-0.03, -0.0025, 0.25, 3.0], 1e-15);
    let grads = y.sum_all()?.backward()?;
    let g = grads.get(x.as_tensor()).map(|g| g.to_vec1::<f64>()).transpose()?.unwrap_or_default();
    assert_close(&g, &[0.01, 0.01, 1.0, 1.0], 1e-15);
    Ok(())
}

#[test]
fn softmax_rows_sum_to_one_and_match_hand_values() -> Result<()> {
    let x = Tensor::new(&[[1.0f64, 2.0, 3.0], [1000.0, 1000.0, 1000.0]], &Device::Cpu)?;
    let p = softmax(&x)?.to_vec2::<f64>()?;
    // e^k / (e + e^2 + e^3) for k = 1, 2, 3
    assert_close(&p[0], &[0.09003057317038046, 0.24472847105479764, 0.6652409557748219], 1e-12);
    assert_close(&p[1], &[1.0 / 3.0; 3], 1e-12);
    Ok(())
}

#[test]
fn activation_names_parse_and_unknown_names_are_invalid() -> Result<()> {
    for (name, want) in [
        ("relu", Activation::Relu),
        ("ReLU", Activation::Relu),
        ("leaky_relu", Activation::LeakyRelu),
        ("leaky-relu", Activation::LeakyRelu),
        ("TANH", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
        ("linear", Activation::Identity),
    ] {
        assert_eq!(Activation::from_name(name)?, want, "{name}");
    }
    match Activation::from_name("swish") {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "activation");
            assert!(message.contains("swish"), "{message}");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    assert!(matches!(Activation::from_name(""), Err(Error::Invalid { .. })));
    Ok(())
}

/// Mean and standard deviation of a `[out, in]` weight built by `init` from seed `seed`.
fn weight_stats(init: Init, fan_in: usize, fan_out: usize, seed: u64) -> Result<(f64, f64)> {
    let params = Params::new(seed);
    let layer = Dense::new(params.var_builder(DType::F32, &Device::Cpu), fan_in, fan_out, init)?;
    let w: Vec<f32> = layer.weight().flatten_all()?.to_vec1()?;
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    Ok((mean, var.sqrt()))
}

#[test]
fn initialisers_draw_with_the_theoretical_standard_deviation() -> Result<()> {
    let (fan_in, fan_out) = (400, 250);
    for (init, theory) in [
        (Init::He, (2.0 / 400f64).sqrt()),
        (Init::Xavier, (1.0 / 400f64).sqrt()),
        (Init::Glorot, (2.0 / 650f64).sqrt()),
        (Init::Random { scale: 0.01 }, 0.01),
    ] {
        let (mean, std) = weight_stats(init, fan_in, fan_out, 7)?;
        assert!((std / theory - 1.0).abs() < 0.05, "{init:?}: std {std} vs theory {theory}");
        // 100k samples: the mean's standard error is std / 316
        assert!(mean.abs() < 4.0 * theory / 316.0, "{init:?}: mean {mean}");
    }
    Ok(())
}

#[test]
fn zeros_init_is_all_zeros_and_biases_start_at_zero() -> Result<()> {
    let params = Params::new(1);
    let layer = Dense::new(params.var_builder(DType::F32, &Device::Cpu), 30, 20, Init::Zeros)?;
    assert!(layer.weight().flatten_all()?.to_vec1::<f32>()?.iter().all(|&v| v == 0.0));
    let he = Params::new(1);
    Dense::new(he.var_builder(DType::F32, &Device::Cpu), 30, 20, Init::He)?;
    assert!(he.get("bias")?.to_vec1::<f32>()?.iter().all(|&v| v == 0.0));
    Ok(())
}

#[test]
fn the_same_seed_gives_the_same_weights_and_another_seed_does_not() -> Result<()> {
    let build = |seed| -> Result<Vec<f32>> {
        let params = Params::new(seed);
        let cfg = MlpConfig { inputs: 12, hidden: vec![10, 6], outputs: 3, ..Default::default() };
        Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
        let mut all = Vec::new();
        for (_, v) in params.named_vars() {
            all.extend(v.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(all)
    };
    let a = build(42)?;
    assert_eq!(a, build(42)?);
    let b = build(43)?;
    assert_eq!(a.len(), b.len());
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    // every weight differs; only the zero biases agree (10 + 6 + 3 of them)
    assert_eq!(differ, a.len() - 19);
    Ok(())
}

#[test]
fn dense_computes_x_w_transpose_plus_b() -> Result<()> {
    let params = Params::new(0);
    let layer = Dense::new(params.var_builder(DType::F64, &Device::Cpu), 3, 2, Init::He)?;
    params.get("weight")?.set(&Tensor::new(&[[1.0f64, 2.0, 3.0], [-1.0, 0.5, 0.0]], &Device::Cpu)?)?;
    params.get("bias")?.set(&Tensor::new(&[0.5f64, -1.0], &Device::Cpu)?)?;
    let x = Tensor::new(&[[1.0f64, 1.0, 1.0], [2.0, 0.0, -1.0]], &Device::Cpu)?;
    let y = layer.forward(&x)?.to_vec2::<f64>()?;
    assert_eq!(y, vec![vec![6.5, -1.5], vec![-0.5, -3.0]]);
    assert_eq!(names(&params), vec![("bias".to_string(), vec![2]), ("weight".to_string(), vec![2, 3])]);
    Ok(())
}

#[test]
fn dense_rejects_zero_sizes_and_wrong_input_widths() -> Result<()> {
    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    match Dense::new(vb.clone(), 0, 4, Init::He) {
        Err(Error::Invalid { what, .. }) => assert_eq!(what, "dense layer"),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    assert!(matches!(Dense::new(vb.clone(), 4, 0, Init::He), Err(Error::Invalid { .. })));
    let layer = Dense::new(vb, 4, 2, Init::He)?;
    let err = layer.forward(&Tensor::zeros((3, 5), DType::F32, &Device::Cpu)?).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("expects [.., 4], got [3, 5]"), "{err}");
    Ok(())
}

#[test]
fn logistic_regression_is_one_zero_initialised_neuron() -> Result<()> {
    let params = Params::new(0);
    let model = LogisticRegression::new(params.var_builder(DType::F32, &Device::Cpu), 5)?;
    assert_eq!(names(&params), vec![("bias".to_string(), vec![1]), ("weight".to_string(), vec![1, 5])]);
    assert_eq!(params.count(), 6);
    assert_eq!(model.weight().dims(), &[1, 5]);
    let z = model.forward(&Tensor::ones((7, 5), DType::F32, &Device::Cpu)?)?;
    assert_eq!(z.dims(), &[7, 1]);
    assert!(z.flatten_all()?.to_vec1::<f32>()?.iter().all(|&v| v == 0.0));
    assert!(matches!(
        LogisticRegression::new(params.var_builder(DType::F32, &Device::Cpu), 0),
        Err(Error::Invalid { .. })
    ));
    Ok(())
}

#[test]
fn shallow_net_has_the_course_shapes() -> Result<()> {
    let params = Params::new(0);
    let net = ShallowNet::new(params.var_builder(DType::F32, &Device::Cpu), &ShallowConfig::default())?;
    assert_eq!(
        names(&params),
        vec![
            ("hidden.bias".to_string(), vec![4]),
            ("hidden.weight".to_string(), vec![4, 2]),
            ("output.bias".to_string(), vec![1]),
            ("output.weight".to_string(), vec![1, 4]),
        ]
    );
    assert_eq!(params.count(), 2 * 4 + 4 + 4 + 1);
    assert_eq!(net.weights().len(), 2);
    // randn * 0.01: small weights, so the logits of unit inputs are tiny
    let w: Vec<f32> = params.get("hidden.weight")?.flatten_all()?.to_vec1()?;
    assert!(w.iter().all(|v| v.abs() < 0.05) && w.iter().any(|&v| v != 0.0), "{w:?}");
    let z = net.forward(&Tensor::ones((3, 2), DType::F32, &Device::Cpu)?)?;
    assert_eq!(z.dims(), &[3, 1]);
    Ok(())
}

#[test]
fn mlp_names_counts_and_flattens() -> Result<()> {
    let params = Params::new(0);
    let cfg = MlpConfig { inputs: 64, hidden: vec![8, 6], outputs: 10, ..Default::default() };
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let got: Vec<String> = params.named_vars().into_iter().map(|(n, _)| n).collect();
    let want = ["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight"];
    assert_eq!(got[..4], want);
    assert_eq!(got[4..], ["output.bias", "output.weight"]);
    assert_eq!(params.count(), 64 * 8 + 8 + 8 * 6 + 6 + 6 * 10 + 10);
    let shapes: Vec<Vec<usize>> = mlp.weights().iter().map(|w| w.dims().to_vec()).collect();
    assert_eq!(shapes, vec![vec![8, 64], vec![6, 8], vec![10, 6]]);
    // images [n, 1, 8, 8] are flattened to [n, 64]
    let logits = mlp.forward_t(&Tensor::ones((2, 1, 8, 8), DType::F32, &Device::Cpu)?, false)?;
    assert_eq!(logits.dims(), &[2, 10]);
    let err =
        mlp.forward_t(&Tensor::ones((2, 63), DType::F32, &Device::Cpu)?, false).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("64 features"), "{err}");
    Ok(())
}

#[test]
fn mlp_with_batch_norm_keeps_statistics_out_of_the_trainable_set() -> Result<()> {
    let params = Params::new(0);
    let cfg = MlpConfig { inputs: 5, hidden: vec![4], outputs: 2, batch_norm: true, ..Default::default() };
    Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let all: Vec<String> = params.named_vars().into_iter().map(|(n, _)| n).collect();
    for name in ["norms.0.weight", "norms.0.bias", "norms.0.running_mean", "norms.0.running_var"] {
        assert!(all.iter().any(|n| n == name), "{name} missing from {all:?}");
    }
    let stats = 2 * 4;
    let learnable: usize = params.trainable().iter().map(|v| v.elem_count()).sum();
    assert_eq!(learnable, params.count());
    let total: usize = params.named_vars().iter().map(|(_, v)| v.elem_count()).sum();
    assert_eq!(total - stats, params.count());
    assert_eq!(params.trainable().len(), all.len() - 2);
    Ok(())
}

#[test]
fn mlp_rejects_bad_keep_prob_and_zero_sizes() -> Result<()> {
    for keep_prob in [0.0, -0.5, 1.5, f64::NAN] {
        for hidden in [vec![4], vec![]] {
            let params = Params::new(0);
            let cfg =
                MlpConfig { inputs: 3, hidden: hidden.clone(), outputs: 2, keep_prob, ..Default::default() };
            match Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg) {
                Err(Error::Invalid { what, .. }) => assert_eq!(what, "keep_prob"),
                other => panic!("keep_prob {keep_prob} hidden {hidden:?}: expected Invalid, got {other:?}"),
            }
        }
    }
    let params = Params::new(0);
    let cfg = MlpConfig { inputs: 3, hidden: vec![4, 0], outputs: 2, ..Default::default() };
    assert!(matches!(
        Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg),
        Err(Error::Invalid { .. })
    ));
    Ok(())
}

#[test]
fn mlp_dropout_is_random_in_training_and_off_in_evaluation() -> Result<()> {
    let params = Params::new(0);
    let cfg = MlpConfig { inputs: 6, hidden: vec![32], outputs: 2, keep_prob: 0.5, ..Default::default() };
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let x = Tensor::ones((4, 6), DType::F32, &Device::Cpu)?;
    let eval1 = mlp.forward_t(&x, false)?.to_vec2::<f32>()?;
    let eval2 = mlp.forward_t(&x, false)?.to_vec2::<f32>()?;
    assert_eq!(eval1, eval2);
    let train1 = mlp.forward_t(&x, true)?.to_vec2::<f32>()?;
    let train2 = mlp.forward_t(&x, true)?.to_vec2::<f32>()?;
    assert_ne!(train1, train2);
    assert_ne!(train1, eval1);
    Ok(())
}
