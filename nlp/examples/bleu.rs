//! Sheet 28: corpus BLEU of a hypothesis file against one or more reference files, as sacrebleu.
//!
//! ```text
//! cargo run --release -p dls-nlp --example bleu -- --refs ref.txt [ref2.txt ...] --hyp hyp.txt \
//!     [--tokenize 13a|intl|char|none] [--smooth exp|floor|add-k|none] [--lowercase] [--json out/bleu.json]
//! ```
//! One segment per line, as `sacrebleu ref.txt -i hyp.txt -m bleu -f text` reads them, and the
//! same figures. Without `--hyp` it scores the 30 shipped World English Bible verses against
//! their perturbed copies (the test fixture) and should print, like sacrebleu 2.6.0:
//! `BLEU = 53.41 88.7/63.0/46.7/35.4 (BP = 0.969 ratio = 0.969 hyp_len = 884 ref_len = 912)`.
//! On the first 2,000 verses of `web-en.txt.gz` against a seeded perturbed copy, sacrebleu's
//! command line and this example both print `BLEU = 51.04` (51.039896288389 to 12 places).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dls_foundations::report::Figures;
use dls_nlp::bleu::{read_lines, Bleu, BleuConfig, Smooth, Tokenizer};

#[derive(Parser)]
struct Args {
    /// Reference files, one segment per line (each file is one reference stream).
    #[arg(long, num_args = 1..)]
    refs: Vec<PathBuf>,
    /// Hypothesis file, one segment per line.
    #[arg(long)]
    hyp: Option<PathBuf>,
    /// Tokeniser: 13a, intl, char or none.
    #[arg(long, default_value = "13a")]
    tokenize: String,
    /// Smoothing: exp, floor, add-k or none.
    #[arg(long, default_value = "exp")]
    smooth: String,
    /// Value for floor (default 0.1) or add-k (default 1).
    #[arg(long)]
    smooth_value: Option<f64>,
    /// Lowercase hypotheses and references.
    #[arg(long)]
    lowercase: bool,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the benchmark's synthetic corpus (`hyp.txt`, `ref.txt`) into this folder and exit
    /// (used by `cargo xtask bench --peers` to time sacrebleu on the same sentences).
    #[arg(long, value_name = "DIR")]
    write_synthetic: Option<PathBuf>,
    /// Sentence pairs of the synthetic corpus.
    #[arg(long, default_value_t = 10_000)]
    sentences: usize,
    /// Seed of the synthetic corpus (the bench uses 28).
    #[arg(long, default_value_t = 28)]
    seed: u64,
}

/// The shipped demo: the Bible verses of the test fixture and their perturbed copies.
fn demo() -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let fixture: serde_json::Value = serde_json::from_str(include_str!("../tests/fixtures/bleu_cases.json"))?;
    let bible = &fixture["corpora"]["bible"];
    let hyps = serde_json::from_value(bible["hyps"].clone())?;
    let refs: Vec<Vec<String>> = serde_json::from_value(bible["refs"].clone())?;
    Ok((hyps, refs.into_iter().take(1).collect()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.write_synthetic {
        let (hyps, refs) = dls_nlp::bleu::synthetic_corpus(args.sentences, args.seed)?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("hyp.txt"), hyps.join("\n") + "\n")?;
        std::fs::write(dir.join("ref.txt"), refs.join("\n") + "\n")?;
        println!("wrote {} synthetic pairs to {}", hyps.len(), dir.display());
        return Ok(());
    }
    let start = Instant::now();
    let (hyps, refs) = match &args.hyp {
        Some(hyp) => {
            if args.refs.is_empty() {
                bail!("--hyp needs at least one --refs file");
            }
            let refs = args.refs.iter().map(read_lines).collect::<Result<Vec<_>, _>>()?;
            (read_lines(hyp)?, refs)
        }
        None => {
            println!("no --hyp given: scoring the 30 shipped Bible verses against perturbed copies");
            demo().context("reading the shipped demo")?
        }
    };
    let config = BleuConfig {
        tokenizer: args.tokenize.parse::<Tokenizer>()?,
        smooth: Smooth::from_name(&args.smooth, args.smooth_value)?,
        lowercase: args.lowercase,
        ..BleuConfig::default()
    };
    let score = Bleu::new(config)?.corpus_score(&hyps, &refs)?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{score}");
    println!("{}", score.signature());
    println!("{} segments in {seconds:.3} s", hyps.len());

    let mut figures = Figures::new();
    figures
        .set("score", score.score)
        .set("bp", score.bp)
        .set("ratio", score.ratio)
        .set("sys_len", score.sys_len)
        .set("ref_len", score.ref_len)
        .set("signature", score.signature())
        .set("segments", hyps.len())
        .set("seconds", seconds);
    for (n, p) in score.precisions.iter().enumerate() {
        figures.set(&format!("precision_{}", n + 1), *p);
    }
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
