//! Optimisers and learning-rate schedules against PyTorch 2.15 (CPU, float64) and hand-computed values.
//!
//! The `TORCH_*` reference numbers were printed by this script (run with the peer set up by
//! `shared/tools/peers/setup-torch.sh`):
//!
//! ```python
//! import torch
//! torch.set_default_dtype(torch.float64)
//! # repr() prints the shortest decimal that reads back as the same double (full precision).
//! w0 = [0.5, -1.25, 2.0, 0.0]
//! grads = [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.05, 1.0], [0.3, 0.3, -0.7, 0.2], [1.5, -0.1, 0.0, -0.6]]
//! cases = {
//!     "sgd": lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
//!     "momentum_torch": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
//!     "nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
//!     "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01),
//!     "adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
//!     "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
//! }
//! print(torch.__version__)
//! for name, make in cases.items():
//!     w = torch.tensor(w0, requires_grad=True)
//!     opt = make([w])
//!     print(name)
//!     for g in grads:
//!         w.grad = torch.tensor(g)
//!         opt.step()
//!         print("    [" + ", ".join(repr(x) for x in w.detach().tolist()) + "],")
//!
//! # Adam with a parameter that has no gradient in step 2: torch skips it and its step count stays.
//! a = torch.tensor([1.0, -2.0], requires_grad=True)
//! b = torch.tensor([0.5, 0.25], requires_grad=True)
//! opt = torch.optim.Adam([a, b], lr=0.05)
//! for ga, gb in [([0.2, -0.1], [0.4, -0.3]), ([-0.3, 0.5], None), ([0.1, 0.1], [-0.2, 0.6])]:
//!     a.grad = torch.tensor(ga)
//!     b.grad = None if gb is None else torch.tensor(gb)
//!     opt.step()
//! print("adam_skip")
//! for p in (a, b):
//!     print("    [" + ", ".join(repr(x) for x in p.detach().tolist()) + "],")
//! ```

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use dls_foundations::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, Momentum, MomentumConfig, MomentumStyle, Nesterov, NesterovConfig,
    RmsProp, RmsPropConfig, Sgd, SgdConfig, Stateful,
};
use dls_foundations::Error;

#[path = "optim/config.rs"]
mod config;
#[path = "optim/resume.rs"]
mod resume;
#[path = "optim/schedule.rs"]
mod schedule;

const W0: [f64; 4] = [0.5, -1.25, 2.0, 0.0];
const GRADS: [[f64; 4]; 4] =
    [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.05, 1.0], [0.3, 0.3, -0.7, 0.2], [1.5, -0.1, 0.0, -0.6]];

type Steps = [[f64; 4]; 4];

#[rustfmt::skip]
const TORCH_SGD: Steps = [
    [0.4895, -1.22875, 1.968, 0.04000000000000001],
    [0.5390105, -1.25252125, 1.9610319999999999, -0.060039999999999996],
    [0.5084714895, -1.28126872875, 2.029070968, -0.07997996],
    [0.35796301801049996, -1.26998746002125, 2.027041897032, -0.019899980040000004],
];
#[rustfmt::skip]
const TORCH_MOMENTUM: Steps = [
    [0.4895, -1.22875, 1.968, 0.04000000000000001],
    [0.5295605, -1.23339625, 1.932232, -0.02403999999999998],
    [0.5350853895, -1.26634447875, 1.968108568, -0.10165195999999997],
    [0.38952270466049993, -1.28473154014625, 1.998429370632, -0.11140107203999997],
];
#[rustfmt::skip]
const TORCH_NESTEROV: Steps = [
    [0.48005, -1.209625, 1.9392, 0.07600000000000001],
    [0.565632905, -1.2376142125, 1.90009552, -0.08174440000000001],
    [0.5400148619805, -1.29604169924625, 2.000536586512, -0.17149064564000002],
    [0.258441664639687, -1.3012778108805572, 2.0258426128264273, -0.12001000444928402],
];
#[rustfmt::skip]
const TORCH_RMSPROP: Steps = [
    [0.46837723292212285, -1.2183772281041978, 1.968377226523316, 0.031622774101683994],
    [0.4993792949605935, -1.2424992997161397, 1.9613024893392492, 0.002055978807682518],
    [0.4824025689102663, -1.2645438308440389, 1.9903079404706012, -0.0040583207492996265],
    [0.45263164374178144, -1.255796848546666, 1.9894139167890463, 0.01243721692183199],
];
#[rustfmt::skip]
const TORCH_ADAM: Steps = [
    [0.4900000009523809, -1.2400000004705882, 1.9900000003125, 0.009999999750000004],
    [0.49589015610367143, -1.2410822584375865, 1.9818651365202757, 0.005577537510848564],
    [0.4964912774103802, -1.2459841190779912, 1.9848956191791338, 0.001049338031201952],
    [0.4912611720595362, -1.2483943435277414, 1.9872243046882156, 0.0005905084066615295],
];
#[rustfmt::skip]
const TORCH_ADAMW: Steps = [
    [0.4895000009999999, -1.2387500005, 1.9880000003333334, 0.009999999750000004],
    [0.4949940426542334, -1.2391385730443174, 1.9781787272147273, 0.005567847170471495],
    [0.49524439264790915, -1.2431866395222846, 1.9796495342750025, 0.0010345108739747396],
    [0.4895663316652656, -1.2448734715794967, 1.9804950840236553, 0.0005752756953361748],
];

/// Feeds the fixed gradients to `O` over a fresh `W0` and returns the weights after each step.
pub(crate) fn run<O: Optimizer>(config: O::Config, dtype: DType) -> Result<Vec<Vec<f64>>> {
    let w = Var::from_tensor(&Tensor::new(&W0, &Device::Cpu)?.to_dtype(dtype)?)?;
    let mut opt = O::new(vec![w.clone()], config)?;
    let mut out = Vec::new();
    for g in GRADS {
        let mut grads = GradStore::default();
        grads.insert(&w, Tensor::new(&g, &Device::Cpu)?.to_dtype(dtype)?);
        opt.step(&grads)?;
        out.push(w.to_dtype(DType::F64)?.to_vec1::<f64>()?);
    }
    Ok(out)
}

fn assert_close(got: &[Vec<f64>], want: &[[f64; 4]], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of steps");
    for (step, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            assert!((a - b).abs() <= tol, "{what}: step {step}, w[{i}] = {a}, expected {b} (tol {tol})");
        }
    }
}

#[test]
fn sgd_matches_torch() -> Result<()> {
    let got = run::<Sgd>(SgdConfig { lr: 0.1, weight_decay: 0.01 }, DType::F64)?;
    assert_close(&got, &TORCH_SGD, 1e-10, "sgd");
    Ok(())
}

#[test]
fn momentum_pytorch_style_matches_torch() -> Result<()> {
    let config = MomentumConfig { lr: 0.1, beta: 0.9, weight_decay: 0.01, dampening: MomentumStyle::PyTorch };
    assert_close(&run::<Momentum>(config, DType::F64)?, &TORCH_MOMENTUM, 1e-10, "momentum (torch)");
    Ok(())
}

#[test]
fn momentum_course_style_matches_hand_computed_values() -> Result<()> {
    // v = 0.9 v + 0.1 g; w -= 0.1 v. First element: v = 0.01, w = 0.499; v = 0.009 - 0.05 = -0.041,
    // w = 0.499 + 0.0041 = 0.5031; v = -0.0369 + 0.03 = -0.0069, w = 0.5031 + 0.00069 = 0.50379.
    let want = [
        [0.499, -1.248, 1.997, 0.004],
        [0.5031, -1.2487, 1.9938, -0.0024],
        [0.50379, -1.25233, 1.99792, -0.01016],
    ];
    let config = MomentumConfig { lr: 0.1, beta: 0.9, ..Default::default() };
    assert_eq!(config.dampening, MomentumStyle::Course, "the course's form is the default");
    let got = run::<Momentum>(config, DType::F64)?;
    assert_close(&got[..3], &want, 1e-12, "momentum (course)");
    Ok(())
}

#[test]
fn nesterov_matches_torch() -> Result<()> {
    let config = NesterovConfig { lr: 0.1, beta: 0.9, weight_decay: 0.01 };
    assert_close(&run::<Nesterov>(config, DType::F64)?, &TORCH_NESTEROV, 1e-10, "nesterov");
    Ok(())
}

#[test]
fn rmsprop_matches_torch() -> Result<()> {
    let config = RmsPropConfig { lr: 0.01, beta: 0.9, eps: 1e-8, weight_decay: 0.01 };
    assert_close(&run::<RmsProp>(config, DType::F64)?, &TORCH_RMSPROP, 1e-10, "rmsprop");
    Ok(())
}

#[test]
fn adam_and_adamw_match_torch_in_f64_and_f32() -> Result<()> {
    let adam = AdamConfig { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
    let adamw = AdamWConfig { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 };
    assert_close(&run::<Adam>(adam.clone(), DType::F64)?, &TORCH_ADAM, 1e-10, "adam f64");
    assert_close(&run::<AdamW>(adamw.clone(), DType::F64)?, &TORCH_ADAMW, 1e-10, "adamw f64");
    assert_close(&run::<Adam>(adam, DType::F32)?, &TORCH_ADAM, 1e-6, "adam f32");
    assert_close(&run::<AdamW>(adamw, DType::F32)?, &TORCH_ADAMW, 1e-6, "adamw f32");
    Ok(())
}

#[test]
fn adam_skips_a_var_without_gradient_and_keeps_its_step_count() -> Result<()> {
    let a = Var::new(&[1.0f64, -2.0], &Device::Cpu)?;
    let b = Var::new(&[0.5f64, 0.25], &Device::Cpu)?;
    let mut opt = Adam::new(vec![a.clone(), b.clone()], AdamConfig { lr: 0.05, ..Default::default() })?;
    let steps: [([f64; 2], Option<[f64; 2]>); 3] =
        [([0.2, -0.1], Some([0.4, -0.3])), ([-0.3, 0.5], None), ([0.1, 0.1], Some([-0.2, 0.6]))];
    for (ga, gb) in steps {
        let mut grads = GradStore::default();
        grads.insert(&a, Tensor::new(&ga, &Device::Cpu)?);
        if let Some(gb) = gb {
            grads.insert(&b, Tensor::new(&gb, &Device::Cpu)?);
        }
        opt.step(&grads)?;
    }
    let want_a = [0.9630684281635747, -2.0087615050300225];
    let want_b = [0.43668314968815897, 0.28169482236739035];
    for (got, want) in [(a.to_vec1::<f64>()?, want_a), (b.to_vec1::<f64>()?, want_b)] {
        for (x, y) in got.iter().zip(want) {
            assert!((x - y).abs() < 1e-10, "{x} vs torch {y}");
        }
    }
    let counts = opt.state()?.tensor("step").map(|t| t.to_vec1::<f64>()).transpose()?;
    assert_eq!(counts, Some(vec![3.0, 2.0]));
    Ok(())
}

#[test]
fn adam_converges_on_a_quadratic_through_backward_step() -> Result<()> {
    let w = Var::new(&[0f32, 0.0], &Device::Cpu)?;
    let target = Tensor::new(&[3f32, -1.5], &Device::Cpu)?;
    let mut opt = Adam::new(vec![w.clone()], AdamConfig { lr: 0.1, ..Default::default() })?;
    for _ in 0..400 {
        opt.backward_step(&(w.as_tensor() - &target)?.sqr()?.sum_all()?)?;
    }
    let w = w.to_vec1::<f32>()?;
    assert!((w[0] - 3.0).abs() < 1e-3 && (w[1] + 1.5).abs() < 1e-3, "w = {w:?}");
    Ok(())
}

/// The `what: message` of an [`Error::Invalid`]; any other error fails the test.
pub(crate) fn invalid_message(err: Error) -> String {
    match err {
        Error::Invalid { what, message } => format!("{what}: {message}"),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}
