//! Sheet 17: LeNet-5 trained on real digits.
//!
//! ```text
//! cargo run --release -p dls-vision --example lenet5 -- --json out/lenet5.json
//! cargo run --release -p dls-vision --example lenet5 -- --data ../shared/data/fashion-mnist --json out/lenet5-fashion.json
//! ```
//! By default: the 8x8 digits shipped with dls-foundations (70/15/15 stratified split), upscaled
//! 4x to LeNet's 32x32, ReLU and max pooling, Adam; expect `test_accuracy` >= 0.97 (0.98 seen) in
//! about 15 s on 2 cores. With `--data DIR` (MNIST-format IDX files, raw or .gz): 28x28 images
//! padded by 2 in the first convolution, the last 5,000 training images held out as dev, 10
//! epochs; on Fashion-MNIST expect `test_accuracy` >= 0.89 (0.906 seen, 16.5 s per epoch on 1 thread).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::data::{load_mnist_dir, train_dev_split, train_dev_test_stratified, Dataset, Split};
use dls_foundations::datasets::digits;
use dls_foundations::optim::{Adam, AdamConfig, Schedule};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Trainer};
use dls_foundations::Params;
use dls_vision::models::lenet::{LeNet5, LeNet5Config};

#[derive(Parser)]
struct Args {
    /// A folder of MNIST-format IDX files (train-*/t10k-*); the shipped digits when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs (default 15 on digits, 10 with --data).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Exponential learning-rate decay per epoch (1 = none).
    #[arg(long, default_value_t = 0.85)]
    decay: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Scales every image with one mean and standard deviation measured on the training set.
fn standardize(split: Split) -> Result<Split> {
    let mean = split.train.x.mean_all()?.to_scalar::<f32>()?;
    let std = split.train.x.broadcast_sub(&Tensor::new(mean, &Device::Cpu)?)?.sqr()?.mean_all()?.sqrt()?;
    let std = std.to_scalar::<f32>()?;
    let f = |d: &Dataset| -> Result<Dataset> {
        Ok(Dataset::new(((&d.x - f64::from(mean))? / f64::from(std))?, d.y.clone())?)
    };
    Ok(Split { train: f(&split.train)?, dev: f(&split.dev)?, test: f(&split.test)? })
}

fn load(args: &Args) -> Result<(Split, LeNet5Config, &'static str)> {
    match &args.data {
        None => {
            let ds = digits()?;
            let n = ds.len();
            // 8x8 pixels 0..=16 to [n, 1, 32, 32] in [0, 1], each pixel a 4x4 block.
            let x = (ds.x.reshape((n, 1, 8, 8))?.upsample_nearest2d(32, 32)? / 16.0)?;
            let split = train_dev_test_stratified(&Dataset::new(x, ds.y)?, 0.15, 0.15, args.seed)?;
            Ok((split, LeNet5Config::default(), "digits"))
        }
        Some(dir) => {
            let (train, test) = load_mnist_dir(dir).with_context(|| format!("loading {}", dir.display()))?;
            let (train, dev) = train_dev_split(&train, 5000.0 / train.len() as f64, args.seed)?;
            let cfg = LeNet5Config { input_size: 28, padding: 2, ..Default::default() };
            Ok((Split { train, dev, test }, cfg, "idx"))
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let (split, cfg, source) = load(&args)?;
    let split = standardize(split)?;
    let epochs = args.epochs.unwrap_or(if args.data.is_some() { 10 } else { 15 });
    println!(
        "{source}: {} train, {} dev, {} test, images {:?}; {epochs} epochs",
        split.train.len(),
        split.dev.len(),
        split.test.len(),
        split.train.feature_dims()
    );
    let params = Params::new(args.seed);
    let model = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    println!("LeNet-5: {} parameters", params.count());
    let learner = Classifier::new(model, Objective::MultiClass);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let fit = FitConfig {
        epochs,
        batch_size: args.batch,
        schedule: Schedule::Exponential { gamma: args.decay },
        seed: args.seed,
        ..Default::default()
    };
    let report = Trainer::new(&params, opt, fit)?.fit(&learner, &split.train, Some(&split.dev))?;
    for e in &report.history.epochs {
        println!(
            "epoch {:>3}  lr {:.2e}  train loss {:.4}  dev acc {:.2}%  {:.2}s",
            e.epoch + 1,
            e.learning_rate,
            e.train_loss,
            100.0 * e.dev_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    let test = learner.evaluate(&split.test)?;
    let dev = learner.evaluate(&split.dev)?;
    let ran = report.history.epochs.len().max(1);
    let seconds_per_epoch = report.history.epochs.iter().map(|e| e.seconds).sum::<f64>() / ran as f64;
    println!(
        "dev {:.2}%, test {:.2}%, {seconds_per_epoch:.2} s/epoch",
        100.0 * dev.accuracy,
        100.0 * test.accuracy
    );
    let mut figures = Figures::new();
    figures
        .set("test_accuracy", test.accuracy)
        .set("dev_accuracy", dev.accuracy)
        .set("epochs", ran)
        .set("parameters", params.count())
        .set("seconds_per_epoch", seconds_per_epoch)
        .set("seconds", start.elapsed().as_secs_f64())
        .set("data", source);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
