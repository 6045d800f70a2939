//! Regularisation: the L2 penalty and its gradient, inverted dropout, gradient clipping and early
//! stopping.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::ModuleT;
use dls_foundations::regularize::{clip_gradients, grad_norm, l2_penalty, Clip, Dropout, EarlyStopping};
use dls_foundations::{Error, SeededRng};

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
    }
}

fn flat(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?)
}

#[test]
fn l2_penalty_value_and_gradient() -> Result<()> {
    let w1 = Var::new(&[[1.0f64, -2.0], [0.5, 3.0]], &Device::Cpu)?;
    let w2 = Var::new(&[[4.0f64, 0.0, -1.0]], &Device::Cpu)?;
    let (lambda, m) = (0.7, 5);
    let p = l2_penalty(&[w1.as_tensor().clone(), w2.as_tensor().clone()], lambda, m)?;
    // sum of squares 1 + 4 + 0.25 + 9 + 16 + 0 + 1 = 31.25
    assert!((p.to_scalar::<f64>()? - 0.7 / 10.0 * 31.25).abs() < 1e-12);
    let grads = p.backward()?;
    for w in [&w1, &w2] {
        let g = grads.get(w.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient"))?;
        // d/dW lambda / (2 m) ||W||^2 = lambda / m * W
        let want: Vec<f64> = flat(w.as_tensor())?.iter().map(|v| lambda / m as f64 * v).collect();
        assert_close(&flat(g)?, &want, 1e-12);
    }
    Ok(())
}

#[test]
fn l2_penalty_rejects_bad_arguments() -> Result<()> {
    let w = Tensor::ones((2, 2), DType::F32, &Device::Cpu)?;
    for (lambda, m) in [(-0.1, 10), (f64::NAN, 10), (0.1, 0)] {
        match l2_penalty(std::slice::from_ref(&w), lambda, m) {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "l2 penalty"),
            other => panic!("lambda {lambda}, m {m}: expected Error::Invalid, got {other:?}"),
        }
    }
    assert!(matches!(l2_penalty(&[], 0.1, 10), Err(Error::Empty(_))));
    assert_eq!(l2_penalty(&[w], 0.0, 10)?.to_scalar::<f32>()?, 0.0);
    Ok(())
}

#[test]
fn dropout_is_the_identity_in_evaluation() -> Result<()> {
    let d = Dropout::new(0.5, SeededRng::new(0))?;
    let x = Tensor::arange(0f32, 100.0, &Device::Cpu)?.reshape((10, 10))?;
    assert_eq!(d.forward_t(&x, false)?.to_vec2::<f32>()?, x.to_vec2::<f32>()?);
    // keep_prob 1 keeps everything even in training
    let keep_all = Dropout::new(1.0, SeededRng::new(0))?;
    assert_eq!(keep_all.forward_t(&x, true)?.to_vec2::<f32>()?, x.to_vec2::<f32>()?);
    Ok(())
}

#[test]
fn dropout_drops_the_expected_share_and_rescales_survivors() -> Result<()> {
    let n = 10_000;
    for keep_prob in [0.8, 0.3] {
        let d = Dropout::new(keep_prob, SeededRng::new(11))?;
        assert_eq!(d.keep_prob(), keep_prob);
        let x = Tensor::ones(n, DType::F64, &Device::Cpu)?;
        let y: Vec<f64> = d.forward_t(&x, true)?.to_vec1()?;
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        // binomial: standard error sqrt(p (1 - p) / n) <= 0.005; allow 4 of them
        let se = (keep_prob * (1.0 - keep_prob) / n as f64).sqrt();
        assert!((dropped - (1.0 - keep_prob)).abs() < 4.0 * se, "keep {keep_prob}: dropped {dropped}");
        // every survivor is scaled by exactly 1 / keep_prob
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / keep_prob).abs() < 1e-12), "keep {keep_prob}");
        // so the mean activation is preserved
        let mean = y.iter().sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 4.0 * se / keep_prob, "keep {keep_prob}: mean {mean}");
    }
    Ok(())
}

#[test]
fn dropout_masks_follow_the_seed() -> Result<()> {
    let x = Tensor::ones((8, 16), DType::F32, &Device::Cpu)?;
    let run = |seed| -> Result<Vec<Vec<f32>>> {
        let d = Dropout::new(0.5, SeededRng::new(seed))?;
        Ok(d.forward_t(&x, true)?.to_vec2()?)
    };
    assert_eq!(run(3)?, run(3)?);
    assert_ne!(run(3)?, run(4)?);
    // successive calls draw fresh masks from the stream
    let d = Dropout::new(0.5, SeededRng::new(3))?;
    let first = d.forward_t(&x, true)?.to_vec2::<f32>()?;
    let second = d.forward_t(&x, true)?.to_vec2::<f32>()?;
    assert_eq!(first, run(3)?);
    assert_ne!(first, second);
    Ok(())
}

#[test]
fn dropout_gradient_follows_the_mask() -> Result<()> {
    let x = Var::ones(1000, DType::F64, &Device::Cpu)?;
    let d = Dropout::new(0.25, SeededRng::new(5))?;
    let y = d.forward_t(x.as_tensor(), true)?;
    let grads = y.sum_all()?.backward()?;
    let g = flat(grads.get(x.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient"))?)?;
    // the gradient of a dropped unit is 0, of a kept one 1 / keep_prob: the mask itself
    assert_eq!(g, flat(&y)?);
    Ok(())
}

#[test]
fn invalid_keep_prob_is_rejected() {
    for keep_prob in [0.0, -0.2, 1.01, f64::NAN, f64::INFINITY] {
        match Dropout::new(keep_prob, SeededRng::new(0)) {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "keep_prob"),
            other => panic!("keep_prob {keep_prob}: expected Error::Invalid, got {other:?}"),
        }
    }
}

/// Two variables whose gradients under `sum(a * w1) + sum(b * w2)` are `a` and `b`.
fn two_vars(a: &[f64], b: &[f64]) -> Result<(Vec<Var>, candle_core::backprop::GradStore)> {
    let w1 = Var::zeros(a.len(), DType::F64, &Device::Cpu)?;
    let w2 = Var::zeros(b.len(), DType::F64, &Device::Cpu)?;
    let loss = ((w1.as_tensor() * Tensor::new(a, &Device::Cpu)?)?.sum_all()?
        + (w2.as_tensor() * Tensor::new(b, &Device::Cpu)?)?.sum_all()?)?;
    let grads = loss.backward()?;
    Ok((vec![w1, w2], grads))
}

fn grads_of(grads: &candle_core::backprop::GradStore, vars: &[Var]) -> Result<Vec<Vec<f64>>> {
    vars.iter()
        .map(|v| flat(grads.get(v.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient"))?))
        .collect()
}

#[test]
fn grad_norm_is_the_global_l2_norm() -> Result<()> {
    let (vars, grads) = two_vars(&[3.0, 0.0], &[-4.0, 12.0])?;
    assert!((grad_norm(&grads, &vars)? - 13.0).abs() < 1e-12);
    // a variable without a gradient is skipped
    let unused = Var::ones(3, DType::F64, &Device::Cpu)?;
    assert!((grad_norm(&grads, &[vars[0].clone(), unused])? - 3.0).abs() < 1e-12);
    Ok(())
}

#[test]
fn clip_by_value_clamps_every_element() -> Result<()> {
    let (vars, mut grads) = two_vars(&[3.0, -0.5], &[-4.0, 12.0])?;
    let before = clip_gradients(&mut grads, &vars, Clip::Value(1.0))?;
    assert!((before - (9.0f64 + 0.25 + 16.0 + 144.0).sqrt()).abs() < 1e-12);
    assert_eq!(grads_of(&grads, &vars)?, vec![vec![1.0, -0.5], vec![-1.0, 1.0]]);
    Ok(())
}

#[test]
fn clip_by_norm_rescales_large_gradients_to_the_threshold() -> Result<()> {
    let (vars, mut grads) = two_vars(&[3.0, 0.0], &[-4.0, 12.0])?;
    let before = clip_gradients(&mut grads, &vars, Clip::Norm(2.0))?;
    assert!((before - 13.0).abs() < 1e-12);
    assert!((grad_norm(&grads, &vars)? - 2.0).abs() < 1e-5);
    // the direction is kept: every element scaled by 2 / 13
    let want = [vec![6.0 / 13.0, 0.0], vec![-8.0 / 13.0, 24.0 / 13.0]];
    for (got, want) in grads_of(&grads, &vars)?.iter().zip(&want) {
        assert_close(got, want, 1e-9);
    }
    Ok(())
}

#[test]
fn clip_by_norm_leaves_small_gradients_alone() -> Result<()> {
    let (vars, mut grads) = two_vars(&[0.3, 0.0], &[-0.4, 0.1])?;
    let untouched = grads_of(&grads, &vars)?;
    clip_gradients(&mut grads, &vars, Clip::Norm(1.0))?;
    assert_eq!(grads_of(&grads, &vars)?, untouched);
    Ok(())
}

#[test]
fn non_positive_clip_thresholds_are_invalid() -> Result<()> {
    let (vars, mut grads) = two_vars(&[1.0], &[1.0])?;
    for clip in [Clip::Value(0.0), Clip::Value(-1.0), Clip::Norm(0.0), Clip::Norm(f64::NAN)] {
        match clip_gradients(&mut grads, &vars, clip) {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "gradient clip"),
            other => panic!("{clip:?}: expected Error::Invalid, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn early_stopping_counts_epochs_without_improvement() {
    let mut es = EarlyStopping::new(2, 0.01);
    // epoch: value, new best?, stop after it?
    let script = [
        (0, 0.50, true, false),
        (1, 0.60, true, false),
        (2, 0.605, false, false), // +0.005 is below min_delta
        (3, 0.70, true, false),   // an improvement resets the count
        (4, 0.69, false, false),
        (5, 0.70, false, true), // second epoch in a row without improvement
    ];
    for (epoch, value, best, stop) in script {
        assert_eq!(es.record(epoch, value), best, "epoch {epoch}");
        assert_eq!(es.should_stop(), stop, "epoch {epoch}");
    }
    assert_eq!(es.best, Some(0.70));
    assert_eq!(es.best_epoch, 3);
    assert_eq!(es.bad_epochs, 2);
}

#[test]
fn early_stopping_with_zero_patience_never_stops_and_ignores_a_nan_start() {
    let mut es = EarlyStopping::new(0, 0.0);
    for epoch in 0..10 {
        es.record(epoch, 0.5);
        assert!(!es.should_stop());
    }
    let mut es = EarlyStopping::new(1, 0.0);
    assert!(!es.record(0, f64::NAN));
    assert_eq!(es.best, None);
    assert!(es.should_stop());
    assert!(es.record(1, 0.1));
    assert!(!es.should_stop());
}
