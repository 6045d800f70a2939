//! The fused in-place Adam/AdamW and SGD updates agree bit for bit with the tensor-op reference.
//! (Its own test binary: the reference switch is process-wide.)

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use dls_foundations::optim::{force_reference_path, Adam, AdamConfig, AdamW, AdamWConfig, Sgd, SgdConfig};

fn run<O: Optimizer>(dtype: DType, make: impl Fn(Vec<Var>) -> O, reference: bool) -> Vec<Vec<f64>> {
    force_reference_path(reference);
    let dev = Device::Cpu;
    let vars: Vec<Var> = [(3usize, 0.3f64), (7, -0.2)]
        .iter()
        .map(|&(n, s)| {
            let t = Tensor::arange(0f64, n as f64, &dev)
                .unwrap()
                .affine(s, 0.1)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            Var::from_tensor(&t).unwrap()
        })
        .collect();
    let mut opt = make(vars.clone());
    for step in 0..6 {
        // A loss whose gradient changes with the weights: sum(w^3) * (step + 1) / 10.
        let loss = vars
            .iter()
            .map(|v| v.as_tensor().powf(3.0).unwrap().sum_all().unwrap())
            .reduce(|a, b| (a + b).unwrap())
            .unwrap()
            .affine((step + 1) as f64 / 10.0, 0.0)
            .unwrap();
        opt.backward_step(&loss).unwrap();
    }
    force_reference_path(false);
    vars.iter().map(|v| v.as_tensor().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap()).collect()
}

#[test]
fn fused_adam_equals_reference_bit_for_bit() {
    for dtype in [DType::F32, DType::F64] {
        let adam = |vars| {
            Adam::new(vars, AdamConfig { lr: 0.05, weight_decay: 0.01, ..Default::default() }).unwrap()
        };
        let fused = run(dtype, adam, false);
        assert_eq!(fused, run(dtype, adam, true), "adam {dtype:?}");
        let adamw = |vars| {
            AdamW::new(vars, AdamWConfig { lr: 0.05, weight_decay: 0.1, ..Default::default() }).unwrap()
        };
        let fused_w = run(dtype, adamw, false);
        assert_eq!(fused_w, run(dtype, adamw, true), "adamw {dtype:?}");
        // And the update did something.
        assert_ne!(fused[0][2], 0.3 * 2.0 + 0.1);
    }
}

#[test]
fn fused_sgd_equals_reference_bit_for_bit() {
    for dtype in [DType::F32, DType::F64] {
        for weight_decay in [0.0, 0.01] {
            let sgd = |vars| Sgd::new(vars, SgdConfig { lr: 0.07, weight_decay }).unwrap();
            let fused = run(dtype, sgd, false);
            assert_eq!(fused, run(dtype, sgd, true), "sgd {dtype:?} weight decay {weight_decay}");
            assert_ne!(fused[0][2], 0.3 * 2.0 + 0.1, "the update did something");
        }
    }
}
