//! Sheet 20: YOLOv3-tiny (darknet's COCO weights) on a photo, labelled boxes drawn to PNG.
//!
//! ```text
//! cargo run --release -p dls-vision --example yolo_tiny -- --image ../shared/data/images/faces-sample1.jpg \
//!     --out out/faces1_yolo.png --json out/yolo.json
//! ```
//! Letterboxes the photo to 416x416, runs the network, decodes both heads (13x13 and 26x26),
//! keeps boxes scoring >= `--score` and applies per-class NMS at `--iou`, then prints each
//! detection (class, score, box in the photo's pixels) and writes the photo with the boxes drawn.
//! On faces-sample1.jpg expect three `person` boxes (0.89, 0.81, 0.55), one per woman, and on
//! coffee.png one `cup` (0.59); inference takes about 0.4 s on 2 cores.
//! `--weights DIR` holds yolov3-tiny.cfg, yolov3-tiny.weights and coco.names (by default the first
//! of $DLS_DATA/yolov3-tiny, ~/.cache/dls-rs/yolov3-tiny and ../shared/data/weights/yolov3-tiny
//! that has them; the 35 MB weights are not in the repository).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use dls_foundations::checkpoint::write_atomically;
use dls_foundations::report::Figures;
use dls_vision::darknet::{self, detect_image, Letterbox};
use dls_vision::detect::{NmsConfig, NmsMode};
use dls_vision::draw::draw_detections;

#[derive(Parser)]
struct Args {
    /// The photo (PNG or JPEG).
    #[arg(long)]
    image: PathBuf,
    /// Where to write the photo with the detections drawn (PNG).
    #[arg(long)]
    out: PathBuf,
    /// Folder with yolov3-tiny.cfg, yolov3-tiny.weights and coco.names (default: the first of
    /// $DLS_DATA/yolov3-tiny, ~/.cache/dls-rs/yolov3-tiny, ../shared/data/weights/yolov3-tiny that has them).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Smallest score (objectness x class probability) kept.
    #[arg(long, default_value_t = 0.5)]
    score: f32,
    /// IoU above which NMS drops the lower-scoring box of a class.
    #[arg(long, default_value_t = 0.45)]
    iou: f32,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The weights folder: the one given, else the first usual place holding the weights.
fn weights_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let mut places = Vec::new();
    if let Some(root) = std::env::var_os("DLS_DATA") {
        places.push(PathBuf::from(root).join("yolov3-tiny"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        places.push(PathBuf::from(home).join(".cache/dls-rs/yolov3-tiny"));
    }
    places.push(PathBuf::from("../shared/data/weights/yolov3-tiny"));
    match places.iter().find(|p| p.join("yolov3-tiny.weights").is_file()) {
        Some(p) => Ok(p.clone()),
        None => anyhow::bail!(
            "no yolov3-tiny.weights in {places:?}: run `cargo xtask download yolov3-tiny`, or put \
             yolov3-tiny.cfg, yolov3-tiny.weights and coco.names (darknet's COCO release) in one of them, or \
             pass --weights DIR"
        ),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let dir = &weights_dir(args.weights.clone())?;
    let net = darknet::load(dir.join("yolov3-tiny.cfg"), dir.join("yolov3-tiny.weights"), &Device::Cpu)
        .with_context(|| {
            format!("loading YOLOv3-tiny from {} (see ../shared/data/README.md)", dir.display())
        })?;
    let names_path = dir.join("coco.names");
    let names: Vec<String> = std::fs::read_to_string(&names_path)
        .with_context(|| format!("reading {}", names_path.display()))?
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let loaded = start.elapsed().as_secs_f64();

    let img = image::open(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let cfg = NmsConfig {
        iou_threshold: args.iou,
        score_threshold: args.score,
        max_boxes: 100,
        mode: NmsMode::PerClass,
    };
    let t0 = Instant::now();
    let kept = detect_image(&net, &img, &cfg)?;
    let infer = t0.elapsed().as_secs_f64();
    let (_, h, w) = net.input();
    let lb = Letterbox::new(img.width(), img.height(), (w as u32, h as u32));

    println!(
        "{}: {}x{}, letterboxed to {w}x{h} ({}x{} at {:?}); {} detections",
        args.image.display(),
        img.width(),
        img.height(),
        lb.scaled.0,
        lb.scaled.1,
        lb.offset,
        kept.len()
    );
    for d in &kept {
        let name = names.get(d.class).map_or("?", String::as_str);
        println!(
            "  {name:<14} {:.3}  x1 {:>6.1}  y1 {:>6.1}  x2 {:>6.1}  y2 {:>6.1}",
            d.score, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2
        );
    }
    let mut canvas = img.to_rgb8();
    draw_detections(&mut canvas, &kept, &names);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut png = std::io::Cursor::new(Vec::new());
    canvas.write_to(&mut png, image::ImageFormat::Png)?;
    write_atomically(&args.out, png.get_ref())?;
    println!("wrote {}; load {loaded:.2} s, inference {infer:.2} s", args.out.display());

    let top = kept.first();
    let mut figures = Figures::new();
    figures
        .set("detections", kept.len())
        .set("top_class", top.and_then(|d| names.get(d.class)).cloned().unwrap_or_default())
        .set("top_score", top.map_or(0.0, |d| f64::from(d.score)))
        .set("load_seconds", loaded)
        .set("inference_seconds", infer)
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
