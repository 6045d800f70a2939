//! BLEU throughput: corpus BLEU (13a, exp smoothing) over 10,000 seeded synthetic sentence pairs.
//!
//! ```text
//! cargo bench -p dls-benches --bench bleu
//! ```
//! Each iteration tokenises and scores the whole corpus from its strings, as sacrebleu's
//! `corpus_bleu` does; throughput is in sentences.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_nlp::bleu::{synthetic_corpus, Bleu, BleuConfig};

const SENTENCES: usize = 10_000;

fn corpus(c: &mut Criterion) {
    let (hyps, refs) = match synthetic_corpus(SENTENCES, 28) {
        Ok(corpus) => corpus,
        Err(e) => panic!("synthetic corpus: {e}"),
    };
    let refs = [refs];
    let bleu = match Bleu::new(BleuConfig::default()) {
        Ok(bleu) => bleu,
        Err(e) => panic!("bleu: {e}"),
    };
    let mut group = c.benchmark_group("bleu");
    group.throughput(Throughput::Elements(SENTENCES as u64));
    group.bench_function("corpus_10k", |b| {
        b.iter(|| bleu.corpus_score(std::hint::black_box(&hyps), &refs).map(|s| s.score))
    });
    group.finish();
}

criterion_group!(benches, corpus);
criterion_main!(benches);
