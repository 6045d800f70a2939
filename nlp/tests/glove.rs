//! GloVe: weighted co-occurrence counts (in memory and spilled to shards), the record file format,
//! the AdaGrad update and its gradient, and what training does.

use candle_core::{Device, Tensor, Var};
use dls_foundations::gradcheck::{gradcheck, gradcheck_against};
use dls_nlp::glove::cooccur::{self, Counter};
use dls_nlp::glove::kernel::{step, weight, Side, Step};
use dls_nlp::glove::{shard, train, Cooccurrence};
use dls_nlp::vectors::io;
use dls_nlp::Error;

fn lookup(counts: &[Cooccurrence], i: u32, j: u32) -> f64 {
    counts.iter().find(|c| (c.row, c.col) == (i, j)).map_or(0.0, |c| c.value)
}

#[test]
fn counts_a_sentence_by_hand() {
    // "the cat sat on the mat" = [0 1 2 3 0 4], window 3; then "dog dog" = [5 5].
    let sentences = vec![vec![0u32, 1, 2, 3, 0, 4], vec![5, 5]];
    let counts = cooccur::count(&sentences, &cooccur::Config { window: 3, ..Default::default() }).unwrap();
    // Hand-computed: each pair at distance d adds 1/d to both (i, j) and (j, i).
    let third = 1.0 / 3.0;
    let expected = [
        (0, 1, 1.0 + third), // the-cat at distances 1 and 3
        (0, 2, 1.0),         // the-sat at 2 and 2
        (0, 3, 1.0 + third), // the-on at 3 and 1
        (0, 4, 1.0),
        (1, 2, 1.0),
        (1, 3, 0.5),
        (2, 3, 1.0),
        (2, 4, third),
        (3, 4, 0.5),
    ];
    assert_eq!(counts.len(), 2 * expected.len() + 1);
    for (i, j, x) in expected {
        assert!((lookup(&counts, i, j) - x).abs() < 1e-12, "X[{i}][{j}]");
        assert!((lookup(&counts, j, i) - x).abs() < 1e-12, "X[{j}][{i}]");
    }
    assert!((lookup(&counts, 5, 5) - 2.0).abs() < 1e-12, "a word next to itself counts twice");
    assert!(counts.windows(2).all(|p| p[0].key() < p[1].key()), "sorted by (row, col)");
    // Window 1 keeps only neighbours.
    let near = cooccur::count(&sentences[..1], &cooccur::Config { window: 1, ..Default::default() }).unwrap();
    assert_eq!(lookup(&near, 0, 2), 0.0);
    assert_eq!(lookup(&near, 0, 3), 1.0);
}

/// A deterministic pseudo-random corpus (an LCG), `n` sentences over `vocab` words.
fn corpus(n: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) as u32
    };
    (0..n).map(|_| (0..5 + next() % 11).map(|_| next() % vocab).collect()).collect()
}

#[test]
fn spilled_shards_merge_to_the_in_memory_counts() {
    let sentences = corpus(200, 50, 7);
    let config = cooccur::Config { window: 4, ..Default::default() };
    let memory = cooccur::count(&sentences, &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spill_config = cooccur::Config { max_entries: 100, temp_dir: Some(dir.path().into()), ..config };
    let mut counter = Counter::new(spill_config.clone()).unwrap();
    for s in &sentences {
        counter.add_sentence(s).unwrap();
    }
    assert!(counter.shards() > 10, "{} shards", counter.shards());
    assert_eq!(counter.tokens(), sentences.iter().map(|s| s.len() as u64).sum::<u64>());
    let merged = counter.finish().unwrap();
    assert_eq!(merged.len(), memory.len());
    for (a, b) in merged.iter().zip(&memory) {
        assert_eq!((a.row, a.col), (b.row, b.col));
        assert!((a.value - b.value).abs() < 1e-12, "{a:?} vs {b:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "shard directory removed");
    // Streaming the merge to a file gives the same records back.
    let mut counter = Counter::new(spill_config).unwrap();
    sentences.iter().for_each(|s| counter.add_sentence(s).unwrap());
    let path = dir.path().join("cooccurrence.bin");
    assert_eq!(counter.finish_to_file(&path).unwrap(), memory.len() as u64);
    let back = shard::read(&path).unwrap();
    assert_eq!(back.len(), memory.len());
    assert!(back.iter().zip(&memory).all(|(a, b)| a.key() == b.key() && (a.value - b.value).abs() < 1e-12));
}

#[test]
fn record_files_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bin");
    assert!(matches!(shard::read(&missing), Err(Error::Io { path, .. }) if path == missing));
    let good = shard::to_bytes(&[Cooccurrence { row: 2, col: 0, value: 0.5 }]);
    // The reference tool's layout: 1-based int32 ids, then a float64.
    assert_eq!(&good[..8], &[3, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&good[8..], &0.5f64.to_le_bytes());
    let truncated = [good.clone(), good[..5].to_vec()].concat();
    let err = shard::from_bytes(&truncated, "t.bin").unwrap_err().to_string();
    assert!(err.contains("t.bin") && err.contains("truncated record at byte 16"), "{err}");
    let mut zero_id = good.clone();
    zero_id[4..8].copy_from_slice(&0i32.to_le_bytes());
    let err = shard::from_bytes(&[good.clone(), zero_id].concat(), "z.bin").unwrap_err().to_string();
    assert!(err.contains("record at byte 16: column id 0"), "{err}");
    let mut negative = good.clone();
    negative[8..].copy_from_slice(&(-1.0f64).to_le_bytes());
    let err = shard::from_bytes(&negative, "n.bin").unwrap_err().to_string();
    assert!(err.contains("count -1 is not a positive finite number"), "{err}");
    assert!(matches!(
        Counter::new(cooccur::Config { window: 0, ..Default::default() }),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        Counter::new(cooccur::Config { max_entries: 0, ..Default::default() }),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn weighting_function() {
    assert!((weight(10.0, 100.0, 0.75) - 0.177_827_941_003_892_3).abs() < 1e-15);
    assert_eq!(weight(100.0, 100.0, 0.75), 1.0);
    assert_eq!(weight(250.0, 100.0, 0.75), 1.0);
    assert!((weight(50.0, 100.0, 1.0) - 0.5).abs() < 1e-15);
}

#[test]
fn one_adagrad_step_by_hand() {
    // python3: f = 0.1**0.75; diff = 0.1*0.3 + 0.2*(-0.1) + 0.05 - 0.02 - log(10); g = f*diff
    // dw = 0.05*g*c; w -= dw/sqrt(Gw); Gw += dw**2 (likewise c, biases), with Gw = [4, 1], Gb~ = 2:
    // f 0.1778279410038923 diff -2.262585092994046 g -0.4023508484332313 loss 0.455176515909268
    // w [0.10301763136324923, 0.19798824575783386] c [0.30201175424216614, -0.09597649151566769]
    // Gw [4.0000364243961775, 1.0000040471551308] Gc [1.0000040471551308, 1.0000161886205234]
    // bw 0.07011754242166157 bc -0.005774749332835068 Gb 1.0004047155130873 2.0004047155130875
    let (mut w, mut c, mut bw, mut bc) = ([0.1f32, 0.2], [0.3f32, -0.1], 0.05f32, -0.02f32);
    let (mut gw, mut gc, mut gbw, mut gbc) = ([4.0f32, 1.0], [1.0f32, 1.0], 1.0f32, 2.0f32);
    let s = Step {
        weight: weight(10.0, 100.0, 0.75) as f32,
        log_x: 10f32.ln(),
        learning_rate: 0.05,
        grad_clip: 100.0,
    };
    let loss = step(
        Side { vector: &mut w, bias: &mut bw, grad_sq: &mut gw, bias_grad_sq: &mut gbw },
        Side { vector: &mut c, bias: &mut bc, grad_sq: &mut gc, bias_grad_sq: &mut gbc },
        &s,
    )
    .unwrap();
    let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
    assert!((loss - 0.455176515909268).abs() < 1e-6, "{loss}");
    assert!(close(w[0], 0.10301763136324923) && close(w[1], 0.19798824575783386), "{w:?}");
    assert!(close(c[0], 0.30201175424216614) && close(c[1], -0.09597649151566769), "{c:?}");
    assert!(close(gw[0], 4.0000364243961775) && close(gc[1], 1.0000161886205234), "{gw:?} {gc:?}");
    assert!(close(bw, 0.07011754242166157) && close(bc, -0.005774749332835068), "{bw} {bc}");
    assert!(close(gbw, 1.0004047155130873) && close(gbc, 2.0004047155130875), "{gbw} {gbc}");
    // Clipping bounds each component's step to eta * clip.
    let (mut w, mut c, mut bw, mut bc) = ([1.0f32, 2.0], [3.0f32, -1.0], 0.0f32, 0.0f32);
    let (mut gw, mut gc, mut gbw, mut gbc) = ([1.0f32; 2], [1.0f32; 2], 1.0f32, 1.0f32);
    let s = Step { weight: 1.0, log_x: 0.0, learning_rate: 0.5, grad_clip: 0.01 };
    step(
        Side { vector: &mut w, bias: &mut bw, grad_sq: &mut gw, bias_grad_sq: &mut gbw },
        Side { vector: &mut c, bias: &mut bc, grad_sq: &mut gc, bias_grad_sq: &mut gbc },
        &s,
    );
    // g = 1 (diff 1): the gradients g c = [3, -1] and g w = [1, 2] are clipped to ±0.01, so every
    // component moves by 0.005 against its sign.
    let moved = [w[0] - 0.995, w[1] - 2.005, c[0] - 2.995, c[1] + 1.005];
    assert!(moved.iter().all(|d| d.abs() < 1e-6), "{w:?} {c:?}");
    assert!((bw + 0.5).abs() < 1e-7, "biases are not clipped: {bw}");
}

/// `½ f (w·c + bw + bc - log x)²` on candle in f64.
fn pair_loss(vars: &[Var; 4], f: f64, log_x: f64) -> candle_core::Result<Tensor> {
    let [w, c, bw, bc] = vars;
    let s = (w.as_tensor() * c.as_tensor())?.sum_all()?;
    let diff = ((s + bw.as_tensor().sum_all()?)? + bc.as_tensor().sum_all()?)?.affine(1.0, -log_x)?;
    diff.sqr()?.affine(0.5 * f, 0.0)
}

#[test]
fn kernel_gradient_matches_central_differences() {
    let (w0, c0, bw0, bc0) = ([0.3f32, -0.2, 0.5], [0.4f32, 0.1, -0.3], 0.1f32, -0.05f32);
    let (f, x) = (weight(30.0, 100.0, 0.75), 30.0f64);
    let var = |v: &[f32]| {
        let v: Vec<f64> = v.iter().map(|&a| f64::from(a)).collect();
        Var::from_tensor(&Tensor::new(v.as_slice(), &Device::Cpu).unwrap()).unwrap()
    };
    let vars = [var(&w0), var(&c0), var(&[bw0]), var(&[bc0])];
    let named: Vec<(String, Var)> =
        ["w", "c", "bw", "bc"].iter().zip(&vars).map(|(n, v)| (n.to_string(), v.clone())).collect();
    let loss = || pair_loss(&vars, f, x.ln()).map_err(Into::into);
    // The loss expression's autograd gradient is right ...
    let report = gradcheck(loss, &named, 1e-6).unwrap();
    assert!(report.relative_difference < 1e-8, "{report:?}");
    // ... and so is the kernel's: with accumulators at 1 and eta 1 its first step is -gradient.
    let (mut w, mut c, mut bw, mut bc) = (w0, c0, bw0, bc0);
    let (mut gw, mut gc, mut gbw, mut gbc) = ([1.0f32; 3], [1.0f32; 3], 1.0f32, 1.0f32);
    let s = Step { weight: f as f32, log_x: x.ln() as f32, learning_rate: 1.0, grad_clip: 1e6 };
    step(
        Side { vector: &mut w, bias: &mut bw, grad_sq: &mut gw, bias_grad_sq: &mut gbw },
        Side { vector: &mut c, bias: &mut bc, grad_sq: &mut gc, bias_grad_sq: &mut gbc },
        &s,
    )
    .unwrap();
    let grad = |old: &[f32], new: &[f32]| {
        let g: Vec<f64> = old.iter().zip(new).map(|(a, b)| f64::from(a - b)).collect();
        Tensor::new(g.as_slice(), &Device::Cpu).unwrap()
    };
    let analytic = [grad(&w0, &w), grad(&c0, &c), grad(&[bw0], &[bw]), grad(&[bc0], &[bc])];
    let report = gradcheck_against(loss, &named, &analytic, 1e-6).unwrap();
    // f32 arithmetic in the kernel: agreement to about 1e-7 relative.
    assert!(report.relative_difference < 1e-6, "{report:?}");
}

/// Two topics: words 0-4 only co-occur with each other, as do words 5-9.
fn topic_corpus() -> (Vec<String>, Vec<Cooccurrence>) {
    let sentences: Vec<Vec<u32>> = corpus(400, 5, 3)
        .into_iter()
        .enumerate()
        .map(|(k, s)| s.iter().map(|w| w + 5 * (k % 2) as u32).collect())
        .collect();
    let counts = cooccur::count(&sentences, &cooccur::Config { window: 3, ..Default::default() }).unwrap();
    ((0..10).map(|i| format!("w{i}")).collect(), counts)
}

fn small() -> train::Config {
    train::Config { vector_size: 8, epochs: 15, x_max: 10.0, ..Default::default() }
}

#[test]
fn training_lowers_the_loss_and_learns_the_topics() {
    let (words, counts) = topic_corpus();
    let model = train::train(&words, &counts, &small()).unwrap();
    let l = &model.losses;
    assert_eq!(l.len(), 15);
    assert!(l[14] < 0.2 * l[0], "{l:?}");
    assert!(l.windows(2).all(|p| p[1] < p[0]), "loss falls every epoch: {l:?}");
    let kv = model.vectors(train::Output::Sum).unwrap();
    let (mut within, mut across) = (0.0, 0.0);
    for i in 0..10 {
        for j in 0..10 {
            if i != j {
                let s = f64::from(kv.similarity(&words[i], &words[j]).unwrap());
                if (i < 5) == (j < 5) {
                    within += s / 40.0;
                } else {
                    across += s / 50.0;
                }
            }
        }
    }
    assert!(within > across + 0.5, "within {within:.3}, across {across:.3}");
}

#[test]
fn one_thread_is_deterministic_and_two_threads_train() {
    let (words, counts) = topic_corpus();
    let a = train::train(&words, &counts, &small()).unwrap();
    let b = train::train(&words, &counts, &small()).unwrap();
    assert_eq!(a.words.data(), b.words.data());
    assert_eq!(a.contexts.data(), b.contexts.data());
    assert_eq!(a.losses, b.losses);
    let c = train::train(&words, &counts, &train::Config { seed: 2, ..small() }).unwrap();
    assert_ne!(a.words.data(), c.words.data());
    let two = train::train(&words, &counts, &train::Config { threads: 2, ..small() }).unwrap();
    assert_eq!(two.stats.threads, 2);
    assert!(two.losses[14] < 0.2 * two.losses[0], "{:?}", two.losses);
}

#[test]
fn saves_word_context_and_summed_vectors() {
    let (words, counts) = topic_corpus();
    let model = train::train(&words, &counts, &train::Config { epochs: 2, ..small() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.txt");
    model.save(&path, train::Output::Sum).unwrap();
    let back = io::load(&path, Some(io::Format::GloveText)).unwrap();
    let (w, c) = (model.words.vector("w3").unwrap(), model.contexts.vector("w3").unwrap());
    let sum: Vec<f32> = w.iter().zip(c).map(|(a, b)| a + b).collect();
    assert_eq!(back.vector("w3").unwrap(), sum.as_slice());
    assert_eq!(model.vectors(train::Output::Context).unwrap().data(), model.contexts.data());
    assert_eq!((model.word_bias.len(), model.context_bias.len()), (10, 10));
}

#[test]
fn bad_training_input_is_rejected() {
    let (words, counts) = topic_corpus();
    let bad = |config: train::Config| match train::train(&words, &counts, &config) {
        Err(Error::Invalid { what, .. }) => what,
        other => panic!("expected an invalid-config error, got {other:?}"),
    };
    assert_eq!(bad(train::Config { vector_size: 0, ..small() }), "vector_size");
    assert_eq!(bad(train::Config { x_max: 0.0, ..small() }), "x_max");
    assert_eq!(bad(train::Config { learning_rate: f32::NAN, ..small() }), "learning_rate");
    assert_eq!(bad(train::Config { grad_clip: -1.0, ..small() }), "grad_clip");
    assert_eq!(bad(train::Config { epochs: 0, ..small() }), "epochs");
    let err = train::train(&words[..5], &counts, &small()).unwrap_err().to_string();
    assert!(err.contains("the vocabulary has 5 words"), "{err}");
    assert!(matches!(train::train(&words, &[], &small()), Err(Error::Empty(_))));
    let zero = [Cooccurrence { row: 0, col: 1, value: 0.0 }];
    assert!(matches!(train::train(&words, &zero, &small()), Err(Error::Invalid { .. })));
}
