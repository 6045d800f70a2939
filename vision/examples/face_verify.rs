//! Sheet 21: face verification with face-api's pretrained networks, built in candle from their
//! TF.js weights: the Tiny Face Detector finds faces, the ResNet-34-like recognition network turns
//! each into a 128-d descriptor, and faces closer than 0.6 (Euclidean) are the same person.
//!
//! ```text
//! cargo run --release -p dls-vision --example face_verify -- --json out/face.json --out out/faces
//! ```
//! By default it reads the six face-api demo photos and the astronaut portrait from
//! ../shared/data/images, detects at 512x512 and finds 22 of their 23 faces (3, 2, 3, 4, 5, 4 and
//! 1; the woman in profile in faces-sample2 is missed; face-api's default 416 finds 21 with one
//! spurious box). Over the 231 pairs the distances run from 0.38 to 0.86 (mean 0.67), and 46 fall
//! under 0.6, 12 of them among the 29 pairs of faces sharing a photo, who are different people: on
//! crops of young women taken straight from the detector's boxes, the dlib descriptor separates
//! poorly (face-api crops by its 68-point landmark network's box, not used here). The same face mirrored lands 0.31 away on average, cropped
//! 5% tighter 0.21, at half the resolution 0.06. About 3-4 s on 2 cores.
//! `--weights DIR` holds face-api's `tiny_face_detector_model-weights_manifest.json`,
//! `face_recognition_model-weights_manifest.json` and their `.bin` files (by default the first of
//! $DLS_DATA/face-api, ~/.cache/dls-rs/face-api and ../shared/data/weights/face-api that has them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use clap::Parser;
use dls_foundations::checkpoint::write_atomically;
use dls_foundations::report::Figures;
use dls_vision::detect::Detection;
use dls_vision::draw::draw_detections;
use dls_vision::face::{
    crop_face, pairwise_distances, DetectConfig, Distance, FaceRecognitionNet, TinyFaceDetector,
    SAME_PERSON_DISTANCE,
};
use image::RgbImage;

const DETECTOR: &str = "tiny_face_detector_model-weights_manifest.json";
const RECOGNITION: &str = "face_recognition_model-weights_manifest.json";

#[derive(Parser)]
struct Args {
    /// Photos (PNG or JPEG); default: faces-sample1..6.jpg and astronaut.png in ../shared/data/images.
    #[arg(long, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Folder with face-api's two manifests and .bin files (default: the first of
    /// $DLS_DATA/face-api, ~/.cache/dls-rs/face-api, ../shared/data/weights/face-api that has them).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Detector input side, a multiple of 32 (larger finds smaller faces).
    #[arg(long, default_value_t = 512)]
    input_size: usize,
    /// Smallest detection score kept.
    #[arg(long, default_value_t = 0.5)]
    score: f32,
    /// IoU above which NMS drops the lower-scoring of two boxes.
    #[arg(long, default_value_t = 0.4)]
    iou: f32,
    /// Margin added around each box before cropping, as a fraction of its width and height on each
    /// side (negative shrinks). The detector's boxes already cover the whole face, about what
    /// face-api crops for recognition (the landmarks' box plus 10% a side), so none by default.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    margin: f32,
    /// Distance under which two faces are called the same person.
    #[arg(long, default_value_t = SAME_PERSON_DISTANCE)]
    threshold: f64,
    /// Write each photo with its numbered boxes drawn here (PNG).
    #[arg(long)]
    out: Option<PathBuf>,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The weights folder: the one given, else the first usual place holding both manifests.
fn weights_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    let mut places = Vec::new();
    match given {
        Some(dir) => places.push(dir),
        None => {
            if let Some(root) = std::env::var_os("DLS_DATA").filter(|r| !r.is_empty()) {
                places.push(PathBuf::from(root).join("face-api"));
            }
            if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                places.push(PathBuf::from(home).join(".cache/dls-rs/face-api"));
            }
            places.push(PathBuf::from("../shared/data/weights/face-api"));
        }
    }
    let has = |p: &Path| [DETECTOR, RECOGNITION].iter().all(|f| p.join(f).is_file());
    match places.iter().find(|p| has(p)) {
        Some(p) => Ok(p.clone()),
        None => anyhow::bail!(
            "face-api weights not found: looked for {DETECTOR} and {RECOGNITION} (with their .bin files) in \
             {places:?}; copy them from the npm package @vladmandic/face-api (model/) into one of these \
             folders or pass --weights DIR"
        ),
    }
}

struct Face {
    image: usize,
    index: usize,
    det: Detection,
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let dir = weights_dir(args.weights.clone())?;
    let detector = TinyFaceDetector::load(dir.join(DETECTOR), &Device::Cpu)
        .with_context(|| format!("loading the tiny face detector from {}", dir.display()))?;
    let recognizer = FaceRecognitionNet::load(dir.join(RECOGNITION), &Device::Cpu)
        .with_context(|| format!("loading the face recognition network from {}", dir.display()))?;
    let images = if args.images.is_empty() {
        let root = PathBuf::from("../shared/data/images");
        let mut v: Vec<PathBuf> = (1..=6).map(|i| root.join(format!("faces-sample{i}.jpg"))).collect();
        v.push(root.join("astronaut.png"));
        v
    } else {
        args.images.clone()
    };
    let cfg = DetectConfig {
        input_size: args.input_size,
        score_threshold: args.score,
        iou_threshold: args.iou,
        ..DetectConfig::default()
    };

    let (mut faces, mut crops, mut flipped, mut tight, mut half) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut figures = Figures::new();
    let t_detect = Instant::now();
    let mut photos: Vec<RgbImage> = Vec::new();
    for (i, path) in images.iter().enumerate() {
        let img = image::open(path).with_context(|| format!("reading {}", path.display()))?.to_rgb8();
        let found = detector.detect(&img, &cfg)?;
        let name = path.file_stem().map_or_else(|| format!("image{i}"), |s| s.to_string_lossy().into_owned());
        println!("{} ({}x{}): {} faces", path.display(), img.width(), img.height(), found.len());
        for (k, f) in found.iter().enumerate() {
            let b = f.bbox;
            println!(
                "  F{:<3} score {:.3}  x1 {:>6.1}  y1 {:>6.1}  x2 {:>6.1}  y2 {:>6.1}",
                faces.len(),
                f.score,
                b.x1,
                b.y1,
                b.x2,
                b.y2
            );
            let crop = crop_face(&img, &b, args.margin)?;
            flipped.push(image::imageops::flip_horizontal(&crop));
            tight.push(crop_face(&img, &b, args.margin - 0.05)?);
            let (w, h) = ((crop.width() / 2).max(1), (crop.height() / 2).max(1));
            half.push(image::imageops::resize(&crop, w, h, image::imageops::FilterType::Triangle));
            crops.push(crop);
            let det = Detection { bbox: b, score: f.score, class: faces.len() };
            faces.push(Face { image: i, index: k, det });
        }
        figures.set(&format!("faces_{name}"), found.len());
        photos.push(img);
    }
    let detect_seconds = t_detect.elapsed().as_secs_f64();
    if faces.is_empty() {
        println!("no faces found in {} photos", images.len());
        figures.set("faces", 0).set("seconds", start.elapsed().as_secs_f64());
        figures.write_if(args.json.as_deref())?;
        return Ok(());
    }

    let t_embed = Instant::now();
    let e = recognizer.embed_crops(&crops)?;
    let e_flip = recognizer.embed_crops(&flipped)?;
    let e_tight = recognizer.embed_crops(&tight)?;
    let e_half = recognizer.embed_crops(&half)?;
    let embed_seconds = t_embed.elapsed().as_secs_f64();
    let d = pairwise_distances(&e, Distance::Euclidean)?.to_vec2::<f32>()?;
    let self_distance =
        |other: &Tensor| -> Result<Vec<f32>> { Ok((&e - other)?.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?) };
    let (flip, crop, low) = (self_distance(&e_flip)?, self_distance(&e_tight)?, self_distance(&e_half)?);
    let norms = e.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;

    let n = faces.len();
    println!("\nEuclidean distances between the {n} faces (< {} = same person):", args.threshold);
    print!("     ");
    (0..n).for_each(|j| print!("{j:>5}"));
    println!();
    for (i, row) in d.iter().enumerate() {
        print!("{i:>4} ");
        row.iter().for_each(|v| print!("{v:>5.2}"));
        println!();
    }
    let pairs: Vec<(f64, usize, usize)> = d
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().enumerate().skip(i + 1).map(move |(j, v)| (f64::from(*v), i, j)))
        .collect();
    let label = |f: &Face| {
        format!("{}#{}", images[f.image].file_stem().unwrap_or_default().to_string_lossy(), f.index)
    };
    let below: Vec<_> = pairs.iter().filter(|p| p.0 < args.threshold).collect();
    // Two faces in one photo are two different people.
    let same_photo: Vec<f64> =
        pairs.iter().filter(|p| faces[p.1].image == faces[p.2].image).map(|p| p.0).collect();
    let same_photo_below = same_photo.iter().filter(|d| **d < args.threshold).count();
    if same_photo.is_empty() {
        println!("no two faces share a photo");
    } else {
        println!(
            "faces sharing a photo (different people): {} pairs, {} below {}, min {:.3}, mean {:.3}",
            same_photo.len(),
            same_photo_below,
            args.threshold,
            same_photo.iter().fold(f64::INFINITY, |m, d| m.min(*d)),
            same_photo.iter().sum::<f64>() / same_photo.len() as f64
        );
    }
    println!("\npairs below {}: {}", args.threshold, below.len());
    for (v, i, j) in &below {
        println!("  F{i} {} ~ F{j} {}: {v:.3}", label(&faces[*i]), label(&faces[*j]));
    }
    let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    let max = |v: &[f32]| v.iter().fold(0f64, |m, x| m.max(f64::from(*x)));
    println!("descriptor norms: mean {:.3}, max {:.3}", mean(&norms), max(&norms));
    println!(
        "same face mirrored: mean distance {:.3} (max {:.3}); cropped 5% tighter a side: mean {:.3} (max {:.3})",
        mean(&flip),
        max(&flip),
        mean(&crop),
        max(&crop)
    );
    println!("same face at half the resolution: mean distance {:.3} (max {:.3})", mean(&low), max(&low));

    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        for (i, photo) in photos.iter_mut().enumerate() {
            let dets: Vec<Detection> = faces.iter().filter(|f| f.image == i).map(|f| f.det).collect();
            let names: Vec<String> = (0..n).map(|k| format!("F{k}")).collect();
            draw_detections(photo, &dets, &names);
            let stem = images[i].file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let path = out.join(format!("{stem}_faces.png"));
            let mut png = std::io::Cursor::new(Vec::new());
            photo.write_to(&mut png, image::ImageFormat::Png)?;
            write_atomically(&path, png.get_ref())?;
        }
        println!("wrote {} photos with boxes to {}", photos.len(), out.display());
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("detection {detect_seconds:.2} s, embedding {embed_seconds:.2} s, total {seconds:.2} s");

    // Over pairs of different faces; null with a single face.
    let (min_d, max_d) = pairs.iter().fold((f64::INFINITY, 0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let or_null = |v: f64| if pairs.is_empty() { serde_json::Value::Null } else { v.into() };
    figures
        .set("faces", n)
        .set("min_distance", or_null(min_d))
        .set("max_distance", or_null(max_d))
        .set("mean_distance", or_null(pairs.iter().map(|p| p.0).sum::<f64>() / pairs.len().max(1) as f64))
        .set("pairs_below_threshold", below.len())
        .set("same_photo_pairs", same_photo.len())
        .set("same_photo_pairs_below_threshold", same_photo_below)
        .set("threshold", args.threshold)
        .set("descriptor_norm_mean", mean(&norms))
        .set("flip_distance_mean", mean(&flip))
        .set("flip_distance_max", max(&flip))
        .set("tighter_crop_distance_mean", mean(&crop))
        .set("tighter_crop_distance_max", max(&crop))
        .set("half_resolution_distance_mean", mean(&low))
        .set("half_resolution_distance_max", max(&low))
        .set("input_size", args.input_size)
        .set("detect_seconds", detect_seconds)
        .set("embed_seconds", embed_seconds)
        .set("seconds", seconds);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
