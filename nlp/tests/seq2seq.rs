//! Sequence to sequence: gradient checks (f64) of both attention kinds and of the whole model's
//! loss, masking of padded source positions, greedy and beam search, error analysis and heat-maps.

use std::cell::Cell;

use candle_core::{DType, Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::train::Learner;
use dls_foundations::Params;
use dls_nlp::seq2seq::analysis::{Attribution, BeamErrorTally};
use dls_nlp::seq2seq::heatmap::{heatmap, write_heatmap};
use dls_nlp::seq2seq::model::pairs_dataset;
use dls_nlp::seq2seq::search::{
    beam_search, greedy, sequence_log_prob, BeamConfig, LengthPenalty, Scorer, TableScorer,
};
use dls_nlp::seq2seq::{Attention, AttentionKind, Seq2Seq, Seq2SeqConfig};
use dls_nlp::{Error, Result};
use dls_sequence::cell::CellKind;

const DEV: Device = Device::Cpu;

/// A seeded f64 tensor of `shape` with values in [-1, 1).
fn randn(shape: &[usize], seed: u64) -> anyhow::Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Ok(Tensor::from_vec(v, shape, &DEV)?)
}

fn check_attention(kind: AttentionKind, q: usize, k: usize) -> anyhow::Result<f64> {
    let params = Params::new(3);
    let att = Attention::new(params.var_builder(DType::F64, &DEV), kind, q, k, 3)?;
    let values = Var::from_tensor(&randn(&[2, 4, k], 1)?)?;
    let query = Var::from_tensor(&randn(&[2, q], 2)?)?;
    let (wc, ww) = (randn(&[2, k], 3)?, randn(&[2, 4], 4)?);
    let loss = || -> dls_foundations::Result<Tensor> {
        let keys = att
            .prepare(values.as_tensor(), &[4, 2])
            .map_err(|e| dls_foundations::Error::invalid("attention", e.to_string()))?;
        let (c, w) = att
            .attend(&keys, query.as_tensor())
            .map_err(|e| dls_foundations::Error::invalid("attention", e.to_string()))?;
        Ok(((c * &wc)?.sum_all()? + (w * &ww)?.sum_all()?)?)
    };
    let mut vars = params.named_vars();
    vars.push(("values".into(), values.clone()));
    vars.push(("query".into(), query.clone()));
    let report = gradcheck(loss, &vars, 1e-6)?;
    report.check(1e-6)?;
    Ok(report.relative_difference)
}

#[test]
fn additive_attention_gradients_match_central_differences() -> anyhow::Result<()> {
    let d = check_attention(AttentionKind::Additive, 3, 5)?;
    assert!(d < 1e-7, "{d}");
    Ok(())
}

#[test]
fn multiplicative_attention_gradients_match_central_differences() -> anyhow::Result<()> {
    let general = check_attention(AttentionKind::General, 3, 5)?;
    let dot = check_attention(AttentionKind::Dot, 4, 4)?;
    assert!(general < 1e-7 && dot < 1e-7, "general {general}, dot {dot}");
    Ok(())
}

#[test]
fn additive_attention_matches_pytorch() -> anyhow::Result<()> {
    // import torch
    // Wq = torch.tensor([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]], dtype=torch.float64)
    // Wk = torch.tensor([[0.1, 0.4], [-0.7, 0.2], [0.3, -0.5]], dtype=torch.float64)
    // b = torch.tensor([0.05, -0.1, 0.2], dtype=torch.float64)
    // v = torch.tensor([[1.0], [-0.5], [0.7]], dtype=torch.float64)
    // h = torch.tensor([[[1.0, 0.0], [0.5, -1.0], [2.0, 1.0]]], dtype=torch.float64)
    // s = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    // mask = torch.tensor([[True, True, False]])
    // e = (torch.tanh(h @ Wk.T + b + (s @ Wq.T).unsqueeze(1)) @ v).squeeze(2)
    // a = torch.softmax(e.masked_fill(~mask, float('-inf')), dim=1)
    // c = (a.unsqueeze(1) @ h).squeeze(1)
    // print(a.tolist(), c.tolist())
    let params = Params::new(0);
    let att = Attention::new(params.var_builder(DType::F64, &DEV), AttentionKind::Additive, 2, 2, 3)?;
    params.get("query.weight")?.set(&Tensor::new(&[[0.5f64, -0.3], [0.2, 0.8], [-0.6, 0.1]], &DEV)?)?;
    params.get("key.weight")?.set(&Tensor::new(&[[0.1f64, 0.4], [-0.7, 0.2], [0.3, -0.5]], &DEV)?)?;
    params.get("key.bias")?.set(&Tensor::new(&[0.05f64, -0.1, 0.2], &DEV)?)?;
    params.get("v")?.set(&Tensor::new(&[[1.0f64], [-0.5], [0.7]], &DEV)?)?;
    let h = Tensor::new(&[[[1.0f64, 0.0], [0.5, -1.0], [2.0, 1.0]]], &DEV)?;
    let keys = att.prepare(&h, &[2])?;
    let (c, a) = att.attend(&keys, &Tensor::new(&[[0.3f64, -0.2]], &DEV)?)?;
    let (a, c) = (a.to_vec2::<f64>()?, c.to_vec2::<f64>()?);
    for (got, want) in a[0].iter().zip([0.5693736524508343, 0.43062634754916573, 0.0]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    for (got, want) in c[0].iter().zip([0.7846868262254172, -0.43062634754916573]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    Ok(())
}

fn tiny(attention: AttentionKind, cell: CellKind) -> Seq2SeqConfig {
    Seq2SeqConfig {
        src_vocab: 5,
        tgt_vocab: 6,
        embedding: 3,
        enc_hidden: 2,
        dec_hidden: 4,
        attention,
        attention_size: 3,
        cell,
        ..Default::default()
    }
}

fn tiny_data(cfg: &Seq2SeqConfig) -> anyhow::Result<dls_foundations::data::Dataset> {
    Ok(pairs_dataset(&[vec![3, 4, 1], vec![2]], &[vec![3, 5], vec![4]], cfg, &DEV)?)
}

#[test]
fn whole_seq2seq_loss_gradients_match_central_differences() -> anyhow::Result<()> {
    for (attention, cell) in [(AttentionKind::Additive, CellKind::Lstm), (AttentionKind::Dot, CellKind::Gru)]
    {
        let cfg = tiny(attention, cell);
        let params = Params::new(11);
        let model = Seq2Seq::new(params.var_builder(DType::F64, &DEV), &cfg)?;
        let data = tiny_data(&cfg)?;
        // ε = 1e-5: the attention weights' gradients are tiny in so small a model, and with ε = 1e-6
        // rounding puts their own relative difference near 4e-6 (the whole check stays below 1e-7).
        let report = gradcheck(|| model.loss(&data.x, &data.y), &params.named_vars(), 1e-5)?;
        report.check(1e-6)?;
        assert!(report.relative_difference < 1e-7, "{attention:?}/{cell:?}: {:?}", report.worst());
        assert!(report.checked > 300, "{}", report.checked);
    }
    Ok(())
}

#[test]
fn padded_positions_get_zero_weight_and_do_not_change_outputs() -> anyhow::Result<()> {
    let cfg = tiny(AttentionKind::Additive, CellKind::Lstm);
    let params = Params::new(5);
    let model = Seq2Seq::new(params.var_builder(DType::F64, &DEV), &cfg)?;
    let (enc, dec) = (model.encoder(), model.decoder());
    let lengths = [3, 1];
    let inputs = Tensor::new(&[[1u32, 2, 5], [1, 4, 1]], &DEV)?;
    let run = |src: &Tensor| -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
        let encoded = enc.encode(src, &lengths)?;
        let keys = dec.keys(&encoded)?;
        let (logits, weights) = dec.forward(&keys, &dec.init_state(&encoded)?, &inputs)?;
        Ok((
            logits.flatten_all()?.to_vec1()?,
            weights.iter().map(|w| w.flatten_all()?.to_vec1()).collect::<candle_core::Result<_>>()?,
        ))
    };
    // Positions past each length hold different tokens in the two batches.
    let a = Tensor::new(&[[1u32, 2, 3, 0], [4, 0, 0, 0]], &DEV)?;
    let b = Tensor::new(&[[1u32, 2, 3, 4], [4, 3, 2, 1]], &DEV)?;
    let (la, wa) = run(&a)?;
    let (lb, wb) = run(&b)?;
    assert_eq!(la, lb, "logits changed with the padded tokens");
    assert_eq!(wa, wb);
    for w in &wa {
        // [2 sources x 4 positions]: source 0 real for 3 positions, source 1 for 1.
        assert_eq!(w[3], 0.0);
        assert_eq!(&w[5..8], &[0.0, 0.0, 0.0]);
        assert!((w[4] - 1.0).abs() < 1e-12);
        assert!((w[..3].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // Through the whole model: extra padding columns change nothing either.
    let y = Tensor::new(&[[3u32, 2], [4, 2]], &DEV)?;
    let narrow = model.forward(&Tensor::new(&[[1u32, 2, 3], [4, 0, 0]], &DEV)?, &y)?.0;
    let wide = model.forward(&Tensor::new(&[[1u32, 2, 3, 0, 0], [4, 0, 0, 0, 0]], &DEV)?, &y)?.0;
    let diff = (narrow - wide)?.abs()?.max_all()?.to_scalar::<f64>()?;
    assert_eq!(diff, 0.0);
    Ok(())
}

/// The hand-made distribution where greedy's first choice (`a`, 0.6) leads to a worse sequence:
/// tokens 0 = end, 1 = a, 2 = b.
fn trap() -> Result<TableScorer> {
    TableScorer::new(
        3,
        vec![
            (vec![], vec![0.0, 0.6, 0.4]),
            (vec![1], vec![0.5, 0.25, 0.25]),
            (vec![2], vec![0.9, 0.05, 0.05]),
        ],
    )
}

#[test]
fn beam_search_finds_a_better_sequence_than_greedy() -> anyhow::Result<()> {
    let scorer = trap()?;
    let cfg = BeamConfig { width: 2, max_len: 10, eos: 0, penalty: LengthPenalty::None };
    let g = greedy(&scorer, &cfg)?;
    assert_eq!(g.tokens, vec![1, 0]);
    assert!((g.log_prob - 0.3f64.ln()).abs() < 1e-12); // 0.6 · 0.5
    let nbest = beam_search(&scorer, &cfg)?;
    assert_eq!(nbest[0].tokens, vec![2, 0]);
    assert!((nbest[0].log_prob - 0.36f64.ln()).abs() < 1e-12); // 0.4 · 0.9 > 0.3
    assert!(nbest[0].ended && nbest[0].log_prob > g.log_prob);
    assert_eq!(nbest[1].tokens, vec![1, 0]);
    // Width 1 is greedy.
    assert_eq!(beam_search(&scorer, &BeamConfig { width: 1, ..cfg })?[0], g);
    Ok(())
}

/// Counts `extend` calls of another scorer.
struct Counting<S> {
    inner: S,
    calls: Cell<usize>,
}

impl<S: Scorer> Scorer for Counting<S> {
    type State = S::State;
    fn start(&self) -> Result<(S::State, Vec<f64>)> {
        self.inner.start()
    }
    fn extend(&self, items: &[(&S::State, u32)]) -> Result<Vec<(S::State, Vec<f64>)>> {
        self.calls.set(self.calls.get() + 1);
        self.inner.extend(items)
    }
}

#[test]
fn nbest_is_sorted_by_normalised_score() -> anyhow::Result<()> {
    // [end] has probability 0.5; [a, b, end] 0.5 · 0.8 · 0.8 = 0.32.
    let scorer = TableScorer::new(
        3,
        vec![
            (vec![], vec![0.5, 0.5, 0.0]),
            (vec![1], vec![0.1, 0.1, 0.8]),
            (vec![1, 2], vec![0.8, 0.1, 0.1]),
        ],
    )?;
    let raw =
        beam_search(&scorer, &BeamConfig { width: 2, max_len: 6, eos: 0, penalty: LengthPenalty::None })?;
    assert_eq!(raw[0].tokens, vec![0]);
    let cfg = BeamConfig { width: 2, max_len: 6, eos: 0, penalty: LengthPenalty::Power(1.0) };
    let norm = beam_search(&scorer, &cfg)?;
    assert_eq!(norm[0].tokens, vec![1, 2, 0]);
    assert!((norm[0].score - 0.32f64.ln() / 3.0).abs() < 1e-12);
    assert!((norm[1].score - 0.5f64.ln()).abs() < 1e-12);
    assert!(norm.windows(2).all(|w| w[0].score >= w[1].score));
    // The two penalties, by hand: -2 / 4^0.7 and -2 / ((5 + 4) / 6)^0.7.
    assert!((LengthPenalty::Power(0.7).score(-2.0, 4) - (-2.0 / 2.639_015_821_545_788_5)).abs() < 1e-12);
    assert!((LengthPenalty::Gnmt(0.7).score(-2.0, 4) - (-2.0 / 1.5f64.powf(0.7))).abs() < 1e-12);
    Ok(())
}

#[test]
fn beam_stops_early_when_all_beams_ended() -> anyhow::Result<()> {
    // Every hypothesis has ended after two tokens: no further extension is asked for.
    let inner = TableScorer::new(
        3,
        vec![(vec![], vec![0.0, 0.5, 0.5]), (vec![1], vec![1.0, 0.0, 0.0]), (vec![2], vec![1.0, 0.0, 0.0])],
    )?;
    let scorer = Counting { inner, calls: Cell::new(0) };
    let nbest =
        beam_search(&scorer, &BeamConfig { width: 2, max_len: 50, eos: 0, penalty: LengthPenalty::None })?;
    assert_eq!(nbest.len(), 2);
    assert!(nbest.iter().all(|h| h.ended && h.tokens.len() == 2));
    assert_eq!(scorer.calls.get(), 1);
    Ok(())
}

#[test]
fn max_length_is_respected() -> anyhow::Result<()> {
    // Uniform over two tokens everywhere, and the end token (7) is never produced: every hypothesis
    // is cut at max_len. Ties go to the lower token id.
    let scorer = TableScorer::new(2, vec![])?;
    let cfg = BeamConfig { width: 3, max_len: 4, eos: 7, penalty: LengthPenalty::Gnmt(0.6) };
    let nbest = beam_search(&scorer, &cfg)?;
    assert_eq!(nbest.len(), 3);
    for h in &nbest {
        assert_eq!(h.tokens.len(), 4);
        assert!(!h.ended);
        assert_eq!(h.content(), h.tokens.as_slice());
        assert!((h.log_prob - 4.0 * 0.5f64.ln()).abs() < 1e-12);
    }
    assert_eq!(greedy(&scorer, &cfg)?.tokens, vec![0, 0, 0, 0]);
    for bad in [BeamConfig { width: 0, ..cfg }, BeamConfig { max_len: 0, ..cfg }] {
        assert!(matches!(beam_search(&scorer, &bad), Err(Error::Invalid { .. })));
    }
    Ok(())
}

#[test]
fn model_scorer_agrees_with_teacher_forcing() -> anyhow::Result<()> {
    let cfg = tiny(AttentionKind::General, CellKind::Lstm);
    let params = Params::new(2);
    let model = Seq2Seq::new(params.var_builder(DType::F64, &DEV), &cfg)?;
    let data = tiny_data(&cfg)?;
    // Loss of the first pair alone: mean NLL over its 3 targets (3, 5, end).
    let first = data.select(&[0])?;
    let nll = model.loss(&first.x, &first.y)?.to_scalar::<f64>()? * 3.0;
    let scorer = model.scorer(&[3, 4, 1])?;
    let lp = sequence_log_prob(&scorer, &[3, 5, 2])?;
    assert!((lp + nll).abs() < 1e-10, "{lp} vs {}", -nll);
    // Batched extension equals one-at-a-time extension.
    let (s0, _) = scorer.start()?;
    let both = scorer.extend(&[(&s0, 3), (&s0, 4)])?;
    let one = scorer.extend(&[(&s0, 4)])?;
    for (a, b) in both[1].1.iter().zip(&one[0].1) {
        assert!((a - b).abs() < 1e-12);
    }
    let beam =
        model.beam(&[3, 4, 1], &BeamConfig { width: 3, max_len: 5, eos: 2, penalty: LengthPenalty::None })?;
    let g = model.greedy(&[3, 4, 1], 5)?;
    assert!(beam[0].log_prob >= g.log_prob - 1e-12 || !g.ended);
    // Batched greedy decoding agrees with one-at-a-time greedy.
    let batch = model.greedy_batch(&Tensor::new(&[[3u32, 4, 1], [2, 0, 0]], &DEV)?, 5)?;
    assert_eq!(batch[0], g.tokens);
    assert_eq!(batch[1], model.greedy(&[2], 5)?.tokens);
    let map = model.attention_map(&[3, 4, 1], &g.tokens)?;
    assert_eq!(map.len(), g.tokens.len());
    assert!(map.iter().all(|r| r.len() == 3 && (r.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    Ok(())
}

#[test]
fn trains_to_reverse_short_sequences() -> anyhow::Result<()> {
    use candle_nn::Optimizer;
    use dls_foundations::optim::{Adam, AdamConfig};
    use dls_foundations::train::{FitConfig, Progress, Trainer};
    // Reverse sequences of 2-4 symbols from {3..7}.
    let mut src = Vec::new();
    let mut tgt = Vec::new();
    let mut s = 7u64;
    for _ in 0..120 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = 2 + (s >> 60) as usize % 3;
        let seq: Vec<u32> = (0..len).map(|k| 3 + ((s >> (8 * k + 8)) % 5) as u32).collect();
        tgt.push(seq.iter().rev().copied().collect::<Vec<_>>());
        src.push(seq);
    }
    let cfg = Seq2SeqConfig {
        src_vocab: 8,
        tgt_vocab: 8,
        embedding: 8,
        enc_hidden: 16,
        dec_hidden: 32,
        attention_size: 16,
        ..Default::default()
    };
    let params = Params::new(0);
    let model = Seq2Seq::new(params.var_builder(DType::F32, &DEV), &cfg)?;
    let data = pairs_dataset(&src, &tgt, &cfg, &DEV)?;
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 1e-2, ..Default::default() })?;
    let fit = FitConfig { epochs: 25, batch_size: 20, progress: Progress::Never, ..Default::default() };
    let report = Trainer::new(&params, opt, fit)?.fit(&model, &data, Some(&data))?;
    let acc = report.final_dev.map_or(0.0, |e| e.accuracy);
    let decoded = model.greedy_batch(&data.x, 6)?;
    let exact = decoded.iter().zip(&tgt).filter(|(d, t)| **d == [t.as_slice(), &[cfg.eos]].concat()).count();
    assert!(acc > 0.95 && exact >= 100, "token accuracy {acc}, exact {exact}/120");
    Ok(())
}

#[test]
fn error_analysis_blames_search_or_model() -> anyhow::Result<()> {
    let scorer = trap()?;
    let cfg = BeamConfig { width: 1, max_len: 5, eos: 0, penalty: LengthPenalty::None };
    let out = beam_search(&scorer, &cfg)?.remove(0); // [a, end], P = 0.3
    let mut tally = BeamErrorTally::default();
    // Reference [b, end] (P = 0.36 > 0.3): the search missed it.
    let case =
        tally.record(0, &scorer, &[2, 0], &out, cfg.penalty)?.ok_or_else(|| anyhow::anyhow!("no case"))?;
    assert_eq!(case.attribution, Attribution::Search);
    assert!(
        (case.reference_score - 0.36f64.ln()).abs() < 1e-12
            && (case.output_score - 0.3f64.ln()).abs() < 1e-12
    );
    // Reference [b, a, end] (P = 0.4 · 0.05 · 1/3): the model prefers the output.
    let case =
        tally.record(1, &scorer, &[2, 1, 0], &out, cfg.penalty)?.ok_or_else(|| anyhow::anyhow!("no case"))?;
    assert_eq!(case.attribution, Attribution::Model);
    // A correct output is no error.
    assert!(tally.record(2, &scorer, &[1, 0], &out, cfg.penalty)?.is_none());
    assert_eq!((tally.examples, tally.search, tally.model, tally.errors()), (3, 1, 1, 2));
    assert_eq!(tally.summary(), "2 errors in 3 examples: search 1 (50%), model 1 (50%)");
    Ok(())
}

#[test]
fn heatmap_png_round_trips() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("att.png");
    write_heatmap(&[vec![0.0, 0.5, 1.0], vec![1.0, 0.0, 0.0]], 3, &path)?;
    let img = image::open(&path)?.to_rgb8();
    assert_eq!(img.dimensions(), (9, 6));
    assert_eq!(img.get_pixel(0, 0).0, [68, 1, 84]);
    assert_eq!(img.get_pixel(4, 1).0, [33, 145, 140]);
    assert_eq!(img.get_pixel(8, 2).0, [253, 231, 37]);
    assert_eq!(img.get_pixel(0, 5).0, [253, 231, 37]);
    assert!(matches!(heatmap(&[vec![1.0], vec![]], 2), Err(Error::Invalid { .. })));
    assert!(matches!(heatmap(&[], 2), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn bad_inputs_get_errors() -> anyhow::Result<()> {
    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &DEV);
    assert!(matches!(Attention::new(vb.pp("a"), AttentionKind::Dot, 3, 4, 0), Err(Error::Invalid { .. })));
    let att = Attention::new(vb.pp("b"), AttentionKind::Additive, 2, 2, 2)?;
    let h = Tensor::zeros((1, 3, 2), DType::F32, &DEV)?;
    assert!(matches!(att.prepare(&h, &[0]), Err(Error::Invalid { .. })));
    assert!(matches!(att.prepare(&h, &[4]), Err(Error::Invalid { .. })));
    assert!(matches!(att.prepare(&h, &[1, 2]), Err(Error::Length { .. })));
    let keys = att.prepare(&h, &[3])?;
    assert!(matches!(
        att.attend(&keys, &Tensor::zeros((1, 3), DType::F32, &DEV)?),
        Err(Error::Invalid { .. })
    ));
    let cfg = tiny(AttentionKind::Additive, CellKind::Lstm);
    assert!(matches!(pairs_dataset(&[vec![0, 1]], &[vec![3]], &cfg, &DEV), Err(Error::Invalid { .. })));
    assert!(matches!(pairs_dataset(&[vec![1]], &[vec![9]], &cfg, &DEV), Err(Error::Invalid { .. })));
    assert!(matches!(pairs_dataset(&[vec![1]], &[], &cfg, &DEV), Err(Error::Length { .. })));
    let model = Seq2Seq::new(vb.pp("m"), &cfg)?;
    assert!(matches!(model.scorer(&[9]), Err(Error::Invalid { .. })));
    assert!(matches!(model.lengths(&Tensor::new(&[[0u32, 0]], &DEV)?), Err(Error::Invalid { .. })));
    assert!(matches!(TableScorer::new(2, vec![(vec![], vec![0.5, 0.6])]), Err(Error::Invalid { .. })));
    Ok(())
}
