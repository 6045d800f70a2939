//! Transfer and multi-task learning (sheet 13): freezing all but the head, saving and loading
//! weights across stores, and one network learning three binary tasks from partly missing labels.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::{ModuleT, Optimizer};
use dls_foundations::data::Standardizer;
use dls_foundations::datasets::digits;
use dls_foundations::loss::{cross_entropy, masked_binary_cross_entropy};
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use dls_foundations::{Error, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The first 200 standardised digits: features `[200, 64]` f32 and labels `[200]` u32.
fn digit_rows() -> Result<(Tensor, Tensor)> {
    let data = digits()?;
    let (_, x) = Standardizer::fit_transform(&data.x)?;
    Ok((x.narrow(0, 0, 200)?, data.y.narrow(0, 0, 200)?))
}

fn config(hidden: Vec<usize>, outputs: usize, batch_norm: bool) -> MlpConfig {
    MlpConfig { inputs: 64, hidden, outputs, batch_norm, ..Default::default() }
}

/// Every variable's values, by name.
fn snapshot(params: &Params) -> Result<Vec<(String, Vec<f32>)>> {
    params.named_vars().into_iter().map(|(n, v)| Ok((n, v.flatten_all()?.to_vec1::<f32>()?))).collect()
}

#[test]
fn freezing_all_but_the_head_trains_only_the_head() -> Result<()> {
    let (x, y) = digit_rows()?;
    let params = Params::new(5);
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &config(vec![32, 16], 10, false))?;
    // "pretrain" on the digit classes
    let mut opt = Sgd::new(params.trainable(), SgdConfig { lr: 0.1, weight_decay: 0.0 })?;
    for _ in 0..5 {
        opt.backward_step(&cross_entropy(&mlp.forward_t(&x, true)?, &y)?)?;
    }
    // a new task on the same inputs: the labels relabelled (d + 3) mod 10
    let y2: Vec<u32> = y.to_vec1::<u32>()?.iter().map(|d| (d + 3) % 10).collect();
    let y2 = Tensor::new(y2, &Device::Cpu)?;
    let head = params.trainable_where(|n| n.starts_with("output."));
    assert_eq!(head.len(), 2);
    let before = snapshot(&params)?;
    let loss_before = cross_entropy(&mlp.forward_t(&x, false)?, &y2)?.to_scalar::<f32>()?;
    let mut opt = Sgd::new(head, SgdConfig { lr: 0.1, weight_decay: 0.0 })?;
    for _ in 0..10 {
        opt.backward_step(&cross_entropy(&mlp.forward_t(&x, true)?, &y2)?)?;
    }
    let loss_after = cross_entropy(&mlp.forward_t(&x, false)?, &y2)?.to_scalar::<f32>()?;
    assert!(loss_after < loss_before, "{loss_before} -> {loss_after}");
    for ((name, old), (_, new)) in before.iter().zip(snapshot(&params)?) {
        if name.starts_with("output.") {
            assert_ne!(old, &new, "{name} did not move");
        } else {
            assert_eq!(old, &new, "{name} moved although frozen");
        }
    }
    Ok(())
}

#[test]
fn saved_weights_load_into_a_fresh_store_of_the_same_architecture() -> Result<()> {
    let (x, y) = digit_rows()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mlp.safetensors");
    let params = Params::new(1);
    let cfg = config(vec![8], 10, true);
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let mut opt = Sgd::new(params.trainable(), SgdConfig { lr: 0.1, weight_decay: 0.0 })?;
    for _ in 0..3 {
        opt.backward_step(&cross_entropy(&mlp.forward_t(&x, true)?, &y)?)?;
    }
    params.save(&path)?;

    let fresh = Params::new(2);
    let copy = Mlp::new(fresh.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    assert_ne!(mlp.forward_t(&x, false)?.to_vec2::<f32>()?, copy.forward_t(&x, false)?.to_vec2::<f32>()?);
    fresh.load(&path)?;
    // evaluation uses the loaded running statistics too: the outputs are bit-identical
    assert_eq!(mlp.forward_t(&x, false)?.to_vec2::<f32>()?, copy.forward_t(&x, false)?.to_vec2::<f32>()?);
    assert_eq!(snapshot(&params)?, snapshot(&fresh)?);
    Ok(())
}

#[test]
fn loading_into_another_architecture_names_the_parameter() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mlp.safetensors");
    let params = Params::new(1);
    Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &config(vec![8], 10, false))?;
    params.save(&path)?;
    let shown = path.display().to_string();

    // a wider hidden layer
    let wide = Params::new(2);
    Mlp::new(wide.var_builder(DType::F32, &Device::Cpu), &config(vec![16], 10, false))?;
    match wide.load(&path) {
        Err(Error::Shape { what, expected, got }) => {
            assert_eq!(what, format!("layers.0.bias in {shown}"));
            assert_eq!((expected.as_str(), got.as_str()), ("[16]", "[8]"));
        }
        other => panic!("expected Error::Shape, got {other:?}"),
    }

    // another head: the hidden layer matches but nothing is loaded when the head does not
    let other_head = Params::new(3);
    Mlp::new(other_head.var_builder(DType::F32, &Device::Cpu), &config(vec![8], 5, false))?;
    let untouched = snapshot(&other_head)?;
    match other_head.load(&path) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, format!("output.bias in {shown}")),
        other => panic!("expected Error::Shape, got {other:?}"),
    }
    assert_eq!(snapshot(&other_head)?, untouched);

    // a deeper network asks for a tensor the file does not have
    let deep = Params::new(4);
    Mlp::new(deep.var_builder(DType::F32, &Device::Cpu), &config(vec![8, 4], 10, false))?;
    match deep.load(&path) {
        Err(Error::Format { path: p, message, .. }) => {
            assert_eq!(p, shown);
            assert!(message.contains("layers.1.bias"), "{message}");
        }
        other => panic!("expected Error::Format, got {other:?}"),
    }
    Ok(())
}

/// `n` examples of four standard-normal features with three binary tasks
/// (`x0 > 0`, `x1 + x2 > 0`, `x3 > x0`); each label is present with probability 0.7 and missing
/// labels are stored as NaN. Returns features, targets and mask, all `[n, *]` f32.
fn three_tasks(n: usize, seed: u64) -> Result<(Tensor, Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut xs, mut ys, mut ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let x: Vec<f32> = (0..4).map(|_| StandardNormal.sample(&mut rng)).collect();
        let labels = [x[0] > 0.0, x[1] + x[2] > 0.0, x[3] > x[0]];
        for label in labels {
            let present = rng.random::<f64>() < 0.7;
            ys.push(if present { f32::from(u8::from(label)) } else { f32::NAN });
            ms.push(f32::from(u8::from(present)));
        }
        xs.extend(x);
    }
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_vec(xs, (n, 4), dev)?,
        Tensor::from_vec(ys, (n, 3), dev)?,
        Tensor::from_vec(ms, (n, 3), dev)?,
    ))
}

#[test]
fn one_network_learns_three_tasks_from_partly_missing_labels() -> Result<()> {
    let (x, y, mask) = three_tasks(400, 7)?;
    let params = Params::new(9);
    let cfg = MlpConfig { inputs: 4, hidden: vec![16], outputs: 3, ..Default::default() };
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let mut opt = Adam::new(params.trainable(), AdamConfig { lr: 0.03, ..Default::default() })?;
    for _ in 0..150 {
        let loss = masked_binary_cross_entropy(&mlp.forward_t(&x, true)?, &y, &mask)?;
        assert!(loss.to_scalar::<f32>()?.is_finite());
        opt.backward_step(&loss)?;
    }
    // accuracy per task on the present labels of fresh data
    let (x, y, mask) = three_tasks(400, 8)?;
    let pred = mlp.forward_t(&x, false)?.ge(0.0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let (y, mask) = (y.to_vec2::<f32>()?, mask.to_vec2::<f32>()?);
    for task in 0..3 {
        let (mut right, mut present) = (0, 0);
        for i in 0..pred.len() {
            if mask[i][task] == 1.0 {
                present += 1;
                right += usize::from(pred[i][task] == y[i][task]);
            }
        }
        let accuracy = right as f64 / present as f64;
        assert!(present > 200, "task {task}: only {present} labels");
        assert!(accuracy > 0.9, "task {task}: accuracy {accuracy}");
    }
    Ok(())
}

#[test]
fn copy_from_and_load_where_move_only_the_chosen_layers() {
    use candle_core::{DType, Device};
    use dls_foundations::models::{Mlp, MlpConfig};
    use dls_foundations::{Error, Params};
    let cfg = |outputs| MlpConfig { inputs: 4, hidden: vec![6], outputs, ..Default::default() };
    let source = Params::new(1);
    Mlp::new(source.var_builder(DType::F32, &Device::Cpu), &cfg(10)).unwrap();
    let target = Params::new(2);
    Mlp::new(target.var_builder(DType::F32, &Device::Cpu), &cfg(2)).unwrap();
    let vals =
        |p: &Params, n: &str| p.get(n).unwrap().as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let head_before = vals(&target, "output.weight");

    // The body moves, the differently shaped head stays.
    assert_eq!(target.copy_from(&source, |n| n.starts_with("layers.")).unwrap(), 2);
    assert_eq!(vals(&target, "layers.0.weight"), vals(&source, "layers.0.weight"));
    assert_eq!(vals(&target, "output.weight"), head_before);

    // Asking for the head too is a shape error naming it, and nothing changes.
    let fresh = Params::new(3);
    Mlp::new(fresh.var_builder(DType::F32, &Device::Cpu), &cfg(2)).unwrap();
    let before = vals(&fresh, "layers.0.weight");
    let err = fresh.copy_from(&source, |_| true).unwrap_err();
    assert!(matches!(err, Error::Shape { ref what, .. } if what.starts_with("output.")), "{err}");
    assert_eq!(vals(&fresh, "layers.0.weight"), before);

    // The same through a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.safetensors");
    source.save(&path).unwrap();
    assert_eq!(fresh.load_where(&path, |n| n.starts_with("layers.")).unwrap(), 2);
    assert_eq!(vals(&fresh, "layers.0.bias"), vals(&source, "layers.0.bias"));
}
