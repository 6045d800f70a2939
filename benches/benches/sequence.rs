//! dls-sequence: one training step of a character LSTM (and GRU) and sampling from it.
//!
//! Run: `cargo bench -p dls-benches --bench sequence` (add `-- --quick` for a fast look).
//! Ids: `lstm_train_step` (1-layer LSTM language model, vocabulary 64, embedding 64, hidden 128,
//! sequence 50, batch 32, Adam: forward, backward and update; the whole sequence as one op,
//! `dls_sequence::fused_seq`, after one matmul for the input half of all gates of all steps),
//! `lstm_train_step_step_fused` (step by step as a candle graph, each step's element-wise half one
//! op, `dls_sequence::fused`), `lstm_train_step_candle` (step by step with the cell written in
//! candle tensor ops, the reference), `gru_train_step` and `gru_train_step_candle` (the same model
//! with a GRU, `dls_sequence::fused_gru`, against the step-by-step tensor ops) and `char_lm_sample`
//! (50 characters, one at a time, temperature 1), all f32 on one thread. The PyTorch peer of
//! `lstm_train_step` is the same model on `nn.LSTM`.

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::Learner;
use dls_foundations::{Params, SeededRng};
use dls_sequence::cell::CellKind;
use dls_sequence::charlm::{CharLm, CharLmConfig, SampleConfig};
use dls_sequence::layer::InputProjection;
use dls_sequence::vocab::CharVocab;

const VOCAB: usize = 64;
const BATCH: usize = 32;
const SEQ: usize = 50;

fn lm(kind: CellKind) -> candle_core::Result<(Params, CharLm)> {
    let params = Params::new(0);
    let projection = InputProjection::Hoisted;
    let cfg = CharLmConfig {
        vocab_size: VOCAB,
        embedding: 64,
        hidden: 128,
        projection,
        kind,
        ..Default::default()
    };
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
    for (id, kind, sequence, step) in [
        ("lstm_train_step", CellKind::Lstm, true, true),
        ("lstm_train_step_step_fused", CellKind::Lstm, false, true),
        ("lstm_train_step_candle", CellKind::Lstm, false, false),
        ("gru_train_step", CellKind::Gru, true, true),
        ("gru_train_step_candle", CellKind::Gru, false, true),
    ] {
        dls_sequence::fused_seq::use_fused_sequence(sequence);
        dls_sequence::fused::use_fused_lstm(step);
        let (params, lm) = match lm(kind) {
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
    dls_sequence::fused_seq::use_fused_sequence(true);
    dls_sequence::fused::use_fused_lstm(true);
}

fn sample(c: &mut Criterion) {
    dls_foundations::threads::set_threads(1);
    let (_, lm) = match lm(CellKind::Lstm) {
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
