//! Sheet 13: transfer learning from a related task with plenty of data to one with little.
//!
//! ```text
//! cargo run --release -p dls-foundations --example transfer -- --json out/transfer.json
//! ```
//! Source task: which digit (10 classes), learned from 70% of the training images. Target task: is
//! the digit odd or even, with only `--target-examples` labelled images (default 20) from the other
//! 30%. The same 64-128-64 body is trained three ways on the target: from scratch, with the source
//! network's body copied in and frozen (only a new 2-way output layer learns), and with the copied
//! body fine-tuned. Rows report target test accuracy. Seen with the defaults: scratch 0.68, frozen
//! 0.75, fine-tuned 0.75; with 100 target labels 0.905 / 0.922 / 0.922: the gain shrinks as target
//! data grows, as sheet 13 says. Transferring digits 0-4 to digits 5-9 instead did not help at all
//! (the frozen body lost): the pair of tasks matters. A few seconds.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::data::{train_dev_test_stratified, Dataset, Standardizer};
use dls_foundations::datasets::digits;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    /// Labelled target-task training images.
    #[arg(long, default_value_t = 20)]
    target_examples: usize,
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `ds` relabelled by `f` (class ids stay `u32`).
fn relabel(ds: &Dataset, f: impl Fn(u32) -> u32) -> Result<Dataset> {
    let y: Vec<u32> = ds.y.to_vec1::<u32>()?.into_iter().map(f).collect();
    Ok(Dataset::new(ds.x.clone(), Tensor::new(y, &Device::Cpu)?)?)
}

fn model(seed: u64, outputs: usize) -> Result<(Params, Classifier<Mlp>)> {
    let params = Params::new(seed);
    let cfg = MlpConfig { inputs: 64, hidden: vec![128, 64], outputs, ..Default::default() };
    let mlp = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    Ok((params, Classifier::new(mlp, Objective::MultiClass)))
}

fn fit(
    params: &Params,
    learner: &Classifier<Mlp>,
    train: &Dataset,
    epochs: usize,
    head_only: bool,
) -> Result<()> {
    let vars =
        if head_only { params.trainable_where(|n| n.starts_with("output.")) } else { params.trainable() };
    let opt = Adam::new(vars, AdamConfig::default())?;
    let cfg = FitConfig { epochs, batch_size: 32, progress: Progress::Never, ..Default::default() };
    Trainer::new(params, opt, cfg)?.fit(learner, train, None)?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(1);
    let start = Instant::now();
    let split = train_dev_test_stratified(&digits()?, 0.1, 0.3, args.seed)?;
    let scaler = Standardizer::fit(&split.train.x)?;
    let scale = |d: &Dataset| -> Result<Dataset> { Ok(Dataset::new(scaler.transform(&d.x)?, d.y.clone())?) };
    let (train, test) = (scale(&split.train)?, scale(&split.test)?);
    let (source, pool) = dls_foundations::data::train_dev_split(&train, 0.3, args.seed)?;
    let keep: Vec<u32> = (0..args.target_examples.min(pool.len()) as u32).collect();
    let parity = |l: u32| l % 2;
    let target = relabel(&pool.select(&keep)?, parity)?;
    let target_test = relabel(&test, parity)?;
    println!(
        "source: {} images, 10 classes; target: {} labelled images, odd vs even; {} test",
        source.len(),
        target.len(),
        target_test.len()
    );

    let (src_params, src) = model(args.seed, 10)?;
    fit(&src_params, &src, &source, 30, false)?;
    println!("source network: digit accuracy {:.2}% on test images", 100.0 * src.evaluate(&test)?.accuracy);

    let mut figures = Figures::new();
    for name in ["scratch", "frozen", "finetune"] {
        let (params, learner) = model(args.seed + 1, 2)?;
        if name != "scratch" {
            let copied = params.copy_from(&src_params, |n| n.starts_with("layers."))?;
            println!("{name}: copied {copied} pretrained tensors");
        }
        fit(&params, &learner, &target, args.epochs, name == "frozen")?;
        let acc = learner.evaluate(&target_test)?.accuracy;
        println!("{name:<9} target test accuracy {:.2}%", 100.0 * acc);
        figures.set(&format!("{name}_accuracy"), acc);
    }
    figures.set("target_examples", target.len()).set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
