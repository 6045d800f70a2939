//! Sheets 25–26 ("Emojify"): which section of the canon does a Bible verse come from?
//!
//! ```text
//! cargo run --release -p dls-nlp --example verse_sections -- --json out/verse_sections.json
//! cargo run --release -p dls-nlp --example verse_sections -- --vectors out/w2v-bible.bin --json out/vs.json
//! ```
//! The 31,095 verses of the 66 books in `../shared/data/text/web-en.txt.gz` (`--text FILE` for
//! another copy; the deuterocanonical books are skipped), labelled Law, History, Wisdom and Poetry,
//! Prophets, Gospels and Acts, Letters or Revelation from their reference, split 80/10/10 by whole
//! chapters (stratified by section, seeded). Word vectors: skip-gram word2vec trained on the
//! training verses only (their text, no labels), or a vector file given by `--vectors`.
//! Two models through the dls-foundations fit loop with Adam, both with the embedding trained
//! further and early stopping on dev accuracy: the mean word vector into softmax, and an LSTM
//! (64 units) over the vectors into softmax. Seen with the defaults (release, seed 0, 2 cores
//! shared with other builds: 161 s of CPU, 4.5 min wall): majority class (History) 0.223, average
//! 0.766, LSTM 0.790 on the 3,185 test verses (dev 0.738 and 0.750). With `--average-embedding
//! frozen --lstm-embedding frozen --lstm-epochs 8`: average 0.633, LSTM 0.751.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::{Parser, ValueEnum};
use dls_foundations::data::Dataset;
use dls_foundations::optim::{Adam, AdamConfig, Schedule};
use dls_foundations::regularize::Clip;
use dls_foundations::report::Figures;
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Trainer};
use dls_foundations::Params;
use dls_nlp::classify::{
    chapter_split, embedding_table, majority_baseline, read_labelled, section_confusion, AverageClassifier,
    EmbeddingMode, LabelledVerse, LstmClassifier, LstmClassifierConfig, Section, WordEmbedding, WordIndex,
};
use dls_nlp::vectors::{io, KeyedVectors};
use dls_nlp::vocab::{Tokenizer, Vocab};
use dls_nlp::word2vec::{self, Architecture};
use dls_sequence::layer::{Directions, InputProjection};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Frozen,
    Trainable,
}

impl From<Mode> for EmbeddingMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Frozen => EmbeddingMode::Frozen,
            Mode::Trainable => EmbeddingMode::Trainable,
        }
    }
}

#[derive(Parser)]
struct Args {
    /// Verse file (`ref<TAB>text`, optionally gzip).
    #[arg(long)]
    text: Option<PathBuf>,
    /// Word vectors (word2vec text or binary, GloVe text); trained on the training verses when absent.
    #[arg(long)]
    vectors: Option<PathBuf>,
    /// word2vec: vector size.
    #[arg(long, default_value_t = 100)]
    vector_size: usize,
    /// word2vec: passes over the training verses.
    #[arg(long, default_value_t = 10)]
    w2v_epochs: usize,
    /// word2vec: minimum count of a word.
    #[arg(long, default_value_t = 3)]
    min_count: u64,
    /// word2vec: worker threads.
    #[arg(long, default_value_t = 2)]
    w2v_threads: usize,
    /// Fractions of each section's verses held out (whole chapters) for dev and test.
    #[arg(long, default_value_t = 0.1)]
    dev: f64,
    #[arg(long, default_value_t = 0.1)]
    test: f64,
    /// Longest verse read, in known words (longer ones are cut).
    #[arg(long, default_value_t = 48)]
    max_len: usize,
    /// Average model: embedding frozen or trained further.
    #[arg(long, value_enum, default_value_t = Mode::Trainable)]
    average_embedding: Mode,
    #[arg(long, default_value_t = 30)]
    average_epochs: usize,
    #[arg(long, default_value_t = 0.003)]
    average_lr: f64,
    /// LSTM model: embedding frozen or trained further.
    #[arg(long, value_enum, default_value_t = Mode::Trainable)]
    lstm_embedding: Mode,
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// LSTM input projection per step (the equations as written) instead of hoisted.
    #[arg(long)]
    per_step: bool,
    /// Read the verse in both directions.
    #[arg(long)]
    bidirectional: bool,
    #[arg(long, default_value_t = 5)]
    lstm_epochs: usize,
    #[arg(long, default_value_t = 0.004)]
    lstm_lr: f64,
    /// LSTM learning-rate decay per epoch (1 = none).
    #[arg(long, default_value_t = 0.5)]
    lstm_decay: f64,
    /// Mini-batch size of the average model.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Mini-batch size of the LSTM.
    #[arg(long, default_value_t = 128)]
    lstm_batch: usize,
    /// Epochs without dev improvement before stopping (best dev weights are kept).
    #[arg(long, default_value_t = 3)]
    patience: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads for candle (small models run faster on one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Skip-gram vectors trained on the text of the training verses (no labels).
fn train_vectors(args: &Args, train: &[&LabelledVerse]) -> Result<KeyedVectors> {
    let tok = Tokenizer::new();
    let sentences = train.iter().map(|v| tok.words(&v.text)).collect::<dls_nlp::Result<Vec<_>>>()?;
    let vocab = Vocab::build(&sentences, args.min_count)?;
    let ids: Vec<Vec<u32>> = sentences.iter().map(|s| vocab.encode(s)).collect();
    let cfg = word2vec::Config {
        sg: Architecture::SkipGram,
        vector_size: args.vector_size,
        epochs: args.w2v_epochs,
        threads: args.w2v_threads,
        seed: args.seed + 1,
        ..Default::default()
    };
    let model = word2vec::train(&vocab, &ids, &cfg)?;
    println!(
        "word2vec skip-gram on the training verses: {} words kept (min-count {}), {}-d, {} epochs, {:.1} s",
        vocab.len(),
        args.min_count,
        args.vector_size,
        args.w2v_epochs,
        model.stats.seconds
    );
    Ok(model.vectors)
}

/// Trains `learner` (whose variables are in `params`) with Adam and early stopping on `dev`.
fn fit<L: Learner>(
    name: &str,
    params: &Params,
    learner: &L,
    data: (&Dataset, &Dataset),
    (epochs, batch_size, lr, decay): (usize, usize, f64, f64),
    args: &Args,
) -> Result<usize> {
    let opt = Adam::new(params.trainable(), AdamConfig { lr, ..Default::default() })?;
    let cfg = FitConfig {
        epochs,
        batch_size,
        schedule: if decay == 1.0 { Schedule::Constant } else { Schedule::Exponential { gamma: decay } },
        clip: Some(Clip::Norm(5.0)),
        patience: Some(args.patience),
        restore_best: true,
        seed: args.seed,
        ..Default::default()
    };
    let report = Trainer::new(params, opt, cfg)?.fit(learner, data.0, Some(data.1))?;
    for e in &report.history.epochs {
        println!(
            "  {name} epoch {:>2}  train loss {:.4}  dev loss {:.4}  dev acc {:.2}%  {:.1}s",
            e.epoch + 1,
            e.train_loss,
            e.dev_loss.unwrap_or(f64::NAN),
            100.0 * e.dev_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    Ok(report.best_epoch.map_or(0, |e| e + 1))
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = args.text.clone().unwrap_or_else(|| root.join("../../shared/data/text/web-en.txt.gz"));
    let (verses, deutero) = read_labelled(&text).with_context(|| format!("reading {}", text.display()))?;
    let split = chapter_split(&verses, args.dev, args.test, args.seed)?;
    let part = |idx: &[usize]| -> Vec<&LabelledVerse> { idx.iter().filter_map(|&i| verses.get(i)).collect() };
    let (train, dev, test) = (part(&split.train), part(&split.dev), part(&split.test));
    println!(
        "{}: {} verses of the 66 books ({deutero} deuterocanonical skipped); {} train, {} dev, {} test",
        text.display(),
        verses.len(),
        train.len(),
        dev.len(),
        test.len()
    );

    let kv = match &args.vectors {
        Some(path) => {
            let kv = io::load(path, None).with_context(|| format!("loading {}", path.display()))?;
            println!("{}: {} vectors of {} dimensions", path.display(), kv.len(), kv.dim());
            kv
        }
        None => train_vectors(&args, &train)?,
    };
    let index = WordIndex::new(&kv)?;
    let device = Device::Cpu;
    let (train_ds, train_stats) = index.dataset(&train, args.max_len, &device)?;
    let (dev_ds, _) = index.dataset(&dev, args.max_len, &device)?;
    let (test_ds, test_stats) = index.dataset(&test, args.max_len, &device)?;
    println!(
        "unknown words skipped: {} of {} in train ({:.2}%), {} of {} in test ({:.2}%); {} train verses cut at {} words",
        train_stats.unknown,
        train_stats.known + train_stats.unknown,
        100.0 * train_stats.unknown_rate(),
        test_stats.unknown,
        test_stats.known + test_stats.unknown,
        100.0 * test_stats.unknown_rate(),
        train_stats.truncated,
        args.max_len
    );
    let (majority, baseline) = majority_baseline(&train_ds.y, &test_ds.y)?;
    println!("majority class ({majority}): test accuracy {:.2}%", 100.0 * baseline);
    let table = embedding_table(&kv, &device)?;
    let classes = Section::ALL.len();

    // Model 1: average of the word vectors into softmax.
    let t = Instant::now();
    let params = Params::new(args.seed);
    let embed = WordEmbedding::new(&params, "embed.weight", &table, args.average_embedding.into())?;
    let model = AverageClassifier::new(params.var_builder(DType::F32, &device), embed, classes)?;
    let average = Classifier::new(model, Objective::MultiClass);
    println!("average model ({:?} embedding):", args.average_embedding);
    let average_best = fit(
        "average",
        &params,
        &average,
        (&train_ds, &dev_ds),
        (args.average_epochs, args.batch, args.average_lr, 1.0),
        &args,
    )?;
    let average_eval = average.evaluate(&test_ds)?;
    let average_cm = section_confusion(average.model(), &test_ds)?;
    let average_seconds = t.elapsed().as_secs_f64();
    println!(
        "average: test accuracy {:.2}% (epoch {average_best}, {average_seconds:.1} s)\n{average_cm}",
        100.0 * average_eval.accuracy
    );

    // Model 2: an LSTM over the word vectors into softmax.
    let t = Instant::now();
    let params = Params::new(args.seed);
    let embed = WordEmbedding::new(&params, "embed.weight", &table, args.lstm_embedding.into())?;
    let cfg = LstmClassifierConfig {
        hidden: args.hidden,
        num_layers: 1,
        directions: if args.bidirectional { Directions::Bidirectional } else { Directions::Forward },
        classes,
        projection: if args.per_step { InputProjection::PerStep } else { InputProjection::Hoisted },
    };
    let model = LstmClassifier::new(params.var_builder(DType::F32, &device), embed, &cfg)?;
    let lstm = Classifier::new(model, Objective::MultiClass);
    println!("LSTM model ({:?} embedding, hidden {}):", args.lstm_embedding, args.hidden);
    let lstm_best = fit(
        "lstm",
        &params,
        &lstm,
        (&train_ds, &dev_ds),
        (args.lstm_epochs, args.lstm_batch, args.lstm_lr, args.lstm_decay),
        &args,
    )?;
    let lstm_eval = lstm.evaluate(&test_ds)?;
    let lstm_cm = section_confusion(lstm.model(), &test_ds)?;
    let lstm_seconds = t.elapsed().as_secs_f64();
    println!(
        "LSTM: test accuracy {:.2}% (epoch {lstm_best}, {lstm_seconds:.1} s)\n{lstm_cm}",
        100.0 * lstm_eval.accuracy
    );

    let seconds = start.elapsed().as_secs_f64();
    let cm_json = |cm: &dls_foundations::metrics::ConfusionMatrix| -> Result<serde_json::Value> {
        let rows = (0..classes)
            .map(|t| (0..classes).map(|p| cm.get(t, p)).collect::<dls_foundations::Result<Vec<u64>>>())
            .collect::<dls_foundations::Result<Vec<_>>>()?;
        Ok(serde_json::to_value(rows)?)
    };
    let mut figures = Figures::new();
    figures
        .set("average_accuracy", average_eval.accuracy)
        .set("lstm_accuracy", lstm_eval.accuracy)
        .set("majority_accuracy", baseline)
        .set("majority_class", majority.name())
        .set("average_macro_f1", average_cm.macro_f1())
        .set("lstm_macro_f1", lstm_cm.macro_f1())
        .set("average_confusion", cm_json(&average_cm)?)
        .set("lstm_confusion", cm_json(&lstm_cm)?)
        .set("classes", Section::ALL.iter().map(|s| s.name()).collect::<Vec<_>>())
        .set("average_epoch", average_best)
        .set("lstm_epoch", lstm_best)
        .set("train_verses", train.len())
        .set("dev_verses", dev.len())
        .set("test_verses", test.len())
        .set("unknown_words_train", train_stats.unknown)
        .set("unknown_words_test", test_stats.unknown)
        .set("vocabulary", kv.len())
        .set("vectors", if args.vectors.is_some() { "file" } else { "word2vec on train" })
        .set("average_seconds", average_seconds)
        .set("lstm_seconds", lstm_seconds)
        .set("seconds", seconds);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
