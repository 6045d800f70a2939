//! The whole-sequence LSTM op (`fused_seq`) against the equations written with candle ops, values
//! and gradients of every input to 1e-12 in f64 on odd shapes (one step, one sequence, three
//! units, reversed, masked, rows picked from a table), the f64 gradient check, the layers' three
//! paths against each other (stacked, bidirectional, masked), table input against embedded
//! features (LSTM and GRU, both paths), the character model's fused loss against the tensor-op
//! one, and input errors.

use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::ops::sigmoid;
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_sequence::cell::CellKind;
use dls_sequence::charlm::{CharLm, CharLmConfig};
use dls_sequence::corpus::lines_dataset;
use dls_sequence::fused_seq::{lstm_sequence, use_fused_sequence, GateInput, LstmSequence};
use dls_sequence::layer::{Directions, Rnn, RnnConfig, SequenceInput};
use dls_sequence::vocab::CharVocab;
use dls_sequence::Error;

/// The tests that flip the process-wide switches take this lock.
static SWITCHES: Mutex<()> = Mutex::new(());

fn wave(dims: &[usize], phase: f64, scale: f64) -> anyhow::Result<Tensor> {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.713 + phase).sin() * scale).collect();
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

fn max_diff(a: &Tensor, b: &Tensor) -> anyhow::Result<f64> {
    assert_eq!(a.dims(), b.dims());
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The equations step by step with candle ops: `xp` `[T, B, 4H]`, state carried through padded
/// steps, zero outputs there, as `layer.rs` does without the op.
fn reference(
    xp: &Tensor,
    w_hh: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    reverse: bool,
    lengths: Option<&[usize]>,
) -> anyhow::Result<(Tensor, Tensor, Tensor)> {
    let (time, batch, g) = xp.dims3()?;
    let n = g / 4;
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let mut outs = vec![None; time];
    for s in 0..time {
        let t = if reverse { time - 1 - s } else { s };
        let z = (xp.get(t)? + h.matmul(&w_hh.t()?)?)?;
        let i = sigmoid(&z.narrow(1, 0, n)?)?;
        let f = sigmoid(&z.narrow(1, n, n)?)?;
        let gg = z.narrow(1, 2 * n, n)?.tanh()?;
        let o = sigmoid(&z.narrow(1, 3 * n, n)?)?;
        let c_new = ((f * &c)? + (i * gg)?)?;
        let h_new = (o * c_new.tanh()?)?;
        let m: Vec<f64> =
            (0..batch).map(|b| lengths.map_or(1.0, |l| f64::from(u8::from(t < l[b])))).collect();
        let m = Tensor::from_vec(m, (batch, 1), &Device::Cpu)?;
        outs[t] = Some(h_new.broadcast_mul(&m)?);
        h = (&h + (h_new - &h)?.broadcast_mul(&m)?)?;
        c = (&c + (c_new - &c)?.broadcast_mul(&m)?)?;
    }
    let outs: Vec<Tensor> =
        outs.into_iter().map(|o| o.ok_or_else(|| anyhow::anyhow!("step"))).collect::<Result<_, _>>()?;
    Ok((Tensor::stack(&outs, 0)?, h, c))
}

/// A loss that weighs every output and both final states differently.
fn weigh(out: &Tensor, h: &Tensor, c: &Tensor) -> anyhow::Result<Tensor> {
    let wo = wave(out.dims(), 0.3, 1.0)?;
    let l = ((out * wo)?.sum_all()? + (h.sqr()? * 0.7)?.sum_all()?)?;
    Ok((l + (c * &wave(c.dims(), 1.9, 1.0)?)?.sum_all()?)?)
}

#[test]
fn the_op_equals_the_equations_values_and_gradients_on_odd_shapes() -> anyhow::Result<()> {
    // (time, batch, hidden, reverse, lengths, rows of a table instead of a dense input)
    type Case<'a> = (usize, usize, usize, bool, Option<&'a [usize]>, bool);
    // Wide batches make the backward pass work in blocks of steps: of 1 step past 128 sequences,
    // of 2 steps (and a last one of 1) for 100.
    let long: Vec<usize> = (0..130).map(|b| (b * 7) % 8).collect();
    let cases: [Case; 11] = [
        (1, 1, 3, false, None, false),
        (1, 2, 1, true, Some(&[1, 0]), false),
        (4, 1, 3, false, None, false),
        (5, 3, 2, true, None, false),
        (5, 3, 3, false, Some(&[5, 2, 0]), false),
        (6, 4, 3, true, Some(&[1, 6, 3, 4]), false),
        (3, 2, 3, false, None, true),
        (4, 3, 2, true, Some(&[4, 1, 2]), true),
        (7, 130, 2, false, Some(&long), true),
        (7, 100, 1, true, None, false),
        (7, 100, 2, true, None, true),
    ];
    for (k, &(time, batch, hidden, reverse, lengths, table)) in cases.iter().enumerate() {
        let g = 4 * hidden;
        let w = Var::from_tensor(&wave(&[g, hidden], 0.1 + k as f64, 0.8)?)?;
        let h0 = Var::from_tensor(&wave(&[batch, hidden], 0.5, 0.6)?)?;
        let c0 = Var::from_tensor(&wave(&[batch, hidden], 0.9, 1.2)?)?;
        let rows = Var::from_tensor(&wave(&[if table { 5 } else { time * batch }, g], 1.3, 2.0)?)?;
        let ids: Vec<u32> = (0..time * batch).map(|i| ((i * 3 + 1) % 5) as u32).collect();
        let ids = Tensor::from_vec(ids, (time, batch), &Device::Cpu)?;
        // Dense: xp itself; table: the rows picked with candle's index_select.
        let xp = if table {
            rows.index_select(&ids.flatten_all()?, 0)?.reshape((time, batch, g))?
        } else {
            rows.reshape((time, batch, g))?
        };
        let (ro, rh, rc) = reference(&xp, &w, &h0, &c0, reverse, lengths)?;
        let input = if table {
            GateInput::Table { table: rows.as_tensor(), ids: &ids }
        } else {
            GateInput::Projected(&xp)
        };
        let LstmSequence { output, h, c, .. } = lstm_sequence(input, &w, &h0, &c0, reverse, lengths)?;
        for (a, b, what) in [(&output, &ro, "output"), (&h, &rh, "h"), (&c, &rc, "c")] {
            let d = max_diff(a, b)?;
            assert!(d < 1e-12, "case {k}: {what} differs by {d}");
        }
        let (ours, theirs) = (weigh(&output, &h, &c)?.backward()?, weigh(&ro, &rh, &rc)?.backward()?);
        for (var, what) in [(&rows, "input"), (&w, "w_hh"), (&h0, "h0"), (&c0, "c0")] {
            let get = |g: &candle_core::backprop::GradStore| {
                g.get(var.as_tensor())
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("case {k}: no gradient of {what}"))
            };
            let d = max_diff(&get(&ours)?, &get(&theirs)?)?;
            assert!(d < 1e-12, "case {k}: gradient of {what} differs by {d}");
        }
    }
    Ok(())
}

#[test]
fn the_op_passes_the_f64_gradient_check() -> anyhow::Result<()> {
    for (reverse, table) in [(false, false), (true, true)] {
        let (time, batch, hidden) = (4, 3, 2);
        let w = Var::from_tensor(&wave(&[8, hidden], 0.2, 0.9)?)?;
        let h0 = Var::from_tensor(&wave(&[batch, hidden], 0.4, 0.5)?)?;
        let c0 = Var::from_tensor(&wave(&[batch, hidden], 1.4, 0.8)?)?;
        let rows = Var::from_tensor(&wave(&[if table { 3 } else { time * batch }, 8], 2.1, 1.5)?)?;
        let ids = Tensor::from_vec(
            (0..12u32).map(|i| (i * 2) % 3).collect::<Vec<_>>(),
            (time, batch),
            &Device::Cpu,
        )?;
        let loss = || -> dls_foundations::Result<Tensor> {
            let xp = if table { rows.as_tensor().clone() } else { rows.reshape((time, batch, 8))? };
            let input = if table {
                GateInput::Table { table: rows.as_tensor(), ids: &ids }
            } else {
                GateInput::Projected(&xp)
            };
            let r = lstm_sequence(input, &w, &h0, &c0, reverse, Some(&[4, 2, 3]))
                .map_err(|e| dls_foundations::Error::invalid("lstm", e.to_string()))?;
            weigh(&r.output, &r.h, &r.c).map_err(|e| dls_foundations::Error::invalid("loss", e.to_string()))
        };
        let vars: Vec<(String, Var)> = [("input", &rows), ("w_hh", &w), ("h0", &h0), ("c0", &c0)]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let report = gradcheck(loss, &vars, 1e-6)?;
        assert!(report.relative_difference < 1e-8, "{report:?}");
        assert_eq!(report.checked, rows.elem_count() + 16 + 12);
    }
    Ok(())
}

/// Output and every parameter's gradient of a stacked bidirectional masked LSTM, on the path the
/// switches select now.
fn layer_run(rnn: &Rnn, params: &Params, x: &Tensor) -> anyhow::Result<Vec<Tensor>> {
    let out = rnn.forward_with(x, None, Some(&[5, 2, 4]))?;
    let mut loss = (&out.output * &wave(out.output.dims(), 0.7, 1.0)?)?.sum_all()?;
    for s in &out.states {
        loss =
            (loss + s.h.sum_all()? + s.c.as_ref().map_or(Ok(s.h.zeros_like()?), |c| c.sqr())?.sum_all()?)?;
    }
    let grads = loss.backward()?;
    let mut all = vec![out.output.clone()];
    for (name, var) in params.named_vars() {
        all.push(
            grads.get(var.as_tensor()).cloned().ok_or_else(|| anyhow::anyhow!("no gradient of {name}"))?,
        );
    }
    Ok(all)
}

#[test]
fn the_three_layer_paths_agree() -> anyhow::Result<()> {
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    let params = Params::new(21);
    let cfg = RnnConfig {
        kind: CellKind::Lstm,
        input_size: 3,
        hidden_size: 3,
        num_layers: 2,
        directions: Directions::Bidirectional,
        ..Default::default()
    };
    let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
    let x = wave(&[3, 5, 3], 0.2, 1.0)?;
    let mut runs = Vec::new();
    for (sequence, step) in [(true, true), (false, true), (false, false)] {
        use_fused_sequence(sequence);
        dls_sequence::fused::use_fused_lstm(step);
        runs.push(layer_run(&rnn, &params, &x));
    }
    use_fused_sequence(true);
    dls_sequence::fused::use_fused_lstm(true);
    let runs: Vec<Vec<Tensor>> = runs.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(runs[0].len(), 1 + 16);
    for other in &runs[1..] {
        for (a, b) in runs[0].iter().zip(other) {
            let d = max_diff(a, b)?;
            assert!(d < 1e-12, "paths differ by {d}");
        }
    }
    Ok(())
}

#[test]
fn the_char_model_loss_is_the_same_on_both_paths() -> anyhow::Result<()> {
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    let vocab = CharVocab::from_text("abcd")?;
    let data = lines_dataset(&["abcab", "dab", "", "cc"], &vocab)?;
    let mut results = Vec::new();
    for fused in [true, false] {
        use_fused_sequence(fused);
        let params = Params::new(5);
        let cfg = CharLmConfig { vocab_size: vocab.len(), embedding: 3, hidden: 4, ..Default::default() };
        let lm = CharLm::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
        let loss = dls_foundations::train::Learner::loss(&lm, &data.x, &data.y);
        let eval = dls_foundations::train::Learner::evaluate(&lm, &data);
        let mut all = vec![];
        if let (Ok(loss), Ok(eval)) = (loss, eval) {
            let grads = loss.backward()?;
            all.push(loss);
            all.push(Tensor::new(&[eval.loss, eval.accuracy], &Device::Cpu)?);
            for (_, var) in params.named_vars() {
                all.push(grads.get(var.as_tensor()).cloned().ok_or_else(|| anyhow::anyhow!("no gradient"))?);
            }
        }
        results.push(all);
    }
    use_fused_sequence(true);
    assert_eq!(results[0].len(), 2 + 7);
    for (a, b) in results[0].iter().zip(&results[1]) {
        let d = max_diff(a, b)?;
        assert!(d < 1e-12, "char model paths differ by {d}");
    }
    Ok(())
}

#[test]
fn f32_runs_the_same_sequence_as_f64() -> anyhow::Result<()> {
    let (w, h0) = (wave(&[20, 5], 0.3, 0.7)?, wave(&[2, 5], 0.8, 0.5)?);
    let xp = wave(&[7, 2, 20], 0.1, 2.0)?;
    let r64 = lstm_sequence(GateInput::Projected(&xp), &w, &h0, &h0, false, None)?;
    let f = |t: &Tensor| t.to_dtype(DType::F32);
    let r32 = lstm_sequence(GateInput::Projected(&f(&xp)?), &f(&w)?, &f(&h0)?, &f(&h0)?, false, None)?;
    assert!(max_diff(&r32.output.to_dtype(DType::F64)?, &r64.output)? < 1e-5);
    assert!(max_diff(&r32.c.to_dtype(DType::F64)?, &r64.c)? < 1e-5);
    Ok(())
}

#[test]
fn wrong_inputs_are_errors_that_name_the_input() -> anyhow::Result<()> {
    let (w, s) = (wave(&[8, 2], 0.0, 1.0)?, wave(&[3, 2], 0.0, 1.0)?);
    let xp = wave(&[4, 3, 8], 0.0, 1.0)?;
    let run = |input, w: &Tensor, s: &Tensor, lengths: Option<&[usize]>| {
        lstm_sequence(input, w, s, s, false, lengths)
    };
    let what = |r: dls_sequence::Result<LstmSequence>| match r {
        Err(Error::Shape { what, .. }) | Err(Error::Invalid { what, .. }) => what,
        Err(Error::UnknownId { id, size }) => format!("id {id} of {size}"),
        other => format!("{other:?}"),
    };
    assert_eq!(
        what(run(GateInput::Projected(&xp), &wave(&[8, 3], 0.0, 1.0)?, &s, None)),
        "recurrent weights"
    );
    assert_eq!(what(run(GateInput::Projected(&xp), &w, &wave(&[2, 2], 0.0, 1.0)?, None)), "lstm h0");
    let (step, xp32) = (xp.get(0)?, xp.to_dtype(DType::F32)?);
    assert_eq!(what(run(GateInput::Projected(&step), &w, &s, None)), "projected input");
    assert_eq!(what(run(GateInput::Projected(&xp), &w, &s, Some(&[1, 2]))), "sequence lengths");
    assert_eq!(what(run(GateInput::Projected(&xp), &w, &s, Some(&[1, 5, 2]))), "sequence length");
    assert_eq!(what(run(GateInput::Projected(&xp32), &w, &s, None)), "dtypes");
    let ids = Tensor::from_vec(vec![0u32, 1, 2, 3, 4, 9], (2, 3), &Device::Cpu)?;
    let table = wave(&[5, 8], 0.0, 1.0)?;
    assert_eq!(what(run(GateInput::Table { table: &table, ids: &ids }, &w, &s, None)), "id 9 of 5");
    assert!(matches!(
        run(GateInput::Projected(&wave(&[0, 3, 8], 0.0, 1.0)?), &w, &s, None),
        Err(Error::Empty(_))
    ));
    Ok(())
}

#[test]
fn table_input_equals_the_embedded_features() -> anyhow::Result<()> {
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    let emb = Var::from_tensor(&wave(&[5, 3], 0.4, 1.0)?)?;
    let ids =
        Tensor::from_vec((0..12u32).map(|i| (i * 3 + 2) % 5).collect::<Vec<_>>(), (4, 3), &Device::Cpu)?;
    for (kind, fused) in [(CellKind::Lstm, true), (CellKind::Gru, true), (CellKind::Lstm, false)] {
        use_fused_sequence(fused);
        let params = Params::new(8);
        let cfg = RnnConfig {
            kind,
            input_size: 3,
            hidden_size: 2,
            num_layers: 2,
            directions: Directions::Bidirectional,
            ..Default::default()
        };
        let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
        let mut runs = Vec::new();
        for table in [false, true] {
            let out = if table {
                let tables: Vec<Tensor> =
                    rnn.cells()[..2].iter().map(|c| c.project_input(&emb)).collect::<Result<_, _>>()?;
                rnn.forward_sequence(
                    SequenceInput::Table { tables: &tables, ids: &ids },
                    None,
                    Some(&[4, 1, 3]),
                )?
            } else {
                let x = emb.index_select(&ids.flatten_all()?, 0)?.reshape((4, 3, 3))?;
                rnn.forward_sequence(SequenceInput::Features(&x), None, Some(&[4, 1, 3]))?
            };
            let loss = ((&out.output * &wave(out.output.dims(), 1.1, 1.0)?)?.sum_all()?
                + out.states[3].h.sum_all()?)?;
            let grads = loss.backward()?;
            let mut all = vec![out.output.clone()];
            for var in params.named_vars().iter().map(|(_, v)| v).chain([&emb]) {
                all.push(grads.get(var.as_tensor()).cloned().ok_or_else(|| anyhow::anyhow!("no gradient"))?);
            }
            runs.push(all);
        }
        for (a, b) in runs[0].iter().zip(&runs[1]) {
            let d = max_diff(a, b)?;
            assert!(d < 1e-12, "{kind:?} (fused {fused}): table and features differ by {d}");
        }
    }
    use_fused_sequence(true);
    Ok(())
}
