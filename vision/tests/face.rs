//! Face recognition pieces: triplet loss and mining, verification, ROC, and the TF.js loader.
//! Expected values are worked by hand in the comments beside them.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_vision::face::{
    accuracy_at, auc, best_threshold, l2_normalize, mine_batch_hard, mine_batch_semi_hard,
    mined_triplet_loss, pairwise_distances, roc_curve, triplet_loss, Distance, Gallery, Manifest, Mining,
    Quantization, TfjsWeights, Triplet, TripletConfig,
};

fn t(a: usize, p: usize, n: usize) -> Triplet {
    Triplet { anchor: a, positive: p, negative: n }
}

fn close(got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "got {got}, want {want}");
}

#[test]
fn triplet_loss_on_explicit_triplets() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let a = Tensor::new(&[[0f64, 0.], [1., 1.]], &dev)?;
    let p = Tensor::new(&[[1f64, 0.], [1., 2.]], &dev)?;
    let n = Tensor::new(&[[2f64, 0.], [1., 1.5]], &dev)?;
    // Squared: (1 - 4 + 0.5)+ = 0 and (1 - 0.25 + 0.5)+ = 1.25; mean 0.625.
    close(triplet_loss(&a, &p, &n, 0.5, Distance::SquaredEuclidean)?.to_scalar::<f64>()?, 0.625, 1e-12);
    // Euclidean: (1 - 2 + 0.5)+ = 0 and (1 - 0.5 + 0.5)+ = 1; mean 0.5.
    close(triplet_loss(&a, &p, &n, 0.5, Distance::Euclidean)?.to_scalar::<f64>()?, 0.5, 1e-9);
    let bad = triplet_loss(&a, &p, &n.narrow(0, 0, 1)?, 0.5, Distance::Euclidean).unwrap_err().to_string();
    assert!(bad.contains("negative") && bad.contains("[1, 2]"), "{bad}");
    let bad = triplet_loss(&a, &p, &n, -1.0, Distance::Euclidean).unwrap_err().to_string();
    assert!(bad.contains("margin"), "{bad}");
    Ok(())
}

/// Five points on a line: class 0 at x = 0, 1, 3 and class 1 at x = 2, 6.
fn line() -> anyhow::Result<(Tensor, Tensor)> {
    let e = Tensor::new(&[[0f64], [1.], [3.], [2.], [6.]], &Device::Cpu)?;
    let labels = Tensor::new(&[0u32, 0, 0, 1, 1], &Device::Cpu)?;
    Ok((e, labels))
}

#[test]
fn batch_hard_mining_picks_farthest_positive_and_nearest_negative() -> anyhow::Result<()> {
    let (e, labels) = line()?;
    let dist = pairwise_distances(&e, Distance::Euclidean)?.to_vec2::<f64>()?;
    let labels_host = labels.to_vec1::<u32>()?;
    // Anchor 0 (x 0): positives 1 (1), 2 (3) -> 2; negatives 3 (2), 4 (6) -> 3.
    // Anchor 1 (x 1): positives 0 (1), 2 (2) -> 2; negatives 3 (1), 4 (5) -> 3.
    // Anchor 2 (x 3): positives 0 (3), 1 (2) -> 0; negatives 3 (1), 4 (3) -> 3.
    // Anchor 3 (x 2): positive 4 (4); negatives 0 (2), 1 (1), 2 (1): tie -> the lower index, 1.
    // Anchor 4 (x 6): positive 3 (4); negatives 0 (6), 1 (5), 2 (3) -> 2.
    let want = vec![t(0, 2, 3), t(1, 2, 3), t(2, 0, 3), t(3, 4, 1), t(4, 3, 2)];
    assert_eq!(mine_batch_hard(&dist, &labels_host)?, want);
    let cfg = TripletConfig { margin: 0.5, distance: Distance::Euclidean, mining: Mining::BatchHard };
    let mined = mined_triplet_loss(&e, &labels, &cfg)?;
    assert_eq!(mined.triplets, want);
    // (3-2+.5) + (2-1+.5) + (3-1+.5) + (4-1+.5) + (4-3+.5) = 10.5, over 5 anchors.
    close(mined.loss.to_scalar::<f64>()?, 2.1, 1e-9);
    assert_eq!(mined.active_fraction, 1.0);
    Ok(())
}

#[test]
fn semi_hard_mining_takes_nearest_farther_negative() -> anyhow::Result<()> {
    let (e, labels) = line()?;
    let dist = pairwise_distances(&e, Distance::Euclidean)?.to_vec2::<f64>()?;
    // (0,1): d 1, negatives 3 (2), 4 (6) both farther -> 3.   (0,2): d 3 -> only 4 (6) is farther.
    // (1,0): d 1, negative 3 is at 1 (not farther) -> 4.      (1,2): d 2 -> 4 (5).
    // (2,0): d 3, negatives 3 (1), 4 (3): none farther -> the farthest, 4.   (2,1): d 2 -> 4 (3).
    // (3,4): d 4, negatives at 2, 1, 1: none farther -> farthest 0.   (4,3): d 4, 0 (6), 1 (5) -> 1.
    let want =
        vec![t(0, 1, 3), t(0, 2, 4), t(1, 0, 4), t(1, 2, 4), t(2, 0, 4), t(2, 1, 4), t(3, 4, 0), t(4, 3, 1)];
    assert_eq!(mine_batch_semi_hard(&dist, &labels.to_vec1::<u32>()?)?, want);
    let cfg = TripletConfig { margin: 0.5, distance: Distance::Euclidean, mining: Mining::BatchSemiHard };
    let mined = mined_triplet_loss(&e, &labels, &cfg)?;
    assert_eq!(mined.triplets, want);
    // Only (2,0,4): 3 - 3 + .5 = .5 and (3,4,0): 4 - 2 + .5 = 2.5 are positive: 3 / 8 pairs.
    close(mined.loss.to_scalar::<f64>()?, 0.375, 1e-9);
    assert_eq!(mined.active_fraction, 0.25);
    Ok(())
}

#[test]
fn mining_rejects_bad_input_and_handles_single_class() -> anyhow::Result<()> {
    let (e, _) = line()?;
    let cfg = TripletConfig::default();
    let short = Tensor::new(&[0u32, 1], &Device::Cpu)?;
    let msg = mined_triplet_loss(&e, &short, &cfg).unwrap_err().to_string();
    assert!(msg.contains("labels") && msg.contains("[5]"), "{msg}");
    let floats = Tensor::new(&[0f32, 1., 0., 1., 0.], &Device::Cpu)?;
    assert!(mined_triplet_loss(&e, &floats, &cfg).unwrap_err().to_string().contains("u32 or i64"));
    let one = Tensor::new(&[2u32; 5], &Device::Cpu)?;
    let mined = mined_triplet_loss(&e, &one, &cfg)?;
    assert!(mined.triplets.is_empty());
    assert_eq!(mined.loss.to_scalar::<f64>()?, 0.0);
    assert!(mine_batch_hard(&[vec![0.0; 2]], &[0, 1]).is_err());
    Ok(())
}

#[test]
fn mined_losses_pass_gradient_check_in_f64() -> anyhow::Result<()> {
    // Six embeddings in 3-d, three identities; values from a smooth formula, no ties.
    let vals: Vec<f64> = (0..18).map(|k| ((k as f64) * 1.37 + 0.4).sin() + 0.1 * k as f64).collect();
    let x = Var::from_tensor(&Tensor::from_vec(vals, (6, 3), &Device::Cpu)?)?;
    let labels = Tensor::new(&[0u32, 0, 1, 1, 2, 2], &Device::Cpu)?;
    for mining in [Mining::BatchHard, Mining::BatchSemiHard] {
        for distance in [Distance::SquaredEuclidean, Distance::Euclidean] {
            let cfg = TripletConfig { margin: 0.3, distance, mining };
            let loss = || {
                let e = l2_normalize(x.as_tensor())
                    .map_err(|e| dls_foundations::Error::invalid("norm", e.to_string()))?;
                let m = mined_triplet_loss(&e, &labels, &cfg)
                    .map_err(|e| dls_foundations::Error::invalid("loss", e.to_string()))?;
                Ok(m.loss)
            };
            assert!(loss()?.to_scalar::<f64>()? > 0.0, "{mining:?} {distance:?}: nothing to check");
            let report = gradcheck(loss, &[("x".to_string(), x.clone())], 1e-6)?;
            assert!(
                report.relative_difference < 1e-7,
                "{mining:?} {distance:?}: {}",
                report.relative_difference
            );
        }
    }
    Ok(())
}

#[test]
fn auc_and_roc_of_a_hand_made_list() -> anyhow::Result<()> {
    // Positives score 0.9 and 0.4, negatives 0.6 and 0.2: 3 of 4 pairs are ordered right.
    let scores = [0.9, 0.4, 0.6, 0.2];
    let pos = [true, true, false, false];
    assert_eq!(auc(&scores, &pos)?, 0.75);
    let roc: Vec<(f64, f64)> = roc_curve(&scores, &pos)?.iter().map(|p| (p.fpr, p.tpr)).collect();
    assert_eq!(roc, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    // A tie between a positive and a negative counts one half: (2 + 0.5 + 1) / 4.
    assert_eq!(auc(&[0.8, 0.6, 0.6, 0.3], &pos)?, 0.875);
    let msg = auc(&[0.1, 0.2], &[true, true]).unwrap_err().to_string();
    assert!(msg.contains("both classes"), "{msg}");
    assert!(auc(&[0.1, f64::NAN], &[true, false]).is_err());
    assert!(auc(&[0.1], &[true, false]).is_err());
    Ok(())
}

#[test]
fn threshold_of_best_accuracy_on_a_toy_dev_split() -> anyhow::Result<()> {
    let d = [0.2, 0.3, 0.5, 0.6, 0.9, 1.1];
    let same = [true, true, false, true, false, false];
    // Cutting between 0.3 and 0.5 gets 5 of 6 (only the 0.6 pair wrong); so does cutting at 0.75
    // (only 0.5 wrong), and the smaller threshold wins.
    let choice = best_threshold(&d, &same)?;
    close(choice.threshold, 0.4, 1e-12);
    close(choice.accuracy, 5.0 / 6.0, 1e-12);
    close(accuracy_at(&d, &same, 0.4)?, 5.0 / 6.0, 1e-12);
    close(accuracy_at(&d, &same, 0.0)?, 0.5, 1e-12);
    assert!(best_threshold(&[], &[]).is_err());
    Ok(())
}

#[test]
fn gallery_identifies_nearest_name_under_threshold() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let mut gallery = Gallery::new(Distance::SquaredEuclidean);
    gallery.add("ann", &Tensor::new(&[0f32, 0.], &dev)?)?;
    gallery.add("bob", &Tensor::new(&[1f32, 0.], &dev)?)?;
    gallery.add("cy", &Tensor::new(&[[0f32, 2.]], &dev)?)?;
    assert_eq!(gallery.len(), 3);
    let m = gallery.identify(&Tensor::new(&[0.9f32, 0.1], &dev)?, Some(0.5))?.expect("bob is close");
    assert_eq!(m.name, "bob");
    close(m.distance, 0.02, 1e-6); // 0.1² + 0.1²
    let far = Tensor::new(&[5f32, 5.], &dev)?;
    assert_eq!(gallery.identify(&far, Some(0.5))?, None);
    // Without a threshold the nearest wins: ann 50, bob 41, cy 34.
    assert_eq!(gallery.identify(&far, None)?.map(|m| m.name), Some("cy".to_string()));
    let msg = gallery.add("dee", &Tensor::new(&[1f32, 2., 3.], &dev)?).unwrap_err().to_string();
    assert!(msg.contains("dee") && msg.contains("expected 2 values, got 3"), "{msg}");
    Ok(())
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tfjs")
}

#[test]
fn tfjs_fixture_loads_with_dequantised_values() -> anyhow::Result<()> {
    // Written by tests/fixtures/tfjs/make_fixtures.py.
    let path = fixtures().join("tiny-weights_manifest.json");
    let manifest = Manifest::read(&path)?;
    assert_eq!(manifest.tensor_count(), 4);
    assert_eq!(manifest.groups[0].byte_len(), 63);
    assert_eq!(
        manifest.groups[0].weights[1].quantization,
        Some(Quantization::Uint8 { scale: 0.1, min: -0.5 })
    );
    let w = TfjsWeights::load(&path, &Device::Cpu)?;
    assert_eq!(w.names(), ["conv/filters", "conv/bias", "dense/weights", "step"]);
    assert_eq!(w.parameter_count(), 12 + 3 + 4 + 1);
    // HWIO [2, 2, 1, 3], value 0.5 * (flat index - 6).
    let filters = w.get_with_shape("conv/filters", &[2, 2, 1, 3])?;
    assert_eq!(filters.flatten_all()?.to_vec1::<f32>()?[..3], [-3.0, -2.5, -2.0]);
    // OIHW output channel 1 holds flat indices 1, 4, 7, 10.
    let oihw = w.conv_filter_oihw("conv/filters")?;
    assert_eq!(oihw.dims(), &[3, 1, 2, 2]);
    assert_eq!(oihw.get(1)?.flatten_all()?.to_vec1::<f32>()?, [-2.5, -1.0, 0.5, 2.0]);
    assert_eq!(w.depthwise_filter_oihw("conv/filters")?.dims(), &[3, 1, 2, 2]);
    // uint8 q = 0, 5, 255 with scale 0.1 and min -0.5.
    let bias = w.get("conv/bias")?.to_vec1::<f32>()?;
    for (got, want) in bias.iter().zip([-0.5, 0.0, 25.0]) {
        close(f64::from(*got), want, 1e-6);
    }
    assert_eq!(w.get("dense/weights")?.to_vec2::<f32>()?, [[1.0, -2.0], [0.5, 65504.0]]);
    let step = w.get("step")?;
    assert_eq!((step.dtype(), step.to_vec1::<i64>()?), (DType::I64, vec![-7]));
    let msg = w.get_with_shape("conv/bias", &[4]).unwrap_err().to_string();
    assert!(
        msg.contains("tiny-weights_manifest.json") && msg.contains("\"conv/bias\"") && msg.contains("[4]"),
        "{msg}"
    );
    assert!(w.get("nope").unwrap_err().to_string().contains("\"nope\""));
    Ok(())
}

#[test]
fn each_corrupt_tfjs_file_is_a_clear_error() {
    let cases = [
        ("missing_shard", "missing_shard.bin (shard of"),
        ("short_shard", "tensor \"step\" needs bytes 59..63 but the shards hold 60"),
        ("long_shard", "2 bytes left over after the last tensor \"step\""),
        ("unknown_dtype", "tensor \"step\": unknown dtype \"complex64\""),
        ("unknown_quantization", "tensor \"conv/bias\": unknown quantization dtype \"int4\""),
        ("bad_shape", "tensor \"conv/filters\": shape entry -2"),
        ("shape_mismatch", "(expected 64 bytes in all)"),
        ("duplicate_name", "tensor \"conv/bias\" appears twice"),
        ("unsafe_path", "shard path \"../tiny.shard1of2.bin\" must be relative"),
        ("not_json", "not JSON"),
    ];
    for (case, want) in cases {
        let path = fixtures().join("bad").join(format!("{case}-weights_manifest.json"));
        let msg = match TfjsWeights::load(&path, &Device::Cpu) {
            Ok(w) => panic!("{case}: loaded {} tensors", w.len()),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(want) && msg.contains(case), "{case}: {msg}");
    }
}
