//! Sheet 09: hyperparameter search, coarse to fine, on the right scale.
//!
//! ```text
//! cargo run --release -p dls-foundations --example tuning -- --json out/tuning.json
//! ```
//! Searches an MLP's learning rate (log scale, 1e-4..1), Adam's beta1 (`1 - 10^r`, 0.8..0.999),
//! hidden width, depth and activation on the shipped digits: a random round over the whole space,
//! then rounds narrowed to where the best trials were, two trials at a time. Prints every trial
//! and the best configuration; expect `best_dev_accuracy` around 0.97-0.99 after 24 trials in
//! about 10 seconds.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::activation::Activation;
use dls_foundations::data::{train_dev_test_stratified, Split};
use dls_foundations::datasets::digits;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::tune::{coarse_to_fine, Scale, SearchSpace, Trial};
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 8)]
    per_round: usize,
    /// Trials kept to define the next round's narrower space.
    #[arg(long, default_value_t = 3)]
    keep_top: usize,
    /// Epochs per trial.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Trials run at once (each on one thread).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the search (every trial) here as JSON.
    #[arg(long)]
    table_json: Option<PathBuf>,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Trains one configuration; the score is dev accuracy.
fn evaluate(trial: &Trial, split: &Split, args: &Args) -> dls_foundations::Result<f64> {
    let depth = trial.get_i64("layers")? as usize;
    let width = trial.get_i64("hidden")? as usize;
    let params = Params::new(args.seed + trial.id as u64);
    let cfg = MlpConfig {
        inputs: 64,
        hidden: vec![width; depth],
        outputs: 10,
        activation: Activation::from_name(trial.get_str("activation")?)?,
        ..Default::default()
    };
    let learner =
        Classifier::new(Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?, Objective::MultiClass);
    let adam = AdamConfig { lr: trial.get_f64("lr")?, beta1: trial.get_f64("beta1")?, ..Default::default() };
    let opt = Adam::new(params.trainable(), adam)?;
    let fit = FitConfig {
        epochs: args.epochs,
        batch_size: 64,
        progress: Progress::Never,
        seed: args.seed,
        ..Default::default()
    };
    Trainer::new(&params, opt, fit)?.fit(&learner, &split.train, None)?;
    Ok(learner.evaluate(&split.dev)?.accuracy)
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(1);
    let start = Instant::now();
    let split = train_dev_test_stratified(&digits()?, 0.15, 0.15, args.seed)?.standardized()?.0;
    let space = SearchSpace::new()
        .float("lr", 1e-4, 1.0, Scale::Log10)
        .float("beta1", 0.8, 0.999, Scale::OneMinusLog10)
        .int("hidden", 8, 256)
        .int("layers", 1, 3)
        .choice("activation", &["relu", "tanh", "sigmoid"]);
    let report =
        coarse_to_fine(&space, args.rounds, args.per_round, args.keep_top, args.seed, args.parallel, |t| {
            evaluate(t, &split, &args)
        })?;
    println!("{}", report.table());
    println!(
        "best: trial {} dev accuracy {:.4}: {}",
        report.best.trial.id, report.best.score, report.best.trial
    );
    if let Some(path) = &args.table_json {
        std::fs::write(path, serde_json::to_string_pretty(&report.to_json())?)?;
    }
    let mut figures = Figures::new();
    figures
        .set("trials", report.results.len())
        .set("best_dev_accuracy", report.best.score)
        .set("best_lr", report.best.trial.get_f64("lr")?)
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
