//! face-api's two networks (`dls_vision::face::{FaceRecognitionNet, TinyFaceDetector}`): the
//! layouts of the real manifests (shipped as fixtures, without their 6.6 MB of weights), outputs
//! against an independent PyTorch transcription on weights made from a hash formula (the script
//! is pasted at the end), box decoding and placement worked by hand, and errors that name the
//! tensor at fault.

use candle_core::{DType, Device, Tensor};
use dls_vision::detect::{Anchor, BBox};
use dls_vision::face::{
    crop_face, decode_faces, square_input, DetectConfig, FaceRecognitionNet, Manifest, Placement,
    RecognitionConfig, SquareAlign, TfjsWeights, TinyDetectorConfig, TinyFaceDetector,
};
use image::{Rgb, RgbImage};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/face_nets");

/// A hash of `(i, k)` to `[-1, 1)` in integer arithmetic (`unit` in the script below).
fn unit(i: u64, k: u64) -> f64 {
    let mut h = ((i + 1).wrapping_mul(2_654_435_761) ^ (k * 97 + 13)) & 0xFFFF_FFFF;
    h ^= h >> 15;
    h = (h * 2_246_822_519) & 0xFFFF_FFFF;
    h ^= h >> 13;
    h as f64 / 2f64.powi(31) - 1.0
}

/// Value `i` of tensor `k` (`formula` in the script): He-uniform filters, scale layers near 1,
/// biases within +-0.1.
fn formula(k: usize, name: &str, shape: &[usize], i: usize) -> f32 {
    let s = unit(i as u64, k as u64);
    let leaf = name.rsplit('/').next().unwrap_or(name);
    let v = if name.ends_with("scale/weights") {
        1.0 + 0.2 * s
    } else if leaf == "filters" || leaf == "pointwise_filter" {
        (6.0 / (shape[0] * shape[1] * shape[2]) as f64).sqrt() * s
    } else if leaf == "depthwise_filter" {
        (6.0 / (shape[0] * shape[1]) as f64).sqrt() * s
    } else if name == "fc" {
        (3.0 / shape[0] as f64).sqrt() * s
    } else {
        0.1 * s
    };
    v as f32
}

/// TF.js weights (float32, one group) holding `tensors`, value `i` of tensor `k` from `value`.
fn weights_from(
    tensors: &[(String, Vec<usize>)],
    value: impl Fn(usize, &str, &[usize], usize) -> f32,
) -> anyhow::Result<TfjsWeights> {
    let entries: Vec<String> = tensors
        .iter()
        .map(|(name, shape)| format!(r#"{{"name": "{name}", "shape": {shape:?}, "dtype": "float32"}}"#))
        .collect();
    let json = format!(r#"[{{"paths": ["w.bin"], "weights": [{}]}}]"#, entries.join(", "));
    let mut bytes = Vec::new();
    for (k, (name, shape)) in tensors.iter().enumerate() {
        for i in 0..shape.iter().product::<usize>() {
            bytes.extend_from_slice(&value(k, name, shape, i).to_le_bytes());
        }
    }
    Ok(TfjsWeights::from_bytes(&Manifest::parse(&json, "test.json")?, &[bytes], "test.json", &Device::Cpu)?)
}

/// `[n, 3, s, s]` pixels in `[0, 1)` from the hash (`image` in the script).
fn image(n: usize, s: usize) -> anyhow::Result<Tensor> {
    let v: Vec<f32> = (0..n * 3 * s * s).map(|j| ((unit(j as u64, 1000) + 1.0) / 2.0) as f32).collect();
    Ok(Tensor::from_vec(v, (n, 3, s, s), &Device::Cpu)?)
}

/// Every value within `rel` of the largest expected magnitude.
fn assert_close(got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((f64::from(*g) - w).abs() <= rel * scale, "value {i}: got {g}, want {w} (scale {scale})");
    }
}

fn manifest_layout(file: &str) -> anyhow::Result<Vec<(String, Vec<usize>)>> {
    let m = Manifest::read(format!("{FIXTURES}/{file}"))?;
    Ok(m.groups.iter().flat_map(|g| g.weights.iter().map(|w| (w.name.clone(), w.shape.clone()))).collect())
}

#[test]
fn real_manifests_list_exactly_the_tensors_the_networks_read() -> anyhow::Result<()> {
    let rec = manifest_layout("face_recognition_model-weights_manifest.json")?;
    assert_eq!(rec.len(), 117);
    assert_eq!(rec, FaceRecognitionNet::expected_tensors(&RecognitionConfig::default()));
    let det = manifest_layout("tiny_face_detector_model-weights_manifest.json")?;
    assert_eq!(det.len(), 19);
    assert_eq!(det, TinyFaceDetector::expected_tensors(&TinyDetectorConfig::default()));
    Ok(())
}

/// The descriptor's norm from the script.
const FULL_NORM: f64 = 220.39291598234368;

const SMALL: RecognitionConfig = RecognitionConfig { widths: [4, 8, 16, 32], embedding: 16, input_size: 112 };

fn small_net() -> anyhow::Result<FaceRecognitionNet> {
    let w = weights_from(&FaceRecognitionNet::expected_tensors(&SMALL), formula)?;
    Ok(FaceRecognitionNet::from_weights(&w, &SMALL)?)
}

#[test]
fn small_recognition_net_matches_pytorch() -> anyhow::Result<()> {
    // 112 -> stem 53 -> pool 26 -> 13 (the conv branch, 12, padded) -> 6 -> 3 (2 padded) -> 1:
    // both the padded and the unpadded shortcut, and channel padding in every down block but the last.
    let e = small_net()?.embed(&image(2, 112)?)?;
    assert_eq!(e.dims(), &[2, 16]);
    #[rustfmt::skip]
    let want: [f64; 32] = [
    -1.4575229e+00, -7.1293887e+00, -3.8423049e+00, -2.1914405e-01, -1.4548182e+01, -4.4515737e+00,
    3.6288380e+00, -4.8036763e+00, -1.0883085e+00, 3.0066605e+00, -5.7750468e+00, -6.8732378e-01,
    7.7611931e+00, -6.0457882e-02, -3.3552942e+00, -3.9927262e-01, -2.2804835e+00, -9.9079427e+00,
    -3.3035221e+00, 3.0712096e+00, -1.6057966e+01, -6.4426306e+00, 2.8050158e+00, -4.6877588e+00,
    -1.9583548e+00, 2.7820494e+00, -7.9939425e+00, -3.0329708e+00, 1.0092045e+01, 1.1892239e+00,
    -4.4591434e+00, 1.5118319e+00,
    ];
    assert_close(&e.flatten_all()?.to_vec1::<f32>()?, &want, 2e-5);
    Ok(())
}

#[test]
fn full_size_recognition_net_matches_pytorch() -> anyhow::Result<()> {
    let cfg = RecognitionConfig::default();
    let net = FaceRecognitionNet::from_weights(
        &weights_from(&FaceRecognitionNet::expected_tensors(&cfg), formula)?,
        &cfg,
    )?;
    let e = net.embed(&image(1, 150)?)?;
    assert_eq!(e.dims(), &[1, 128]);
    #[rustfmt::skip]
    let want: [f64; 12] = [
    1.9854579e+01, -3.7796762e+00, -4.2018404e-01, 2.7546792e+01, 1.8689635e+01, -1.4282704e+00,
    -1.3309314e-01, -6.7781793e+00, -8.4059273e-01, 5.0742959e+00, -9.7677226e+00, 6.3505807e+00,
    ];
    let got = e.flatten_all()?.to_vec1::<f32>()?;
    assert_close(&got[..12], &want, 2e-5);
    let norm = got.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
    assert!((norm - FULL_NORM).abs() < 1e-4 * FULL_NORM, "norm {norm}");
    Ok(())
}

#[test]
fn tiny_face_detector_matches_pytorch() -> anyhow::Result<()> {
    // face-api's sizes at a 64x64 input: 62 -> 31 -> 16 -> 8 -> 4 -> 2 -> 2 (odd and even SAME pools).
    let cfg = TinyDetectorConfig::default();
    let det = TinyFaceDetector::from_weights(
        &weights_from(&TinyFaceDetector::expected_tensors(&cfg), formula)?,
        &cfg,
    )?;
    let out = det.forward(&image(1, 64)?)?;
    assert_eq!(out.dims(), &[1, 25, 2, 2]);
    #[rustfmt::skip]
    let want: [f64; 100] = [
    3.3107295e+00, 3.3110454e+00, 5.2819700e+00, 3.4019378e+00, 4.6263645e+00, 1.4362361e+00,
    5.7853891e+00, 3.0466400e+00, -7.9704146e+00, -1.5342056e+00, -7.1515009e+00, -4.7056714e+00,
    5.0637817e+00, 4.5936894e+00, 4.7847365e+00, 4.7994994e+00, -5.2237706e+00, -2.6855424e+00,
    -6.3376967e+00, -3.9398322e+00, -2.2437820e+00, -3.2794830e+00, -3.7643861e+00, -3.2523357e+00,
    8.0345984e+00, 8.2901166e+00, 7.3414435e+00, 5.0745323e+00, 1.7823124e+01, 1.2396221e+01,
    1.3079808e+01, 5.4058924e+00, -1.0912266e+01, -8.9871158e+00, -1.0820767e+01, -6.0783570e+00,
    1.9240941e+00, -1.2177300e+00, 2.4172889e-01, -5.1674026e+00, 5.3489255e+00, 4.0979844e+00,
    3.0450831e-01, 8.1543587e-01, -5.1488726e+00, -4.6127409e+00, -9.1475771e-01, -2.4418163e+00,
    1.5701672e+01, 7.1522696e+00, 1.0723235e+01, 3.5262806e+00, -5.4411151e+00, -7.7851451e+00,
    -1.5341417e+00, -1.3700632e+00, 6.4822533e+00, 2.4049223e+00, 5.3107722e+00, -1.0309386e+00,
    -5.3815232e+00, -4.5893167e+00, -7.1412878e+00, -6.4495745e+00, 6.6108325e+00, 4.1390970e+00,
    4.0024158e+00, 3.0342336e+00, 4.2941457e+00, 2.6974583e+00, 2.3869816e+00, -1.1010196e+00,
    -5.3817004e+00, -5.3308986e+00, 4.1509739e+00, 4.7597313e+00, -1.6921474e+01, -1.2517410e+01,
    -1.4367857e+01, -8.9086714e+00, -6.1875688e+00, -5.5178187e+00, -9.5837750e+00, -6.9026893e+00,
    -1.4331437e+01, -1.4125697e+01, -9.7774186e+00, -9.6017364e+00, -8.6445427e-01, -4.9959242e-01,
    5.6087473e-01, 2.1861400e+00, -5.7183368e+00, -3.9121273e+00, -2.1227035e+00, -3.3788043e+00,
    -7.4260486e+00, -5.8407730e+00, -3.1175480e+00, -3.4263834e-01,
    ];
    assert_close(&out.flatten_all()?.to_vec1::<f32>()?, &want, 2e-5);
    Ok(())
}

#[test]
fn decode_faces_by_hand() -> anyhow::Result<()> {
    // Two anchors (2 x 3 and 1 x 1 cells) on a 2x2 grid: channel 5a + k, value (ch * 2 + row) * 2 + col.
    let anchors = [Anchor::new(2.0, 3.0), Anchor::new(1.0, 1.0)];
    let mut t = vec![0f32; 10 * 2 * 2];
    let mut set = |ch: usize, row: usize, col: usize, v: f32| t[(ch * 2 + row) * 2 + col] = v;
    for (row, col) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        set(4, row, col, -1.0); // sigmoid(-1) = 0.269: dropped at 0.5
        set(9, row, col, -1.0);
    }
    // Row 0, col 1, anchor 1: centre ((1 + 0.5) / 2, (0 + 0.5) / 2), size (2 * 1 / 2, 1 * 1 / 2).
    set(7, 0, 1, 2f32.ln());
    set(9, 0, 1, 2.0); // sigmoid(2) = 0.880797
                       // Row 1, col 1, anchor 0: sigmoid(ln 3) = 0.75, sigmoid(-ln 3) = 0.25, so centre
                       // ((1 + 0.75) / 2, (1 + 0.25) / 2) = (0.875, 0.625) and size (2 / 2, 3 / 2).
    set(0, 1, 1, 3f32.ln());
    set(1, 1, 1, -(3f32.ln()));
    set(4, 1, 1, 1.0); // sigmoid(1) = 0.731059
    let out = Tensor::from_vec(t, (10, 2, 2), &Device::Cpu)?;
    let faces = decode_faces(&out, &anchors, 0.5)?;
    assert_eq!(faces.len(), 2);
    let corners = |b: BBox| [b.x1, b.y1, b.x2, b.y2];
    assert_close(&corners(faces[0].bbox), &[0.25, 0.0, 1.25, 0.5], 1e-6);
    assert_close(&corners(faces[1].bbox), &[0.375, -0.125, 1.375, 1.375], 1e-6);
    assert!((faces[0].score - 0.880_797).abs() < 1e-6 && (faces[1].score - 0.731_059).abs() < 1e-6);
    assert_eq!(decode_faces(&out, &anchors, 0.8)?.len(), 1);
    let bad = decode_faces(&out, &anchors[..1], 0.5).unwrap_err().to_string();
    assert!(bad.contains("expected [5, g, g] for 1 anchors, got [10, 2, 2]"), "{bad}");
    Ok(())
}

#[test]
fn placement_and_square_input() -> anyhow::Result<()> {
    // 1920 x 1280 into 512: scale 4/15, height round(341.33) = 341; boxes map back exactly.
    let p = Placement::new(1920, 1280, 512, SquareAlign::TopLeft);
    assert_eq!((p.scaled, p.offset), ((512, 341), (0, 0)));
    assert_eq!(p.to_original(&BBox::new(0.0, 0.0, 512.0, 341.0)), BBox::new(0.0, 0.0, 1920.0, 1280.0));
    let c = Placement::new(2, 3, 4, SquareAlign::Centre); // (round(2.67), 4): (4 - 3) / 2 = 0 to the left
    assert_eq!((c.scaled, c.offset), ((3, 4), (0, 0)));
    let c = Placement::new(30, 60, 112, SquareAlign::Centre);
    assert_eq!((c.scaled, c.offset), ((56, 112), (28, 0)));
    assert_eq!(c.to_original(&BBox::new(28.0, 0.0, 56.0, 56.0)), BBox::new(0.0, 0.0, 15.0, 30.0));

    // A uniform 4x2 image, colour (255, 0, 51), into 8x8: rows 0..4 at the top left, rows 2..6 centred.
    let img = RgbImage::from_pixel(4, 2, Rgb([255, 0, 51]));
    let (t, p) = square_input(&img, 8, SquareAlign::TopLeft)?;
    assert_eq!((t.dims(), p.scaled), (&[3usize, 8, 8][..], (8, 4)));
    let v = t.to_vec3::<f32>()?;
    assert!(
        (v[0][3][7] - 1.0).abs() < 1.0 / 255.0 && v[0][4][0] == 0.0 && (v[2][0][0] - 0.2).abs() < 1.0 / 255.0
    );
    assert!((t.sum_all()?.to_scalar::<f32>()? - 32.0 * 1.2).abs() < 0.2);
    let v = square_input(&img, 8, SquareAlign::Centre)?.0.to_vec3::<f32>()?;
    assert!(v[0][1][0] == 0.0 && v[0][2][0] > 0.99 && v[0][5][7] > 0.99 && v[0][6][0] == 0.0);
    let bad = square_input(&RgbImage::new(0, 3), 8, SquareAlign::Centre).unwrap_err().to_string();
    assert!(bad.contains("0x3"), "{bad}");
    Ok(())
}

#[test]
fn detect_decodes_suppresses_and_maps_to_the_photo() -> anyhow::Result<()> {
    // All weights zero but conv8's bias: every cell predicts a one-cell box (anchor 0, score
    // sigmoid(5)) and a 1.2-cell box on the same centre (anchor 1, sigmoid(4)) that NMS drops
    // (IoU 1 / 1.44 = 0.69 > 0.4).
    let cfg =
        TinyDetectorConfig { widths: [2; 6], anchors: vec![Anchor::new(1.0, 1.0), Anchor::new(1.2, 1.2)] };
    let w = weights_from(&TinyFaceDetector::expected_tensors(&cfg), |_, name, _, i| match (name, i) {
        ("conv8/bias", 4) => 5.0,
        ("conv8/bias", 9) => 4.0,
        _ => 0.0,
    })?;
    let det = TinyFaceDetector::from_weights(&w, &cfg)?;
    // A 128 x 64 photo fills the top half of the 64 x 64 input (scale 1/2), so the 2x2 grid's
    // bottom row lies on the padding and the top cells map to [0, 64] and [64, 128] x [0, 64].
    let photo = RgbImage::from_pixel(128, 64, Rgb([90, 120, 150]));
    let run = DetectConfig { input_size: 64, ..DetectConfig::default() };
    let faces = det.detect(&photo, &run)?;
    assert_eq!(faces.len(), 2);
    assert_eq!(faces[0].bbox, BBox::new(0.0, 0.0, 64.0, 64.0));
    assert_eq!(faces[1].bbox, BBox::new(64.0, 0.0, 128.0, 64.0));
    assert!((faces[0].score - 0.993_307).abs() < 1e-6);
    assert_eq!(det.detect(&photo, &DetectConfig { max_faces: 1, ..run })?.len(), 1);
    assert!(det.detect(&photo, &DetectConfig { score_threshold: 0.995, ..run })?.is_empty());
    let bad = det.detect(&photo, &DetectConfig { input_size: 100, ..run }).unwrap_err().to_string();
    assert!(bad.contains("multiple of 32, got 100"), "{bad}");
    let bad = det.forward(&Tensor::zeros((1, 3, 48, 48), DType::F32, &Device::Cpu)?).unwrap_err().to_string();
    assert!(bad.contains("[1, 3, 48, 48]"), "{bad}");
    Ok(())
}

#[test]
fn crops_grow_shrink_and_clip() -> anyhow::Result<()> {
    let img = RgbImage::from_fn(10, 10, |x, y| Rgb([x as u8, y as u8, 0]));
    let b = BBox::new(2.0, 2.0, 6.0, 6.0);
    let c = crop_face(&img, &b, 0.25)?; // one pixel a side: [1, 7)
    assert_eq!((c.dimensions(), c.get_pixel(0, 0).0), ((6, 6), [1, 1, 0]));
    assert_eq!(crop_face(&img, &b, 1.0)?.dimensions(), (10, 10)); // [-2, 10) clipped
    assert_eq!(crop_face(&img, &b, -0.25)?.dimensions(), (2, 2)); // [3, 5)
    assert_eq!(crop_face(&img, &BBox::new(2.5, 2.5, 4.5, 4.5), 0.0)?.dimensions(), (3, 3)); // [2, 5)
    let bad = crop_face(&img, &BBox::new(20.0, 20.0, 30.0, 30.0), 0.0).unwrap_err().to_string();
    assert!(bad.contains("outside the 10x10 image"), "{bad}");
    let bad = crop_face(&img, &b, -0.5).unwrap_err().to_string();
    assert!(bad.contains("margin > -0.5"), "{bad}");
    Ok(())
}

#[test]
fn crops_are_padded_centred_and_resized() -> anyhow::Result<()> {
    // A uniform 60 x 30 crop becomes 112 x 56 in the middle of a black 112 x 112 square (rows 28..84).
    let net = small_net()?;
    let colour = [200u8, 100, 50];
    let crop = RgbImage::from_pixel(60, 30, Rgb(colour));
    let by_hand: Vec<f32> = (0..3 * 112 * 112)
        .map(|j| {
            let (c, row) = (j / (112 * 112), j / 112 % 112);
            if (28..84).contains(&row) {
                f32::from(colour[c]) / 255.0
            } else {
                0.0
            }
        })
        .collect();
    let want = net.embed(&Tensor::from_vec(by_hand, (1, 3, 112, 112), &Device::Cpu)?)?;
    let got = net.embed_crops(&[crop])?;
    let want: Vec<f64> = want.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    assert_close(&got.flatten_all()?.to_vec1::<f32>()?, &want, 1e-3);
    assert!(net.embed_crops(&[]).unwrap_err().to_string().contains("no crops"));
    Ok(())
}

#[test]
fn wrong_or_missing_tensors_are_named() -> anyhow::Result<()> {
    let cfg = TinyDetectorConfig::default();
    let mut tensors = TinyFaceDetector::expected_tensors(&cfg);
    tensors[0].1 = vec![3, 3, 3, 8];
    let w = weights_from(&tensors, formula)?;
    let bad = TinyFaceDetector::from_weights(&w, &cfg).unwrap_err().to_string();
    assert!(
        bad.contains("test.json")
            && bad.contains(r#""conv0/filters""#)
            && bad.contains("expected shape [3, 3, 3, 16], got [3, 3, 3, 8]"),
        "{bad}"
    );
    let mut tensors = TinyFaceDetector::expected_tensors(&cfg);
    tensors.retain(|(name, _)| name != "conv3/bias");
    let bad =
        TinyFaceDetector::from_weights(&weights_from(&tensors, formula)?, &cfg).unwrap_err().to_string();
    assert!(bad.contains(r#""conv3/bias""#) && bad.contains("not in the manifest"), "{bad}");

    let mut tensors = FaceRecognitionNet::expected_tensors(&SMALL);
    tensors.retain(|(name, _)| name != "fc");
    let bad =
        FaceRecognitionNet::from_weights(&weights_from(&tensors, formula)?, &SMALL).unwrap_err().to_string();
    assert!(bad.contains(r#""fc""#) && bad.contains("not in the manifest"), "{bad}");
    let mut tensors = FaceRecognitionNet::expected_tensors(&SMALL);
    let at = tensors.iter().position(|(n, _)| n == "conv128_down/conv1/scale/weights").unwrap_or(0);
    tensors[at].1 = vec![17];
    let bad =
        FaceRecognitionNet::from_weights(&weights_from(&tensors, formula)?, &SMALL).unwrap_err().to_string();
    assert!(
        bad.contains("conv128_down/conv1/scale/weights") && bad.contains("expected shape [16], got [17]"),
        "{bad}"
    );

    let w = weights_from(&FaceRecognitionNet::expected_tensors(&SMALL), formula)?;
    let small_input = RecognitionConfig { input_size: 100, ..SMALL };
    let bad = FaceRecognitionNet::from_weights(&w, &small_input).unwrap_err().to_string();
    assert!(bad.contains("100 is too small") && bad.contains("at least 103"), "{bad}");
    let shrinking = RecognitionConfig { widths: [8, 4, 16, 32], ..SMALL };
    let bad = FaceRecognitionNet::from_weights(&w, &shrinking).unwrap_err().to_string();
    assert!(bad.contains("non-decreasing"), "{bad}");
    let net = FaceRecognitionNet::from_weights(&w, &SMALL)?;
    let bad = net.embed(&Tensor::zeros((1, 3, 100, 100), DType::F32, &Device::Cpu)?).unwrap_err().to_string();
    assert!(bad.contains("expected [n, 3, 112, 112]") && bad.contains("got [1, 3, 100, 100]"), "{bad}");
    Ok(())
}

// The PyTorch transcription that produced the expected arrays (torch 2.15, CPU, float64):
// --- facenets.py ---
// """Independent PyTorch transcription of face-api's recognition net and tiny face detector (NCHW)."""
// import math
// import numpy as np
// import torch
// import torch.nn.functional as F
//
// def hwio(t):
//     return t.permute(3, 2, 0, 1)
//
// def tf_conv(x, w, stride, padding):
//     # w in HWIO; TF 'same' with odd kernel and stride 1 = symmetric pad; 'valid' = none
//     k = w.shape[0]
//     if padding == "same":
//         assert stride == 1
//         x = F.pad(x, (k // 2, k // 2, k // 2, k // 2))
//     return F.conv2d(x, hwio(w), stride=stride)
//
// def rec_conv(x, W, prefix, stride, padding, relu):
//     y = tf_conv(x, W[prefix + "/conv/filters"], stride, padding)
//     y = y + W[prefix + "/conv/bias"].view(1, -1, 1, 1)
//     y = y * W[prefix + "/scale/weights"].view(1, -1, 1, 1) + W[prefix + "/scale/biases"].view(1, -1, 1, 1)
//     return F.relu(y) if relu else y
//
// def residual(x, W, name):
//     out = rec_conv(x, W, name + "/conv1", 1, "same", True)
//     out = rec_conv(out, W, name + "/conv2", 1, "same", False)
//     return F.relu(out + x)
//
// def residual_down(x, W, name):
//     out = rec_conv(x, W, name + "/conv1", 2, "valid", True)
//     out = rec_conv(out, W, name + "/conv2", 1, "same", False)
//     pooled = F.avg_pool2d(x, 2, 2)
//     if pooled.shape[1] != out.shape[1]:
//         pooled = torch.cat([pooled, torch.zeros(pooled.shape[0], out.shape[1] - pooled.shape[1], *pooled.shape[2:], dtype=x.dtype)], 1)
//     if pooled.shape[2] != out.shape[2]:
//         out = F.pad(out, (0, pooled.shape[3] - out.shape[3], 0, pooled.shape[2] - out.shape[2]))
//     return F.relu(pooled + out)
//
// MEAN_REC = torch.tensor([122.782, 117.001, 104.298], dtype=torch.float64).view(1, 3, 1, 1)
//
// def recognition(x, W):
//     """x: [n,3,s,s] RGB in [0,1]."""
//     x = (x * 255 - MEAN_REC) / 256
//     out = rec_conv(x, W, "conv32_down", 2, "valid", True)
//     out = F.max_pool2d(out, 3, 2)
//     for n in ["conv32_1", "conv32_2", "conv32_3"]:
//         out = residual(out, W, n)
//     out = residual_down(out, W, "conv64_down")
//     for n in ["conv64_1", "conv64_2", "conv64_3"]:
//         out = residual(out, W, n)
//     out = residual_down(out, W, "conv128_down")
//     for n in ["conv128_1", "conv128_2"]:
//         out = residual(out, W, n)
//     out = residual_down(out, W, "conv256_down")
//     for n in ["conv256_1", "conv256_2"]:
//         out = residual(out, W, n)
//     out = residual_down(out, W, "conv256_down_out")
//     return out.mean((2, 3)) @ W["fc"]
//
// MEAN_DET = torch.tensor([117.001, 114.697, 97.404], dtype=torch.float64).view(1, 3, 1, 1)
//
// def leaky(x):
//     return torch.where(x > 0, x, 0.1 * x)
//
// def same_pool(x, stride):
//     # TF SAME 2x2: pad after by (ceil(n/s)-1)*s + 2 - n, with -inf
//     n = x.shape[2]
//     total = max((math.ceil(n / stride) - 1) * stride + 2 - n, 0)
//     x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2), value=-math.inf)
//     return F.max_pool2d(x, 2, stride)
//
// def detector(x, W):
//     x = (x * 255 - MEAN_DET) / 256
//     out = leaky(F.conv2d(x, hwio(W["conv0/filters"])) + W["conv0/bias"].view(1, -1, 1, 1))
//     for i in range(1, 6):
//         out = same_pool(out, 2)
//         dw = W[f"conv{i}/depthwise_filter"]  # [3,3,c,1]
//         c = dw.shape[2]
//         out = F.conv2d(F.pad(out, (1, 1, 1, 1)), dw.permute(2, 3, 0, 1), groups=c)
//         out = F.conv2d(out, hwio(W[f"conv{i}/pointwise_filter"])) + W[f"conv{i}/bias"].view(1, -1, 1, 1)
//         out = leaky(out)
//     out = same_pool(out, 1)
//     return F.conv2d(out, hwio(W["conv8/filters"])) + W["conv8/bias"].view(1, -1, 1, 1)
//
// def formula_image(n, s):
//     j = torch.arange(n * 3 * s * s, dtype=torch.float64)
//     return (0.5 + 0.45 * torch.sin(0.011 * j)).view(n, 3, s, s)
//
// --- gen.py (prints the arrays above) ---
// import math, sys
// import numpy as np
// import torch
// # (facenets.py above: recognition, detector)
//
// def rec_tensors(widths, emb):
//     w0, w1, w2, w3 = widths
//     def conv(p, k, cin, cout):
//         return [(f"{p}/conv/filters", [k, k, cin, cout]), (f"{p}/conv/bias", [cout]),
//                 (f"{p}/scale/weights", [cout]), (f"{p}/scale/biases", [cout])]
//     blocks = [("conv32_1", w0, w0), ("conv32_2", w0, w0), ("conv32_3", w0, w0),
//               ("conv64_down", w0, w1), ("conv64_1", w1, w1), ("conv64_2", w1, w1), ("conv64_3", w1, w1),
//               ("conv128_down", w1, w2), ("conv128_1", w2, w2), ("conv128_2", w2, w2),
//               ("conv256_down", w2, w3), ("conv256_1", w3, w3), ("conv256_2", w3, w3),
//               ("conv256_down_out", w3, w3)]
//     out = conv("conv32_down", 7, 3, w0)
//     for name, cin, cout in blocks:
//         out += conv(name + "/conv1", 3, cin, cout) + conv(name + "/conv2", 3, cout, cout)
//     return out + [("fc", [w3, emb])]
//
// def det_tensors(widths, anchors):
//     out = [("conv0/filters", [3, 3, 3, widths[0]]), ("conv0/bias", [widths[0]])]
//     for i in range(1, 6):
//         out += [(f"conv{i}/depthwise_filter", [3, 3, widths[i - 1], 1]),
//                 (f"conv{i}/pointwise_filter", [1, 1, widths[i - 1], widths[i]]), (f"conv{i}/bias", [widths[i]])]
//     return out + [("conv8/filters", [1, 1, widths[5], 5 * anchors]), ("conv8/bias", [5 * anchors])]
//
// def unit(i, k):
//     """A hash of (i, k) to [-1, 1): integer arithmetic, identical in Rust."""
//     h = ((i + 1) * 2654435761 ^ (k * 97 + 13)) & 0xFFFFFFFF
//     h ^= h >> 15
//     h = (h * 2246822519) & 0xFFFFFFFF
//     h ^= h >> 13
//     return h / 2.0**31 - 1.0
//
// def formula(tensors):
//     W = {}
//     for k, (name, shape) in enumerate(tensors):
//         i = np.arange(int(np.prod(shape)), dtype=np.uint64)
//         s = unit(i, np.uint64(k)).astype(np.float64)
//         leaf = name.split("/")[-1]
//         if name.endswith("scale/weights"):
//             v = 1 + 0.2 * s
//         elif leaf in ("filters", "pointwise_filter"):
//             v = math.sqrt(6 / (shape[0] * shape[1] * shape[2])) * s
//         elif leaf == "depthwise_filter":
//             v = math.sqrt(6 / (shape[0] * shape[1])) * s
//         elif name == "fc":
//             v = math.sqrt(3 / shape[0]) * s
//         else:
//             v = 0.1 * s
//         W[name] = torch.tensor(v.astype(np.float32).astype(np.float64).reshape(shape))
//     return W
//
// def image(n, s):
//     j = np.arange(n * 3 * s * s, dtype=np.uint64)
//     u = (unit(j, np.uint64(1000)).astype(np.float64) + 1) / 2
//     return torch.tensor(u.astype(np.float32).astype(np.float64).reshape(n, 3, s, s))
//
// def show(name, t):
//     v = t.flatten().tolist()
//     print(f"{name} = [")
//     for a in range(0, len(v), 6):
//         print("    " + ", ".join(f"{x:.7e}" for x in v[a:a + 6]) + ",")
//     print("]")
//
// torch.set_printoptions(precision=8)
// small = recognition(image(2, 112), formula(rec_tensors([4, 8, 16, 32], 16)))
// show("SMALL_RECOGNITION", small)
// full = recognition(image(1, 150), formula(rec_tensors([32, 64, 128, 256], 128)))
// show("FULL_RECOGNITION_FIRST_12", full[0, :12])
// print("FULL_RECOGNITION_NORM", full.norm().item())
// det = detector(image(1, 64), formula(det_tensors([16, 32, 64, 128, 256, 512], 5)))
// show("DETECTOR_64", det)
