//! The fit loop (sheets 02–08 put together): mini-batches, optimiser steps, learning-rate
//! schedule, gradient clipping, early stopping, per-epoch history, a progress bar on terminals,
//! and atomic checkpoints from which a killed run resumes bit-identically.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::Optimizer;
//! use dls_foundations::data::Dataset;
//! use dls_foundations::models::LogisticRegression;
//! use dls_foundations::optim::{Sgd, SgdConfig};
//! use dls_foundations::train::{Classifier, FitConfig, Objective, Trainer};
//! use dls_foundations::Params;
//! // y = 1 exactly when x > 0
//! let x = Tensor::new(&[[-2f32], [-1.0], [1.0], [2.0]], &Device::Cpu)?;
//! let y = Tensor::new(&[[0f32], [0.0], [1.0], [1.0]], &Device::Cpu)?;
//! let data = Dataset::new(x, y)?;
//! let params = Params::new(0);
//! let model = LogisticRegression::new(params.var_builder(DType::F32, &Device::Cpu), 1)?;
//! let learner = Classifier::new(model, Objective::Binary);
//! let opt = Sgd::new(params.trainable(), SgdConfig { lr: 0.5, ..Default::default() })?;
//! let cfg = FitConfig { epochs: 20, batch_size: 4, ..Default::default() };
//! let report = Trainer::new(&params, opt, cfg)?.fit(&learner, &data, Some(&data))?;
//! assert_eq!(report.final_dev.map(|e| e.accuracy), Some(1.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod history;
mod learner;
mod resume;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Tensor, Var};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::optim::{Schedule, Stateful};
use crate::regularize::{clip_gradients, grad_norm, Clip, EarlyStopping};
use crate::rng::SeededRng;
use crate::{Error, Params, Result};

pub use history::{EpochRecord, History};
pub use learner::{evaluate_token_sums, Classifier, Evaluation, Learner, Objective};

/// Whether to draw a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// Only when standard error is a terminal.
    #[default]
    Auto,
    /// Never (tests, scripts).
    Never,
}

/// Settings of a [`Trainer`] run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FitConfig {
    /// Total epochs (a resumed run continues up to this number).
    pub epochs: usize,
    /// Examples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Learning rate per epoch, relative to the optimiser's initial rate.
    pub schedule: Schedule,
    /// Gradient clipping applied before every step.
    pub clip: Option<Clip>,
    /// Stop after this many epochs without dev-accuracy improvement (needs a dev set).
    pub patience: Option<usize>,
    /// With early stopping, put back the weights of the best dev epoch at the end.
    pub restore_best: bool,
    /// Write a checkpoint here after every epoch (atomically).
    pub checkpoint: Option<PathBuf>,
    /// Progress-bar policy.
    pub progress: Progress,
    /// Seed of the shuffling stream.
    pub seed: u64,
    /// Check every step's gradients for NaN or infinity (costs one reduction per variable).
    pub check_gradients: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            schedule: Schedule::Constant,
            clip: None,
            patience: None,
            restore_best: true,
            checkpoint: None,
            progress: Progress::Auto,
            seed: 0,
            check_gradients: true,
        }
    }
}

/// What [`Trainer::fit`] returns.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch of the run, resumed epochs included.
    pub history: History,
    /// Dev evaluation of the final weights (the best epoch's when they were restored).
    pub final_dev: Option<Evaluation>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Epoch whose weights the model holds at the end.
    pub best_epoch: Option<usize>,
}

/// Returned by an epoch callback to go on or stop (see [`Trainer::fit_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after this epoch, as if the process were killed just after its checkpoint.
    Stop,
}

/// Trains the variables of a [`Params`] store with optimiser `O`.
pub struct Trainer<O> {
    cfg: FitConfig,
    params: Params,
    vars: Vec<Var>,
    opt: O,
    base_lr: f64,
    rng: SeededRng,
    history: History,
    next_epoch: usize,
    step: usize,
    early: Option<EarlyStopping>,
    best: Option<Vec<(String, Tensor)>>,
}

impl<O: Optimizer + Stateful> Trainer<O> {
    /// A trainer for every trainable variable of `params`, stepped by `opt` (which must have been
    /// built over `params.trainable()` or a subset of it).
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero epochs or batch size, or an invalid schedule.
    pub fn new(params: &Params, opt: O, cfg: FitConfig) -> Result<Self> {
        if cfg.epochs == 0 || cfg.batch_size == 0 {
            return Err(Error::invalid("fit config", "epochs and batch_size must be > 0"));
        }
        cfg.schedule.validate()?;
        let base_lr = opt.learning_rate();
        let early = cfg.patience.map(|p| EarlyStopping::new(p, 0.0));
        Ok(Self {
            rng: SeededRng::new(cfg.seed),
            cfg,
            vars: params.trainable(),
            params: params.clone(),
            opt,
            base_lr,
            history: History::default(),
            next_epoch: 0,
            step: 0,
            early,
            best: None,
        })
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &O {
        &self.opt
    }

    /// Trains until the configured epochs are done or early stopping fires.
    ///
    /// # Errors
    /// [`Error::NonFinite`] when the loss or a gradient becomes NaN or infinite (naming the step),
    /// and errors from the learner, the data or the checkpoint file.
    pub fn fit<L: Learner>(
        &mut self,
        learner: &L,
        train: &Dataset,
        dev: Option<&Dataset>,
    ) -> Result<FitReport> {
        self.fit_with(learner, train, dev, |_| Control::Continue)
    }

    /// As [`Trainer::fit`], calling `on_epoch` after each epoch (and its checkpoint).
    ///
    /// # Errors
    /// As [`Trainer::fit`].
    pub fn fit_with<L, F>(
        &mut self,
        learner: &L,
        train: &Dataset,
        dev: Option<&Dataset>,
        mut on_epoch: F,
    ) -> Result<FitReport>
    where
        L: Learner,
        F: FnMut(&EpochRecord) -> Control,
    {
        if self.early.is_some() && dev.is_none() {
            return Err(Error::invalid("fit config", "early stopping needs a dev set"));
        }
        let bar = self.progress_bar(train)?;
        let mut stopped_early = false;
        while self.next_epoch < self.cfg.epochs {
            let epoch = self.next_epoch;
            let record = self.run_epoch(learner, train, dev, epoch, &bar)?;
            self.history.epochs.push(record.clone());
            self.next_epoch += 1;
            if let (Some(early), Some(acc)) = (self.early.as_mut(), record.dev_accuracy) {
                let improved = early.record(epoch, acc);
                stopped_early = early.should_stop();
                if improved && self.cfg.restore_best {
                    self.best = Some(self.snapshot()?);
                }
            }
            if let Some(path) = self.cfg.checkpoint.clone() {
                self.save_checkpoint(&path, learner)?;
            }
            if stopped_early || on_epoch(&record) == Control::Stop {
                break;
            }
        }
        bar.finish_and_clear();
        if let Some(best) = &self.best {
            self.restore_snapshot(best)?;
        }
        let final_dev = match dev {
            Some(d) => Some(learner.evaluate(d)?),
            None => None,
        };
        let best_epoch = match (&self.best, &self.early) {
            (Some(_), Some(e)) => Some(e.best_epoch),
            _ => self.history.last().map(|e| e.epoch),
        };
        Ok(FitReport { history: self.history.clone(), final_dev, stopped_early, best_epoch })
    }

    fn progress_bar(&self, train: &Dataset) -> Result<indicatif::ProgressBar> {
        let show = self.cfg.progress == Progress::Auto && std::io::stderr().is_terminal();
        if !show {
            return Ok(indicatif::ProgressBar::hidden());
        }
        let per_epoch = train.len().div_ceil(self.cfg.batch_size) as u64;
        let bar = indicatif::ProgressBar::new(per_epoch * self.cfg.epochs as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed}<{eta}]")
        {
            bar.set_style(style);
        }
        bar.set_position(per_epoch * self.next_epoch as u64);
        Ok(bar)
    }

    fn run_epoch<L: Learner>(
        &mut self,
        learner: &L,
        train: &Dataset,
        dev: Option<&Dataset>,
        epoch: usize,
        bar: &indicatif::ProgressBar,
    ) -> Result<EpochRecord> {
        let start = Instant::now();
        let lr = self.cfg.schedule.lr(self.base_lr, epoch);
        self.opt.set_learning_rate(lr);
        let (mut loss_sum, mut norm_sum, mut batches) = (0f64, 0f64, 0usize);
        for batch in train.batches(self.cfg.batch_size, Some(&self.rng))? {
            let (x, y) = batch?;
            let loss = learner.loss(&x, &y)?;
            let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !value.is_finite() {
                return Err(Error::NonFinite { what: "loss".into(), epoch, step: self.step });
            }
            let mut grads = loss.backward()?;
            let norm = match self.cfg.clip {
                Some(clip) => clip_gradients(&mut grads, &self.vars, clip)?,
                None if self.cfg.check_gradients => grad_norm(&grads, &self.vars)?,
                None => 0.0,
            };
            if !norm.is_finite() {
                return Err(Error::NonFinite {
                    what: self.first_bad_gradient(&grads)?,
                    epoch,
                    step: self.step,
                });
            }
            self.opt.step(&grads)?;
            self.step += 1;
            batches += 1;
            loss_sum += value;
            norm_sum += norm;
            bar.inc(1);
        }
        let eval = match dev {
            Some(d) => Some(learner.evaluate(d)?),
            None => None,
        };
        if let Some(e) = eval {
            bar.set_message(format!("epoch {} dev acc {:.4}", epoch + 1, e.accuracy));
        }
        let b = batches.max(1) as f64;
        Ok(EpochRecord {
            epoch,
            learning_rate: lr,
            train_loss: loss_sum / b,
            grad_norm: norm_sum / b,
            dev_loss: eval.map(|e| e.loss),
            dev_accuracy: eval.map(|e| e.accuracy),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Names the first variable whose gradient holds a NaN or infinity.
    fn first_bad_gradient(&self, grads: &candle_core::backprop::GradStore) -> Result<String> {
        for (name, var) in self.params.named_vars() {
            if let Some(g) = grads.get(var.as_tensor()) {
                let s = g.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                if !s.is_finite() {
                    return Ok(format!("gradient of {name}"));
                }
            }
        }
        Ok("gradient norm".into())
    }

    fn snapshot(&self) -> Result<Vec<(String, Tensor)>> {
        self.params.named_vars().into_iter().map(|(n, v)| Ok((n, v.as_tensor().copy()?))).collect()
    }

    fn restore_snapshot(&self, snap: &[(String, Tensor)]) -> Result<()> {
        let map = snap.iter().cloned().collect();
        self.params.assign_from(&map, "best-epoch snapshot")
    }
}
