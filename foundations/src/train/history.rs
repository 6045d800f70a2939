//! Per-epoch training history, saved as JSON or CSV and drawn as learning curves.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomically;
use crate::Result;

/// What one epoch produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Learning rate used in this epoch.
    pub learning_rate: f64,
    /// Mean training loss over the epoch's batches (regularisation included).
    pub train_loss: f64,
    /// Mean global gradient norm over the epoch's steps (before clipping).
    pub grad_norm: f64,
    /// Dev-set loss, when a dev set was given.
    pub dev_loss: Option<f64>,
    /// Dev-set accuracy, when a dev set was given.
    pub dev_accuracy: Option<f64>,
    /// Wall-clock seconds spent in the epoch.
    pub seconds: f64,
}

/// All epochs of a run, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The last completed epoch.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// Writes the history as pretty JSON (atomically).
    ///
    /// # Errors
    /// I/O failures, named with the path.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomically(path.as_ref(), serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// Writes the history as CSV with a header line (atomically).
    ///
    /// # Errors
    /// I/O failures, named with the path.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let mut s = String::from("epoch,learning_rate,train_loss,grad_norm,dev_loss,dev_accuracy,seconds\n");
        for e in &self.epochs {
            s.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                e.epoch,
                e.learning_rate,
                e.train_loss,
                e.grad_norm,
                opt(e.dev_loss),
                opt(e.dev_accuracy),
                e.seconds
            ));
        }
        write_atomically(path.as_ref(), s.as_bytes())
    }

    /// Draws training and dev loss (and dev accuracy) per epoch as an SVG learning curve.
    ///
    /// # Errors
    /// [`crate::Error::Empty`] for an empty history; I/O failures.
    pub fn plot(&self, path: impl AsRef<Path>, title: &str) -> Result<()> {
        let train: Vec<f64> = self.epochs.iter().map(|e| e.train_loss).collect();
        let dev: Vec<f64> = self.epochs.iter().filter_map(|e| e.dev_loss).collect();
        let acc: Vec<f64> = self.epochs.iter().filter_map(|e| e.dev_accuracy).collect();
        let mut series: Vec<(&str, &[f64])> = vec![("train loss", &train)];
        if !dev.is_empty() {
            series.push(("dev loss", &dev));
            series.push(("dev accuracy", &acc));
        }
        crate::plot::learning_curves(path, title, "epoch", &series)
    }
}
