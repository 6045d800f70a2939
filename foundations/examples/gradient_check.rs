//! Sheet 07: gradient checking by central differences.
//!
//! ```text
//! cargo run --release -p dls-foundations --example gradient_check -- --json out/gradient_check.json
//! ```
//! Checks autograd's gradients of an L-layer network with batch norm (training mode, dropout off)
//! on real digits, in f64, against `(J(θ+ε) - J(θ-ε)) / 2ε` for every parameter; then checks a
//! network whose tanh has a deliberately wrong backward pass (`1 - y` instead of `1 - y²`). Expect
//! `relative_difference` < 1e-7 and `buggy_relative_difference` > 1e-3, in about a second.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use candle_nn::{Module, ModuleT};
use clap::Parser;
use dls_foundations::activation::Activation;
use dls_foundations::data::Standardizer;
use dls_foundations::datasets::digits;
use dls_foundations::gradcheck::gradcheck;
use dls_foundations::init::Init;
use dls_foundations::loss::cross_entropy;
use dls_foundations::models::{Dense, Mlp, MlpConfig};
use dls_foundations::report::Figures;
use dls_foundations::Params;

#[derive(Parser)]
struct Args {
    /// Digits used in the check's loss.
    #[arg(long, default_value_t = 16)]
    examples: usize,
    #[arg(long, default_value_t = 1e-6)]
    epsilon: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the final figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// tanh with a wrong derivative: the kind of bug gradient checking exists to catch.
struct BuggyTanh;

impl CustomOp1 for BuggyTanh {
    fn name(&self) -> &'static str {
        "buggy-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        match (s, l.contiguous_offsets()) {
            (CpuStorage::F64(v), Some((a, b))) => {
                Ok((CpuStorage::F64(v[a..b].iter().map(|x| x.tanh()).collect()), l.shape().clone()))
            }
            _ => candle_core::bail!("buggy-tanh: contiguous f64 only"),
        }
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // Correct would be grad * (1 - y^2).
        Ok(Some(grad_res.mul(&(1.0 - res)?)?))
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let dev = Device::Cpu;
    let all = digits()?;
    let idx: Vec<u32> = (0..args.examples as u32).collect();
    let batch = all.select(&idx)?;
    let x = Standardizer::fit_transform(&batch.x)?.1.to_dtype(DType::F64)?;
    let y = batch.y.clone();

    // 64-8-6-10 with batch norm; tanh keeps the loss smooth (ReLU kinks can fool finite differences).
    let params = Params::new(args.seed);
    let cfg = MlpConfig {
        inputs: 64,
        hidden: vec![8, 6],
        outputs: 10,
        activation: Activation::Tanh,
        init: Init::Xavier,
        batch_norm: true,
        ..Default::default()
    };
    let mlp = Mlp::new(params.var_builder(DType::F64, &dev), &cfg)?;
    let vars = params
        .named_vars()
        .into_iter()
        .filter(|(n, _)| !dls_foundations::params::is_statistic(n))
        .collect::<Vec<_>>();
    let report = gradcheck(|| cross_entropy(&mlp.forward_t(&x, true)?, &y), &vars, args.epsilon)?;
    println!("MLP 64-8-6-10 with batch norm, {} values checked", report.checked);
    for (name, d) in &report.per_param {
        println!("  {name:<22} {d:.3e}");
    }
    println!(
        "overall relative difference {:.3e} ({})",
        report.relative_difference,
        verdict(report.relative_difference)
    );

    // The same idea with a broken backward pass.
    let bparams = Params::new(args.seed);
    let vb = bparams.var_builder(DType::F64, &dev);
    let l1 = Dense::new(vb.pp("hidden"), 64, 8, Init::Xavier)?;
    let l2 = Dense::new(vb.pp("output"), 8, 10, Init::Xavier)?;
    let buggy_loss = || cross_entropy(&l2.forward(&l1.forward(&x)?.apply_op1(BuggyTanh)?)?, &y);
    let bvars = bparams.named_vars();
    let buggy = gradcheck(buggy_loss, &bvars, args.epsilon)?;
    println!(
        "network with a wrong tanh backward: relative difference {:.3e} ({})",
        buggy.relative_difference,
        verdict(buggy.relative_difference)
    );
    if let Err(e) = buggy.check(1e-7) {
        println!("  check says: {e}");
    }
    // Sanity: the correct tanh passes on the same network.
    let fixed = gradcheck(
        || cross_entropy(&l2.forward(&Activation::Tanh.forward(&l1.forward(&x)?)?)?, &y),
        &bvars,
        args.epsilon,
    )?;
    println!("same network, correct tanh: relative difference {:.3e}", fixed.relative_difference);

    let mut figures = Figures::new();
    figures
        .set("relative_difference", report.relative_difference)
        .set("buggy_relative_difference", buggy.relative_difference)
        .set("fixed_relative_difference", fixed.relative_difference)
        .set("values_checked", report.checked)
        .set("seconds", start.elapsed().as_secs_f64());
    figures.write_if(args.json.as_deref())?;
    Ok(())
}

fn verdict(d: f64) -> &'static str {
    if d < 1e-7 {
        "correct"
    } else if d < 1e-3 {
        "suspicious"
    } else {
        "wrong"
    }
}
