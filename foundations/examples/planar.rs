//! Sheets 02–03: logistic regression against a one-hidden-layer network on the planar 'flower'.
//!
//! ```text
//! cargo run --release -p dls-foundations --example planar -- --json out/planar.json
//! ```
//! By default the data are the course's own 400 points (its notebook's `np.random.seed(1)` stream,
//! reproduced). A linear boundary cannot separate the petals (the course: 47%); four tanh units can
//! (the course: 90%). Expect 0.47 for `logreg_accuracy` and at least 0.88 for `shallow_accuracy`
//! (training accuracy, as in the course), in a few seconds. `--generated` draws a new flower from
//! `--seed` instead (logistic regression then lands anywhere from about 43% to 53%).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::datasets::{flower, flower_course};
use dls_foundations::models::{LogisticRegression, ShallowConfig, ShallowNet};
use dls_foundations::optim::{Sgd, SgdConfig};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    /// Draw a new flower from `--seed` (with `--points`) instead of the course's points.
    #[arg(long)]
    generated: bool,
    /// Points in a generated flower (half per class).
    #[arg(long, default_value_t = 400)]
    points: usize,
    /// Full-batch gradient-descent iterations for each model.
    #[arg(long, default_value_t = 10_000)]
    iterations: usize,
    /// Hidden units of the shallow network.
    #[arg(long, default_value_t = 4)]
    hidden: usize,
    /// Learning rate (the course's 1.2).
    #[arg(long, default_value_t = 1.2)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CPU threads (small networks are fastest on one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn fit<L: Learner>(
    params: &Params,
    learner: &L,
    data: &dls_foundations::data::Dataset,
    args: &Args,
) -> Result<f64> {
    let opt = Sgd::new(params.trainable(), SgdConfig { lr: args.lr, ..Default::default() })?;
    let cfg = FitConfig {
        epochs: args.iterations,
        batch_size: data.len(),
        progress: Progress::Never,
        check_gradients: false,
        seed: args.seed,
        ..Default::default()
    };
    Trainer::new(params, opt, cfg)?.fit(learner, data, None)?;
    Ok(learner.evaluate(data)?.accuracy)
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let data = if args.generated { flower(args.points, args.seed)? } else { flower_course()? };
    let dev = Device::Cpu;

    let params = Params::new(args.seed);
    let logreg =
        Classifier::new(LogisticRegression::new(params.var_builder(DType::F32, &dev), 2)?, Objective::Binary);
    let logreg_accuracy = fit(&params, &logreg, &data, &args)?;
    println!("logistic regression: train accuracy {:.1}%", 100.0 * logreg_accuracy);

    let params = Params::new(args.seed);
    let cfg = ShallowConfig { inputs: 2, hidden: args.hidden, ..Default::default() };
    let shallow =
        Classifier::new(ShallowNet::new(params.var_builder(DType::F32, &dev), &cfg)?, Objective::Binary);
    let shallow_accuracy = fit(&params, &shallow, &data, &args)?;
    println!("{}-unit tanh network: train accuracy {:.1}%", args.hidden, 100.0 * shallow_accuracy);

    let mut figures = Figures::new();
    figures
        .set("logreg_accuracy", logreg_accuracy)
        .set("shallow_accuracy", shallow_accuracy)
        .set("hidden_units", args.hidden)
        .set("data", if args.generated { "generated" } else { "course" })
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
