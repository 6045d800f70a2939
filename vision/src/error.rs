//! The crate's error type.

/// Everything that can go wrong in `dls-vision`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from dls-foundations.
    #[error(transparent)]
    Foundations(#[from] dls_foundations::Error),
    /// An error raised by candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A size, stride or padding that cannot produce an output.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument at fault.
        what: String,
        /// Why it is not acceptable.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// An image could not be decoded or encoded (corrupt, unsupported, or over the limits).
    #[error("image {name}: {message}")]
    Image {
        /// The file or buffer name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// Result alias for `dls-vision`.
pub type Result<T> = std::result::Result<T, Error>;
