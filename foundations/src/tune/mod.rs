//! Hyperparameter search (sheet 09): grid search, random search on the right scale, parallel
//! trials and coarse-to-fine refinement.
//!
//! The course's points, as code: sample at random rather than on a grid (every trial then tries a
//! new value of every hyperparameter); sample a learning rate uniformly in its *exponent*
//! ([`Scale::Log10`]) and a momentum β uniformly in the exponent of `1 - β`
//! ([`Scale::OneMinusLog10`]); then zoom in on the region where the best trials were
//! ([`coarse_to_fine`]). Scores follow one convention: **higher is better** (pass accuracy, or
//! the negated dev loss).
//!
//! ```
//! use dls_foundations::tune::{grid, random, Scale, SearchSpace};
//! let space = SearchSpace::new().float("lr", 1e-4, 1e-1, Scale::Log10).choice("act", &["relu", "tanh"]);
//! let trials = grid(&space, 4)?;
//! assert_eq!(trials.len(), 8);
//! assert!((trials[1].get_f64("lr")? - 1e-4).abs() < 1e-12);
//! let sampled = random(&space, 10, 7)?;
//! assert!(sampled.iter().all(|t| t.get_f64("lr").map_or(false, |lr| (1e-4..=1e-1).contains(&lr))));
//! # Ok::<(), dls_foundations::Error>(())
//! ```

mod sample;
mod search;
mod space;

pub use sample::{grid, random};
pub use search::{coarse_to_fine, run_trials, sort_by_score, SearchReport, TrialResult};
pub use space::{Domain, Scale, SearchSpace, Trial, Value};
