//! Weight initialisation (sheets 03 and 07): zeros, small scaled random, Xavier, Glorot and He.
//!
//! An [`Init`] turns a layer's fan-in and fan-out into the candle initialisation hint that
//! [`crate::Params`] samples from its seeded stream. Zeros breaks nothing for biases but leaves every
//! hidden unit of a layer identical (the symmetry the course warns about); He keeps the variance of
//! ReLU activations constant through depth.
//!
//! ```
//! use dls_foundations::init::Init;
//! match Init::He.hint(50, 10) {
//!     candle_nn::Init::Randn { stdev, .. } => assert!((stdev - 0.2).abs() < 1e-12),
//!     _ => unreachable!(),
//! }
//! ```

use serde::{Deserialize, Serialize};

/// How to initialise a layer's weight matrix (biases always start at zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// All zeros: every unit computes the same function forever.
    Zeros,
    /// Standard normal times `scale` (the course's `randn * 0.01`, or `* 10` to show explosion).
    Random {
        /// Multiplier of the standard normal samples.
        scale: f64,
    },
    /// Normal with variance `1 / fan_in` (the course's "Xavier", suited to tanh).
    Xavier,
    /// Normal with variance `2 / (fan_in + fan_out)` (Glorot and Bengio 2010).
    Glorot,
    /// Normal with variance `2 / fan_in` (He et al. 2015, suited to ReLU).
    #[default]
    He,
}

impl Init {
    /// The candle hint for a weight with the given fan-in and fan-out.
    pub fn hint(self, fan_in: usize, fan_out: usize) -> candle_nn::Init {
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        match self {
            Init::Zeros => candle_nn::Init::Const(0.0),
            Init::Random { scale } => candle_nn::Init::Randn { mean: 0.0, stdev: scale },
            Init::Xavier => candle_nn::Init::Randn { mean: 0.0, stdev: (1.0 / fan_in).sqrt() },
            Init::Glorot => candle_nn::Init::Randn { mean: 0.0, stdev: (2.0 / (fan_in + fan_out)).sqrt() },
            Init::He => candle_nn::Init::Randn { mean: 0.0, stdev: (2.0 / fan_in).sqrt() },
        }
    }
}
