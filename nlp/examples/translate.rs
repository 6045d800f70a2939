//! Sheet 28's real task: English → Spanish translation of Bible verses with a BPE vocabulary per
//! language, a bidirectional GRU encoder (128 units each way), additive attention and a GRU decoder
//! (256 units; `--lstm` for LSTM cells), trained for a fixed wall-clock budget.
//!
//! ```text
//! cargo run --release -p dls-nlp --example translate -- --json out/translate.json
//! cargo run --release -p dls-nlp --example translate -- --minutes 0.5
//! ```
//! Data: the 31,043 verse pairs of `../shared/data/text/bible-en-es.tsv.gz` (World English Bible,
//! Reina-Valera 1909; `--data FILE` for another copy). Whole chapters are held out: the BPE
//! vocabularies (`--vocab` pieces each) are trained only on the text of the other chapters, then
//! 500 dev and 500 test verses of at most `--max-len` pieces on both sides are dealt from the held
//! out chapters, and every remaining short verse trains the model. Training runs in length-sorted
//! shards of mini-batches through the dls-foundations fit loop (Adam, gradient-norm clipping) until
//! `--minutes` have passed; then dev BLEU (greedy), test BLEU greedy and beam (width `--beam`,
//! length normalisation log P / n^0.7) with sacrebleu's defaults, and five test translations.
//! Seen with the defaults (release, seed 0, one thread, 2 cores shared with other builds, load
//! about 5): 489 s of training (8 min budget, the last shard finishing late) = 310 steps, 1.3
//! epochs over 15,177 pairs, dev loss 4.64 (22.6% of pieces right); BLEU dev greedy 3.19, test
//! greedy 3.46, test beam (k 4) 5.42; 573 s in all (71 s decoding). At this budget the output is
//! RV1909-flavoured Spanish that gets names and openings right ("Y Jacob ...", "Si alguno ...")
//! but not the meaning; greedy decoding often repeats phrases, which beam search reduces.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::Optimizer;
use clap::Parser;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::regularize::Clip;
use dls_foundations::report::Figures;
use dls_foundations::train::{Control, FitConfig, Learner, Progress, Trainer};
use dls_foundations::Params;
use dls_nlp::bleu::corpus_bleu;
use dls_nlp::bpe::{self, Bpe};
use dls_nlp::classify::Reference;
use dls_nlp::seq2seq::model::pairs_dataset;
use dls_nlp::seq2seq::{beam_search, AttentionKind, BeamConfig, LengthPenalty, Seq2Seq, Seq2SeqConfig};
use dls_nlp::translate::{length_shards, read_pairs, split_chapters, VersePair};
use dls_sequence::cell::CellKind;

#[derive(Parser)]
struct Args {
    /// Parallel verse file (`ref<TAB>english<TAB>spanish`, optionally gzip).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Wall-clock training budget in minutes.
    #[arg(long, default_value_t = 8.0)]
    minutes: f64,
    /// BPE vocabulary size of each language (special tokens included).
    #[arg(long, default_value_t = 4000)]
    vocab: usize,
    /// Longest verse kept, in BPE pieces, on both sides.
    #[arg(long, default_value_t = 30)]
    max_len: usize,
    /// Dev verses.
    #[arg(long, default_value_t = 500)]
    dev: usize,
    /// Test verses.
    #[arg(long, default_value_t = 500)]
    test: usize,
    /// Embedding width (both languages).
    #[arg(long, default_value_t = 128)]
    embedding: usize,
    /// Decoder units (the encoder has half as many per direction).
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// Use LSTM cells instead of GRU.
    #[arg(long)]
    lstm: bool,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Mini-batches per length-sorted shard (the budget is checked between shards).
    #[arg(long, default_value_t = 8)]
    shard: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Beam width.
    #[arg(long, default_value_t = 4)]
    beam: usize,
    /// Length-normalisation exponent (log P / n^alpha).
    #[arg(long, default_value_t = 0.7)]
    alpha: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CPU threads (one is faster for this model size on a shared 2-core machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Verse indices with their source and target ids.
struct Part {
    idx: Vec<usize>,
    src: Vec<Vec<u32>>,
    tgt: Vec<Vec<u32>>,
}

impl Part {
    fn new(idx: Vec<usize>, src: &[Vec<u32>], tgt: &[Vec<u32>]) -> Self {
        let pick = |ids: &[Vec<u32>]| idx.iter().map(|&i| ids[i].clone()).collect();
        Self { src: pick(src), tgt: pick(tgt), idx }
    }
}

/// Greedy translations of every source, `batch` at a time.
fn greedy_all(model: &Seq2Seq, part: &Part, es: &Bpe, max_len: usize) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(part.src.len());
    let cfg = model.config();
    for (src, tgt) in part.src.chunks(100).zip(part.tgt.chunks(100)) {
        let data = pairs_dataset(src, tgt, cfg, &Device::Cpu)?;
        for ids in model.greedy_batch(&data.x, max_len)? {
            out.push(es.decode(&ids, true)?);
        }
    }
    Ok(out)
}

fn bleu(hyps: &[String], refs: &[&str]) -> Result<f64> {
    Ok(corpus_bleu(hyps, &[refs])?.score)
}

fn main() -> Result<()> {
    let args = Args::parse();
    dls_foundations::threads::set_threads(args.threads);
    let start = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = args.data.clone().unwrap_or_else(|| root.join("../../shared/data/text/bible-en-es.tsv.gz"));
    let pairs: Vec<VersePair> = read_pairs(&path).with_context(|| format!("reading {}", path.display()))?;
    let refs: Vec<Reference> = pairs.iter().map(|p| p.reference.clone()).collect();

    // Hold out four times the needed verses, in whole chapters, before any vocabulary is trained.
    let reserve = split_chapters(&refs, &vec![true; refs.len()], 4 * args.dev, 4 * args.test, args.seed)?;
    let bpe_cfg = bpe::Config { vocab_size: args.vocab, ..Default::default() };
    let en = Bpe::train(reserve.train.iter().map(|&i| pairs[i].source.as_str()), &bpe_cfg)?;
    let es = Bpe::train(reserve.train.iter().map(|&i| pairs[i].target.as_str()), &bpe_cfg)?;
    let src: Vec<Vec<u32>> = pairs.iter().map(|p| en.encode(&p.source, false)).collect::<Result<_, _>>()?;
    let tgt: Vec<Vec<u32>> = pairs.iter().map(|p| es.encode(&p.target, false)).collect::<Result<_, _>>()?;
    let keep: Vec<bool> = src
        .iter()
        .zip(&tgt)
        .map(|(s, t)| (1..=args.max_len).contains(&s.len()) && t.len() <= args.max_len)
        .collect();

    // Deal the dev and test verses from the held-out chapters; their other short verses train.
    let mut held: Vec<usize> = reserve.dev.iter().chain(&reserve.test).copied().collect();
    held.sort_unstable();
    let held_refs: Vec<Reference> = held.iter().map(|&i| refs[i].clone()).collect();
    let held_keep: Vec<bool> = held.iter().map(|&i| keep[i]).collect();
    let split = split_chapters(&held_refs, &held_keep, args.dev, args.test, args.seed + 1)?;
    let mut train_idx: Vec<usize> = reserve.train.iter().copied().filter(|&i| keep[i]).collect();
    train_idx.extend(split.train.iter().map(|&j| held[j]));
    let train = Part::new(train_idx, &src, &tgt);
    let dev = Part::new(split.dev.iter().map(|&j| held[j]).collect(), &src, &tgt);
    let test = Part::new(split.test.iter().map(|&j| held[j]).collect(), &src, &tgt);
    println!(
        "{} verse pairs, {} of at most {} pieces: {} train, {} dev, {} test; vocabularies en {} es {} ({:.1} s)",
        pairs.len(),
        keep.iter().filter(|&&k| k).count(),
        args.max_len,
        train.idx.len(),
        dev.idx.len(),
        test.idx.len(),
        en.vocab_size(),
        es.vocab_size(),
        start.elapsed().as_secs_f64()
    );

    let cfg = Seq2SeqConfig {
        src_vocab: en.vocab_size(),
        tgt_vocab: es.vocab_size(),
        embedding: args.embedding,
        enc_hidden: args.hidden / 2,
        dec_hidden: args.hidden,
        attention: AttentionKind::Additive,
        attention_size: args.hidden / 2,
        cell: if args.lstm { CellKind::Lstm } else { CellKind::Gru },
        pad: en.pad_id(),
        bos: es.bos_id(),
        eos: es.eos_id(),
    };
    let dev_data = pairs_dataset(&dev.src, &dev.tgt, &cfg, &Device::Cpu)?;
    let params = Params::new(args.seed);
    let model = Seq2Seq::new(params.var_builder(DType::F32, &Device::Cpu), &cfg)?;
    println!("{} parameters", params.count());
    let opt = Adam::new(params.trainable(), AdamConfig { lr: args.lr, ..Default::default() })?;
    let fit = FitConfig {
        epochs: 1_000_000,
        batch_size: args.batch,
        clip: Some(Clip::Norm(5.0)),
        seed: args.seed,
        progress: Progress::Never,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&params, opt, fit)?;
    // Sort key: target length, then source length.
    let lengths: Vec<usize> =
        train.src.iter().zip(&train.tgt).map(|(s, t)| t.len() * 1000 + s.len()).collect();
    let budget = Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    let train_start = Instant::now();
    let (mut epochs_done, mut steps) = (0.0f64, 0usize);
    let mut epoch = 0u64;
    'train: loop {
        let shards = length_shards(&lengths, args.batch * args.shard, args.seed.wrapping_add(epoch))?;
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (k, shard) in shards.iter().enumerate() {
            if train_start.elapsed() >= budget {
                epochs_done += k as f64 / shards.len() as f64;
                break 'train;
            }
            let s: Vec<Vec<u32>> = shard.iter().map(|&i| train.src[i].clone()).collect();
            let t: Vec<Vec<u32>> = shard.iter().map(|&i| train.tgt[i].clone()).collect();
            let data = pairs_dataset(&s, &t, &cfg, &Device::Cpu)?;
            let report = trainer.fit_with(&model, &data, None, |_| Control::Stop)?;
            let last = report.history.last().context("no epoch recorded")?;
            loss_sum += last.train_loss * shard.len() as f64;
            seen += shard.len();
            steps += shard.len().div_ceil(args.batch);
            if (k + 1) % 10 == 0 {
                println!(
                    "epoch {:>3}  shard {:>3}/{}  {steps:>5} steps  train loss {:.4}  {:.0} s",
                    epoch + 1,
                    k + 1,
                    shards.len(),
                    loss_sum / seen as f64,
                    train_start.elapsed().as_secs_f64()
                );
            }
        }
        epoch += 1;
        epochs_done += 1.0;
        let dev_eval = model.evaluate(&dev_data)?;
        println!(
            "epoch {epoch:>3}  train loss {:.4}  dev loss {:.4}  dev piece acc {:.2}%  {:.0} s",
            loss_sum / seen.max(1) as f64,
            dev_eval.loss,
            100.0 * dev_eval.accuracy,
            train_start.elapsed().as_secs_f64()
        );
    }
    let train_seconds = train_start.elapsed().as_secs_f64();
    let dev_eval = model.evaluate(&dev_data)?;
    println!(
        "trained {train_seconds:.0} s: {epochs_done:.2} epochs, {steps} steps; dev loss {:.4}, piece accuracy {:.2}%",
        dev_eval.loss,
        100.0 * dev_eval.accuracy
    );

    let decode_start = Instant::now();
    let max_out = args.max_len + args.max_len / 2;
    let dev_refs: Vec<&str> = dev.idx.iter().map(|&i| pairs[i].target.as_str()).collect();
    let test_refs: Vec<&str> = test.idx.iter().map(|&i| pairs[i].target.as_str()).collect();
    let dev_hyps = greedy_all(&model, &dev, &es, max_out)?;
    let test_greedy = greedy_all(&model, &test, &es, max_out)?;
    let beam_cfg = BeamConfig {
        width: args.beam,
        max_len: max_out,
        eos: cfg.eos,
        penalty: LengthPenalty::Power(args.alpha),
    };
    let mut test_beam = Vec::with_capacity(test.src.len());
    for s in &test.src {
        let nbest = beam_search(&model.scorer(s)?, &beam_cfg)?;
        let best = nbest.first().context("empty n-best list")?;
        test_beam.push(es.decode(best.content(), true)?);
    }
    let decode_seconds = decode_start.elapsed().as_secs_f64();
    let dev_bleu = bleu(&dev_hyps, &dev_refs)?;
    let (greedy_bleu, beam_bleu) = (bleu(&test_greedy, &test_refs)?, bleu(&test_beam, &test_refs)?);
    for (j, &i) in test.idx.iter().enumerate().step_by((test.idx.len() / 5).max(1)).take(5) {
        println!("\n{}  {}", pairs[i].reference, pairs[i].source);
        println!("  reference: {}", pairs[i].target);
        println!("  greedy:    {}", test_greedy[j]);
        println!("  beam:      {}", test_beam[j]);
    }
    println!(
        "\nBLEU: dev greedy {dev_bleu:.2}; test greedy {greedy_bleu:.2}, beam (k = {}) {beam_bleu:.2} \
         (decoding {decode_seconds:.0} s)",
        args.beam
    );
    let seconds = start.elapsed().as_secs_f64();
    println!("{seconds:.0} s in all ({train_seconds:.0} s training)");

    let mut figures = Figures::new();
    figures
        .set("dev_bleu", dev_bleu)
        .set("test_bleu_greedy", greedy_bleu)
        .set("test_bleu_beam", beam_bleu)
        .set("dev_loss", dev_eval.loss)
        .set("dev_piece_accuracy", dev_eval.accuracy)
        .set("train_pairs", train.idx.len() as f64)
        .set("dev_pairs", dev.idx.len() as f64)
        .set("test_pairs", test.idx.len() as f64)
        .set("src_vocab", en.vocab_size() as f64)
        .set("tgt_vocab", es.vocab_size() as f64)
        .set("parameters", params.count() as f64)
        .set("epochs", epochs_done)
        .set("steps", steps as f64)
        .set("train_seconds", train_seconds)
        .set("decode_seconds", decode_seconds)
        .set("seconds", seconds);
    figures.write_if(args.json.as_deref())?;
    Ok(())
}
