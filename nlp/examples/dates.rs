//! Sheet 28: neural machine translation of human-written dates to ISO `YYYY-MM-DD` with a
//! bidirectional LSTM encoder, additive attention and an LSTM decoder.
//!
//! ```text
//! cargo run --release -p dls-nlp --example dates -- --json out/dates.json --heatmap out/dates_attention.png
//! ```
//! Trains on 10,000 generated dates (18 formats, 1950–2049) and reports exact-match accuracy on
//! 1,000 held-out dates (none of whose strings occur in training) for greedy and beam decoding,
//! the beam-search error-analysis tally, and writes one example's attention heat-map (rows: output
//! characters, columns: input characters). Expect `exact_match_greedy` and `exact_match_beam`
//! >= 0.99 in a few minutes on 2 cores.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::{Parser, ValueEnum};
use dls_foundations::optim::{Adam, AdamConfig, Schedule};
use dls_foundations::regularize::Clip;
use dls_foundations::report::Figures;
use dls_foundations::train::{FitConfig, Trainer};
use dls_foundations::Params;
use dls_nlp::dates::{encode_pairs, generate, CharVocab, DatePair, BOS, EOS, PAD};
use dls_nlp::seq2seq::analysis::BeamErrorTally;
use dls_nlp::seq2seq::heatmap::write_heatmap;
use dls_nlp::seq2seq::model::pairs_dataset;
use dls_nlp::seq2seq::{beam_search, AttentionKind, BeamConfig, LengthPenalty, Seq2Seq, Seq2SeqConfig};
use dls_sequence::cell::CellKind;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Additive,
    General,
    Dot,
}

#[derive(Parser)]
struct Args {
    /// Training examples.
    #[arg(long, default_value_t = 10_000)]
    train: usize,
    /// Held-out examples.
    #[arg(long, default_value_t = 1_000)]
    dev: usize,
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Exponential learning-rate decay per epoch.
    #[arg(long, default_value_t = 0.85)]
    decay: f64,
    /// Attention scoring function.
    #[arg(long, value_enum, default_value_t = Kind::Additive)]
    attention: Kind,
    /// Use GRU cells instead of LSTM.
    #[arg(long)]
    gru: bool,
    /// Beam width.
    #[arg(long, default_value_t = 3)]
    beam: usize,
    /// Length-normalisation exponent (log P / n^alpha).
    #[arg(long, default_value_t = 0.7)]
    alpha: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write one held-out example's attention heat-map here (PNG).
    #[arg(long)]
    heatmap: Option<PathBuf>,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let (human, machine) = (CharVocab::human(), CharVocab::machine());
    let train_pairs = generate(args.train, args.seed);
    let seen: std::collections::HashSet<&str> = train_pairs.iter().map(|p| p.human.as_str()).collect();
    let dev_pairs: Vec<DatePair> = generate(args.dev * 2, args.seed + 1_000_003)
        .into_iter()
        .filter(|p| !seen.contains(p.human.as_str()))
        .take(args.dev)
        .collect();
    for p in train_pairs.iter().take(5) {
        println!("{:>30}  ->  {}", p.human, p.iso);
    }
    let cfg = Seq2SeqConfig {
        src_vocab: human.len(),
        tgt_vocab: machine.len(),
        embedding: 32,
        enc_hidden: 64,
        dec_hidden: 128,
        attention: match args.attention {
            Kind::Additive => AttentionKind::Additive,
            Kind::General => AttentionKind::General,
            Kind::Dot => AttentionKind::Dot,
        },
        attention_size: 64,
        cell: if args.gru { CellKind::Gru } else { CellKind::Lstm },
        pad: PAD,
        bos: BOS,
        eos: EOS,
    };
    let (src, tgt) = encode_pairs(&train_pairs, &human, &machine)?;
    let train = pairs_dataset(&src, &tgt, &cfg, &Device::Cpu)?;
    let (dev_src, dev_tgt) = encode_pairs(&dev_pairs, &human, &machine)?;
    let dev = pairs_dataset(&dev_src, &dev_tgt, &cfg, &Device::Cpu)?;
    println!("{} train, {} held-out dates; source length up to {}", train.len(), dev.len(), train.x.dim(1)?);

    let params = Params::new(args.seed);
    let model = Seq2Seq::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    println!("{} parameters", params.count());
    let opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let fit = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        schedule: Schedule::Exponential { gamma: args.decay },
        clip: Some(Clip::Norm(5.0)),
        seed: args.seed,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&params, opt, fit)?;
    let report = trainer.fit_with(&model, &train, Some(&dev), |e| {
        println!(
            "epoch {:>3}  lr {:.2e}  train loss {:.4}  dev loss {:.4}  dev char acc {:.2}%  {:.1}s",
            e.epoch + 1,
            e.learning_rate,
            e.train_loss,
            e.dev_loss.unwrap_or(f64::NAN),
            100.0 * e.dev_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
        dls_foundations::train::Control::Continue
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    let decode_start = Instant::now();

    let beam_cfg =
        BeamConfig { width: args.beam, max_len: 12, eos: EOS, penalty: LengthPenalty::Power(args.alpha) };
    // Greedy decoding of the whole held-out set, a batch at a time.
    let mut greedy_out = Vec::with_capacity(dev.len());
    for batch in dev.batches(256, None)? {
        greedy_out.extend(model.greedy_batch(&batch?.0, beam_cfg.max_len)?);
    }
    let (mut greedy_hits, mut beam_hits) = (0usize, 0usize);
    let mut tally = BeamErrorTally::default();
    let mut shown = 0;
    for (i, (s, t)) in dev_src.iter().zip(&dev_tgt).enumerate() {
        let scorer = model.scorer(s)?;
        let nbest = beam_search(&scorer, &beam_cfg)?;
        let best = nbest.first().context("empty n-best list")?;
        let reference: Vec<u32> = t.iter().copied().chain([EOS]).collect();
        greedy_hits += usize::from(greedy_out.get(i) == Some(&reference));
        beam_hits += usize::from(best.tokens == reference);
        if i < 3 {
            let list: Vec<String> = nbest
                .iter()
                .map(|h| Ok(format!("{} ({:.4})", machine.decode(h.content())?, h.score)))
                .collect::<Result<_>>()?;
            println!("{:>30}  n-best: {}", dev_pairs[i].human, list.join(", "));
        }
        if let Some(case) = tally.record(i, &scorer, &reference, best, beam_cfg.penalty)? {
            if shown < 10 {
                println!(
                    "wrong: {:>30} -> {} (want {}), {:?}: reference {:.3} vs output {:.3}",
                    dev_pairs[i].human,
                    machine.decode(best.content())?,
                    dev_pairs[i].iso,
                    case.attribution,
                    case.reference_score,
                    case.output_score
                );
                shown += 1;
            }
        }
    }
    let n = dev_src.len() as f64;
    let (exact_greedy, exact_beam) = (greedy_hits as f64 / n, beam_hits as f64 / n);
    println!(
        "exact match on {} held-out dates: greedy {exact_greedy:.4}, beam (k = {}) {exact_beam:.4}",
        dev_src.len(),
        args.beam
    );
    println!("beam-search error analysis: {}", tally.summary());
    let decode_seconds = decode_start.elapsed().as_secs_f64();
    println!("decoding and analysis {decode_seconds:.1} s");

    if let Some(path) = &args.heatmap {
        let i = dev_pairs.iter().position(|p| p.human.len() >= 20).unwrap_or(0);
        let out = model.greedy(&dev_src[i], 12)?;
        let map = model.attention_map(&dev_src[i], &out.tokens)?;
        write_heatmap(&map, 16, path).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "attention heat-map of {:?} -> {:?} in {} (rows: output characters then <eos>, columns: input)",
            dev_pairs[i].human,
            machine.decode(out.content())?,
            path.display(),
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{seconds:.1} s in all ({train_seconds:.1} s data and training)");
    let mut figures = Figures::new();
    figures
        .set("exact_match_greedy", exact_greedy)
        .set("exact_match_beam", exact_beam)
        .set("search_errors", tally.search as f64)
        .set("model_errors", tally.model as f64)
        .set("dev_char_accuracy", report.final_dev.map_or(f64::NAN, |e| e.accuracy))
        .set("train", train.len() as f64)
        .set("held_out", dev.len() as f64)
        .set("epochs", args.epochs as f64)
        .set("decode_seconds", decode_seconds)
        .set("seconds", seconds);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
