//! One seeded random stream, shareable and checkpointable.
//!
//! Everything random in a training run (shuffling, dropout masks) draws from a single
//! [`SeededRng`], so saving its [`RngState`] in a checkpoint is enough to make a resumed run
//! continue with exactly the numbers an uninterrupted run would have drawn.

use std::sync::{Arc, Mutex, MutexGuard};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A cloneable handle to one seeded ChaCha8 stream; clones share the stream.
#[derive(Clone, Debug)]
pub struct SeededRng {
    inner: Arc<Mutex<ChaCha8Rng>>,
}

/// Where a [`SeededRng`] stands: enough to restore it exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte seed the stream was built from.
    pub seed: [u8; 32],
    /// The ChaCha stream number.
    pub stream: u64,
    /// Position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl SeededRng {
    /// A stream seeded from a `u64` (the same seed gives the same numbers).
    pub fn new(seed: u64) -> Self {
        Self::from_rng(ChaCha8Rng::seed_from_u64(seed))
    }

    fn from_rng(rng: ChaCha8Rng) -> Self {
        Self { inner: Arc::new(Mutex::new(rng)) }
    }

    /// Locks the stream for drawing numbers (`rand::Rng` methods work on the guard).
    pub fn lock(&self) -> MutexGuard<'_, ChaCha8Rng> {
        // A poisoned lock only means another thread panicked mid-draw; the stream itself is intact.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An independent stream derived from this one (draws one `u64` from it as the seed).
    pub fn fork(&self) -> Self {
        use rand::Rng;
        let seed: u64 = self.lock().random();
        Self::new(seed)
    }

    /// The current state, for checkpoints.
    pub fn state(&self) -> RngState {
        let g = self.lock();
        RngState { seed: g.get_seed(), stream: g.get_stream(), word_pos: g.get_word_pos() }
    }

    /// Moves this stream (and all its clones) to `state`.
    pub fn restore(&self, state: &RngState) {
        let mut rng = ChaCha8Rng::from_seed(state.seed);
        rng.set_stream(state.stream);
        rng.set_word_pos(state.word_pos);
        *self.lock() = rng;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn restore_replays_the_same_numbers() {
        let r = SeededRng::new(7);
        let _: u32 = r.lock().random();
        let s = r.state();
        let a: Vec<u64> = (0..5).map(|_| r.lock().random()).collect();
        r.restore(&s);
        let b: Vec<u64> = (0..5).map(|_| r.lock().random()).collect();
        assert_eq!(a, b);
        let c: u64 = SeededRng::new(8).lock().random();
        assert_ne!(a[0], c);
    }
}
