//! # dls-foundations
//!
//! Sheets 01–13 of the Deep Learning Specialization as a library on candle.
pub mod activation;
pub mod alloc;
pub mod buffers;
pub mod checkpoint;
pub mod data;
pub mod datasets;
pub mod diagnose;
pub mod error;
pub mod gradcheck;
pub mod init;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod norm;
pub mod optim;
pub mod params;
pub mod plot;
pub mod regularize;
pub mod report;
pub mod rng;
pub mod simd;
pub mod threads;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
pub use params::Params;
pub use rng::SeededRng;
