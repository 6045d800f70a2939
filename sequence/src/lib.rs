//! # dls-sequence
//!
//! Sheets 23–24 of the Deep Learning Specialization on candle: recurrent cells written from their
//! equations ([`cell`]: RNN, LSTM, GRU with PyTorch's gate order and parameter names), layers over
//! whole sequences ([`layer`]: unrolled, stacked, bidirectional, masked), and a character language
//! model ([`charlm`]) with its vocabulary ([`vocab`]), data ([`corpus`]) and temperature sampling
//! ([`sample`]). Training goes through the dls-foundations fit loop; gradient clipping is its
//! [`FitConfig::clip`](dls_foundations::train::FitConfig::clip).
//!
//! LSTM and GRU layers train on our CPU kernels: a whole sequence per layer and direction as one
//! candle op with a hand-written backward through time ([`fused_seq`], [`fused_gru`]); the
//! step-by-step candle graph stays selectable as the reference ([`fused`] fuses one LSTM step,
//! [`fused_seq::use_fused_sequence`] switches).

pub mod cell;
pub mod charlm;
pub mod corpus;
pub mod error;
pub mod fused;
pub mod fused_gru;
mod fused_head;
pub mod fused_seq;
mod gru_kernel;
mod kernel;
pub mod layer;
mod layer_seq;
mod lstm_kernel;
pub mod mask;
pub mod sample;
mod seq_op;
pub mod vocab;

pub use error::{Error, Result};
