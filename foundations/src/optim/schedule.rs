//! Learning-rate decay (sheet 08): the learning rate for an epoch from the initial one.
//!
//! A fit loop calls `opt.set_learning_rate(schedule.lr(lr0, epoch))` at the start of each epoch.
//! Epochs count from 0, so every schedule gives `lr0` at epoch 0.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A learning-rate schedule; serialised as `{"kind": "step", "every": 10, "gamma": 0.5}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// `lr0` for every epoch.
    #[default]
    Constant,
    /// `lr0 * gamma^floor(epoch / every)`: multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays (> 0).
        every: usize,
        /// Factor applied at each decay (> 0).
        gamma: f64,
    },
    /// `lr0 * gamma^epoch` (the course's `0.95^epoch * lr0`).
    Exponential {
        /// Factor applied each epoch (> 0).
        gamma: f64,
    },
    /// The course's `lr0 / (1 + decay_rate * floor(epoch / interval))`; `interval` 1 decays every
    /// epoch, a larger one holds the rate fixed between decays.
    InverseTime {
        /// How fast the rate falls (>= 0).
        decay_rate: f64,
        /// Epochs between decays (> 0).
        interval: usize,
    },
    /// Cosine annealing, `min_lr + (lr0 - min_lr) (1 + cos(pi epoch / total_epochs)) / 2`,
    /// held at `min_lr` from `total_epochs` on.
    Cosine {
        /// Epochs over which the rate falls from `lr0` to `min_lr` (> 0).
        total_epochs: usize,
        /// The final learning rate (>= 0).
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate for `epoch` (counted from 0) given the initial rate `lr0`.
    ///
    /// Meant for a schedule that passed [`Schedule::validate`]; for one that did not it still
    /// never panics (a zero interval or `total_epochs` acts as "no decay yet" and "finished").
    pub fn lr(&self, lr0: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => lr0,
            Schedule::Step { every, gamma } => match epoch.checked_div(every) {
                Some(k) => lr0 * gamma.powf(k as f64),
                None => lr0,
            },
            Schedule::Exponential { gamma } => lr0 * gamma.powf(epoch as f64),
            Schedule::InverseTime { decay_rate, interval } => match epoch.checked_div(interval) {
                Some(k) => lr0 / (1.0 + decay_rate * k as f64),
                None => lr0,
            },
            Schedule::Cosine { total_epochs, min_lr } => {
                if epoch >= total_epochs {
                    min_lr
                } else {
                    let progress = epoch as f64 / total_epochs as f64;
                    min_lr + (lr0 - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
                }
            }
        }
    }

    /// Checks the schedule's parameters.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter: `every`, `interval` or `total_epochs` of 0, a
    /// `gamma` that is not finite and > 0, a `decay_rate` or `min_lr` that is not finite and >= 0.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                positive_count("step schedule every", every)?;
                positive("step schedule gamma", gamma)
            }
            Schedule::Exponential { gamma } => positive("exponential schedule gamma", gamma),
            Schedule::InverseTime { decay_rate, interval } => {
                positive_count("inverse-time schedule interval", interval)?;
                non_negative("inverse-time schedule decay_rate", decay_rate)
            }
            Schedule::Cosine { total_epochs, min_lr } => {
                positive_count("cosine schedule total_epochs", total_epochs)?;
                non_negative("cosine schedule min_lr", min_lr)
            }
        }
    }
}

fn positive_count(what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(what, "must be at least 1, got 0"));
    }
    Ok(())
}

fn positive(what: &str, x: f64) -> Result<()> {
    if !x.is_finite() || x <= 0.0 {
        return Err(Error::invalid(what, format!("must be finite and > 0, got {x}")));
    }
    Ok(())
}

fn non_negative(what: &str, x: f64) -> Result<()> {
    if !x.is_finite() || x < 0.0 {
        return Err(Error::invalid(what, format!("must be finite and >= 0, got {x}")));
    }
    Ok(())
}
