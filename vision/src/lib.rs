//! # dls-vision
//!
//! Sheets 14–22 of the Deep Learning Specialization on candle: convolution arithmetic and layers
//! ([`conv`], [`layers`], [`pool`]), image files ([`io`]), and the classic architectures
//! ([`models`]).

pub mod augment;
pub mod conv;
pub mod darknet;
pub mod detect;
pub mod draw;
pub mod edges;
pub mod ensemble;
pub mod error;
pub mod face;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod models;
pub mod pool;
pub mod style;

pub use error::{Error, Result};
