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
    /// A tensor or list has the wrong shape or length.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// The argument whose shape is wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// An argument or configuration value is out of range.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument or setting at fault.
        what: String,
        /// Why it is not acceptable.
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Shape`].
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: impl std::fmt::Debug) -> Self {
        Error::Shape { what: what.into(), expected: expected.into(), got: format!("{got:?}") }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }
}

/// Result alias for `dls-sequence`.
pub type Result<T> = std::result::Result<T, Error>;
