//! Sheet 25: word2vec on the Bible, scored on Google's analogy questions.
//!
//! ```text
//! cargo run --release -p dls-nlp --example word2vec -- --sg 1 --epochs 10 --json out/word2vec.json
//! cargo run --release -p dls-nlp --example word2vec -- --text ../shared/data/text/web-en.txt.gz --sg 1 --threads 2 --json out/w2v-bible.json
//! ```
//! Flags use gensim's names and defaults (CBOW, 100 dims, window 5, 5 noise words, min-count 5,
//! sample 1e-3, 5 epochs, alpha 0.025, 3 threads). The default text is the shipped excerpt (Genesis
//! to Numbers 10:11, 4,000 verses, ~100k words, 1,463 words kept); with `--sg 1 --epochs 10` it
//! trains in about a second and prints neighbours such as `egypt: goshen, inhabitants, bondage,
//! canaan, land`, but covers only 156 analogy questions (~6% right: a noisy figure). On the whole
//! Bible (~980k words, 6,141 words kept, 9.2% of questions-words covered) expect an analogy accuracy
//! of 8.5-10.5% for skip-gram and 6-7% for CBOW depending on the seed, as gensim 4.4.0 gets on the
//! same tokens. `--out FILE` saves the vectors (`.bin` binary, otherwise word2vec text);
//! `--corpus-out FILE` writes the tokenised verses one per line, the input of
//! `nlp/scripts/gensim_word2vec.py`, which trains gensim with the same hyperparameters.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dls_foundations::report::Figures;
use dls_nlp::corpus::read_verses;
use dls_nlp::vectors::{eval, io, Analogy};
use dls_nlp::vocab::{Tokenizer, Vocab};
use dls_nlp::word2vec::{train, Architecture, Config};

#[derive(Parser)]
struct Args {
    /// Verse file (`ref<TAB>text`, optionally gzip); the shipped excerpt when absent.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Where to save the vectors (`.bin`: word2vec binary, otherwise word2vec text).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Analogy questions; the shipped copy of questions-words.txt when absent.
    #[arg(long)]
    analogies: Option<PathBuf>,
    /// Write the tokenised corpus, one verse per line, to this file.
    #[arg(long)]
    corpus_out: Option<PathBuf>,
    /// 1 for skip-gram, 0 for CBOW.
    #[arg(long, default_value_t = 0)]
    sg: u8,
    #[arg(long, default_value_t = 100)]
    vector_size: usize,
    #[arg(long, default_value_t = 5)]
    window: usize,
    #[arg(long, default_value_t = 5)]
    negative: usize,
    #[arg(long, default_value_t = 5)]
    min_count: u64,
    #[arg(long, default_value_t = 1e-3)]
    sample: f64,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 0.025)]
    alpha: f32,
    #[arg(long, default_value_t = 1e-4)]
    min_alpha: f32,
    /// Training threads (gensim's `workers`; 0 = one per core).
    #[arg(long, default_value_t = 3)]
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

fn main() -> Result<()> {
    let args = Args::parse();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = args.text.clone().unwrap_or_else(|| root.join("data/bible-excerpt.txt.gz"));
    let verses = read_verses(&text)?;
    let tok = Tokenizer::new();
    let sentences = verses.iter().map(|v| tok.words(&v.text)).collect::<dls_nlp::Result<Vec<_>>>()?;
    if let Some(path) = &args.corpus_out {
        let lines: Vec<String> = sentences.iter().map(|s| s.join(" ")).collect();
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
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

    let config = Config {
        sg: if args.sg == 1 { Architecture::SkipGram } else { Architecture::Cbow },
        vector_size: args.vector_size,
        window: args.window,
        negative: args.negative,
        sample: args.sample,
        alpha: args.alpha,
        min_alpha: args.min_alpha,
        epochs: args.epochs,
        threads: args.threads,
        seed: args.seed,
        ..Config::default()
    };
    let model = train(&vocab, &ids, &config)?;
    let s = &model.stats;
    println!(
        "trained {:?} on {} threads: {} words ({} after subsampling) in {:.2} s, {:.0} words/s",
        config.sg,
        s.threads,
        s.words,
        s.effective_words,
        s.seconds,
        s.words_per_second()
    );
    let kv = &model.vectors;
    let mut neighbours = Vec::new();
    for w in &args.neighbours {
        if kv.get(w).is_some() {
            let near = kv.most_similar(&[w], &[], 5)?;
            let list: Vec<String> = near.iter().map(|(n, c)| format!("{n} {c:.2}")).collect();
            println!("  {w}: {}", list.join(", "));
            let names: Vec<&str> = near.iter().map(|(n, _)| n.as_str()).collect();
            neighbours.push(format!("{w}: {}", names.join(", ")));
        }
    }
    let qpath = args.analogies.clone().unwrap_or_else(|| root.join("data/questions-words.txt"));
    let questions =
        std::fs::read_to_string(&qpath).with_context(|| format!("reading {}", qpath.display()))?;
    let report = eval::analogies(kv, &questions, &qpath.display().to_string(), Analogy::Add, 300_000)?;
    for sec in report.sections.iter().filter(|s| s.correct + s.incorrect > 0) {
        println!("  {:<28} {}/{}", sec.name, sec.correct, sec.correct + sec.incorrect);
    }
    println!(
        "analogies: {:.1}% of {} covered questions ({:.1}% covered, {} skipped as OOV)",
        100.0 * report.accuracy(),
        report.correct + report.incorrect,
        100.0 * report.covered(),
        report.oov
    );
    if let Some(out) = &args.out {
        let format = if out.extension().is_some_and(|e| e == "bin") {
            io::Format::Word2VecBinary
        } else {
            io::Format::Word2VecText
        };
        io::save(kv, out, format)?;
        println!("vectors saved to {}", out.display());
    }
    let mut figures = Figures::new();
    figures
        .set("analogy_accuracy", report.accuracy())
        .set("analogy_covered", report.covered())
        .set("analogy_questions", (report.correct + report.incorrect) as u64)
        .set("words_per_second", s.words_per_second())
        .set("seconds", s.seconds)
        .set("vocab", vocab.len() as u64)
        .set("threads", s.threads as u64)
        .set("neighbours", neighbours.join("\n"));
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
