//! Checkpoints of a [`Trainer`]: weights, optimiser state, random streams, schedule position,
//! early-stopping state and history in one safetensors file, written atomically.

use std::collections::HashMap;
use std::path::Path;

use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};

use super::{History, Learner, Trainer};
use crate::checkpoint::{read_safetensors, write_safetensors};
use crate::optim::{OptimizerState, Stateful};
use crate::regularize::EarlyStopping;
use crate::rng::RngState;
use crate::{Error, Result};

/// The JSON half of a checkpoint (the tensors are stored beside it).
#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    next_epoch: usize,
    step: usize,
    base_lr: f64,
    optimizer_kind: String,
    optimizer_step: u64,
    optimizer_lr: f64,
    optimizer_tensors: Vec<String>,
    shuffle_rng: RngState,
    learner_rngs: Vec<RngState>,
    early: Option<EarlyStopping>,
    has_best: bool,
    history: History,
}

const PARAM: &str = "param/";
const OPT: &str = "opt/";
const BEST: &str = "best/";

impl<O: Optimizer + Stateful> Trainer<O> {
    /// Writes everything needed to resume after the last completed epoch to `path`.
    ///
    /// # Errors
    /// I/O failures named with the path; the file at `path` is replaced only when complete.
    pub fn save_checkpoint<L: Learner>(&self, path: &Path, learner: &L) -> Result<()> {
        let opt = self.opt.state()?;
        let mut tensors: Vec<(String, candle_core::Tensor)> = Vec::new();
        for (n, v) in self.params.named_vars() {
            tensors.push((format!("{PARAM}{n}"), v.as_tensor().clone()));
        }
        for (n, t) in &opt.tensors {
            tensors.push((format!("{OPT}{n}"), t.clone()));
        }
        if let Some(best) = &self.best {
            for (n, t) in best {
                tensors.push((format!("{BEST}{n}"), t.clone()));
            }
        }
        let meta = Meta {
            format: 1,
            next_epoch: self.next_epoch,
            step: self.step,
            base_lr: self.base_lr,
            optimizer_kind: opt.kind.clone(),
            optimizer_step: opt.step,
            optimizer_lr: opt.learning_rate,
            optimizer_tensors: opt.tensors.iter().map(|(n, _)| n.clone()).collect(),
            shuffle_rng: self.rng.state(),
            learner_rngs: learner.rngs().iter().map(|r| r.state()).collect(),
            early: self.early.clone(),
            has_best: self.best.is_some(),
            history: self.history.clone(),
        };
        write_safetensors(path, &tensors, Some(&serde_json::to_value(&meta)?))
    }

    /// Restores a checkpoint written by [`Trainer::save_checkpoint`]: the next [`Trainer::fit`]
    /// continues with the epoch after the saved one, with the same weights, optimiser moments,
    /// random streams and history, so the result equals that of an uninterrupted run.
    ///
    /// # Errors
    /// [`Error::Format`] for a file that is not one of our checkpoints, or that was written for a
    /// different model (a missing tensor or a shape mismatch names the parameter), an optimiser of
    /// another kind, or a learner with a different number of random streams.
    pub fn resume<L: Learner>(&mut self, path: &Path, learner: &L) -> Result<()> {
        let shown = path.display().to_string();
        let (tensors, meta) = read_safetensors(path)?;
        let meta =
            meta.ok_or_else(|| Error::format(shown.clone(), None, "no training metadata: not a checkpoint"))?;
        let meta: Meta = serde_json::from_value(meta)
            .map_err(|e| Error::format(shown.clone(), None, format!("bad checkpoint metadata: {e}")))?;
        let rngs = learner.rngs();
        if rngs.len() != meta.learner_rngs.len() {
            return Err(Error::format(
                shown,
                None,
                format!(
                    "checkpoint holds {} model random streams, the learner has {}",
                    meta.learner_rngs.len(),
                    rngs.len()
                ),
            ));
        }
        let strip = |prefix: &str| -> HashMap<String, candle_core::Tensor> {
            tensors
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(prefix).map(|s| (s.to_string(), t.clone())))
                .collect()
        };
        self.params.assign_from(&strip(PARAM), &shown)?;
        let opt_tensors = strip(OPT);
        let mut ordered = Vec::with_capacity(meta.optimizer_tensors.len());
        for n in &meta.optimizer_tensors {
            let t = opt_tensors.get(n).ok_or_else(|| {
                Error::format(shown.clone(), None, format!("optimiser tensor {n:?} missing"))
            })?;
            ordered.push((n.clone(), t.clone()));
        }
        self.opt.load_state(&OptimizerState {
            kind: meta.optimizer_kind,
            step: meta.optimizer_step,
            learning_rate: meta.optimizer_lr,
            tensors: ordered,
        })?;
        self.rng.restore(&meta.shuffle_rng);
        for (r, s) in rngs.iter().zip(&meta.learner_rngs) {
            r.restore(s);
        }
        let best = strip(BEST);
        self.best = if meta.has_best {
            let mut snap: Vec<(String, candle_core::Tensor)> = best.into_iter().collect();
            snap.sort_by(|a, b| a.0.cmp(&b.0));
            Some(snap)
        } else {
            None
        };
        self.next_epoch = meta.next_epoch;
        self.step = meta.step;
        self.base_lr = meta.base_lr;
        self.early = meta.early;
        self.history = meta.history;
        Ok(())
    }
}
