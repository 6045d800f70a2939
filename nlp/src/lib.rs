//! # dls-nlp
//!
//! Sheets 25–28 of the Deep Learning Specialization as a library on candle: [`bleu`] (corpus and
//! sentence BLEU agreeing with sacrebleu 2.6.0 to 1e-9), word vectors ([`corpus`], [`vocab`],
//! [`vectors`] and [`word2vec`]).
//!
//! ```
//! let score = dls_nlp::bleu::sentence_bleu("the cat sat on the mat", &["the cat sat on the mat"])?;
//! assert!((score.score - 100.0).abs() < 1e-9);
//! # Ok::<(), dls_nlp::Error>(())
//! ```
pub mod bleu;
pub mod bpe;
pub mod classify;
pub mod corpus;
pub mod dates;
mod dense;
pub mod error;
pub mod glove;
mod hogwild;
pub mod seq2seq;
pub mod translate;
pub mod vectors;
pub mod vocab;
pub mod word2vec;

pub use error::{Error, Result};
