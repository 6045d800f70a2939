//! Sheet 19: data augmentation, test-time multi-crop and ensembling on a small labelled set.
//!
//! ```text
//! cargo run --release -p dls-vision --example augmentation -- --json out/augmentation.json --out out/augmented.png
//! ```
//! The 8x8 digits shipped with dls-foundations (scaled to [0, 1], 70/15/15 stratified split), of
//! which only `--labelled` training images (default 200) are used. The same small CNN (two 3x3
//! convolutions with max pooling, one dense layer) is trained for the same number of steps on
//! the plain images and on images shifted by up to one pixel (random crop of the zero-padded
//! image) with brightness/contrast jitter; no flips (a mirrored 2 is not a 2). Each is trained
//! from `--repeats` seeds (default 3) and figures are means: one test image is 0.37%, about the
//! size of the effect. Keys: `plain_accuracy`, `augmented_accuracy` (test), their `_dev_`
//! versions, `augmented_tta_accuracy` (five-crop test-time averaging: the image and its four
//! one-pixel shifts), `plain_tta_accuracy`, and ensembles of the models of all seeds
//! (`ensemble_accuracy` augmented, `plain_ensemble_accuracy`).
//! Seen (release, one thread, 34 s of CPU; 37-67 s wall on 2 cores shared with other builds):
//! plain 0.958, augmented 0.958, augmented + five-crop 0.986 (plain + five-crop 0.76: a model
//! never shown shifts is hurt by them), ensembles 0.981 augmented vs 0.967 plain. On its own
//! the augmentation only ties at this size; its gain shows when the test-time crops or the
//! ensemble use it. `--out` writes one row per digit: the original, then 7 draws.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{Linear, Optimizer, VarBuilder};
use clap::Parser;
use dls_foundations::data::{train_dev_test_stratified, Dataset};
use dls_foundations::datasets::digits;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;
use dls_vision::augment::{Augment, Augmented, ColorJitter, Step};
use dls_vision::ensemble::{accuracy, average_probabilities, CropSet, MultiCrop};
use dls_vision::layers::{Conv2d, Conv2dConfig};
use dls_vision::pool::{pool2d, Pool2dConfig};

#[derive(Parser)]
struct Args {
    /// Labelled training images used (out of about 1,250).
    #[arg(long, default_value_t = 200)]
    labelled: usize,
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Shift of the random crop (zero padding on each side).
    #[arg(long, default_value_t = 1)]
    pad: usize,
    /// Brightness and contrast jitter strength.
    #[arg(long, default_value_t = 0.3)]
    jitter: f64,
    /// Seeds each setting is trained from (figures are means over them; the ensembles hold one
    /// model per seed).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write a PNG grid of augmented samples here (one row per digit: original, then 7 draws).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Two 3x3 convolutions (16, 32 channels) with ReLU and 2x2 max pooling, then a dense layer:
/// `[n, 1, 8, 8]` to `[n, 10]`.
struct SmallCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Linear,
}

impl SmallCnn {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: Conv2d::new(vb.pp("conv1"), &Conv2dConfig::new(1, 16, 3).pad(1))?,
            conv2: Conv2d::new(vb.pp("conv2"), &Conv2dConfig::new(16, 32, 3).pad(1))?,
            fc: candle_nn::linear(32 * 2 * 2, 10, vb.pp("fc"))?,
        })
    }
}

impl ModuleT for SmallCnn {
    fn forward_t(&self, x: &Tensor, _: bool) -> candle_core::Result<Tensor> {
        let pool = |y: Tensor| pool2d(&y, &Pool2dConfig::max(2, 2, 0)).map_err(candle_core::Error::wrap);
        let y = pool(self.conv1.forward(x)?.relu()?)?;
        let y = pool(self.conv2.forward(&y)?.relu()?)?;
        self.fc.forward(&y.flatten_from(1)?)
    }
}

fn train(args: &Args, data: &Dataset, seed: u64, augment: Option<Augment>) -> Result<Classifier<SmallCnn>> {
    let params = Params::new(seed);
    let learner =
        Classifier::new(SmallCnn::new(params.var_builder(DType::F32, &Device::Cpu))?, Objective::MultiClass);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let fit = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        seed,
        progress: Progress::Never,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&params, opt, fit)?;
    Ok(match augment {
        None => {
            trainer.fit(&learner, data, None)?;
            learner
        }
        Some(a) => {
            let wrapped = Augmented::new(learner, a);
            trainer.fit(&wrapped, data, None)?;
            wrapped.into_inner()
        }
    })
}

fn pipeline(args: &Args, seed: u64) -> Result<Augment> {
    let jitter = ColorJitter { brightness: args.jitter, contrast: args.jitter, saturation: 0.0 };
    Ok(Augment::new(seed).then(Step::Crop { pad: args.pad })?.then(Step::Jitter(jitter))?)
}

/// One row per image: the original, then `draws` augmented versions, each framed in white and
/// scaled up 4x.
fn grid(images: &Tensor, augment: &Augment, draws: usize) -> Result<Tensor> {
    let frame = |x: &Tensor| -> Result<Tensor> {
        // 1 - pad(1 - x): a border of ones.
        let inv = x.affine(-1.0, 1.0)?.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        Ok(inv.affine(-1.0, 1.0)?)
    };
    let mut columns = vec![frame(images)?];
    for _ in 0..draws {
        columns.push(frame(&augment.apply(images)?)?);
    }
    let rows = Tensor::cat(&columns, 3)?; // [n, 1, 10, 10 (draws + 1)]
    let (n, _, h, w) = rows.dims4()?;
    let stacked = rows.permute((1, 0, 2, 3))?.reshape((1, 1, n * h, w))?;
    Ok(stacked.upsample_nearest2d(4 * n * h, 4 * w)?.squeeze(0)?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let ds = digits()?;
    let n = ds.len();
    let x = (ds.x.reshape((n, 1, 8, 8))? / 16.0)?;
    let split = train_dev_test_stratified(&Dataset::new(x, ds.y)?, 0.15, 0.15, args.seed)?;
    let keep: Vec<u32> = (0..args.labelled.min(split.train.len()) as u32).collect();
    let small = split.train.select(&keep)?;
    println!(
        "digits: {} labelled training images (of {}), {} dev, {} test; {} epochs",
        small.len(),
        split.train.len(),
        split.dev.len(),
        split.test.len(),
        args.epochs
    );

    if let Some(path) = &args.out {
        let first: Vec<u32> = (0..10u32).collect();
        let png = grid(&split.train.select(&first)?.x, &pipeline(&args, args.seed)?, 7)?;
        dls_vision::io::write_png(&png, path)?;
        println!("augmented samples written to {}", path.display());
    }

    // Each setting is trained from `--repeats` seeds: on 269 test images one image is 0.37%,
    // about the size of the effect, so single runs mislead.
    let labels = split.test.y.to_vec1::<u32>()?;
    let five = MultiCrop { size: 8, pad: args.pad, crops: CropSet::Five };
    let (mut plain, mut augmented) = (Vec::new(), Vec::new());
    let mut rows = Vec::new();
    for k in 0..args.repeats.max(1) as u64 {
        let seed = args.seed + k;
        let p = train(&args, &small, seed, None)?;
        let a = train(&args, &small, seed, Some(pipeline(&args, seed + 1000)?))?;
        let row = [
            p.evaluate(&split.dev)?.accuracy,
            p.evaluate(&split.test)?.accuracy,
            a.evaluate(&split.dev)?.accuracy,
            a.evaluate(&split.test)?.accuracy,
            // Test-time augmentation: the image and its four shifts, softmax averaged.
            accuracy(&five.predict(a.model(), &split.test.x)?, &labels)?,
            accuracy(&five.predict(p.model(), &split.test.x)?, &labels)?,
        ];
        println!(
            "seed {seed}: plain dev {:.2}% test {:.2}% | augmented dev {:.2}% test {:.2}% | five-crop test {:.2}% (plain model {:.2}%)",
            100.0 * row[0],
            100.0 * row[1],
            100.0 * row[2],
            100.0 * row[3],
            100.0 * row[4],
            100.0 * row[5]
        );
        rows.push(row);
        plain.push(p);
        augmented.push(a);
    }
    let mean = |i: usize| rows.iter().map(|r| r[i]).sum::<f64>() / rows.len() as f64;
    let [plain_dev, plain_test, aug_dev, aug_test, tta, plain_tta] = std::array::from_fn(mean);
    let ensemble_of = |models: &[Classifier<SmallCnn>]| -> Result<f64> {
        let members: Vec<&dyn ModuleT> = models.iter().map(|m| m.model() as &dyn ModuleT).collect();
        Ok(accuracy(&average_probabilities(&members, &split.test.x)?, &labels)?)
    };
    let (ensemble, plain_ensemble) = (ensemble_of(&augmented)?, ensemble_of(&plain)?);
    println!(
        "mean over {} seeds: plain test {:.2}%, augmented {:.2}%, augmented + five-crop {:.2}%",
        rows.len(),
        100.0 * plain_test,
        100.0 * aug_test,
        100.0 * tta
    );
    println!(
        "ensembles of the {} models: augmented {:.2}%, plain {:.2}%",
        rows.len(),
        100.0 * ensemble,
        100.0 * plain_ensemble
    );

    let mut figures = Figures::new();
    figures
        .set("plain_accuracy", plain_test)
        .set("augmented_accuracy", aug_test)
        .set("plain_dev_accuracy", plain_dev)
        .set("augmented_dev_accuracy", aug_dev)
        .set("augmented_tta_accuracy", tta)
        .set("plain_tta_accuracy", plain_tta)
        .set("ensemble_accuracy", ensemble)
        .set("plain_ensemble_accuracy", plain_ensemble)
        .set("repeats", rows.len())
        .set("labelled", small.len())
        .set("epochs", args.epochs)
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
