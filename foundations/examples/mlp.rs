//! Sheets 04–08: an L-layer network on real images.
//!
//! ```text
//! cargo run --release -p dls-foundations --example mlp -- --json out/mlp.json
//! cargo run --release -p dls-foundations --example mlp -- --data ../shared/data/fashion-mnist --json out/fashion.json
//! ```
//! By default: the 8x8 digits shipped with the crate (70/15/15 stratified split, standardised on
//! train), a 64-128-64-10 ReLU network with Adam; expect `test_accuracy` >= 0.97 in a few seconds.
//! With `--data DIR` (MNIST-format IDX files, raw or .gz): the 60k/10k set, the last 5,000 training
//! images held out as dev, a 784-256-128-10 network; on Fashion-MNIST expect >= 0.88 in about a minute.
//! `--out DIR` writes the per-epoch history (JSON, CSV) and a learning-curve SVG there;
//! `--checkpoint FILE` saves after every epoch and resumes from that file if it exists.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::activation::Activation;
use dls_foundations::data::{load_mnist_dir, train_dev_split, train_dev_test_stratified, Split};
use dls_foundations::datasets::digits;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig, Schedule};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Trainer};
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    /// A folder of MNIST-format IDX files (train-*/t10k-*); the shipped digits when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Hidden layer sizes, comma-separated (default 128,64 on digits, 256,128 with --data).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Epochs (default 40 on digits, 15 with --data).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Exponential learning-rate decay per epoch (1 = none).
    #[arg(long, default_value_t = 0.95)]
    decay: f64,
    /// L2 strength lambda (the course's lambda / 2m penalty).
    #[arg(long, default_value_t = 0.0)]
    l2: f64,
    /// Probability of keeping a hidden unit (1 = no dropout).
    #[arg(long, default_value_t = 1.0)]
    keep_prob: f64,
    /// Batch normalisation in the hidden layers.
    #[arg(long)]
    batch_norm: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Folder for history.json, history.csv and learning_curve.svg.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Checkpoint file: written after each epoch, resumed from when it exists.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn load(args: &Args) -> Result<(Split, &'static str)> {
    match &args.data {
        None => Ok((train_dev_test_stratified(&digits()?, 0.15, 0.15, args.seed)?, "digits")),
        Some(dir) => {
            let (train, test) = load_mnist_dir(dir).with_context(|| format!("loading {}", dir.display()))?;
            let (train, dev) = train_dev_split(&train, 5000.0 / train.len() as f64, args.seed)?;
            Ok((Split { train, dev, test }, "idx"))
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let (raw, source) = load(&args)?;
    let (split, _) = raw.standardized()?;
    let inputs: usize = split.train.x.dims()[1..].iter().product();
    let big = args.data.is_some();
    let hidden = args.hidden.clone().unwrap_or(if big { vec![256, 128] } else { vec![128, 64] });
    let epochs = args.epochs.unwrap_or(if big { 15 } else { 40 });
    println!(
        "{source}: {} train, {} dev, {} test, {inputs} features; hidden {hidden:?}, {epochs} epochs",
        split.train.len(),
        split.dev.len(),
        split.test.len()
    );

    let params = Params::new(args.seed);
    let cfg = MlpConfig {
        inputs,
        hidden,
        outputs: 10,
        activation: Activation::Relu,
        batch_norm: args.batch_norm,
        keep_prob: args.keep_prob,
        dropout_seed: args.seed + 1,
        ..Default::default()
    };
    let model = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    let (weights, rng) = (model.weights(), model.rng().clone());
    let learner = Classifier::new(model, Objective::MultiClass).with_l2(args.l2, weights).with_rng(rng);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let fit = FitConfig {
        epochs,
        batch_size: args.batch,
        schedule: Schedule::Exponential { gamma: args.decay },
        checkpoint: args.checkpoint.clone(),
        seed: args.seed,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&params, opt, fit)?;
    if let Some(path) = args.checkpoint.as_ref().filter(|p| p.exists()) {
        trainer.resume(path, &learner)?;
        println!("resumed from {} after epoch {}", path.display(), trainer.history().epochs.len());
    }
    let report = trainer.fit(&learner, &split.train, Some(&split.dev))?;
    for e in &report.history.epochs {
        println!(
            "epoch {:>3}  lr {:.2e}  train loss {:.4}  dev loss {:.4}  dev acc {:.2}%  {:.2}s",
            e.epoch + 1,
            e.learning_rate,
            e.train_loss,
            e.dev_loss.unwrap_or(f64::NAN),
            100.0 * e.dev_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    let train_eval = learner.evaluate(&split.train)?;
    let dev_eval = learner.evaluate(&split.dev)?;
    let test_eval = learner.evaluate(&split.test)?;
    println!(
        "train accuracy {:.2}%, dev {:.2}%, test {:.2}%",
        100.0 * train_eval.accuracy,
        100.0 * dev_eval.accuracy,
        100.0 * test_eval.accuracy
    );
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        report.history.save_json(dir.join("history.json"))?;
        report.history.save_csv(dir.join("history.csv"))?;
        report.history.plot(dir.join("learning_curve.svg"), &format!("MLP on {source}"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut figures = Figures::new();
    figures
        .set("test_accuracy", test_eval.accuracy)
        .set("dev_accuracy", dev_eval.accuracy)
        .set("train_accuracy", train_eval.accuracy)
        .set("epochs", report.history.epochs.len())
        .set(
            "seconds_per_epoch",
            report.history.epochs.iter().map(|e| e.seconds).sum::<f64>() / epochs as f64,
        )
        .set("seconds", seconds)
        .set("data", source);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
