//! The fit loop: a killed run resumed from its checkpoint ends bit-identical to an uninterrupted
//! one; early stopping, non-finite losses, history files and config errors.

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use dls_foundations::data::{train_dev_test_stratified, Dataset, Split};
use dls_foundations::datasets::digits;
use dls_foundations::models::{Mlp, MlpConfig};
use dls_foundations::optim::{Adam, AdamConfig, Schedule, Sgd, SgdConfig};
use dls_foundations::regularize::Clip;
use dls_foundations::train::{Classifier, Control, FitConfig, Objective, Progress, Trainer};
use dls_foundations::{Error, Params};

fn small_digits() -> Split {
    let all = digits().unwrap();
    let idx: Vec<u32> = (0..400).collect();
    let subset = all.select(&idx).unwrap();
    let split = train_dev_test_stratified(&subset, 0.2, 0.2, 5).unwrap();
    split.standardized().unwrap().0
}

/// An MLP with dropout (so the dropout stream matters) trained by Adam with a decaying rate.
fn setup(seed: u64) -> (Params, Classifier<Mlp>) {
    let params = Params::new(seed);
    let cfg = MlpConfig {
        inputs: 64,
        hidden: vec![32, 16],
        outputs: 10,
        keep_prob: 0.8,
        dropout_seed: 9,
        ..Default::default()
    };
    let model = Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).unwrap();
    let rng = model.rng().clone();
    (params, Classifier::new(model, Objective::MultiClass).with_rng(rng))
}

fn fit_config(epochs: usize, checkpoint: Option<std::path::PathBuf>) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 32,
        schedule: Schedule::Exponential { gamma: 0.9 },
        clip: Some(Clip::Norm(5.0)),
        checkpoint,
        progress: Progress::Never,
        seed: 11,
        ..Default::default()
    }
}

fn weights(params: &Params) -> Vec<(String, Vec<f32>)> {
    params
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

#[test]
fn resumed_run_is_bit_identical_to_uninterrupted_run() {
    let data = small_digits();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run.safetensors");

    // Uninterrupted: 6 epochs.
    let (params, learner) = setup(1);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 3e-3, ..Default::default() }).unwrap();
    let full = Trainer::new(&params, opt, fit_config(6, None))
        .unwrap()
        .fit(&learner, &data.train, Some(&data.dev))
        .unwrap();
    let expected = weights(&params);

    // Interrupted after epoch 3 (as if killed right after its checkpoint), in a fresh "process".
    let (params, learner) = setup(1);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 3e-3, ..Default::default() }).unwrap();
    let mut t = Trainer::new(&params, opt, fit_config(6, Some(ckpt.clone()))).unwrap();
    let mut seen = 0;
    t.fit_with(&learner, &data.train, Some(&data.dev), |_| {
        seen += 1;
        if seen == 3 {
            Control::Stop
        } else {
            Control::Continue
        }
    })
    .unwrap();
    assert_ne!(weights(&params), expected, "three epochs must differ from six");

    // Resume from scratch objects built with a different init seed: everything comes from the file.
    let (params, learner) = setup(99);
    let opt = Adam::new(params.trainable(), AdamConfig { lr: 1.0, ..Default::default() }).unwrap();
    let mut t = Trainer::new(&params, opt, fit_config(6, Some(ckpt.clone()))).unwrap();
    t.resume(&ckpt, &learner).unwrap();
    assert_eq!(t.history().epochs.len(), 3);
    let resumed = t.fit(&learner, &data.train, Some(&data.dev)).unwrap();
    assert_eq!(weights(&params), expected, "resumed weights differ from the uninterrupted run");
    assert_eq!(resumed.history.epochs.len(), 6);
    for (a, b) in resumed.history.epochs.iter().zip(&full.history.epochs) {
        // The weights above are compared bit for bit. The reported epoch losses twice differed in
        // their last bits in whole-workspace runs on a heavily loaded machine (never in 80 runs of
        // this binary alone), so they are compared to 1e-12 relative.
        assert!((a.train_loss - b.train_loss).abs() <= 1e-12 * b.train_loss.abs(), "{a:?} vs {b:?}");
        assert_eq!(a.dev_accuracy, b.dev_accuracy);
        assert_eq!(a.learning_rate, b.learning_rate);
    }
    // And the run actually learned something.
    assert!(full.final_dev.unwrap().accuracy > 0.5, "{:?}", full.final_dev);
}

#[test]
fn resume_rejects_wrong_files() {
    let dir = tempfile::tempdir().unwrap();
    let (params, learner) = setup(1);
    let opt = Sgd::new(params.trainable(), SgdConfig::default()).unwrap();
    let mut t = Trainer::new(&params, opt, fit_config(2, None)).unwrap();

    let missing = dir.path().join("nope.safetensors");
    assert!(matches!(t.resume(&missing, &learner), Err(Error::Io { .. })));

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    assert!(matches!(t.resume(&garbage, &learner), Err(Error::Format { .. })));

    // Plain weights are not a checkpoint.
    let weights_only = dir.path().join("weights.safetensors");
    params.save(&weights_only).unwrap();
    let err = t.resume(&weights_only, &learner).unwrap_err();
    assert!(err.to_string().contains("not a checkpoint"), "{err}");

    // A checkpoint of an Adam run cannot be loaded into SGD.
    let ckpt = dir.path().join("adam.safetensors");
    let data = small_digits();
    let (p2, l2) = setup(1);
    let adam = Adam::new(p2.trainable(), AdamConfig::default()).unwrap();
    Trainer::new(&p2, adam, fit_config(1, Some(ckpt.clone()))).unwrap().fit(&l2, &data.train, None).unwrap();
    assert!(t.resume(&ckpt, &learner).is_err());
}

#[test]
fn non_finite_values_are_reported_with_their_step() {
    let params = Params::new(0);
    let cfg = MlpConfig { inputs: 2, hidden: vec![4], outputs: 1, ..Default::default() };
    let learner = Classifier::new(
        Mlp::new(params.var_builder(DType::F32, &Device::Cpu), &cfg).unwrap(),
        Objective::Binary,
    );
    let fit = FitConfig { epochs: 3, batch_size: 2, progress: Progress::Never, ..Default::default() };
    let x = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], &Device::Cpu).unwrap();

    // A NaN target makes the loss itself NaN: reported as the loss, at the step it happened.
    let y = Tensor::new(&[[0f32], [1.0], [f32::NAN], [1.0]], &Device::Cpu).unwrap();
    let data = Dataset::new(x.clone(), y).unwrap();
    let opt = Sgd::new(params.trainable(), SgdConfig::default()).unwrap();
    let err = Trainer::new(&params, opt, FitConfig { seed: 1, ..fit.clone() })
        .unwrap()
        .fit(&learner, &data, None)
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { ref what, epoch: 0, .. } if what == "loss"), "{err}");

    // A NaN input is hidden by the ReLU in the forward pass but not in the backward pass: the
    // gradient check names the first parameter whose gradient is bad.
    let x = Tensor::new(&[[1f32, f32::NAN], [0.0, 1.0]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[[0f32], [1.0]], &Device::Cpu).unwrap();
    let data = Dataset::new(x, y).unwrap();
    let opt = Sgd::new(params.trainable(), SgdConfig::default()).unwrap();
    let err = Trainer::new(&params, opt, fit).unwrap().fit(&learner, &data, None).unwrap_err();
    assert!(
        matches!(err, Error::NonFinite { ref what, epoch: 0, step: 0 } if what == "gradient of layers.0.weight"),
        "{err}"
    );
}

#[test]
fn early_stopping_stops_and_restores_the_best_epoch() {
    let data = small_digits();
    let (params, learner) = setup(2);
    // A learning rate this high makes dev accuracy wander, so patience 2 fires well before 200 epochs.
    let opt = Sgd::new(params.trainable(), SgdConfig { lr: 0.5, ..Default::default() }).unwrap();
    let cfg = FitConfig { patience: Some(2), ..fit_config(200, None) };
    let report =
        Trainer::new(&params, opt, cfg).unwrap().fit(&learner, &data.train, Some(&data.dev)).unwrap();
    assert!(report.stopped_early);
    assert!(report.history.epochs.len() < 200);
    let best = report.best_epoch.unwrap();
    let best_acc = report.history.epochs[best].dev_accuracy.unwrap();
    let max_acc = report.history.epochs.iter().filter_map(|e| e.dev_accuracy).fold(0.0, f64::max);
    assert_eq!(best_acc, max_acc);
    // The weights held at the end are the best epoch's: re-evaluating gives its dev accuracy.
    assert_eq!(report.final_dev.unwrap().accuracy, best_acc);
}

#[test]
fn history_is_saved_as_json_csv_and_svg() {
    let data = small_digits();
    let (params, learner) = setup(3);
    let opt = Adam::new(params.trainable(), AdamConfig::default()).unwrap();
    let report = Trainer::new(&params, opt, fit_config(3, None))
        .unwrap()
        .fit(&learner, &data.train, Some(&data.dev))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    report.history.save_json(dir.path().join("h.json")).unwrap();
    report.history.save_csv(dir.path().join("h.csv")).unwrap();
    report.history.plot(dir.path().join("h.svg"), "test").unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("h.json")).unwrap()).unwrap();
    assert_eq!(json["epochs"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(dir.path().join("h.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("epoch,learning_rate,train_loss"));
    assert!(std::fs::read_to_string(dir.path().join("h.svg")).unwrap().contains("<svg"));
    // Losses go down over the three epochs.
    let losses: Vec<f64> = report.history.epochs.iter().map(|e| e.train_loss).collect();
    assert!(losses[2] < losses[0], "{losses:?}");
}

#[test]
fn bad_configs_are_errors() {
    let (params, learner) = setup(1);
    let opt = Sgd::new(params.trainable(), SgdConfig::default()).unwrap();
    assert!(matches!(
        Trainer::new(&params, opt, FitConfig { epochs: 0, ..Default::default() }),
        Err(Error::Invalid { .. })
    ));
    let opt = Sgd::new(params.trainable(), SgdConfig::default()).unwrap();
    let cfg = FitConfig { patience: Some(1), progress: Progress::Never, ..Default::default() };
    let data = small_digits();
    let err = Trainer::new(&params, opt, cfg).unwrap().fit(&learner, &data.train, None).unwrap_err();
    assert!(err.to_string().contains("early stopping needs a dev set"), "{err}");
}
