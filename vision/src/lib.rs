//! # dls-vision
//!
//! Sheets 14–22 of the Deep Learning Specialization on candle: convolution arithmetic and layers
//! ([`conv`], [`layers`], [`pool`]), image files ([`io`]), and the classic architectures
//! ([`models`]).

pub mod conv;
pub mod edges;
pub mod error;
pub mod io;
pub mod layers;
pub mod models;
pub mod pool;

pub use error::{Error, Result};
