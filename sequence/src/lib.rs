//! # dls-sequence
//!
//! Sheets 23–24 of the Deep Learning Specialization on candle: recurrent cells written from their
//! equations ([`cell`]: RNN, LSTM, GRU with PyTorch's gate order and parameter names), layers over
//! whole sequences ([`layer`]: unrolled, stacked, bidirectional, masked), and a character language
//! model ([`charlm`]) with its vocabulary ([`vocab`]), data ([`corpus`]) and temperature sampling
//! ([`sample`]). Training goes through the dls-foundations fit loop; gradient clipping is its
//! [`FitConfig::clip`](dls_foundations::train::FitConfig::clip).

pub mod cell;
pub mod charlm;
pub mod corpus;
pub mod error;
pub mod fused;
pub mod layer;
pub mod mask;
pub mod sample;
pub mod vocab;

pub use error::{Error, Result};
