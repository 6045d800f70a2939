//! The crate's error type.

/// Everything that can go wrong in `dls-sequence`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from dls-foundations.
    #[error(transparent)]
    Foundations(#[from] dls_foundations::Error),
    /// An error raised by candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A character that is not in the vocabulary.
    #[error("unknown character {ch:?} at position {position}")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its index (in characters) in the input.
        position: usize,
    },
    /// An id outside the vocabulary.
    #[error("id {id} is outside the vocabulary of {size}")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        size: usize,
    },
    /// Text or data that must not be empty is empty.
    #[error("empty data: {0}")]
    Empty(String),
}

/// Result alias for `dls-sequence`.
pub type Result<T> = std::result::Result<T, Error>;
