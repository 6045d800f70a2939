//! Sheet 18: a small residual network, trained on the same data as the `lenet5` example so the
//! two can be compared.
//!
//! ```text
//! cargo run --release -p dls-vision --example resnet -- --json out/resnet.json
//! cargo run --release -p dls-vision --example resnet -- --data ../shared/data/fashion-mnist --json out/resnet-fashion.json
//! ```
//! The network is ResNet-18's layout cut down: a 3x3 stem (no pooling), one basic block per stage
//! by default (`--blocks 2` gives ResNet-18's depth), 16-32-64-128 channels (`--width`), batch
//! norm, global average pooling, 0.31 M parameters; Adam with exponential decay. By default on the
//! shipped 8x8 digits upscaled to 32x32: expect `test_accuracy` >= 0.97. With `--data DIR`
//! (MNIST-format IDX files, raw or .gz): 28x28 images, the last 5,000 training images held out as
//! dev, 5 epochs; on Fashion-MNIST it must beat LeNet-5's 0.902 (see README for the figure seen
//! and the seconds per epoch on 2 cores).

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
use dls_vision::models::resnet::{ResNet, ResNetConfig, Stem};

#[derive(Parser)]
struct Args {
    /// A folder of MNIST-format IDX files (train-*/t10k-*); the shipped digits when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs (default 10 on digits, 5 with --data).
    #[arg(long)]
    epochs: Option<usize>,
    /// Basic blocks per stage (2 = ResNet-18's depth).
    #[arg(long, default_value_t = 1)]
    blocks: usize,
    /// Channels of the first stage; the later stages double it.
    #[arg(long, default_value_t = 16)]
    width: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Exponential learning-rate decay per epoch (1 = none).
    #[arg(long, default_value_t = 0.6)]
    decay: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
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

fn load(args: &Args) -> Result<(Split, &'static str)> {
    match &args.data {
        None => {
            let ds = digits()?;
            let n = ds.len();
            // 8x8 pixels 0..=16 to [n, 1, 32, 32] in [0, 1], each pixel a 4x4 block.
            let x = (ds.x.reshape((n, 1, 8, 8))?.upsample_nearest2d(32, 32)? / 16.0)?;
            Ok((train_dev_test_stratified(&Dataset::new(x, ds.y)?, 0.15, 0.15, args.seed)?, "digits"))
        }
        Some(dir) => {
            let (train, test) = load_mnist_dir(dir).with_context(|| format!("loading {}", dir.display()))?;
            let (train, dev) = train_dev_split(&train, 5000.0 / train.len() as f64, args.seed)?;
            Ok((Split { train, dev, test }, "idx"))
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let threads = dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let (split, source) = load(&args)?;
    let split = standardize(split)?;
    let epochs = args.epochs.unwrap_or(if args.data.is_some() { 5 } else { 10 });
    println!(
        "{source}: {} train, {} dev, {} test, images {:?}; {epochs} epochs on {threads} threads",
        split.train.len(),
        split.dev.len(),
        split.test.len(),
        split.train.feature_dims()
    );
    let cfg = ResNetConfig {
        layers: [args.blocks; 4],
        classes: 10,
        in_channels: 1,
        width: args.width,
        stem: Stem::Small,
        ..ResNetConfig::resnet18()
    };
    let params = Params::new(args.seed);
    let model = ResNet::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    println!(
        "ResNet ({} block(s) per stage, width {}): {} parameters",
        args.blocks,
        args.width,
        params.count()
    );
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
        .set("threads", threads)
        .set("seconds_per_epoch", seconds_per_epoch)
        .set("seconds", start.elapsed().as_secs_f64())
        .set("data", source);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
