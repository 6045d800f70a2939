//! word2vec: the update's gradient, determinism, multi-threading, and what training learns.

use candle_core::{Device, Tensor, Var};
use dls_foundations::gradcheck::gradcheck;
use dls_nlp::vocab::Vocab;
use dls_nlp::word2vec::kernel::negative_sampling_step;
use dls_nlp::word2vec::{train, Architecture, Config};
use dls_nlp::Error;

/// `-log σ(s h·u)` with `s = +1` for the true word and `-1` for a noise word, in f64 on candle.
fn ns_loss(h: &Var, u: &Var, label: f64) -> candle_core::Result<Tensor> {
    let x = (h.as_tensor() * u.as_tensor())?.sum_all()?;
    let sign = if label > 0.5 { -1.0 } else { 1.0 };
    // softplus(sign * x) = log(1 + exp(sign * x))
    (x.affine(sign, 0.0)?.exp()? + 1.0)?.log()
}

#[test]
fn negative_sampling_step_follows_the_loss_gradient() {
    let h0 = [0.3f32, -0.2, 0.5, 0.1];
    let u0 = [0.4f32, 0.6, -0.3, 0.2];
    let alpha = 0.01f32;
    for label in [1.0f32, 0.0] {
        let hv = Var::from_tensor(&Tensor::new(&h0.map(f64::from), &Device::Cpu).unwrap()).unwrap();
        let uv = Var::from_tensor(&Tensor::new(&u0.map(f64::from), &Device::Cpu).unwrap()).unwrap();
        // candle's gradient of the loss agrees with central differences ...
        let loss = || ns_loss(&hv, &uv, f64::from(label)).map_err(Into::into);
        let report = gradcheck(loss, &[("h".into(), hv.clone()), ("u".into(), uv.clone())], 1e-6).unwrap();
        assert!(report.relative_difference < 1e-7, "{report:?}");
        let grads = ns_loss(&hv, &uv, f64::from(label)).unwrap().backward().unwrap();
        let gh = grads.get(hv.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        let gu = grads.get(uv.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        // ... and the hand-written SGD step moves each vector by -alpha times that gradient, up to the
        // resolution of word2vec's sigmoid table (steps of 0.012 in the argument: ~1% here).
        let mut u = u0;
        let mut acc = [0f32; 4];
        assert!(negative_sampling_step(&h0, &mut u, label, alpha, &mut acc));
        let dh: Vec<f64> = acc.iter().map(|a| -f64::from(*a) / f64::from(alpha)).collect();
        let du: Vec<f64> = u.iter().zip(u0).map(|(a, b)| -f64::from(a - b) / f64::from(alpha)).collect();
        for (got, want) in [(dh, gh), (du, gu)] {
            let diff: f64 = got.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            let scale: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
            assert!(diff / scale < 1e-2, "label {label}: {got:?} vs {want:?}");
        }
    }
    // Beyond |h·u| >= 6 nothing changes (word2vec's rule).
    let mut u = [10.0f32, 0.0];
    let mut acc = [0f32; 2];
    assert!(!negative_sampling_step(&[1.0, 0.0], &mut u, 1.0, 0.1, &mut acc));
    assert_eq!((u, acc), ([10.0, 0.0], [0.0, 0.0]));
}

/// Two topics that never share a sentence: animals and numbers.
fn two_topic_corpus() -> (Vocab, Vec<Vec<u32>>) {
    let animals = ["cat", "dog", "cow", "horse", "sheep", "goat"];
    let numbers = ["one", "two", "three", "four", "five", "six"];
    let mut sentences = Vec::new();
    let mut x = 7u64;
    for i in 0..400 {
        let topic = if i % 2 == 0 { &animals } else { &numbers };
        let s: Vec<&str> = (0..8)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                topic[(x >> 33) as usize % topic.len()]
            })
            .collect();
        sentences.push(s);
    }
    let vocab = Vocab::build(&sentences, 1).unwrap();
    let ids = sentences.iter().map(|s| vocab.encode(s)).collect();
    (vocab, ids)
}

fn small(sg: Architecture, threads: usize, seed: u64) -> Config {
    Config {
        sg,
        vector_size: 16,
        window: 3,
        sample: 0.0,
        epochs: 3,
        threads,
        seed,
        batch_words: 500,
        ..Config::default()
    }
}

#[test]
fn one_thread_with_a_seed_is_deterministic() {
    let (vocab, ids) = two_topic_corpus();
    for sg in [Architecture::SkipGram, Architecture::Cbow] {
        let a = train(&vocab, &ids, &small(sg, 1, 3)).unwrap();
        let b = train(&vocab, &ids, &small(sg, 1, 3)).unwrap();
        let c = train(&vocab, &ids, &small(sg, 1, 4)).unwrap();
        assert_eq!(a.vectors.data(), b.vectors.data(), "{sg:?}");
        assert_eq!(a.output, b.output);
        assert_ne!(a.vectors.data(), c.vectors.data());
        assert_eq!(a.stats.words, 3 * 3200);
        assert_eq!(a.stats.effective_words, 3 * 3200, "sample = 0 keeps every word");
    }
}

#[test]
fn both_architectures_separate_the_topics_on_several_threads() {
    let (vocab, ids) = two_topic_corpus();
    for sg in [Architecture::SkipGram, Architecture::Cbow] {
        let model = train(&vocab, &ids, &small(sg, 3, 1)).unwrap();
        assert_eq!(model.stats.threads, 3);
        let kv = &model.vectors;
        assert!(kv.data().iter().all(|v| v.is_finite()));
        let within = kv.similarity("cat", "dog").unwrap().min(kv.similarity("two", "five").unwrap());
        let across = kv.similarity("cat", "two").unwrap().max(kv.similarity("dog", "five").unwrap());
        assert!(within > across + 0.3, "{sg:?}: within {within}, across {across}");
        let near: Vec<String> =
            kv.most_similar(&["cow"], &[], 5).unwrap().into_iter().map(|(w, _)| w).collect();
        assert!(
            near.iter().all(|w| ["cat", "dog", "horse", "sheep", "goat"].contains(&w.as_str())),
            "{near:?}"
        );
        assert_eq!(kv.doesnt_match(&["cat", "dog", "three", "horse"]).unwrap(), "three");
    }
}

#[test]
fn subsampling_drops_frequent_words() {
    let (vocab, ids) = two_topic_corpus();
    // Each word is ~1/12 of the corpus: with sample = 1e-3 the keep probability is
    // (sqrt(0.0833/1e-3) + 1) * 1e-3/0.0833 ≈ 0.12.
    let model = train(&vocab, &ids, &Config { sample: 1e-3, ..small(Architecture::Cbow, 1, 1) }).unwrap();
    let kept = model.stats.effective_words as f64 / model.stats.words as f64;
    assert!((kept - 0.122).abs() < 0.02, "{kept}");
}

#[test]
fn bad_configurations_and_ids_are_errors() {
    let (vocab, ids) = two_topic_corpus();
    let bad = |c: Config| matches!(train(&vocab, &ids, &c), Err(Error::Invalid { .. }));
    assert!(bad(Config { window: 0, ..Config::default() }));
    assert!(bad(Config { negative: 0, ..Config::default() }));
    assert!(bad(Config { min_alpha: 0.5, ..Config::default() }));
    assert!(bad(Config { vector_size: 0, ..Config::default() }));
    match train(&vocab, &[vec![0, 99]], &Config::default()) {
        Err(Error::Invalid { message, .. }) => {
            assert!(message.contains("sentence 0 has word id 99"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(train(&vocab, &[vec![]], &Config::default()), Err(Error::Empty(_))));
}
