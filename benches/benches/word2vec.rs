//! word2vec throughput: one epoch over the shipped Bible excerpt (~100k words), one thread, for
//! skip-gram and CBOW with gensim's defaults; and a 3CosAdd analogy query over the trained vectors.
//!
//! ```text
//! cargo bench -p dls-benches --bench word2vec
//! ```
//! Throughput is in corpus words (before subsampling), the figure gensim logs as raw words/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_nlp::corpus::read_verses;
use dls_nlp::vocab::{Tokenizer, Vocab};
use dls_nlp::word2vec::{train, Architecture, Config};

fn corpus() -> (Vocab, Vec<Vec<u32>>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nlp/data/bible-excerpt.txt.gz");
    let verses = read_verses(&path).unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::new();
    let sentences: Vec<Vec<String>> =
        verses.iter().map(|v| tok.words(&v.text).unwrap_or_else(|e| panic!("{e}"))).collect();
    let vocab = Vocab::build(&sentences, 5).unwrap_or_else(|e| panic!("{e}"));
    let ids = sentences.iter().map(|s| vocab.encode(s)).collect();
    (vocab, ids)
}

fn training(c: &mut Criterion) {
    let (vocab, ids) = corpus();
    let words: u64 = ids.iter().map(|s: &Vec<u32>| s.len() as u64).sum();
    let mut group = c.benchmark_group("word2vec");
    group.sample_size(10);
    group.throughput(Throughput::Elements(words));
    for (name, sg) in [("skipgram_epoch", Architecture::SkipGram), ("cbow_epoch", Architecture::Cbow)] {
        let config = Config { sg, epochs: 1, threads: 1, ..Config::default() };
        group.bench_function(name, |b| {
            b.iter(|| train(&vocab, std::hint::black_box(&ids), &config).map(|m| m.stats.effective_words))
        });
    }
    group.finish();

    let model =
        train(&vocab, &ids, &Config { threads: 1, ..Config::default() }).unwrap_or_else(|e| panic!("{e}"));
    let kv = model.vectors;
    c.bench_function("word2vec/analogy_query", |b| {
        b.iter(|| kv.most_similar(std::hint::black_box(&["king", "woman"]), &["man"], 5).map(|v| v.len()))
    });
}

criterion_group!(benches, training);
criterion_main!(benches);
