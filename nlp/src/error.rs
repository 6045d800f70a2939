//! The crate's error type: every fallible function in `dls-nlp` returns [`Result`].
//!
//! Variants carry structured fields (which file, which line, what was expected and what was
//! found) so a caller can say exactly what was wrong with their input.

use std::path::PathBuf;

/// Everything that can go wrong in `dls-nlp`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error raised by `dls-foundations` (data loading, checkpoints, training).
    #[error(transparent)]
    Foundations(#[from] dls_foundations::Error),

    /// An error raised by candle (a tensor op, a dtype mismatch, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A text file's content does not follow its format.
    #[error("{path}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Format {
        /// The file (or a description of the input) that is malformed.
        path: String,
        /// 1-based line number of the problem where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },

    /// Two inputs that must have the same length do not (a reference stream and the hypotheses).
    #[error("length mismatch in {what}: expected {expected}, got {got}")]
    Length {
        /// The input whose length is wrong.
        what: String,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },

    /// An argument or configuration value is out of range or inconsistent.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument or setting at fault.
        what: String,
        /// Why it is not acceptable.
        message: String,
    },

    /// An input that must not be empty is empty (a corpus, a list of references).
    #[error("empty input: {0}")]
    Empty(String),
}

/// Result alias for `dls-nlp`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), line, message: message.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Shorthand for [`Error::Length`].
    pub fn length(what: impl Into<String>, expected: usize, got: usize) -> Self {
        Error::Length { what: what.into(), expected, got }
    }
}
