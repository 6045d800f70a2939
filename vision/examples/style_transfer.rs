//! Sheet 22: neural style transfer with VGG-19, a content photo and a style photo in, a stylised
//! PNG out.
//!
//! ```text
//! cargo run --release -p dls-vision --example style_transfer -- --out out/chelsea_flower.png --json out/style.json
//! ```
//! Content ../shared/data/images/chelsea.png, style flower.jpg (a dahlia), both at 256x170; the
//! course's layers (content conv4_2; style conv1_1 ... conv5_1, 0.2 each) and weights (α 10, β 40);
//! the content plus uniform noise (±0.25, seed 0) as the start; 150 cost evaluations of L-BFGS
//! kept in [0, 1]. Prints the costs at every evaluation. Expect the total cost to fall from 4.39e11
//! to about 3.8e9 in about 140 s on 2 cores (a machine shared with builds; `--optimiser adam` reaches
//! 8.0e9 in 100 steps where L-BFGS reaches 4.0e9 in 100 evaluations): the cat's face redrawn in
//! salmon dahlia petals, its eyes teal, the background purple and green.
//! `--weights FILE` is VGG-19's convolutions as safetensors (`block{b}_conv{i}.weight/.bias`;
//! by default the first of $DLS_DATA/vgg19/vgg19-conv.safetensors and
//! ../shared/data/weights/vgg19/vgg19-conv.safetensors that exists).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::DType;
use clap::{Parser, ValueEnum};
use dls_foundations::report::Figures;
use dls_vision::io::write_png;
use dls_vision::style::{fit_pair, Method, StyleTransfer, VggFeatures};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Optimiser {
    Adam,
    Lbfgs,
}

#[derive(Parser)]
struct Args {
    /// The content photo (PNG or JPEG).
    #[arg(long, default_value = "../shared/data/images/chelsea.png")]
    content: PathBuf,
    /// The style photo.
    #[arg(long, default_value = "../shared/data/images/flower.jpg")]
    style: PathBuf,
    /// Where to write the generated image (PNG).
    #[arg(long, default_value = "out/style_transfer.png")]
    out: PathBuf,
    /// Longer side of the images, in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Optimiser steps (Adam) or cost evaluations (L-BFGS).
    #[arg(long, default_value_t = 150)]
    iterations: usize,
    /// The optimiser.
    #[arg(long, value_enum, default_value_t = Optimiser::Lbfgs)]
    optimiser: Optimiser,
    /// Adam's learning rate (pixels in [0, 1]).
    #[arg(long)]
    lr: Option<f64>,
    /// L-BFGS: largest change of one pixel (in [0, 1]) in a step.
    #[arg(long)]
    max_step: Option<f64>,
    /// Weight of the content cost.
    #[arg(long)]
    alpha: Option<f64>,
    /// Weight of the style cost.
    #[arg(long)]
    beta: Option<f64>,
    /// Weight of the total-variation cost.
    #[arg(long)]
    tv: Option<f64>,
    /// Seed of the initial noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// VGG-19 weights (safetensors).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Print the costs every this many iterations.
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The weights file: the one given, else the first usual place that has it.
fn weights_file(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(file) = given {
        return Ok(file);
    }
    let name = "vgg19/vgg19-conv.safetensors";
    let mut places = Vec::new();
    if let Some(root) = std::env::var_os("DLS_DATA") {
        places.push(PathBuf::from(root).join(name));
    }
    places.push(PathBuf::from("../shared/data/weights").join(name));
    match places.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => anyhow::bail!(
            "no VGG-19 weights in {places:?}: pass --weights FILE (safetensors with block<b>_conv<i>.weight \
             and .bias, see ../shared/data/README.md)"
        ),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let path = weights_file(args.weights.clone())?;
    let net = VggFeatures::vgg19(&path, DType::F32).with_context(|| format!("loading {}", path.display()))?;
    let open = |p: &PathBuf| image::open(p).with_context(|| format!("reading {}", p.display()));
    let (content_img, style_img) = (open(&args.content)?, open(&args.style)?);

    let defaults = StyleTransfer::default();
    let method = match args.optimiser {
        Optimiser::Adam => Method::Adam,
        Optimiser::Lbfgs => Method::Lbfgs { history: 10 },
    };
    let cfg = StyleTransfer {
        alpha: args.alpha.unwrap_or(defaults.alpha),
        beta: args.beta.unwrap_or(defaults.beta),
        tv_weight: args.tv.unwrap_or(defaults.tv_weight),
        learning_rate: args.lr.unwrap_or(defaults.learning_rate),
        max_step: args.max_step.unwrap_or(defaults.max_step),
        iterations: args.iterations,
        method,
        seed: args.seed,
        size: args.size,
        ..defaults
    };
    let (content, style) = fit_pair(&content_img, &style_img, cfg.size)?;
    let (_, h, w) = content.dims3()?;
    println!(
        "content {} ({}x{}), style {} ({}x{}), both at {w}x{h}; {:?}, {} iterations; weights {}",
        args.content.display(),
        content_img.width(),
        content_img.height(),
        args.style.display(),
        style_img.width(),
        style_img.height(),
        cfg.method,
        cfg.iterations,
        path.display()
    );
    println!("{:>5} {:>12} {:>10} {:>10} {:>10} {:>7}", "iter", "total", "content", "style", "tv", "s");
    let t0 = Instant::now();
    let every = args.every.max(1);
    let outcome = cfg.run(&net, &content, &style, |i, c| {
        if i % every == 0 {
            let s = t0.elapsed().as_secs_f64();
            println!(
                "{i:>5} {:>12.1} {:>10.2} {:>10.1} {:>10.1} {s:>7.1}",
                c.total, c.content, c.style, c.tv
            );
        }
    })?;
    let optimise_s = t0.elapsed().as_secs_f64();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_png(&outcome.image, &args.out)?;
    let seconds = start.elapsed().as_secs_f64();
    let (initial, last) = (outcome.initial_costs().unwrap_or(outcome.final_costs), outcome.final_costs);
    println!(
        "final (clipped to [0, 1]): total {:.1} (content {:.2}, style {:.1}, tv {:.1}) from {:.1}; \
         {:.1} s optimising, {seconds:.1} s in all; wrote {}",
        last.total,
        last.content,
        last.style,
        last.tv,
        initial.total,
        optimise_s,
        args.out.display()
    );
    let mut figures = Figures::new();
    figures
        .set("initial_cost", initial.total)
        .set("final_cost", last.total)
        .set("seconds", seconds)
        .set("optimise_seconds", optimise_s)
        .set("initial_content_cost", initial.content)
        .set("initial_style_cost", initial.style)
        .set("initial_tv_cost", initial.tv)
        .set("final_content_cost", last.content)
        .set("final_style_cost", last.style)
        .set("final_tv_cost", last.tv)
        .set("iterations", cfg.iterations as f64)
        .set("width", w as f64)
        .set("height", h as f64);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
