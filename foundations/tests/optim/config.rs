//! Choosing an optimiser by value; changing the learning rate.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use dls_foundations::optim::{
    Adam, AdamConfig, AnyOptimizer, MomentumConfig, NesterovConfig, OptimizerConfig, Sgd, SgdConfig,
};

use super::resume::all_configs;
use super::run;

#[test]
fn optimizer_config_picks_names_lr_and_reads_json_with_defaults() -> Result<()> {
    let names: Vec<&str> = all_configs().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["sgd", "momentum", "momentum", "nesterov", "rmsprop", "adam", "adamw"]);
    let c = OptimizerConfig::Nesterov(NesterovConfig::default()).with_lr(0.3);
    assert_eq!(c.lr(), 0.3);
    let parsed: OptimizerConfig = serde_json::from_str(r#"{"kind": "momentum", "beta": 0.8}"#)?;
    let want = MomentumConfig { beta: 0.8, ..Default::default() };
    assert_eq!(parsed, OptimizerConfig::Momentum(want));
    for c in all_configs() {
        let json = serde_json::to_string(&c)?;
        assert!(json.starts_with(&format!(r#"{{"kind":"{}""#, c.name())), "{json}");
        let back: OptimizerConfig = serde_json::from_str(&json)?;
        assert_eq!(back, c);
    }
    // AnyOptimizer runs exactly the optimiser its config names.
    let any = run::<AnyOptimizer>(
        OptimizerConfig::Adam(AdamConfig { lr: 0.01, ..Default::default() }),
        DType::F64,
    )?;
    assert_eq!(any, run::<Adam>(AdamConfig { lr: 0.01, ..Default::default() }, DType::F64)?);
    Ok(())
}

#[test]
fn set_learning_rate_changes_the_step() -> Result<()> {
    let w = Var::new(&[1f64], &Device::Cpu)?;
    let mut sgd = Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, weight_decay: 0.0 })?;
    sgd.set_learning_rate(0.25);
    let mut grads = GradStore::default();
    grads.insert(&w, Tensor::new(&[2f64], &Device::Cpu)?);
    sgd.step(&grads)?;
    assert_eq!(w.to_vec1::<f64>()?, [0.5]);
    assert_eq!(sgd.learning_rate(), 0.25);
    Ok(())
}
