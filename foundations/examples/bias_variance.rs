//! Sheets 05, 11 and 12: the bias / variance / data-mismatch report and error analysis.
//!
//! ```text
//! cargo run --release -p dls-foundations --example bias_variance -- --json out/bias_variance.json
//! ```
//! Trains two networks on the shipped digits with a train-dev set carved out of the training data:
//! a deliberately tiny one (4 hidden units, 3 epochs) and the usual 64-128-64-10. Each gets the
//! course's report: avoidable bias (train - human), variance (train-dev - train), data mismatch
//! (dev - train-dev), dev overfitting (test - dev), a verdict and advice. Then the larger model's dev
//! errors are tallied by tag (true digit, confused pair, low confidence). The human-level error is an
//! assumption (`--human-error`, default 0.5% for clean 8x8 digits). Expect the tiny model's verdict to
//! be high avoidable bias; `avoidable_bias` and `variance` are the larger model's, in a few seconds.
//! Dev and train-dev come from the same distribution here, so a "data mismatch" of a point or two
//! is the sampling noise of a 269-example dev set: the report says what the numbers say.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, D};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::activation::softmax;
use dls_foundations::data::{train_dev_split, train_dev_test_stratified, Dataset};
use dls_foundations::datasets::digits;
use dls_foundations::diagnose::{diagnose, ErrorAnalysis, ErrorRates};
use dls_foundations::metrics::argmax_rows;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    /// Human-level (Bayes proxy) error as a fraction.
    #[arg(long, default_value_t = 0.005)]
    human_error: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

struct Parts {
    train: Dataset,
    train_dev: Dataset,
    dev: Dataset,
    test: Dataset,
}

fn train_model(parts: &Parts, hidden: Vec<usize>, epochs: usize, seed: u64) -> Result<Classifier<Mlp>> {
    let params = Params::new(seed);
    let cfg = MlpConfig { inputs: 64, hidden, outputs: 10, ..Default::default() };
    let learner =
        Classifier::new(Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?, Objective::MultiClass);
    let opt = Adam::new(params.trainable(), AdamConfig::default())?;
    let fit = FitConfig { epochs, batch_size: 64, progress: Progress::Never, seed, ..Default::default() };
    Trainer::new(&params, opt, fit)?.fit(&learner, &parts.train, None)?;
    Ok(learner)
}

fn rates(learner: &Classifier<Mlp>, parts: &Parts, human: f64) -> Result<ErrorRates> {
    let err = |d: &Dataset| -> Result<f64> { Ok(1.0 - learner.evaluate(d)?.accuracy) };
    Ok(ErrorRates {
        human,
        train: err(&parts.train)?,
        train_dev: Some(err(&parts.train_dev)?),
        dev: err(&parts.dev)?,
        test: Some(err(&parts.test)?),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(1);
    let start = Instant::now();
    let split = train_dev_test_stratified(&digits()?, 0.15, 0.15, args.seed)?.standardized()?.0;
    let (train, train_dev) = train_dev_split(&split.train, 0.15, args.seed)?;
    let parts = Parts { train, train_dev, dev: split.dev, test: split.test };
    println!(
        "digits: {} train, {} train-dev, {} dev, {} test; human-level error assumed {:.1}%\n",
        parts.train.len(),
        parts.train_dev.len(),
        parts.dev.len(),
        parts.test.len(),
        100.0 * args.human_error
    );

    let tiny = train_model(&parts, vec![4], 3, args.seed)?;
    let tiny_report = diagnose(&rates(&tiny, &parts, args.human_error)?)?;
    println!("== tiny network (64-4-10, 3 epochs) ==\n{tiny_report}");

    let model = train_model(&parts, vec![128, 64], 40, args.seed)?;
    let report = diagnose(&rates(&model, &parts, args.human_error)?)?;
    println!("== 64-128-64-10, 40 epochs ==\n{report}");

    // Error analysis on the dev set: tag each mistake and count.
    let logits = model.logits(&parts.dev.x)?;
    let pred = argmax_rows(&logits)?;
    let confidence = softmax(&logits)?.max(D::Minus1)?.to_vec1::<f32>()?;
    let truth = parts.dev.y.to_vec1::<u32>()?;
    let mut analysis = ErrorAnalysis::new();
    for (i, ((&p, &t), &c)) in pred.iter().zip(&truth).zip(&confidence).enumerate() {
        if p != t {
            let (true_tag, pair) = (format!("true {t}"), format!("{t} read as {p}"));
            let mut tags = vec![true_tag.as_str(), pair.as_str()];
            if c < 0.6 {
                tags.push("low confidence");
            }
            analysis.record(i, &tags);
        }
    }
    println!("== error analysis: {} dev mistakes ==\n{analysis}", analysis.total_examined());

    let mut figures = Figures::new();
    figures
        .set("avoidable_bias", report.avoidable_bias)
        .set("variance", report.variance)
        .set("data_mismatch", report.data_mismatch.unwrap_or(f64::NAN))
        .set("verdict", report.verdict.to_string())
        .set("tiny_avoidable_bias", tiny_report.avoidable_bias)
        .set("tiny_variance", tiny_report.variance)
        .set("tiny_verdict", tiny_report.verdict.to_string())
        .set("dev_errors", analysis.total_examined())
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
