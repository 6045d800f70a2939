//! Verse classification: reference parsing and the book → section map, the chapter-keeping split,
//! encoding, the average model on a hand-made case, gradient checks, and the LSTM learning a toy
//! problem that word averages cannot solve.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use dls_foundations::data::Dataset;
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;
use dls_nlp::classify::canon::{BOOKS, DEUTEROCANON};
use dls_nlp::classify::{
    book_section, chapter_split, majority_baseline, parse_labelled, parse_reference, predict,
    section_confusion, AverageClassifier, EmbeddingMode, LabelledVerse, LstmClassifier, LstmClassifierConfig,
    Reference, Section, WordEmbedding, WordIndex,
};
use dls_nlp::vectors::KeyedVectors;
use dls_nlp::Error;
use dls_sequence::layer::{Directions, InputProjection};

#[test]
fn references_parse_into_book_chapter_verse() -> Result<()> {
    let r = parse_reference("1Sam 3:10")?;
    assert_eq!(r, Reference { book: "1Sam".into(), chapter: 3, verse: 10 });
    assert_eq!(r.to_string(), "1Sam 3:10");
    assert_eq!(parse_reference("Ps 119:176")?.chapter, 119);
    for (bad, why) in [
        ("Gen1:1", "no space"),
        ("Gen 1", "no colon"),
        ("Gen 0:1", "chapter \"0\""),
        ("Gen 1:x", "verse \"x\""),
        ("Gen 1:-2", "verse \"-2\""),
        (" 1:1", "no space"),
    ] {
        match parse_reference(bad) {
            Err(Error::Invalid { message, .. }) => assert!(message.contains(why), "{bad}: {message}"),
            other => panic!("{bad}: expected Invalid, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn all_66_books_map_to_their_sections() -> Result<()> {
    assert_eq!(BOOKS.len(), 66);
    let names: HashSet<&str> = BOOKS.iter().map(|(b, _)| *b).collect();
    assert_eq!(names.len(), 66, "a book is listed twice");
    let mut per_section: HashMap<Section, usize> = HashMap::new();
    for (book, section) in BOOKS {
        assert_eq!(book_section(book)?, Some(section), "{book}");
        *per_section.entry(section).or_default() += 1;
    }
    // Law 5, History 12, Wisdom and Poetry 5, Prophets 17, Gospels and Acts 5, Letters 21, Revelation 1.
    let counts: Vec<usize> = Section::ALL.iter().map(|s| per_section.get(s).copied().unwrap_or(0)).collect();
    assert_eq!(counts, [5, 12, 5, 17, 5, 21, 1]);
    for (book, section) in [
        ("Ruth", Section::History),
        ("Esth", Section::History),
        ("Song", Section::WisdomPoetry),
        ("Lam", Section::Prophets),
        ("Dan", Section::Prophets),
        ("Acts", Section::GospelsActs),
        ("Heb", Section::Letters),
        ("Rev", Section::Revelation),
    ] {
        assert_eq!(book_section(book)?, Some(section), "{book}");
    }
    for book in DEUTEROCANON {
        assert_eq!(book_section(book)?, None, "{book}");
    }
    match book_section("Hezekiah") {
        Err(Error::Invalid { message, .. }) => assert!(message.contains("Hezekiah"), "{message}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    for (i, s) in Section::ALL.iter().enumerate() {
        assert_eq!(s.id() as usize, i);
        assert_eq!(Section::from_id(i as u32)?, *s);
    }
    assert!(Section::from_id(7).is_err());
    Ok(())
}

#[test]
fn verse_lines_are_labelled_and_bad_lines_named() -> Result<()> {
    let text =
        "Gen 1:1\tIn the beginning.\n\nTob 1:1\tThe book of Tobit.\nMatt 1:1\tThe book of the genealogy.\n";
    let (verses, skipped) = parse_labelled(text.as_bytes(), "inline")?;
    assert_eq!(skipped, 1);
    assert_eq!(verses.len(), 2);
    assert_eq!(verses[0].section, Section::Law);
    assert_eq!(verses[1].reference, Reference { book: "Matt".into(), chapter: 1, verse: 1 });
    assert_eq!(verses[1].section, Section::GospelsActs);
    assert_eq!(verses[1].text, "The book of the genealogy.");
    // The same lines gzip-compressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes())?;
    let (again, skipped_again) = parse_labelled(&gz.finish()?, "inline.gz")?;
    assert_eq!((again, skipped_again), (verses, 1));
    for (bad, line, why) in [
        ("Gen 1:1\tok\nGen 1:2 no tab\n", 2, "no tab"),
        ("Gen 1:1\tok\n\nGen 1-2\tbad reference\n", 3, "no colon"),
        ("Gen 1:1\tok\nFoo 1:1\tunknown book\n", 2, "Foo"),
    ] {
        match parse_labelled(bad.as_bytes(), "bad.txt") {
            Err(Error::Format { path, line: Some(l), message }) => {
                assert_eq!((path.as_str(), l), ("bad.txt", line), "{message}");
                assert!(message.contains(why), "{message}");
            }
            other => panic!("expected a Format error on line {line}, got {other:?}"),
        }
    }
    Ok(())
}

/// `chapters` chapters of `verses` verses for one book of each section.
fn synthetic_verses(chapters: u32, verses: u32) -> Vec<LabelledVerse> {
    let books = ["Gen", "Josh", "Ps", "Isa", "Matt", "Rom", "Rev"];
    let mut out = Vec::new();
    for (book, section) in books.iter().zip(Section::ALL) {
        for chapter in 1..=chapters {
            for verse in 1..=verses {
                out.push(LabelledVerse {
                    reference: Reference { book: book.to_string(), chapter, verse },
                    section,
                    text: format!("{book} {chapter} {verse}"),
                });
            }
        }
    }
    out
}

#[test]
fn split_keeps_chapters_whole_and_is_seeded() -> Result<()> {
    let verses = synthetic_verses(20, 5); // 7 sections x 20 chapters x 5 verses = 700
    let split = chapter_split(&verses, 0.1, 0.2, 7)?;
    let mut seen = vec![0u8; verses.len()];
    let mut part_of: HashMap<(&str, u32), HashSet<usize>> = HashMap::new();
    for (p, idx) in [&split.train, &split.dev, &split.test].into_iter().enumerate() {
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "part {p} is not ascending");
        for &i in idx {
            seen[i] += 1;
            let r = &verses[i].reference;
            part_of.entry((r.book.as_str(), r.chapter)).or_default().insert(p);
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "every verse in exactly one part");
    assert_eq!(part_of.len(), 140);
    assert!(part_of.values().all(|parts| parts.len() == 1), "a chapter is split across parts");
    // Each section: 100 verses, test takes 4 chapters (20 verses), dev 2 chapters (10 verses).
    for section in Section::ALL {
        let count = |idx: &[usize]| idx.iter().filter(|&&i| verses[i].section == section).count();
        assert_eq!((count(&split.train), count(&split.dev), count(&split.test)), (70, 10, 20), "{section}");
    }
    assert_eq!(chapter_split(&verses, 0.1, 0.2, 7)?, split, "same seed, same split");
    assert_ne!(chapter_split(&verses, 0.1, 0.2, 8)?.test, split.test, "another seed, another split");
    for (dev, test) in [(-0.1, 0.1), (0.5, 0.5), (f64::NAN, 0.1)] {
        assert!(matches!(chapter_split(&verses, dev, test, 0), Err(Error::Invalid { .. })), "{dev} {test}");
    }
    assert!(matches!(chapter_split(&[], 0.1, 0.1, 0), Err(Error::Empty(_))));
    Ok(())
}

fn kv(words: &[&str], dim: usize, data: Vec<f32>) -> Result<KeyedVectors> {
    Ok(KeyedVectors::new(words.iter().map(|w| w.to_string()).collect(), dim, data)?)
}

fn verse(text: &str, section: Section) -> LabelledVerse {
    LabelledVerse {
        reference: Reference { book: "Gen".into(), chapter: 1, verse: 1 },
        section,
        text: text.into(),
    }
}

#[test]
fn encoding_pads_truncates_and_counts_unknown_words() -> Result<()> {
    let index = WordIndex::new(&kv(&["god", "light", "day"], 1, vec![1.0, 2.0, 3.0])?)?;
    assert_eq!(index.rows(), 4);
    assert_eq!(index.encode("God saw the Light.")?, (vec![1, 2], 2));
    let v = [
        verse("God saw the light, day", Section::Law),
        verse("Unknown words only", Section::Letters),
        verse("day", Section::Revelation),
    ];
    let refs: Vec<&LabelledVerse> = v.iter().collect();
    let (ds, stats) = index.dataset(&refs, 2, &Device::Cpu)?;
    assert_eq!(ds.x.to_vec2::<u32>()?, vec![vec![1, 2], vec![0, 0], vec![3, 0]]);
    assert_eq!(ds.y.to_vec1::<u32>()?, vec![0, 5, 6]);
    assert_eq!((stats.known, stats.unknown, stats.truncated, stats.empty), (4, 5, 1, 1));
    assert!((stats.unknown_rate() - 5.0 / 9.0).abs() < 1e-12);
    assert!(matches!(index.dataset(&refs, 0, &Device::Cpu), Err(Error::Invalid { .. })));
    Ok(())
}

/// Two-word vocabulary in 2-d (row 0 padding) and a hand-set head.
fn hand_average(params: &Params) -> Result<AverageClassifier> {
    let table = Tensor::new(&[[0f32, 0.], [1., 2.], [3., -1.]], &Device::Cpu)?;
    let embed = WordEmbedding::new(params, "embed.weight", &table, EmbeddingMode::Frozen)?;
    let model = AverageClassifier::new(params.var_builder(DType::F32, &Device::Cpu), embed, 3)?;
    params.get("head.weight")?.set(&Tensor::new(&[[1f32, 0.], [0., 1.], [1., -1.]], &Device::Cpu)?)?;
    params.get("head.bias")?.set(&Tensor::new(&[0f32, 0.5, -1.], &Device::Cpu)?)?;
    Ok(model)
}

#[test]
fn average_model_forward_on_a_hand_made_case() -> Result<()> {
    let params = Params::new(0);
    let model = hand_average(&params)?;
    // Row 1: mean of [1, 2] and [3, -1] = [2, 0.5]; logits W·m + b = [2, 1.0, 0.5].
    // Row 2: only word 2, [3, -1]: [3, -0.5, 3]. Row 3: padding only, mean 0: the bias.
    let ids = Tensor::new(&[[1u32, 2, 0], [2, 0, 0], [0, 0, 0]], &Device::Cpu)?;
    let logits = model.logits(&ids)?.to_vec2::<f32>()?;
    let want = [[2.0, 1.0, 0.5], [3.0, -0.5, 3.0], [0.0, 0.5, -1.0]];
    for (row, w) in logits.iter().zip(want) {
        for (a, b) in row.iter().zip(w) {
            assert!((a - b).abs() < 1e-6, "{logits:?}");
        }
    }
    match model.logits(&Tensor::new(&[[1u32, 3]], &Device::Cpu)?) {
        Err(Error::Invalid { message, .. }) => assert!(message.contains("id 3"), "{message}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Predictions and the confusion matrix from the same model (ties go to the lower class).
    let data = Dataset::new(ids, Tensor::new(&[0u32, 2, 1], &Device::Cpu)?)?;
    assert_eq!(predict(&model, &data, 2)?, vec![0, 0, 1]);
    let cm = section_confusion(&model, &data)?;
    assert_eq!((cm.get(0, 0)?, cm.get(2, 0)?, cm.get(1, 1)?), (1, 1, 1));
    assert!((cm.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    let (majority, acc) = majority_baseline(
        &Tensor::new(&[1u32, 1, 4, 0], &Device::Cpu)?,
        &Tensor::new(&[1u32, 2, 2, 2], &Device::Cpu)?,
    )?;
    assert_eq!((majority, acc), (Section::History, 0.25));
    Ok(())
}

#[test]
fn trainable_embedding_is_a_variable_and_frozen_is_not() -> Result<()> {
    let table = Tensor::new(&[[0f32, 0.], [1., 2.]], &Device::Cpu)?;
    let params = Params::new(0);
    let e = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Trainable)?;
    assert_eq!(params.get("embed.weight")?.to_vec2::<f32>()?, vec![vec![0.0, 0.0], vec![1.0, 2.0]]);
    assert_eq!((e.rows(), e.dim()), (2, 2));
    let frozen = Params::new(0);
    WordEmbedding::new(&frozen, "embed.weight", &table, EmbeddingMode::Frozen)?;
    assert!(frozen.get("embed.weight").is_err());
    let bad = Tensor::new(&[1f32, 2.], &Device::Cpu)?;
    assert!(matches!(
        WordEmbedding::new(&params, "other", &bad, EmbeddingMode::Frozen),
        Err(Error::Invalid { .. })
    ));
    Ok(())
}

/// Cross-entropy of `model` on a fixed batch, for the gradient checks.
fn ce(logits: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, y)
}

#[test]
fn gradients_of_both_models_match_central_differences() -> Result<()> {
    let dev = Device::Cpu;
    let table = Tensor::new(&[[0f64, 0., 0.], [0.3, -0.2, 0.5], [-0.4, 0.1, 0.2], [0.7, 0.6, -0.3]], &dev)?;
    let ids = Tensor::new(&[[1u32, 2, 3], [3, 1, 0], [2, 0, 0]], &dev)?;
    let y = Tensor::new(&[0u32, 1, 2], &dev)?;

    let params = Params::new(1);
    let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Trainable)?;
    let model = AverageClassifier::new(params.var_builder(DType::F64, &dev), embed, 3)?;
    let loss = || Ok(ce(&model.logits(&ids).map_err(candle_core::Error::wrap)?, &y)?);
    let report = gradcheck(loss, &params.named_vars(), 1e-6)?;
    assert!(report.relative_difference < 1e-7, "average: {report:?}");

    for (directions, projection) in [
        (Directions::Forward, InputProjection::Hoisted),
        (Directions::Bidirectional, InputProjection::PerStep),
    ] {
        let params = Params::new(2);
        let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Trainable)?;
        let cfg =
            LstmClassifierConfig { hidden: 3, classes: 3, directions, projection, ..Default::default() };
        let model = LstmClassifier::new(params.var_builder(DType::F64, &dev), embed, &cfg)?;
        let loss = || Ok(ce(&model.logits(&ids).map_err(candle_core::Error::wrap)?, &y)?);
        let report = gradcheck(loss, &params.named_vars(), 1e-6)?;
        assert!(report.relative_difference < 1e-7, "lstm {directions:?}: {report:?}");
    }
    Ok(())
}

#[test]
fn hoisted_and_per_step_lstm_agree_and_padding_is_ignored() -> Result<()> {
    let dev = Device::Cpu;
    let table = Tensor::new(&[[0f32, 0.], [0.5, -1.], [1., 0.25]], &dev)?;
    let mut outputs = Vec::new();
    for projection in [InputProjection::Hoisted, InputProjection::PerStep] {
        let params = Params::new(3);
        let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Frozen)?;
        let cfg = LstmClassifierConfig { hidden: 4, classes: 3, projection, ..Default::default() };
        let model = LstmClassifier::new(params.var_builder(DType::F32, &dev), embed, &cfg)?;
        let padded = model.logits(&Tensor::new(&[[1u32, 2, 0, 0], [2, 2, 1, 0]], &dev)?)?;
        let short = model.logits(&Tensor::new(&[[1u32, 2]], &dev)?)?;
        let (a, b) = (padded.get(0)?.to_vec1::<f32>()?, short.get(0)?.to_vec1::<f32>()?);
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "padding changed the logits");
        outputs.push(padded.to_vec2::<f32>()?);
    }
    for (r1, r2) in outputs[0].iter().zip(&outputs[1]) {
        for (x, y) in r1.iter().zip(r2) {
            assert!((x - y).abs() < 1e-5, "{outputs:?}");
        }
    }
    Ok(())
}

/// Sequences of 3-6 ids over {1: "A", 2: "B", 3, 4: fillers} holding one A and one B, padded to 6;
/// class 0 when A comes before B. Every sequence has the same bag of words as its mirror image, so
/// a model of word averages cannot do better than chance.
fn order_problem(n: usize, seed: u64) -> Result<Dataset> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = |k: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) % k as u64) as usize
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 3 + next(4);
        let mut seq: Vec<u32> = (0..len).map(|_| 3 + next(2) as u32).collect();
        let a = next(len);
        let mut b = next(len - 1);
        if b >= a {
            b += 1;
        }
        seq[a] = 1;
        seq[b] = 2;
        y.push(u32::from(a > b));
        seq.resize(6, 0);
        x.extend(seq);
    }
    Ok(Dataset::new(Tensor::from_vec(x, (n, 6), &Device::Cpu)?, Tensor::from_vec(y, n, &Device::Cpu)?)?)
}

#[test]
fn lstm_learns_word_order_that_averages_cannot_see() -> Result<()> {
    let (train, test) = (order_problem(256, 1)?, order_problem(200, 2)?);
    let table = Tensor::new(
        &[[0f32, 0., 0.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [0., 0., -1.]],
        &Device::Cpu,
    )?;
    let fit = FitConfig { epochs: 40, batch_size: 32, progress: Progress::Never, ..Default::default() };

    let params = Params::new(4);
    let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Frozen)?;
    let cfg = LstmClassifierConfig { hidden: 8, classes: 2, ..Default::default() };
    let lstm = Classifier::new(
        LstmClassifier::new(params.var_builder(DType::F32, &Device::Cpu), embed, &cfg)?,
        Objective::MultiClass,
    );
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 0.03, ..Default::default() })?;
    Trainer::new(&params, opt, fit.clone())?.fit(&lstm, &train, None)?;
    let lstm_acc = lstm.evaluate(&test)?.accuracy;

    let params = Params::new(4);
    let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Frozen)?;
    let average = Classifier::new(
        AverageClassifier::new(params.var_builder(DType::F32, &Device::Cpu), embed, 2)?,
        Objective::MultiClass,
    );
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 0.03, ..Default::default() })?;
    Trainer::new(&params, opt, fit)?.fit(&average, &train, None)?;
    let average_acc = average.evaluate(&test)?.accuracy;

    assert!(lstm_acc > 0.97, "lstm test accuracy {lstm_acc}");
    assert!(average_acc < 0.65, "average test accuracy {average_acc}");
    Ok(())
}
