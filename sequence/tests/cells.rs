//! Cells and layers: equality with candle-nn's LSTM and GRU given the same weights, f64 gradient
//! checks of every cell through stacked, bidirectional, masked layers, layouts, and input errors.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::rnn::RNN;
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::Params;
use dls_sequence::cell::{Cell, CellKind};
use dls_sequence::layer::{Directions, InputProjection, Layout, Rnn, RnnConfig};
use dls_sequence::Error;

/// Deterministic inputs in [-1, 1].
fn input(dims: &[usize], dtype: DType) -> anyhow::Result<Tensor> {
    let n: usize = dims.iter().product();
    Ok(Tensor::arange(0u32, n as u32, &Device::Cpu)?
        .to_dtype(DType::F64)?
        .affine(0.917, 0.3)?
        .sin()?
        .reshape(dims)?
        .to_dtype(dtype)?)
}

fn max_diff(a: &Tensor, b: &Tensor) -> anyhow::Result<f64> {
    assert_eq!(a.dims(), b.dims());
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[test]
fn lstm_and_gru_equal_candle_nn_given_the_same_weights() -> anyhow::Result<()> {
    let x = input(&[3, 6, 5], DType::F32)?;
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let params = Params::new(11);
        let vb = params.var_builder(DType::F32, &Device::Cpu);
        let cfg = RnnConfig { kind, input_size: 5, hidden_size: 7, ..Default::default() };
        let ours = Rnn::new(vb.clone(), &cfg)?.forward_with(&x, None, None)?;
        // candle-nn reads the same variables: PyTorch's names and gate order in both.
        let theirs = match kind {
            CellKind::Lstm => {
                let lstm = candle_nn::lstm(5, 7, Default::default(), vb)?;
                let states = lstm.seq(&x)?;
                let last = states.last().ok_or_else(|| anyhow::anyhow!("no states"))?;
                let c = ours.states[0].c.as_ref().ok_or_else(|| anyhow::anyhow!("no c"))?;
                assert!(max_diff(c, last.c())? < 1e-6);
                lstm.states_to_tensor(&states)?
            }
            _ => {
                let gru = candle_nn::gru(5, 7, Default::default(), vb)?;
                let hs: Vec<Tensor> = gru.seq(&x)?.into_iter().map(|s| s.h).collect();
                Tensor::stack(&hs, 1)?
            }
        };
        let d = max_diff(&ours.output, &theirs)?;
        assert!(d < 1e-6, "{kind:?}: outputs differ by {d}");
        assert_eq!(params.named_vars().len(), 4);
    }
    Ok(())
}

#[test]
fn every_cell_passes_the_f64_gradient_check() -> anyhow::Result<()> {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let params = Params::new(3);
        let cfg = RnnConfig {
            kind,
            input_size: 2,
            hidden_size: 3,
            num_layers: 2,
            directions: Directions::Bidirectional,
            ..Default::default()
        };
        let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
        let x = Var::from_tensor(&input(&[2, 4, 2], DType::F64)?)?;
        // A fixed random projection of every output and final state, so each gradient is non-trivial.
        let w_out = input(&[2, 4, 6], DType::F64)?.affine(1.3, 0.1)?;
        let loss = || -> dls_foundations::Result<Tensor> {
            let out = rnn
                .forward_with(x.as_tensor(), None, Some(&[4, 3]))
                .map_err(|e| dls_foundations::Error::invalid("rnn", e.to_string()))?;
            let mut l = (out.output * &w_out)?.sum_all()?;
            for s in &out.states {
                l = (l + s.h.sqr()?.sum_all()?)?;
                if let Some(c) = &s.c {
                    l = (l + c.sum_all()?)?;
                }
            }
            Ok(l)
        };
        let mut vars = params.named_vars();
        vars.push(("x".to_string(), x.clone()));
        let report = gradcheck(loss, &vars, 1e-6)?;
        assert_eq!(report.checked, params.count() + 16);
        assert!(report.relative_difference < 1e-7, "{kind:?}: {report:?}");
        report.check(1e-7)?;
    }
    Ok(())
}

#[test]
fn layouts_and_projections_agree() -> anyhow::Result<()> {
    let x = input(&[3, 5, 4], DType::F64)?;
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let params = Params::new(5);
        let base = RnnConfig {
            kind,
            input_size: 4,
            hidden_size: 3,
            num_layers: 2,
            directions: Directions::Bidirectional,
            ..Default::default()
        };
        let vb = params.var_builder(DType::F64, &Device::Cpu);
        let hoisted = Rnn::new(vb.clone(), &base)?.forward_with(&x, None, None)?;
        let per_step =
            Rnn::new(vb.clone(), &RnnConfig { projection: InputProjection::PerStep, ..base.clone() })?
                .forward_with(&x, None, None)?;
        let time_first = Rnn::new(vb, &RnnConfig { layout: Layout::TimeFirst, ..base })?.forward_with(
            &x.transpose(0, 1)?,
            None,
            None,
        )?;
        assert!(max_diff(&hoisted.output, &per_step.output)? < 1e-14);
        assert!(max_diff(&hoisted.output, &time_first.output.transpose(0, 1)?)? < 1e-14);
        assert_eq!(hoisted.last()?.dims(), &[3, 6]);
    }
    Ok(())
}

#[test]
fn a_padded_batch_gives_what_each_sequence_gives_alone() -> anyhow::Result<()> {
    let params = Params::new(9);
    let cfg = RnnConfig {
        kind: CellKind::Lstm,
        input_size: 2,
        hidden_size: 3,
        directions: Directions::Bidirectional,
        ..Default::default()
    };
    let rnn = Rnn::new(params.var_builder(DType::F64, &Device::Cpu), &cfg)?;
    let x = input(&[2, 5, 2], DType::F64)?;
    let lengths = [5, 2];
    let batch = rnn.forward_with(&x, None, Some(&lengths))?;
    for (b, &len) in lengths.iter().enumerate() {
        let alone = rnn.forward_with(&x.narrow(0, b, 1)?.narrow(1, 0, len)?, None, None)?;
        let got = batch.output.narrow(0, b, 1)?;
        assert!(max_diff(&got.narrow(1, 0, len)?, &alone.output)? < 1e-14);
        // Many-to-one: the final states are those after the sequence's own last element.
        assert!(max_diff(&batch.last()?.narrow(0, b, 1)?, &alone.last()?)? < 1e-14);
        if len < 5 {
            assert_eq!(got.narrow(1, len, 5 - len)?.abs()?.sum_all()?.to_scalar::<f64>()?, 0.0);
        }
    }
    Ok(())
}

#[test]
fn wrong_inputs_are_errors_that_say_what_was_expected() -> anyhow::Result<()> {
    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let cfg = RnnConfig { kind: CellKind::Gru, input_size: 4, hidden_size: 2, ..Default::default() };
    let rnn = Rnn::new(vb.clone(), &cfg)?;
    let x = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu)?;
    let bad = Tensor::zeros((2, 3, 5), DType::F32, &Device::Cpu)?;
    match rnn.forward_with(&bad, None, None) {
        Err(Error::Shape { what, expected, .. }) => {
            assert_eq!((what.as_str(), expected.as_str()), ("rnn input features", "4"))
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert!(matches!(rnn.forward_with(&x, None, Some(&[3])), Err(Error::Shape { .. })));
    match rnn.forward_with(&x, None, Some(&[3, 4])) {
        Err(Error::Invalid { message, .. }) => {
            assert!(message.contains("sequence 1 has length 4"), "{message}")
        }
        other => panic!("expected an invalid length, got {other:?}"),
    }
    let states = rnn.zero_states(3)?; // batch 3 for a batch of 2
    assert!(matches!(rnn.forward_with(&x, Some(&states), None), Err(Error::Shape { .. })));
    let lstm = Cell::new(vb.pp("other"), CellKind::Lstm, 4, 2, "l0")?;
    let gru_state = rnn.zero_states(2)?;
    assert!(matches!(lstm.step(&x.get(0)?, &gru_state[0]), Err(Error::Shape { .. })));
    assert!(matches!(Cell::new(vb, CellKind::Rnn, 0, 2, "l9"), Err(Error::Invalid { .. })));
    Ok(())
}
