//! Detection primitives against hand-worked numbers: IoU, NMS, soft-NMS, anchors, YOLO
//! encoding/decoding and loss (gradient-checked), mAP in the VOC and COCO styles.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_vision::detect::shapes::{generate, ShapesConfig};
use dls_vision::detect::{
    average_precision, best_anchor, coco_map, decode, encode_targets, kmeans_anchors, mean_average_precision,
    nms, shape_iou, soft_nms, yolo_loss, Anchor, ApMethod, BBox, CenterBox, Detection, NmsConfig, NmsMode,
    Scored, SoftNmsConfig, SoftNmsMethod, Truth, YoloHead, YoloLossConfig,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() < tol
}

#[test]
fn iou_of_textbook_pairs() {
    // The course's pair: corners (2, 1)-(4, 3) and (1, 2)-(3, 4) share a 1x1 square; union 4 + 4 - 1.
    let (a, b) = (BBox::new(2.0, 1.0, 4.0, 3.0), BBox::new(1.0, 2.0, 3.0, 4.0));
    assert!(close(a.iou(&b).into(), 1.0 / 7.0, 1e-7));
    assert!(close(b.iou(&a).into(), 1.0 / 7.0, 1e-7));
    // The same boxes in centre format.
    let (ca, cb) = (CenterBox::new(3.0, 2.0, 2.0, 2.0), CenterBox::new(2.0, 3.0, 2.0, 2.0));
    assert!(close(ca.iou(&cb).into(), 1.0 / 7.0, 1e-7));
    assert_eq!(a.to_center(), ca);
    assert_eq!(ca.to_corners(), a);
    // Nested: 4 / 16; disjoint: 0; identical: 1; touching edges only: 0.
    assert_eq!(BBox::new(0.0, 0.0, 4.0, 4.0).iou(&BBox::new(1.0, 1.0, 3.0, 3.0)), 0.25);
    assert_eq!(a.iou(&BBox::new(10.0, 10.0, 11.0, 11.0)), 0.0);
    assert_eq!(a.iou(&a), 1.0);
    assert_eq!(BBox::new(0.0, 0.0, 1.0, 1.0).iou(&BBox::new(1.0, 0.0, 2.0, 1.0)), 0.0);
    // Empty boxes do not divide by zero.
    let dot = BBox::new(1.0, 1.0, 1.0, 1.0);
    assert_eq!(dot.iou(&dot), 0.0);
}

fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class: usize) -> Detection {
    Detection { bbox: BBox::new(x1, y1, x2, y2), score, class }
}

/// A (0.9) and B (0.8) overlap with IoU 81 / 119 = 0.6807; C sits on B but is class 1; D is
/// apart; E scores under 0.5.
fn hand_made() -> Vec<Detection> {
    vec![
        det(1.0, 1.0, 11.0, 11.0, 0.8, 0),   // B
        det(20.0, 20.0, 30.0, 30.0, 0.6, 0), // D
        det(0.0, 0.0, 10.0, 10.0, 0.9, 0),   // A
        det(1.0, 1.0, 11.0, 11.0, 0.75, 1),  // C
        det(0.0, 0.0, 10.0, 10.0, 0.3, 0),   // E
    ]
}

#[test]
fn nms_on_hand_made_boxes() -> Result<()> {
    let d = hand_made();
    let cfg = NmsConfig { iou_threshold: 0.5, score_threshold: 0.5, max_boxes: 10, mode: NmsMode::PerClass };
    let scores = |v: Vec<Detection>| v.iter().map(|d| d.score).collect::<Vec<_>>();
    // Per class: B falls to A; C survives (other class); E is under the score threshold.
    assert_eq!(scores(nms(&d, &cfg)?), [0.9, 0.75, 0.6]);
    // Class-agnostic: C falls to A as well.
    assert_eq!(scores(nms(&d, &NmsConfig { mode: NmsMode::ClassAgnostic, ..cfg })?), [0.9, 0.6]);
    // A looser IoU threshold (0.7 > 0.68) keeps B.
    assert_eq!(scores(nms(&d, &NmsConfig { iou_threshold: 0.7, ..cfg })?), [0.9, 0.8, 0.75, 0.6]);
    // At most two boxes.
    assert_eq!(scores(nms(&d, &NmsConfig { max_boxes: 2, ..cfg })?), [0.9, 0.75]);
    // No score threshold: E (same box as A) is suppressed by A, not kept.
    assert_eq!(scores(nms(&d, &NmsConfig { score_threshold: 0.0, ..cfg })?), [0.9, 0.75, 0.6]);
    // Bad input is an error, not a panic.
    assert!(nms(&d, &NmsConfig { iou_threshold: 1.5, ..cfg }).is_err());
    let err = nms(&[det(5.0, 0.0, 1.0, 1.0, 0.9, 0)], &cfg).unwrap_err().to_string();
    assert!(err.contains("detection 0"), "{err}");
    Ok(())
}

#[test]
fn soft_nms_scores() -> Result<()> {
    let d: Vec<Detection> = hand_made().into_iter().filter(|d| d.class == 0 && d.score > 0.5).collect();
    let linear = SoftNmsConfig {
        method: SoftNmsMethod::Linear { iou_threshold: 0.3 },
        score_threshold: 0.1,
        max_boxes: 10,
        mode: NmsMode::PerClass,
    };
    // A is picked; B decays to 0.8 (1 - 81/119) = 0.255462; D (no overlap) keeps 0.6 and comes next.
    let out = soft_nms(&d, &linear)?;
    let s: Vec<f32> = out.iter().map(|d| d.score).collect();
    assert_eq!(s.len(), 3);
    assert!(close(s[0].into(), 0.9, 1e-7) && close(s[1].into(), 0.6, 1e-7));
    assert!(close(s[2].into(), 0.255_462_184_873_949_56, 1e-6), "{s:?}");
    // Raising the floor to 0.3 drops B.
    assert_eq!(soft_nms(&d, &SoftNmsConfig { score_threshold: 0.3, ..linear })?.len(), 2);
    // Gaussian, sigma 0.5: 0.8 exp(-(81/119)² / 0.5) = 0.316709 (python: 0.8*math.exp(-(81/119)**2/0.5)).
    let gauss = SoftNmsConfig { method: SoftNmsMethod::Gaussian { sigma: 0.5 }, ..linear };
    let s: Vec<f32> = soft_nms(&d, &gauss)?.iter().map(|d| d.score).collect();
    assert!(close(s[2].into(), 0.316_708_645_649_168_84, 1e-6), "{s:?}");
    assert!(
        soft_nms(&d, &SoftNmsConfig { method: SoftNmsMethod::Gaussian { sigma: 0.0 }, ..linear }).is_err()
    );
    Ok(())
}

#[test]
fn anchors_by_shape() -> Result<()> {
    // 2x2 against 1x4, centres together: overlap 1x2 = 2, union 4 + 4 - 2 = 6.
    assert!(close(shape_iou((2.0, 2.0), (1.0, 4.0)).into(), 1.0 / 3.0, 1e-7));
    let anchors = [Anchor::new(8.0, 8.0), Anchor::new(16.0, 4.0), Anchor::new(4.0, 16.0)];
    assert_eq!(best_anchor(9.0, 7.0, &anchors), Some(0));
    assert_eq!(best_anchor(20.0, 3.0, &anchors), Some(1));
    assert_eq!(best_anchor(3.0, 20.0, &anchors), Some(2));
    assert_eq!(best_anchor(3.0, 20.0, &[]), None);
    // Two clear clusters, around 2x2 and 10x5.
    let shapes = [(2.0, 2.0), (2.2, 1.8), (1.8, 2.2), (10.0, 5.0), (11.0, 5.0), (9.0, 5.0)];
    let k = kmeans_anchors(&shapes, 2, 20)?;
    assert!(close(k[0].w.into(), 2.0, 1e-5) && close(k[0].h.into(), 2.0, 1e-5), "{k:?}");
    assert!(close(k[1].w.into(), 10.0, 1e-5) && close(k[1].h.into(), 5.0, 1e-5), "{k:?}");
    assert!(kmeans_anchors(&shapes, 7, 20).is_err());
    Ok(())
}

fn head() -> YoloHead {
    YoloHead {
        anchors: vec![Anchor::new(8.0, 8.0), Anchor::new(16.0, 4.0), Anchor::new(4.0, 16.0)],
        classes: 3,
        input: (32, 32),
        grid: (4, 4),
    }
}

#[test]
fn encoding_then_decoding_gives_the_boxes_back() -> Result<()> {
    let cfg = head();
    let truths = vec![
        // Centre (10, 21) in cell column 1, row 2 (8-pixel cells); 9x7 fits anchor 0 best
        // (shape IoU 56/71 against 36/91 and 28/99).
        vec![Truth { bbox: CenterBox::new(10.0, 21.0, 9.0, 7.0), class: 2 }],
        vec![
            Truth { bbox: CenterBox::new(30.0, 2.0, 18.0, 5.0), class: 0 },
            Truth { bbox: CenterBox::new(5.0, 5.0, 3.0, 14.0), class: 1 },
        ],
    ];
    let t = encode_targets(&truths, &cfg)?;
    // values [n, A, 8, 4, 4]: image 0, anchor 0, cell (row 2, col 1).
    let at = |b: usize, a: usize, k: usize, row: usize, col: usize| {
        t.values()[(((b * 3 + a) * 8 + k) * 4 + row) * 4 + col]
    };
    assert!(close(at(0, 0, 0, 2, 1).into(), 0.25, 1e-6)); // 10 / 8 - 1
    assert!(close(at(0, 0, 1, 2, 1).into(), 0.625, 1e-6)); // 21 / 8 - 2
    assert!(close(at(0, 0, 2, 2, 1).into(), (9f64 / 8.0).ln(), 1e-6));
    assert!(close(at(0, 0, 3, 2, 1).into(), (7f64 / 8.0).ln(), 1e-6));
    assert_eq!((at(0, 0, 4, 2, 1), at(0, 0, 7, 2, 1), at(0, 0, 5, 2, 1)), (1.0, 1.0, 0.0));
    assert_eq!(t.mask().iter().sum::<f32>(), 3.0);
    assert_eq!(at(1, 1, 4, 0, 3), 1.0); // 18x5 to the wide anchor, cell (0, 3)
    assert_eq!(at(1, 2, 4, 0, 0), 1.0); // 3x14 to the tall anchor, cell (0, 0)

    let out = t.ideal_output(12.0)?;
    assert_eq!(out.dims(), &[2, 24, 4, 4]);
    let dets = decode(&out, &cfg, 0.5)?;
    assert_eq!((dets[0].len(), dets[1].len()), (1, 2));
    let d = dets[0][0];
    assert_eq!(d.class, 2);
    assert!(d.score > 0.9999);
    let want = CenterBox::new(10.0, 21.0, 9.0, 7.0).to_corners();
    for (got, want) in
        [(d.bbox.x1, want.x1), (d.bbox.y1, want.y1), (d.bbox.x2, want.x2), (d.bbox.y2, want.y2)]
    {
        assert!(close(got.into(), want.into(), 1e-4), "{:?} vs {want:?}", d.bbox);
    }
    let classes: Vec<usize> = dets[1].iter().map(|d| d.class).collect();
    assert_eq!(classes, [0, 1]); // anchor order: wide (class 0), then tall (class 1)
    assert!(close(dets[1][0].bbox.to_center().w.into(), 18.0, 1e-4));

    // Errors name the truth at fault.
    let bad = vec![vec![Truth { bbox: CenterBox::new(10.0, 10.0, 4.0, 4.0), class: 3 }]];
    let err = encode_targets(&bad, &cfg).unwrap_err().to_string();
    assert!(err.contains("truth 0 of image 0"), "{err}");
    assert!(decode(&Tensor::zeros((1, 23, 4, 4), DType::F32, &Device::Cpu)?, &cfg, 0.5).is_err());
    Ok(())
}

/// One cell, two anchors (1x1, 3x3), one class, a 2x2 input; the truth at (0.5, 1.5), 1 x e.
fn one_cell() -> Result<(YoloHead, dls_vision::detect::YoloTargets)> {
    let cfg = YoloHead {
        anchors: vec![Anchor::new(1.0, 1.0), Anchor::new(3.0, 3.0)],
        classes: 1,
        input: (2, 2),
        grid: (1, 1),
    };
    let truth = Truth { bbox: CenterBox::new(0.5, 1.5, 1.0, std::f32::consts::E), class: 0 };
    let t = encode_targets(&[vec![truth]], &cfg)?;
    Ok((cfg, t))
}

#[test]
fn yolo_loss_by_hand() -> Result<()> {
    let (_, t) = one_cell()?;
    // Anchor 0 is responsible (shape IoU 1/e vs e/9). Targets: tx 0.25, ty 0.75, tw 0, th 1.
    // All-zero logits: σ = 0.5 everywhere, so
    //   coord  5 [(0.5 - 0.25)² + (0.5 - 0.75)² + 0² + 1²] = 5.625
    //   obj    ln 2, class ln 2 (anchor 0); no-obj 0.5 ln 2 (anchor 1)
    // total 5.625 + 2.5 ln 2 = 7.357868 (python: 5*1.125+2.5*math.log(2)).
    let pred = Tensor::zeros((1, 12, 1, 1), DType::F64, &Device::Cpu)?;
    let loss = yolo_loss(&pred, &t, &YoloLossConfig::default())?.to_scalar::<f64>()?;
    assert!(close(loss, 7.357_867_951_399_863_5, 1e-6), "{loss}");
    // The ideal output scores far lower (only the clamped offsets and ±12 logits remain).
    let ideal = t.ideal_output(12.0)?.to_dtype(DType::F64)?;
    let low = yolo_loss(&ideal, &t, &YoloLossConfig::default())?.to_scalar::<f64>()?;
    assert!(low < 1e-3, "{low}");
    // Anchor 1's guess (3x3 at (1, 1)) overlaps the truth by 2.359 / 9.359 = 0.252: an ignore IoU
    // of 0.2 drops its no-object term, leaving 5.625 + 2 ln 2 = 7.011294.
    let cfg = YoloLossConfig { ignore_iou: 0.2, ..Default::default() };
    let ignored = yolo_loss(&pred, &t, &cfg)?.to_scalar::<f64>()?;
    assert!(close(ignored, 7.011_294_361_119_891, 1e-6), "{ignored}");
    // Wrong shape: an error naming the expectation.
    let err =
        yolo_loss(&Tensor::zeros((1, 11, 1, 1), DType::F64, &Device::Cpu)?, &t, &YoloLossConfig::default());
    assert!(err.unwrap_err().to_string().contains("expected [n, 12, 1, 1]"));
    Ok(())
}

#[test]
fn yolo_loss_gradient_checks() -> Result<()> {
    let cfg = head();
    let truths = vec![vec![
        Truth { bbox: CenterBox::new(10.0, 21.0, 9.0, 7.0), class: 2 },
        Truth { bbox: CenterBox::new(30.0, 2.0, 18.0, 5.0), class: 0 },
    ]];
    let t = encode_targets(&truths, &YoloHead { grid: (2, 2), ..cfg.clone() })?;
    let init: Vec<f64> = (0..24 * 4).map(|i| (0.37 * i as f64).sin() * 1.5).collect();
    let pred = Var::from_tensor(&Tensor::from_vec(init, (1, 24, 2, 2), &Device::Cpu)?)?;
    let w = YoloLossConfig::default();
    let loss = || {
        yolo_loss(pred.as_tensor(), &t, &w)
            .map_err(|e| dls_foundations::Error::invalid("loss", e.to_string()))
    };
    let report = gradcheck(loss, &[("pred".to_string(), pred.clone())], 1e-6)?;
    assert!(report.relative_difference < 1e-7, "{report:?}");
    Ok(())
}

fn sc(image: usize, class: usize, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Scored {
    Scored { image, class, score, bbox: BBox::new(x1, y1, x2, y2) }
}

/// Three ground-truth boxes of class 0 over two images and five predictions, worked by hand:
///
/// | pred | score | image | outcome                           | recall | precision |
/// |------|-------|-------|-----------------------------------|--------|-----------|
/// | P1   | 0.9   | 0     | TP (IoU 1 with G1)                | 1/3    | 1         |
/// | P2   | 0.8   | 1     | FP (no overlap)                   | 1/3    | 1/2       |
/// | P3   | 0.7   | 1     | TP (IoU 90/110 = 0.818 with G2)   | 2/3    | 2/3       |
/// | P4   | 0.6   | 0     | FP (G1 already matched)           | 2/3    | 1/2       |
/// | P5   | 0.5   | 1     | TP (IoU 1 with G3)                | 1      | 3/5       |
///
/// Precision envelope: 1, 2/3, 2/3, 3/5, 3/5.
/// - all-point: 1/3 · 1 + 1/3 · 2/3 + 1/3 · 3/5 = 0.755556
/// - VOC 11-point: recall 0..0.3 → 1 (4 points), 0.4..0.6 → 2/3 (3), 0.7..1 → 3/5 (4):
///   8.4 / 11 = 0.763636
/// - COCO 101-point: 0..0.33 → 1 (34 points), 0.34..0.66 → 2/3 (33), 0.67..1 → 3/5 (34):
///   76.4 / 101 = 0.756436
fn scored_case() -> (Vec<Scored>, Vec<Scored>) {
    let truths = vec![
        sc(0, 0, 1.0, 0.0, 0.0, 10.0, 10.0),
        sc(1, 0, 1.0, 0.0, 0.0, 10.0, 10.0),
        sc(1, 0, 1.0, 20.0, 20.0, 30.0, 30.0),
    ];
    let preds = vec![
        sc(1, 0, 0.7, 1.0, 0.0, 11.0, 10.0),
        sc(0, 0, 0.9, 0.0, 0.0, 10.0, 10.0),
        sc(1, 0, 0.5, 20.0, 20.0, 30.0, 30.0),
        sc(1, 0, 0.8, 50.0, 50.0, 60.0, 60.0),
        sc(0, 0, 0.6, 0.0, 0.0, 10.0, 10.0),
    ];
    (preds, truths)
}

#[test]
fn map_on_a_hand_scored_case() -> Result<()> {
    let (preds, truths) = scored_case();
    let ap = |m| mean_average_precision(&preds, &truths, 0.5, m).map(|r| r.map);
    assert!(close(ap(ApMethod::AllPoint)?, 0.755_555_555_555_555_5, 1e-9));
    assert!(close(ap(ApMethod::Voc11)?, 0.763_636_363_636_363_7, 1e-9));
    assert!(close(ap(ApMethod::Coco101)?, 0.756_435_643_564_356_4, 1e-9));
    // At IoU 0.85 and above P3 misses too: TPs at P1 (1/3, 1) and P5 (2/3, 2/5); recall never
    // reaches 0.67, so COCO gives (34 + 33 · 0.4) / 101 = 0.467327. mAP@0.5:0.95 then averages
    // seven thresholds at 0.756436 and three at 0.467327: 676.4 / 1010 = 0.669703.
    assert!(close(mean_average_precision(&preds, &truths, 0.85, ApMethod::Coco101)?.map, 47.2 / 101.0, 1e-9));
    assert!(close(coco_map(&preds, &truths)?, 676.4 / 1010.0, 1e-9));
    // A second class, found perfectly: the mean of 0.755556 and 1.
    let mut p2 = preds.clone();
    let mut t2 = truths.clone();
    t2.push(sc(0, 1, 1.0, 5.0, 5.0, 9.0, 9.0));
    p2.push(sc(0, 1, 0.4, 5.0, 5.0, 9.0, 9.0));
    let r = mean_average_precision(&p2, &t2, 0.5, ApMethod::AllPoint)?;
    assert!(close(r.map, 0.877_777_777_777_777_8, 1e-9));
    assert_eq!(r.per_class.len(), 2);
    // A class with truth and no predictions scores 0; predictions of a class without truth are ignored.
    t2.push(sc(1, 2, 1.0, 0.0, 0.0, 1.0, 1.0));
    p2.push(sc(1, 3, 0.9, 0.0, 0.0, 1.0, 1.0));
    let r = mean_average_precision(&p2, &t2, 0.5, ApMethod::AllPoint)?;
    assert_eq!(r.per_class.get(&2), Some(&0.0));
    assert!(close(r.map, 1.755_555_555_555_555_5 / 3.0, 1e-9));
    assert!(mean_average_precision(&p2, &t2, 0.0, ApMethod::AllPoint).is_err());
    // The curve summary on its own.
    assert!(close(average_precision(&[0.5, 1.0], &[1.0, 0.5], ApMethod::AllPoint), 0.75, 1e-12));
    Ok(())
}

#[test]
fn shapes_are_seeded_and_exactly_labelled() -> Result<()> {
    let cfg = ShapesConfig::default();
    let set = generate(40, &cfg, 3)?;
    let again = generate(40, &cfg, 3)?;
    let other = generate(40, &cfg, 4)?;
    let flat = |t: &Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>());
    assert_eq!(flat(&set.images)?, flat(&again.images)?);
    assert_ne!(flat(&set.images)?, flat(&other.images)?);
    let mut per_class = [0usize; 3];
    let s = cfg.size;
    for (i, boxes) in set.boxes.iter().enumerate() {
        assert!((1..=3).contains(&boxes.len()));
        let img: Vec<f32> = set.images.get(i)?.flatten_all()?.to_vec1()?;
        let px = |x: usize, y: usize| [img[y * s + x], img[s * s + y * s + x], img[2 * s * s + y * s + x]];
        for t in boxes {
            per_class[t.class] += 1;
            let b = t.bbox.to_corners();
            assert!(b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= s as f32 && b.y2 <= s as f32, "{b:?}");
            assert!(b.width() >= 12.0 && b.width() <= 32.0);
            if boxes.len() == 1 {
                let (x1, y1, x2, y2) = (b.x1 as usize, b.y1 as usize, b.x2 as usize, b.y2 as usize);
                let centre = px((x1 + x2) / 2, (y1 + y2) / 2);
                if t.class == 0 {
                    // A rectangle fills its box with one colour.
                    assert!((y1..y2).all(|y| (x1..x2).all(|x| px(x, y) == centre)));
                } else {
                    // Ellipses and triangles leave the box's top-left corner to the background.
                    assert_ne!(px(x1, y1), centre);
                }
            }
        }
    }
    assert!(per_class.iter().all(|&c| c >= 10), "{per_class:?}");
    assert!(generate(1, &ShapesConfig { max_side: 100, ..cfg }, 0).is_err());
    Ok(())
}
