//! The character language model: it learns (dev perplexity well under the unigram baseline on
//! shipped names), its masked loss is right (by hand and by the f64 gradient check), truncated BPTT
//! cuts only the gradient, sampling is seeded, and the foundations fit loop resumes it bit for bit.

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use dls_foundations::data::{train_dev_split, Dataset};
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::regularize::Clip;
use dls_foundations::train::{Control, FitConfig, Learner, Progress, Trainer};
use dls_foundations::{Params, SeededRng};
use dls_sequence::cell::CellKind;
use dls_sequence::charlm::{CharLm, CharLmConfig, SampleConfig, IGNORE};
use dls_sequence::corpus::{lines_dataset, unigram_perplexity, windows_dataset};
use dls_sequence::sample::sample_index;
use dls_sequence::vocab::CharVocab;
use dls_sequence::Error;

fn names() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/names.txt"))?)
}

fn model(params: &Params, cfg: &CharLmConfig, dtype: DType) -> anyhow::Result<CharLm> {
    Ok(CharLm::new(params.var_builder(dtype, &Device::Cpu), cfg)?)
}

#[test]
fn trained_on_names_it_beats_the_unigram_baseline() -> anyhow::Result<()> {
    let text = names()?;
    let vocab = CharVocab::from_text(&text)?;
    // Every fourth name (379 of them) keeps the test quick.
    let lines: Vec<&str> = text.lines().step_by(4).collect();
    let (train, dev) = train_dev_split(&lines_dataset(&lines, &vocab)?, 0.2, 0)?;
    let params = Params::new(1);
    let cfg = CharLmConfig { vocab_size: vocab.len(), embedding: 16, hidden: 32, ..Default::default() };
    let lm = model(&params, &cfg, DType::F32)?;
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 1e-2, ..Default::default() })?;
    let fit = FitConfig {
        epochs: 8,
        batch_size: 32,
        clip: Some(Clip::Norm(5.0)),
        progress: Progress::Never,
        ..Default::default()
    };
    let before = lm.perplexity(&dev)?;
    Trainer::new(&params, opt, fit)?.fit(&lm, &train, Some(&dev))?;
    let ppl = lm.perplexity(&dev)?;
    let unigram = unigram_perplexity(&train.y, &dev.y, vocab.len())?;
    // Untrained: about the vocabulary size (54); the unigram baseline is about 25.
    assert!((before - 54.0).abs() < 8.0, "untrained perplexity {before}");
    assert!((20.0..30.0).contains(&unigram), "unigram perplexity {unigram}");
    assert!(ppl < 0.6 * unigram, "dev perplexity {ppl} vs unigram {unigram}");
    Ok(())
}

#[test]
fn the_loss_is_the_mean_nll_over_real_targets_only() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("abc")?;
    let data = lines_dataset(&["abc", "a", ""], &vocab)?;
    let params = Params::new(2);
    let cfg =
        CharLmConfig { vocab_size: 4, embedding: 3, hidden: 5, kind: CellKind::Gru, ..Default::default() };
    let lm = model(&params, &cfg, DType::F64)?;
    let (logits, _) = lm.forward(&data.x, None)?;
    let logits = logits.to_vec3::<f64>()?;
    let targets = data.y.to_vec2::<u32>()?;
    let (mut nll, mut n) = (0.0, 0.0);
    for (row_logits, row_targets) in logits.iter().zip(&targets) {
        for (z, &y) in row_logits.iter().zip(row_targets) {
            if y == IGNORE {
                continue;
            }
            let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            nll += lse - z[y as usize];
            n += 1.0;
        }
    }
    assert_eq!(n, 4.0 + 2.0 + 1.0); // "abc⟨end⟩", "a⟨end⟩", "⟨end⟩"
    let loss = lm.loss(&data.x, &data.y)?.to_scalar::<f64>()?;
    assert!((loss - nll / n).abs() < 1e-12, "{loss} vs {}", nll / n);
    let eval = lm.evaluate(&data)?;
    assert!((eval.loss - nll / n).abs() < 1e-12);
    Ok(())
}

#[test]
fn the_whole_model_passes_the_f64_gradient_check() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("abc")?;
    let data = lines_dataset(&["ab", "cab", "b"], &vocab)?;
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let params = Params::new(4);
        let cfg = CharLmConfig { vocab_size: 4, embedding: 2, hidden: 3, kind, ..Default::default() };
        let lm = model(&params, &cfg, DType::F64)?;
        let report = gradcheck(|| lm.loss(&data.x, &data.y), &params.named_vars(), 1e-6)?;
        assert!(report.relative_difference < 1e-7, "{kind:?}: {report:?}");
    }
    Ok(())
}

#[test]
fn truncated_bptt_keeps_the_loss_and_cuts_the_gradient() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("abcd")?;
    let ids = vocab.encode("abcdabdcbadcabcdbbca")?;
    let data = windows_dataset(&ids, 6)?;
    assert_eq!(data.len(), 3);
    assert_eq!(data.y.get(0)?.to_vec1::<u32>()?, ids[1..7].to_vec());
    let params = Params::new(6);
    let base = CharLmConfig { vocab_size: 5, embedding: 3, hidden: 4, ..Default::default() };
    let full = model(&params, &base, DType::F64)?;
    let cut = model(&params, &CharLmConfig { bptt: Some(2), ..base.clone() }, DType::F64)?;
    let whole = model(&params, &CharLmConfig { bptt: Some(6), ..base }, DType::F64)?;
    let (lf, lc, lw) =
        (full.loss(&data.x, &data.y)?, cut.loss(&data.x, &data.y)?, whole.loss(&data.x, &data.y)?);
    let scalar = |t: &Tensor| t.to_scalar::<f64>();
    assert!((scalar(&lf)? - scalar(&lc)?).abs() < 1e-12, "same forward pass");
    let w_hh = params.get("rnn.weight_hh_l0")?;
    let grad = |l: &Tensor| -> anyhow::Result<Tensor> {
        l.backward()?.get(w_hh.as_tensor()).cloned().ok_or_else(|| anyhow::anyhow!("no gradient"))
    };
    let (gf, gc, gw) = (grad(&lf)?, grad(&lc)?, grad(&lw)?);
    let diff =
        |a: &Tensor, b: &Tensor| -> anyhow::Result<f64> { Ok((a - b)?.abs()?.max_all()?.to_scalar()?) };
    assert!(diff(&gf, &gw)? < 1e-14, "bptt = row length is full BPTT");
    assert!(diff(&gf, &gc)? > 1e-4, "a 2-step truncation changes the recurrent gradient");
    assert!(matches!(
        CharLm::new(
            params.var_builder(DType::F64, &Device::Cpu),
            &CharLmConfig { bptt: Some(0), ..Default::default() }
        ),
        Err(Error::Invalid { .. })
    ));
    Ok(())
}

#[test]
fn sampling_is_seeded_and_checks_its_inputs() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("abc")?;
    let params = Params::new(8);
    let lm = model(
        &params,
        &CharLmConfig { vocab_size: 4, embedding: 3, hidden: 6, ..Default::default() },
        DType::F32,
    )?;
    let cfg = SampleConfig { prefix: "ab".into(), max_len: 12, temperature: 1.5 };
    let draw = |seed| -> anyhow::Result<Vec<String>> {
        let rng = SeededRng::new(seed);
        (0..5).map(|_| Ok(lm.sample(&vocab, &cfg, &rng)?)).collect()
    };
    let (a, b, c) = (draw(1)?, draw(1)?, draw(2)?);
    assert_eq!(a, b);
    assert_ne!(a, c);
    for s in &a {
        assert!(s.starts_with("ab") && s.chars().count() <= 12, "{s:?}");
    }
    // Greedy decoding needs no randomness: every seed gives the same text.
    let greedy = SampleConfig { temperature: 0.0, ..cfg.clone() };
    assert_eq!(
        lm.sample(&vocab, &greedy, &SeededRng::new(1))?,
        lm.sample(&vocab, &greedy, &SeededRng::new(9))?
    );
    let rng = SeededRng::new(0);
    let bad_prefix = SampleConfig { prefix: "abz".into(), ..cfg.clone() };
    assert!(matches!(lm.sample(&vocab, &bad_prefix, &rng), Err(Error::UnknownChar { ch: 'z', position: 2 })));
    let negative = SampleConfig { temperature: -1.0, ..cfg.clone() };
    assert!(matches!(lm.sample(&vocab, &negative, &rng), Err(Error::Invalid { .. })));
    let other = CharVocab::from_text("abcd")?;
    assert!(matches!(lm.sample(&other, &cfg, &rng), Err(Error::Invalid { .. })));
    let out_of_vocab = Tensor::new(&[[0u32, 4]], &Device::Cpu)?;
    assert!(matches!(lm.forward(&out_of_vocab, None), Err(Error::UnknownId { id: 4, size: 4 })));
    Ok(())
}

#[test]
fn temperature_sampling_follows_the_scaled_softmax() -> anyhow::Result<()> {
    // logits ln 1, ln 2, ln 5: p = 1/8, 2/8, 5/8 at T = 1 and ∝ 1, 4, 25 at T = 0.5.
    let logits = [0f32, 2f32.ln(), 5f32.ln()];
    for (t, want) in [(1.0, [1.0 / 8.0, 2.0 / 8.0, 5.0 / 8.0]), (0.5, [1.0 / 30.0, 4.0 / 30.0, 25.0 / 30.0])]
    {
        let rng = SeededRng::new(3);
        let mut counts = [0f64; 3];
        let n = 20_000;
        for _ in 0..n {
            counts[sample_index(&logits, t, &mut *rng.lock())?] += 1.0;
        }
        for (c, w) in counts.iter().zip(want) {
            assert!((c / n as f64 - w).abs() < 0.01, "T = {t}: {counts:?} vs {want:?}");
        }
    }
    Ok(())
}

#[test]
fn the_fit_loop_resumes_the_char_lm_bit_for_bit() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("abc")?;
    let data = lines_dataset(&["abc", "cab", "bca", "aa", "cc", "b", "abcabc"], &vocab)?;
    let cfg = CharLmConfig { vocab_size: 4, embedding: 3, hidden: 5, bptt: Some(3), ..Default::default() };
    let fit = |checkpoint| FitConfig {
        epochs: 3,
        batch_size: 3,
        clip: Some(Clip::Value(0.5)),
        checkpoint,
        progress: Progress::Never,
        seed: 5,
        ..Default::default()
    };
    let run = |params: &Params, lm: &CharLm, checkpoint, stop_after: Option<usize>| -> anyhow::Result<()> {
        let opt = Adam::new(params.trainable(), AdamConfig { lr: 0.05, ..Default::default() })?;
        let mut trainer = Trainer::new(params, opt, fit(checkpoint))?;
        trainer.fit_with(lm, &data, Some(&data), |e| match stop_after {
            Some(k) if e.epoch + 1 == k => Control::Stop,
            _ => Control::Continue,
        })?;
        Ok(())
    };
    let straight = Params::new(7);
    run(&straight, &model(&straight, &cfg, DType::F32)?, None, None)?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("lm.safetensors");
    let first = Params::new(7);
    run(&first, &model(&first, &cfg, DType::F32)?, Some(path.clone()), Some(1))?;
    // A fresh process: new parameters (another seed), resumed from the checkpoint.
    let resumed = Params::new(99);
    let lm = model(&resumed, &cfg, DType::F32)?;
    let opt = Adam::new(resumed.trainable(), AdamConfig { lr: 0.05, ..Default::default() })?;
    let mut trainer = Trainer::new(&resumed, opt, fit(Some(path)))?;
    trainer.resume(&dir.path().join("lm.safetensors"), &lm)?;
    assert_eq!(trainer.history().epochs.len(), 1);
    trainer.fit(&lm, &data, Some(&data))?;
    for ((name, a), (_, b)) in straight.named_vars().iter().zip(resumed.named_vars()) {
        assert_eq!(a.flatten_all()?.to_vec1::<f32>()?, b.flatten_all()?.to_vec1::<f32>()?, "{name}");
    }
    Ok(())
}

#[test]
fn corpus_inputs_are_checked() -> anyhow::Result<()> {
    let vocab = CharVocab::from_text("ab")?;
    assert!(matches!(lines_dataset(&[], &vocab), Err(Error::Empty(_))));
    assert!(matches!(
        lines_dataset(&["ab", "a\nb"], &vocab),
        Err(Error::UnknownChar { ch: '\n', position: 1 })
    ));
    assert!(matches!(lines_dataset(&["abx"], &vocab), Err(Error::UnknownChar { ch: 'x', position: 2 })));
    assert!(matches!(windows_dataset(&[1, 2, 1], 3), Err(Error::Empty(_))));
    assert!(matches!(windows_dataset(&[1, 2, 1], 0), Err(Error::Invalid { .. })));
    let y = Tensor::new(&[[1u32, 7]], &Device::Cpu)?;
    assert!(matches!(unigram_perplexity(&y, &y, 3), Err(Error::UnknownId { id: 7, size: 3 })));
    let padding =
        Dataset::new(Tensor::new(&[[0u32]], &Device::Cpu)?, Tensor::new(&[[IGNORE]], &Device::Cpu)?)?;
    assert!(matches!(unigram_perplexity(&padding.y, &padding.y, 3), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn hoisting_through_the_embedding_table_equals_the_per_step_equations() -> anyhow::Result<()> {
    use dls_sequence::layer::InputProjection;
    let vocab = CharVocab::from_text("abcd")?;
    let data = lines_dataset(&["abcd", "dab", "c"], &vocab)?;
    for (kind, layers) in [(CellKind::Lstm, 2), (CellKind::Gru, 1), (CellKind::Rnn, 1)] {
        let params = Params::new(10);
        let base = CharLmConfig {
            vocab_size: 5,
            embedding: 3,
            hidden: 4,
            num_layers: layers,
            kind,
            ..Default::default()
        };
        let hoisted = model(
            &params,
            &CharLmConfig { projection: InputProjection::Hoisted, ..base.clone() },
            DType::F64,
        )?;
        let per_step =
            model(&params, &CharLmConfig { projection: InputProjection::PerStep, ..base }, DType::F64)?;
        let (lh, lp) = (hoisted.loss(&data.x, &data.y)?, per_step.loss(&data.x, &data.y)?);
        assert!((lh.to_scalar::<f64>()? - lp.to_scalar::<f64>()?).abs() < 1e-14);
        let (gh, gp) = (lh.backward()?, lp.backward()?);
        for (name, var) in params.named_vars() {
            let (a, b) = (gh.get(var.as_tensor()), gp.get(var.as_tensor()));
            let (a, b) = a.zip(b).ok_or_else(|| anyhow::anyhow!("no gradient for {name}"))?;
            let d = (a - b)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(d < 1e-13, "{kind:?} {name}: gradients differ by {d}");
        }
    }
    Ok(())
}
