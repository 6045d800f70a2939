//! Sheet 21: a Siamese embedding trained with triplet loss, then one-shot verification of classes
//! it never saw.
//!
//! ```text
//! cargo run --release -p dls-vision --example triplet -- --json out/triplet.json
//! ```
//! On the shipped 8x8 digits: a small conv net (two 3x3 convs, a 2x2 max pool, two dense layers)
//! maps each image to a 32-d unit vector and is trained with triplet loss (online semi-hard mining by
//! default, `--mining hard` for batch-hard) on the digits 0-6 only. The digits 7-9 are then split
//! in two halves; balanced same/different pairs from one half choose the distance threshold, pairs
//! from the other half measure `verification_accuracy` and the ROC `auc`. Training images get
//! random one-pixel shifts (`--no-jitter` turns them off). Raw pixels (centred, L2-normalised) give
//! the baseline on the same pairs. Seen on 2 cores in about 10 s: seed 0 accuracy 0.751, AUC 0.817
//! against raw pixels' 0.731 / 0.802; over seeds 0-2 the AUC ranges 0.76-0.82 against 0.80-0.82:
//! seven 8x8 digit classes are too few for the embedding to transfer reliably to 7-9.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::Optimizer;
use clap::{Parser, ValueEnum};
use dls_foundations::data::Dataset;
use dls_foundations::datasets::digits;
use dls_foundations::init::Init;
use dls_foundations::models::Dense;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::report::Figures;
use dls_foundations::{Params, SeededRng};
use dls_vision::face::{
    accuracy_at, auc, best_threshold, l2_normalize, mined_triplet_loss, Distance, Mining, TripletConfig,
};
use dls_vision::layers::{Conv2d, Conv2dConfig};
use dls_vision::pool::{pool2d, Pool2dConfig};
use rand::Rng;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MiningArg {
    Hard,
    SemiHard,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DistanceArg {
    Squared,
    Euclidean,
}

#[derive(Parser)]
struct Args {
    /// Passes over the training classes.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Triplet margin, in squared distance between unit vectors (0..4).
    #[arg(long, default_value_t = 0.5)]
    margin: f64,
    #[arg(long, value_enum, default_value_t = MiningArg::SemiHard)]
    mining: MiningArg,
    /// Distance the margin is measured in (pairs are always compared in the same one).
    #[arg(long, value_enum, default_value_t = DistanceArg::Squared)]
    distance: DistanceArg,
    /// Train without the random one-pixel shifts.
    #[arg(long)]
    no_jitter: bool,
    /// Embedding size.
    #[arg(long, default_value_t = 32)]
    dim: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `[n, 64]` pixels in 0..1 -> `[n, dim]` unit vectors.
struct EmbeddingNet {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Dense,
    fc2: Dense,
}

impl EmbeddingNet {
    fn new(params: &Params, dim: usize) -> Result<Self> {
        let vb = params.var_builder(DType::F32, &Device::Cpu);
        Ok(Self {
            conv1: Conv2d::new(vb.pp("conv1"), &Conv2dConfig::new(1, 16, 3).pad(1))?,
            conv2: Conv2d::new(vb.pp("conv2"), &Conv2dConfig::new(16, 32, 3).pad(1))?,
            fc1: Dense::new(vb.pp("fc1"), 32 * 4 * 4, 128, Init::He)?,
            fc2: Dense::new(vb.pp("fc2"), 128, dim, Init::Glorot)?,
        })
    }

    fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let h = self.conv1.forward(&x.reshape((n, 1, 8, 8))?)?.relu()?;
        let h = self.conv2.forward(&h)?.relu()?;
        let h = pool2d(&h, &Pool2dConfig::max(2, 2, 0))?.flatten_from(1)?;
        let h = self.fc2.forward(&self.fc1.forward(&h)?.relu()?)?;
        Ok(l2_normalize(&h)?)
    }
}

/// Shifts each 8x8 image by a random -1..=1 pixels in each direction (zeros come in).
fn jitter(x: &Tensor, rng: &SeededRng) -> Result<Tensor> {
    let rows = x.to_vec2::<f32>()?;
    let mut rng = rng.lock();
    let mut out = Vec::with_capacity(rows.len() * 64);
    for row in &rows {
        let (dy, dx): (i64, i64) = (rng.random_range(-1..=1), rng.random_range(-1..=1));
        for y in 0..8i64 {
            for x in 0..8i64 {
                let (sy, sx) = (y - dy, x - dx);
                let inside = (0..8).contains(&sy) && (0..8).contains(&sx);
                out.push(if inside { row[(sy * 8 + sx) as usize] } else { 0.0 });
            }
        }
    }
    Ok(Tensor::from_vec(out, (rows.len(), 64), x.device())?)
}

/// Rows whose label passes `keep`.
fn subset(ds: &Dataset, keep: impl Fn(u32) -> bool) -> Result<Dataset> {
    let idx: Vec<u32> =
        ds.y.to_vec1::<u32>()?.iter().enumerate().filter(|(_, &l)| keep(l)).map(|(i, _)| i as u32).collect();
    Ok(ds.select(&idx)?)
}

/// Same-label (and as many other-label) partners drawn for each image.
const PAIRS_PER_IMAGE: usize = 5;

/// For every row, same-label and other-label partners drawn from the same rows.
fn balanced_pairs(labels: &[u32], rng: &SeededRng) -> Result<Vec<(usize, usize, bool)>> {
    let mut pairs = Vec::with_capacity(2 * labels.len());
    let mut rng = rng.lock();
    for (i, &l) in labels.iter().enumerate() {
        let same: Vec<usize> = (0..labels.len()).filter(|&j| j != i && labels[j] == l).collect();
        let other: Vec<usize> = (0..labels.len()).filter(|&j| labels[j] != l).collect();
        if same.is_empty() || other.is_empty() {
            bail!("row {i} (label {l}) has no partner for a balanced pair");
        }
        for _ in 0..PAIRS_PER_IMAGE {
            pairs.push((i, same[rng.random_range(0..same.len())], true));
            pairs.push((i, other[rng.random_range(0..other.len())], false));
        }
    }
    Ok(pairs)
}

/// Distances of the pairs' embeddings, and whether each pair shares a label.
fn pair_distances(
    emb: &Tensor,
    pairs: &[(usize, usize, bool)],
    distance: Distance,
) -> Result<(Vec<f64>, Vec<bool>)> {
    let e = emb.to_vec2::<f32>()?;
    let mut d = Vec::with_capacity(pairs.len());
    for &(i, j, _) in pairs {
        d.push(distance.between(&e[i], &e[j])?);
    }
    Ok((d, pairs.iter().map(|p| p.2).collect()))
}

/// Threshold from the dev pairs; accuracy and AUC on the test pairs.
fn evaluate(
    dev: (&Tensor, &[(usize, usize, bool)]),
    test: (&Tensor, &[(usize, usize, bool)]),
    distance: Distance,
) -> Result<[f64; 3]> {
    let (dev_d, dev_same) = pair_distances(dev.0, dev.1, distance)?;
    let choice = best_threshold(&dev_d, &dev_same)?;
    let (test_d, test_same) = pair_distances(test.0, test.1, distance)?;
    let scores: Vec<f64> = test_d.iter().map(|d| -d).collect();
    Ok([accuracy_at(&test_d, &test_same, choice.threshold)?, auc(&scores, &test_same)?, choice.threshold])
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let all = digits()?;
    let all = Dataset::new((all.x / 16.0)?, all.y)?;
    let train = subset(&all, |l| l <= 6)?;
    let unseen = subset(&all, |l| l >= 7)?;
    // Unseen classes: a seeded half for choosing the threshold, the other half for testing.
    let rng = SeededRng::new(args.seed + 1);
    let mut order: Vec<u32> = (0..unseen.len() as u32).collect();
    {
        let mut r = rng.lock();
        for i in (1..order.len()).rev() {
            order.swap(i, r.random_range(0..=i));
        }
    }
    let half = order.len() / 2;
    let (dev, test) = (unseen.select(&order[..half])?, unseen.select(&order[half..])?);
    let dev_pairs = balanced_pairs(&dev.y.to_vec1::<u32>()?, &rng)?;
    let test_pairs = balanced_pairs(&test.y.to_vec1::<u32>()?, &rng)?;
    println!(
        "digits: {} training images (classes 0-6); unseen 7-9: {} dev / {} test images, {} / {} pairs",
        train.len(),
        dev.len(),
        test.len(),
        dev_pairs.len(),
        test_pairs.len()
    );

    let mining = match args.mining {
        MiningArg::Hard => Mining::BatchHard,
        MiningArg::SemiHard => Mining::BatchSemiHard,
    };
    let distance = match args.distance {
        DistanceArg::Squared => Distance::SquaredEuclidean,
        DistanceArg::Euclidean => Distance::Euclidean,
    };
    let cfg = TripletConfig { margin: args.margin, distance, mining };
    let params = Params::new(args.seed);
    let net = EmbeddingNet::new(&params, args.dim)?;
    let mut opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let shuffle = SeededRng::new(args.seed + 2);
    for epoch in 0..args.epochs {
        let (mut loss_sum, mut active_sum, mut batches) = (0.0, 0.0, 0usize);
        for batch in train.batches(args.batch, Some(&shuffle))? {
            let (x, y) = batch?;
            let x = if args.no_jitter { x } else { jitter(&x, &shuffle)? };
            let mined = mined_triplet_loss(&net.embed(&x)?, &y, &cfg)?;
            opt.backward_step(&mined.loss)?;
            loss_sum += mined.loss.to_scalar::<f32>()? as f64;
            active_sum += mined.active_fraction;
            batches += 1;
        }
        if epoch % 5 == 4 || epoch + 1 == args.epochs {
            let b = batches.max(1) as f64;
            println!(
                "epoch {:>3}  triplet loss {:.4}  active triplets {:.1}%",
                epoch + 1,
                loss_sum / b,
                100.0 * active_sum / b
            );
        }
    }

    let (dev_emb, test_emb) = (net.embed(&dev.x)?, net.embed(&test.x)?);
    let [accuracy, roc_auc, threshold] =
        evaluate((&dev_emb, &dev_pairs), (&test_emb, &test_pairs), distance)?;
    let raw = |x: &Tensor| l2_normalize(&x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?);
    let [base_accuracy, base_auc, _] =
        evaluate((&raw(&dev.x)?, &dev_pairs), (&raw(&test.x)?, &test_pairs), distance)?;
    if !(accuracy.is_finite() && roc_auc.is_finite()) {
        bail!("evaluation produced non-finite figures");
    }
    println!("raw pixels:  verification accuracy {:.2}%, AUC {:.4}", 100.0 * base_accuracy, base_auc);
    println!(
        "embedding:   verification accuracy {:.2}%, AUC {:.4} (threshold {threshold:.3} chosen on dev pairs)",
        100.0 * accuracy,
        roc_auc
    );
    let seconds = start.elapsed().as_secs_f64();
    println!("{seconds:.1} s");
    let mut figures = Figures::new();
    figures
        .set("verification_accuracy", accuracy)
        .set("auc", roc_auc)
        .set("threshold", threshold)
        .set("baseline_accuracy", base_accuracy)
        .set("baseline_auc", base_auc)
        .set("mining", format!("{:?}", args.mining))
        .set("epochs", args.epochs)
        .set("seconds", seconds);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
