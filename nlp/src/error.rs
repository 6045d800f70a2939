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

/// A recurrent layer's error from `dls-sequence`: candle and foundations errors keep their own
/// variants, an empty input stays [`Error::Empty`], and anything else (a shape or an id the layer
/// rejected) becomes [`Error::Invalid`] with the layer's message.
impl From<dls_sequence::Error> for Error {
    fn from(e: dls_sequence::Error) -> Self {
        match e {
            dls_sequence::Error::Candle(c) => Error::Candle(c),
            dls_sequence::Error::Foundations(f) => Error::Foundations(f),
            dls_sequence::Error::Empty(m) => Error::Empty(m),
            other => Error::invalid("recurrent layer", other.to_string()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_errors_keep_their_kind_and_message() {
        assert!(
            matches!(Error::from(dls_sequence::Error::Empty("no steps".into())), Error::Empty(m) if m == "no steps")
        );
        let shape = dls_sequence::Error::shape("rnn input features", "[time, batch, 4]", [2, 3, 5]);
        let text = shape.to_string();
        match Error::from(shape) {
            Error::Invalid { what, message } => {
                assert!(what == "recurrent layer" && message == text, "{message}")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
