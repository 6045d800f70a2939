//! The darknet loader: a hand-made miniature of YOLOv3-tiny (fixtures/darknet/tiny.cfg and
//! tiny.weights, written by fixtures/darknet/make_tiny.py) checked against a PyTorch rendering of
//! the same network, darknet's two header versions, darknet's size-2 stride-1 pooling, and files
//! that must fail with clear errors.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use dls_vision::darknet::{
    detect_image, letterbox, load, parse_cfg, parse_weights, read_weights, Darknet, Letterbox,
};
use dls_vision::detect::{Anchor, BBox, NmsConfig, NmsMode};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/darknet");

fn cfg_text() -> Result<String> {
    Ok(std::fs::read_to_string(format!("{DIR}/tiny.cfg"))?)
}

fn weights_bytes() -> Result<Vec<u8>> {
    Ok(std::fs::read(format!("{DIR}/tiny.weights"))?)
}

#[test]
fn tiny_network_matches_pytorch() -> Result<()> {
    let net = load(format!("{DIR}/tiny.cfg"), format!("{DIR}/tiny.weights"), &Device::Cpu)?;
    let heads = net.heads();
    assert_eq!(heads.len(), 2);
    assert_eq!((heads[0].grid, heads[1].grid), ((4, 4), (8, 8)));
    assert_eq!(heads[0].anchors, [Anchor::new(4.0, 4.0), Anchor::new(6.0, 5.0)]);
    assert_eq!(heads[1].anchors, [Anchor::new(1.0, 1.0), Anchor::new(2.0, 3.0)]);
    let x: Vec<f32> = (0..3 * 64).map(|i| 0.5 + 0.5 * (0.3 * i as f32).sin()).collect();
    let out = net.forward(&Tensor::from_vec(x, (1, 3, 8, 8), &Device::Cpu)?)?;
    assert_eq!(out[0].dims(), &[1, 14, 4, 4]);
    assert_eq!(out[1].dims(), &[1, 14, 8, 8]);
    // From make_tiny.py (PyTorch, f64):
    // [1, 14, 4, 4] sum -5.421957 abs sum 107.264272
    //   first ['0.407253', '0.330661', '0.330661', '-0.126161'] [0,13,-1,-1] 0.827598
    // [1, 14, 8, 8] sum 22.019260 abs sum 400.775095
    //   first ['0.854099', '0.425591', '0.389842', '0.372341'] [0,13,-1,-1] -0.448268
    let expect = [
        (-5.421957, 107.264272, [0.407253, 0.330661, 0.330661, -0.126161], 0.827598),
        (22.019260, 400.775095, [0.854099, 0.425591, 0.389842, 0.372341], -0.448268),
    ];
    for (o, (sum, abs, first, last)) in out.iter().zip(expect) {
        let v: Vec<f32> = o.flatten_all()?.to_vec1()?;
        let got_sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
        let got_abs: f64 = v.iter().map(|&x| f64::from(x).abs()).sum();
        assert!((got_sum - sum).abs() < 1e-4, "sum {got_sum} vs {sum}");
        assert!((got_abs - abs).abs() < 1e-4, "abs sum {got_abs} vs {abs}");
        for (g, w) in v.iter().zip(first) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{g} vs {w}");
        }
        assert!((f64::from(v[v.len() - 1]) - last).abs() < 1e-5);
    }
    Ok(())
}

#[test]
fn headers_of_both_versions() -> Result<()> {
    let w = read_weights(format!("{DIR}/tiny.weights"))?;
    assert_eq!(
        (w.header.major, w.header.minor, w.header.revision, w.header.seen, w.header.len),
        (0, 2, 0, 12345, 20)
    );
    assert_eq!(w.values.len(), 468);
    // Version 0.1: `seen` is 4 bytes, the header 16; the same floats follow.
    let bytes = weights_bytes()?;
    let mut old = Vec::new();
    for v in [0i32, 1, 0, 777] {
        old.extend(v.to_le_bytes());
    }
    old.extend(&bytes[20..]);
    let o = parse_weights(&old, "old.weights")?;
    assert_eq!((o.header.minor, o.header.seen, o.header.len), (1, 777, 16));
    assert_eq!(o.values, w.values);
    let cfg = parse_cfg(&cfg_text()?, "tiny.cfg")?;
    assert_eq!(cfg.weights_len()?, 468);
    Darknet::new(&cfg, &o, &Device::Cpu)?;
    Ok(())
}

#[test]
fn wrong_weight_files_say_what_was_expected() -> Result<()> {
    let cfg = parse_cfg(&cfg_text()?, "tiny.cfg")?;
    let bytes = weights_bytes()?;
    let build = |b: &[u8]| parse_weights(b, "bad.weights").and_then(|w| Darknet::new(&cfg, &w, &Device::Cpu));
    let truncated = build(&bytes[..bytes.len() - 8]).unwrap_err().to_string();
    assert!(truncated.contains("bad.weights") && truncated.contains("truncated"), "{truncated}");
    assert!(truncated.contains("needs 468 floats") && truncated.contains("has 466"), "{truncated}");
    let mut long = bytes.clone();
    long.extend(1f32.to_le_bytes());
    let long = build(&long).unwrap_err().to_string();
    assert!(long.contains("too long") && long.contains("468") && long.contains("469"), "{long}");
    let ragged = build(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
    assert!(ragged.contains("not a whole number of f32"), "{ragged}");
    let short = build(&bytes[..10]).unwrap_err().to_string();
    assert!(short.contains("shorter than a weights header"), "{short}");
    // The right count for another cfg is still wrong for this one.
    let other =
        parse_cfg("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=1\nsize=1\n", "o.cfg")?;
    let err = Darknet::new(&other, &parse_weights(&bytes, "tiny.weights")?, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("needs 4 floats"), "{err}");
    Ok(())
}

#[test]
fn cfg_errors_name_the_line() -> Result<()> {
    let text = cfg_text()?;
    let err = |t: &str| parse_cfg(t, "bad.cfg").unwrap_err().to_string();
    // Line 10 of tiny.cfg is `filters=4` of the first convolution.
    let typo = text.replacen("filters=4", "filter=4", 1);
    let e = err(&typo);
    assert!(e.contains("bad.cfg") && e.contains("line 10") && e.contains("unknown key 'filter'"), "{e}");
    let e = err(&text.replacen("[upsample]", "[shortcut]", 1));
    assert!(e.contains("line 56") && e.contains("unknown section [shortcut]"), "{e}");
    let e = err(&text.replacen("layers = -4", "layers = -40", 1));
    assert!(e.contains("route to layer -40"), "{e}");
    let e = err(&text.replacen("size=3", "size=three", 1));
    assert!(e.contains("line 11") && e.contains("'size' must be an integer"), "{e}");
    let e = err(&text.replacen("mask = 2,3", "mask = 2,9", 1));
    assert!(e.contains("mask entry 9 but only 4 anchors"), "{e}");
    let e = err("[convolutional]\nfilters=1\n");
    assert!(e.contains("line 1") && e.contains("expected [net] first"), "{e}");
    let e = err("[net]\nwidth=8\nheight=8\nnonsense\n");
    assert!(e.contains("line 4") && e.contains("expected key=value"), "{e}");
    let e = err("[net]\nwidth=8\nwidth=9\nheight=8\n");
    assert!(e.contains("line 3") && e.contains("duplicate key 'width'"), "{e}");
    // A head whose input has the wrong number of channels.
    let wrong = text.replacen("filters=14", "filters=13", 1);
    let cfg = parse_cfg(&wrong, "wrong.cfg")?;
    let e = cfg.weights_len().unwrap_err().to_string();
    assert!(e.contains("yolo head needs 14 input channels, got 13"), "{e}");
    Ok(())
}

#[test]
fn size_two_stride_one_pool_pads_at_the_end() -> Result<()> {
    // Darknet pads `size - 1 = 1` pixel after (never before) with values that never win, so the
    // map keeps its size: [[1, 5], [3, 2]] becomes [[5, 5], [3, 2]].
    let cfg = parse_cfg(
        "[net]\nwidth=2\nheight=2\nchannels=6\n[maxpool]\nsize=2\nstride=1\n\
         [yolo]\nmask=0\nanchors=1,1\nclasses=1\n",
        "pool.cfg",
    )?;
    let net = Darknet::new(
        &cfg,
        &parse_weights(&[0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "w")?,
        &Device::Cpu,
    )?;
    let x =
        Tensor::new(&[[1f32, 5.0], [3.0, 2.0]], &Device::Cpu)?.reshape((1, 1, 2, 2))?.repeat((1, 6, 1, 1))?;
    let y = net.forward(&x)?;
    assert_eq!(y[0].get(0)?.get(3)?.flatten_all()?.to_vec1::<f32>()?, [5.0, 5.0, 3.0, 2.0]);
    // A 2/2 pool on an odd size keeps the last row and column (darknet's (n + 1 - 2) / 2 + 1).
    let odd = parse_cfg(
        "[net]\nwidth=5\nheight=5\nchannels=6\n[maxpool]\nsize=2\nstride=2\n\
         [yolo]\nmask=0\nanchors=1,1\nclasses=1\n",
        "odd.cfg",
    )?;
    let net = Darknet::new(
        &odd,
        &parse_weights(&[0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "w")?,
        &Device::Cpu,
    )?;
    assert_eq!(net.heads()[0].grid, (3, 3));
    let y = net.forward(&Tensor::arange(0f32, 150.0, &Device::Cpu)?.reshape((1, 6, 5, 5))?)?;
    assert_eq!(
        y[0].get(0)?.get(0)?.flatten_all()?.to_vec1::<f32>()?,
        [6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]
    );
    // The input must have the cfg's size.
    assert!(net.forward(&Tensor::zeros((1, 6, 4, 4), DType::F32, &Device::Cpu)?).is_err());
    Ok(())
}

#[test]
fn letterbox_places_and_maps_back() -> Result<()> {
    // 640x427 into 416x416: width limits, 427 * 416 / 640 = 277 rows, (416 - 277) / 2 = 69 above.
    let lb = Letterbox::new(640, 427, (416, 416));
    assert_eq!((lb.scaled, lb.offset), ((416, 277), (0, 69)));
    let b = lb.to_original(&BBox::new(0.0, 69.0, 208.0, 69.0 + 138.5));
    assert!((b.x2 - 320.0).abs() < 1e-3 && b.y1.abs() < 1e-3 && (b.y2 - 213.5).abs() < 1e-2, "{b:?}");
    // A box reaching into the grey border is clipped to the photo.
    assert_eq!(lb.to_original(&BBox::new(-10.0, 0.0, 500.0, 400.0)), BBox::new(0.0, 0.0, 640.0, 427.0));
    // The tensor: grey border, the photo in the middle.
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(4, 2, image::Rgb([255, 0, 0])));
    let (t, lb) = letterbox(&img, (8, 8))?;
    assert_eq!((lb.scaled, lb.offset), ((8, 4), (0, 2)));
    let red: Vec<f32> = t.get(0)?.flatten_all()?.to_vec1()?;
    assert_eq!((red[0], red[2 * 8], red[6 * 8]), (0.5, 1.0, 0.5));
    Ok(())
}

#[test]
fn photo_to_boxes_pipeline() -> Result<()> {
    let net = load(format!("{DIR}/tiny.cfg"), format!("{DIR}/tiny.weights"), &Device::Cpu)?;
    // A 16x8 photo: letterboxed to 8x4 inside the 8x8 input, boxes mapped back and clipped.
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(16, 8, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 30) as u8, 128])
    }));
    let cfg =
        NmsConfig { iou_threshold: 1.0, score_threshold: 0.0, max_boxes: 1000, mode: NmsMode::PerClass };
    let all = detect_image(&net, &img, &cfg)?;
    // Every (anchor, cell, class): 2 x 16 x 2 on the first head, 2 x 64 x 2 on the second.
    assert_eq!(all.len(), 64 + 256);
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(all
        .iter()
        .all(|d| d.bbox.x1 >= 0.0 && d.bbox.x2 <= 16.0 && d.bbox.y1 >= 0.0 && d.bbox.y2 <= 8.0));
    let strict = detect_image(&net, &img, &NmsConfig { iou_threshold: 0.3, score_threshold: 0.2, ..cfg })?;
    assert!(strict.len() < all.len() && strict.iter().all(|d| d.score >= 0.2));
    Ok(())
}

/// The shipped cfg (written beside the weights by `cargo xtask download yolov3-tiny`) asks for the
/// float count that download checks the weights file against, and names 80 classes for its heads.
#[test]
fn shipped_yolov3_tiny_cfg_matches_the_download_check() -> Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/yolov3-tiny");
    let cfg = parse_cfg(&std::fs::read_to_string(format!("{dir}/yolov3-tiny.cfg"))?, "yolov3-tiny.cfg")?;
    assert_eq!(cfg.weights_len()?, 8_858_734);
    let names = std::fs::read_to_string(format!("{dir}/coco.names"))?;
    assert_eq!(names.lines().count(), 80);
    assert_eq!(names.lines().nth(41), Some("cup"));
    Ok(())
}
