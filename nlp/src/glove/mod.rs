//! GloVe (Pennington, Socher and Manning, 2014): global word vectors fitted to the logarithm of
//! distance-weighted co-occurrence counts.
//!
//! Two stages, as in the reference tool:
//! * [`cooccur`] counts how often word `j` appears within `window` words of word `i`, each
//!   occurrence weighted by `1 / distance`, over a symmetric window that stops at sentence ends.
//!   Counts accumulate in a hash map up to a budget of entries; past it the map is sorted and
//!   spilled to a temporary shard file, and the shards are merged at the end ([`shard`]), so the
//!   memory used does not grow with the vocabulary.
//! * [`train`] minimises the weighted least squares
//!   `J = ½ Σ_ij f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)²` with `f(x) = min(1, (x / x_max)^α)`
//!   (`x_max = 100`, `α = 0.75`) by AdaGrad over the shuffled non-zero entries, several threads
//!   updating the shared parameters without locks (Hogwild), one thread with a seed giving the
//!   same numbers every run. [`kernel`] holds the update of one entry.
//!
//! ```
//! use dls_nlp::glove::{cooccur, train};
//! let sentences = vec![vec![0u32, 1, 2, 0], vec![1, 2]];
//! let counts = cooccur::count(&sentences, &cooccur::Config { window: 2, ..Default::default() })?;
//! // "0 1 2 0": the pair (1, 2) at distance 1 twice (both sentences), (0, 2) at distances 2 and 1.
//! let x = |i, j| counts.iter().find(|c| (c.row, c.col) == (i, j)).map_or(0.0, |c| c.value);
//! assert!((x(1, 2) - 2.0).abs() < 1e-12 && (x(0, 2) - 1.5).abs() < 1e-12);
//! let words = ["a", "b", "c"].map(String::from).to_vec();
//! // Counts this small are far below x_max = 100: weight them fully and step harder.
//! let config = train::Config { vector_size: 4, epochs: 50, x_max: 1.0, learning_rate: 0.2, ..Default::default() };
//! let model = train::train(&words, &counts, &config)?;
//! assert!(model.losses[49] < 0.01 * model.losses[0]);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

pub mod cooccur;
pub mod kernel;
pub mod shard;
pub mod train;

pub use cooccur::Cooccurrence;
