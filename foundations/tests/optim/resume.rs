//! Saving and restoring optimiser state; constructor checks.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use dls_foundations::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, AnyOptimizer, MomentumConfig, MomentumStyle, NesterovConfig,
    OptimizerConfig, RmsProp, RmsPropConfig, Sgd, SgdConfig, Stateful,
};
use dls_foundations::Error;

use super::invalid_message;

/// One of each optimiser, with non-default settings.
pub(crate) fn all_configs() -> Vec<OptimizerConfig> {
    vec![
        OptimizerConfig::Sgd(SgdConfig { lr: 0.05, weight_decay: 0.01 }),
        OptimizerConfig::Momentum(MomentumConfig { lr: 0.05, ..Default::default() }),
        OptimizerConfig::Momentum(MomentumConfig { dampening: MomentumStyle::PyTorch, ..Default::default() }),
        OptimizerConfig::Nesterov(NesterovConfig { lr: 0.02, beta: 0.8, weight_decay: 0.001 }),
        OptimizerConfig::RmsProp(RmsPropConfig { lr: 0.01, beta: 0.9, ..Default::default() }),
        OptimizerConfig::Adam(AdamConfig { lr: 0.02, weight_decay: 0.01, ..Default::default() }),
        OptimizerConfig::AdamW(AdamWConfig { lr: 0.02, weight_decay: 0.1, ..Default::default() }),
    ]
}

/// Two f32 variables trained on a small least-squares problem.
struct Problem {
    w: Var,
    b: Var,
    x: Tensor,
    y: Tensor,
}

impl Problem {
    fn new(w: &[f32], b: &[f32]) -> Result<Self> {
        let dev = Device::Cpu;
        Ok(Self {
            w: Var::from_tensor(&Tensor::from_slice(w, (3, 2), &dev)?)?,
            b: Var::from_tensor(&Tensor::from_slice(b, 2, &dev)?)?,
            x: Tensor::new(&[[1f32, -2.0, 0.5], [0.3, 0.8, -1.0], [2.0, 0.1, 0.4], [-0.7, 1.5, 1.2]], &dev)?,
            y: Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]], &dev)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![self.w.clone(), self.b.clone()]
    }

    fn values(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.w.flatten_all()?.to_vec1()?, self.b.to_vec1()?))
    }

    fn train(&self, opt: &mut impl Optimizer, steps: usize) -> Result<()> {
        for _ in 0..steps {
            let pred = self.x.matmul(self.w.as_tensor())?.broadcast_add(self.b.as_tensor())?;
            opt.backward_step(&(pred - &self.y)?.sqr()?.mean_all()?)?;
        }
        Ok(())
    }
}

#[test]
fn resuming_from_saved_state_is_bit_exact_for_every_optimizer() -> Result<()> {
    for config in all_configs() {
        let name = config.name();
        let first = Problem::new(&[0.1, -0.2, 0.3, 0.05, -0.4, 0.2], &[0.0, 0.1])?;
        let mut opt = AnyOptimizer::new(first.vars(), config.clone())?;
        first.train(&mut opt, 3)?;
        opt.set_learning_rate(config.lr() * 0.5);
        let saved_state = opt.state()?;
        let (saved_w, saved_b) = first.values()?;
        first.train(&mut opt, 4)?;

        let second = Problem::new(&saved_w, &saved_b)?;
        let mut resumed = AnyOptimizer::new(second.vars(), config.clone())?;
        resumed.load_state(&saved_state)?;
        assert_eq!(resumed.learning_rate(), config.lr() * 0.5, "{name}: learning rate restored");
        second.train(&mut resumed, 4)?;
        assert_eq!(first.values()?, second.values()?, "{name}: resumed run differs");
        assert_eq!(resumed.state()?.step, 7, "{name}: step count");
        assert_ne!(first.values()?.0, saved_w, "{name}: the last 4 steps moved the weights");
    }
    Ok(())
}

fn adam_over(dims: &[usize]) -> Result<Adam> {
    let vars =
        dims.iter().map(|&n| Var::zeros(n, DType::F32, &Device::Cpu)).collect::<Result<Vec<_>, _>>()?;
    Ok(Adam::new(vars, AdamConfig::default())?)
}

#[test]
fn load_state_rejects_wrong_kind_shape_and_tensor_set_and_changes_nothing() -> Result<()> {
    let mut adam = adam_over(&[2, 3])?;
    let good = adam.state()?;

    let sgd_state = Sgd::new(vec![], SgdConfig::default())?.state()?;
    let msg = invalid_message(adam.load_state(&sgd_state).unwrap_err());
    assert!(msg.contains(r#"expected "adam", got "sgd""#), "{msg}");

    let mut wrong_shape = good.clone();
    wrong_shape.tensors[1].1 = Tensor::zeros(4, DType::F32, &Device::Cpu)?; // "m.1" should be [3]
    match adam.load_state(&wrong_shape).unwrap_err() {
        Error::Shape { what, expected, got } => {
            assert!(what.contains("\"m.1\""), "{what}");
            assert_eq!((expected.as_str(), got.as_str()), ("[3]", "[4]"));
        }
        other => panic!("expected Error::Shape, got {other:?}"),
    }

    let mut missing = good.clone();
    missing.tensors.retain(|(n, _)| n != "v.0");
    assert!(invalid_message(adam.load_state(&missing).unwrap_err()).contains("missing tensor \"v.0\""));

    // A state saved over three variables does not load into an optimiser over two.
    let three = adam_over(&[2, 3, 1])?.state()?;
    assert!(invalid_message(adam.load_state(&three).unwrap_err()).contains("unexpected tensor \"m.2\""));

    let mut bad_lr = good.clone();
    bad_lr.learning_rate = f64::NAN;
    assert!(invalid_message(adam.load_state(&bad_lr).unwrap_err()).contains("learning rate"));

    assert_eq!(adam.learning_rate(), AdamConfig::default().lr, "failed loads changed nothing");
    assert_eq!(adam.state()?.step, 0);
    Ok(())
}

#[test]
fn new_rejects_integer_vars_and_out_of_range_settings() -> Result<()> {
    let int_var = Var::zeros(3, DType::U32, &Device::Cpu)?;
    let err = Sgd::new(vec![int_var], SgdConfig::default()).unwrap_err().to_string();
    assert!(err.contains("variable 0") && err.contains("U32"), "{err}");
    let err = Adam::new(vec![], AdamConfig { beta2: 1.0, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("beta2 must be in [0, 1), got 1"), "{err}");
    let err = RmsProp::new(vec![], RmsPropConfig { lr: -0.1, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("lr must be finite and >= 0, got -0.1"), "{err}");
    let err = AdamW::new(vec![], AdamWConfig { weight_decay: f64::NAN, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("weight_decay"), "{err}");
    Ok(())
}
