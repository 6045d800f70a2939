//! GloVe: co-occurrence counting (in memory, and with a small budget that spills shards to disk)
//! and one training epoch over the shipped Bible excerpt (~100k words, 1,463 words kept, ~209k
//! non-zero counts), one thread, 100 dimensions, window 10.
//!
//! ```text
//! cargo bench -p dls-benches --bench glove
//! ```
//! Throughput is in corpus words for counting and in non-zero entries for training.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_nlp::corpus::read_verses;
use dls_nlp::glove::{cooccur, train};
use dls_nlp::vocab::{Tokenizer, Vocab};

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

fn glove(c: &mut Criterion) {
    let (vocab, ids) = corpus();
    let words: u64 = ids.iter().map(|s: &Vec<u32>| s.len() as u64).sum();
    let mut group = c.benchmark_group("glove");
    group.sample_size(10);
    group.throughput(Throughput::Elements(words));
    let in_memory = cooccur::Config { window: 10, ..cooccur::Config::default() };
    group.bench_function("cooccur", |b| {
        b.iter(|| cooccur::count(std::hint::black_box(&ids), &in_memory).map(|r| r.len()))
    });
    let spilling = cooccur::Config { max_entries: 50_000, ..in_memory.clone() };
    group.bench_function("cooccur_spill_50k", |b| {
        b.iter(|| cooccur::count(std::hint::black_box(&ids), &spilling).map(|r| r.len()))
    });
    let records = cooccur::count(&ids, &in_memory).unwrap_or_else(|e| panic!("{e}"));
    group.throughput(Throughput::Elements(records.len() as u64));
    let config = train::Config { epochs: 1, threads: 1, ..train::Config::default() };
    group.bench_function("train_epoch", |b| {
        b.iter(|| {
            train::train(vocab.words(), std::hint::black_box(&records), &config)
                .map(|m| m.losses.first().copied())
        })
    });
    group.finish();
}

criterion_group!(benches, glove);
criterion_main!(benches);
