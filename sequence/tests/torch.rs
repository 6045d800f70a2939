//! Our layers against PyTorch 2.15's `nn.LSTM`, `nn.GRU` and `nn.RNN` given the same weights: the
//! fixture `fixtures/torch_rnn.safetensors` was written by `fixtures/torch_rnn.py` (f64; stacked,
//! bidirectional, batch-first and time-first, packed variable-length batches).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use dls_foundations::Params;
use dls_sequence::cell::{CellKind, State};
use dls_sequence::layer::{Directions, InputProjection, Layout, Rnn, RnnConfig, RnnOutput};

type Fixture = HashMap<String, Tensor>;

/// The tests that flip the process-wide path switches take this lock.
static SWITCHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fixture() -> anyhow::Result<Fixture> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torch_rnn.safetensors");
    Ok(candle_core::safetensors::load(path, &Device::Cpu)?)
}

fn get<'a>(f: &'a Fixture, name: &str) -> anyhow::Result<&'a Tensor> {
    f.get(name).ok_or_else(|| anyhow::anyhow!("fixture has no {name}"))
}

/// Builds the layer under `prefix` and copies PyTorch's weights into it by name.
fn load(f: &Fixture, prefix: &str, cfg: &RnnConfig) -> anyhow::Result<Rnn> {
    let params = Params::new(0);
    let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu).pp(prefix), cfg)?;
    let mut loaded = 0;
    for (name, var) in params.named_vars() {
        var.set(get(f, &name)?)?;
        loaded += 1;
    }
    assert_eq!(loaded, 4 * cfg.num_layers * cfg.directions.count());
    Ok(rnn)
}

fn max_diff(a: &Tensor, b: &Tensor) -> anyhow::Result<f64> {
    assert_eq!(a.dims(), b.dims());
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

/// PyTorch's `h_n` `[layers·directions, batch, hidden]` from our final states.
fn stack_h(states: &[State]) -> anyhow::Result<Tensor> {
    Ok(Tensor::stack(&states.iter().map(|s| s.h.clone()).collect::<Vec<_>>(), 0)?)
}

fn stack_c(states: &[State]) -> anyhow::Result<Tensor> {
    let cs: Option<Vec<Tensor>> = states.iter().map(|s| s.c.clone()).collect();
    Ok(Tensor::stack(&cs.ok_or_else(|| anyhow::anyhow!("no memory cell"))?, 0)?)
}

fn check(f: &Fixture, prefix: &str, out: &RnnOutput, packed: bool) -> anyhow::Result<()> {
    let p = if packed { "packed_" } else { "" };
    let d = max_diff(&out.output, get(f, &format!("{prefix}.{p}output"))?)?;
    assert!(d < 1e-12, "{prefix} {p}output differs by {d}");
    let d = max_diff(&stack_h(&out.states)?, get(f, &format!("{prefix}.{p}h_n"))?)?;
    assert!(d < 1e-12, "{prefix} {p}h_n differs by {d}");
    if let Some(c) = f.get(&format!("{prefix}.{p}c_n")) {
        let d = max_diff(&stack_c(&out.states)?, c)?;
        assert!(d < 1e-12, "{prefix} {p}c_n differs by {d}");
    }
    Ok(())
}

#[test]
fn stacked_bidirectional_lstm_matches_pytorch() -> anyhow::Result<()> {
    let f = fixture()?;
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    // Every path: the whole-sequence op (the default), the per-step fused op, candle's ops.
    let mut result = Ok(());
    for (sequence, step) in [(true, true), (false, true), (false, false)] {
        dls_sequence::fused_seq::use_fused_sequence(sequence);
        dls_sequence::fused::use_fused_lstm(step);
        result = result.and_then(|()| lstm_paths(&f));
    }
    dls_sequence::fused_seq::use_fused_sequence(true);
    dls_sequence::fused::use_fused_lstm(true);
    result
}

fn lstm_paths(f: &Fixture) -> anyhow::Result<()> {
    for projection in [InputProjection::Hoisted, InputProjection::PerStep] {
        let cfg = RnnConfig {
            kind: CellKind::Lstm,
            input_size: 3,
            hidden_size: 4,
            num_layers: 2,
            directions: Directions::Bidirectional,
            layout: Layout::BatchFirst,
            projection,
        };
        let rnn = load(f, "lstm", &cfg)?;
        let x = get(f, "lstm.x")?;
        check(f, "lstm", &rnn.forward_with(x, None, None)?, false)?;
        // Packed sequences of lengths 5, 2, 4 (padding after each sequence's end).
        check(f, "lstm", &rnn.forward_with(x, None, Some(&[5, 2, 4]))?, true)?;
    }
    Ok(())
}

#[test]
fn time_first_gru_matches_pytorch() -> anyhow::Result<()> {
    let f = fixture()?;
    let cfg = RnnConfig {
        kind: CellKind::Gru,
        input_size: 3,
        hidden_size: 4,
        layout: Layout::TimeFirst,
        ..Default::default()
    };
    let rnn = load(&f, "gru", &cfg)?;
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    // The whole-sequence op (the default) and the step-by-step reference.
    let mut result = Ok(());
    for fused in [true, false] {
        dls_sequence::fused_seq::use_fused_sequence(fused);
        result =
            result.and_then(|()| check(&f, "gru", &rnn.forward_with(get(&f, "gru.x")?, None, None)?, false));
    }
    dls_sequence::fused_seq::use_fused_sequence(true);
    result
}

#[test]
fn packed_bidirectional_tanh_rnn_matches_pytorch() -> anyhow::Result<()> {
    let f = fixture()?;
    let cfg = RnnConfig {
        kind: CellKind::Rnn,
        input_size: 2,
        hidden_size: 3,
        num_layers: 2,
        directions: Directions::Bidirectional,
        ..Default::default()
    };
    let rnn = load(&f, "rnn", &cfg)?;
    let x = get(&f, "rnn.x")?;
    check(&f, "rnn", &rnn.forward_with(x, None, None)?, false)?;
    check(&f, "rnn", &rnn.forward_with(x, None, Some(&[4, 1]))?, true)
}
