//! Sheet 26: GloVe on the Bible, scored on WordSim-353, SimLex-999 and Google's analogy questions.
//!
//! ```text
//! cargo run --release -p dls-nlp --example glove -- --json out/glove.json
//! cargo run --release -p dls-nlp --example glove -- --text ../shared/data/text/web-en.txt.gz --threads 2 --json out/glove-bible.json
//! ```
//! Defaults: 100 dimensions, symmetric window 10 with 1/distance weights, min-count 5, x_max 100,
//! alpha 0.75, AdaGrad at 0.05, 25 epochs. The default text is the shipped excerpt (~100k words,
//! about 2 s; too small for the evaluation sets, which it barely covers). On the whole Bible (~915k
//! words, 6,141 words kept, 1.57M non-zero counts, ~20 s on 2 threads) the word vectors `w` reach
//! WordSim-353 Spearman 0.30-0.31 (68 pairs covered), SimLex-999 about -0.07 and analogy accuracy
//! about 7% (1,799 questions covered) over seeds 1-3; `--output sum` (`w + w̃`, the reference tool's
//! recommended output) does worse on this small corpus (0.26-0.27, -0.06, 4-5%). word2vec skip-gram
//! on the same tokens (`--sg 1 --threads 2`): 0.32, 0.10, 8.8%.
//! `--out FILE` saves the vectors in GloVe's text format (`--output word|context|sum`);
//! `--cooc-out FILE` writes the merged counts in the reference tool's `cooccurrence.bin` format;
//! `--max-entries N` is the counting memory budget in pairs (smaller values spill more shards).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dls_foundations::report::Figures;
use dls_nlp::corpus::read_verses;
use dls_nlp::glove::{cooccur, train};
use dls_nlp::vectors::{eval, Analogy};
use dls_nlp::vocab::{Tokenizer, Vocab};

#[derive(Parser)]
struct Args {
    /// Verse file (`ref<TAB>text`, optionally gzip); the shipped excerpt when absent.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Where to save the vectors (GloVe text format).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which vectors to evaluate and save: word, context or sum.
    #[arg(long, default_value = "word")]
    output: String,
    /// Write the merged co-occurrence counts here (GloVe's binary format).
    #[arg(long)]
    cooc_out: Option<PathBuf>,
    /// Analogy questions; the shipped questions-words.txt when absent.
    #[arg(long)]
    analogies: Option<PathBuf>,
    /// WordSim-353 pairs; the shipped copy when absent.
    #[arg(long)]
    wordsim: Option<PathBuf>,
    /// SimLex-999 pairs; the shipped copy when absent.
    #[arg(long)]
    simlex: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    vector_size: usize,
    #[arg(long, default_value_t = 10)]
    window: usize,
    #[arg(long, default_value_t = 5)]
    min_count: u64,
    #[arg(long, default_value_t = 25)]
    epochs: usize,
    #[arg(long, default_value_t = 100.0)]
    x_max: f64,
    #[arg(long, default_value_t = 0.75)]
    alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    learning_rate: f32,
    /// Counting memory budget in distinct pairs.
    #[arg(long, default_value_t = 1 << 22)]
    max_entries: usize,
    /// Training threads (0 = one per core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Words whose nearest neighbours are printed.
    #[arg(long, value_delimiter = ',', default_value = "god,king,water,moses,egypt")]
    neighbours: Vec<String>,
    /// Write the final figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = std::time::Instant::now();
    let output = match args.output.as_str() {
        "word" => train::Output::Word,
        "context" => train::Output::Context,
        "sum" => train::Output::Sum,
        other => bail!("--output must be word, context or sum, got {other:?}"),
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = args.text.clone().unwrap_or_else(|| root.join("data/bible-excerpt.txt.gz"));
    let verses = read_verses(&text)?;
    let tok = Tokenizer::new();
    let sentences = verses.iter().map(|v| tok.words(&v.text)).collect::<dls_nlp::Result<Vec<_>>>()?;
    let vocab = Vocab::build(&sentences, args.min_count)?;
    let ids: Vec<Vec<u32>> = sentences.iter().map(|s| vocab.encode(s)).collect();
    let raw: usize = sentences.iter().map(Vec::len).sum();
    println!(
        "{}: {} verses, {raw} words, {} distinct kept (min-count {})",
        text.display(),
        verses.len(),
        vocab.len(),
        args.min_count
    );

    let t = std::time::Instant::now();
    let config = cooccur::Config { window: args.window, max_entries: args.max_entries, temp_dir: None };
    let mut counter = cooccur::Counter::new(config)?;
    for s in &ids {
        counter.add_sentence(s)?;
    }
    let shards = counter.shards();
    let records = counter.finish()?;
    println!(
        "co-occurrences: {} non-zero pairs (window {}, {shards} shards spilled) in {:.2} s",
        records.len(),
        args.window,
        t.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.cooc_out {
        std::fs::write(path, dls_nlp::glove::shard::to_bytes(&records))
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let config = train::Config {
        vector_size: args.vector_size,
        x_max: args.x_max,
        alpha: args.alpha,
        learning_rate: args.learning_rate,
        epochs: args.epochs,
        threads: args.threads,
        seed: args.seed,
        ..train::Config::default()
    };
    let model = train::train(vocab.words(), &records, &config)?;
    for (e, loss) in model.losses.iter().enumerate() {
        if e == 0 || (e + 1) % 5 == 0 || e + 1 == model.losses.len() {
            println!("  epoch {:>3}: loss {loss:.5}", e + 1);
        }
    }
    let s = &model.stats;
    println!(
        "trained {} epochs on {} threads in {:.2} s ({:.0} entries/s)",
        model.losses.len(),
        s.threads,
        s.seconds,
        (s.entries * model.losses.len()) as f64 / s.seconds.max(1e-9)
    );
    let kv = model.vectors(output)?;
    for w in &args.neighbours {
        if kv.get(w).is_some() {
            let near = kv.most_similar(&[w], &[], 5)?;
            let list: Vec<String> = near.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
            println!("  {w}: {}", list.join(", "));
        }
    }

    let mut figures = Figures::new();
    for (path, default, key) in [
        (&args.wordsim, "data/wordsim353.tsv", "wordsim353"),
        (&args.simlex, "data/simlex999.txt", "simlex999"),
    ] {
        let path = path.clone().unwrap_or_else(|| root.join(default));
        let report = eval::similarity(&kv, &read(&path)?, &path.display().to_string(), 300_000)?;
        println!(
            "{key}: Spearman {:.3}, Pearson {:.3} over {} pairs ({:.1}% OOV)",
            report.spearman,
            report.pearson,
            report.pairs,
            100.0 * report.oov_ratio()
        );
        figures
            .set(&format!("{key}_spearman"), report.spearman)
            .set(&format!("{key}_pairs"), report.pairs as u64);
    }
    let qpath = args.analogies.clone().unwrap_or_else(|| root.join("data/questions-words.txt"));
    let report = eval::analogies(&kv, &read(&qpath)?, &qpath.display().to_string(), Analogy::Add, 300_000)?;
    println!(
        "analogies: {:.1}% of {} covered questions ({:.1}% covered)",
        100.0 * report.accuracy(),
        report.correct + report.incorrect,
        100.0 * report.covered()
    );
    if let Some(out) = &args.out {
        model.save(out, output)?;
        println!("vectors saved to {}", out.display());
    }
    figures
        .set("analogy_accuracy", report.accuracy())
        .set("analogy_covered", report.covered())
        .set("final_loss", model.losses.last().copied().unwrap_or(f64::NAN))
        .set("output", args.output.as_str())
        .set("cooccurrences", records.len() as u64)
        .set("shards", shards as u64)
        .set("vocab", vocab.len() as u64)
        .set("train_seconds", s.seconds)
        .set("threads", s.threads as u64)
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
