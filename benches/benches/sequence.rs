//! dls-sequence: one training step of a character LSTM and sampling from it.
//!
//! Run: `cargo bench -p dls-benches --bench sequence` (add `-- --quick` for a fast look).
//! Ids: `lstm_train_step` (1-layer LSTM language model, vocabulary 64, embedding 64, hidden 128,
//! sequence 50, batch 32, Adam: forward, backward and update; the input projection hoisted out of
//! the recurrence, one matmul for all gates of all steps), `lstm_train_step_per_step` (the same
//! with the equations' per-step input matmul), `lstm_train_step_candle` (hoisted, but the cell's
//! element-wise half written with candle tensor ops instead of `dls_sequence::fused`, the
//! reference) and `char_lm_sample` (50 characters,
//! one at a time, temperature 1), all f32 on one thread.

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::Learner;
use dls_foundations::{Params, SeededRng};
use dls_sequence::charlm::{CharLm, CharLmConfig, SampleConfig};
use dls_sequence::layer::InputProjection;
use dls_sequence::vocab::CharVocab;

const VOCAB: usize = 64;
const BATCH: usize = 32;
const SEQ: usize = 50;

fn lm(projection: InputProjection) -> candle_core::Result<(Params, CharLm)> {
    let params = Params::new(0);
    let cfg =
        CharLmConfig { vocab_size: VOCAB, embedding: 64, hidden: 128, projection, ..Default::default() };
    let lm =
        CharLm::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).map_err(candle_core::Error::wrap)?;
    Ok((params, lm))
}

/// Deterministic ids cycling through the vocabulary, targets shifted by one.
fn batch() -> candle_core::Result<(Tensor, Tensor)> {
    let ids: Vec<u32> = (0..(BATCH * (SEQ + 1)) as u32).map(|i| (i * 7 + i / 13) % VOCAB as u32).collect();
    let all = Tensor::from_vec(ids, (BATCH, SEQ + 1), &Device::Cpu)?;
    Ok((all.narrow(1, 0, SEQ)?, all.narrow(1, 1, SEQ)?.contiguous()?))
}

fn train_step(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let (x, y) = match batch() {
        Ok(b) => b,
        Err(e) => panic!("bench set-up failed: {e}"),
    };
    for (id, projection, fused) in [
        ("lstm_train_step", InputProjection::Hoisted, true),
        ("lstm_train_step_candle", InputProjection::Hoisted, false),
        ("lstm_train_step_per_step", InputProjection::PerStep, true),
    ] {
        dls_sequence::fused::use_fused_lstm(fused);
        let (params, lm) = match lm(projection) {
            Ok(m) => m,
            Err(e) => panic!("bench set-up failed: {e}"),
        };
        let mut opt = match Adam::new(params.trainable(), AdamConfig::default()) {
            Ok(o) => o,
            Err(e) => panic!("bench set-up failed: {e}"),
        };
        let mut group = c.benchmark_group(id);
        group.sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
        group.bench_function("vocab64_emb64_h128_seq50_b32", |b| {
            b.iter(|| {
                let loss = lm.loss(&x, &y).map_err(candle_core::Error::wrap)?;
                opt.backward_step(&loss)
            })
        });
        group.finish();
    }
    dls_sequence::fused::use_fused_lstm(true);
}

fn sample(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let (_, lm) = match lm(InputProjection::Hoisted) {
        Ok(m) => m,
        Err(e) => panic!("bench set-up failed: {e}"),
    };
    // 63 printable characters plus the end marker.
    let text: String = (33u8..96).map(char::from).collect();
    let vocab = match CharVocab::from_text(&text) {
        Ok(v) => v,
        Err(e) => panic!("bench set-up failed: {e}"),
    };
    let cfg = SampleConfig { max_len: 50, temperature: 1.0, ..Default::default() };
    let mut group = c.benchmark_group("char_lm_sample");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("h128_50_chars", |b| b.iter(|| lm.sample(&vocab, &cfg, &SeededRng::new(0))));
    group.finish();
}

criterion_group!(benches, train_step, sample);
criterion_main!(benches);
