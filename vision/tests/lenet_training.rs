//! LeNet-5 learns the shipped digits through dls-foundations' Trainer and Adam.

use candle_core::{DType, Device};
use candle_nn::Optimizer;
use dls_foundations::data::Dataset;
use dls_foundations::datasets::digits;
use dls_foundations::optim::{Adam, AdamConfig};
use dls_foundations::train::{Classifier, FitConfig, Learner, Objective, Progress, Trainer};
use dls_foundations::Params;
use dls_vision::models::lenet::{LeNet5, LeNet5Config};

#[test]
fn lenet5_learns_digits_in_a_few_epochs() {
    dls_foundations::threads::set_threads(1);
    let ds = digits().unwrap();
    let n = ds.len();
    let x = (ds.x.reshape((n, 1, 8, 8)).unwrap().upsample_nearest2d(32, 32).unwrap() / 16.0).unwrap();
    let all = Dataset::new(x, ds.y).unwrap();
    let train = all.select(&(0..480).collect::<Vec<u32>>()).unwrap();
    let test = all.select(&(1400..1797).collect::<Vec<u32>>()).unwrap();
    let params = Params::new(0);
    let model = LeNet5::new(params.var_builder(DType::F32, &Device::Cpu), &LeNet5Config::default()).unwrap();
    let learner = Classifier::new(model, Objective::MultiClass);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 2e-3, ..Default::default() }).unwrap();
    let cfg = FitConfig { epochs: 3, batch_size: 32, progress: Progress::Never, ..Default::default() };
    let report = Trainer::new(&params, opt, cfg).unwrap().fit(&learner, &train, None).unwrap();
    let losses: Vec<f64> = report.history.epochs.iter().map(|e| e.train_loss).collect();
    assert!(losses[2] < 0.5 * losses[0], "{losses:?}");
    let acc = learner.evaluate(&test).unwrap().accuracy;
    assert!(acc > 0.8, "held-out accuracy {acc}");
}
