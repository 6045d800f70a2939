//! Sheet 13: multi-task learning with missing labels.
//!
//! ```text
//! cargo run --release -p dls-foundations --example multitask -- --json out/multitask.json
//! ```
//! One network with three sigmoid outputs answers three questions about each shipped digit at once:
//! is it even, is it greater than 4, does it have a closed loop (0, 6, 8, 9). A fraction of the
//! training labels (`--missing`, default 40%) is unknown and stored as NaN; the masked loss averages
//! over the known labels only, so an image with one known answer still teaches that task. Reports
//! test accuracy per task against the same network trained on each task alone with the same labels;
//! expect every task above 0.9. A few seconds.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::{ModuleT, Optimizer};
use clap::Parser;
use dls_foundations::data::{train_dev_test_stratified, Dataset};
use dls_foundations::datasets::digits;
use dls_foundations::loss::masked_binary_cross_entropy;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::rng::SeededRng;
use dls_foundations::train::{Evaluation, FitConfig, Learner, Progress, Trainer};
use dls_foundations::Params;
use rand::Rng;

#[derive(Parser)]
struct Args {
    /// Fraction of training labels hidden (replaced by NaN).
    #[arg(long, default_value_t = 0.4)]
    missing: f64,
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

const TASKS: [&str; 3] = ["even", "greater_than_4", "has_loop"];

fn answers(digit: u32) -> [f32; 3] {
    let b = |c: bool| if c { 1.0 } else { 0.0 };
    [b(digit.is_multiple_of(2)), b(digit > 4), b(matches!(digit, 0 | 6 | 8 | 9))]
}

/// Targets `[n, tasks]` for the given tasks, with each label hidden with probability `missing`.
fn targets(ds: &Dataset, tasks: &[usize], missing: f64, rng: &SeededRng) -> Result<Dataset> {
    let digits = ds.y.to_vec1::<u32>()?;
    let mut y = Vec::with_capacity(digits.len() * tasks.len());
    for d in &digits {
        let a = answers(*d);
        for &t in tasks {
            y.push(if rng.lock().random::<f64>() < missing { f32::NAN } else { a[t] });
        }
    }
    Ok(Dataset::new(ds.x.clone(), Tensor::from_vec(y, (digits.len(), tasks.len()), &Device::Cpu)?)?)
}

/// An MLP with one sigmoid output per task, trained on the known labels only.
struct MultiTask {
    mlp: Mlp,
}

impl MultiTask {
    fn loss_of(&self, logits: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        let known = y.eq(y)?.to_dtype(DType::F32)?; // NaN != NaN
        masked_binary_cross_entropy(logits, y, &known)
    }

    /// Accuracy of each task over its known labels.
    fn per_task_accuracy(&self, data: &Dataset) -> Result<Vec<f64>> {
        let logits = self.mlp.forward_t(&data.x, false)?.to_vec2::<f32>()?;
        let y = data.y.to_vec2::<f32>()?;
        let tasks = y.first().map_or(0, Vec::len);
        let mut acc = Vec::with_capacity(tasks);
        for t in 0..tasks {
            let (mut hit, mut n) = (0usize, 0usize);
            for (l, row) in logits.iter().zip(&y) {
                if !row[t].is_nan() {
                    n += 1;
                    hit += usize::from((l[t] > 0.0) == (row[t] > 0.5));
                }
            }
            acc.push(hit as f64 / n.max(1) as f64);
        }
        Ok(acc)
    }
}

impl Learner for MultiTask {
    fn loss(&self, x: &Tensor, y: &Tensor) -> dls_foundations::Result<Tensor> {
        self.loss_of(&self.mlp.forward_t(x, true)?, y)
    }

    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        let logits = self.mlp.forward_t(&data.x, false)?;
        let loss = self.loss_of(&logits, &data.y)?.to_scalar::<f32>()? as f64;
        let hits =
            logits.gt(0.0)?.eq(&data.y.gt(0.5)?)?.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()?;
        Ok(Evaluation { loss, accuracy: hits })
    }
}

fn train(train: &Dataset, outputs: usize, args: &Args) -> Result<MultiTask> {
    let params = Params::new(args.seed);
    let cfg = MlpConfig { inputs: 64, hidden: vec![64], outputs, ..Default::default() };
    let model = MultiTask { mlp: Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)? };
    let opt = Adam::new(params.trainable(), AdamConfig::default())?;
    let fit =
        FitConfig { epochs: args.epochs, batch_size: 32, progress: Progress::Never, ..Default::default() };
    Trainer::new(&params, opt, fit)?.fit(&model, train, None)?;
    Ok(model)
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(1);
    let start = Instant::now();
    let split = train_dev_test_stratified(&digits()?, 0.1, 0.3, args.seed)?.standardized()?.0;
    let rng = SeededRng::new(args.seed);
    let all = [0, 1, 2];
    let train_y = targets(&split.train, &all, args.missing, &rng)?;
    let test_y = targets(&split.test, &all, 0.0, &rng)?;
    let known = train_y.y.eq(&train_y.y)?.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()?;
    println!(
        "{} training images, {:.0}% of their labels known; {} test images",
        train_y.len(),
        100.0 * known,
        test_y.len()
    );

    let joint = train(&train_y, 3, &args)?.per_task_accuracy(&test_y)?;
    let mut figures = Figures::new();
    println!("{:<16} {:>10} {:>10}", "task", "multi-task", "alone");
    for (t, name) in TASKS.iter().enumerate() {
        // The single-task baseline sees exactly the labels the joint model saw for this task.
        let col: Vec<u32> = vec![t as u32];
        let single_train = Dataset::new(
            train_y.x.clone(),
            train_y.y.index_select(&Tensor::new(col.as_slice(), &Device::Cpu)?, 1)?,
        )?;
        let single_test = targets(&split.test, &[t], 0.0, &rng)?;
        let alone = train(&single_train, 1, &args)?.per_task_accuracy(&single_test)?[0];
        println!("{name:<16} {:>9.2}% {:>9.2}%", 100.0 * joint[t], 100.0 * alone);
        figures.set(&format!("{name}_accuracy"), joint[t]).set(&format!("{name}_alone_accuracy"), alone);
    }
    figures.set("known_label_fraction", known).set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
