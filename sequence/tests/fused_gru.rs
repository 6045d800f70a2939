//! The whole-sequence GRU op (`fused_gru`) against the equations written with candle ops, values
//! and gradients of every input to 1e-12 in f64 on odd shapes (one step, one sequence, reversed,
//! masked, rows picked from a table, blocks of steps in the backward pass), the f64 gradient
//! check, and the layer's two paths against each other (stacked, bidirectional, masked).

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::ops::sigmoid;
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_sequence::cell::CellKind;
use dls_sequence::fused_gru::{gru_sequence, GruSequence};
use dls_sequence::fused_seq::{use_fused_sequence, GateInput};
use dls_sequence::layer::{Directions, Rnn, RnnConfig};
use dls_sequence::Error;

fn wave(dims: &[usize], phase: f64, scale: f64) -> anyhow::Result<Tensor> {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.619 + phase).sin() * scale).collect();
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

fn max_diff(a: &Tensor, b: &Tensor) -> anyhow::Result<f64> {
    assert_eq!(a.dims(), b.dims());
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

/// The equations step by step with candle ops (as `cell.rs` writes them), state carried through
/// padded steps, zero outputs there.
fn reference(
    xp: &Tensor,
    w_hh: &Tensor,
    b_hh: &Tensor,
    h0: &Tensor,
    reverse: bool,
    lengths: Option<&[usize]>,
) -> anyhow::Result<(Tensor, Tensor)> {
    let (time, batch, g) = xp.dims3()?;
    let n = g / 3;
    let mut h = h0.clone();
    let mut outs = vec![None; time];
    for s in 0..time {
        let t = if reverse { time - 1 - s } else { s };
        let (x, p) = (xp.get(t)?, h.matmul(&w_hh.t()?)?.broadcast_add(b_hh)?);
        let part = |v: &Tensor, k: usize| v.narrow(1, k * n, n);
        let r = sigmoid(&(part(&x, 0)? + part(&p, 0)?)?)?;
        let z = sigmoid(&(part(&x, 1)? + part(&p, 1)?)?)?;
        let cand = (part(&x, 2)? + (r * part(&p, 2)?)?)?.tanh()?;
        let h_new = (&cand + (z * (&h - &cand)?)?)?;
        let m: Vec<f64> =
            (0..batch).map(|b| lengths.map_or(1.0, |l| f64::from(u8::from(t < l[b])))).collect();
        let m = Tensor::from_vec(m, (batch, 1), &Device::Cpu)?;
        outs[t] = Some(h_new.broadcast_mul(&m)?);
        h = (&h + (h_new - &h)?.broadcast_mul(&m)?)?;
    }
    let outs: Vec<Tensor> =
        outs.into_iter().map(|o| o.ok_or_else(|| anyhow::anyhow!("step"))).collect::<Result<_, _>>()?;
    Ok((Tensor::stack(&outs, 0)?, h))
}

fn weigh(out: &Tensor, h: &Tensor) -> anyhow::Result<Tensor> {
    let l = (out * wave(out.dims(), 0.3, 1.0)?)?.sum_all()?;
    Ok((l + (h.sqr()? * 0.7)?.sum_all()?)?)
}

#[test]
fn the_op_equals_the_equations_values_and_gradients_on_odd_shapes() -> anyhow::Result<()> {
    // (time, batch, hidden, reverse, lengths, rows of a table instead of a dense input)
    type Case<'a> = (usize, usize, usize, bool, Option<&'a [usize]>, bool);
    let long: Vec<usize> = (0..100).map(|b| (b * 5) % 8).collect();
    let cases: [Case; 8] = [
        (1, 1, 3, false, None, false),
        (1, 2, 1, true, Some(&[1, 0]), false),
        (5, 3, 2, true, None, false),
        (5, 3, 3, false, Some(&[5, 2, 0]), false),
        (3, 2, 3, false, None, true),
        (4, 3, 2, true, Some(&[4, 1, 2]), true),
        (7, 100, 2, false, Some(&long), true),
        (7, 100, 1, true, None, false),
    ];
    for (k, &(time, batch, hidden, reverse, lengths, table)) in cases.iter().enumerate() {
        let g = 3 * hidden;
        let w = Var::from_tensor(&wave(&[g, hidden], 0.1 + k as f64, 0.8)?)?;
        let b_hh = Var::from_tensor(&wave(&[g], 2.2, 0.5)?)?;
        let h0 = Var::from_tensor(&wave(&[batch, hidden], 0.5, 0.6)?)?;
        let rows = Var::from_tensor(&wave(&[if table { 5 } else { time * batch }, g], 1.3, 2.0)?)?;
        let ids: Vec<u32> = (0..time * batch).map(|i| ((i * 3 + 1) % 5) as u32).collect();
        let ids = Tensor::from_vec(ids, (time, batch), &Device::Cpu)?;
        let xp = if table {
            rows.index_select(&ids.flatten_all()?, 0)?.reshape((time, batch, g))?
        } else {
            rows.reshape((time, batch, g))?
        };
        let (ro, rh) = reference(&xp, &w, &b_hh, &h0, reverse, lengths)?;
        let input = if table {
            GateInput::Table { table: rows.as_tensor(), ids: &ids }
        } else {
            GateInput::Projected(&xp)
        };
        let GruSequence { output, h, .. } = gru_sequence(input, &w, &b_hh, &h0, reverse, lengths)?;
        assert!(max_diff(&output, &ro)? < 1e-12, "case {k}: outputs differ");
        assert!(max_diff(&h, &rh)? < 1e-12, "case {k}: final states differ");
        let (ours, theirs) = (weigh(&output, &h)?.backward()?, weigh(&ro, &rh)?.backward()?);
        for (var, what) in [(&rows, "input"), (&w, "w_hh"), (&b_hh, "b_hh"), (&h0, "h0")] {
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
        let w = Var::from_tensor(&wave(&[6, hidden], 0.2, 0.9)?)?;
        let b_hh = Var::from_tensor(&wave(&[6], 1.0, 0.4)?)?;
        let h0 = Var::from_tensor(&wave(&[batch, hidden], 0.4, 0.5)?)?;
        let rows = Var::from_tensor(&wave(&[if table { 3 } else { time * batch }, 6], 2.1, 1.5)?)?;
        let ids = Tensor::from_vec(
            (0..12u32).map(|i| (i * 2) % 3).collect::<Vec<_>>(),
            (time, batch),
            &Device::Cpu,
        )?;
        let loss = || -> dls_foundations::Result<Tensor> {
            let xp = if table { rows.as_tensor().clone() } else { rows.reshape((time, batch, 6))? };
            let input =
                if table { GateInput::Table { table: &xp, ids: &ids } } else { GateInput::Projected(&xp) };
            let r = gru_sequence(input, &w, &b_hh, &h0, reverse, Some(&[4, 2, 3]))
                .map_err(|e| dls_foundations::Error::invalid("gru", e.to_string()))?;
            weigh(&r.output, &r.h).map_err(|e| dls_foundations::Error::invalid("loss", e.to_string()))
        };
        let vars: Vec<(String, Var)> = [("input", &rows), ("w_hh", &w), ("b_hh", &b_hh), ("h0", &h0)]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let report = gradcheck(loss, &vars, 1e-6)?;
        assert!(report.relative_difference < 1e-8, "{report:?}");
        assert_eq!(report.checked, rows.elem_count() + 12 + 6 + 6);
    }
    Ok(())
}

#[test]
fn the_layer_paths_agree_and_states_are_checked() -> anyhow::Result<()> {
    let params = Params::new(13);
    let cfg = RnnConfig {
        kind: CellKind::Gru,
        input_size: 3,
        hidden_size: 3,
        num_layers: 2,
        directions: Directions::Bidirectional,
        ..Default::default()
    };
    let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
    let x = wave(&[3, 5, 3], 0.2, 1.0)?;
    let mut runs = Vec::new();
    // The only test of this binary that flips the switch.
    for fused in [true, false] {
        use_fused_sequence(fused);
        let run = || -> anyhow::Result<Vec<Tensor>> {
            let out = rnn.forward_with(&x, None, Some(&[5, 2, 4]))?;
            let mut loss = (&out.output * &wave(out.output.dims(), 0.7, 1.0)?)?.sum_all()?;
            for s in &out.states {
                loss = (loss + s.h.sqr()?.sum_all()?)?;
            }
            let grads = loss.backward()?;
            let mut all = vec![out.output.clone()];
            for (name, var) in params.named_vars() {
                all.push(
                    grads
                        .get(var.as_tensor())
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!("no gradient of {name}"))?,
                );
            }
            Ok(all)
        };
        runs.push(run());
    }
    use_fused_sequence(true);
    let runs: Vec<Vec<Tensor>> = runs.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(runs[0].len(), 1 + 16);
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        let d = max_diff(a, b)?;
        assert!(d < 1e-12, "paths differ by {d}");
    }
    // An LSTM state handed to a GRU layer.
    let lstm_states: Vec<_> = (0..4)
        .map(|_| -> anyhow::Result<_> {
            let h = Tensor::zeros((3, 3), DType::F64, &Device::Cpu)?;
            Ok(dls_sequence::cell::State { h: h.clone(), c: Some(h) })
        })
        .collect::<Result<_, _>>()?;
    match rnn.forward_with(&x, Some(&lstm_states), None) {
        Err(Error::Shape { what, .. }) => assert_eq!(what, "gru state"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    let bad_bias = wave(&[5], 0.0, 1.0)?;
    let (w, h0, xp) = (wave(&[6, 2], 0.0, 1.0)?, wave(&[1, 2], 0.0, 1.0)?, wave(&[2, 1, 6], 0.0, 1.0)?);
    assert!(matches!(
        gru_sequence(GateInput::Projected(&xp), &w, &bad_bias, &h0, false, None),
        Err(Error::Shape { .. })
    ));
    Ok(())
}
