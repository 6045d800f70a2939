//! # dls-sequence
//!
//! Sheets 23–24 of the Deep Learning Specialization on candle: RNN, LSTM and GRU cells and
//! character language models. This first module holds the character vocabulary the language
//! model is built on; the cells and layers follow (see the project's issues).

pub mod error;
pub mod vocab;

pub use error::{Error, Result};
