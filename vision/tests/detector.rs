//! The YOLO-style detector: shapes, packing of targets, a perfect prediction scoring mAP 1, the
//! loss falling under the fit loop, and configuration errors.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::{FitConfig, Learner, Progress, Trainer};
use dls_foundations::Params;
use dls_vision::detect::boxes::{BBox, CenterBox, Detection};
use dls_vision::detect::detector::{
    detection_dataset, eval_nms, evaluate, pack_truths, postprocess, score_detections, unpack_truths,
    Detector, DetectorConfig,
};
use dls_vision::detect::shapes::{generate, ShapesConfig};
use dls_vision::detect::{encode_targets, Anchor, Truth};

fn small() -> DetectorConfig {
    DetectorConfig { input: 32, widths: vec![8, 8, 16], head_width: 16, ..Default::default() }
}

fn net(cfg: &DetectorConfig, seed: u64) -> Result<(Params, Detector)> {
    let params = Params::new(seed);
    let det = Detector::new(params.var_builder(DType::F32, &Device::Cpu), cfg)?;
    Ok((params, det))
}

#[test]
fn forward_shapes_follow_the_config() -> Result<()> {
    let (_, det) = net(&small(), 0)?;
    let x = Tensor::zeros((3, 3, 32, 32), DType::F32, &Device::Cpu)?;
    assert_eq!(det.try_forward_t(&x, true)?.dims(), &[3, 3 * 8, 4, 4]);
    let cfg =
        DetectorConfig { widths: vec![8, 16], classes: 2, anchors: vec![Anchor::new(9.0, 9.0)], ..small() };
    let (_, det) = net(&cfg, 0)?;
    assert_eq!(det.head().grid, (8, 8));
    assert_eq!(det.try_forward_t(&x, false)?.dims(), &[3, 7, 8, 8]);
    // A wrong input size is an error naming the expected shape.
    let bad = Tensor::zeros((1, 3, 30, 32), DType::F32, &Device::Cpu)?;
    let msg = det.try_forward_t(&bad, false).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("[n > 0, 3, 32, 32]") && msg.contains("[1, 3, 30, 32]"), "{msg}");
    Ok(())
}

#[test]
fn bad_configs_are_errors() -> Result<()> {
    let cases: Vec<(DetectorConfig, &str)> = vec![
        (DetectorConfig { input: 30, ..small() }, "not divisible by 2^3"),
        (DetectorConfig { widths: vec![], ..small() }, "stages"),
        (DetectorConfig { widths: vec![8, 0], ..small() }, "stages"),
        (DetectorConfig { classes: 0, ..small() }, "class"),
        (DetectorConfig { anchors: vec![], ..small() }, "anchor"),
        (DetectorConfig { anchors: vec![Anchor::new(-1.0, 4.0)], ..small() }, "positive"),
        (DetectorConfig { max_boxes: 0, ..small() }, "max_boxes"),
    ];
    for (cfg, want) in cases {
        let msg = net(&cfg, 0).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("detector config") && msg.contains(want), "{cfg:?}: {msg}");
    }
    Ok(())
}

#[test]
fn packing_round_trips_and_rejects_overflow() -> Result<()> {
    let truths = vec![
        vec![Truth { bbox: CenterBox::new(10.0, 12.0, 8.0, 6.0), class: 2 }],
        vec![],
        vec![
            Truth { bbox: CenterBox::new(1.5, 2.5, 3.0, 5.0), class: 0 },
            Truth { bbox: CenterBox::new(20.0, 21.0, 4.0, 4.0), class: 1 },
        ],
    ];
    let y = pack_truths(&truths, 2)?;
    assert_eq!(y.dims(), &[3, 2, 5]);
    assert_eq!(unpack_truths(&y)?, truths);
    let msg = pack_truths(&truths, 1).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("image 2") && msg.contains("at most 1"), "{msg}");
    let msg = unpack_truths(&Tensor::zeros((2, 4), DType::F32, &Device::Cpu)?)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("[n, max_boxes, 5]"), "{msg}");
    let half = Tensor::new(&[[[1f32, 1.0, 2.0, 2.0, 0.5]]], &Device::Cpu)?;
    assert!(unpack_truths(&half).is_err());
    Ok(())
}

#[test]
fn a_perfect_prediction_scores_map_one() -> Result<()> {
    let set = generate(6, &ShapesConfig::default(), 3)?;
    let head = DetectorConfig::default().head()?;
    let targets = encode_targets(&set.boxes, &head)?;
    // Two boxes of one image could share an (anchor, cell); this seed has none, so all survive.
    let assigned: f32 = targets.mask().iter().sum();
    assert_eq!(assigned as usize, set.boxes.iter().map(Vec::len).sum::<usize>());
    let preds = postprocess(&targets.ideal_output(12.0)?, &head, &eval_nms())?;
    let scores = score_detections(&preds, &set.boxes)?;
    assert!((scores.map50 - 1.0).abs() < 1e-9, "{scores:?}");
    assert!(scores.map50_95 > 0.999, "{scores:?}");
    // One box shifted by half its width: IoU 1/3, a miss at 0.5 for that class.
    let mut off = preds.clone();
    if let Some(d) = off.iter_mut().flatten().next() {
        let w = d.bbox.width();
        d.bbox = BBox::new(d.bbox.x1 + w / 2.0, d.bbox.y1, d.bbox.x2 + w / 2.0, d.bbox.y2);
    }
    assert!(score_detections(&off, &set.boxes)?.map50 < 1.0);
    // Mismatched lengths are an error.
    let none: Vec<Vec<Detection>> = vec![Vec::new(); 5];
    assert!(score_detections(&none, &set.boxes).is_err());
    Ok(())
}

#[test]
fn the_fit_loop_lowers_the_loss_on_a_tiny_set() -> Result<()> {
    dls_foundations::threads::set_threads(1);
    let shapes = ShapesConfig { size: 32, min_side: 8, max_side: 16, max_objects: 2, ..Default::default() };
    let set = generate(16, &shapes, 11)?;
    let cfg = DetectorConfig {
        anchors: vec![Anchor::new(9.0, 9.0), Anchor::new(14.0, 14.0)],
        max_boxes: 2,
        ..small()
    };
    let (params, det) = net(&cfg, 5)?;
    let data = detection_dataset(&set.images, &set.boxes, cfg.max_boxes)?;
    let before = det.loss(&data.x, &data.y)?.to_scalar::<f32>()?;
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 1e-2, ..Default::default() })?;
    let fit =
        FitConfig { epochs: 8, batch_size: 8, progress: Progress::Never, seed: 1, ..Default::default() };
    let report = Trainer::new(&params, opt, fit)?.fit(&det, &data, Some(&data))?;
    let losses: Vec<f64> = report.history.epochs.iter().map(|e| e.train_loss).collect();
    // The dev "accuracy" is mAP@0.5, and evaluate agrees with it (before another training-mode
    // pass moves the batch-norm running statistics).
    let dev = report.final_dev.map(|e| e.accuracy).unwrap_or(-1.0);
    let scores = evaluate(&det, &data)?;
    assert!((0.0..=1.0).contains(&dev) && (dev - scores.map50).abs() < 1e-12, "{dev} vs {scores:?}");
    let after = det.loss(&data.x, &data.y)?.to_scalar::<f32>()?;
    assert!(after < 0.5 * before, "loss {before} -> {after}; epochs {losses:?}");
    assert!(losses[losses.len() - 1] < 0.5 * losses[0], "{losses:?}");
    Ok(())
}
