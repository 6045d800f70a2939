//! Style transfer: Gram matrix and costs against hand-worked values, gradient checks through a
//! tiny VGG-like network, the weights loader's errors, preprocessing, and short end-to-end runs.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::SeededRng;
use dls_vision::style::cost::{content_cost, gram, layer_style_cost, style_cost, total_variation};
use dls_vision::style::{
    deprocess, fit_pair, preprocess, LayerId, Method, StyleTransfer, VggFeatures, VggFeaturesConfig,
};
use rand::Rng;

fn close(got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "got {got}, want {want}");
}

fn value(t: &Tensor) -> anyhow::Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[test]
fn gram_matrix_of_a_small_tensor() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    // A = [[1, 2, 3], [0, 1, -1]]: A Aᵀ = [[1+4+9, 0+2-3], [., 0+1+1]] = [[14, -1], [-1, 2]].
    let a = Tensor::new(&[[1f64, 2., 3.], [0., 1., -1.]], &dev)?;
    assert_eq!(gram(&a)?.to_vec2::<f64>()?, [[14.0, -1.0], [-1.0, 2.0]]);
    // The same activations as [n_C, n_H, n_W] and [1, n_C, n_H, n_W].
    assert_eq!(gram(&a.reshape((2, 1, 3))?)?.to_vec2::<f64>()?, [[14.0, -1.0], [-1.0, 2.0]]);
    assert_eq!(gram(&a.reshape((1, 2, 3, 1))?)?.to_vec2::<f64>()?, [[14.0, -1.0], [-1.0, 2.0]]);
    let err = gram(&a.reshape((2, 1, 3, 1))?).unwrap_err().to_string();
    assert!(err.contains("[2, 1, 3, 1]"), "{err}");
    Ok(())
}

#[test]
fn content_style_and_tv_costs_against_hand_values() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    // Content, n_C 2, n_H 1, n_W 2: differences 1, 0, 0, -2 -> 5 / (4 * 1 * 2 * 2) = 0.3125.
    let a_c = Tensor::new(&[1f64, 2., 3., 4.], &dev)?.reshape((1, 2, 1, 2))?;
    let a_g = Tensor::new(&[0f64, 2., 3., 6.], &dev)?.reshape((1, 2, 1, 2))?;
    close(value(&content_cost(&a_c, &a_g)?)?, 0.3125, 1e-15);
    let err = content_cost(&a_c, &a_g.reshape((1, 1, 2, 2))?).unwrap_err().to_string();
    assert!(err.contains("[1, 2, 1, 2]") && err.contains("[1, 1, 2, 2]"), "{err}");

    // Style, n_C 2, n_H n_W 2: G_S = I, G_G = [[2, 1], [1, 1]]; squared differences 1 + 1 + 1 + 0 = 3,
    // over 4 n_C² (n_H n_W)² = 4 * 4 * 4 = 64 -> 0.046875.
    let a_s1 = Tensor::new(&[[1f64, 0.], [0., 1.]], &dev)?.reshape((1, 2, 1, 2))?;
    let a_g1 = Tensor::new(&[[1f64, 1.], [0., 1.]], &dev)?.reshape((1, 2, 1, 2))?;
    close(value(&layer_style_cost(&a_s1, &a_g1)?)?, 0.046875, 1e-15);
    // A second layer, n_C 1, n_H n_W 3: G_S = [4], G_G = [3] -> 1 / (4 * 1 * 9) = 1 / 36.
    let a_s2 = Tensor::new(&[2f64, 0., 0.], &dev)?.reshape((1, 1, 1, 3))?;
    let a_g2 = Tensor::new(&[1f64, 1., 1.], &dev)?.reshape((1, 1, 1, 3))?;
    close(value(&layer_style_cost(&a_s2, &a_g2)?)?, 1.0 / 36.0, 1e-15);
    // Weighted: 0.3 * 0.046875 + 0.7 / 36.
    let j = style_cost(&[gram(&a_s1)?, gram(&a_s2)?], &[a_g1.clone(), a_g2.clone()], &[0.3, 0.7])?;
    close(value(&j)?, 0.3 * 0.046875 + 0.7 / 36.0, 1e-15);
    let err = style_cost(&[gram(&a_s1)?], &[a_g1, a_g2], &[1.0]).unwrap_err().to_string();
    assert!(err.contains("1 Gram matrices, 2 activations and 1 weights"), "{err}");

    // TV of [[1, 2, 4], [0, 2, 1]]: vertical (-1)² + 0² + (-3)² = 10, horizontal 1 + 4 + 4 + 1 = 10.
    let x = Tensor::new(&[[1f64, 2., 4.], [0., 2., 1.]], &dev)?.reshape((1, 2, 3))?;
    close(value(&total_variation(&x)?)?, 20.0, 1e-15);
    close(value(&total_variation(&Tensor::stack(&[&x, &x], 0)?)?)?, 40.0, 1e-15);
    assert!(total_variation(&x.narrow(1, 0, 1)?).is_err());
    Ok(())
}

/// Deterministic pseudo-random values in `[lo, hi)`.
fn uniform(rng: &SeededRng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut r = rng.lock();
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// A tiny VGG-like network: 3 -> 2 (conv1_1), pool, 2 -> 3 (conv2_1), 3 -> 3 (conv2_2).
fn tiny_config() -> VggFeaturesConfig {
    VggFeaturesConfig { in_channels: 3, blocks: vec![(2, 1), (3, 2)] }
}

/// Its tensors, with weights that are multiples of 1/64 (exact in f16).
fn tiny_tensors(seed: u64) -> anyhow::Result<HashMap<String, Tensor>> {
    let rng = SeededRng::new(seed);
    let mut map = HashMap::new();
    for (id, c, oc) in tiny_config().layers() {
        let w: Vec<f64> =
            uniform(&rng, oc * c * 9, -0.5, 0.5).iter().map(|v| (v * 64.0).round() / 64.0).collect();
        let b: Vec<f64> = uniform(&rng, oc, 0.0, 0.25).iter().map(|v| (v * 64.0).round() / 64.0).collect();
        map.insert(
            format!("{}.weight", id.tensor_prefix()),
            Tensor::from_vec(w, (oc, c, 3, 3), &Device::Cpu)?,
        );
        map.insert(format!("{}.bias", id.tensor_prefix()), Tensor::from_vec(b, oc, &Device::Cpu)?);
    }
    Ok(map)
}

fn tiny_net(dtype: DType) -> anyhow::Result<VggFeatures> {
    Ok(VggFeatures::from_tensors(&tiny_tensors(7)?, &tiny_config(), dtype, "tiny")?)
}

fn image(seed: u64, h: usize, w: usize) -> anyhow::Result<Tensor> {
    Ok(Tensor::from_vec(uniform(&SeededRng::new(seed), 3 * h * w, 0.0, 1.0), (3, h, w), &Device::Cpu)?)
}

#[test]
fn gradcheck_of_the_costs_through_a_tiny_vgg() -> anyhow::Result<()> {
    let net = tiny_net(DType::F64)?;
    let (content, style) = (image(1, 6, 6)?, image(2, 6, 6)?);
    let (c1, c21, c22) = (LayerId::new(1, 1), LayerId::new(2, 1), LayerId::new(2, 2));
    let a_c = net.features(&preprocess(&content.unsqueeze(0)?)?, &[c22])?.remove(0);
    let grams = net
        .features(&preprocess(&style.unsqueeze(0)?)?, &[c1, c21])?
        .iter()
        .map(gram)
        .collect::<dls_vision::Result<Vec<_>>>()?;
    let x = Var::from_tensor(&image(3, 6, 6)?)?;
    let pieces = || -> dls_vision::Result<(Tensor, Tensor, Tensor)> {
        let f = net.features(&preprocess(&x.as_tensor().unsqueeze(0)?)?, &[c22, c1, c21])?;
        let jc = content_cost(&a_c, &f[0])?;
        let js = style_cost(&grams, &f[1..], &[0.4, 0.6])?;
        Ok((jc, js, total_variation(x.as_tensor())?))
    };
    let vars = [("image".to_string(), x.clone())];
    let (jc, js, tv) = pieces()?;
    // Costs large enough for the check to mean something (about 106, 9.2e5 and 31).
    for (part, at_least) in [(&jc, 10.0), (&js, 1e4), (&tv, 1.0)] {
        assert!(value(part)? > at_least, "cost too small to test: {part}");
    }
    for (name, part) in [("content", 0), ("style", 1), ("tv", 2), ("total", 3)] {
        let loss = || -> dls_foundations::Result<Tensor> {
            let (jc, js, tv) =
                pieces().map_err(|e| dls_foundations::Error::invalid("cost", e.to_string()))?;
            Ok(match part {
                0 => jc,
                1 => js,
                2 => tv,
                _ => ((jc * 10.0)? + (js * 40.0)? + (tv * 0.5)?)?,
            })
        };
        let report = gradcheck(loss, &vars, 1e-6)?;
        // About 2e-10 for each part.
        assert!(report.relative_difference < 1e-7, "{name}: {}", report.relative_difference);
        assert_eq!(report.checked, 3 * 6 * 6);
    }
    Ok(())
}

#[test]
fn features_stop_after_the_deepest_requested_layer() -> anyhow::Result<()> {
    let net = tiny_net(DType::F32)?;
    // A 1x1 input survives the padded convolutions of block 1 but not the 2x2 pool before block 2.
    let x = Tensor::ones((1, 3, 1, 1), DType::F32, &Device::Cpu)?;
    let f = net.features(&x, &[LayerId::new(1, 1)])?;
    assert_eq!(f[0].dims(), &[1, 2, 1, 1]);
    assert!(net.features(&x, &[LayerId::new(2, 1)]).is_err());
    // Shapes, and the order asked for.
    let x = Tensor::ones((2, 3, 8, 6), DType::F32, &Device::Cpu)?;
    let f = net.features(&x, &[LayerId::new(2, 2), LayerId::new(1, 1)])?;
    assert_eq!((f[0].dims(), f[1].dims()), (&[2, 3, 4, 3][..], &[2, 2, 8, 6][..]));
    let err = net.features(&x, &[LayerId::new(3, 1)]).unwrap_err().to_string();
    assert!(err.contains("conv3_1"), "{err}");
    Ok(())
}

#[test]
fn layer_names_parse_both_ways() -> anyhow::Result<()> {
    assert_eq!("conv4_2".parse::<LayerId>()?, LayerId::new(4, 2));
    assert_eq!("block5_conv1".parse::<LayerId>()?, LayerId::new(5, 1));
    assert_eq!(LayerId::new(3, 4).to_string(), "conv3_4");
    assert_eq!(LayerId::new(3, 4).tensor_prefix(), "block3_conv4");
    for bad in ["conv4", "conv0_1", "block1conv1", "relu1_1", "conv1_x"] {
        assert!(bad.parse::<LayerId>().is_err(), "{bad}");
    }
    Ok(())
}

fn save(
    dir: &tempfile::TempDir,
    name: &str,
    tensors: &HashMap<String, Tensor>,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.path().join(name);
    candle_core::safetensors::save(tensors, &path)?;
    Ok(path)
}

#[test]
fn loader_converts_f16_and_names_bad_tensors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = tiny_config();
    let exact = tiny_tensors(7)?;
    // float16 on disk (exact for these weights), f32 in memory: the same activations.
    let f16: HashMap<String, Tensor> =
        exact.iter().map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F16)?))).collect::<anyhow::Result<_>>()?;
    let path = save(&dir, "ok.safetensors", &f16)?;
    let loaded = VggFeatures::load(&path, &cfg, DType::F32)?;
    let reference = VggFeatures::from_tensors(&exact, &cfg, DType::F64, "exact")?;
    let x = image(4, 8, 8)?.unsqueeze(0)?;
    let got = loaded.features(&x.to_dtype(DType::F32)?, &[LayerId::new(2, 2)])?.remove(0);
    let want = reference.features(&x, &[LayerId::new(2, 2)])?.remove(0);
    let gap = (got.to_dtype(DType::F64)? - want)?.abs()?.max_all()?.to_scalar::<f64>()?;
    assert!(gap < 1e-5, "f16 file vs exact weights: {gap}");

    let file = path.display().to_string();
    let check = |tensors: &HashMap<String, Tensor>, name: &str, needles: &[&str]| -> anyhow::Result<()> {
        let p = save(&dir, name, tensors)?;
        let err = VggFeatures::load(&p, &cfg, DType::F32).unwrap_err().to_string();
        assert!(err.contains(&p.display().to_string()), "{err}");
        for n in needles {
            assert!(err.contains(n), "{err} lacks {n}");
        }
        Ok(())
    };
    let mut missing = f16.clone();
    missing.remove("block2_conv2.bias");
    check(&missing, "missing.safetensors", &["missing tensor block2_conv2.bias"])?;
    let mut shape = f16.clone();
    shape.insert("block1_conv1.weight".into(), Tensor::zeros((2, 3, 1, 1), DType::F16, &Device::Cpu)?);
    check(
        &shape,
        "shape.safetensors",
        &["block1_conv1.weight", "expected shape [2, 3, 3, 3]", "[2, 3, 1, 1]"],
    )?;
    let mut ints = f16.clone();
    ints.insert("block2_conv1.bias".into(), Tensor::zeros(3, DType::U8, &Device::Cpu)?);
    check(&ints, "ints.safetensors", &["block2_conv1.bias", "U8"])?;

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot safetensors")?;
    let err = VggFeatures::load(&junk, &cfg, DType::F32).unwrap_err().to_string();
    assert!(err.contains("junk.safetensors") && err.contains("not a readable safetensors"), "{err}");
    let err = VggFeatures::load(dir.path().join("absent"), &cfg, DType::F32).unwrap_err();
    assert!(matches!(err, dls_vision::Error::Io { .. }), "{err}");
    // Extra tensors (a classifier, say) are ignored; a compute dtype other than f32/f64 is refused.
    let mut extra = f16;
    extra.insert("fc1.weight".into(), Tensor::zeros((2, 2), DType::F16, &Device::Cpu)?);
    assert!(VggFeatures::from_tensors(&extra, &cfg, DType::F32, &file).is_ok());
    assert!(VggFeatures::from_tensors(&extra, &cfg, DType::F16, &file).is_err());
    Ok(())
}

#[test]
fn preprocessing_round_trip_and_values() -> anyhow::Result<()> {
    // Pure red (1, 0, 0) -> BGR (0, 0, 255) - (103.939, 116.779, 123.68).
    let red = Tensor::new(&[1f32, 0., 0.], &Device::Cpu)?.reshape((3, 1, 1))?;
    let p = preprocess(&red)?.flatten_all()?.to_vec1::<f32>()?;
    for (got, want) in p.iter().zip([-103.939f32, -116.779, 131.32]) {
        close(f64::from(*got), f64::from(want), 1e-4);
    }
    let x = image(5, 4, 5)?.to_dtype(DType::F32)?.unsqueeze(0)?;
    let back = deprocess(&preprocess(&x)?)?;
    let gap = (back - &x)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(gap < 1e-6, "{gap}");
    assert!(preprocess(&x.narrow(1, 0, 2)?).is_err());
    Ok(())
}

fn tiny_transfer(method: Method, iterations: usize) -> StyleTransfer {
    StyleTransfer {
        content_layer: LayerId::new(2, 2),
        style_layers: vec![(LayerId::new(1, 1), 0.5), (LayerId::new(2, 1), 0.5)],
        iterations,
        learning_rate: 0.05,
        method,
        tv_weight: 0.1,
        ..StyleTransfer::default()
    }
}

#[test]
fn tiny_runs_lower_the_cost() -> anyhow::Result<()> {
    let net = tiny_net(DType::F32)?;
    let content = image(11, 12, 12)?.to_dtype(DType::F32)?;
    let style = image(12, 12, 12)?.to_dtype(DType::F32)?;
    let mut finals = Vec::new();
    for method in [Method::Adam, Method::Lbfgs { history: 5 }] {
        let cfg = tiny_transfer(method, 40);
        let mut seen = 0;
        let out = cfg.run(&net, &content, &style, |_, _| seen += 1)?;
        let first = out.initial_costs().map_or(f64::NAN, |c| c.total);
        assert_eq!(seen, out.history.len());
        // About 9.8e6 -> 1.1e4 (Adam) and 880 (L-BFGS).
        assert!(out.final_costs.total < 0.01 * first, "{method:?}: {first} -> {}", out.final_costs.total);
        finals.push(out.final_costs.total);
        let (lo, hi) = (out.image.min_all()?.to_scalar::<f32>()?, out.image.max_all()?.to_scalar::<f32>()?);
        assert!(lo >= 0.0 && hi <= 1.0 && out.image.dims() == [3, 12, 12]);
        // Same seed, same run.
        let again = cfg.run(&net, &content, &style, |_, _| {})?;
        assert_eq!(again.final_costs, out.final_costs);
    }
    assert!(finals[1] < finals[0], "L-BFGS {} vs Adam {} after 40 evaluations", finals[1], finals[0]);
    let bad = StyleTransfer { content_layer: LayerId::new(4, 2), ..tiny_transfer(Method::Adam, 1) };
    let err = bad.run(&net, &content, &style, |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("conv4_2"), "{err}");
    Ok(())
}

#[test]
fn fit_pair_resizes_and_crops() -> anyhow::Result<()> {
    let content = image::DynamicImage::new_rgb8(80, 40);
    let style = image::DynamicImage::new_rgb8(30, 30);
    let (c, s) = fit_pair(&content, &style, 64)?;
    assert_eq!((c.dims(), s.dims()), (&[3, 32, 64][..], &[3, 32, 64][..]));
    assert!(fit_pair(&content, &style, 8).is_err());
    Ok(())
}
