//! Sequence to sequence with attention (sheets 27–28): a bidirectional recurrent [`encoder`], an
//! [`attention`] layer (additive or multiplicative) that masks padded source positions, a
//! [`decoder`] trained with teacher forcing, the whole [`model`] as a foundations
//! [`Learner`](dls_foundations::train::Learner), greedy and beam [`search`] over any next-token
//! [`Scorer`] (the trained model is one through [`scorer`]), the course's beam-search error
//! [`analysis`] and attention [`heatmap`]s.
//!
//! Everything speaks token ids (`u32`), so the same model serves characters (the dates of
//! [`crate::dates`]) and sub-word units (translation).
//!
//! ```
//! use dls_nlp::seq2seq::search::{beam_search, BeamConfig, LengthPenalty, TableScorer};
//! // A hand-made next-token distribution over {0: end, 1: a, 2: b}: greedy picks `a` first (0.6)
//! // but every continuation of `a` is poor, while `b` ends with probability 0.9.
//! let scorer = TableScorer::new(3, vec![
//!     (vec![], vec![0.0, 0.6, 0.4]),
//!     (vec![1], vec![0.3, 0.35, 0.35]),
//!     (vec![2], vec![0.9, 0.05, 0.05]),
//! ])?;
//! let cfg = BeamConfig { width: 2, max_len: 5, eos: 0, penalty: LengthPenalty::None };
//! let best = &beam_search(&scorer, &cfg)?[0];
//! assert_eq!(best.tokens, vec![2, 0]);
//! assert!((best.log_prob - (0.4f64 * 0.9).ln()).abs() < 1e-6);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

pub mod analysis;
pub mod attention;
pub mod decoder;
pub mod encoder;
pub mod heatmap;
pub mod model;
pub mod scorer;
pub mod search;

pub use attention::{Attention, AttentionKind};
pub use decoder::Decoder;
pub use encoder::{Encoded, Encoder};
pub use model::{Seq2Seq, Seq2SeqConfig};
pub use scorer::SourceScorer;
pub use search::{beam_search, greedy, BeamConfig, Hypothesis, LengthPenalty, Scorer};
